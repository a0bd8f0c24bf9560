import { Args } from '@oclif/core';

import { ClientError, LeaseApi, type LeaseRevokeResponse } from '../../client/index.js';
import { ClientCommand } from '../../cli/client-command.js';
import { CtlError } from '../../cli/ctl-error.js';
import { ExitCode } from '../../cli/exit-codes.js';
import { jsonRevoke, parseLeaseIdArg, printRevoke } from '../../cli/lease-output.js';
import { tableNotSupported } from '../../cli/output.js';

export type LeaseRevokeResult = LeaseRevokeResponse;

export default class LeaseRevoke extends ClientCommand<LeaseRevokeResult> {
  static override summary = 'Revokes leases';

  static override description =
    'Revokes the lease <leaseID> (hex), like etcdctl lease revoke: every key attached to it is deleted, all in one revision.';

  static override usage = '<%= command.id %> <leaseID> [flags]';

  static override examples = ['<%= config.bin %> <%= command.id %> 694d7b4a6d1d6a0b'];

  static override strict = false;

  // ignoreStdin: oclif would otherwise fill a missing argument from piped stdin, which etcdctl never does.
  static override args = { leaseID: Args.string({ description: 'lease ID in hex', ignoreStdin: true }) };

  async run(): Promise<LeaseRevokeResult> {
    const { argv, flags } = await this.parse(LeaseRevoke);
    const w = this.writeOut(flags);
    if (argv.length !== 1) throw new CtlError('lease revoke command needs 1 argument', ExitCode.ExitBadArgs);
    const id = parseLeaseIdArg(String(argv[0]));
    if (w === 'table') throw new CtlError(tableNotSupported, ExitCode.ExitBadFeature);
    const client = await this.connect(flags);
    let resp: LeaseRevokeResponse;
    try {
      resp = await new LeaseApi(client).revoke(id);
    } catch (err) {
      if (err instanceof ClientError && err.kind !== 'unreachable') {
        throw new CtlError(`failed to revoke lease (${err.message})`, ExitCode.ExitError, { cause: err });
      }
      throw err;
    }
    this.write(printRevoke(w, id, resp));
    return resp;
  }

  protected jsonOf(result: LeaseRevokeResult): string {
    return jsonRevoke(result);
  }
}
