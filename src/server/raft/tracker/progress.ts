import type { Inflights } from './inflights.js';

/**
 * How the leader currently replicates to a follower:
 * - Probe: the leader does not know where the follower's log matches its own; it sends one MsgApp at a
 *   time and waits for the answer (which either confirms the match or moves `next` back).
 * - Replicate: the logs are known to match up to `match`; the leader streams entries optimistically,
 *   advancing `next` as it sends, limited by the inflight window.
 * - Snapshot: the follower needs entries the leader has compacted; a snapshot is on its way and nothing
 *   else is sent until it is reported applied or failed.
 */
export const ProgressState = {
  Probe: 0,
  Replicate: 1,
  Snapshot: 2,
} as const;
export type ProgressState = (typeof ProgressState)[keyof typeof ProgressState];

const stateNames = ['StateProbe', 'StateReplicate', 'StateSnapshot'] as const;

export function progressStateName(s: ProgressState): string {
  return stateNames[s];
}

/**
 * The leader's view of one follower (or learner).
 *
 * Invariant: 0 <= match < next.
 */
export class Progress {
  /** The highest index known to be in the follower's log and equal to the leader's. */
  match: number;
  /** The index of the next entry to send. */
  next: number;
  state: ProgressState = ProgressState.Probe;
  /** In Snapshot state, the index of the snapshot in flight. */
  pendingSnapshot = 0;
  /**
   * The highest commit index sent to the follower (in a MsgApp or heartbeat). It lets the leader tell a
   * follower about a newer commit index at once, but only when that can change anything.
   */
  lastSentCommit = 0;
  /**
   * Whether the follower has been heard from since the last CheckQuorum round. A leader steps down when a
   * quorum is not recently active; it also does not send snapshots to followers that are not active.
   */
  recentActive: boolean;
  /**
   * Whether sending MsgApp is paused: in Probe, after one probe is out; in Replicate, when the inflight
   * window is full. Heartbeat responses clear it, so a lost message cannot stall replication forever.
   */
  msgAppFlowPaused = false;
  inflights: Inflights;
  isLearner: boolean;

  constructor(opts: { next: number; match?: number; inflights: Inflights; isLearner?: boolean; recentActive?: boolean }) {
    this.next = opts.next;
    this.match = opts.match ?? 0;
    this.inflights = opts.inflights;
    this.isLearner = opts.isLearner ?? false;
    this.recentActive = opts.recentActive ?? false;
  }

  /** A copy whose changes do not affect this one (the inflights window is shared, as it is replaced on use). */
  clone(): Progress {
    const p = new Progress({
      next: this.next,
      match: this.match,
      inflights: this.inflights,
      isLearner: this.isLearner,
      recentActive: this.recentActive,
    });
    p.state = this.state;
    p.pendingSnapshot = this.pendingSnapshot;
    p.lastSentCommit = this.lastSentCommit;
    p.msgAppFlowPaused = this.msgAppFlowPaused;
    return p;
  }

  private resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  /**
   * Back to probing. After a snapshot, probing resumes just past the snapshot (the follower has at least
   * that much if it applied it); otherwise just past the known match.
   */
  becomeProbe(): void {
    if (this.state === ProgressState.Snapshot) {
      const pending = this.pendingSnapshot;
      this.resetState(ProgressState.Probe);
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState(ProgressState.Probe);
      this.next = this.match + 1;
    }
    // What was sent beyond next - 1 may not have arrived: allow the commit index to be sent again.
    this.lastSentCommit = Math.min(this.lastSentCommit, this.next - 1);
  }

  becomeReplicate(): void {
    this.resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState(ProgressState.Snapshot);
    this.pendingSnapshot = snapshotIndex;
    this.next = snapshotIndex + 1;
    // The snapshot commits everything up to its index on the follower.
    this.lastSentCommit = snapshotIndex;
  }

  /**
   * Accounts for a MsgApp about to be sent with `entries` entries starting at `nextIndex`. In Replicate the
   * leader assumes delivery and moves `next` past them; in Probe one non-empty probe pauses the flow.
   */
  updateOnEntriesSend(entries: number, bytes: number, nextIndex: number): void {
    if (this.state === ProgressState.Replicate) {
      if (entries > 0) {
        const last = nextIndex + entries - 1;
        this.next = last + 1;
        this.inflights.add(last, bytes);
      }
      this.msgAppFlowPaused = this.inflights.full();
    } else if (this.state === ProgressState.Probe) {
      if (entries > 0) this.msgAppFlowPaused = true;
    } else {
      throw new Error(`raft: sending append in state ${progressStateName(this.state)}`);
    }
  }

  /**
   * Records that the follower's log matches up to `n`. Returns false for a stale acknowledgement (one that
   * tells nothing new).
   */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.msgAppFlowPaused = false;
    }
    if (this.next < n + 1) this.next = n + 1;
    return updated;
  }

  /**
   * Handles a rejected MsgApp whose previous index was `rejected`; `matchHint` is the follower's guess of
   * the last index where the logs can match. Returns false if the rejection is stale (it concerns a message
   * sent before the current state was reached) and must be ignored.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      // In Replicate, anything at or below match was already acknowledged: such a rejection is stale.
      if (rejected <= this.match) return false;
      // Otherwise the optimistic stream went wrong: restart from just past the match.
      this.next = this.match + 1;
      return true;
    }
    // In Probe only the answer to the probe we sent (at next-1) counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /** Records a commit index sent to the follower. */
  sentCommit(commit: number): void {
    if (commit > this.lastSentCommit) this.lastSentCommit = commit;
  }

  /**
   * Whether sending `commit` could advance the follower's commit index: it is newer than what was sent, and
   * what was sent did not already cover everything the follower is being sent (up to next - 1).
   */
  canBumpCommit(commit: number): boolean {
    return commit > this.lastSentCommit && this.lastSentCommit < this.next - 1;
  }

  /** Whether the leader should hold back MsgApp to this follower (heartbeats still go out). */
  isPaused(): boolean {
    return this.state === ProgressState.Snapshot ? true : this.msgAppFlowPaused;
  }

  toString(): string {
    let s = `${progressStateName(this.state)} match=${this.match} next=${this.next}`;
    if (this.isLearner) s += ' learner';
    if (this.isPaused()) s += ' paused';
    if (this.pendingSnapshot > 0) s += ` pendingSnap=${this.pendingSnapshot}`;
    if (!this.recentActive) s += ' inactive';
    const n = this.inflights.count();
    if (n > 0) {
      s += ` inflight=${n}`;
      if (this.inflights.full()) s += '[full]';
    }
    return s;
  }
}
