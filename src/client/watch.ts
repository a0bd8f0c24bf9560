/**
 * etcd's Watch API on top of `EtcdClient`, shaped after clientv3's watcher: one Watch stream per session,
 * any number of watches on it, each an async iterable of `WatchResponse`s.
 *
 * What a watch yields (as clientv3 hands responses to its channel):
 * - responses with events, in revision order; a response the server split (`fragment`) is put back
 *   together first;
 * - progress notifications (no events, a header revision): per watcher, and the stream-wide ones (watch
 *   id -1, answering `requestProgress`) given to every watch of the session;
 * - at most one canceled response, after which the watch ends: cancelled by the server (compact_revision
 *   set when its start revision was compacted) or refused at creation (created and canceled, with the
 *   cancel reason). The created response of an accepted watch is not yielded.
 * Creates are sent one at a time, each after the previous one was answered, as clientv3 does: the server
 * answers creates in order, which ties each answer to its request without client-chosen ids.
 *
 * The connection: the stream opens on the endpoint the client is connected to (`EtcdClient.dial`). When it
 * breaks (UNAVAILABLE or INTERNAL as clientv3 retries, or the CANCELLED that grpc-js reports when the
 * member shut down), the session reopens it after a pause (100 ms doubling to
 * 2 s, without end, like clientv3) and re-creates every live watch from the revision after the last event
 * it delivered, so nothing is missed or repeated; one whose history has been compacted meanwhile ends
 * canceled with compact_revision. Any other stream error ends every watch with a `ClientError`.
 *
 * The watch opens its stream on EtcdClient's channel (EtcdClient.channel), so it shares the client's
 * connection, TLS settings and token.
 */
import type * as grpc from '@grpc/grpc-js';

import { GrpcCode } from '../proto/errors.js';
import {
  WatchCreateRequest,
  WatchCreateRequest_FilterType,
  type WatchRequest,
  type WatchResponse,
  WatchService,
} from '../proto/gen/etcdserverpb/rpc.js';
import type { Event } from '../proto/gen/mvccpb/kv.js';
import type { EtcdClient } from './client.js';
import type { Endpoint } from './endpoints.js';
import { ClientError, fromServiceError } from './errors.js';
import { type Int64Input, type KeyInput, type KeyRangeOptions, int64, keyRange } from './ops.js';

export type { WatchResponse } from '../proto/gen/etcdserverpb/rpc.js';
export type { Event as WatchEvent } from '../proto/gen/mvccpb/kv.js';

export type WatchOptions = KeyRangeOptions & {
  /** First revision to deliver (0 or absent: the next one; an older one replays history). */
  startRevision?: Int64Input;
  /** Events carry the key's previous version. */
  prevKv?: boolean;
  /** Leave out PUT events. */
  noPut?: boolean;
  /** Leave out DELETE events. */
  noDelete?: boolean;
  /** Periodic empty responses with the current revision while nothing happens. */
  progressNotify?: boolean;
  /** Let the server split large responses (they are joined again before being yielded). */
  fragment?: boolean;
};

export type WatchSessionOptions = {
  /** Reopen the stream and resume the watches when the connection breaks (default true). */
  reconnect?: boolean;
};

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2000;

/** The request a watch sends, from key and options (clientv3's WithPrefix/WithFromKey/WithRange semantics). */
export function watchCreateRequest(key: KeyInput, opts: WatchOptions = {}): WatchCreateRequest {
  const filters: WatchCreateRequest_FilterType[] = [];
  if (opts.noPut) filters.push(WatchCreateRequest_FilterType.NOPUT);
  if (opts.noDelete) filters.push(WatchCreateRequest_FilterType.NODELETE);
  return WatchCreateRequest.fromPartial({
    ...keyRange(key, opts),
    startRevision: int64(opts.startRevision, 'startRevision'),
    prevKv: opts.prevKv ?? false,
    progressNotify: opts.progressNotify ?? false,
    fragment: opts.fragment ?? false,
    filters,
  });
}

type Waiter = { resolve(r: IteratorResult<WatchResponse>): void; reject(err: Error): void };

