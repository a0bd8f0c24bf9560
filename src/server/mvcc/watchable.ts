/**
 * The watchable store (etcd's watchableStore): watchers over the MVCC store, in two groups.
 *
 * - synced: seen everything up to the current revision; `notify(events, rev)`, called once a write txn's
 *   batch has committed, hands them that revision's events at once (one response per watcher and
 *   revision).
 * - unsynced: behind, because they start at a past revision or because their client was too slow (see
 *   watch-stream.ts). A catch-up loop reads history with `KvStore.eventsSince` in bounded rounds (at most
 *   `maxWatchersPerSync` watchers and `syncChunkEvents` events, never splitting a revision; a response
 *   to a watcher without fragments also stops at a revision boundary past `maxResponseBytes`, and a round
 *   stops serving watchers after `maxEventsPerRound` events), yielding to
 *   the event loop between rounds so that applies are never held up. A watcher whose stream is blocked
 *   waits until it drains. A watcher that reaches the current revision moves to synced within the same
 *   synchronous step that read the history, so no revision falls between the two groups. A watcher whose
 *   next revision has been compacted is cancelled with compact_revision.
 *
 * Events are filtered per watcher (NOPUT/NODELETE; a response whose events are all filtered out is not
 * sent). prev_kv: live events carry it from the txn; history events get it by reading the key at
 * mod_revision - 1 (skipped for a create, or when that revision is compacted), as etcd does. Without
 * prev_kv the field is dropped.
 *
 * Invariants: a watcher is in at most one group; for every watcher, the revisions handed to its stream
 * are strictly increasing and, up to `minRev - 1`, complete.
 */
import { type Logger, noopLogger } from '../../base/logger.js';
import { type Event, Event_EventType, type KeyValue } from '../../proto/gen/mvccpb/kv.js';
import { CompactedError } from './errors.js';
import type { KvStore } from './kvstore.js';
import { type Watcher, WatcherGroup } from './watch-group.js';
import { type StreamHost, type WatchSink, type WatchTimers, WatchStream, realTimers } from './watch-stream.js';

export {
  AUTO_WATCH_ID,
  CANCEL_REASONS,
  INVALID_WATCH_ID,
  type WatchCreate,
  type WatchOut,
  type WatchSink,
  WatchStream,
  type WatchTimers,
  realTimers,
} from './watch-stream.js';

/** etcd's progress report interval. */
export const DEFAULT_PROGRESS_NOTIFY_INTERVAL_MS = 10 * 60 * 1000;
/** etcd refuses shorter intervals (minWatchProgressInterval). */
export const MIN_PROGRESS_NOTIFY_INTERVAL_MS = 100;

export interface WatchableStoreOptions {
  readonly logger?: Logger;
  readonly timers?: WatchTimers;
  /** How often progress_notify watchers hear the current revision when idle (default 10 minutes, as etcd). */
  readonly progressNotifyIntervalMs?: number;
  /** Events a blocked stream may hold before its watchers fall back to catching up from history. */
  readonly maxPendingEvents?: number;
  /** Unsynced watchers served per catch-up round (etcd's maxWatchersPerSync). */
  readonly maxWatchersPerSync?: number;
  /** Events read from history per catch-up round (a round never splits a revision). */
  readonly syncChunkEvents?: number;
  /**
   * A catch-up response stops at the first revision boundary past this many bytes of keys and values
   * (default 1.5 MiB, etcd's --max-request-bytes), so that a client far behind is not sent one message
   * larger than gRPC clients accept by default (etcd only bounds it at 1000 revisions). Watchers that asked
   * for fragments are exempt: their large responses are split by the transport, as etcd does.
   */
  readonly maxResponseBytes?: number;
  /**
   * The work one round may do, in events handed to watchers (an event with prev_kv counts 4: it costs a
   * read). Past it the round's remaining watchers wait for the next round, so a round stays short (a few
   * ms to tens of ms) however many watchers are behind.
   */
  readonly maxEventsPerRound?: number;
  /** Resolves when the backend can be read (not while a defragment swaps its file). */
  readonly whenReadable?: () => Promise<void>;
}

/** Where to cut `events` so that the kept part holds whole revisions of about `maxBytes` at most (at least one revision). */
function cutAtBytes(events: readonly Event[], maxBytes: number): number {
  let bytes = 0;
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as Event;
    const rev = e.kv?.modRevision;
    if (i > 0 && bytes > maxBytes && rev !== (events[i - 1] as Event).kv?.modRevision) return i;
    bytes += 32 + (e.kv?.key.length ?? 0) + (e.kv?.value.length ?? 0) + (e.prevKv === undefined ? 0 : 32 + e.prevKv.key.length + e.prevKv.value.length);
  }
  return events.length;
}

