/**
 * The MVCC key-value store of a node (etcd's mvcc `store`): etcd v3's revision semantics over the backend's
 * `key` bucket, with an in-memory key index that serves every lookup.
 *
 * Storage. Every change is one `key` bucket entry: key = revision bytes (see revision.ts), value = the
 * protobuf-encoded `mvccpb.KeyValue`. A put stores the full kv; a delete stores a tombstone (the key marked
 * 't', value `KeyValue{key}` only). `meta` holds `scheduledCompactRev` / `finishedCompactRev` (17-byte
 * revision bytes of {rev, 0}), as etcd.
 *
 * Revisions. The store starts at revision 1 (etcd's empty store), compacted revision -1 (never). A write
 * txn that changes anything gets revision current+1, its changes sub-revisions 0, 1, ...; a txn that changes
 * nothing does not bump the revision. A key's create_revision is the main revision of the put that created
 * its current generation, version counts the puts in that generation, mod_revision is its newest change.
 *
 * Reads (etcd's rangeKeys): rev 0 = current; rev > current → FutureRevError; rev < compacted → CompactedError
 * (reading exactly at the compacted revision is allowed: compaction keeps what that state needs). The
 * result's `rev` is the store's current revision (the txn's view for a write txn), not the one read at.
 * Key ranges: end undefined/empty = the single key; end = [0x00] = every key >= key; otherwise [key, end).
 *
 * Writes. `write()` opens a txn: put/deleteRange collect changes in the txn (its own ranges see them, as in
 * etcd 3.5), `end()` writes them to the backend and then updates the index and the revision. `end()` runs
 * inside `backend.batch` (joining the caller's batch, which the node uses to commit a whole raft Ready
 * atomically with the applied index); if that batch rolls back, the index, revision and any compaction done
 * in it are put back through `backend.onRollback`, so memory never runs ahead of disk. A txn that is
 * dropped without `end()` leaves no trace.
 *
 * Compaction. `compact(rev)` records the scheduled compaction in `meta`, compacts the index at once (reads
 * below rev fail from then on) and queues the physical part: delete the superseded revisions <= rev from the
 * `key` bucket in chunks of `compactionBatchLimit`, each chunk its own batch, yielding to the event loop
 * between chunks, then record `finishedCompactRev`. Physical compactions run one at a time in order.
 * `open()` resumes a compaction that was scheduled but not finished.
 *
 * Single-threaded use: call the store from one JS thread; txns must not interleave (end() refuses a txn
 * that another txn overtook).
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

import { type Logger, noopLogger } from '../../base/logger.js';
import { type Event, Event_EventType, KeyValue } from '../../proto/gen/mvccpb/kv.js';
import type { Backend, Bucket } from './backend.js';
import { CompactedError, CorruptError, FutureRevError, StaleTxnError, StoreClosedError } from './errors.js';
import { type KeyAtRev, KeyIndex, type RevSet } from './key-index.js';
import { type KeyValueHash, KvHasher } from './kv-hash.js';
import { bytesToRev, mainRevPrefix, revToBytes } from './revision.js';
import { TreeIndex } from './tree-index.js';

export type { KeyValueHash } from './kv-hash.js';

/** `meta` keys of the compaction state (etcd's schema names). */
export const META_SCHEDULED_COMPACT = Buffer.from('scheduledCompactRev');
export const META_FINISHED_COMPACT = Buffer.from('finishedCompactRev');

const DEFAULT_COMPACTION_BATCH_LIMIT = 1000;
/** How many compaction hashes HashKV remembers (etcd's hashStorageMaxSize). */
const MAX_STORED_HASHES = 10;
const EMPTY = Buffer.alloc(0);

export interface RangeOptions {
  /** Revision to read at; 0 or absent = current. */
  readonly rev?: number;
  /** At most this many kvs (0 or absent = all); `count` still counts the whole range. */
  readonly limit?: number;
  /** Only count: `kvs` is empty. */
  readonly countOnly?: boolean;
  /** kvs carry empty values. */
  readonly keysOnly?: boolean;
}

