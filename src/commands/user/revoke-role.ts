import { Args } from '@oclif/core';

import type { ResponseHeader } from '../../client/index.js';
import { fieldsHeader, jsonResponse, render } from '../../cli/auth-output.js';
import { ClientCommand } from '../../cli/client-command.js';
import { CtlError } from '../../cli/ctl-error.js';
import { ExitCode } from '../../cli/exit-codes.js';

export type UserRevokeRoleResult = { header: ResponseHeader | undefined };

export default class UserRevokeRole extends ClientCommand<UserRevokeRoleResult> {
  static override summary = 'Revokes a role from a user';

  static override description = 'Revokes a role from a user, like etcdctl user revoke-role. The root user keeps the root role while authentication is enabled.';

  static override usage = '<%= command.id %> <user name> <role name>';

  static override strict = false;

  static override args = {
    user: Args.string({ description: 'user name', ignoreStdin: true }),
    role: Args.string({ description: 'role name', ignoreStdin: true }),
  };

  async run(): Promise<UserRevokeRoleResult> {
    const { argv, flags } = await this.parse(UserRevokeRole);
    const args = argv as string[];
    if (args.length !== 2) throw new CtlError('user revoke-role requires user name and role name as its argument', ExitCode.ExitBadArgs);
    const [user = '', role = ''] = args;
    const client = await this.connect(flags);
    const resp = await client.auth.userRevokeRole(user, role);
    this.write(
      render(this.writeOut(flags), { simple: `Role ${role} is revoked from user ${user}\n`, json: this.jsonOf(resp), fields: fieldsHeader(resp.header) }),
    );
    return { header: resp.header };
  }

  protected jsonOf(result: UserRevokeRoleResult): string {
    return jsonResponse(result.header);
  }
}
