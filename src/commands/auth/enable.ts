import type { ResponseHeader } from '../../client/index.js';
import { ClientError } from '../../client/index.js';
import { jsonResponse } from '../../cli/auth-output.js';
import { ClientCommand } from '../../cli/client-command.js';
import { CtlError } from '../../cli/ctl-error.js';
import { ExitCode } from '../../cli/exit-codes.js';

export type AuthEnableResult = { header: ResponseHeader | undefined };

/** Bounds etcdctl's loop (enable; on "root user does not have root role" add the role, grant it, enable again). */
const MAX_ATTEMPTS = 3;

export default class AuthEnable extends ClientCommand<AuthEnableResult> {
  static override summary = 'Enables authentication';

  static override description = [
    'Turns authentication on, like etcdctl auth enable: from then on every request needs a token (etcdctl and kvctl get one with --user) and is checked against the permissions of its user. The user root must exist; if it lacks the role root, the role is created and granted first, as etcdctl does.',
    'Prints "Authentication Enabled" whatever -w says (as etcdctl does).',
  ].join('\n\n');

  static override usage = '<%= command.id %>';

  static override strict = false;

  async run(): Promise<AuthEnableResult> {
    const { argv, flags } = await this.parse(AuthEnable);
    if (argv.length !== 0) throw new CtlError('auth enable command does not accept any arguments', ExitCode.ExitBadArgs);
    const client = await this.connect(flags);
    for (let attempt = 1; ; attempt++) {
      try {
        const resp = await client.auth.authEnable();
        this.log('Authentication Enabled');
        return { header: resp.header };
      } catch (err) {
        if (!(err instanceof ClientError) || err.etcdError !== 'rootRoleNotExist' || attempt >= MAX_ATTEMPTS) throw err;
        await client.auth.roleAdd('root');
        await client.auth.userGrantRole('root', 'root');
      }
    }
  }

  protected jsonOf(result: AuthEnableResult): string {
    return jsonResponse(result.header);
  }
}