export interface RangeResult {
  readonly kvs: KeyValue[];
  /** Number of keys in the range at the revision read, regardless of limit. */
  readonly count: number;
  /** The store's current revision (for a write txn: the revision of its view). */
  readonly rev: number;
}

export interface TxnResult {
  /** The txn's revision, or the unchanged current revision when it changed nothing. */
  readonly rev: number;
  /** One event per change, in order; `prevKv` is set when the key existed just before that change. */
  readonly events: Event[];
}

export interface TxnRead {
  range(key: Buffer, end: Buffer | undefined, opts?: RangeOptions): RangeResult;
}

/** One etcd write txn. Buffers passed in become part of the stored kvs and events: do not mutate them later. */
export interface TxnWrite extends TxnRead {
  put(key: Buffer, value: Buffer, lease: bigint): void;
  /** Deletes every key in the range (conventions as in range); returns how many existed. */
  deleteRange(key: Buffer, end: Buffer | undefined): number;
  /** Writes the changes (inside backend.batch) and updates the index; call exactly once. */
  end(): TxnResult;
}

export interface KvStoreOptions {
  readonly logger?: Logger;
  /** Revisions examined per physical compaction batch (etcd's default 1000). */
  readonly compactionBatchLimit?: number;
}

/** A key range as index bounds. */
type Span = { readonly single: true; readonly key: string } | { readonly single: false; readonly start: string; readonly end: string | null };

function span(key: Buffer, end: Buffer | undefined): Span {
  if (end === undefined || end.length === 0) return { single: true, key: key.toString('latin1') };
  if (end.length === 1 && end[0] === 0) return { single: false, start: key.toString('latin1'), end: null };
  return { single: false, start: key.toString('latin1'), end: end.toString('latin1') };
}

function tombstoneKv(key: Buffer, modRevision: bigint): KeyValue {
  return { key, createRevision: 0n, modRevision, version: 0n, value: EMPTY, lease: 0n };
}

function readMetaRev(bucket: Bucket, key: Buffer): number | undefined {
  const v = bucket.get(key);
  return v === undefined ? undefined : bytesToRev(v).main;
}

/** One change of a write txn; `kv` null is a delete. */
interface Change {
  readonly keyStr: string;
  readonly key: Buffer;
  readonly kv: KeyValue | null;
  readonly prevKv: KeyValue | undefined;
}

interface CompactionJob {
  readonly rev: number;
  readonly prevCompactRev: number;
  readonly keep: RevSet;
  /** Whether the compaction before this one had finished (etcd stores the hash only then). */
  readonly prevCompleted: boolean;
  /** Set when the batch that scheduled it rolled back. */
  cancelled: boolean;
}

/** What a write txn needs from its store (closures over the store's private state). */
interface TxnHost {
  readonly index: TreeIndex;
  readRev(rev: number | undefined, curRev: number): number;
  rangeIndex(sp: Span, atRev: number, opts: RangeOptions): { kvs: KeyValue[]; count: number };
  readKv(hit: KeyAtRev): KeyValue;
  commit(beginRev: number, changes: readonly Change[]): number;
}

export class KvStore {
  private readonly index = new TreeIndex();
  private currentRev = 1;
  private compactMainRev = -1;
  /** Keys that currently exist (etcd's keys gauge). */
  private liveKeys = 0;
  private readonly keyBucket: Bucket;
  private readonly metaBucket: Bucket;
  private readonly logger: Logger;
  private readonly batchLimit: number;
  /** The queue of physical compactions; never rejects (each job's own promise does). */
  private compactionChain: Promise<void> = Promise.resolve();
  private closed = false;
  /** Hashes computed by finished compactions, by revision (etcd's hashStorage). */
  private readonly hashes: KeyValueHash[] = [];
  private readonly host: TxnHost;

