import { Args, Flags } from '@oclif/core';

import type { AuthUserGetResponse } from '../../client/index.js';
import { json, jsonResponse, render, renderRoleGet } from '../../cli/auth-output.js';
import { ClientCommand } from '../../cli/client-command.js';
import { CtlError } from '../../cli/ctl-error.js';
import { ExitCode } from '../../cli/exit-codes.js';

export type UserGetResult = AuthUserGetResponse & { name: string };

export default class UserGet extends ClientCommand<UserGetResult> {
  static override summary = 'Gets detailed information of a user';

  static override description =
    'Prints the roles of a user, like etcdctl user get; --detail prints the permissions of each role too. A user may read itself without the root role.';

  static override usage = '<%= command.id %> <user name> [options]';

  static override strict = false;

  static override args = { user: Args.string({ description: 'user name', ignoreStdin: true }) };

  static override flags = {
    detail: Flags.boolean({ description: 'Show permissions of roles granted to the user', default: false }),
  };

  async run(): Promise<UserGetResult> {
    const { argv, flags } = await this.parse(UserGet);
    const args = argv as string[];
    if (args.length !== 1) throw new CtlError('user get command requires user name as its argument', ExitCode.ExitBadArgs);
    const name = args[0] ?? '';
    const w = this.writeOut(flags);
    const client = await this.connect(flags);
    const resp = await client.auth.userGet(name);
    const result = { ...resp, name };
    if (!flags.detail) {
      const simple = `User: ${name}\nRoles:${resp.roles.map((r) => ` ${r}`).join('')}\n`;
      this.write(render(w, { simple, json: this.jsonOf(result) }));
      return result;
    }
    // etcdctl prints the user line in every format, then each role as `role get` would.
    this.write(Buffer.from(`User: ${name}\n`));
    for (const role of resp.roles) {
      this.write(Buffer.from('\n'));
      this.write(renderRoleGet(w, role, await client.auth.roleGet(role)));
    }
    return result;
  }

  protected jsonOf(result: UserGetResult): string {
    return jsonResponse(result.header, [['roles', json.strings(result.roles)]]);
  }
}
