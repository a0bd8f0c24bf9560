import { JointConfig } from '../quorum/joint.js';
import { VoteResult } from '../quorum/quorum.js';
import type { ConfState, NodeId } from '../raftpb.js';
import type { Progress } from './progress.js';

/** Sorts node ids ascending (bigint ids cannot use the default string sort). */
export function sortIds(ids: Iterable<NodeId>): NodeId[] {
  return [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The active membership configuration.
 *
 * Invariants (checked by the changer before a config becomes active):
 * - learners and voters (of either half) are disjoint;
 * - every id in `learnersNext` is an outgoing voter (it becomes a learner when the joint config is left);
 * - outside a joint config `learnersNext` is empty and `autoLeave` is false.
 */
export class TrackerConfig {
  constructor(
    readonly voters: JointConfig = new JointConfig(),
    readonly learners: ReadonlySet<NodeId> = new Set(),
    readonly learnersNext: ReadonlySet<NodeId> = new Set(),
    readonly autoLeave = false,
  ) {}

  toString(): string {
    let s = `voters=${this.voters}`;
    if (this.learners.size > 0) s += ` learners=(${sortIds(this.learners).join(' ')})`;
    if (this.learnersNext.size > 0) s += ` learners_next=(${sortIds(this.learnersNext).join(' ')})`;
    if (this.autoLeave) s += ' autoleave';
    return s;
  }
}

/** The progress of every member of the config, keyed by id. */
export type ProgressMap = Map<NodeId, Progress>;

/**
 * Tracks the active configuration, the leader's view of each member's log, and the votes of a running
 * election.
 */
export class ProgressTracker {
  config = new TrackerConfig();
  private progressMap: ProgressMap = new Map();
  /** The progress ids in ascending order, so that every broadcast visits members in the same order. */
  private sortedIds: NodeId[] = [];
  private votes = new Map<NodeId, boolean>();

  constructor(
    readonly maxInflight: number,
    readonly maxInflightBytes: number,
  ) {}

  get progress(): ReadonlyMap<NodeId, Progress> {
    return this.progressMap;
  }

  /** Makes `config` and `progress` active. Both come from the changer, which has validated them. */
  setConfig(config: TrackerConfig, progress: ProgressMap): void {
    this.config = config;
    this.progressMap = progress;
    this.sortedIds = sortIds(progress.keys());
  }

  /** The active configuration as a ConfState (ids sorted). */
  confState(): ConfState {
    return {
      voters: this.config.voters.incoming.sorted(),
      votersOutgoing: this.config.voters.outgoing.sorted(),
      learners: sortIds(this.config.learners),
      learnersNext: sortIds(this.config.learnersNext),
      autoLeave: this.config.autoLeave,
    };
  }

  /** True when the config has exactly one voter and is not joint. */
  isSingleton(): boolean {
    return this.config.voters.incoming.size === 1 && !this.config.voters.isJoint;
  }

  /** The largest index acknowledged by a quorum of voters. */
  committed(): number {
    return this.config.voters.committedIndex((id) => this.progressMap.get(id)?.match);
  }

  /** Calls `fn` for every member (voters and learners) in ascending id order. */
  visit(fn: (id: NodeId, pr: Progress) => void): void {
    for (const id of this.sortedIds) {
      const pr = this.progressMap.get(id);
      if (pr !== undefined) fn(id, pr);
    }
  }

  /** Whether a quorum of voters has been recently active (the leader counts itself as active). */
  quorumActive(): boolean {
    const votes = new Map<NodeId, boolean>();
    this.visit((id, pr) => {
      if (!pr.isLearner) votes.set(id, pr.recentActive);
    });
    return this.config.voters.voteResult(votes) === VoteResult.Won;
  }

  /** Voter ids, ascending. */
  voterNodes(): NodeId[] {
    return sortIds(this.config.voters.ids());
  }

  /** Learner ids, ascending. */
  learnerNodes(): NodeId[] {
    return sortIds(this.config.learners);
  }

  resetVotes(): void {
    this.votes = new Map();
  }

  /** Records a vote from `id`; only the first vote of a node in an election counts. */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  /** Counts the votes received from voters of the config. */
  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const [id, pr] of this.progressMap) {
      if (pr.isLearner) continue;
      const v = this.votes.get(id);
      if (v === undefined) continue;
      if (v) granted++;
      else rejected++;
    }
    return { granted, rejected, result: this.config.voters.voteResult(this.votes) };
  }
}
