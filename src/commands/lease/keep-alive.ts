import { Args, Flags } from '@oclif/core';

import { ClientError, type KeepAliveEnd, LeaseApi, type LeaseKeepAliveResponse } from '../../client/index.js';
import { ClientCommand } from '../../cli/client-command.js';
import { CtlError } from '../../cli/ctl-error.js';
import { ExitCode } from '../../cli/exit-codes.js';
import { jsonKeepAlive, keepAliveEnded, parseLeaseIdArg, printKeepAlive } from '../../cli/lease-output.js';
import { tableNotSupported } from '../../cli/output.js';

export type LeaseKeepAliveResult = {
  /** The last answer that renewed the lease, if any. */
  readonly last: LeaseKeepAliveResponse | undefined;
  /** Why it stopped: the lease is gone ('expired'), or the command was interrupted ('canceled'). */
  readonly ended: KeepAliveEnd;
};

export default class LeaseKeepAlive extends ClientCommand<LeaseKeepAliveResult> {
  static override summary = 'Keeps leases alive (renew)';

  static override description = [
    'Keeps the lease <leaseID> (hex) alive, like etcdctl lease keep-alive: renews it whenever a third of its TTL has passed and prints every answer, until the lease is revoked or expires ("lease ... expired or revoked.") or the command is interrupted.',
    '--once renews it once and exits; a lease that does not exist fails with "requested lease not found" (exit code 2, as etcdctl).',
  ].join('\n\n');

  static override usage = '<%= command.id %> <leaseID> [flags]';

  static override examples = ['<%= config.bin %> <%= command.id %> 694d7b4a6d1d6a0b', '<%= config.bin %> <%= command.id %> 694d7b4a6d1d6a0b --once'];

  static override strict = false;

  static override args = { leaseID: Args.string({ description: 'lease ID in hex', ignoreStdin: true }) };

  static override flags = {
    once: Flags.boolean({ description: 'Resets the keep-alive time to its original value and exits immediately', default: false }),
  };

  async run(): Promise<LeaseKeepAliveResult> {
    const { argv, flags } = await this.parse(LeaseKeepAlive);
    const w = this.writeOut(flags);
    if (argv.length !== 1) throw new CtlError('lease keep-alive command needs lease ID as argument', ExitCode.ExitBadArgs);
    const id = parseLeaseIdArg(String(argv[0]));
    if (w === 'table') throw new CtlError(tableNotSupported, ExitCode.ExitBadFeature);
    const client = await this.connect(flags);
    const leases = new LeaseApi(client);
    try {
      if (flags.once) {
        const resp = await leases.keepAliveOnce(id);
        this.write(printKeepAlive(w, resp));
        return { last: resp, ended: 'canceled' };
      }
      let last: LeaseKeepAliveResponse | undefined;
      const abort = new AbortController();
      const onSignal = (): void => abort.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const ended = await leases.keepAlive(id, {
          signal: abort.signal,
          onResponse: (resp) => {
            last = resp;
            this.write(printKeepAlive(w, resp));
          },
        });
        if (ended === 'expired' && w === 'simple') this.write(keepAliveEnded(id));
        if (ended === 'canceled') this.exit(ExitCode.ExitInterrupted);
        return { last, ended };
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    } catch (err) {
      // etcdctl exits with its "bad connection" code for any failure to keep the lease alive.
      if (err instanceof ClientError) throw new CtlError(err.message, ExitCode.ExitBadConnection, { cause: err });
      throw err;
    }
  }

  protected jsonOf(result: LeaseKeepAliveResult): string {
    return result.last === undefined ? '{}' : jsonKeepAlive(result.last);
  }
}
