import { Args, Flags } from '@oclif/core';

import type { ResponseHeader } from '../../client/index.js';
import { fieldsHeader, jsonResponse, readNewPassword, render, withGoBools } from '../../cli/auth-output.js';
import { ClientCommand } from '../../cli/client-command.js';
import { CtlError } from '../../cli/ctl-error.js';
import { ExitCode } from '../../cli/exit-codes.js';
import { scanWord } from '../../cli/password.js';

export type UserPasswdResult = { header: ResponseHeader | undefined };

export default class UserPasswd extends ClientCommand<UserPasswdResult> {
  static override summary = 'Changes password of user';

  static override description =
    "Changes a user's password, like etcdctl user passwd: asked for twice on the terminal, or with --interactive=false read from stdin (its first word). The user's tokens stop working at once.";

  static override usage = '<%= command.id %> <user name> [options]';

  static override strict = false;

  static override args = { user: Args.string({ description: 'user name', ignoreStdin: true }) };

  static override flags = {
    interactive: Flags.boolean({ description: 'If true, read password from stdin instead of interactive terminal', default: true, allowNo: true }),
  };

  async run(): Promise<UserPasswdResult> {
    this.argv = withGoBools(this.argv, ['interactive']);
    const { argv, flags } = await this.parse(UserPasswd);
    const args = argv as string[];
    if (args.length !== 1) throw new CtlError('user passwd command requires user name as its argument', ExitCode.ExitBadArgs);
    const name = args[0] ?? '';
    const password = flags.interactive ? await readNewPassword(name) : await scanWord();
    const client = await this.connect(flags);
    const resp = await client.auth.userChangePassword(name, password);
    this.write(render(this.writeOut(flags), { simple: 'Password updated\n', json: this.jsonOf(resp), fields: fieldsHeader(resp.header) }));
    return { header: resp.header };
  }

  protected jsonOf(result: UserPasswdResult): string {
    return jsonResponse(result.header);
  }
}