export class WatchableStore implements StreamHost {
  readonly timers: WatchTimers;
  readonly progressNotifyIntervalMs: number;
  private readonly logger: Logger;
  private readonly maxPendingEvents: number;
  private readonly maxWatchersPerSync: number;
  private readonly syncChunkEvents: number;
  private readonly maxResponseBytes: number;
  private readonly maxEventsPerRound: number;
  private readonly whenReadable: () => Promise<void>;
  private readonly synced = new WatcherGroup();
  /** In catch-up order: a watcher served but not finished goes to the back. */
  private readonly unsynced = new Set<Watcher>();
  private readonly streams = new Set<WatchStream>();
  private syncScheduled = false;
  private closed = false;

  constructor(
    private readonly kv: KvStore,
    opts: WatchableStoreOptions = {},
  ) {
    this.logger = opts.logger ?? noopLogger;
    this.timers = opts.timers ?? realTimers;
    this.progressNotifyIntervalMs = Math.max(MIN_PROGRESS_NOTIFY_INTERVAL_MS, opts.progressNotifyIntervalMs ?? DEFAULT_PROGRESS_NOTIFY_INTERVAL_MS);
    this.maxPendingEvents = Math.max(1, opts.maxPendingEvents ?? 1024);
    this.maxWatchersPerSync = Math.max(1, opts.maxWatchersPerSync ?? 512);
    this.syncChunkEvents = Math.max(1, opts.syncChunkEvents ?? 1000);
    this.maxResponseBytes = Math.max(1, opts.maxResponseBytes ?? 1.5 * 1024 * 1024);
    this.maxEventsPerRound = Math.max(1, opts.maxEventsPerRound ?? 10_000);
    this.whenReadable = opts.whenReadable ?? (() => Promise.resolve());
  }

  get currentRevision(): number {
    return this.kv.currentRevision;
  }

  /** A new client stream whose responses go to `sink`. */
  openStream(sink: WatchSink): WatchStream {
    const s = new WatchStream(this, sink, this.maxPendingEvents);
    if (this.closed) s.close();
    else this.streams.add(s);
    return s;
  }

  /** A write txn at `rev` committed with these events: synced watchers get them now. */
  notify(events: readonly Event[], rev: number): void {
    if (this.synced.size === 0 || events.length === 0) return;
    const batches = new Map<Watcher, Event[]>();
    for (const ev of events) {
      if (ev.kv === undefined) continue;
      this.synced.forEachMatch(ev.kv.key.toString('latin1'), (w) => {
        if (rev < w.minRev) return; // a watcher that starts at a future revision
        const batch = batches.get(w);
        if (batch === undefined) batches.set(w, [ev]);
        else batch.push(ev);
      });
    }
    for (const [w, evs] of batches) {
      const out = this.filter(w, evs, false);
      if (out.length > 0 && !w.owner.canTake(out.length)) {
        // The client is too slow and its backlog is full: it catches up from history from this revision
        // once its stream has drained (etcd's victim watchers).
        this.synced.delete(w);
        w.minRev = rev;
        w.state = 'unsynced';
        this.unsynced.add(w);
        continue;
      }
      w.minRev = rev + 1;
      if (out.length > 0) w.owner.sendEvents(w, out, rev);
    }
  }

  /**
   * The store's backend was replaced by a snapshot from the leader (its revision jumped ahead): every
   * synced watcher whose next revision is now in the past catches up from history like an unsynced one,
   * so that it sees the changes the snapshot carried (or is cancelled as compacted, as etcd does).
   */
  restore(): void {
    const cur = this.kv.currentRevision;
    for (const w of [...this.synced]) {
      if (w.minRev > cur) continue;
      this.synced.delete(w);
      w.state = 'unsynced';
      this.unsynced.add(w);
    }
    this.wake();
  }

  // ---- StreamHost ---------------------------------------------------------------------------------------------

  register(w: Watcher, startRevision: number): void {
    const cur = this.kv.currentRevision;
    if (startRevision === 0 || startRevision > cur) {
      w.minRev = Math.max(cur + 1, startRevision);
      w.state = 'synced';
      this.synced.add(w);
    } else {
      w.minRev = startRevision;
      w.state = 'unsynced';
      this.unsynced.add(w);
      this.wake();
    }
  }

  unregister(w: Watcher): void {
    this.synced.delete(w);
    this.unsynced.delete(w);
    w.state = 'gone';
  }

  wake(): void {
    if (this.syncScheduled || this.closed || this.unsynced.size === 0) return;
    this.syncScheduled = true;
    this.timers.soon(() => void this.runSync());
  }

  streamClosed(s: WatchStream): void {
    this.streams.delete(s);
  }

  // ---- catch-up -------------------------------------------------------------------------------------------

