/**
 * The in-memory key index (etcd's treeIndex): every key's `KeyIndex`, in key byte order.
 *
 * Keys are held as latin1 strings (one char per byte), so JS string comparison is byte order and a Map gives
 * point lookups. Order comes from chunked sorted arrays: a list of chunks, each a sorted array of at most
 * MAX_CHUNK key indexes (with their keys in a parallel string array), every key of a chunk before every key
 * of the next. An insert or removal splices one
 * chunk (O(MAX_CHUNK)) plus, on a split or an emptied chunk, the chunk list (O(keys / MAX_CHUNK)); a range
 * seek is two binary searches. With 100k keys that is ~400 chunks.
 *
 * Invariants: `map` and the chunks hold the same key indexes; no chunk is empty; chunks are ordered;
 * chunk.keys[i] === chunk.kis[i].keyStr; firstKeys[i] === chunks[i].keys[0].
 */
import { type KeyAtRev, KeyIndex, RevSet } from './key-index.js';

const MAX_CHUNK = 512;

/** How to put back what `compact` changed (used when the batch that compacted rolls back). */
export interface CompactUndo {
  readonly changed: ReadonlyArray<readonly [KeyIndex, KeyIndex['gens']]>;
  readonly removed: readonly KeyIndex[];
}

/** A run of consecutive key indexes, with their keys in a parallel array (binary searches touch only strings). */
interface Chunk {
  keys: string[];
  kis: KeyIndex[];
}

export class TreeIndex {
  private readonly map = new Map<string, KeyIndex>();
  private chunks: Chunk[] = [];
  /** firstKeys[i] === chunks[i].keys[0]: the chunk search reads one flat array of strings. */
  private firstKeys: string[] = [];

  /** Forgets every key (before a restore from a replaced backend). */
  clear(): void {
    this.map.clear();
    this.chunks = [];
    this.firstKeys = [];
  }

  /** Number of key indexes (live keys plus deleted keys whose history is not compacted yet). */
  get size(): number {
    return this.map.size;
  }

  keyIndex(keyStr: string): KeyIndex | undefined {
    return this.map.get(keyStr);
  }