/** One watch of a session. Iterate it for its responses; `cancel()` ends it. */
export class Watch implements AsyncIterable<WatchResponse> {
  /** The server's id for this watch, once created (it changes if the stream is reopened). */
  id: bigint | undefined;
  private readonly queue: WatchResponse[] = [];
  private waiter: Waiter | undefined;
  private finished = false;
  private error: Error | undefined;
  private fragments: Event[] = [];
  /** The revision after the last event delivered: where a reopened stream resumes. */
  private nextRev: bigint;
  /** cancel() was called: the server is asked to cancel as soon as the watch has an id. */
  cancelRequested = false;

  constructor(
    readonly request: WatchCreateRequest,
    private readonly session: WatchSession,
  ) {
    this.nextRev = request.startRevision;
  }

  /** Asks the server to cancel this watch; the iteration ends after its canceled response. */
  cancel(): void {
    if (this.finished || this.cancelRequested) return;
    this.cancelRequested = true;
    this.session.cancelWatch(this);
  }

  get done(): boolean {
    return this.finished;
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchResponse> {
    return {
      next: () => {
        const r = this.queue.shift();
        if (r !== undefined) return Promise.resolve({ value: r, done: false });
        if (this.finished) return this.error ? Promise.reject(this.error) : Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => {
          this.waiter = { resolve, reject };
        });
      },
      return: () => {
        this.cancel();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  /** @internal The create request for (re)creating this watch on a stream. */
  createRequest(): WatchCreateRequest {
    return { ...this.request, startRevision: this.nextRev };
  }

  /**
   * @internal The server created this watch at `revision`: a watch "from now" resumes after it (otherwise
   * changes made while the stream was down would be missed).
   */
  created(id: bigint, revision: bigint): void {
    this.id = id;
    if (this.nextRev === 0n) this.nextRev = revision + 1n;
  }

  /** @internal A response for this watch from the stream. */
  receive(resp: WatchResponse): void {
    if (this.finished) return;
    if (resp.fragment) {
      this.fragments.push(...resp.events);
      return;
    }
    const full = this.fragments.length > 0 ? { ...resp, events: [...this.fragments, ...resp.events] } : resp;
    this.fragments = [];
    const last = full.events[full.events.length - 1];
    if (last?.kv !== undefined) this.nextRev = last.kv.modRevision + 1n;
    else if (!full.canceled && !full.created && full.compactRevision === 0n) {
      // A progress notification: everything up to its revision has been delivered.
      const rev = full.header?.revision ?? 0n;
      if (rev + 1n > this.nextRev) this.nextRev = rev + 1n;
    }
    this.push(full);
    if (full.canceled) this.finish();
  }

  /** @internal Ends the iteration (with an error, or cleanly). */
  finish(err?: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.error = err;
    this.session.forget(this);
    const w = this.waiter;
    this.waiter = undefined;
    if (w === undefined) return;
    if (err !== undefined && this.queue.length === 0) w.reject(err);
    else {
      const r = this.queue.shift();
      w.resolve(r !== undefined ? { value: r, done: false } : { value: undefined, done: true });
    }
  }

  private push(r: WatchResponse): void {
    const w = this.waiter;
    if (w !== undefined) {
      this.waiter = undefined;
      w.resolve({ value: r, done: false });
    } else {
      this.queue.push(r);
    }
  }
}

/** One Watch stream to one member, shared by the watches made through it. */
export class WatchSession {
  private call: grpc.ClientDuplexStream<WatchRequest, WatchResponse> | undefined;
  /** Watches not yet created on the current stream, in order; the first may be in flight. */
  private pending: Watch[] = [];
  private inFlight: Watch | undefined;
  private readonly active = new Map<bigint, Watch>();
  private readonly all = new Set<Watch>();
  private closed = false;
  private retryMs = RETRY_MIN_MS;
  private retryTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly grpcClient: grpc.Client,
    readonly endpoint: Endpoint,
    private readonly opts: WatchSessionOptions,
    /** The token metadata every (re)opened stream carries (empty when auth is not in use). */
    private readonly metadata: grpc.Metadata,
  ) {}

  /** Opens a session on the endpoint `client` connects to (rejects with the client's dial errors). */
  static async open(client: EtcdClient, opts: WatchSessionOptions = {}): Promise<WatchSession> {
    const ep = await client.dial();
    const s = new WatchSession(client.channel(ep), ep, opts, await client.streamMetadata());
    s.openStream();
    return s;
  }

  /** Starts watching `key` (and the range the options select). */
  watch(key: KeyInput, opts: WatchOptions = {}): Watch {
    const w = new Watch(watchCreateRequest(key, opts), this);
    if (this.closed) {
      w.finish(closedError());
      return w;
    }
    this.all.add(w);
    this.pending.push(w);
    this.sendNextCreate();
    return w;
  }

  /** Asks for a progress notification (answered when every watch of the stream is up to date). */
  requestProgress(): void {
    this.call?.write({ progressRequest: {} });
  }

  /** Ends every watch and the stream. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.call?.cancel();
    this.call = undefined;
    for (const w of [...this.all]) w.finish();
  }

  /** Watches that have not ended. */
  get size(): number {
    return this.all.size;
  }

  /** @internal */
  cancelWatch(w: Watch): void {
    if (w.id !== undefined && this.active.get(w.id) === w) {
      this.call?.write({ cancelRequest: { watchId: w.id } });
      return;
    }
    const i = this.pending.indexOf(w);
    if (i >= 0 && w !== this.inFlight) {
      // Never sent: nothing to cancel on the server.
      this.pending.splice(i, 1);
      w.finish();
    }
    // In flight: cancelled when its created answer names its id.
  }

  /** @internal */
  forget(w: Watch): void {
    this.all.delete(w);
    if (w.id !== undefined && this.active.get(w.id) === w) this.active.delete(w.id);
  }

  private openStream(): void {
    const m = WatchService.watch;
    const call = this.grpcClient.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, this.metadata, {});
    this.call = call;
    call.on('data', (resp: WatchResponse) => {
      if (this.call === call) this.onResponse(resp);
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (this.call === call) this.onBroken(err);
    });
    call.on('end', () => {
      if (this.call === call) this.onBroken(undefined);
    });
  }

  private sendNextCreate(): void {
    if (this.inFlight !== undefined || this.call === undefined) return;
    const next = this.pending[0];
    if (next === undefined) return;
    this.inFlight = next;
    this.call.write({ createRequest: next.createRequest() });
  }

  private onResponse(resp: WatchResponse): void {
    this.retryMs = RETRY_MIN_MS;
    if (resp.created) {
      const w = this.inFlight;
      this.inFlight = undefined;
      if (w !== undefined) {
        this.pending.shift();
        if (resp.canceled) {
          w.receive(resp);
        } else {
          w.created(resp.watchId, resp.header?.revision ?? 0n);
          this.active.set(resp.watchId, w);
          if (w.cancelRequested) this.call?.write({ cancelRequest: { watchId: resp.watchId } });
        }
      }
      this.sendNextCreate();
      return;
    }
    if (resp.watchId === -1n) {
      // A stream-wide progress notification: every watch hears it.
      for (const w of this.active.values()) w.receive({ ...resp, events: [] });
      return;
    }
    this.active.get(resp.watchId)?.receive(resp);
  }

  private onBroken(err: grpc.ServiceError | undefined): void {
    this.call = undefined;
    this.inFlight = undefined;
    if (this.closed) return;
    // clientv3 retries UNAVAILABLE and INTERNAL; grpc-js reports a server that shut down as CANCELLED (it
    // is never our own cancel here: close() forgets the call first).
    const retryable = err === undefined || ([GrpcCode.UNAVAILABLE, GrpcCode.INTERNAL, GrpcCode.CANCELLED] as number[]).includes(err.code);
    if (!retryable || this.opts.reconnect === false) {
      const e =
        err !== undefined
          ? fromServiceError(err, this.endpoint.raw)
          : new ClientError('watch stream closed by the server', { code: 'GRPC_UNAVAILABLE', kind: 'server', grpcCode: GrpcCode.UNAVAILABLE });
      for (const w of [...this.all]) w.finish(e);
      return;
    }
    // Every watch that has not ended is created again, in the order they were made.
    this.active.clear();
    for (const w of [...this.all]) if (w.cancelRequested) w.finish();
    this.pending = [...this.all];
    for (const w of this.pending) w.id = undefined;
    const delay = this.retryMs;
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.closed) return;
      this.openStream();
      this.sendNextCreate();
    }, delay);
  }
}

function closedError(): ClientError {
  return new ClientError('watch session is closed', { code: 'CLOSED', kind: 'bad-request' });
}