  private async runSync(): Promise<void> {
    let more = false;
    try {
      await this.whenReadable();
      this.syncScheduled = false;
      if (this.closed) return;
      more = this.syncOnce();
    } catch (err) {
      this.syncScheduled = false;
      if (this.closed) return;
      this.logger.error(`mvcc: watch catch-up failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
    if (more) this.wake();
  }

  /**
   * One bounded catch-up round. Returns whether unsynced watchers that could be served remain (the caller
   * schedules the next round; a watcher whose stream is blocked waits for the stream's wake()).
   */
  syncOnce(): boolean {
    if (this.closed || this.unsynced.size === 0) return false;
    const curRev = this.kv.currentRevision;
    const compactRev = this.kv.compactRevision;
    const chosen = new WatcherGroup();
    let minRev = Number.POSITIVE_INFINITY;
    for (const w of [...this.unsynced]) {
      if (chosen.size >= this.maxWatchersPerSync) break;
      if (!w.owner.writable) continue;
      if (w.minRev < compactRev) {
        this.unsynced.delete(w);
        w.state = 'gone';
        w.owner.sendCompacted(w, compactRev);
        continue;
      }
      if (w.minRev > curRev) {
        this.toSynced(w);
        continue;
      }
      chosen.add(w);
      if (w.minRev < minRev) minRev = w.minRev;
    }
    if (chosen.size > 0) this.serve(chosen, minRev, curRev);
    for (const w of this.unsynced) if (w.owner.writable) return true;
    return false;
  }

  private serve(chosen: WatcherGroup, minRev: number, curRev: number): void {
    const events = this.kv.eventsSince(minRev, curRev, this.syncChunkEvents);
    const last = events[events.length - 1];
    // A full chunk may have stopped early: it covers up to its last (whole) revision only.
    const covered = events.length >= this.syncChunkEvents && last?.kv !== undefined ? Number(last.kv.modRevision) : curRev;
    const batches = new Map<Watcher, Event[]>();
    for (const ev of events) {
      if (ev.kv === undefined) continue;
      const rev = Number(ev.kv.modRevision);
      chosen.forEachMatch(ev.kv.key.toString('latin1'), (w) => {
        if (rev < w.minRev) return;
        const batch = batches.get(w);
        if (batch === undefined) batches.set(w, [ev]);
        else batch.push(ev);
      });
    }
    let work = 0;
    for (const w of chosen) {
      // This chunk ended before the watcher's start, its stream filled up during this round, or the round
      // has done its share of work: it stays unsynced where it is, for a later round.
      if (w.minRev > covered || !w.owner.writable || work >= this.maxEventsPerRound) continue;
      work += (batches.get(w)?.length ?? 0) * (w.prevKv ? 4 : 1);
      const out = this.filter(w, batches.get(w) ?? [], true);
      // A watcher that takes fragments gets etcd's whole batch: the transport splits it.
      const cut = w.fragment ? out.length : cutAtBytes(out, this.maxResponseBytes);
      if (cut < out.length) {
        // Too much for one response: the rest of the chunk waits for the next round.
        w.minRev = Number((out[cut] as Event).kv?.modRevision ?? 0n);
        w.owner.sendEvents(w, out.slice(0, cut), curRev);
      } else {
        w.minRev = covered + 1;
        if (out.length > 0) w.owner.sendEvents(w, out, curRev);
      }
      if (w.minRev > curRev) {
        this.toSynced(w);
      } else {
        this.unsynced.delete(w);
        this.unsynced.add(w);
      }
    }
  }

  private toSynced(w: Watcher): void {
    this.unsynced.delete(w);
    w.state = 'synced';
    this.synced.add(w);
  }

  // ---- events per watcher -----------------------------------------------------------------------------------
  // (see withoutPrevKv below: one stripped copy per event, shared by every watcher that did not ask for prev_kv)

  private filter(w: Watcher, evs: readonly Event[], history: boolean): Event[] {
    const out: Event[] = [];
    for (const ev of evs) {
      if (ev.type === Event_EventType.PUT ? w.noPut : w.noDelete) continue;
      if (!w.prevKv) out.push(ev.prevKv === undefined ? ev : withoutPrevKv(ev));
      else if (!history) out.push(ev);
      else out.push({ type: ev.type, kv: ev.kv, prevKv: this.prevKvOf(ev) });
    }
    return out;
  }

  /** The key's previous version for a history event (etcd reads it at mod_revision - 1). */
  private prevKvOf(ev: Event): KeyValue | undefined {
    const kv = ev.kv;
    if (kv === undefined) return undefined;
    if (ev.type === Event_EventType.PUT && kv.createRevision === kv.modRevision) return undefined;
    const at = Number(kv.modRevision) - 1;
    if (at < 1) return undefined;
    try {
      return this.kv.range(kv.key, undefined, { rev: at }).kvs[0];
    } catch (err) {
      if (err instanceof CompactedError) return undefined;
      throw err;
    }
  }

  // ---- lifecycle and observation ------------------------------------------------------------------------------

  /** Stops the catch-up loop and closes every stream. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of [...this.streams]) s.close();
  }

  get syncedCount(): number {
    return this.synced.size;
  }

  get unsyncedCount(): number {
    return this.unsynced.size;
  }

  get streamCount(): number {
    return this.streams.size;
  }
}

/** Events without their prev_kv, made once per event however many watchers receive it. */
const strippedEvents = new WeakMap<Event, Event>();

function withoutPrevKv(ev: Event): Event {
  let s = strippedEvents.get(ev);
  if (s === undefined) {
    s = { type: ev.type, kv: ev.kv, prevKv: undefined };
    strippedEvents.set(ev, s);
  }
  return s;
}
