import { Args, Flags } from '@oclif/core';

import { ClusterApi, type MemberAddResponse } from '../../client/index.js';
import { ClientCommand } from '../../cli/client-command.js';
import { CtlError } from '../../cli/ctl-error.js';
import { ExitCode } from '../../cli/exit-codes.js';
import { checkChangeWriteOut, jsonMemberAdd, peerUrlsOf, printMemberAdd } from '../../cli/member-output.js';

export type MemberAddResult = MemberAddResponse;

export default class MemberAdd extends ClientCommand<MemberAddResult> {
  static override summary = 'Adds a member into the cluster';

  static override description =
    'Adds a member with the given peer URLs, like etcdctl member add (--learner: as a non-voting learner, to promote once it has caught up). With -w simple it prints the new member\'s ID and the ETCD_NAME, ETCD_INITIAL_CLUSTER, ETCD_INITIAL_ADVERTISE_PEER_URLS and ETCD_INITIAL_CLUSTER_STATE settings to start it with; -w json prints the response (the new member and the members after the change).';

  static override usage = '<%= command.id %> <memberName> --peer-urls=<urls> [flags]';

  static override examples = [
    '<%= config.bin %> <%= command.id %> infra4 --peer-urls=http://10.0.0.4:2380',
    '<%= config.bin %> <%= command.id %> infra4 --peer-urls=http://10.0.0.4:2380 --learner',
  ];

  // etcdctl answers a wrong number of arguments with its own messages and exit code 128.
  static override strict = false;

  // ignoreStdin: oclif would otherwise fill a missing argument from piped stdin, which etcdctl never does.
  static override args = { memberName: Args.string({ description: 'name of the new member', ignoreStdin: true }) };

  static override flags = {
    'peer-urls': Flags.string({ description: 'comma separated peer URLs for the new member.', default: '' }),
    learner: Flags.boolean({ description: 'indicates if the new member is raft learner', default: false }),
  };

  async run(): Promise<MemberAddResult> {
    const { argv, flags } = await this.parse(MemberAdd);
    const args = argv.map(String);
    if (args.length < 1) throw new CtlError('member name not provided', ExitCode.ExitBadArgs);
    if (args.length > 1) {
      // etcdctl's hint for the old `member add <name> <peerURL>` form.
      const hints = args.filter((a) => a.toLowerCase().startsWith('http')).map((a) => `, did you mean --peer-urls=${a}`);
      throw new CtlError(`too many arguments${hints.join('')}`, ExitCode.ExitBadArgs);
    }
    const name = args[0] ?? '';
    const peerUrls = peerUrlsOf(flags['peer-urls']);
    const w = checkChangeWriteOut(this.writeOut(flags));
    const client = await this.connect(flags);
    const resp = await new ClusterApi(client).memberAdd(peerUrls, { learner: flags.learner });
    this.write(printMemberAdd(w, resp, { name, peerUrls: flags['peer-urls'] }));
    return resp;
  }

  protected jsonOf(result: MemberAddResult): string {
    return jsonMemberAdd(result);
  }
}