  private constructor(
    private readonly backend: Backend,
    opts: KvStoreOptions,
  ) {
    this.keyBucket = backend.buckets.key;
    this.metaBucket = backend.buckets.meta;
    this.logger = opts.logger ?? noopLogger;
    this.batchLimit = Math.max(1, opts.compactionBatchLimit ?? DEFAULT_COMPACTION_BATCH_LIMIT);
    this.host = {
      index: this.index,
      readRev: (rev, curRev) => this.readRev(rev, curRev),
      rangeIndex: (sp, atRev, o) => this.rangeIndex(sp, atRev, o),
      readKv: (hit) => this.readKv(hit),
      commit: (beginRev, changes) => this.commit(beginRev, changes),
    };
  }

  /**
   * Opens the store over `backend`: rebuilds the index from the `key` bucket and the revisions from `meta`,
   * and resumes a compaction that was scheduled but not finished (in the background; see `close`).
   */
  static open(backend: Backend, opts: KvStoreOptions = {}): KvStore {
    const store = new KvStore(backend, opts);
    store.restore();
    return store;
  }

  /**
   * Rebuilds the store from its backend after the backend file was replaced (a raft snapshot received
   * from the leader): waits for the running physical compaction to stop at a chunk boundary, forgets the
   * index, and restores as `open` does. Must not run inside a batch.
   */
  async reload(): Promise<void> {
    this.closed = true;
    await this.compactionChain;
    this.closed = false;
    this.index.clear();
    this.currentRev = 1;
    this.compactMainRev = -1;
    this.liveKeys = 0;
    this.hashes.length = 0;
    this.restore();
  }

  /** Stops physical compaction (it resumes at `reload`), so that the backend file can be swapped. */
  async pauseCompactions(): Promise<void> {
    this.closed = true;
    await this.compactionChain;
  }

  /** The revision of the last write txn that changed something (1 on an empty store). */
  get currentRevision(): number {
    return this.currentRev;
  }

  /** The revision of the last compaction (-1 when never compacted). */
  get compactRevision(): number {
    return this.compactMainRev;
  }

  /** Number of keys that currently exist. */
  keyCount(): number {
    return this.liveKeys;
  }

  /** Reads the committed state (see the header for revision and key-range rules). */
  range(key: Buffer, end: Buffer | undefined, opts: RangeOptions = {}): RangeResult {
    const curRev = this.currentRev;
    const at = this.readRev(opts.rev, curRev);
    const { kvs, count } = this.rangeIndex(span(key, end), at, opts);
    return { kvs, count, rev: curRev };
  }

  /** Opens a write txn over the current revision. */
  write(): TxnWrite {
    return new StoreTxnWrite(this.host, this.currentRev);
  }

  /**
   * Compacts at rev: CompactedError if rev <= compactRevision, FutureRevError if rev > currentRevision.
   * The scheduled compaction is recorded in `meta` and the index compacted within a backend batch (the
   * caller's, if any); the physical deletion follows in the background. `physicalDone` resolves when it
   * has finished (and `finishedCompactRev` is recorded), or right away without deleting anything if the
   * scheduling batch rolled back; it rejects if the store is closed first (the compaction then resumes at
   * the next open) or a batch of it fails.
   */
  compact(rev: number): { physicalDone: Promise<void> } {
    if (rev <= this.compactMainRev) throw new CompactedError();
    if (rev > this.currentRev) throw new FutureRevError();
    const prevCompactRev = this.compactMainRev;
    const prevCompleted = this.prevCompactionCompleted();
    const job = this.backend.batch((): CompactionJob => {
      this.metaBucket.put(META_SCHEDULED_COMPACT, revToBytes(rev, 0));
      const { keep, undo } = this.index.compact(rev);
      this.compactMainRev = rev;
      const j: CompactionJob = { rev, prevCompactRev, keep, prevCompleted, cancelled: false };
      this.backend.onRollback(() => {
        this.index.undoCompact(undo);
        this.compactMainRev = prevCompactRev;
        j.cancelled = true;
      });
      return j;
    });
    const physicalDone = this.compactionChain.then(() => this.runCompaction(job));
    // The chain's handler also marks physicalDone as handled: a caller that ignores it gets no
    // unhandled rejection, one that awaits it still sees the error.
    this.compactionChain = physicalDone.catch((err: unknown) => {
      if (err instanceof StoreClosedError) this.logger.info(`mvcc: compaction at ${rev} stopped by close; it resumes at the next open`);
      else this.logger.error(`mvcc: compaction at ${rev} failed: ${String(err)}`);
    });
    return { physicalDone };
  }

