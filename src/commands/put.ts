import { Args, Flags } from '@oclif/core';

import type { PutResponse } from '../client/index.js';
import { ClientCommand, hexFlag } from '../cli/client-command.js';
import { CtlError } from '../cli/ctl-error.js';
import { ExitCode } from '../cli/exit-codes.js';
import { putArgsMessage, putSpec } from '../cli/kv-options.js';
import { jsonPut, printPut, tableNotSupported } from '../cli/output.js';
import { readStdin } from '../cli/stdin.js';

export type PutResult = PutResponse;

export default class Put extends ClientCommand<PutResult> {
  static override summary = 'Puts the given key into the store';

  static override description = [
    'Puts the given key into the store, like etcdctl put.',
    "When <value> begins with '-', <value> is interpreted as a flag. Insert '--' for workaround:\n  $ kvctl put <key> -- <value>\n  $ kvctl put -- <key> <value>",
    "If <value> isn't given as a command line argument and '--ignore-value' is not specified, this command reads the value from standard input (all of it, a trailing newline included): cat file | kvctl put <key>.",
  ].join('\n\n');

  static override usage = '<%= command.id %> <key> [value] [flags]';

  static override examples = [
    '<%= config.bin %> <%= command.id %> foo bar',
    '<%= config.bin %> <%= command.id %> foo bar2 --prev-kv',
    'cat config.yaml | <%= config.bin %> <%= command.id %> /config/app',
    '<%= config.bin %> <%= command.id %> foo --ignore-value --lease 694d77aa9e38260f',
  ];

  // etcdctl ignores arguments after the value; keep that, and report missing ones with its message.
  static override strict = false;

  // ignoreStdin: oclif would otherwise fill a missing argument from piped stdin; put reads its value from stdin
  // itself (all of it), and etcdctl never takes the other arguments from there.
  static override args = {
    key: Args.string({ description: 'key to put', ignoreStdin: true }),
    value: Args.string({ description: 'value (read from stdin when omitted)', ignoreStdin: true }),
  };

  static override flags = {
    hex: hexFlag,
    lease: Flags.string({ description: 'lease ID (in hexadecimal) to attach to the key', default: '0' }),
    'prev-kv': Flags.boolean({ description: 'return the previous key-value pair before modification', default: false }),
    'ignore-value': Flags.boolean({ description: 'updates the key using its current value', default: false }),
    'ignore-lease': Flags.boolean({ description: 'updates the key using its current lease', default: false }),
  };

  async run(): Promise<PutResult> {
    const { argv, flags } = await this.parse(Put);
    const w = this.writeOut(flags);
    const args: Buffer[] = (argv as string[]).map((a) => Buffer.from(a, 'utf8'));
    if (args.length === 0) throw new CtlError(putArgsMessage, ExitCode.ExitBadArgs);
    if (args.length === 1 && !flags['ignore-value']) {
      const value = await readStdin();
      if (value.length === 0) throw new CtlError(putArgsMessage, ExitCode.ExitBadArgs);
      args.push(value);
    }
    const spec = putSpec(args, flags);
    // etcdctl writes first and then refuses the format; refusing before anything is sent is the safer order.
    if (w === 'table') throw new CtlError(tableNotSupported, ExitCode.ExitBadFeature);
    const client = await this.connect(flags);
    const resp = await client.put(spec.key, spec.value, spec.opts);
    this.write(printPut(w, resp, { hex: flags.hex }));
    return resp;
  }

  protected jsonOf(result: PutResult): string {
    return jsonPut(result);
  }
}
