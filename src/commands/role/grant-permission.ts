import { Args, Flags } from '@oclif/core';

import { type ResponseHeader, parsePermissionType } from '../../client/index.js';
import { fieldsHeader, jsonResponse, permRange, render } from '../../cli/auth-output.js';
import { ClientCommand } from '../../cli/client-command.js';
import { CtlError } from '../../cli/ctl-error.js';
import { ExitCode } from '../../cli/exit-codes.js';

export type RoleGrantPermissionResult = { header: ResponseHeader | undefined };

export default class RoleGrantPermission extends ClientCommand<RoleGrantPermissionResult> {
  static override summary = 'Grants a key to a role';

  static override description = [
    'Grants read, write or readwrite on a key, on [key, endkey), on every key with a prefix (--prefix) or on every key from key on (--from-key), like etcdctl role grant-permission. An empty key with --prefix or --from-key means the whole keyspace.',
    'Granting a different type on the same key and range end replaces the type.',
  ].join('\n\n');

  static override usage = '<%= command.id %> [options] <role name> <permission type> <key> [endkey]';

  static override examples = [
    '<%= config.bin %> <%= command.id %> reader read /app/ --prefix',
    '<%= config.bin %> <%= command.id %> writer readwrite /a /c',
    "<%= config.bin %> <%= command.id %> admin readwrite '' --from-key",
  ];

  static override strict = false;

  static override args = {
    role: Args.string({ description: 'role name', ignoreStdin: true }),
    type: Args.string({ description: 'read, write or readwrite', ignoreStdin: true }),
    key: Args.string({ description: 'key, or start of the range', ignoreStdin: true }),
    endkey: Args.string({ description: 'end of the range (exclusive)', ignoreStdin: true }),
  };

  static override flags = {
    prefix: Flags.boolean({ description: 'grant a prefix permission', default: false }),
    'from-key': Flags.boolean({
      description: 'grant a permission of keys that are greater than or equal to the given key using byte compare',
      default: false,
    }),
  };

  async run(): Promise<RoleGrantPermissionResult> {
    const { argv, flags } = await this.parse(RoleGrantPermission);
    const args = argv as string[];
    if (args.length < 3) {
      throw new CtlError('role grant command requires role name, permission type, and key [endkey] as its argument', ExitCode.ExitBadArgs);
    }
    const role = args[0] ?? '';
    const type = parsePermissionType(args[1] ?? '');
    const { key, rangeEnd } = permRange(args.slice(2), flags);
    const client = await this.connect(flags);
    const resp = await client.auth.roleGrantPermission(role, key, rangeEnd, type);
    this.write(render(this.writeOut(flags), { simple: `Role ${role} updated\n`, json: this.jsonOf(resp), fields: fieldsHeader(resp.header) }));
    return { header: resp.header };
  }

  protected jsonOf(result: RoleGrantPermissionResult): string {
    return jsonResponse(result.header);
  }
}
