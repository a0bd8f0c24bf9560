import { Args } from '@oclif/core';

import type { AuthRoleGetResponse } from '../../client/index.js';
import { jsonPermissions, jsonResponse, renderRoleGet } from '../../cli/auth-output.js';
import { ClientCommand } from '../../cli/client-command.js';
import { CtlError } from '../../cli/ctl-error.js';
import { ExitCode } from '../../cli/exit-codes.js';

export type RoleGetResult = AuthRoleGetResponse & { role: string };

export default class RoleGet extends ClientCommand<RoleGetResult> {
  static override summary = 'Gets detailed information of a role';

  static override description =
    "Prints a role's key permissions, like etcdctl role get: `KV Read:` and `KV Write:` lists of keys, [key, end) ranges, open-ended ranges and prefixes. A user may read the roles it has without the root role.";

  static override usage = '<%= command.id %> <role name>';

  static override strict = false;

  static override args = { role: Args.string({ description: 'role name', ignoreStdin: true }) };

  async run(): Promise<RoleGetResult> {
    const { argv, flags } = await this.parse(RoleGet);
    const args = argv as string[];
    if (args.length !== 1) throw new CtlError('role get command requires role name as its argument', ExitCode.ExitBadArgs);
    const role = args[0] ?? '';
    const client = await this.connect(flags);
    const resp = await client.auth.roleGet(role);
    this.write(renderRoleGet(this.writeOut(flags), role, resp));
    return { ...resp, role };
  }

  protected jsonOf(result: RoleGetResult): string {
    return jsonResponse(result.header, [['perm', jsonPermissions(result.perm)]]);
  }
}
