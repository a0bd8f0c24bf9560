/**
 * The raft log as the protocol sees it: stable storage, followed by the unstable tail, plus the commit and
 * apply cursors.
 *
 * Invariants: applied <= applying <= committed <= lastIndex; firstIndex - 1 <= committed (a snapshot counts
 * as committed).
 */
import { entrySize } from './codec.js';
import { ErrCompacted, ErrUnavailable, RaftInvariantError } from './errors.js';
import { UnstableLog } from './log-unstable.js';
import type { Entry, Snapshot } from './raftpb.js';
import { type Storage, limitSize } from './storage.js';

export class RaftLog {
  readonly unstable: UnstableLog;
  /** The highest index known to be committed (stored on a quorum). */
  committed: number;
  /** The highest index handed to the application for applying (in a Ready not yet advanced). */
  applying: number;
  /** The highest index the application has applied. */
  applied: number;

  /**
   * @param maxApplyingEntsSize the most bytes of committed entries handed out in one Ready.
   */
  constructor(
    readonly storage: Storage,
    readonly maxApplyingEntsSize: number,
  ) {
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new UnstableLog(last + 1);
    // Everything up to the snapshot is committed and applied by definition.
    this.committed = first - 1;
    this.applying = first - 1;
    this.applied = first - 1;
  }

  toString(): string {
    return `committed=${this.committed}, applied=${this.applied}, applying=${this.applying}, unstable.offset=${this.unstable.offset}, unstable.entries=${this.unstable.entries.length}`;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): number {
    const t = this.maybeTerm(this.lastIndex());
    if (t === undefined) throw new RaftInvariantError(`raft: unexpected error when getting the last term`);
    return t;
  }

  /**
   * The term of entry `i`, or undefined if `i` is outside [firstIndex - 1, lastIndex] (compacted or not
   * there yet).
   */
  maybeTerm(i: number): number | undefined {
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    if (i + 1 < this.firstIndex() || i > this.lastIndex()) return undefined;
    try {
      return this.storage.term(i);
    } catch (err) {
      if (err instanceof ErrCompacted || err instanceof ErrUnavailable) return undefined;
      throw err;
    }
  }

  /** The term of entry `i`; throws ErrCompacted or ErrUnavailable outside the log. */
  term(i: number): number {
    const t = this.maybeTerm(i);
    if (t !== undefined) return t;
    if (i + 1 < this.firstIndex()) throw new ErrCompacted();
    throw new ErrUnavailable();
  }

  matchTerm(i: number, term: number): boolean {
    return this.maybeTerm(i) === term;
  }

