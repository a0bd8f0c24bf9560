import { Args, Flags } from '@oclif/core';

import { ClusterApi, type MemberUpdateResponse } from '../../client/index.js';
import { ClientCommand } from '../../cli/client-command.js';
import { CtlError } from '../../cli/ctl-error.js';
import { ExitCode } from '../../cli/exit-codes.js';
import { checkChangeWriteOut, jsonMembersResponse, parseMemberIdArg, peerUrlsOf, printMemberUpdate } from '../../cli/member-output.js';

export type MemberUpdateResult = MemberUpdateResponse & { readonly id: bigint };

export default class MemberUpdate extends ClientCommand<MemberUpdateResult> {
  static override summary = 'Updates a member in the cluster';

  static override description =
    "Replaces the peer URLs of the member <memberID> (hex), like etcdctl member update. -w json prints the response (the members after the change).";

  static override usage = '<%= command.id %> <memberID> --peer-urls=<urls> [flags]';

  static override examples = ['<%= config.bin %> <%= command.id %> 8211f1d0f64f3269 --peer-urls=http://10.0.0.1:2380'];

  // etcdctl answers a wrong number of arguments with its own message and exit code 128.
  static override strict = false;

  // ignoreStdin: oclif would otherwise fill a missing argument from piped stdin, which etcdctl never does.
  static override args = { memberID: Args.string({ description: 'member ID in hex', ignoreStdin: true }) };

  static override flags = {
    'peer-urls': Flags.string({ description: 'comma separated peer URLs for the updated member.', default: '' }),
  };

  async run(): Promise<MemberUpdateResult> {
    const { argv, flags } = await this.parse(MemberUpdate);
    if (argv.length !== 1) throw new CtlError('member ID is not provided', ExitCode.ExitBadArgs);
    const id = parseMemberIdArg(String(argv[0]));
    const peerUrls = peerUrlsOf(flags['peer-urls']);
    const w = checkChangeWriteOut(this.writeOut(flags));
    const client = await this.connect(flags);
    const resp = await new ClusterApi(client).memberUpdate(id, peerUrls);
    this.write(printMemberUpdate(w, id, resp));
    return { ...resp, id };
  }

  protected jsonOf(result: MemberUpdateResult): string {
    return jsonMembersResponse(result);
  }
}
