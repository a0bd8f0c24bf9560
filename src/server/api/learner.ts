/**
 * What a learner serves (etcd's gRPC interceptors): a learner is not in the quorum and may lag, so it answers
 * only Maintenance.Status, serializable Range requests and the Snapshot stream; every other RPC gets
 * "etcdserver: rpc not supported for learner" (UNAVAILABLE, so clients try another endpoint).
 */
import type { ServiceDefinition } from '@grpc/grpc-js';

import type { Logger } from '../../base/logger.js';
import { EtcdApiError } from '../../proto/errors.js';
import type { V3Api } from '../kvserver/v3.js';
import { toGrpcError } from './errors.js';

type Handler = (call: { request?: unknown; emit(event: 'error', err: unknown): boolean }, callback?: (err: unknown, value: null) => void) => void;

function allowed(service: string, method: string, request: unknown): boolean {
  if (service === 'Maintenance' && (method === 'Status' || method === 'Snapshot')) return true;
  if (service === 'KV' && method === 'Range') return (request as { serializable?: boolean } | undefined)?.serializable === true;
  return false;
}

/** Wraps a service's handlers so that, while this member is a learner, unsupported RPCs are refused. */
export function learnerGuard<T extends object>(api: V3Api, definition: ServiceDefinition, impl: T, logger: Logger): T {
  const out: Record<string, unknown> = {};
  for (const [name, handler] of Object.entries(impl) as Array<[string, Handler]>) {
    const method = definition[name];
    if (method === undefined) {
      out[name] = handler;
      continue;
    }
    // "/etcdserverpb.KV/Range" -> service "KV", method "Range"
    const [, service = '', rpc = ''] = /\/[^.]*\.([^/]+)\/(.+)$/.exec(method.path) ?? [];
    out[name] = (call: Parameters<Handler>[0], callback?: Parameters<Handler>[1]) => {
      if (!api.server.isLearner || allowed(service, rpc, method.requestStream ? undefined : call.request)) {
        handler(call, callback);
        return;
      }
      const err = toGrpcError(new EtcdApiError('notSupportedForLearner'), logger);
      if (callback !== undefined) callback(err, null);
      else call.emit('error', err);
    };
  }
  return out as T;
}
