import { Flags } from '@oclif/core';

import { type TxnResponse, txnRequest } from '../client/index.js';
import { ClientCommand, hexFlag } from '../cli/client-command.js';
import { CtlError } from '../cli/ctl-error.js';
import { ExitCode } from '../cli/exit-codes.js';
import { jsonTxn, printTxn, tableNotSupported } from '../cli/output.js';
import { stdinLines } from '../cli/stdin.js';
import { readTxn } from '../cli/txn-parser.js';

export type TxnResult = TxnResponse;

export default class Txn extends ClientCommand<TxnResult> {
  static override summary = 'Txn processes all the requests in one transaction';

  static override description = `Reads a transaction from standard input, in etcdctl's syntax, and applies it atomically.

A transaction has three parts, each ended by a blank line (or by the end of the input):
1) compares, one per line: TARGET("key") OP "value", where TARGET is version (ver), create (c), mod (m), value (val) or lease (a hexadecimal lease id), and OP is =, ==, !=, < or >;
2) requests to apply if every compare holds: get, put and del lines, with those commands' arguments and flags;
3) requests to apply otherwise.

Example:
  mod("key1") > "0"

  put key1 "overwrote-key1"

  put key1 "created-key1"
  put key2 "some extra key"

The output is SUCCESS or FAILURE, then the response of each request, as etcdctl prints them.`;

  static override examples = [
    `printf 'mod("key1") > "0"\\n\\nput key1 overwrote\\n\\nput key1 created\\n\\n' | <%= config.bin %> <%= command.id %>`,
    '<%= config.bin %> <%= command.id %> --interactive',
    '<%= config.bin %> <%= command.id %> -w json < txn.txt',
  ];

  // etcdctl answers arguments with its own message and exit code 128.
  static override strict = false;

  static override flags = {
    hex: hexFlag,
    interactive: Flags.boolean({ char: 'i', description: 'Input transaction in interactive mode', default: false }),
  };

  async run(): Promise<TxnResult> {
    const { argv, flags } = await this.parse(Txn);
    const w = this.writeOut(flags);
    if (argv.length > 0) throw new CtlError('txn command does not accept argument', ExitCode.ExitBadArgs);
    if (w === 'table') throw new CtlError(tableNotSupported, ExitCode.ExitBadFeature);
    const lines = stdinLines();
    let spec;
    try {
      spec = await readTxn(lines.next, (prompt) => {
        if (flags.interactive) this.log(prompt);
      });
    } finally {
      lines.close();
    }
    const client = await this.connect(flags);
    const resp = await client.txn(txnRequest(spec.compares, spec.success, spec.failure));
    this.write(printTxn(w, resp, { hex: flags.hex }));
    return resp;
  }

  protected jsonOf(result: TxnResult): string {
    return jsonTxn(result);
  }
}
