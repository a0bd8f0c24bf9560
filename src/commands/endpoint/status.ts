import { ClientError } from '../../client/index.js';
import { ClientCommand, clusterFlag } from '../../cli/client-command.js';
import { ExitCode } from '../../cli/exit-codes.js';
import { type EndpointStatus, jsonStatusList, printStatus } from '../../cli/output.js';

export type EndpointStatusResult = EndpointStatus[];

export default class EndpointStatusCommand extends ClientCommand<EndpointStatusResult> {
  static override summary = 'Prints out the status of endpoints specified in `--endpoints` flag';

  static override description =
    'Asks each endpoint for its status, like etcdctl endpoint status. With -w simple it prints one comma-separated line per endpoint: endpoint, ID, version, db size, is leader, is learner, raft term, raft index, raft applied index, errors. An endpoint that does not answer is reported on stderr ("Failed to get the status of endpoint ..."), the others are still printed, and the command exits with 1.';

  static override examples = [
    '<%= config.bin %> <%= command.id %> -w table',
    '<%= config.bin %> <%= command.id %> --cluster -w json',
  ];

  static override flags = { cluster: clusterFlag };

  async run(): Promise<EndpointStatusResult> {
    const { flags } = await this.parse(EndpointStatusCommand);
    const w = this.writeOut(flags);
    const endpoints = await this.endpointList(flags, flags.cluster);
    const client = this.createClient(flags);
    const list: EndpointStatus[] = [];
    let failed = false;
    for (const endpoint of endpoints) {
      try {
        list.push({ endpoint, status: await client.status(endpoint) });
      } catch (err) {
        if (!(err instanceof ClientError)) throw err;
        failed = true;
        this.logToStderr(`Failed to get the status of endpoint ${endpoint} (${err.message})`);
      }
    }
    this.write(printStatus(w, list));
    if (failed) {
      this.printJson(list);
      this.exit(ExitCode.ExitError);
    }
    return list;
  }

  protected jsonOf(result: EndpointStatusResult): string {
    return jsonStatusList(result);
  }
}
