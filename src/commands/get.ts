import { Flags } from '@oclif/core';

import type { RangeResponse } from '../client/index.js';
import { ClientCommand, hexFlag, int64Flag } from '../cli/client-command.js';
import { CtlError } from '../cli/ctl-error.js';
import { ExitCode } from '../cli/exit-codes.js';
import { getSpec, keyRangeArgs } from '../cli/kv-options.js';
import { jsonRange, printRange, tableNotSupported } from '../cli/output.js';

export type GetResult = RangeResponse;

export default class Get extends ClientCommand<GetResult> {
  static override summary = 'Gets the key or a range of keys';

  static override description = [
    'Gets the key, or the keys in [key, range_end), like etcdctl get.',
    '--prefix gets every key that starts with <key>, --from-key every key greater than or equal to it (an empty key with either means the whole keyspace). --count-only is for -w fields and -w json.',
    "--min/max-mod-rev and --min/max-create-rev filter on revisions (fields of etcd's RangeRequest that etcdctl has no flags for).",
  ].join('\n\n');

  static override usage = '<%= command.id %> <key> [range_end] [flags]';

  static override examples = [
    '<%= config.bin %> <%= command.id %> foo',
    '<%= config.bin %> <%= command.id %> --prefix /app/ --keys-only',
    '<%= config.bin %> <%= command.id %> "" --from-key --limit 10 --sort-by MODIFY --order DESCEND',
    '<%= config.bin %> <%= command.id %> foo --rev 42 -w json',
  ];

  // etcdctl ignores arguments after range_end; keep that, and report a missing key with its message.
  static override strict = false;

  static override args = keyRangeArgs;

  static override flags = {
    hex: hexFlag,
    consistency: Flags.string({ description: 'Linearizable(l) or Serializable(s)', default: 'l' }),
    order: Flags.string({ description: 'Order of results; ASCEND or DESCEND (ASCEND by default)', default: '' }),
    'sort-by': Flags.string({ description: 'Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION', default: '' }),
    limit: int64Flag('Maximum number of results'),
    prefix: Flags.boolean({ description: 'Get keys with matching prefix', default: false }),
    'from-key': Flags.boolean({ description: 'Get keys that are greater than or equal to the given key using byte compare', default: false }),
    rev: int64Flag('Specify the kv revision'),
    'keys-only': Flags.boolean({ description: 'Get only the keys', default: false }),
    'count-only': Flags.boolean({ description: 'Get only the count', default: false }),
    'print-value-only': Flags.boolean({ description: 'Only write values when using the "simple" output format', default: false }),
    'min-mod-rev': int64Flag('Only keys modified at or after this revision'),
    'max-mod-rev': int64Flag('Only keys modified at or before this revision'),
    'min-create-rev': int64Flag('Only keys created at or after this revision'),
    'max-create-rev': int64Flag('Only keys created at or before this revision'),
  };

  async run(): Promise<GetResult> {
    const { argv, flags } = await this.parse(Get);
    const w = this.writeOut(flags);
    const spec = getSpec((argv as string[]).map((a) => Buffer.from(a, 'utf8')), flags);
    if (flags['count-only'] && w !== 'fields' && w !== 'json') {
      throw new CtlError('--count-only is only for `--write-out=fields`', ExitCode.ExitBadArgs);
    }
    if (flags['print-value-only'] && w !== 'simple') {
      throw new CtlError('print-value-only is only for `--write-out=simple`', ExitCode.ExitBadArgs);
    }
    if (w === 'table') throw new CtlError(tableNotSupported, ExitCode.ExitBadFeature);
    const client = await this.connect(flags);
    const resp = await client.range(spec.key, spec.opts);
    this.write(printRange(w, resp, { hex: flags.hex, valueOnly: flags['print-value-only'] }));
    return resp;
  }

  protected jsonOf(result: GetResult): string {
    return jsonRange(result);
  }
}