  /**
   * HashKV at rev (0 = current): CRC-32C over the `key` bucket as etcd computes it (see kv-hash.ts), so
   * members with the same history agree. CompactedError if rev < compactRevision, FutureRevError if
   * rev > currentRevision. For the revision of a finished compaction it returns the hash that compaction
   * computed (against the compaction before it), as etcd does.
   */
  hashKV(rev: number): KeyValueHash {
    // (rev > 0: a compaction at revision 0 must not shadow "current".)
    const stored = rev > 0 ? this.hashes.find((h) => h.hashRevision === rev) : undefined;
    if (stored !== undefined) return stored;
    const compactRev = this.compactMainRev;
    const curRev = this.currentRev;
    if (rev > 0 && rev < compactRev) throw new CompactedError();
    if (rev > curRev) throw new FutureRevError();
    const at = rev > 0 ? rev : curRev;
    const hasher = new KvHasher(compactRev, at, this.index.keep(at));
    for (const { key, value } of this.keyBucket.range(undefined, mainRevPrefix(at + 1))) hasher.write(key, value);
    return hasher.result();
  }

  /**
   * The events of revisions fromRev..toRev (inclusive, toRev clamped to the current revision) in revision
   * order, read from the `key` bucket, for watchers catching up. A tombstone becomes a DELETE event whose
   * kv has the key and mod_revision. `limit` > 0 bounds the count but never splits a revision: the result
   * ends at a revision boundary and holds at least the first revision whole, so the next call can start at
   * the last event's mod_revision + 1. No prevKv (read it at mod_revision - 1 where needed).
   * CompactedError if fromRev < compactRevision.
   */
  eventsSince(fromRev: number, toRev: number, limit: number): Event[] {
    if (fromRev < this.compactMainRev) throw new CompactedError();
    const to = Math.min(toRev, this.currentRev);
    const from = Math.max(fromRev, 0);
    const events: Event[] = [];
    if (from > to) return events;
    let lastMain = -1;
    for (const { key, value } of this.keyBucket.range(mainRevPrefix(from), mainRevPrefix(to + 1))) {
      const r = bytesToRev(key);
      if (limit > 0 && events.length >= limit && r.main !== lastMain) break;
      lastMain = r.main;
      const kv = KeyValue.decode(value);
      if (r.tombstone) {
        kv.modRevision = BigInt(r.main);
        events.push({ type: Event_EventType.DELETE, kv, prevKv: undefined });
      } else {
        events.push({ type: Event_EventType.PUT, kv, prevKv: undefined });
      }
    }
    return events;
  }

  /** Resolves when every physical compaction queued so far (including one resumed by open) has settled. */
  async compactionsSettled(): Promise<void> {
    await this.compactionChain;
  }

  /**
   * Stops physical compaction at its next chunk boundary (it resumes at the next open) and waits for it.
   * Does not close the backend.
   */
  async close(): Promise<void> {
    this.closed = true;
    await this.compactionChain;
  }

  // ---- internals ------------------------------------------------------------------------------------------

  /** etcd's rangeKeys checks: the revision to read at. */
  private readRev(rev: number | undefined, curRev: number): number {
    const r = rev ?? 0;
    if (r > curRev) throw new FutureRevError();
    const at = r > 0 ? r : curRev;
    if (at < this.compactMainRev) throw new CompactedError();
    return at;
  }

  private readKv(hit: KeyAtRev): KeyValue {
    const v = this.keyBucket.get(revToBytes(hit.modMain, hit.modSub));
    if (v === undefined) throw new CorruptError(`revision ${hit.modMain}.${hit.modSub} is in the index but not in the key bucket`);
    return KeyValue.decode(v);
  }

  private materialize(hit: KeyAtRev, keysOnly: boolean): KeyValue {
    const kv = this.readKv(hit);
    if (keysOnly) kv.value = EMPTY;
    return kv;
  }

