import { Args } from '@oclif/core';

import { ClientError, LeaseApi, type LeaseGrantResponse } from '../../client/index.js';
import { ClientCommand } from '../../cli/client-command.js';
import { CtlError } from '../../cli/ctl-error.js';
import { ExitCode } from '../../cli/exit-codes.js';
import { GoParseError, goParseInt } from '../../base/go-format.js';
import { jsonGrant, printGrant } from '../../cli/lease-output.js';
import { tableNotSupported } from '../../cli/output.js';

export type LeaseGrantResult = LeaseGrantResponse;

export default class LeaseGrant extends ClientCommand<LeaseGrantResult> {
  static override summary = 'Creates leases';

  static override description = [
    'Grants a lease of <ttl> seconds, like etcdctl lease grant, and prints its ID in hex (what put --lease takes).',
    "The server raises a TTL below its minimum (1.5 election timeouts, 2 s with etcd's defaults) to that minimum; more than 9000000000 s fails with \"too large lease TTL\".",
  ].join('\n\n');

  static override usage = '<%= command.id %> <ttl> [flags]';

  static override examples = ['<%= config.bin %> <%= command.id %> 60', '<%= config.bin %> <%= command.id %> 60 -w json'];

  // etcdctl answers a missing or extra argument with its own message and exit code 128.
  static override strict = false;

  // ignoreStdin: oclif would otherwise fill a missing argument from piped stdin, which etcdctl never does.
  static override args = { ttl: Args.string({ description: 'time to live in seconds', ignoreStdin: true }) };

  async run(): Promise<LeaseGrantResult> {
    const { argv, flags } = await this.parse(LeaseGrant);
    const w = this.writeOut(flags);
    if (argv.length !== 1) throw new CtlError('lease grant command needs TTL argument', ExitCode.ExitBadArgs);
    let ttl: bigint;
    try {
      ttl = goParseInt(String(argv[0]), 10);
    } catch (err) {
      if (err instanceof GoParseError) throw new CtlError(`bad TTL (${err.message})`, ExitCode.ExitBadArgs);
      throw err;
    }
    // etcdctl grants first and then refuses the format; refusing before anything is granted is the safer order.
    if (w === 'table') throw new CtlError(tableNotSupported, ExitCode.ExitBadFeature);
    const client = await this.connect(flags);
    let resp: LeaseGrantResponse;
    try {
      resp = await new LeaseApi(client).grant(ttl);
    } catch (err) {
      if (err instanceof ClientError && err.kind !== 'unreachable') {
        throw new CtlError(`failed to grant lease (${err.message})`, ExitCode.ExitError, { cause: err });
      }
      throw err;
    }
    this.write(printGrant(w, resp));
    return resp;
  }

  protected jsonOf(result: LeaseGrantResult): string {
    return jsonGrant(result);
  }
}
