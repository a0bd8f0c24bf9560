import { Args } from '@oclif/core';

import { ClusterApi, type MemberPromoteResponse } from '../../client/index.js';
import { ClientCommand } from '../../cli/client-command.js';
import { CtlError } from '../../cli/ctl-error.js';
import { ExitCode } from '../../cli/exit-codes.js';
import { checkChangeWriteOut, jsonMembersResponse, parseMemberIdArg, printMemberPromote } from '../../cli/member-output.js';

export type MemberPromoteResult = MemberPromoteResponse & { readonly id: bigint };

export default class MemberPromote extends ClientCommand<MemberPromoteResult> {
  static override summary = 'Promotes a non-voting member in the cluster';

  static override description =
    'Promotes the learner <memberID> (hex) to a voting member, like etcdctl member promote. etcd refuses a learner that has not yet caught up with the leader ("etcdserver: can only promote a learner member which is in sync with leader"): retry once it has. -w json prints the response (the members after the change; etcdctl 3.4 crashes there, 3.5 prints the same).';

  static override usage = '<%= command.id %> <memberID> [flags]';

  static override examples = ['<%= config.bin %> <%= command.id %> 8211f1d0f64f3269'];

  // etcdctl answers a wrong number of arguments with its own message and exit code 128.
  static override strict = false;

  // ignoreStdin: oclif would otherwise fill a missing argument from piped stdin, which etcdctl never does.
  static override args = { memberID: Args.string({ description: 'member ID in hex', ignoreStdin: true }) };

  async run(): Promise<MemberPromoteResult> {
    const { argv, flags } = await this.parse(MemberPromote);
    if (argv.length !== 1) throw new CtlError('member ID is not provided', ExitCode.ExitBadArgs);
    const id = parseMemberIdArg(String(argv[0]));
    const w = checkChangeWriteOut(this.writeOut(flags));
    const client = await this.connect(flags);
    const resp = await new ClusterApi(client).memberPromote(id);
    this.write(printMemberPromote(w, id, resp));
    return { ...resp, id };
  }

  protected jsonOf(result: MemberPromoteResult): string {
    return jsonMembersResponse(result);
  }
}
