/**
 * Membership changes computed off to the side: every method returns a new configuration and progress map
 * and leaves the active ones untouched, so an invalid change is refused before it has any effect.
 *
 * Three operations, as in etcd-io/raft:
 * - `simple`: at most one voter added or removed (any number of learner changes), outside a joint config.
 * - `enterJoint`: the old voters become the outgoing half, the changes are applied to the incoming half;
 *   decisions then need a majority of both (Raft thesis §4.3).
 * - `leaveJoint`: drop the outgoing half; outgoing voters listed in learnersNext become learners.
 */
import { ErrInvalidConfChange } from '../errors.js';
import { JointConfig } from '../quorum/joint.js';
import { MajorityConfig } from '../quorum/majority.js';
import { ConfChangeType, type ConfChangeSingle, type NodeId } from '../raftpb.js';
import { Inflights } from '../tracker/inflights.js';
import { Progress } from '../tracker/progress.js';
import { type ProgressMap, type ProgressTracker, TrackerConfig } from '../tracker/tracker.js';

export interface ChangeResult {
  readonly config: TrackerConfig;
  readonly progress: ProgressMap;
}

/** A mutable working copy of a config while a change is applied to it. */
interface Draft {
  incoming: Set<NodeId>;
  outgoing: Set<NodeId>;
  learners: Set<NodeId>;
  learnersNext: Set<NodeId>;
  autoLeave: boolean;
  progress: ProgressMap;
}

export class Changer {
  /**
   * @param tracker the active configuration and progress (read only).
   * @param lastIndex the leader's last log index: new members start being probed from there.
   */
  constructor(
    private readonly tracker: ProgressTracker,
    private readonly lastIndex: number,
  ) {}

  /** Enters a joint configuration with `changes` applied to the incoming half. */
  enterJoint(autoLeave: boolean, changes: readonly ConfChangeSingle[]): ChangeResult {
    const d = this.draft();
    if (d.outgoing.size > 0) throw new ErrInvalidConfChange('raft: config is already joint');
    if (d.incoming.size === 0) {
      // A config with no voters cannot make decisions, so there is nothing to be joint with.
      throw new ErrInvalidConfChange("raft: can't make a zero-voter config joint");
    }
    d.outgoing = new Set(d.incoming);
    this.apply(d, changes);
    d.autoLeave = autoLeave;
    return finish(d);
  }

  /** Leaves a joint configuration: the incoming half becomes the whole config. */
  leaveJoint(): ChangeResult {
    const d = this.draft();
    if (d.outgoing.size === 0) throw new ErrInvalidConfChange("raft: can't leave a non-joint config");
    for (const id of d.learnersNext) {
      d.learners.add(id);
      (d.progress.get(id) as Progress).isLearner = true;
    }
    d.learnersNext.clear();
    for (const id of d.outgoing) {
      if (!d.incoming.has(id) && !d.learners.has(id)) d.progress.delete(id);
    }
    d.outgoing.clear();
    d.autoLeave = false;
    return finish(d);
  }

  /**
   * Applies changes that alter at most one voter, outside a joint config: with one voter changed, any two
   * majorities of the old and new configs intersect, so no joint phase is needed (Raft thesis §4.1).
   */
  simple(changes: readonly ConfChangeSingle[]): ChangeResult {
    const d = this.draft();
    if (d.outgoing.size > 0) throw new ErrInvalidConfChange("raft: can't apply simple config change in joint config");
    this.apply(d, changes);
    const before = this.tracker.config.voters.incoming.voters;
    let changed = 0;
    for (const id of before) if (!d.incoming.has(id)) changed++;
    for (const id of d.incoming) if (!before.has(id)) changed++;
    if (changed > 1) throw new ErrInvalidConfChange('raft: more than one voter changed without entering joint config');
    return finish(d);
  }

  private draft(): Draft {
    const cfg = this.tracker.config;
    const progress: ProgressMap = new Map();
    for (const [id, pr] of this.tracker.progress) progress.set(id, pr.clone());
    const d: Draft = {
      incoming: new Set(cfg.voters.incoming.voters),
      outgoing: new Set(cfg.voters.outgoing.voters),
      learners: new Set(cfg.learners),
      learnersNext: new Set(cfg.learnersNext),
      autoLeave: cfg.autoLeave,
      progress,
    };
    // Refuse to build on a config that is already broken: that would hide the original mistake.
    checkInvariants(d);
    return d;
  }

