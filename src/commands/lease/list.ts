import { ClientError, LeaseApi, type LeaseLeasesResponse } from '../../client/index.js';
import { ClientCommand } from '../../cli/client-command.js';
import { CtlError } from '../../cli/ctl-error.js';
import { ExitCode } from '../../cli/exit-codes.js';
import { jsonLeases, printLeases } from '../../cli/lease-output.js';
import { tableNotSupported } from '../../cli/output.js';

export type LeaseListResult = LeaseLeasesResponse;

export default class LeaseList extends ClientCommand<LeaseListResult> {
  static override summary = 'List all active leases';

  static override description = 'Lists the IDs (hex) of every lease, soonest expiry first, like etcdctl lease list.';

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> -w json'];

  async run(): Promise<LeaseListResult> {
    const { flags } = await this.parse(LeaseList);
    const w = this.writeOut(flags);
    if (w === 'table') throw new CtlError(tableNotSupported, ExitCode.ExitBadFeature);
    const client = await this.connect(flags);
    let resp: LeaseLeasesResponse;
    try {
      resp = await new LeaseApi(client).leases();
    } catch (err) {
      if (err instanceof ClientError) throw new CtlError(err.message, ExitCode.ExitBadConnection, { cause: err });
      throw err;
    }
    this.write(printLeases(w, resp));
    return resp;
  }

  protected jsonOf(result: LeaseListResult): string {
    return jsonLeases(result);
  }
}
