import { Args } from '@oclif/core';

import type { ResponseHeader } from '../../client/index.js';
import { fieldsHeader, jsonResponse, render } from '../../cli/auth-output.js';
import { ClientCommand } from '../../cli/client-command.js';
import { CtlError } from '../../cli/ctl-error.js';
import { ExitCode } from '../../cli/exit-codes.js';

export type UserGrantRoleResult = { header: ResponseHeader | undefined };

export default class UserGrantRole extends ClientCommand<UserGrantRoleResult> {
  static override summary = 'Grants a role to a user';

  static override description = 'Grants a role to a user, like etcdctl user grant-role. Granting a role the user has already is not an error.';

  static override usage = '<%= command.id %> <user name> <role name>';

  static override strict = false;

  static override args = {
    user: Args.string({ description: 'user name', ignoreStdin: true }),
    role: Args.string({ description: 'role name', ignoreStdin: true }),
  };

  async run(): Promise<UserGrantRoleResult> {
    const { argv, flags } = await this.parse(UserGrantRole);
    const args = argv as string[];
    if (args.length !== 2) throw new CtlError('user grant command requires user name and role name as its argument', ExitCode.ExitBadArgs);
    const [user = '', role = ''] = args;
    const client = await this.connect(flags);
    const resp = await client.auth.userGrantRole(user, role);
    this.write(
      render(this.writeOut(flags), { simple: `Role ${role} is granted to user ${user}\n`, json: this.jsonOf(resp), fields: fieldsHeader(resp.header) }),
    );
    return { header: resp.header };
  }

  protected jsonOf(result: UserGrantRoleResult): string {
    return jsonResponse(result.header);
  }
}
