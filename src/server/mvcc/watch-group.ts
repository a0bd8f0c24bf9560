/**
 * A watcher and the sets the watchable store keeps them in (etcd's watcher and watcherGroup).
 *
 * Keys are compared as latin1 strings: one code unit per byte, so string order is byte order. A watcher
 * watches one key (`end` undefined), a range [key, end), or every key >= key (`end` null: etcd's empty
 * range end, which a request spells `\0`).
 *
 * A group indexes single-key watchers by key and range watchers by their interval; watchers with the same
 * interval share one entry, so matching an event costs one map lookup plus one test per distinct range
 * (etcd uses an interval tree for the ranges; prefix watches of a few hundred distinct prefixes stay cheap
 * here, thousands would want the tree).
 */
import type { Event } from '../../proto/gen/mvccpb/kv.js';

export type WatcherState = 'synced' | 'unsynced' | 'gone';

/** The stream side of a watcher, as the store sees it (implemented by WatchStream). */
export interface WatcherOwner {
  /** False while the stream's transport is full: catch-up waits for it. */
  readonly writable: boolean;
  /** Whether `events` more events fit (the transport takes them, or the bounded backlog has room). */
  canTake(events: number): boolean;
  /** Hands the watcher's events to the client (in order; the store has filtered them). */
  sendEvents(w: Watcher, events: Event[], revision: number): void;
  /** The watcher's start revision has been compacted: it is cancelled with compact_revision. */
  sendCompacted(w: Watcher, compactRevision: number): void;
}

export interface WatcherSpec {
  readonly id: bigint;
  /** latin1 key. */
  readonly key: string;
  /** undefined: the single key; null: every key >= key; otherwise the exclusive end. */
  readonly end: string | null | undefined;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly prevKv: boolean;
  readonly fragment: boolean;
  readonly progressNotify: boolean;
}

export class Watcher implements WatcherSpec {
  readonly id: bigint;
  readonly key: string;
  readonly end: string | null | undefined;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly prevKv: boolean;
  readonly fragment: boolean;
  readonly progressNotify: boolean;
  /** The lowest revision whose events this watcher has not been handed yet. */
  minRev: number;
  state: WatcherState = 'unsynced';
  /** No events were sent since the last progress tick (etcd's progress[id]). */
  idle = true;

  constructor(
    spec: WatcherSpec,
    minRev: number,
    readonly owner: WatcherOwner,
  ) {
    this.id = spec.id;
    this.key = spec.key;
    this.end = spec.end;
    this.noPut = spec.noPut;
    this.noDelete = spec.noDelete;
    this.prevKv = spec.prevKv;
    this.fragment = spec.fragment;
    this.progressNotify = spec.progressNotify;
    this.minRev = minRev;
  }
}

interface RangeEntry {
  readonly start: string;
  readonly end: string | null;
  readonly watchers: Set<Watcher>;
}

export class WatcherGroup {
  private readonly byKey = new Map<string, Set<Watcher>>();
  private readonly ranges = new Map<string, RangeEntry>();
  private readonly all = new Set<Watcher>();

  get size(): number {
    return this.all.size;
  }

  has(w: Watcher): boolean {
    return this.all.has(w);
  }

  [Symbol.iterator](): IterableIterator<Watcher> {
    return this.all.values();
  }

  add(w: Watcher): void {
    if (this.all.has(w)) return;
    this.all.add(w);
    if (w.end === undefined) {
      let set = this.byKey.get(w.key);
      if (set === undefined) this.byKey.set(w.key, (set = new Set()));
      set.add(w);
      return;
    }
    const id = rangeId(w.key, w.end);
    let entry = this.ranges.get(id);
    if (entry === undefined) this.ranges.set(id, (entry = { start: w.key, end: w.end, watchers: new Set() }));
    entry.watchers.add(w);
  }

  delete(w: Watcher): boolean {
    if (!this.all.delete(w)) return false;
    if (w.end === undefined) {
      const set = this.byKey.get(w.key);
      set?.delete(w);
      if (set?.size === 0) this.byKey.delete(w.key);
      return true;
    }
    const id = rangeId(w.key, w.end);
    const entry = this.ranges.get(id);
    entry?.watchers.delete(w);
    if (entry?.watchers.size === 0) this.ranges.delete(id);
    return true;
  }

  /** Calls fn for every watcher whose key or range holds `key`. */
  forEachMatch(key: string, fn: (w: Watcher) => void): void {
    const set = this.byKey.get(key);
    if (set !== undefined) for (const w of set) fn(w);
    for (const entry of this.ranges.values()) {
      if (key >= entry.start && (entry.end === null || key < entry.end)) for (const w of entry.watchers) fn(w);
    }
  }
}

function rangeId(start: string, end: string | null): string {
  // A length prefix keeps (start, end) pairs apart whatever bytes they hold.
  return `${start.length}:${start}${end === null ? '\u0100' : `:${end}`}`;
}
