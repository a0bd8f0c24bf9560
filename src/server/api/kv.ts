/** The etcdserverpb.KV service: validate, delegate to the node, map errors. */
import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';

import type { Logger } from '../../base/logger.js';
import type { KVServer } from '../../proto/gen/etcdserverpb/rpc.js';
import type { V3Api } from '../kvserver/v3.js';
import { toGrpcError } from './errors.js';
import { checkDelete, checkPut, checkRange, checkTxn } from './validate.js';

/** Runs a handler body and answers with its result or its error mapped to etcd's status. */
export function unary<Req, Res>(
  logger: Logger,
  body: (req: Req) => Promise<Res> | Res,
): (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void {
  return (call, callback) => {
    let result: Promise<Res> | Res;
    try {
      result = body(call.request);
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
    range: unary(logger, (req) => {
      checkRange(req);
      return api.range(req);
    }),
    put: unary(logger, (req) => {
      checkPut(req);
      return api.put(req);
    }),
    deleteRange: unary(logger, (req) => {
      checkDelete(req);
      return api.deleteRange(req);
    }),
    txn: unary(logger, (req) => {
      checkTxn(req);
      return api.txn(req);
    }),
    compact: unary(logger, (req) => api.compact(req)),
  };
}
