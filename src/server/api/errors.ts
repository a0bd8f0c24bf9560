/**
 * The one place where the node's errors become gRPC statuses. etcd API errors carry their own code and
 * message; the MVCC's compaction errors become etcd's; anything unexpected is UNKNOWN with its message,
 * as etcd answers (and is logged, because it means a bug).
 */
import type { status as grpcStatus } from '@grpc/grpc-js';
import type { ServerErrorResponse } from '@grpc/grpc-js';

import { KvError } from '../../base/errors.js';
import type { Logger } from '../../base/logger.js';
import { EtcdApiError, type EtcdErrorName, GrpcCode, etcdErrors } from '../../proto/errors.js';

/** Errors raised below the API whose meaning is an etcd API error, by their stable code. */
const byCode: Readonly<Record<string, EtcdErrorName>> = {
  MVCC_COMPACTED: 'compacted',
  MVCC_FUTURE_REV: 'futureRev',
  SERVER_STOPPED: 'stopped',
};

export function toGrpcError(err: unknown, logger: Logger): Partial<ServerErrorResponse> {
  if (err instanceof EtcdApiError) return { code: err.grpcCode as number as grpcStatus, details: err.message };
  if (err instanceof KvError) {
    const name = byCode[err.code];
    if (name !== undefined) {
      const e = etcdErrors[name];
      return { code: e.code as number as grpcStatus, details: e.message };
    }
  }
  const message = err instanceof Error ? err.message : String(err);
  logger.error(`api: unexpected error: ${err instanceof Error && err.stack ? err.stack : message}`);
  return { code: GrpcCode.UNKNOWN as number as grpcStatus, details: message };
}
