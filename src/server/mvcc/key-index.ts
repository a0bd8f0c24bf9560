/**
 * The revisions of one key (etcd's keyIndex), as generations.
 *
 * A generation is one lifetime of the key: from the put that created it to the tombstone that deleted it.
 * A tombstone appends its revision to the current generation and opens a new, empty one. For example
 * put(1.0); put(2.0); tombstone(3.0); put(4.0); tombstone(5.0) gives
 *
 *     {1.0, 2.0, 3.0(t)}  {4.0, 5.0(t)}  {empty}
 *
 * Compaction at `rev` drops every revision <= rev except the newest one of each key, and drops whole
 * generations that ended (tombstone) before `rev`. A tombstone exactly at `rev` is kept (etcd > 3.5.15), so
 * a watcher at the compacted revision still sees the delete:
 *
 *     compact(2): {2.0, 3.0(t)} {4.0, 5.0(t)} {empty}
 *     compact(4): {4.0, 5.0(t)} {empty}
 *     compact(5): {5.0(t)} {empty}
 *     compact(6): {empty}            -> the key index is removed
 *
 * Invariants: the last generation is the current one (empty when the key is deleted); every generation but
 * the last is non-empty and ends with a tombstone; revisions strictly increase across the whole key.
 *
 * Compaction never mutates a generation in place: it builds new arrays, so that the pre-compaction state can
 * be put back if the batch that ran it rolls back (see TreeIndex.compact).
 */

/**
 * Appends x to xs. Small arrays are copied at their exact size, because push() reserves 16+ spare slots
 * (~190 bytes instead of ~60 per array, measured) and most keys hold one or two revisions and generations.
 */
function append<T>(xs: T[], x: T): T[] {
  if (xs.length >= 8) {
    xs.push(x);
    return xs;
  }
  return xs.concat([x]);
}

/** One lifetime of a key. `mains[i]`/`subs[i]` are its revisions in increasing order. */
export class Generation {
  constructor(
    /** Number of puts in this generation, counting those compacted away: the version of its newest put. */
    public ver: number,
    /** Main revision of the put that created this generation (0 when unknown: restored from a lone tombstone). */
    public created: number,
    public mains: number[],
    public subs: number[],
  ) {}

  static empty(): Generation {
    return new Generation(0, 0, [], []);
  }

  get isEmpty(): boolean {
    return this.mains.length === 0;
  }

  /** Index of the last revision with main <= atRev, or -1. */
  findRevisionIndex(atRev: number): number {
    const mains = this.mains;
    let lo = 0;
    let hi = mains.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if ((mains[mid] as number) <= atRev) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }
}

/** A set of revisions (the "keep" set of compaction and HashKV). */
export class RevSet {
  private readonly byMain = new Map<number, number[]>();
  private n = 0;

  add(main: number, sub: number): void {
    const subs = this.byMain.get(main);
    if (subs === undefined) this.byMain.set(main, [sub]);
    else if (!subs.includes(sub)) subs.push(sub);
    else return;
    this.n++;
  }

  delete(main: number, sub: number): void {
    const subs = this.byMain.get(main);
    if (subs === undefined) return;
    const i = subs.indexOf(sub);
    if (i < 0) return;
    subs.splice(i, 1);
    if (subs.length === 0) this.byMain.delete(main);
    this.n--;
  }

  has(main: number, sub: number): boolean {
    const subs = this.byMain.get(main);
    return subs !== undefined && subs.includes(sub);
  }

  get size(): number {
    return this.n;
  }
}

/** What a point lookup at some revision found. */
export interface KeyAtRev {
  /** The revision holding the key's value at that point. */
  readonly modMain: number;
  readonly modSub: number;
  /** create_revision of the key's current generation. */
  readonly created: number;
  readonly version: number;
}

export class KeyIndex {
  /** The newest revision ever applied to this key (put or tombstone). */
  modMain = 0;
  modSub = 0;
  gens: Generation[] = [];

  constructor(
    /**
     * The key as a latin1 string: one char per byte, so JS string order is byte order. (The key's bytes
     * are `Buffer.from(keyStr, 'latin1')`; no Buffer is kept, which would pin a slab of Node's pool.)
     */
    readonly keyStr: string,
  ) {}

  /** True when the key has no revision at all (only an empty generation): it must leave the tree. */
  get isEmpty(): boolean {
    return this.gens.length === 1 && (this.gens[0] as Generation).isEmpty;
  }

  /** True when the key currently exists (its current generation is non-empty). */
  get isLive(): boolean {
    const last = this.gens[this.gens.length - 1];
    return last !== undefined && !last.isEmpty;
  }

  /** Appends a put at {main, sub}, which must be newer than every revision of the key. */
  put(main: number, sub: number): void {
    if (main < this.modMain || (main === this.modMain && sub <= this.modSub)) {
      throw new Error(`mvcc: put at ${main}.${sub} is not after ${this.modMain}.${this.modSub} for key ${JSON.stringify(this.keyStr)}`);
    }
    if (this.gens.length === 0) this.gens = [Generation.empty()];
    const g = this.gens[this.gens.length - 1] as Generation;
    if (g.isEmpty) g.created = main;
    g.mains = append(g.mains, main);
    g.subs = append(g.subs, sub);
    g.ver++;
    this.modMain = main;
    this.modSub = sub;
  }

