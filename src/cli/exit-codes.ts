import { Errors } from '@oclif/core';

import { KvError } from '../base/errors.js';

/**
 * etcdctl's process exit codes (etcd `pkg/cobrautl/error.go`), so that scripts written against etcdctl keep
 * working against kvctl.
 *
 * One deliberate difference: oclif's own argument/flag parse errors exit with 2 (oclif's convention), which
 * collides with `ExitBadConnection`. Scripts that need to tell them apart should use `--json` and read
 * `error.code`.
 */
export const ExitCode = {
  /** Success. */
  Success: 0,
  /** Any failure not covered below. */
  ExitError: 1,
  /** No endpoint could be reached, or a connection broke. */
  ExitBadConnection: 2,
  /** The request was understood but its input is invalid (bad key range, bad revision, ...). */
  ExitInvalidInput: 3,
  /** The server does not support the requested feature. */
  ExitBadFeature: 4,
  /** Interrupted by a signal or an abort. */
  ExitInterrupted: 5,
  /** Local file I/O failed (snapshot save, certificate read, ...). */
  ExitIO: 6,
  /** Wrong number or shape of arguments. */
  ExitBadArgs: 128,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * Exit codes for `KvError` subclasses, keyed by their `code`. Filled as `client/` and `server/` gain error
 * classes (connection failures → `ExitBadConnection`, validation errors → `ExitInvalidInput`, ...). A
 * `KvError` whose code is not listed exits with `ExitError`.
 */
const kvErrorExitCodes: Readonly<Record<string, ExitCode>> = {};

/** Node system error codes that mean "could not reach the other side". */
const connectionErrnos = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN']);

/** Node system error codes that mean "a local file operation failed". */
const ioErrnos = new Set(['ENOENT', 'EACCES', 'EPERM', 'EEXIST', 'EISDIR', 'ENOTDIR', 'ENOSPC', 'EROFS', 'EIO', 'EMFILE', 'EBADF']);

/**
 * True for oclif's argument and flag parse errors: `CLIParseError` and its subclasses (unknown flag, missing
 * argument, value not among the options, failed validation) carry a `parse` property; errors thrown by a
 * flag's own `parse()` get `oclif.exit` from `exitCodes.failedFlagParsing` in package.json.
 */
export function isParseError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof Errors.CLIError && 'parse' in err) return true;
  return err.message.startsWith('Parsing --') && oclifExit(err) === 2;
}

function oclifExit(err: Error): number | undefined {
  const meta = (err as { oclif?: { exit?: unknown } }).oclif;
  return typeof meta?.exit === 'number' ? meta.exit : undefined;
}

function errnoCode(err: Error): string | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** The process exit code for an error that ended a command. */
export function exitCodeFor(err: unknown): number {
  if (!(err instanceof Error)) return ExitCode.ExitError;
  if (err instanceof KvError) return kvErrorExitCodes[err.code] ?? ExitCode.ExitError;
  if (isParseError(err)) return 2;
  const explicit = oclifExit(err);
  if (explicit !== undefined) return explicit;
  if (err.name === 'AbortError') return ExitCode.ExitInterrupted;
  const errno = errnoCode(err);
  if (errno !== undefined && connectionErrnos.has(errno)) return ExitCode.ExitBadConnection;
  if (errno !== undefined && ioErrnos.has(errno)) return ExitCode.ExitIO;
  return ExitCode.ExitError;
}
