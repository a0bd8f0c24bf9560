import type { HardState, NodeId } from './raftpb.js';
import { type Raft, type SoftState, StateType } from './raft.js';
import { type ProgressState, progressStateName } from './tracker/progress.js';

/** A copy of the leader's view of one member. */
export interface ProgressStatus {
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  readonly stateName: string;
  readonly pendingSnapshot: number;
  readonly recentActive: boolean;
  readonly paused: boolean;
  readonly inflight: number;
  readonly isLearner: boolean;
}

export interface BasicStatus {
  readonly id: NodeId;
  readonly hardState: HardState;
  readonly softState: SoftState;
  readonly applied: number;
  readonly leadTransferee: NodeId;
}

export interface Status extends BasicStatus {
  /** The active configuration, e.g. `voters=(1 2 3)&&(1 2) learners=(4)`. */
  readonly config: string;
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  /** Per-member progress; only a leader tracks it (empty elsewhere). */
  readonly progress: ReadonlyMap<NodeId, ProgressStatus>;
}

export function basicStatus(r: Raft): BasicStatus {
  return {
    id: r.id,
    hardState: r.hardState(),
    softState: r.softState(),
    applied: r.raftLog.applied,
    leadTransferee: r.leadTransferee,
  };
}

export function status(r: Raft): Status {
  const progress = new Map<NodeId, ProgressStatus>();
  if (r.state === StateType.Leader) {
    r.trk.visit((id, pr) => {
      progress.set(id, {
        match: pr.match,
        next: pr.next,
        state: pr.state,
        stateName: progressStateName(pr.state),
        pendingSnapshot: pr.pendingSnapshot,
        recentActive: pr.recentActive,
        paused: pr.isPaused(),
        inflight: pr.inflights.count(),
        isLearner: pr.isLearner,
      });
    });
  }
  return {
    ...basicStatus(r),
    config: r.trk.config.toString(),
    voters: r.trk.voterNodes(),
    learners: r.trk.learnerNodes(),
    progress,
  };
}