  /** Appends a tombstone and opens a new generation. Returns false (and changes nothing) if the key is not live. */
  tombstone(main: number, sub: number): boolean {
    if (!this.isLive) return false;
    this.put(main, sub);
    this.gens = append(this.gens, Generation.empty());
    return true;
  }

  /** Undoes the last `put` (whose previous modified revision was prevMain.prevSub). */
  unput(prevMain: number, prevSub: number): void {
    const g = this.gens[this.gens.length - 1] as Generation;
    g.mains.pop();
    g.subs.pop();
    g.ver--;
    if (g.isEmpty) g.created = 0;
    this.modMain = prevMain;
    this.modSub = prevSub;
  }

  /** Undoes the last `tombstone`. */
  untombstone(prevMain: number, prevSub: number): void {
    this.gens.pop();
    this.unput(prevMain, prevSub);
  }

  /** Restore from the backend: the first revision seen for this key is a put whose kv says created/version. */
  restore(created: number, main: number, sub: number, version: number): void {
    this.gens = [new Generation(version, created, [main], [sub])];
    this.modMain = main;
    this.modSub = sub;
  }

  /** Restore from the backend: the first revision seen for this key is a tombstone (its creation was compacted). */
  restoreTombstone(main: number, sub: number): void {
    this.restore(0, main, sub, 1);
    this.gens = [this.gens[0] as Generation, Generation.empty()];
  }

  /** The generation that holds the key at `atRev`, or undefined when the key did not exist then. */
  private findGeneration(atRev: number): Generation | undefined {
    const last = this.gens.length - 1;
    for (let gi = last; gi >= 0; gi--) {
      const g = this.gens[gi] as Generation;
      if (g.isEmpty) continue;
      // A finished generation whose tombstone is at or before atRev: the key was deleted at atRev.
      if (gi !== last && (g.mains[g.mains.length - 1] as number) <= atRev) return undefined;
      if ((g.mains[0] as number) <= atRev) return g;
    }
    return undefined;
  }

  /** The key's state at `atRev`, or undefined when it did not exist then (or that history was compacted). */
  get(atRev: number): KeyAtRev | undefined {
    const g = this.findGeneration(atRev);
    if (g === undefined) return undefined;
    const n = g.findRevisionIndex(atRev);
    if (n < 0) return undefined;
    return {
      modMain: g.mains[n] as number,
      modSub: g.subs[n] as number,
      created: g.created,
      version: g.ver - (g.mains.length - n - 1),
    };
  }

  /**
   * etcd's doCompact: the index of the first generation that still matters at atRev (one that ends at or after
   * atRev, or the current one) and the index in it of the newest revision <= atRev (-1 if none), which is the
   * revision compaction keeps.
   */
  private findCompactPoint(atRev: number): { genIdx: number; revIdx: number } {
    let genIdx = 0;
    while (genIdx < this.gens.length - 1) {
      const g = this.gens[genIdx] as Generation;
      const tomb = g.mains[g.mains.length - 1] as number;
      // etcd stops at the first generation whose tombstone is >= atRev. One txn may also delete a key and
      // put it again (etcd's API refuses such txns, this store does not): then a tombstone exactly at atRev
      // is followed by a generation that starts at atRev too, and that newer generation is the one to keep.
      const next = this.gens[genIdx + 1] as Generation;
      if (tomb > atRev || (tomb === atRev && (next.isEmpty || (next.mains[0] as number) > atRev))) break;
      genIdx++;
    }
    return { genIdx, revIdx: (this.gens[genIdx] as Generation).findRevisionIndex(atRev) };
  }

  /**
   * Compacts at atRev, adding the kept revision (if any) to `keep`. Replaces `gens` with a new array and
   * never mutates the old generations, so the caller can restore `gens` to undo.
   */
  compact(atRev: number, keep: RevSet): void {
    const { genIdx, revIdx } = this.findCompactPoint(atRev);
    const g = this.gens[genIdx] as Generation;
    if (revIdx >= 0) keep.add(g.mains[revIdx] as number, g.subs[revIdx] as number);
    const trim = revIdx > 0; // revIdx > 0 implies g is non-empty
    if (genIdx === 0 && !trim) return; // nothing to drop: leave the arrays alone
    const gens = this.gens.slice(genIdx);
    if (trim) gens[0] = new Generation(g.ver, g.created, g.mains.slice(revIdx), g.subs.slice(revIdx));
    this.gens = gens;
  }

  /**
   * etcd's keep: the revision compaction at atRev would keep, except a tombstone that ends a finished
   * generation (HashKV leaves those out so hashes agree with etcd versions that deleted them).
   */
  keep(atRev: number, keep: RevSet): void {
    if (this.isEmpty) return;
    const { genIdx, revIdx } = this.findCompactPoint(atRev);
    if (revIdx < 0) return;
    const g = this.gens[genIdx] as Generation;
    if (revIdx === g.mains.length - 1 && genIdx !== this.gens.length - 1) return;
    keep.add(g.mains[revIdx] as number, g.subs[revIdx] as number);
  }
}
