import { Args, Flags } from '@oclif/core';

import { StepError, loadContext, updateMemberThroughAgent } from '../../agent/index.js';
import { ClusterApi, type MemberUpdateResponse } from '../../client/index.js';
import { ClientCommand } from '../../cli/client-command.js';
import { CtlError } from '../../cli/ctl-error.js';
import { ExitCode } from '../../cli/exit-codes.js';
import { checkChangeWriteOut, jsonMembersResponse, parseMemberIdArg, peerUrlsOf, printMemberUpdate } from '../../cli/member-output.js';

export type MemberUpdateResult = MemberUpdateResponse & { readonly id: bigint };

export default class MemberUpdate extends ClientCommand<MemberUpdateResult> {
  static override summary = 'Updates a member in the cluster';

  static override description =
    "With --peer-urls: replaces the peer URLs of the member <memberID> (hex), like etcdctl member update; -w json prints the response (the members after the change). Without --peer-urls, in a cluster made by kvctl cluster bootstrap (its saved context), the member may be named and its agent does the work: its certificates are re-issued and it restarts with them; with --client-port/--peer-port it moves to those ports; with --host it moves to the agent on another host, keeping its ID and data (stopped, data dir copied, peer URL updated, started there, the old copy deleted). A change that would lose quorum while the member restarts is refused.";

  static override usage = ['<%= command.id %> <memberID> --peer-urls=<urls> [flags]', '<%= command.id %> <member> [--host <agent>] [--client-port N] [--peer-port N] [flags]'];

  static override examples = [
    '<%= config.bin %> <%= command.id %> 8211f1d0f64f3269 --peer-urls=http://10.0.0.1:2380',
    '<%= config.bin %> <%= command.id %> m2 --host 10.0.0.7',
    '<%= config.bin %> <%= command.id %> m2',
  ];

  // etcdctl answers a wrong number of arguments with its own message and exit code 128.
  static override strict = false;

  // ignoreStdin: oclif would otherwise fill a missing argument from piped stdin, which etcdctl never does.
  static override args = { memberID: Args.string({ description: 'member ID in hex (through the context: or its name)', ignoreStdin: true }) };

  static override flags = {
    'peer-urls': Flags.string({ description: 'comma separated peer URLs for the updated member.', default: '' }),
    host: Flags.string({ description: 'through the context: move the member to the kvctl agent at this host[:port]', exclusive: ['peer-urls'] }),
    token: Flags.string({ description: "with --host: the agent's bootstrap token, if it is not enrolled yet", env: 'KVCTL_AGENT_TOKEN' }),
    'client-port': Flags.integer({ description: "through the context: the member's new client port (default: its current one)", min: 1, max: 65535, exclusive: ['peer-urls'] }),
    'peer-port': Flags.integer({ description: "through the context: the member's new peer port (default: its current one)", min: 1, max: 65535, exclusive: ['peer-urls'] }),
    timeout: Flags.integer({ description: 'through the context: seconds to wait for the member to be healthy again', default: 120, min: 1 }),
  };

  async run(): Promise<MemberUpdateResult> {
    const { argv, flags } = await this.parse(MemberUpdate);
    if (argv.length !== 1) throw new CtlError('member ID is not provided', ExitCode.ExitBadArgs);
    const throughAgents = flags['peer-urls'] === '' && flags.endpoints === undefined;
    const ctx = throughAgents ? await loadContext(flags.context) : undefined;
    if (ctx !== undefined) {
      const progress = (line: string) => {
        if (!this.jsonEnabled()) this.logToStderr(line);
      };
      try {
        const r = await updateMemberThroughAgent({
          ctx, member: String(argv[0]), agentAddress: flags.host, clientPort: flags['client-port'], peerPort: flags['peer-port'], token: flags.token, progress, timeoutMs: flags.timeout * 1000,
        });
        const where = r.moved ? `moved from agent ${r.from} to ${r.to}` : `updated on agent ${r.to}`;
        this.log(`Member ${r.member.name} (${r.member.ID.toString(16)}) ${where}: peer URL ${r.peerUrl}, client URL ${r.clientUrl}${ctx.tls !== undefined ? ', certificates re-issued' : ''}.`);
        return { header: undefined, members: [], id: r.member.ID };
      } catch (err) {
        if (err instanceof StepError) this.logToStderr(`done: ${err.done.join('; ') || 'nothing'}\nleft: ${err.left.join('; ') || 'nothing'}`);
        throw err;
      }
    }
    if (flags.host !== undefined || flags['client-port'] !== undefined || flags['peer-port'] !== undefined) {
      throw new CtlError('--host, --client-port and --peer-port need a cluster context (kvctl cluster bootstrap) and no --endpoints', ExitCode.ExitBadArgs);
    }
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
