/**
 * One client's watch stream (etcd's mvcc watchStream plus the protocol half of v3rpc's serverWatchStream):
 * the watchers created on it, their ids, and the one ordered queue of responses towards the transport.
 *
 * Protocol (etcd 3.4, checked against a real etcd):
 * - create: an empty key means `\0` (the smallest key); range end `\0` means every key >= key. A
 *   negative start revision is refused as compacted, a range whose key >= end with "mvcc: watcher range is
 *   empty", a client-chosen id in use with "mvcc: duplicate watch ID provided on the WatchStream"; each
 *   refusal is one response with created and canceled set and watch id -1. Id 0 asks for an id: the
 *   lowest unused one counting up from 0 on this stream. The created response carries the current
 *   revision and always precedes the watcher's events.
 * - cancel of a live watcher answers canceled with the current revision; an unknown id gets no answer.
 * - a progress request answers (watch id -1, the current revision) only when every watcher of the stream
 *   is synced; with no watchers, nothing.
 * - progress_notify: every interval, each such watcher that is synced and got no events since the last
 *   tick receives an empty response with the current revision.
 * - a watcher whose start revision is compacted receives (created, then) canceled with compact_revision
 *   and header revision 0.
 *
 * Back-pressure. `sink.write` returns false when the transport's buffer is full (it still took the
 * response). From then on responses wait in the queue, in order, until `resume()` (the transport
 * drained). Live events for a blocked stream are queued up to `maxPendingEvents`; past that the store
 * moves the watcher to the unsynced group at its first unsent revision and, once this stream has drained
 * completely, catches it up from history: nothing is lost or reordered, and a slow client never makes
 * writes wait.
 */
import type { Event } from '../../proto/gen/mvccpb/kv.js';
import { Watcher, type WatcherOwner } from './watch-group.js';

/** Ask the server for an id (clientv3's AutoWatchID). */
export const AUTO_WATCH_ID = 0n;
/** The id of refusals and of stream-wide progress responses (clientv3's InvalidWatchID). */
export const INVALID_WATCH_ID = -1n;

/** etcd's cancel reasons (the texts clients match on). */
export const CANCEL_REASONS = {
  compacted: 'etcdserver: mvcc: required revision has been compacted',
  emptyRange: 'mvcc: watcher range is empty',
  duplicateId: 'mvcc: duplicate watch ID provided on the WatchStream',
} as const;

/** One response towards the client, before the transport adds the header and maybe fragments it. */
export interface WatchOut {
  readonly watchId: bigint;
  readonly created: boolean;
  readonly canceled: boolean;
  readonly compactRevision: number;
  readonly cancelReason: string;
  /** The header's revision. */
  readonly revision: number;
  readonly events: readonly Event[];
  /** The watcher asked for large responses to be split (WatchCreateRequest.fragment). */
  readonly fragment: boolean;
}

export interface WatchSink {
  /** Sends one response; false when the transport's buffer is now full (the response was taken anyway). */
  write(out: WatchOut): boolean;
}

export interface WatchCreate {
  readonly key: Buffer;
  readonly rangeEnd: Buffer;
  /** 0: from the next revision; negative: refused as compacted. */
  readonly startRevision: number;
  readonly watchId: bigint;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly prevKv: boolean;
  readonly progressNotify: boolean;
  readonly fragment: boolean;
}

/** The timers the watch machinery depends on, injectable so that tests drive them. */
export interface WatchTimers {
  /** Runs fn soon, after pending I/O (the catch-up loop yields to applies between rounds). */
  soon(fn: () => void): void;
  /** Runs fn every `ms` milliseconds until the returned function is called. */
  every(ms: number, fn: () => void): () => void;
}

export const realTimers: WatchTimers = {
  soon(fn) {
    setImmediate(fn).unref();
  },
  every(ms, fn) {
    const t = setInterval(fn, ms);
    t.unref();
    return () => clearInterval(t);
  },
};

/** What a stream needs from the watchable store. */
export interface StreamHost {
  readonly currentRevision: number;
  readonly timers: WatchTimers;
  readonly progressNotifyIntervalMs: number;
  /** Puts a new watcher in the synced or unsynced group according to its start revision. */
  register(w: Watcher, startRevision: number): void;
  /** Removes a watcher from whichever group holds it. */
  unregister(w: Watcher): void;
  /** This stream can take responses again: unsynced watchers may catch up. */
  wake(): void;
  /** Called once when the stream closes. */
  streamClosed(s: WatchStream): void;
}

const EMPTY: readonly Event[] = [];

function out(p: Partial<WatchOut> & { watchId: bigint; revision: number }): WatchOut {
  return {
    created: false,
    canceled: false,
    compactRevision: 0,
    cancelReason: '',
    events: EMPTY,
    fragment: false,
    ...p,
  };
}

export class WatchStream implements WatcherOwner {
  private readonly watchers = new Map<bigint, Watcher>();
  private nextId = 0n;
  /** Responses waiting for the transport, oldest at `head`. */
  private queue: WatchOut[] = [];
  private head = 0;
  /** Events in the queue (the bound applies to these; control responses are few and small). */
  private pendingEvents = 0;
  private blocked = false;
  private closed = false;
  private stopTicker: (() => void) | undefined;

  constructor(
    private readonly host: StreamHost,
    private readonly sink: WatchSink,
    private readonly maxPendingEvents: number,
  ) {}

  // ---- WatcherOwner ---------------------------------------------------------------------------------------

  get writable(): boolean {
    return !this.blocked && !this.closed;
  }

