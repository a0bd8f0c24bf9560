import type { AuthUserListResponse } from '../../client/index.js';
import { json, jsonResponse, render } from '../../cli/auth-output.js';
import { ClientCommand } from '../../cli/client-command.js';
import { CtlError } from '../../cli/ctl-error.js';
import { ExitCode } from '../../cli/exit-codes.js';

export type UserListResult = AuthUserListResponse;

export default class UserList extends ClientCommand<UserListResult> {
  static override summary = 'Lists all users';

  static override description = 'Lists every user, one per line in byte order, like etcdctl user list.';

  static override usage = '<%= command.id %>';

  static override strict = false;

  async run(): Promise<UserListResult> {
    const { argv, flags } = await this.parse(UserList);
    if (argv.length !== 0) throw new CtlError('user list command requires no arguments', ExitCode.ExitBadArgs);
    const client = await this.connect(flags);
    const resp = await client.auth.userList();
    this.write(render(this.writeOut(flags), { simple: resp.users.map((u) => `${u}\n`).join(''), json: this.jsonOf(resp) }));
    return resp;
  }

  protected jsonOf(result: UserListResult): string {
    return jsonResponse(result.header, [['users', json.strings(result.users)]]);
  }
}
