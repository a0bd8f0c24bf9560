import { Args, Flags } from '@oclif/core';

import type { ResponseHeader } from '../../client/index.js';
import { fieldsHeader, jsonResponse, permRange, render } from '../../cli/auth-output.js';
import { ClientCommand } from '../../cli/client-command.js';
import { CtlError } from '../../cli/ctl-error.js';
import { ExitCode } from '../../cli/exit-codes.js';

export type RoleRevokePermissionResult = { header: ResponseHeader | undefined };

export default class RoleRevokePermission extends ClientCommand<RoleRevokePermissionResult> {
  static override summary = 'Revokes a key from a role';

  static override description =
    'Revokes the permission on exactly this key or range (as granted: the same key, endkey, --prefix or --from-key) from a role, like etcdctl role revoke-permission.';

  static override usage = '<%= command.id %> <role name> <key> [endkey]';

  static override strict = false;

  static override args = {
    role: Args.string({ description: 'role name', ignoreStdin: true }),
    key: Args.string({ description: 'key, or start of the range', ignoreStdin: true }),
    endkey: Args.string({ description: 'end of the range (exclusive)', ignoreStdin: true }),
  };

  static override flags = {
    prefix: Flags.boolean({ description: 'revoke a prefix permission', default: false }),
    'from-key': Flags.boolean({
      description: 'revoke a permission of keys that are greater than or equal to the given key using byte compare',
      default: false,
    }),
  };

  async run(): Promise<RoleRevokePermissionResult> {
    const { argv, flags } = await this.parse(RoleRevokePermission);
    const args = argv as string[];
    if (args.length < 2) {
      throw new CtlError('role revoke-permission command requires role name and key [endkey] as its argument', ExitCode.ExitBadArgs);
    }
    const role = args[0] ?? '';
    const { key, rangeEnd } = permRange(args.slice(1), flags);
    const client = await this.connect(flags);
    const resp = await client.auth.roleRevokePermission(role, key, rangeEnd);
    const simple =
      rangeEnd.length === 0
        ? Buffer.concat([Buffer.from('Permission of key '), key, Buffer.from(` is revoked from role ${role}\n`)])
        : rangeEnd.equals(Buffer.from([0]))
          ? Buffer.concat([Buffer.from('Permission of range ['), key, Buffer.from(`, <open ended> is revoked from role ${role}\n`)])
          : Buffer.concat([Buffer.from('Permission of range ['), key, Buffer.from(', '), rangeEnd, Buffer.from(`) is revoked from role ${role}\n`)]);
    this.write(render(this.writeOut(flags), { simple, json: this.jsonOf(resp), fields: fieldsHeader(resp.header) }));
    return { header: resp.header };
  }

  protected jsonOf(result: RoleRevokePermissionResult): string {
    return jsonResponse(result.header);
  }
}
