/**
 * The etcdserverpb.Watch service: one bidi stream per client, many watchers on it (etcd's
 * v3rpc/watch.go). Requests go to the stream of the node's watchable store (which owns the protocol);
 * this layer converts messages, fills every response's header (cluster and member id, revision, raft
 * term), checks the caller may read the watched range (when auth is on; a refusal is etcd's canceled
 * "etcdserver: permission denied") and splits large responses of watchers that asked for fragments.
 *
 * Flow control: a response that leaves grpc-js's write buffer full (write() returns false) stops direct
 * sends until the stream drains; the watch stream queues or falls back to history meanwhile. A client
 * that keeps sending requests while not reading answers stops being read once its backlog is large, as
 * etcd's receive loop blocks on its full control channel. The client half-closing does not end the
 * stream (etcd keeps sending until the client goes away).
 */
import type { ServerDuplexStream, status as grpcStatus } from '@grpc/grpc-js';

import type { Logger } from '../../base/logger.js';
import { GrpcCode, etcdErrors } from '../../proto/errors.js';
import {
  type WatchCreateRequest,
  WatchCreateRequest_FilterType,
  type WatchRequest,
  WatchResponse,
  type WatchServer,
} from '../../proto/gen/etcdserverpb/rpc.js';
import { Event } from '../../proto/gen/mvccpb/kv.js';
import type { V3Api } from '../kvserver/v3.js';
import { type WatchCreate, WatchFeature, type WatchOut, type WatchSink } from '../kvserver/watch-feature.js';
import { isRangePermitted } from './auth-context.js';

/** etcd lets a watch response exceed --max-request-bytes by this much before fragmenting (grpcOverheadBytes). */
const GRPC_OVERHEAD_BYTES = 512 * 1024;
/** Responses queued for a client before its requests are no longer read. */
const MAX_BACKLOG_BEFORE_PAUSE = 1024;

export function watchService(api: V3Api, logger: Logger): WatchServer {
  return {
    watch: (call) => serveWatch(call, api, logger),
  };
}

function serveWatch(call: ServerDuplexStream<WatchRequest, WatchResponse>, api: V3Api, logger: Logger): void {
  const feature = api.server.feature(WatchFeature);
  if (feature === undefined) {
    call.emit('error', { code: GrpcCode.UNIMPLEMENTED as number as grpcStatus, details: 'kvctl node: the watch feature is not installed' });
    return;
  }
  const maxBytes = api.server.config.maxRequestBytes + GRPC_OVERHEAD_BYTES;
  const sink: WatchSink = {
    write: (o) => {
      const resp = toResponse(api, o);
      return o.fragment ? sendFragments(resp, maxBytes, (r) => call.write(r)) : call.write(resp);
    },
  };
  const stream = feature.store.openStream(sink);
  let paused = false;
  call.on('data', (req: WatchRequest) => {
    try {
      const c = req.createRequest;
      if (c !== undefined) {
        // etcd's order: a negative start revision first, then the caller's read permission on the range.
        if (c.startRevision >= 0n && !isRangePermitted(call, api, c.key, c.rangeEnd)) stream.refuse(etcdErrors.permissionDenied.message);
        else stream.watch(toCreate(c));
      } else if (req.cancelRequest !== undefined) stream.cancel(req.cancelRequest.watchId);
      else if (req.progressRequest !== undefined) stream.requestProgress();
      // Anything else is ignored, as etcd does (an unknown request must not end the stream).
    } catch (err) {
      logger.error(`watch: request failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
    if (!paused && stream.backlog > MAX_BACKLOG_BEFORE_PAUSE) {
      paused = true;
      call.pause();
    }
  });
  call.on('drain', () => {
    stream.resume();
    if (paused && stream.backlog === 0) {
      paused = false;
      call.resume();
    }
  });
  const close = (): void => stream.close();
  call.on('cancelled', close);
  call.on('error', close);
  call.on('close', close);
}

function clampRevision(v: bigint): number {
  if (v < 0n) return -1;
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
}

function toCreate(c: WatchCreateRequest): WatchCreate {
  return {
    key: c.key,
    rangeEnd: c.rangeEnd,
    startRevision: clampRevision(c.startRevision),
    watchId: c.watchId,
    noPut: c.filters.includes(WatchCreateRequest_FilterType.NOPUT),
    noDelete: c.filters.includes(WatchCreateRequest_FilterType.NODELETE),
    prevKv: c.prevKv,
    progressNotify: c.progressNotify,
    fragment: c.fragment,
  };
}

function toResponse(api: V3Api, o: WatchOut): WatchResponse {
  return {
    header: api.header(o.revision),
    watchId: o.watchId,
    created: o.created,
    canceled: o.canceled,
    compactRevision: BigInt(o.compactRevision),
    cancelReason: o.cancelReason,
    fragment: false,
    events: [...o.events],
  };
}

function varintLength(n: number): number {
  let len = 1;
  for (let v = n; v >= 0x80; v = Math.floor(v / 128)) len++;
  return len;
}

/**
 * etcd's sendFragments: a response of at least `maxBytes` with two or more events goes out as several,
 * each with as many events as keep it under `maxBytes` (at least one), all but the last marked fragment.
 * Returns false if the transport's buffer filled up on the way.
 */
export function sendFragments(resp: WatchResponse, maxBytes: number, write: (r: WatchResponse) => boolean): boolean {
  if (resp.events.length < 2 || WatchResponse.encode(resp).finish().length < maxBytes) return write(resp);
  const base = WatchResponse.encode({ ...resp, fragment: true, events: [] }).finish().length;
  let ok = true;
  let idx = 0;
  for (;;) {
    const cur: WatchResponse = { ...resp, fragment: true, events: [] };
    let size = base;
    while (idx < resp.events.length) {
      const ev = resp.events[idx] as Event;
      const len = Event.encode(ev).finish().length;
      // One byte of field tag (events is field 11), the length, the message.
      const field = 1 + varintLength(len) + len;
      if (cur.events.length > 0 && size + field >= maxBytes) break;
      cur.events.push(ev);
      size += field;
      idx++;
    }
    if (idx === resp.events.length) cur.fragment = false;
    ok = write(cur) && ok;
    if (!cur.fragment) return ok;
  }
}