  /** Index of the last chunk whose first key is <= s (0 when s precedes every chunk). */
  private findChunk(s: string): number {
    const firsts = this.firstKeys;
    let lo = 0;
    let hi = firsts.length - 1;
    let found = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if ((firsts[mid] as string) <= s) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** First position in keys whose key is >= s. */
  private static lowerBound(keys: string[], s: string): number {
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((keys[mid] as string) < s) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Adds a key index; its key must not be present. */
  insert(ki: KeyIndex): void {
    const s = ki.keyStr;
    if (this.map.has(s)) throw new Error(`mvcc: key index for ${JSON.stringify(s)} already present`);
    this.map.set(s, ki);
    if (this.chunks.length === 0) {
      this.chunks.push({ keys: [s], kis: [ki] });
      this.firstKeys.push(s);
      return;
    }
    const ci = this.findChunk(s);
    const chunk = this.chunks[ci] as Chunk;
    const pos = TreeIndex.lowerBound(chunk.keys, s);
    chunk.keys.splice(pos, 0, s);
    chunk.kis.splice(pos, 0, ki);
    if (pos === 0) this.firstKeys[ci] = s;
    if (chunk.keys.length > MAX_CHUNK) {
      const half = MAX_CHUNK >>> 1;
      const right: Chunk = { keys: chunk.keys.splice(half), kis: chunk.kis.splice(half) };
      this.chunks.splice(ci + 1, 0, right);
      this.firstKeys.splice(ci + 1, 0, right.keys[0] as string);
    }
  }

  /** Removes a key index that is present. */
  remove(ki: KeyIndex): void {
    const s = ki.keyStr;
    if (this.map.get(s) !== ki) throw new Error(`mvcc: key index for ${JSON.stringify(s)} not present`);
    this.map.delete(s);
    const ci = this.findChunk(s);
    const chunk = this.chunks[ci] as Chunk;
    const pos = TreeIndex.lowerBound(chunk.keys, s);
    chunk.keys.splice(pos, 1);
    chunk.kis.splice(pos, 1);
    if (chunk.keys.length === 0) {
      this.chunks.splice(ci, 1);
      this.firstKeys.splice(ci, 1);
    } else if (pos === 0) this.firstKeys[ci] = chunk.keys[0] as string;
  }

  /**
   * Calls f for every key index with start <= key < end in key order (end null: no upper bound) until f
   * returns false. f must not insert or remove key indexes.
   */
  visit(start: string, end: string | null, f: (ki: KeyIndex) => boolean | void): void {
    if (this.chunks.length === 0) return;
    let ci = this.findChunk(start);
    let pos = TreeIndex.lowerBound((this.chunks[ci] as Chunk).keys, start);
    for (; ci < this.chunks.length; ci++, pos = 0) {
      const { keys, kis } = this.chunks[ci] as Chunk;
      for (; pos < keys.length; pos++) {
        if (end !== null && (keys[pos] as string) >= end) return;
        if (f(kis[pos] as KeyIndex) === false) return;
      }
    }
  }

  // ---- etcd's index interface ------------------------------------------------------------------------

  /** The key's state at atRev, or undefined when it did not exist then. */
  get(keyStr: string, atRev: number): KeyAtRev | undefined {
    const ki = this.map.get(keyStr);
    return ki === undefined ? undefined : ki.get(atRev);
  }

  /**
   * Records a put of the key at {main, sub}. Returns what undo needs: whether the key index was created, and
   * the key's previous modified revision.
   */
  put(keyStr: string, main: number, sub: number): { ki: KeyIndex; created: boolean; prevMain: number; prevSub: number } {
    let ki = this.map.get(keyStr);
    const created = ki === undefined;
    if (ki === undefined) {
      ki = new KeyIndex(keyStr);
      this.insert(ki);
    }
    const prevMain = ki.modMain;
    const prevSub = ki.modSub;
    ki.put(main, sub);
    return { ki, created, prevMain, prevSub };
  }

  /** Records a delete of a live key at {main, sub}. Throws if the key is not live (a caller bug). */
  tombstone(keyStr: string, main: number, sub: number): { ki: KeyIndex; prevMain: number; prevSub: number } {
    const ki = this.map.get(keyStr);
    if (ki === undefined) throw new Error(`mvcc: tombstone of unknown key ${JSON.stringify(keyStr)}`);
    const prevMain = ki.modMain;
    const prevSub = ki.modSub;
    if (!ki.tombstone(main, sub)) throw new Error(`mvcc: tombstone of deleted key ${JSON.stringify(keyStr)}`);
    return { ki, prevMain, prevSub };
  }

  /**
   * Compacts every key at rev; returns the revisions to keep in the backend and how to undo. Keys left with
   * no revision leave the index.
   */
  compact(rev: number): { keep: RevSet; undo: CompactUndo } {
    const keep = new RevSet();
    const changed: Array<readonly [KeyIndex, KeyIndex['gens']]> = [];
    const removed: KeyIndex[] = [];
    for (const chunk of this.chunks) {
      for (const ki of chunk.kis) {
        const before = ki.gens;
        ki.compact(rev, keep);
        if (ki.gens !== before) changed.push([ki, before]);
        if (ki.isEmpty) removed.push(ki);
      }
    }
    for (const ki of removed) this.remove(ki);
    return { keep, undo: { changed, removed } };
  }

  /** Puts back the state from before `compact` (only valid if nothing else changed since, or that was undone first). */
  undoCompact(undo: CompactUndo): void {
    for (const ki of undo.removed) this.insert(ki);
    for (const [ki, gens] of undo.changed) ki.gens = gens;
  }

  /** The revisions compaction at rev would keep, minus tombstones ending a generation (etcd's Keep, for HashKV). */
  keep(rev: number): RevSet {
    const keep = new RevSet();
    for (const chunk of this.chunks) for (const ki of chunk.kis) ki.keep(rev, keep);
    return keep;
  }
}
