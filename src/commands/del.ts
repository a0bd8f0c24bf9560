import { Flags } from '@oclif/core';

import type { DeleteRangeResponse } from '../client/index.js';
import { ClientCommand, hexFlag } from '../cli/client-command.js';
import { CtlError } from '../cli/ctl-error.js';
import { ExitCode } from '../cli/exit-codes.js';
import { delSpec, keyRangeArgs } from '../cli/kv-options.js';
import { jsonDelete, printDelete, tableNotSupported } from '../cli/output.js';

export type DelResult = DeleteRangeResponse;

export default class Del extends ClientCommand<DelResult> {
  static override summary = 'Removes the specified key or range of keys [key, range_end)';

  static override description =
    'Removes the key, or the keys in [key, range_end), like etcdctl del, and prints how many were deleted. --prefix deletes every key that starts with <key>, --from-key every key greater than or equal to it.';

  static override usage = '<%= command.id %> <key> [range_end] [flags]';

  static override examples = [
    '<%= config.bin %> <%= command.id %> foo',
    '<%= config.bin %> <%= command.id %> --prefix /app/ --prev-kv',
    '<%= config.bin %> <%= command.id %> a c',
  ];

  // etcdctl answers a wrong number of arguments with its own message and exit code 128.
  static override strict = false;

  static override args = keyRangeArgs;

  static override flags = {
    hex: hexFlag,
    prefix: Flags.boolean({ description: 'delete keys with matching prefix', default: false }),
    'prev-kv': Flags.boolean({ description: 'return deleted key-value pairs', default: false }),
    'from-key': Flags.boolean({ description: 'delete keys that are greater than or equal to the given key using byte compare', default: false }),
  };

  async run(): Promise<DelResult> {
    const { argv, flags } = await this.parse(Del);
    const w = this.writeOut(flags);
    const spec = delSpec((argv as string[]).map((a) => Buffer.from(a, 'utf8')), flags);
    if (w === 'table') throw new CtlError(tableNotSupported, ExitCode.ExitBadFeature);
    const client = await this.connect(flags);
    const resp = await client.deleteRange(spec.key, spec.opts);
    this.write(printDelete(w, resp, { hex: flags.hex }));
    return resp;
  }

  protected jsonOf(result: DelResult): string {
    return jsonDelete(result);
  }
}