  /**
   * Whether a log ending at (lastIndex, term) is at least as up to date as ours (Raft §5.4.1): a later last
   * term wins; with equal last terms, the longer log wins.
   */
  isUpToDate(lastIndex: number, term: number): boolean {
    const ourTerm = this.lastTerm();
    return term > ourTerm || (term === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * The follower side of AppendEntries (§5.3): if our log has (index, logTerm), append `ents` after it,
   * truncating a conflicting tail, and advance the commit index. Returns the index of the last new entry,
   * or undefined if the consistency check failed.
   */
  maybeAppend(index: number, logTerm: number, committed: number, ents: readonly Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      if (ci <= this.committed) {
        throw new RaftInvariantError(`raft: entry ${ci} conflicts with committed entry [committed(${this.committed})]`);
      }
      this.append(ents.slice(ci - (index + 1)));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  /** Appends entries (replacing any tail they overlap) and returns the new last index. */
  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = (ents[0] as Entry).index - 1;
    if (after < this.committed) {
      throw new RaftInvariantError(`raft: after(${after}) is out of range [committed(${this.committed})]`);
    }
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /**
   * The index of the first entry of `ents` that is not in our log with the same term: a conflict if it
   * is within our log, otherwise the first new entry. 0 if every entry is already present.
   */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * A guess of where our log stops matching a log that has term `term` at `index`: the largest index <=
   * `index` whose term is <= `term` (or whose term is unknown because it is compacted). Returns the index
   * and its term (0 if unknown). This lets the leader skip a whole term of divergent entries per round trip.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (; index > 0; index--) {
      const t = this.maybeTerm(index);
      if (t === undefined) return { index, term: 0 };
      if (t <= term) return { index, term: t };
    }
    return { index: 0, term: 0 };
  }

  commitTo(toCommit: number): void {
    if (this.committed >= toCommit) return; // never decrease the commit index
    if (this.lastIndex() < toCommit) {
      throw new RaftInvariantError(
        `raft: tocommit(${toCommit}) is out of range [lastIndex(${this.lastIndex()})]. Was the raft log corrupted, truncated, or lost?`,
      );
    }
    this.committed = toCommit;
  }

  /**
   * Commits `maxIndex` if it holds an entry of `term`: a leader only counts replicas for entries of its own
   * term (§5.4.2, the Figure 8 rule); earlier entries are committed indirectly.
   */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.maybeTerm(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  appliedTo(i: number): void {
    if (i === 0) return;
    if (this.committed < i || i < this.applied) {
      throw new RaftInvariantError(`raft: applied(${i}) is out of range [prevApplied(${this.applied}), committed(${this.committed})]`);
    }
    this.applied = i;
    if (this.applying < i) this.applying = i;
  }

  acceptApplying(i: number): void {
    if (this.committed < i) throw new RaftInvariantError(`raft: applying(${i}) is past committed(${this.committed})`);
    this.applying = i;
  }

  stableTo(i: number, t: number): void {
    this.unstable.stableTo(i, t);
  }

  stableSnapTo(i: number): void {
    this.unstable.stableSnapTo(i);
  }

  /** Unstable entries to persist in the next Ready. */
  nextUnstableEntries(): readonly Entry[] {
    return this.unstable.entries;
  }

  hasNextUnstableSnapshot(): boolean {
    return this.unstable.snapshot !== undefined;
  }

  /**
   * Whether committed entries are waiting to be applied. None are handed out while a snapshot is pending:
   * it must be applied first, and it replaces them.
   */
  hasNextCommittedEntries(): boolean {
    if (this.unstable.snapshot !== undefined) return false;
    return this.applying < this.committed;
  }

  /** The next committed entries to apply, limited to `maxApplyingEntsSize` bytes (at least one entry). */
  nextCommittedEntries(): Entry[] {
    if (!this.hasNextCommittedEntries()) return [];
    const lo = Math.max(this.applying + 1, this.firstIndex());
    const hi = this.committed + 1;
    if (lo >= hi) return [];
    return this.slice(lo, hi, this.maxApplyingEntsSize);
  }

  /** The snapshot to send to a follower: a pending one, else the storage's. */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  /** Replaces the log with a snapshot from the leader; its index is committed by definition. */
  restore(s: Snapshot): void {
    this.committed = s.metadata.index;
    this.unstable.restore(s);
  }

  /** Entries from `i` on, limited to `maxSize` bytes. Throws ErrCompacted if `i` is compacted. */
  entries(i: number, maxSize: number): Entry[] {
    if (i > this.lastIndex()) return [];
    return this.slice(i, this.lastIndex() + 1, maxSize);
  }

  /** Every entry from firstIndex on (tests and debugging). */
  allEntries(): Entry[] {
    return this.entries(this.firstIndex(), Number.POSITIVE_INFINITY);
  }

  /**
   * The entries in [lo, hi), limited to `maxSize` bytes (at least one), read from storage and then the
   * unstable tail. Throws ErrCompacted if `lo` is compacted.
   */
  slice(lo: number, hi: number, maxSize: number): Entry[] {
    this.checkBounds(lo, hi);
    if (lo === hi) return [];
    const u = this.unstable;
    if (lo >= u.offset) return limitSize(u.slice(lo, hi), maxSize);
    const cut = Math.min(hi, u.offset);
    let ents: Entry[];
    try {
      ents = this.storage.entries(lo, cut, maxSize);
    } catch (err) {
      if (err instanceof ErrUnavailable) {
        throw new RaftInvariantError(`raft: entries[${lo}:${cut}) is unavailable from storage`, { cause: err });
      }
      throw err;
    }
    if (hi <= u.offset) return ents;
    // Storage stopped early because of the size limit: do not add unstable entries after a gap.
    if (ents.length < cut - lo) return ents;
    let size = 0;
    for (const e of ents) size += entrySize(e);
    if (size >= maxSize) return ents;
    const tail = limitSize(u.slice(u.offset, hi), maxSize - size);
    if (tail.length === 1 && size + entrySize(tail[0] as Entry) > maxSize) return ents;
    return ents.concat(tail);
  }

  private checkBounds(lo: number, hi: number): void {
    if (lo > hi) throw new RaftInvariantError(`raft: invalid slice ${lo} > ${hi}`);
    const fi = this.firstIndex();
    if (lo < fi) throw new ErrCompacted();
    const li = this.lastIndex();
    if (hi > li + 1) throw new RaftInvariantError(`raft: slice[${lo},${hi}) out of bound [${fi},${li}]`);
  }
}
