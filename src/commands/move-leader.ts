import { Args } from '@oclif/core';

import { ClientError, ClusterApi, type MoveLeaderResponse } from '../client/index.js';
import { ClientCommand } from '../cli/client-command.js';
import { CtlError } from '../cli/ctl-error.js';
import { ExitCode } from '../cli/exit-codes.js';
import { GoParseError } from '../base/go-format.js';
import { checkChangeWriteOut, goParseUint16, jsonMoveLeader, printMoveLeader } from '../cli/member-output.js';

export type MoveLeaderResult = { readonly leader: bigint; readonly target: bigint; readonly response: MoveLeaderResponse };

export default class MoveLeader extends ClientCommand<MoveLeaderResult> {
  static override summary = 'Transfers leadership to another etcd cluster member.';

  static override description =
    'Transfers raft leadership to the member <transferee-member-id> (hex), like etcdctl move-leader: the status of each of --endpoints is asked, in order, until the leader is found, and the leader is told to hand over. The leader must be one of --endpoints ("no leader endpoint given at [...]", exit 128); an endpoint that fails before it is found ends the command with its error.';

  static override usage = '<%= command.id %> <transferee-member-id> [flags]';

  static override examples = ['<%= config.bin %> <%= command.id %> 8211f1d0f64f3269 --endpoints 10.0.0.1:2379,10.0.0.2:2379,10.0.0.3:2379'];

  // etcdctl answers a wrong number of arguments with its own message and exit code 128.
  static override strict = false;

  // ignoreStdin: oclif would otherwise fill a missing argument from piped stdin, which etcdctl never does.
  static override args = { transfereeID: Args.string({ description: 'ID (hex) of the member to become leader', ignoreStdin: true }) };

  async run(): Promise<MoveLeaderResult> {
    const { argv, flags } = await this.parse(MoveLeader);
    if (argv.length !== 1) throw new CtlError('move-leader command needs 1 argument', ExitCode.ExitBadArgs);
    let target: bigint;
    try {
      target = goParseUint16(String(argv[0]));
    } catch (err) {
      if (err instanceof GoParseError) throw new CtlError(err.message, ExitCode.ExitBadArgs);
      throw err;
    }
    const w = checkChangeWriteOut(this.writeOut(flags));
    // As etcdctl: no endpoint reachable at all is a bad connection (exit 2); after that, any failure is exit 1.
    const client = await this.connect(flags);
    const cluster = new ClusterApi(client);
    const endpoints = client.endpoints.map((e) => e.raw);
    for (const endpoint of endpoints) {
      let leader: bigint;
      try {
        const status = await client.status(endpoint);
        if (status.header?.memberId !== status.leader) continue;
        leader = status.leader;
      } catch (err) {
        if (err instanceof ClientError) throw new CtlError(err.message, ExitCode.ExitError, { cause: err });
        throw err;
      }
      const response = await cluster.moveLeader(endpoint, target);
      this.write(printMoveLeader(w, leader, target, response));
      return { leader, target, response };
    }
    throw new CtlError(`no leader endpoint given at [${endpoints.join(' ')}]`, ExitCode.ExitBadArgs);
  }

  protected jsonOf(result: MoveLeaderResult): string {
    return jsonMoveLeader(result.response);
  }
}
