import type { NodeId } from '../raftpb.js';
import { type AckedIndexer, INFINITE_INDEX, VoteResult } from './quorum.js';

/** A plain majority configuration: decisions need more than half of `voters`. */
export class MajorityConfig {
  readonly voters: ReadonlySet<NodeId>;

  constructor(voters: Iterable<NodeId> = []) {
    this.voters = new Set(voters);
  }

  get size(): number {
    return this.voters.size;
  }

  has(id: NodeId): boolean {
    return this.voters.has(id);
  }

  /** The voter ids in ascending order (a stable order for messages and output). */
  sorted(): NodeId[] {
    return [...this.voters].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  toString(): string {
    return `(${this.sorted().join(' ')})`;
  }

  /**
   * The largest index acknowledged by a majority: sort the acked indexes and take the one a majority is at
   * or beyond. Voters with nothing acked count as 0. The empty config returns `INFINITE_INDEX`.
   */
  committedIndex(acked: AckedIndexer): number {
    const n = this.voters.size;
    if (n === 0) return INFINITE_INDEX;
    if (n === 1) {
      for (const id of this.voters) return acked(id) ?? 0;
    }
    const idx = new Array<number>(n);
    let i = 0;
    for (const id of this.voters) idx[i++] = acked(id) ?? 0;
    idx.sort((a, b) => a - b);
    // With n voters sorted ascending, the element at n - (n/2 + 1) is acked by n/2 + 1 voters (a majority).
    return idx[n - (Math.floor(n / 2) + 1)] as number;
  }

  /**
   * Tallies votes (`true` yes, `false` no, absent = not answered). The empty config wins, so that a joint
   * config with an empty half behaves like its other half.
   */
  voteResult(votes: ReadonlyMap<NodeId, boolean>): VoteResult {
    const n = this.voters.size;
    if (n === 0) return VoteResult.Won;
    let yes = 0;
    let missing = 0;
    for (const id of this.voters) {
      const v = votes.get(id);
      if (v === undefined) missing++;
      else if (v) yes++;
    }
    const q = Math.floor(n / 2) + 1;
    if (yes >= q) return VoteResult.Won;
    if (yes + missing >= q) return VoteResult.Pending;
    return VoteResult.Lost;
  }
}
