import { Args } from '@oclif/core';

import type { ResponseHeader } from '../../client/index.js';
import { fieldsHeader, jsonResponse, render } from '../../cli/auth-output.js';
import { ClientCommand } from '../../cli/client-command.js';
import { CtlError } from '../../cli/ctl-error.js';
import { ExitCode } from '../../cli/exit-codes.js';

export type RoleDeleteResult = { header: ResponseHeader | undefined };

export default class RoleDelete extends ClientCommand<RoleDeleteResult> {
  static override summary = 'Deletes a role';

  static override description = 'Deletes a role and revokes it from every user, like etcdctl role delete. The root role cannot be deleted while authentication is enabled.';

  static override usage = '<%= command.id %> <role name>';

  static override strict = false;

  static override args = { role: Args.string({ description: 'role name', ignoreStdin: true }) };

  async run(): Promise<RoleDeleteResult> {
    const { argv, flags } = await this.parse(RoleDelete);
    const args = argv as string[];
    if (args.length !== 1) throw new CtlError('role delete command requires role name as its argument', ExitCode.ExitBadArgs);
    const role = args[0] ?? '';
    const client = await this.connect(flags);
    const resp = await client.auth.roleDelete(role);
    this.write(render(this.writeOut(flags), { simple: `Role ${role} deleted\n`, json: this.jsonOf(resp), fields: fieldsHeader(resp.header) }));
    return { header: resp.header };
  }

  protected jsonOf(result: RoleDeleteResult): string {
    return jsonResponse(result.header);
  }
}