  /** The committed state of a span at atRev (which the caller validated). */
  private rangeIndex(sp: Span, atRev: number, opts: RangeOptions): { kvs: KeyValue[]; count: number } {
    const countOnly = opts.countOnly ?? false;
    const keysOnly = opts.keysOnly ?? false;
    if (sp.single) {
      const hit = this.index.get(sp.key, atRev);
      if (hit === undefined) return { kvs: [], count: 0 };
      return { kvs: countOnly ? [] : [this.materialize(hit, keysOnly)], count: 1 };
    }
    const limit = opts.limit ?? 0;
    const hits: KeyAtRev[] = [];
    let count = 0;
    this.index.visit(sp.start, sp.end, (ki) => {
      const hit = ki.get(atRev);
      if (hit === undefined) return;
      count++;
      if (!countOnly && (limit <= 0 || hits.length < limit)) hits.push(hit);
    });
    return { kvs: hits.map((h) => this.materialize(h, keysOnly)), count };
  }

  /** Writes a txn's changes at beginRev+1 and applies them to the index (inside a batch, undone on rollback). */
  private commit(beginRev: number, changes: readonly Change[]): number {
    if (this.currentRev !== beginRev) throw new StaleTxnError(beginRev, this.currentRev);
    const main = beginRev + 1;
    this.backend.batch(() => {
      const undo: Array<() => void> = [];
      this.backend.onRollback(() => {
        for (let i = undo.length - 1; i >= 0; i--) (undo[i] as () => void)();
        this.currentRev = beginRev;
      });
      for (let sub = 0; sub < changes.length; sub++) {
        const c = changes[sub] as Change;
        if (c.kv !== null) {
          this.keyBucket.put(revToBytes(main, sub), KeyValue.encode(c.kv).finish());
          const wasLive = this.index.keyIndex(c.keyStr)?.isLive ?? false;
          const r = this.index.put(c.keyStr, main, sub);
          if (!wasLive) this.liveKeys++;
          undo.push(() => {
            r.ki.unput(r.prevMain, r.prevSub);
            if (r.created) this.index.remove(r.ki);
            if (!wasLive) this.liveKeys--;
          });
        } else {
          this.keyBucket.put(revToBytes(main, sub, true), KeyValue.encode(tombstoneKv(c.key, 0n)).finish());
          const r = this.index.tombstone(c.keyStr, main, sub);
          this.liveKeys--;
          undo.push(() => {
            r.ki.untombstone(r.prevMain, r.prevSub);
            this.liveKeys++;
          });
        }
      }
      this.currentRev = main;
    });
    return main;
  }

  /** etcd's checkPrevCompactionCompleted: scheduled and finished compaction records agree. */
  private prevCompactionCompleted(): boolean {
    return readMetaRev(this.metaBucket, META_SCHEDULED_COMPACT) === readMetaRev(this.metaBucket, META_FINISHED_COMPACT);
  }

  private async runCompaction(job: CompactionJob): Promise<void> {
    if (job.cancelled) {
      this.logger.info(`mvcc: compaction at ${job.rev} was rolled back with its batch; nothing to delete`);
      return;
    }
    const end = mainRevPrefix(job.rev + 1);
    const hasher = new KvHasher(job.prevCompactRev, job.rev, job.keep);
    let start: Buffer | undefined;
    let deleted = 0;
    // Each chunk starts after the last revision of the previous one, so the loop ends after
    // ceil(revisions <= rev / batchLimit) + 1 chunks at most.
    for (;;) {
      await this.backend.whenWritable();
      if (this.closed) throw new StoreClosedError();
      const entries = [...this.keyBucket.range(start, end, this.batchLimit)];
      const done = entries.length < this.batchLimit;
      this.backend.batch(() => {
        for (const { key, value } of entries) {
          const r = bytesToRev(key);
          if (!job.keep.has(r.main, r.sub)) {
            this.keyBucket.delete(key);
            deleted++;
          }
          hasher.write(key, value);
        }
        if (done) this.metaBucket.put(META_FINISHED_COMPACT, revToBytes(job.rev, 0));
      });
      if (done) break;
      const last = bytesToRev((entries[entries.length - 1] as { key: Buffer }).key);
      start = revToBytes(last.main, last.sub + 1);
      await yieldToEventLoop();
    }
    if (job.prevCompleted) {
      this.hashes.push(hasher.result());
      this.hashes.sort((a, b) => a.hashRevision - b.hashRevision);
      if (this.hashes.length > MAX_STORED_HASHES) this.hashes.splice(0, this.hashes.length - MAX_STORED_HASHES);
    }
    this.logger.info(`mvcc: finished compaction at revision ${job.rev}: ${deleted} revisions deleted`);
  }

