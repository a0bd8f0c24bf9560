import { Args } from '@oclif/core';

import type { ResponseHeader } from '../../client/index.js';
import { fieldsHeader, jsonResponse, render } from '../../cli/auth-output.js';
import { ClientCommand } from '../../cli/client-command.js';
import { CtlError } from '../../cli/ctl-error.js';
import { ExitCode } from '../../cli/exit-codes.js';

export type UserDeleteResult = { header: ResponseHeader | undefined; name: string };

export default class UserDelete extends ClientCommand<UserDeleteResult> {
  static override summary = 'Deletes a user';

  static override description = 'Deletes a user, like etcdctl user delete. Its tokens stop working at once. The root user cannot be deleted while authentication is enabled.';

  static override usage = '<%= command.id %> <user name>';

  static override strict = false;

  static override args = { user: Args.string({ description: 'user name', ignoreStdin: true }) };

  async run(): Promise<UserDeleteResult> {
    const { argv, flags } = await this.parse(UserDelete);
    const args = argv as string[];
    if (args.length !== 1) throw new CtlError('user delete command requires user name as its argument', ExitCode.ExitBadArgs);
    const name = args[0] ?? '';
    const client = await this.connect(flags);
    const resp = await client.auth.userDelete(name);
    const result = { header: resp.header, name };
    this.write(render(this.writeOut(flags), { simple: `User ${name} deleted\n`, json: this.jsonOf(result), fields: fieldsHeader(resp.header) }));
    return result;
  }

  protected jsonOf(result: UserDeleteResult): string {
    return jsonResponse(result.header);
  }
}
