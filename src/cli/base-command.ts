import { stripVTControlCharacters } from 'node:util';

import { Command, Errors } from '@oclif/core';

import { KvError } from '../base/errors.js';
import { exitCodeFor, isParseError } from './exit-codes.js';

/** What `--json` prints on stdout when a command fails. */
export type ErrorJson = {
  error: {
    /** The error class, e.g. `NonExistentFlagsError` or a `KvError` subclass name. */
    name: string;
    /** The message on one line. */
    message: string;
    /**
     * A stable machine-readable code: a `KvError`'s `code`, a Node system error code (`ECONNREFUSED`),
     * `BAD_ARGS` for argument/flag parse errors, otherwise `UNKNOWN`.
     */
    code: string;
  };
};

/**
 * The base of every kvctl command (the salesforcecli `SfCommand<T>` pattern).
 *
 * - `run()` returns the command's typed result; with `--json` oclif prints that result on stdout, and human
 *   output (through `this.log`) is suppressed. Never use `console.*`: it is not suppressed.
 * - A failure prints one line on stderr (`Error: ...`, or `Error [CODE]: ...` for a `KvError`), or with
 *   `--json` a small {@link ErrorJson} on stdout, and exits with the etcdctl exit code from
 *   `cli/exit-codes.ts`. Set `KVCTL_DEBUG=1` to also get the stack on stderr.
 */
export abstract class BaseCommand<T> extends Command {
  static override enableJsonFlag = true;

  abstract override run(): Promise<T>;

  /** Replaces oclif's handler: one line (or small JSON), the mapped exit code, never oclif's config dump. */
  override async catch(err: Error & { exitCode?: number }): Promise<never> {
    // `this.exit(n)` inside a command: oclif's handler exits with n and prints nothing.
    if (err instanceof Errors.ExitError) throw err;

    const exitCode = exitCodeFor(err);
    if (this.jsonEnabled()) {
      this.logJson(this.toErrorJson(err));
    } else {
      this.logToStderr(humanLine(err));
      if (this.config.scopedEnvVarTrue('DEBUG')) this.logToStderr(debugDetail(err));
    }
    // ExitError is rendered as '' by oclif's handler, which then calls process.exit(exitCode).
    this.exit(exitCode);
  }

  override toErrorJson(err: unknown): ErrorJson {
    if (!(err instanceof Error)) return { error: { name: 'Error', message: oneLine(String(err)), code: 'UNKNOWN' } };
    return { error: { name: errorName(err), message: errorMessage(err), code: errorCode(err) } };
  }
}

/** Collapses a possibly multi-line, colourised message to one plain line, without oclif's help hint. */
function oneLine(message: string): string {
  return stripVTControlCharacters(message)
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && line !== 'See more help with --help')
    .join(' ');
}

/** oclif's parse errors keep the name `Error`; their class name says more (`NonExistentFlagsError`). */
function errorName(err: Error): string {
  return err.name === 'Error' && err.constructor.name !== '' ? err.constructor.name : err.name;
}

function errorMessage(err: Error): string {
  return oneLine(err.message) || err.name;
}

function errorCode(err: Error): string {
  if (err instanceof KvError) return err.code;
  if (isParseError(err)) return 'BAD_ARGS';
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && code !== '' ? code : 'UNKNOWN';
}

function humanLine(err: Error): string {
  if (err instanceof KvError) return `Error [${err.code}]: ${errorMessage(err)}`;
  if (isParseError(err)) return `Error: ${errorMessage(err)} (see --help)`;
  return `Error: ${errorMessage(err)}`;
}

function debugDetail(err: Error): string {
  const parts = [err.stack ?? String(err)];
  for (let cause = err.cause, depth = 0; cause !== undefined && depth < 8; depth++) {
    parts.push(`caused by: ${cause instanceof Error ? (cause.stack ?? String(cause)) : String(cause)}`);
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return parts.join('\n');
}
