import { ClientError } from '../../client/index.js';
import { ClientCommand, clusterFlag } from '../../cli/client-command.js';
import { CtlError } from '../../cli/ctl-error.js';
import { ExitCode } from '../../cli/exit-codes.js';
import { type EndpointHealth, jsonHealthList, printHealth } from '../../cli/output.js';

export type EndpointHealthResult = EndpointHealth[];

export default class EndpointHealthCommand extends ClientCommand<EndpointHealthResult> {
  static override summary = 'Checks the healthiness of endpoints specified in `--endpoints` flag';

  static override description =
    'Checks each endpoint the way etcdctl 3.4 does: a linearizable read of the key "health" must go through consensus and succeed (a permission error counts as healthy: the request was still committed). Endpoints are checked in parallel and reported in the order given. The simple format writes to stderr, as etcdctl\'s does. Exits with 1 ("unhealthy cluster") when any endpoint is unhealthy.';

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --endpoints 127.0.0.1:2379,127.0.0.1:22379 -w table',
    '<%= config.bin %> <%= command.id %> --cluster',
  ];

  static override flags = { cluster: clusterFlag };

  async run(): Promise<EndpointHealthResult> {
    const { flags } = await this.parse(EndpointHealthCommand);
    const w = this.writeOut(flags);
    const endpoints = await this.endpointList(flags, flags.cluster);
    const client = this.createClient(flags);
    const results = await Promise.all(
      endpoints.map(async (endpoint): Promise<EndpointHealth> => {
        const start = process.hrtime.bigint();
        try {
          await client.range('health', {}, { endpoint });
          return { endpoint, health: true, tookNs: process.hrtime.bigint() - start, error: '' };
        } catch (err) {
          const tookNs = process.hrtime.bigint() - start;
          if (!(err instanceof ClientError)) throw err;
          if (err.etcdError === 'permissionDenied') return { endpoint, health: true, tookNs, error: '' };
          return { endpoint, health: false, tookNs, error: err.message };
        }
      }),
    );
    const { stdout, stderr } = printHealth(w, results);
    this.write(stdout);
    this.writeErr(stderr);
    if (results.some((r) => !r.health)) {
      if (this.jsonEnabled()) {
        this.printJson(results);
        this.exit(ExitCode.ExitError);
      }
      throw new CtlError('unhealthy cluster', ExitCode.ExitError);
    }
    return results;
  }

  protected jsonOf(result: EndpointHealthResult): string {
    return jsonHealthList(result);
  }
}
