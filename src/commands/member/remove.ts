import { Args } from '@oclif/core';

import { loadContext, removeMemberThroughAgent } from '../../agent/index.js';
import { ClusterApi, type MemberRemoveResponse } from '../../client/index.js';
import { ClientCommand } from '../../cli/client-command.js';
import { CtlError } from '../../cli/ctl-error.js';
import { ExitCode } from '../../cli/exit-codes.js';
import { checkChangeWriteOut, jsonMembersResponse, parseMemberIdArg, printMemberRemove } from '../../cli/member-output.js';

export type MemberRemoveResult = MemberRemoveResponse & { readonly id: bigint };

export default class MemberRemove extends ClientCommand<MemberRemoveResult> {
  static override summary = 'Removes a member from the cluster';

  static override description =
    'Removes the member <memberID> (hex, as member list prints it) from the cluster, like etcdctl member remove. -w json prints the response (the members after the change). Without --endpoints, in a cluster made by kvctl cluster bootstrap (its saved context), the member may also be named, a removal that would lose quorum is refused, and its agent stops it and deletes its data, configuration and certificates.';

  static override usage = '<%= command.id %> <memberID> [flags]';

  static override examples = ['<%= config.bin %> <%= command.id %> 8211f1d0f64f3269'];

  // etcdctl answers a wrong number of arguments with its own message and exit code 128.
  static override strict = false;

  // ignoreStdin: oclif would otherwise fill a missing argument from piped stdin, which etcdctl never does.
  static override args = { memberID: Args.string({ description: 'member ID in hex', ignoreStdin: true }) };

  async run(): Promise<MemberRemoveResult> {
    const { argv, flags } = await this.parse(MemberRemove);
    if (argv.length !== 1) throw new CtlError('member ID is not provided', ExitCode.ExitBadArgs);
    // Through the saved context (no --endpoints): the member's agent stops it and frees its host too.
    const ctx = flags.endpoints === undefined ? await loadContext(flags.context) : undefined;
    if (ctx !== undefined) {
      const result = await removeMemberThroughAgent(ctx, String(argv[0]), (line) => {
        if (!this.jsonEnabled()) this.logToStderr(line);
      });
      if (result.removed === undefined) {
        this.write(Buffer.from(`Member ${String(argv[0])} had left cluster ${ctx.name} already; ${result.agentReset ? 'its host is freed' : 'its host is not freed yet'}\n`));
        if (!result.agentReset) this.exit(1);
        return { header: undefined, members: [], id: 0n };
      }
      const id = result.removed.ID;
      this.write(Buffer.from(`Member ${id.toString(16)} removed from cluster ${ctx.name}\n`));
      return { header: undefined, members: [], id };
    }
    const id = parseMemberIdArg(String(argv[0]));
    const w = checkChangeWriteOut(this.writeOut(flags));
    const client = await this.connect(flags);
    const resp = await new ClusterApi(client).memberRemove(id);
    this.write(printMemberRemove(w, id, resp));
    return { ...resp, id };
  }

  protected jsonOf(result: MemberRemoveResult): string {
    return jsonMembersResponse(result);
  }
}
