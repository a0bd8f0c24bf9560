import { ClientError } from '../client/index.js';
import { ClientCommand, clusterFlag } from '../cli/client-command.js';
import { ExitCode } from '../cli/exit-codes.js';

export type DefragResult = Array<{ endpoint: string; ok: boolean; error?: string }>;

export default class Defrag extends ClientCommand<DefragResult> {
  static override summary = 'Defragments the storage of the etcd members with given endpoints';

  static override description =
    "Rewrites each member's backend without its free pages, like etcdctl defrag, so the space freed by compaction goes back to the file system. A member blocks writes while it defragments: do one member at a time in a busy cluster.";

  static override examples = ['<%= config.bin %> <%= command.id %> --endpoints 127.0.0.1:2379', '<%= config.bin %> <%= command.id %> --cluster'];

  static override flags = { cluster: clusterFlag };

  async run(): Promise<DefragResult> {
    const { flags } = await this.parse(Defrag);
    const endpoints = await this.endpointList(flags, flags.cluster);
    const client = this.createClient(flags);
    const results: DefragResult = [];
    for (const endpoint of endpoints) {
      try {
        await client.defragment(endpoint);
        this.log(`Finished defragmenting etcd member[${endpoint}]`);
        results.push({ endpoint, ok: true });
      } catch (err) {
        if (!(err instanceof ClientError)) throw err;
        this.logToStderr(`Failed to defragment etcd member[${endpoint}] (${err.message})`);
        results.push({ endpoint, ok: false, error: err.message });
      }
    }
    if (results.some((r) => !r.ok)) {
      this.printJson(results);
      this.exit(ExitCode.ExitError);
    }
    return results;
  }

  protected jsonOf(result: DefragResult): string {
    return JSON.stringify(result);
  }
}
