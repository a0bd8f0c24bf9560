/** The etcdserverpb.KV service: validate, delegate to the node, map errors. */
import type { sendUnaryData, ServerUnaryCall, status as grpcStatus } from '@grpc/grpc-js';

import type { Logger } from '../../base/logger.js';
import type { KVServer } from '../../proto/gen/etcdserverpb/rpc.js';
import type { V3Api } from '../kvserver/v3.js';
import { authInfoOf } from './auth-context.js';
import { GrpcCode } from '../../proto/errors.js';
import { toGrpcError } from './errors.js';
import { MalformedRequest } from './malformed.js';
import { checkDelete, checkPut, checkRange, checkTxn } from './validate.js';

/** Runs a handler body and answers with its result or its error mapped to etcd's status. */
export function unary<Req, Res>(
  logger: Logger,
  body: (req: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res> | Res,
): (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void {
  return (call, callback) => {
    if ((call.request as unknown) instanceof MalformedRequest) {
      const reason = (call.request as unknown as MalformedRequest).reason;
      callback({ code: GrpcCode.INVALID_ARGUMENT as number as grpcStatus, details: `grpc: error unmarshalling request: ${reason}` }, null);
      return;
    }
    let result: Promise<Res> | Res;
    try {
      result = body(call.request, call);
    } catch (err) {
      callback(toGrpcError(err, logger), null);
      return;
    }
    Promise.resolve(result).then(
      (res) => callback(null, res),
      (err: unknown) => callback(toGrpcError(err, logger), null),
    );
  };
}

export function kvService(api: V3Api, logger: Logger): KVServer {
  return {
    // Validation first, then the caller's token (etcd's order), then the request with its sender.
    range: unary(logger, (req, call) => {
      checkRange(req);
      return api.range(req, authInfoOf(call, api));
    }),
    put: unary(logger, (req, call) => {
      checkPut(req);
      return api.put(req, authInfoOf(call, api));
    }),
    deleteRange: unary(logger, (req, call) => {
      checkDelete(req);
      return api.deleteRange(req, authInfoOf(call, api));
    }),
    txn: unary(logger, (req, call) => {
      checkTxn(req);
      return api.txn(req, authInfoOf(call, api));
    }),
    compact: unary(logger, (req, call) => api.compact(req, authInfoOf(call, api))),
  };
}