  private apply(d: Draft, changes: readonly ConfChangeSingle[]): void {
    for (const cc of changes) {
      // An id of 0 marks a change the application decided not to make (etcd zeroes refused changes).
      if (cc.nodeId === 0n) continue;
      switch (cc.type) {
        case ConfChangeType.AddNode:
          this.makeVoter(d, cc.nodeId);
          break;
        case ConfChangeType.AddLearnerNode:
          this.makeLearner(d, cc.nodeId);
          break;
        case ConfChangeType.RemoveNode:
          remove(d, cc.nodeId);
          break;
        case ConfChangeType.UpdateNode:
          // Address changes are the application's business; membership is unchanged.
          break;
        default:
          throw new ErrInvalidConfChange(`raft: unexpected conf change type ${String(cc.type)}`);
      }
    }
    if (d.incoming.size === 0) throw new ErrInvalidConfChange('raft: removed all voters');
  }

  private makeVoter(d: Draft, id: NodeId): void {
    const pr = d.progress.get(id);
    if (pr === undefined) {
      this.initProgress(d, id, false);
      return;
    }
    pr.isLearner = false;
    d.learners.delete(id);
    d.learnersNext.delete(id);
    d.incoming.add(id);
  }

  /**
   * Makes `id` a learner. A voter of the outgoing half cannot be a learner at the same time, so it goes to
   * learnersNext and becomes a learner when the joint config is left.
   */
  private makeLearner(d: Draft, id: NodeId): void {
    const pr = d.progress.get(id);
    if (pr === undefined) {
      this.initProgress(d, id, true);
      return;
    }
    if (pr.isLearner) return;
    remove(d, id);
    d.progress.set(id, pr); // keep its progress: it stays a member
    if (d.outgoing.has(id)) {
      d.learnersNext.add(id);
    } else {
      pr.isLearner = true;
      d.learners.add(id);
    }
  }

  private initProgress(d: Draft, id: NodeId, isLearner: boolean): void {
    if (isLearner) d.learners.add(id);
    else d.incoming.add(id);
    d.progress.set(
      id,
      new Progress({
        // Probe from the end of the log: a follower that already holds the log (restored out of band)
        // matches at once, an empty one rejects and is caught up by backtracking or a snapshot.
        next: Math.max(this.lastIndex, 1),
        match: 0,
        inflights: new Inflights(this.tracker.maxInflight, this.tracker.maxInflightBytes),
        isLearner,
        // A new member counts as active: otherwise CheckQuorum could depose the leader before the new
        // member has had a chance to answer.
        recentActive: true,
      }),
    );
  }
}

function remove(d: Draft, id: NodeId): void {
  if (!d.progress.has(id)) return;
  d.incoming.delete(id);
  d.learners.delete(id);
  d.learnersNext.delete(id);
  // An outgoing voter still votes until the joint config is left: keep its progress until then.
  if (!d.outgoing.has(id)) d.progress.delete(id);
}

function checkInvariants(d: Draft): void {
  for (const set of [d.incoming, d.outgoing, d.learners, d.learnersNext]) {
    for (const id of set) {
      if (!d.progress.has(id)) throw new ErrInvalidConfChange(`raft: no progress for ${id}`);
    }
  }
  for (const id of d.learnersNext) {
    if (!d.outgoing.has(id)) throw new ErrInvalidConfChange(`raft: ${id} is in learnersNext, but not outgoing`);
    if (d.progress.get(id)?.isLearner) throw new ErrInvalidConfChange(`raft: ${id} is in learnersNext, but is already marked as learner`);
  }
  for (const id of d.learners) {
    if (d.outgoing.has(id)) throw new ErrInvalidConfChange(`raft: ${id} is in learners and outgoing voters`);
    if (d.incoming.has(id)) throw new ErrInvalidConfChange(`raft: ${id} is in learners and incoming voters`);
    if (!d.progress.get(id)?.isLearner) throw new ErrInvalidConfChange(`raft: ${id} is in learners, but is not marked as learner`);
  }
  if (d.outgoing.size === 0) {
    if (d.learnersNext.size > 0) throw new ErrInvalidConfChange('raft: learnersNext must be empty when not joint');
    if (d.autoLeave) throw new ErrInvalidConfChange('raft: autoLeave must be false when not joint');
  }
}

function finish(d: Draft): ChangeResult {
  checkInvariants(d);
  const config = new TrackerConfig(
    new JointConfig(new MajorityConfig(d.incoming), new MajorityConfig(d.outgoing)),
    d.learners,
    d.learnersNext,
    d.autoLeave,
  );
  return { config, progress: d.progress };
}
