import { Args, Flags } from '@oclif/core';

import type { ResponseHeader } from '../../client/index.js';
import { fieldsHeader, jsonResponse, readNewPassword, render, withGoBools } from '../../cli/auth-output.js';
import { ClientCommand } from '../../cli/client-command.js';
import { CtlError } from '../../cli/ctl-error.js';
import { ExitCode } from '../../cli/exit-codes.js';
import { scanWord } from '../../cli/password.js';

export type UserAddResult = { header: ResponseHeader | undefined; name: string };

export default class UserAdd extends ClientCommand<UserAddResult> {
  static override summary = 'Adds a new user';

  static override description = [
    'Adds a user, like etcdctl user add. The password comes from <name:password>, from --new-user-password, from stdin with --interactive=false (its first word), or is asked for twice on the terminal.',
    '--no-password creates a user that cannot authenticate with a password (TLS common-name authentication only).',
  ].join('\n\n');

  static override usage = '<%= command.id %> <user name or user:password> [options]';

  static override examples = [
    '<%= config.bin %> <%= command.id %> root',
    '<%= config.bin %> <%= command.id %> alice:secret',
    'echo secret | <%= config.bin %> <%= command.id %> bob --interactive=false',
  ];

  static override strict = false;

  static override args = {
    user: Args.string({ description: 'user name, or user:password', ignoreStdin: true }),
  };

  static override flags = {
    interactive: Flags.boolean({ description: 'Read password from stdin instead of interactive terminal', default: true, allowNo: true }),
    'new-user-password': Flags.string({ description: 'Supply password from the command line flag', default: '' }),
    'no-password': Flags.boolean({ description: 'Create a user without password (CN based auth only)', default: false }),
  };

  async run(): Promise<UserAddResult> {
    this.argv = withGoBools(this.argv, ['interactive', 'no-password']);
    const { argv, flags } = await this.parse(UserAdd);
    const args = argv as string[];
    if (args.length !== 1) throw new CtlError('user add command requires user name as its argument', ExitCode.ExitBadArgs);
    let name = args[0] ?? '';
    let password = '';
    if (!flags['no-password']) {
      if (flags['new-user-password'] !== '') {
        password = flags['new-user-password'];
      } else {
        const colon = name.indexOf(':');
        if (colon < 0) {
          password = flags.interactive ? await readNewPassword(name) : await scanWord();
        } else {
          password = name.slice(colon + 1);
          name = name.slice(0, colon);
          if (name === '') throw new CtlError('empty user name is not allowed', ExitCode.ExitBadArgs);
        }
      }
    }
    const client = await this.connect(flags);
    const resp = await client.auth.userAdd(name, password, { noPassword: flags['no-password'] });
    const result = { header: resp.header, name };
    this.write(render(this.writeOut(flags), { simple: `User ${name} created\n`, json: this.jsonOf(result), fields: fieldsHeader(resp.header) }));
    return result;
  }

  protected jsonOf(result: UserAddResult): string {
    return jsonResponse(result.header);
  }
}
