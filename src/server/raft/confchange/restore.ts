/**
 * Rebuilds a tracker configuration from a ConfState (at startup, or when a snapshot is applied), by
 * replaying changes through the `Changer` so the result passes the same checks as a live change.
 *
 * Worked example: voters=(1 2 3) learners=(5) votersOutgoing=(1 2 4 6) learnersNext=(4).
 * - outgoing steps, one simple change each: add 1, add 2, add 4, add 6 → config (1 2 4 6);
 * - then one enterJoint with: remove 1 2 4 6, add 1 2 3, add-learner 5, add-learner 4
 *   → (1 2 3)&&(1 2 4 6) learners=(5) learnersNext=(4), as described.
 * (Whether 5 was a learner before the joint config cannot be known, and does not matter.)
 */
import { ConfChangeType, type ConfChangeSingle, type ConfState } from '../raftpb.js';
import type { ProgressTracker } from '../tracker/tracker.js';
import { type ChangeResult, Changer } from './changer.js';

function toChanges(cs: ConfState): { outgoing: ConfChangeSingle[]; incoming: ConfChangeSingle[] } {
  const outgoing: ConfChangeSingle[] = cs.votersOutgoing.map((nodeId) => ({ type: ConfChangeType.AddNode, nodeId }));
  const incoming: ConfChangeSingle[] = [
    ...cs.votersOutgoing.map((nodeId) => ({ type: ConfChangeType.RemoveNode, nodeId })),
    ...cs.voters.map((nodeId) => ({ type: ConfChangeType.AddNode, nodeId })),
    ...cs.learners.map((nodeId) => ({ type: ConfChangeType.AddLearnerNode, nodeId })),
    ...cs.learnersNext.map((nodeId) => ({ type: ConfChangeType.AddLearnerNode, nodeId })),
  ];
  return { outgoing, incoming };
}

/**
 * Builds the config described by `cs` on top of `tracker` (which must be empty). The tracker is updated
 * step by step and holds the result when this returns.
 */
export function restoreConfState(tracker: ProgressTracker, lastIndex: number, cs: ConfState): ChangeResult {
  const { outgoing, incoming } = toChanges(cs);
  const step = (op: (c: Changer) => ChangeResult): void => {
    const r = op(new Changer(tracker, lastIndex));
    tracker.setConfig(r.config, r.progress);
  };
  if (outgoing.length === 0) {
    for (const cc of incoming) step((c) => c.simple([cc]));
  } else {
    // Build the outgoing half as a plain config first, then rotate it out while entering the joint config.
    for (const cc of outgoing) step((c) => c.simple([cc]));
    step((c) => c.enterJoint(cs.autoLeave, incoming));
  }
  return { config: tracker.config, progress: new Map(tracker.progress) };
}