  /** Rebuilds the index and revisions from the backend (etcd's restore). */
  private restore(): void {
    const finished = readMetaRev(this.metaBucket, META_FINISHED_COMPACT);
    const scheduled = readMetaRev(this.metaBucket, META_SCHEDULED_COMPACT);
    if (finished !== undefined) this.compactMainRev = finished;
    let lastMain = 1;
    let revisions = 0;
    for (const { key, value } of this.keyBucket.range()) {
      const r = bytesToRev(key);
      if (r.main < lastMain && revisions > 0) throw new CorruptError(`revision ${r.main} after ${lastMain}`);
      lastMain = r.main;
      revisions++;
      const kv = KeyValue.decode(value);
      const keyStr = kv.key.toString('latin1');
      const ki = this.index.keyIndex(keyStr);
      if (ki !== undefined) {
        if (r.tombstone) {
          if (!ki.tombstone(r.main, r.sub)) this.logger.warn(`mvcc: restore: tombstone at ${r.main}.${r.sub} of a deleted key`);
        } else ki.put(r.main, r.sub);
        continue;
      }
      const fresh = new KeyIndex(keyStr);
      if (r.tombstone) fresh.restoreTombstone(r.main, r.sub);
      else fresh.restore(Number(kv.createRevision), r.main, r.sub, Number(kv.version));
      this.index.insert(fresh);
    }
    this.index.visit('', null, (ki) => {
      if (ki.isLive) this.liveKeys++;
    });
    // Compaction may have deleted the newest revisions (all tombstones); the revision never goes back.
    this.currentRev = Math.max(lastMain, this.compactMainRev, scheduled ?? -1);
    this.logger.info(
      `mvcc: restored ${revisions} revisions of ${this.index.size} keys: current revision ${this.currentRev}, compacted ${this.compactMainRev}`,
    );
    // (etcd tests `scheduled != 0`; testing presence also resumes a compaction at revision 0.)
    if (scheduled !== undefined && scheduled > this.compactMainRev) {
      this.logger.info(`mvcc: resuming the compaction scheduled at revision ${scheduled}`);
      this.compact(scheduled); // physicalDone: failures are logged by the compaction chain
    }
  }
}

class StoreTxnWrite implements TxnWrite {
  private readonly changes: Change[] = [];
  /** Each key this txn changed → its kv after the txn's newest change to it (null: deleted). */
  private readonly overlay = new Map<string, KeyValue | null>();
  private ended = false;

  constructor(
    private readonly host: TxnHost,
    private readonly beginRev: number,
  ) {}

  private assertOpen(): void {
    if (this.ended) throw new Error('mvcc: write txn already ended');
  }

  /** The revision this txn's reads see: its own changes once it has any (etcd's storeTxnWrite.Range). */
  private get viewRev(): number {
    return this.changes.length > 0 ? this.beginRev + 1 : this.beginRev;
  }

  range(key: Buffer, end: Buffer | undefined, opts: RangeOptions = {}): RangeResult {
    this.assertOpen();
    const curRev = this.viewRev;
    const at = this.host.readRev(opts.rev, curRev);
    const sp = span(key, end);
    const r = at <= this.beginRev ? this.host.rangeIndex(sp, at, opts) : this.rangeOwn(sp, opts);
    return { kvs: r.kvs, count: r.count, rev: curRev };
  }

