import { ClientError, ClusterApi } from '../../client/index.js';
import { ClientCommand, clusterFlag, int64Flag } from '../../cli/client-command.js';
import { CtlError } from '../../cli/ctl-error.js';
import { ExitCode } from '../../cli/exit-codes.js';
import { type EndpointHashKV, jsonHashKVList, printHashKV } from '../../cli/member-output.js';

export type EndpointHashKVResult = EndpointHashKV[];

export default class EndpointHashKVCommand extends ClientCommand<EndpointHashKVResult> {
  static override summary = 'Prints the KV history hash for each endpoint in --endpoints';

  static override description =
    'Asks each endpoint for the hash of its key-value history up to --rev (default: all of it), like etcdctl endpoint hashkv: members that agree hold the same data. With -w simple it prints "<endpoint>, <hash>" per endpoint. An endpoint that fails is reported on stderr ("Failed to get the hash of endpoint ..."), the others are still printed, and the command ends with the last error and exit code 1.';

  static override examples = [
    '<%= config.bin %> <%= command.id %> --cluster',
    '<%= config.bin %> <%= command.id %> --rev 1234 -w table',
  ];

  static override flags = {
    cluster: clusterFlag,
    rev: int64Flag('maximum revision to hash (default: all revisions)'),
  };

  async run(): Promise<EndpointHashKVResult> {
    const { flags } = await this.parse(EndpointHashKVCommand);
    const w = this.writeOut(flags);
    const endpoints = await this.endpointList(flags, flags.cluster);
    const cluster = new ClusterApi(this.createClient(flags));
    const list: EndpointHashKV[] = [];
    let lastError: ClientError | undefined;
    for (const endpoint of endpoints) {
      try {
        list.push({ endpoint, hashKV: await cluster.hashKV(endpoint, flags.rev ?? 0n) });
      } catch (err) {
        if (!(err instanceof ClientError)) throw err;
        lastError = err;
        this.logToStderr(`Failed to get the hash of endpoint ${endpoint} (${err.message})`);
      }
    }
    this.write(printHashKV(w, list));
    if (lastError !== undefined) {
      if (this.jsonEnabled()) {
        this.printJson(list);
        this.exit(ExitCode.ExitError);
      }
      throw new CtlError(lastError.message, ExitCode.ExitError, { cause: lastError });
    }
    return list;
  }

  protected jsonOf(result: EndpointHashKVResult): string {
    return jsonHashKVList(result);
  }
}
