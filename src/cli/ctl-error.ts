import { KvError } from '../base/errors.js';
import { ExitCode } from './exit-codes.js';

const codeNames: Readonly<Record<number, string>> = {
  [ExitCode.ExitError]: 'ERROR',
  [ExitCode.ExitBadConnection]: 'BAD_CONNECTION',
  [ExitCode.ExitInvalidInput]: 'INVALID_INPUT',
  [ExitCode.ExitBadFeature]: 'BAD_FEATURE',
  [ExitCode.ExitInterrupted]: 'INTERRUPTED',
  [ExitCode.ExitIO]: 'IO',
  [ExitCode.ExitBadArgs]: 'BAD_ARGS',
};

/**
 * An error that etcdctl reports with `ExitWithError(code, err)`: its message is etcdctl's text (printed after
 * `Error: `) and it carries the exit code etcdctl uses for it, e.g. 128 for "get command needs one argument as key
 * and an optional argument as range_end", 3 for a malformed txn, 4 for `-w table` on a key-value command.
 */
export class CtlError extends KvError {
  readonly code: string;

  constructor(
    message: string,
    readonly exitCode: ExitCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = codeNames[exitCode] ?? 'ERROR';
  }
}
