import { Args } from '@oclif/core';

import type { ResponseHeader } from '../../client/index.js';
import { fieldsHeader, jsonResponse, render } from '../../cli/auth-output.js';
import { ClientCommand } from '../../cli/client-command.js';
import { CtlError } from '../../cli/ctl-error.js';
import { ExitCode } from '../../cli/exit-codes.js';

export type RoleAddResult = { header: ResponseHeader | undefined };

export default class RoleAdd extends ClientCommand<RoleAddResult> {
  static override summary = 'Adds a new role';

  static override description = 'Adds a role with no permissions, like etcdctl role add.';

  static override usage = '<%= command.id %> <role name>';

  static override strict = false;

  static override args = { role: Args.string({ description: 'role name', ignoreStdin: true }) };

  async run(): Promise<RoleAddResult> {
    const { argv, flags } = await this.parse(RoleAdd);
    const args = argv as string[];
    if (args.length !== 1) throw new CtlError('role add command requires role name as its argument', ExitCode.ExitBadArgs);
    const role = args[0] ?? '';
    const client = await this.connect(flags);
    const resp = await client.auth.roleAdd(role);
    this.write(render(this.writeOut(flags), { simple: `Role ${role} created\n`, json: this.jsonOf(resp), fields: fieldsHeader(resp.header) }));
    return { header: resp.header };
  }

  protected jsonOf(result: RoleAddResult): string {
    return jsonResponse(result.header);
  }
}
