import type { AuthRoleListResponse } from '../../client/index.js';
import { fieldsHeader, json, jsonResponse, render } from '../../cli/auth-output.js';
import { ClientCommand } from '../../cli/client-command.js';
import { CtlError } from '../../cli/ctl-error.js';
import { ExitCode } from '../../cli/exit-codes.js';
import { goQuote } from '../../base/go-format.js';

export type RoleListResult = AuthRoleListResponse;

export default class RoleList extends ClientCommand<RoleListResult> {
  static override summary = 'Lists all roles';

  static override description = 'Lists every role, one per line in byte order, like etcdctl role list.';

  static override usage = '<%= command.id %>';

  static override strict = false;

  async run(): Promise<RoleListResult> {
    const { argv, flags } = await this.parse(RoleList);
    if (argv.length !== 0) throw new CtlError('role list command requires no arguments', ExitCode.ExitBadArgs);
    const client = await this.connect(flags);
    const resp = await client.auth.roleList();
    // etcdctl's fields line: `"Roles" : "a" "b"` (each name with Go's %q).
    const fields = `${fieldsHeader(resp.header)}"Roles" :${resp.roles.map((r) => ` ${goQuote(r)}`).join('')}\n`;
    this.write(render(this.writeOut(flags), { simple: resp.roles.map((r) => `${r}\n`).join(''), json: this.jsonOf(resp), fields }));
    return resp;
  }

  protected jsonOf(result: RoleListResult): string {
    return jsonResponse(result.header, [['roles', json.strings(result.roles)]]);
  }
}
