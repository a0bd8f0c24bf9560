/**
 * The stable storage raft reads from. raft never writes to it: the application persists what a Ready hands
 * it (entries, hard state, snapshot) and then makes it visible here, before calling `advance`.
 *
 * Failure policy: the storage errors below are part of the contract; any other error thrown by a method
 * makes the raft node inoperable (the application must stop it and restart from disk).
 */
import { entrySize } from './codec.js';
import { ErrCompacted, ErrSnapOutOfDate, ErrUnavailable, RaftInvariantError } from './errors.js';
import {
  type ConfState,
  type Entry,
  type HardState,
  type Snapshot,
  emptyBytes,
  emptyConfState,
  emptyHardState,
  newEntry,
} from './raftpb.js';

export interface InitialState {
  readonly hardState: HardState;
  readonly confState: ConfState;
}

export interface Storage {
  /** The persisted HardState and the ConfState of the last applied configuration (at startup). */
  initialState(): InitialState;

  /**
   * The entries in [lo, hi), in order. `maxSize` limits the total encoded size, but at least one entry is
   * returned when the range is not empty.
   * Throws ErrCompacted if `lo` is at or below the snapshot index. Raft never asks past the end of the log
   * (`hi > lastIndex() + 1`): implementations treat that as a broken invariant (RaftInvariantError).
   */
  entries(lo: number, hi: number, maxSize: number): Entry[];

  /**
   * The term of entry `i`, for `firstIndex() - 1 <= i <= lastIndex()`. The entry at `firstIndex() - 1` is
   * compacted, but its term is kept (from the snapshot) so that appends right after it can be checked.
   * Throws ErrCompacted below that range and ErrUnavailable above it.
   */
  term(i: number): number;

  /** The index of the last entry (the snapshot index if there are no entries after it). */
  lastIndex(): number;

  /** The index of the first entry that is still available (the snapshot index + 1). */
  firstIndex(): number;

  /**
   * The most recent snapshot. May throw ErrSnapshotTemporarilyUnavailable when one is being made; raft then
   * tries again later.
   */
  snapshot(): Snapshot;
}

/** Sums encoded entry sizes and keeps at least one entry: the size limit rule used for messages and Readys. */
export function limitSize(ents: Entry[], maxSize: number): Entry[] {
  if (ents.length <= 1) return ents;
  let size = entrySize(ents[0] as Entry);
  let limit = 1;
  for (; limit < ents.length; limit++) {
    size += entrySize(ents[limit] as Entry);
    if (size > maxSize) break;
  }
  return limit === ents.length ? ents : ents.slice(0, limit);
}

/**
 * A Storage held in memory. It is the raft log of the simulations and tests, and the in-memory half of the
 * real node (whose WAL makes the same data durable).
 *
 * Representation: `ents[0]` is a dummy entry carrying the snapshot's index and term; `ents[i]` has index
 * `ents[0].index + i`.
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = emptyHardState;
  private snap: Snapshot;
  private ents: Entry[] = [newEntry(0, 0)];

  /**
   * @param confState the configuration of a new group, as if carried by a snapshot at index 0 (how
   *   members of a freshly bootstrapped group, and tests, start). Omit it for a node that joins an
   *   existing group: it learns the configuration from the leader.
   */
  constructor(confState: ConfState = emptyConfState) {
    this.snap = { data: emptyBytes, metadata: { confState, index: 0, term: 0 } };
  }

  /** A storage whose log holds `entries` right after an empty snapshot (test convenience). */
  static withEntries(entries: readonly Entry[], confState?: ConfState): MemoryStorage {
    const s = new MemoryStorage(confState);
    s.append(entries);
    return s;
  }

  initialState(): InitialState {
    return { hardState: this.hardState, confState: this.snap.metadata.confState };
  }

  /** Saves the current HardState. */
  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  private offset(): number {
    return (this.ents[0] as Entry).index;
  }

  entries(lo: number, hi: number, maxSize: number): Entry[] {
    const offset = this.offset();
    if (lo <= offset) throw new ErrCompacted();
    if (hi > this.lastIndex() + 1) {
      throw new RaftInvariantError(`raft: entries' hi(${hi}) is out of bound lastindex(${this.lastIndex()})`);
    }
    if (this.ents.length === 1) throw new ErrUnavailable(); // only the dummy entry
    return limitSize(this.ents.slice(lo - offset, hi - offset), maxSize);
  }

  term(i: number): number {
    const offset = this.offset();
    if (i < offset) throw new ErrCompacted();
    const e = this.ents[i - offset];
    if (e === undefined) throw new ErrUnavailable();
    return e.term;
  }

  lastIndex(): number {
    return this.offset() + this.ents.length - 1;
  }

  firstIndex(): number {
    return this.offset() + 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /**
   * Replaces the contents with a snapshot received from the leader. Throws ErrSnapOutOfDate if it is not
   * newer than the one held.
   */
  applySnapshot(snap: Snapshot): void {
    if (this.snap.metadata.index >= snap.metadata.index) throw new ErrSnapOutOfDate();
    this.snap = snap;
    this.ents = [newEntry(snap.metadata.index, snap.metadata.term)];
  }

  /**
   * Records a snapshot of the state machine at applied index `i` (which must be in the log), so that the log
   * before it can be compacted and lagging followers can be sent it. Returns the snapshot.
   */
  createSnapshot(i: number, cs: ConfState | undefined, data: Uint8Array): Snapshot {
    if (i <= this.snap.metadata.index) throw new ErrSnapOutOfDate();
    const offset = this.offset();
    if (i > this.lastIndex()) {
      throw new RaftInvariantError(`raft: snapshot ${i} is out of bound lastindex(${this.lastIndex()})`);
    }
    const confState = cs ?? this.snap.metadata.confState;
    this.snap = { data, metadata: { index: i, term: (this.ents[i - offset] as Entry).term, confState } };
    return this.snap;
  }

  /**
   * Discards the entries before `compactIndex` (which keeps its term, as the new dummy). The application
   * must not compact past its applied index or past the last snapshot it can serve.
   */
  compact(compactIndex: number): void {
    const offset = this.offset();
    if (compactIndex <= offset) throw new ErrCompacted();
    if (compactIndex > this.lastIndex()) {
      throw new RaftInvariantError(`raft: compact ${compactIndex} is out of bound lastindex(${this.lastIndex()})`);
    }
    const i = compactIndex - offset;
    const dummy = newEntry(compactIndex, (this.ents[i] as Entry).term);
    const rest = this.ents.slice(i + 1);
    rest.unshift(dummy);
    this.ents = rest;
  }

  /**
   * Appends entries handed out by a Ready. Entries must be contiguous; those overlapping the existing log
   * replace it from their first index on (a follower's conflicting tail is truncated). Entries already
   * compacted are skipped.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = (entries[entries.length - 1] as Entry).index;
    if (last < first) return; // everything is already compacted
    let from = 0;
    if (first > (entries[0] as Entry).index) from = first - (entries[0] as Entry).index;
    const start = (entries[from] as Entry).index;
    const offset = start - this.offset();
    if (offset > this.ents.length) {
      throw new RaftInvariantError(`raft: missing log entry [last: ${this.lastIndex()}, append at: ${start}]`);
    }
    if (offset < this.ents.length) this.ents.length = offset; // truncate the conflicting tail
    for (let i = from; i < entries.length; i++) this.ents.push(entries[i] as Entry);
  }
}
