import { Args, Flags } from '@oclif/core';

import type { CompactionResponse } from '../client/index.js';
import { ClientCommand } from '../cli/client-command.js';
import { CtlError } from '../cli/ctl-error.js';
import { ExitCode } from '../cli/exit-codes.js';
import { GoParseError, goParseInt } from '../base/go-format.js';
import { jsonHeaderOnly } from '../cli/output.js';

export type CompactionResult = CompactionResponse & { readonly revision: bigint };

export default class Compaction extends ClientCommand<CompactionResult> {
  static override summary = 'Compacts the event history in etcd';

  static override description =
    'Compacts the key-value history up to <revision>, like etcdctl compaction: reads at older revisions fail afterwards with "required revision has been compacted". Prints "compacted revision <revision>" whatever -w says (as etcdctl does); --json prints the response header.';

  static override usage = '<%= command.id %> <revision> [flags]';

  static override examples = ['<%= config.bin %> <%= command.id %> 1234', '<%= config.bin %> <%= command.id %> 1234 --physical'];

  // etcdctl answers a missing revision with its own message and exit code 128.
  static override strict = false;

  // ignoreStdin: oclif would otherwise fill a missing argument from piped stdin, which etcdctl never does.
  static override args = {
    revision: Args.string({ description: 'revision to compact up to', ignoreStdin: true }),
  };

  static override flags = {
    physical: Flags.boolean({ description: "'true' to wait for compaction to physically remove all old revisions", default: false }),
  };

  async run(): Promise<CompactionResult> {
    const { argv, flags } = await this.parse(Compaction);
    if (argv.length !== 1) throw new CtlError('compaction command needs 1 argument', ExitCode.ExitBadArgs);
    let revision: bigint;
    try {
      revision = goParseInt(String(argv[0]), 10);
    } catch (err) {
      if (err instanceof GoParseError) throw new CtlError(err.message, ExitCode.ExitError);
      throw err;
    }
    const client = await this.connect(flags);
    const resp = await client.compact(revision, { physical: flags.physical });
    this.log(`compacted revision ${revision}`);
    return { ...resp, revision };
  }

  protected jsonOf(result: CompactionResult): string {
    return jsonHeaderOnly(result);
  }
}
