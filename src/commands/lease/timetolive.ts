import { Args, Flags } from '@oclif/core';

import { ClientError, LeaseApi, type LeaseTimeToLiveResponse } from '../../client/index.js';
import { ClientCommand } from '../../cli/client-command.js';
import { CtlError } from '../../cli/ctl-error.js';
import { ExitCode } from '../../cli/exit-codes.js';
import { jsonTimeToLive, parseLeaseIdArg, printTimeToLive } from '../../cli/lease-output.js';
import { tableNotSupported } from '../../cli/output.js';

export type LeaseTimeToLiveResult = LeaseTimeToLiveResponse;

export default class LeaseTimeToLive extends ClientCommand<LeaseTimeToLiveResult> {
  static override summary = 'Get lease information';

  static override description =
    'Shows the granted and remaining TTL of the lease <leaseID> (hex), like etcdctl lease timetolive; --keys also lists the keys attached to it (in byte order). A lease that does not exist any more is reported as "already expired".';

  static override usage = '<%= command.id %> <leaseID> [flags]';

  static override examples = ['<%= config.bin %> <%= command.id %> 694d7b4a6d1d6a0b', '<%= config.bin %> <%= command.id %> 694d7b4a6d1d6a0b --keys -w json'];

  static override strict = false;

  static override args = { leaseID: Args.string({ description: 'lease ID in hex', ignoreStdin: true }) };

  static override flags = {
    keys: Flags.boolean({ description: 'Get keys attached to this lease', default: false }),
  };

  async run(): Promise<LeaseTimeToLiveResult> {
    const { argv, flags } = await this.parse(LeaseTimeToLive);
    const w = this.writeOut(flags);
    if (argv.length !== 1) throw new CtlError('lease timetolive command needs lease ID as argument', ExitCode.ExitBadArgs);
    const id = parseLeaseIdArg(String(argv[0]));
    if (w === 'table') throw new CtlError(tableNotSupported, ExitCode.ExitBadFeature);
    const client = await this.connect(flags);
    let resp: LeaseTimeToLiveResponse;
    try {
      resp = await new LeaseApi(client).timeToLive(id, { keys: flags.keys });
    } catch (err) {
      // etcdctl exits with its "bad connection" code for any failure of this call.
      if (err instanceof ClientError) throw new CtlError(err.message, ExitCode.ExitBadConnection, { cause: err });
      throw err;
    }
    this.write(printTimeToLive(w, resp, flags.keys));
    return resp;
  }

  protected jsonOf(result: LeaseTimeToLiveResult): string {
    return jsonTimeToLive(result);
  }
}
