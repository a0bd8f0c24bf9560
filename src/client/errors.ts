/**
 * The client's one error class. A failed call becomes a `ClientError` that keeps what callers branch on: the gRPC
 * status code, etcd's error name when the status message is one of etcd's (matched exactly, as clientv3 does), the
 * endpoint, and a coarse `kind`. Its message is what etcdctl would print after `Error: `: etcd's exact text for
 * etcd's errors, Go's `rpc error: code = ... desc = ...` for other statuses, `context deadline exceeded` for a
 * timeout; only unreachable endpoints get a message of our own, which names them.
 */
import type { ServiceError } from '@grpc/grpc-js';

import { KvError } from '../base/errors.js';
import { goTlsError } from '../base/tls-errors.js';
import { type EtcdErrorName, GrpcCode, etcdErrorOf } from '../proto/errors.js';

/**
 * - `unreachable`: no connection to the endpoint(s) could be made; the request was not sent.
 * - `timeout`: the command deadline passed; the request may or may not have been applied.
 * - `server`: the server answered with an error status.
 * - `canceled`: the caller aborted the call.
 * - `bad-request`: rejected before sending (bad endpoint, bad option).
 */
export type ClientErrorKind = 'unreachable' | 'timeout' | 'server' | 'canceled' | 'bad-request';

export type ClientErrorOptions = {
  code: string;
  kind: ClientErrorKind;
  grpcCode?: GrpcCode;
  etcdError?: EtcdErrorName;
  endpoint?: string;
  cause?: unknown;
};

export class ClientError extends KvError {
  /**
   * Stable code: `ETCD_<NAME>` for etcd's errors (`ETCD_COMPACTED`, `ETCD_KEY_NOT_FOUND`), `GRPC_<STATUS>` for
   * other statuses, `DEADLINE_EXCEEDED`, `CANCELED`, `ENDPOINTS_UNREACHABLE`, `BAD_ENDPOINT`, `BAD_REQUEST`.
   */
  readonly code: string;
  readonly kind: ClientErrorKind;
  /** The gRPC status code, when the failure was a gRPC status. */
  readonly grpcCode: GrpcCode | undefined;
  /** etcd's name for the error (see `proto/errors.ts`), when the status message is one of etcd's. */
  readonly etcdError: EtcdErrorName | undefined;
  /** The endpoint (as the user wrote it) that answered or failed, when there was one. */
  readonly endpoint: string | undefined;

  constructor(message: string, options: ClientErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    this.kind = options.kind;
    this.grpcCode = options.grpcCode;
    this.etcdError = options.etcdError;
    this.endpoint = options.endpoint;
  }
}

/** Go's names of the gRPC codes, as `status.Error` prints them (`rpc error: code = Unavailable desc = ...`). */
const goCodeNames: Readonly<Record<number, string>> = {
  0: 'OK',
  1: 'Canceled',
  2: 'Unknown',
  3: 'InvalidArgument',
  4: 'DeadlineExceeded',
  5: 'NotFound',
  6: 'AlreadyExists',
  7: 'PermissionDenied',
  8: 'ResourceExhausted',
  9: 'FailedPrecondition',
  10: 'Aborted',
  11: 'OutOfRange',
  12: 'Unimplemented',
  13: 'Internal',
  14: 'Unavailable',
  15: 'DataLoss',
  16: 'Unauthenticated',
};

const grpcCodeNames = new Map<number, string>(Object.entries(GrpcCode).map(([name, code]) => [code, name]));

function screamingSnake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/** True when grpc-js failed the call because no connection existed: the request never left this process. */
export function isNotConnected(err: ServiceError): boolean {
  return err.code === GrpcCode.UNAVAILABLE && err.details.startsWith('No connection established');
}

/**
 * The reason a connection failed, short: `connection refused` for grpc-js's
 * `No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: `.
 */
export function connectFailureReason(err: ServiceError): string {
  let last = /Last error: (?:Error(?: \[[A-Z_]+\])?: )?(.*?)\.?(?: Resolution note:.*)?$/s.exec(err.details)?.[1]?.trim() ?? err.details;
  if (/^(x509|tls): /.test(last)) return last;
  // grpc-js stamps some of its own errors with the time: `Failed to connect (2026-01-01T00:00:00.000Z)`.
  last = last.replace(/\s*\(\d{4}-\d\d-\d\dT[\d:.]+Z\)$/, '');
  const tls = goTlsError(last);
  if (tls !== undefined) return tls;
  if (/ECONNREFUSED/.test(last)) return 'connection refused';
  if (/ENOTFOUND|EAI_AGAIN/.test(last)) return `no such host (${last})`;
  if (/ECONNRESET/.test(last)) return 'connection reset';
  if (/EHOSTUNREACH|ENETUNREACH/.test(last)) return 'no route to host';
  return last === '' ? 'connection failed' : last;
}

/** Maps a grpc-js call failure on `endpoint` to a `ClientError` (see the module comment for the messages). */
export function fromServiceError(err: ServiceError, endpoint: string): ClientError {
  const grpcCode = err.code as GrpcCode;
  const etcdError = etcdErrorOf(err.details);
  if (etcdError !== undefined) {
    return new ClientError(err.details, {
      code: `ETCD_${screamingSnake(etcdError)}`,
      kind: 'server',
      grpcCode,
      etcdError,
      endpoint,
      cause: err,
    });
  }
  // grpc-js reports its own deadline as DEADLINE_EXCEEDED with "Deadline exceeded after ..." details; Go's
  // context error text is what etcdctl prints and what scripts match.
  if (grpcCode === GrpcCode.DEADLINE_EXCEEDED && /^Deadline exceeded/.test(err.details)) {
    return new ClientError('context deadline exceeded', { code: 'DEADLINE_EXCEEDED', kind: 'timeout', grpcCode, endpoint, cause: err });
  }
  if (grpcCode === GrpcCode.CANCELLED && /^Cancelled on client/.test(err.details)) {
    return new ClientError('context canceled', { code: 'CANCELED', kind: 'canceled', grpcCode, endpoint, cause: err });
  }
  if (isNotConnected(err)) return unreachable([{ endpoint, reason: connectFailureReason(err) }], err);
  return new ClientError(`rpc error: code = ${goCodeNames[grpcCode] ?? String(grpcCode)} desc = ${err.details}`, {
    code: `GRPC_${grpcCodeNames.get(grpcCode) ?? String(grpcCode)}`,
    kind: 'server',
    grpcCode,
    endpoint,
    cause: err,
  });
}

/** One endpoint that could not be reached, and why (`connection refused`, `dial timeout after 2s`). */
export type DialFailure = { readonly endpoint: string; readonly reason: string };

/** The error for "no endpoint could be reached": names every endpoint tried and its reason. */
export function unreachable(failures: readonly DialFailure[], cause?: unknown): ClientError {
  const first = failures[0];
  const message =
    failures.length === 1 && first !== undefined
      ? `failed to connect to ${first.endpoint}: ${first.reason}`
      : `failed to connect to any endpoint: ${failures.map((f) => `${f.endpoint}: ${f.reason}`).join('; ')}`;
  return new ClientError(message, {
    code: 'ENDPOINTS_UNREACHABLE',
    kind: 'unreachable',
    grpcCode: GrpcCode.UNAVAILABLE,
    endpoint: failures.length === 1 ? first?.endpoint : undefined,
    cause,
  });
}
