import type { ResponseHeader } from '../../client/index.js';
import { jsonResponse } from '../../cli/auth-output.js';
import { ClientCommand } from '../../cli/client-command.js';
import { CtlError } from '../../cli/ctl-error.js';
import { ExitCode } from '../../cli/exit-codes.js';

export type AuthDisableResult = { header: ResponseHeader | undefined };

export default class AuthDisable extends ClientCommand<AuthDisableResult> {
  static override summary = 'Disables authentication';

  static override description =
    'Turns authentication off, like etcdctl auth disable (root only): every token stops working and requests are no longer checked. Users and roles stay. Prints "Authentication Disabled" whatever -w says (as etcdctl does).';

  static override usage = '<%= command.id %>';

  static override strict = false;

  async run(): Promise<AuthDisableResult> {
    const { argv, flags } = await this.parse(AuthDisable);
    if (argv.length !== 0) throw new CtlError('auth disable command does not accept any arguments', ExitCode.ExitBadArgs);
    const client = await this.connect(flags);
    const resp = await client.auth.authDisable();
    this.log('Authentication Disabled');
    return { header: resp.header };
  }

  protected jsonOf(result: AuthDisableResult): string {
    return jsonResponse(result.header);
  }
}
