/**
 * The part of the log not yet in stable storage: entries appended since the last Ready was persisted, and
 * possibly a snapshot received from the leader that has not been persisted either.
 *
 * Invariant: `entries[i]` has index `offset + i`; if `snapshot` is set, `offset === snapshot.index + 1`
 * right after it was received (entries appended later follow it).
 */
import { RaftInvariantError } from './errors.js';
import type { Entry, Snapshot } from './raftpb.js';

export class UnstableLog {
  snapshot: Snapshot | undefined = undefined;
  entries: Entry[] = [];

  constructor(public offset: number) {}

  /** The first index, if a pending snapshot determines it. */
  maybeFirstIndex(): number | undefined {
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index + 1;
  }

  /** The last index, if this log holds entries or a snapshot. */
  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot?.metadata.index;
  }

  /** The term of entry `i`, if this log knows it. */
  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      const s = this.snapshot;
      return s !== undefined && s.metadata.index === i ? s.metadata.term : undefined;
    }
    return this.entries[i - this.offset]?.term;
  }

  /**
   * Entries up to (i, t) have been persisted: drop them. Ignored if the entry at i has since been replaced
   * (a newer leader overwrote it while the write was in progress).
   */
  stableTo(i: number, t: number): void {
    const gt = this.maybeTerm(i);
    if (gt === undefined || gt !== t || i < this.offset) return;
    this.entries = this.entries.slice(i + 1 - this.offset);
    this.offset = i + 1;
  }

  stableSnapTo(i: number): void {
    if (this.snapshot !== undefined && this.snapshot.metadata.index === i) this.snapshot = undefined;
  }

  restore(s: Snapshot): void {
    this.offset = s.metadata.index + 1;
    this.entries = [];
    this.snapshot = s;
  }

  /**
   * Appends `ents` (contiguous, non-empty). Entries from `ents[0].index` on are replaced; when that is before
   * `offset` the replacement also covers persisted entries, and storage truncates them when it receives
   * these ones.
   */
  truncateAndAppend(ents: readonly Entry[]): void {
    const after = (ents[0] as Entry).index;
    if (after === this.offset + this.entries.length) {
      for (const e of ents) this.entries.push(e);
    } else if (after <= this.offset) {
      this.offset = after;
      this.entries = ents.slice();
    } else {
      const kept = this.slice(this.offset, after);
      for (const e of ents) kept.push(e);
      this.entries = kept;
    }
  }

  /** The entries in [lo, hi), which must lie inside this log. */
  slice(lo: number, hi: number): Entry[] {
    const upper = this.offset + this.entries.length;
    if (lo > hi) throw new RaftInvariantError(`raft: invalid unstable.slice ${lo} > ${hi}`);
    if (lo < this.offset || hi > upper) {
      throw new RaftInvariantError(`raft: unstable.slice[${lo},${hi}) out of bound [${this.offset},${upper}]`);
    }
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
