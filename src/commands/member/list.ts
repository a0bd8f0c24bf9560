import { ClusterApi, type MemberListResponse } from '../../client/index.js';
import { ClientCommand, hexFlag } from '../../cli/client-command.js';
import { jsonMemberListHex, jsonMembersResponse, printMemberList } from '../../cli/member-output.js';

export type MemberListResult = MemberListResponse;

export default class MemberList extends ClientCommand<MemberListResult> {
  static override summary = 'Lists all members in the cluster';

  static override description =
    'Lists the members as the endpoint that answers knows them, like etcdctl member list. With -w simple it prints one comma-separated line per member: ID, status (started, or unstarted for a member added but not yet joined), name, peer addrs, client addrs, is learner. -w json --hex prints the IDs in hex, as etcdctl 3.5 does.';

  static override examples = ['<%= config.bin %> <%= command.id %> -w table', '<%= config.bin %> <%= command.id %> -w json --hex'];

  // etcdctl ignores arguments here.
  static override strict = false;

  static override flags = { hex: hexFlag };

  private hex = false;

  async run(): Promise<MemberListResult> {
    const { flags } = await this.parse(MemberList);
    this.hex = flags.hex;
    const client = await this.connect(flags);
    const resp = await new ClusterApi(client).memberList();
    this.write(printMemberList(this.writeOut(flags), resp, { hex: flags.hex }));
    return resp;
  }

  protected jsonOf(result: MemberListResult): string {
    return this.hex ? jsonMemberListHex(result) : jsonMembersResponse(result);
  }
}