  canTake(events: number): boolean {
    return !this.closed && (!this.blocked || this.pendingEvents + events <= this.maxPendingEvents);
  }

  sendEvents(w: Watcher, events: Event[], revision: number): void {
    w.idle = false;
    this.deliver(out({ watchId: w.id, revision, events, fragment: w.fragment }));
  }

  sendCompacted(w: Watcher, compactRevision: number): void {
    if (this.watchers.get(w.id) === w) this.watchers.delete(w.id);
    // etcd sends this response with header revision 0.
    this.deliver(out({ watchId: w.id, revision: 0, canceled: true, compactRevision }));
  }

  // ---- requests -------------------------------------------------------------------------------------------

  /** WatchCreateRequest. */
  watch(req: WatchCreate): void {
    if (this.closed) return;
    const refuse = (cancelReason: string): void => this.refuse(cancelReason);
    if (req.startRevision < 0) return refuse(CANCEL_REASONS.compacted);
    const key = req.key.length === 0 ? '\0' : req.key.toString('latin1');
    let end: string | null | undefined;
    if (req.rangeEnd.length === 0) end = undefined;
    else if (req.rangeEnd.length === 1 && req.rangeEnd[0] === 0) end = null;
    else end = req.rangeEnd.toString('latin1');
    if (typeof end === 'string' && key >= end) return refuse(CANCEL_REASONS.emptyRange);
    let id = req.watchId;
    if (id === AUTO_WATCH_ID) {
      while (this.watchers.has(this.nextId)) this.nextId++;
      id = this.nextId++;
    } else if (this.watchers.has(id)) {
      return refuse(CANCEL_REASONS.duplicateId);
    }
    const w = new Watcher(
      {
        id,
        key,
        end,
        noPut: req.noPut,
        noDelete: req.noDelete,
        prevKv: req.prevKv,
        fragment: req.fragment,
        progressNotify: req.progressNotify,
      },
      0,
      this,
    );
    this.watchers.set(id, w);
    // The created response goes first: registering may make the store send events (never synchronously,
    // but the order must not depend on that).
    this.deliver(out({ watchId: id, revision: this.host.currentRevision, created: true }));
    this.host.register(w, req.startRevision);
    if (w.progressNotify) this.startTicker();
  }

  /**
   * Answers a create request with a refusal (created and canceled, watch id -1, the current revision), for
   * checks made before the request reaches the stream (etcd's permission check).
   */
  refuse(cancelReason: string): void {
    this.deliver(out({ watchId: INVALID_WATCH_ID, revision: this.host.currentRevision, created: true, canceled: true, cancelReason }));
  }

  /** WatchCancelRequest. */
  cancel(id: bigint): void {
    const w = this.watchers.get(id);
    if (w === undefined || this.closed) return;
    this.watchers.delete(id);
    this.host.unregister(w);
    this.deliver(out({ watchId: id, revision: this.host.currentRevision, canceled: true }));
  }

  /** WatchProgressRequest. */
  requestProgress(): void {
    if (this.closed || this.watchers.size === 0) return;
    for (const w of this.watchers.values()) if (w.state !== 'synced') return;
    this.deliver(out({ watchId: INVALID_WATCH_ID, revision: this.host.currentRevision }));
  }

  /** The periodic progress notification (etcd's progressTicker). */
  progressTick(): void {
    if (this.closed) return;
    for (const w of this.watchers.values()) {
      if (!w.progressNotify) continue;
      if (w.idle && w.state === 'synced') this.deliver(out({ watchId: w.id, revision: this.host.currentRevision }));
      w.idle = true;
    }
  }

  /** The transport drained: send what waited, and let unsynced watchers catch up once all of it went out. */
  resume(): void {
    if (this.closed) return;
    this.blocked = false;
    while (this.head < this.queue.length) {
      const next = this.queue[this.head] as WatchOut;
      this.head++;
      this.pendingEvents -= next.events.length;
      if (!this.write(next)) {
        this.blocked = true;
        break;
      }
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (!this.blocked) this.host.wake();
  }

  /** The client went away: every watcher is removed, nothing more is sent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopTicker?.();
    this.stopTicker = undefined;
    for (const w of this.watchers.values()) this.host.unregister(w);
    this.watchers.clear();
    this.queue = [];
    this.head = 0;
    this.pendingEvents = 0;
    this.host.streamClosed(this);
  }

  // ---- observation (tests, metrics) -------------------------------------------------------------------------

  get isClosed(): boolean {
    return this.closed;
  }

  /** Responses waiting for the transport. */
  get backlog(): number {
    return this.queue.length - this.head;
  }

  get watcherCount(): number {
    return this.watchers.size;
  }

  watcher(id: bigint): Watcher | undefined {
    return this.watchers.get(id);
  }

  // ---- internals --------------------------------------------------------------------------------------------

  private startTicker(): void {
    if (this.stopTicker !== undefined) return;
    this.stopTicker = this.host.timers.every(this.host.progressNotifyIntervalMs, () => this.progressTick());
  }

  private deliver(o: WatchOut): void {
    if (this.closed) return;
    if (!this.blocked && this.head === this.queue.length) {
      if (!this.write(o)) this.blocked = true;
      return;
    }
    this.queue.push(o);
    this.pendingEvents += o.events.length;
  }

  /** One write to the transport; a transport that throws is gone, and so is this stream. */
  private write(o: WatchOut): boolean {
    try {
      return this.sink.write(o);
    } catch {
      this.close();
      return false;
    }
  }
}