  /** The state at beginRev overlaid with this txn's changes. */
  private rangeOwn(sp: Span, opts: RangeOptions): { kvs: KeyValue[]; count: number } {
    const countOnly = opts.countOnly ?? false;
    const keysOnly = opts.keysOnly ?? false;
    const present = (kv: KeyValue): KeyValue => ({ ...kv, value: keysOnly ? EMPTY : kv.value });
    if (sp.single) {
      const own = this.overlay.get(sp.key);
      if (own === undefined) return this.host.rangeIndex(sp, this.beginRev, opts);
      if (own === null) return { kvs: [], count: 0 };
      return { kvs: countOnly ? [] : [present(own)], count: 1 };
    }
    const limit = opts.limit ?? 0;
    // Latin1 strings: the default (UTF-16 code unit) sort is byte order.
    const own = [...this.overlay.keys()].filter((k) => k >= sp.start && (sp.end === null || k < sp.end)).sort();
    const picked: Array<KeyValue | KeyAtRev> = [];
    let count = 0;
    const take = (x: KeyValue | KeyAtRev): void => {
      count++;
      if (!countOnly && (limit <= 0 || picked.length < limit)) picked.push(x);
    };
    const takeOwn = (k: string): void => {
      const kv = this.overlay.get(k);
      if (kv) take(kv);
    };
    let oi = 0;
    this.host.index.visit(sp.start, sp.end, (ki) => {
      while (oi < own.length && (own[oi] as string) < ki.keyStr) takeOwn(own[oi++] as string);
      if (oi < own.length && own[oi] === ki.keyStr) {
        takeOwn(own[oi++] as string);
        return;
      }
      const hit = ki.get(this.beginRev);
      if (hit !== undefined) take(hit);
    });
    while (oi < own.length) takeOwn(own[oi++] as string);
    const kvs = picked.map((x) => ('modMain' in x ? this.readCommitted(x, keysOnly) : present(x)));
    return { kvs, count };
  }

  private readCommitted(hit: KeyAtRev, keysOnly: boolean): KeyValue {
    const kv = this.host.readKv(hit);
    if (keysOnly) kv.value = EMPTY;
    return kv;
  }

  /** The key's kv as this txn sees it now, or undefined when it does not exist. */
  private current(keyStr: string): KeyValue | undefined {
    const own = this.overlay.get(keyStr);
    if (own !== undefined) return own ?? undefined;
    const hit = this.host.index.get(keyStr, this.beginRev);
    return hit === undefined ? undefined : this.host.readKv(hit);
  }

  put(key: Buffer, value: Buffer, lease: bigint): void {
    this.assertOpen();
    const keyStr = key.toString('latin1');
    const prevKv = this.current(keyStr);
    const rev = BigInt(this.beginRev + 1);
    const kv: KeyValue = {
      key,
      value,
      createRevision: prevKv?.createRevision ?? rev,
      modRevision: rev,
      version: (prevKv?.version ?? 0n) + 1n,
      lease,
    };
    this.changes.push({ keyStr, key, kv, prevKv });
    this.overlay.set(keyStr, kv);
  }

  deleteRange(key: Buffer, end: Buffer | undefined): number {
    this.assertOpen();
    const { kvs } = this.range(key, end);
    for (const prevKv of kvs) {
      const keyStr = prevKv.key.toString('latin1');
      this.changes.push({ keyStr, key: prevKv.key, kv: null, prevKv });
      this.overlay.set(keyStr, null);
    }
    return kvs.length;
  }

  end(): TxnResult {
    this.assertOpen();
    this.ended = true;
    if (this.changes.length === 0) return { rev: this.beginRev, events: [] };
    const rev = this.host.commit(this.beginRev, this.changes);
    const modRevision = BigInt(rev);
    const events = this.changes.map(
      (c): Event =>
        c.kv !== null
          ? { type: Event_EventType.PUT, kv: c.kv, prevKv: c.prevKv }
          : { type: Event_EventType.DELETE, kv: tombstoneKv(c.key, modRevision), prevKv: c.prevKv },
    );
    return { rev, events };
  }
}
