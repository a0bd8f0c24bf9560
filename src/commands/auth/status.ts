import type { AuthStatusResponse } from '../../client/index.js';
import { fieldsHeader, json, jsonResponse, render } from '../../cli/auth-output.js';
import { ClientCommand } from '../../cli/client-command.js';
import { CtlError } from '../../cli/ctl-error.js';
import { ExitCode } from '../../cli/exit-codes.js';

export type AuthStatusResult = AuthStatusResponse;

export default class AuthStatus extends ClientCommand<AuthStatusResult> {
  static override summary = 'Returns authentication status';

  static override description =
    'Prints whether authentication is enabled and the auth revision (bumped by every user, role or permission change), like etcdctl 3.5 auth status (etcdctl 3.4 has no such command). Root only while authentication is enabled.';

  static override usage = '<%= command.id %>';

  static override strict = false;

  async run(): Promise<AuthStatusResult> {
    const { argv, flags } = await this.parse(AuthStatus);
    if (argv.length !== 0) throw new CtlError('auth status command does not accept any arguments', ExitCode.ExitBadArgs);
    const client = await this.connect(flags);
    const resp = await client.auth.authStatus();
    const simple = `Authentication Status: ${resp.enabled}\nAuthRevision: ${resp.authRevision}\n`;
    const fields = `${fieldsHeader(resp.header)}"Enabled" : ${resp.enabled}\n"AuthRevision" : ${resp.authRevision}\n`;
    this.write(render(this.writeOut(flags), { simple, json: this.jsonOf(resp), fields }));
    return resp;
  }

  protected jsonOf(result: AuthStatusResult): string {
    return jsonResponse(result.header, [
      ['enabled', json.bool(result.enabled)],
      ['authRevision', json.int(result.authRevision)],
    ]);
  }
}
