/**
 * Unit tests of the membership change machinery (confchange/changer.ts and confchange/restore.ts), driving a
 * ProgressTracker directly: no Raft instance, no log. Scenarios follow the facts of etcd-io/raft's
 * confchange/testdata (simple_*, joint_*, zero), written out as assertions.
 *
 * Notation used by the helpers: "v1 l2 r3 u4" = add voter 1, add learner 2, remove 3, update 4.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SeededRng } from '../../src/base/rng.js';
import { Changer, type ChangeResult } from '../../src/server/raft/confchange/changer.js';
import { restoreConfState } from '../../src/server/raft/confchange/restore.js';
import {
  type ConfChangeSingle,
  ConfChangeType,
  type ConfState,
  ErrInvalidConfChange,
  type NodeId,
  ProgressState,
} from '../../src/server/raft/index.js';
import { ProgressTracker, sortIds } from '../../src/server/raft/tracker/tracker.js';

// ---- helpers ------------------------------------------------------------------------------------------------

const typeByLetter: Record<string, ConfChangeType> = {
  v: ConfChangeType.AddNode,
  l: ConfChangeType.AddLearnerNode,
  r: ConfChangeType.RemoveNode,
  u: ConfChangeType.UpdateNode,
};

/** Parses "v1 l2 r3 u4" into conf change operations. */
function ccs(spec: string): ConfChangeSingle[] {
  return spec
    .split(/\s+/)
    .filter((t) => t.length > 0)
    .map((tok) => {
      const type = typeByLetter[tok[0] as string];
      if (type === undefined) throw new Error(`bad change token ${tok}`);
      return { type, nodeId: BigInt(tok.slice(1)) };
    });
}

function newTracker(): ProgressTracker {
  return new ProgressTracker(256, 0);
}

type Op = { kind: 'simple'; spec: string } | { kind: 'enter'; spec: string; autoLeave: boolean } | { kind: 'leave' };

/** Computes a change with the Changer and makes it active, as Raft.applyConfChange does. */
function apply(trk: ProgressTracker, lastIndex: number, op: Op): ConfState {
  const c = new Changer(trk, lastIndex);
  let r: ChangeResult;
  if (op.kind === 'simple') r = c.simple(ccs(op.spec));
  else if (op.kind === 'enter') r = c.enterJoint(op.autoLeave, ccs(op.spec));
  else r = c.leaveJoint();
  trk.setConfig(r.config, r.progress);
  return trk.confState();
}

const simple = (spec: string): Op => ({ kind: 'simple', spec });
const enter = (spec: string, autoLeave = false): Op => ({ kind: 'enter', spec, autoLeave });
const leave: Op = { kind: 'leave' };

/** A ConfState with sorted ids (what tracker.confState() returns). */
function cs(
  voters: number[],
  opts: { learners?: number[]; outgoing?: number[]; learnersNext?: number[]; autoLeave?: boolean } = {},
): ConfState {
  const big = (xs: number[] = []) => sortIds(xs.map((x) => BigInt(x)));
  return {
    voters: big(voters),
    learners: big(opts.learners),
    votersOutgoing: big(opts.outgoing),
    learnersNext: big(opts.learnersNext),
    autoLeave: opts.autoLeave ?? false,
  };
}

/** A validator for assert.throws: an ErrInvalidConfChange whose message matches `re`. */
function refused(re: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof ErrInvalidConfChange, `expected ErrInvalidConfChange, got ${String(err)}`);
    assert.match(err.message, re);
    return true;
  };
}

/** Progress fields that matter, per id, ascending: a deep, order-independent picture of the tracker. */
function dump(trk: ProgressTracker): unknown {
  return {
    config: trk.config.toString(),
    confState: trk.confState(),
    progress: sortIds(trk.progress.keys()).map((id) => {
      const pr = trk.progress.get(id);
      assert.ok(pr !== undefined);
      return {
        id,
        match: pr.match,
        next: pr.next,
        state: pr.state,
        isLearner: pr.isLearner,
        recentActive: pr.recentActive,
        pendingSnapshot: pr.pendingSnapshot,
        paused: pr.msgAppFlowPaused,
      };
    }),
  };
}

function progressOf(trk: ProgressTracker, id: number): { next: number; match: number; isLearner: boolean } {
  const pr = trk.progress.get(BigInt(id));
  assert.ok(pr !== undefined, `no progress for ${id} in ${trk.config}`);
  return pr;
}

/** Checks the tracker invariants of tracker.ts: the membership sets and progress map agree with each other. */
function checkTrackerInvariants(trk: ProgressTracker, ctx: string): void {
  const inc = trk.config.voters.incoming.voters;
  const out = trk.config.voters.outgoing.voters;
  const lrn = trk.config.learners;
  const nxt = trk.config.learnersNext;
  const members = new Set<NodeId>([...inc, ...out, ...lrn]);
  assert.deepEqual(sortIds(trk.progress.keys()), sortIds(members), `${ctx}: progress ids must be exactly the members`);
  for (const id of lrn) {
    assert.ok(!inc.has(id) && !out.has(id), `${ctx}: learner ${id} is also a voter`);
    assert.equal(trk.progress.get(id)?.isLearner, true, `${ctx}: learner ${id} not marked as learner`);
  }
  for (const id of nxt) {
    assert.ok(out.has(id), `${ctx}: learnersNext ${id} is not an outgoing voter`);
    assert.ok(!inc.has(id), `${ctx}: learnersNext ${id} is an incoming voter`);
  }
  for (const id of [...inc, ...out]) {
    assert.equal(trk.progress.get(id)?.isLearner, false, `${ctx}: voter ${id} marked as learner`);
  }
  if (out.size === 0) {
    assert.equal(nxt.size, 0, `${ctx}: learnersNext outside a joint config`);
    assert.equal(trk.config.autoLeave, false, `${ctx}: autoLeave outside a joint config`);
  }
}

// ---- simple changes -----------------------------------------------------------------------------------------

describe('confchange: simple changes (thesis §4.1, one voter at a time)', () => {
  test('voters and learners can be added one change at a time; new members are probed from the last index', () => {
    const trk = newTracker();
    assert.deepEqual(apply(trk, 0, simple('v1')), cs([1]));
    assert.equal(progressOf(trk, 1).next, 1, 'lastIndex 0 must still give next >= 1');
    assert.deepEqual(apply(trk, 1, simple('v2 l3')), cs([1, 2], { learners: [3] }), 'one voter plus any number of learners');
    assert.deepEqual(apply(trk, 7, simple('l4 l5')), cs([1, 2], { learners: [3, 4, 5] }));
    assert.equal(progressOf(trk, 4).next, 7, 'a new learner is probed from the last index');
    assert.equal(progressOf(trk, 4).match, 0);
    assert.equal(progressOf(trk, 4).isLearner, true);
    assert.equal(progressOf(trk, 2).next, 1, 'existing members keep their progress');
    checkTrackerInvariants(trk, 'after adds');
  });

  test('removing voters and learners one at a time; removed members lose their progress', () => {
    const trk = newTracker();
    apply(trk, 0, simple('v1'));
    apply(trk, 0, simple('v2'));
    apply(trk, 0, simple('v3 l4 l5'));
    assert.deepEqual(apply(trk, 3, simple('r3')), cs([1, 2], { learners: [4, 5] }));
    assert.equal(trk.progress.has(3n), false, 'removed voter keeps a progress entry');
    assert.deepEqual(apply(trk, 3, simple('r4 r5')), cs([1, 2]), 'any number of learners can be removed at once');
    assert.equal(trk.progress.has(4n) || trk.progress.has(5n), false, 'removed learners keep a progress entry');
    checkTrackerInvariants(trk, 'after removals');
  });

  test('promoting a learner to voter keeps its progress (it is not reset)', () => {
    const trk = newTracker();
    apply(trk, 0, simple('v1'));
    apply(trk, 3, simple('l2'));
    const pr = trk.progress.get(2n);
    assert.ok(pr !== undefined);
    pr.match = 2;
    pr.next = 3;
    assert.deepEqual(apply(trk, 9, simple('v2')), cs([1, 2]));
    assert.equal(progressOf(trk, 2).isLearner, false, 'promoted node is still marked as learner');
    assert.equal(progressOf(trk, 2).match, 2, 'promotion reset match');
    assert.equal(progressOf(trk, 2).next, 3, 'promotion reset next (should not restart from the last index 9)');
    checkTrackerInvariants(trk, 'after promotion');
  });

  test('demoting a voter to learner keeps its progress', () => {
    const trk = newTracker();
    apply(trk, 0, simple('v1'));
    apply(trk, 0, simple('v2'));
    apply(trk, 1, simple('v3'));
    const pr = trk.progress.get(2n);
    assert.ok(pr !== undefined);
    pr.match = 4;
    pr.next = 5;
    assert.deepEqual(apply(trk, 9, simple('l2')), cs([1, 3], { learners: [2] }));
    assert.equal(progressOf(trk, 2).isLearner, true);
    assert.equal(progressOf(trk, 2).match, 4, 'demotion reset match');
    assert.equal(progressOf(trk, 2).next, 5, 'demotion reset next');
    // Demote and promote (and the reverse) in one change: pointless but allowed, and nets out.
    assert.deepEqual(apply(trk, 9, simple('v2 l2')), cs([1, 3], { learners: [2] }));
    assert.deepEqual(apply(trk, 9, simple('l1 v1')), cs([1, 3], { learners: [2] }));
    checkTrackerInvariants(trk, 'after demotion');
  });

  test('simple changes are idempotent: re-adding a member or removing an absent one changes nothing', () => {
    const trk = newTracker();
    apply(trk, 0, simple('v1'));
    assert.deepEqual(apply(trk, 1, simple('v1')), cs([1]));
    apply(trk, 2, simple('v2'));
    assert.deepEqual(apply(trk, 3, simple('l1')), cs([2], { learners: [1] }));
    assert.deepEqual(apply(trk, 4, simple('l1')), cs([2], { learners: [1] }));
    assert.deepEqual(apply(trk, 5, simple('r1')), cs([2]));
    assert.deepEqual(apply(trk, 6, simple('r1')), cs([2]));
    assert.deepEqual(apply(trk, 7, simple('r4')), cs([2]), 'removing a node that was never a member');
    assert.deepEqual(apply(trk, 8, simple('u2')), cs([2]), 'UpdateNode does not change membership');
  });

  test('changes naming node 0 are ignored', () => {
    const trk = newTracker();
    assert.deepEqual(apply(trk, 0, simple('v1 r0 v0 l0')), cs([1]));
    assert.equal(trk.progress.has(0n), false, 'node 0 got a progress entry');
  });

  test('more than one voter changed in a simple change is refused', () => {
    const trk = newTracker();
    apply(trk, 0, simple('v1'));
    apply(trk, 1, simple('v2 l3'));
    for (const spec of ['r1 v5', 'v3 v4', 'l1 v5', 'v4 v5', 'r1 l2 v3 v4']) {
      assert.throws(() => apply(trk, 5, simple(spec)), refused(/more than one voter changed/), `simple ${spec}`);
    }
    assert.deepEqual(trk.confState(), cs([1, 2], { learners: [3] }), 'a refused change altered the config');
  });

  test('removing all voters is refused', () => {
    const empty = newTracker();
    assert.throws(() => apply(empty, 0, simple('l1')), refused(/removed all voters/), 'a learner-only config');
    const one = newTracker();
    apply(one, 0, simple('v1'));
    assert.throws(() => apply(one, 1, simple('r1')), refused(/removed all voters/), 'removing the only voter');
    assert.throws(() => apply(one, 1, simple('l1')), refused(/removed all voters/), 'demoting the only voter');
    const two = newTracker();
    apply(two, 0, simple('v1'));
    apply(two, 0, simple('v2'));
    assert.throws(() => apply(two, 1, simple('r1 r2')), refused(/removed all voters/));
    assert.throws(() => apply(two, 1, simple('l1 l2')), refused(/removed all voters/));
  });
});

// ---- joint consensus ----------------------------------------------------------------------------------------

describe('confchange: joint consensus (thesis §4.3)', () => {
  test('entering a joint config with autoLeave: old voters become the outgoing half; leaving drops it', () => {
    const trk = newTracker();
    apply(trk, 0, simple('v1'));
    assert.deepEqual(apply(trk, 1, enter('v2 v3', true)), cs([1, 2, 3], { outgoing: [1], autoLeave: true }));
    assert.equal(trk.config.voters.isJoint, true);
    assert.equal(trk.config.toString(), 'voters=(1 2 3)&&(1) autoleave');
    checkTrackerInvariants(trk, 'joint');
    assert.deepEqual(apply(trk, 2, leave), cs([1, 2, 3]), 'leave-joint must clear outgoing and autoLeave');
    checkTrackerInvariants(trk, 'left');
  });

  test('entering a joint config without autoLeave (explicit) and leaving it explicitly', () => {
    const trk = newTracker();
    apply(trk, 0, simple('v1'));
    apply(trk, 0, simple('v2'));
    apply(trk, 0, simple('v3'));
    // Replace 3 with 4 and add a learner in one step.
    assert.deepEqual(apply(trk, 5, enter('r3 v4 l5')), cs([1, 2, 4], { outgoing: [1, 2, 3], learners: [5] }));
    assert.equal(trk.progress.has(3n), true, 'an outgoing voter must keep its progress while joint (it still votes)');
    assert.equal(trk.config.autoLeave, false);
    assert.deepEqual(apply(trk, 6, leave), cs([1, 2, 4], { learners: [5] }));
    assert.equal(trk.progress.has(3n), false, 'the removed voter keeps its progress after leaving the joint config');
    checkTrackerInvariants(trk, 'left');
  });

  test('a voter demoted while joint sits in learnersNext and becomes a learner, keeping its progress, on leave', () => {
    const trk = newTracker();
    apply(trk, 0, simple('v1'));
    const pr1 = trk.progress.get(1n);
    assert.ok(pr1 !== undefined);
    pr1.match = 3;
    pr1.next = 4;
    assert.deepEqual(apply(trk, 5, enter('v2 l1')), cs([2], { outgoing: [1], learnersNext: [1] }));
    assert.equal(progressOf(trk, 1).isLearner, false, 'an outgoing voter must not be a learner while joint');
    assert.deepEqual(apply(trk, 6, leave), cs([2], { learners: [1] }));
    assert.equal(progressOf(trk, 1).isLearner, true);
    assert.equal(progressOf(trk, 1).match, 3, 'progress of the demoted voter was reset');
    assert.equal(progressOf(trk, 1).next, 4, 'progress of the demoted voter was reset');
    checkTrackerInvariants(trk, 'left');
  });

  test('operations when entering a joint config are idempotent (repeats and absent nodes)', () => {
    const trk = newTracker();
    apply(trk, 0, simple('v1'));
    assert.deepEqual(
      apply(trk, 0, enter('r1 r2 r9 v2 v3 v4 v2 v3 v4 l2 l2 r4 r4 l1 l1')),
      cs([3], { outgoing: [1], learners: [2], learnersNext: [1] }),
    );
    checkTrackerInvariants(trk, 'joint');
    assert.deepEqual(apply(trk, 0, leave), cs([3], { learners: [1, 2] }));
  });

  test('an empty enter-joint is allowed (the config is joint with itself)', () => {
    const trk = newTracker();
    apply(trk, 0, simple('v1'));
    assert.deepEqual(apply(trk, 0, enter('')), cs([1], { outgoing: [1] }));
    assert.deepEqual(apply(trk, 0, leave), cs([1]));
  });

  test('entering twice, leaving a non-joint config, simple changes while joint and zero-voter joint configs are refused', () => {
    const trk = newTracker();
    assert.throws(() => apply(trk, 0, leave), refused(/can't leave a non-joint config/));
    assert.throws(() => apply(trk, 0, enter('')), refused(/zero-voter/));
    assert.throws(() => apply(trk, 0, enter('v1')), refused(/zero-voter/), 'joint needs voters to begin with');
    apply(trk, 0, simple('v1'));
    assert.throws(() => apply(trk, 0, leave), refused(/can't leave a non-joint config/));
    assert.throws(() => apply(trk, 0, enter('r1')), refused(/removed all voters/), 'an incoming half with no voters');
    apply(trk, 0, enter('v2 v3', true));
    assert.throws(() => apply(trk, 0, enter('', false)), refused(/already joint/), 'enter twice, even with another autoLeave');
    assert.throws(() => apply(trk, 0, enter('v12')), refused(/already joint/));
    assert.throws(() => apply(trk, 0, simple('l15')), refused(/simple config change in joint config/));
    apply(trk, 0, leave);
    assert.throws(() => apply(trk, 0, leave), refused(/can't leave a non-joint config/), 'leave twice');
  });
});

// ---- refusals have no effect --------------------------------------------------------------------------------

describe('confchange: a refused change leaves the active config untouched', () => {
  function busyTracker(joint: boolean): ProgressTracker {
    const trk = newTracker();
    apply(trk, 0, simple('v1'));
    apply(trk, 0, simple('v2'));
    apply(trk, 0, simple('v3 l4'));
    if (joint) apply(trk, 4, enter('r3 v5 l2', true));
    // Give every progress non-default values, so that a reset or a shared mutation would show.
    let i = 0;
    trk.visit((_, pr) => {
      i++;
      pr.match = 10 + i;
      pr.next = 20 + i;
      pr.state = ProgressState.Replicate;
      pr.recentActive = i % 2 === 0;
      pr.msgAppFlowPaused = i % 2 === 1;
    });
    return trk;
  }

  const cases: { name: string; joint: boolean; op: Op }[] = [
    { name: 'two voters added', joint: false, op: simple('v5 v6') },
    { name: 'voter replaced', joint: false, op: simple('r1 v5') },
    { name: 'demote then add', joint: false, op: simple('l1 l4 v6') },
    { name: 'all voters removed', joint: false, op: simple('r1 r2 r3') },
    { name: 'all voters demoted', joint: false, op: simple('l1 l2 l3') },
    { name: 'leave non-joint', joint: false, op: leave },
    { name: 'enter joint removing everyone', joint: false, op: enter('r1 r2 r3 v7 r7') },
    { name: 'enter joint twice', joint: true, op: enter('v6') },
    { name: 'simple while joint', joint: true, op: simple('l6') },
  ];
  for (const c of cases) {
    test(`refused: ${c.name}`, () => {
      const trk = busyTracker(c.joint);
      const before = dump(trk);
      const configRef = trk.config;
      const progressRef = trk.progress;
      const prRefs = new Map(trk.progress);
      assert.throws(() => apply(trk, 30, c.op), ErrInvalidConfChange);
      assert.equal(trk.config, configRef, 'the active config object was replaced');
      assert.equal(trk.progress, progressRef, 'the active progress map was replaced');
      assert.deepEqual(dump(trk), before, 'the tracker changed after a refused change');
      for (const [id, pr] of prRefs) assert.equal(trk.progress.get(id), pr, `progress object of ${id} was replaced`);
    });
  }

  test('computing an accepted change does not touch the active config until it is made active', () => {
    const trk = busyTracker(false);
    const before = dump(trk);
    const r = new Changer(trk, 30).enterJoint(false, ccs('r3 v5 l1 l4 v4'));
    assert.deepEqual(dump(trk), before, 'Changer.enterJoint mutated the active tracker');
    assert.notEqual(r.progress, trk.progress, 'the result shares the active progress map');
    const r2 = new Changer(trk, 30).simple(ccs('l2 l6'));
    assert.deepEqual(dump(trk), before, 'Changer.simple mutated the active tracker');
    assert.equal(r2.progress.get(2n)?.isLearner, true);
    assert.equal(trk.progress.get(2n)?.isLearner, false, 'demotion leaked into the active progress');
  });
});

// ---- restore ------------------------------------------------------------------------------------------------

describe('confchange: restoring a config from a ConfState', () => {
  function restore(c: ConfState, lastIndex = 10): ProgressTracker {
    const trk = newTracker();
    const r = restoreConfState(trk, lastIndex, c);
    assert.equal(r.config, trk.config, 'restoreConfState must leave the tracker holding the result');
    return trk;
  }

  const cases: { name: string; in: ConfState; want?: ConfState }[] = [
    { name: 'empty', in: cs([]) },
    { name: 'single voter', in: cs([1]) },
    { name: 'plain voters', in: cs([1, 2, 3]) },
    { name: 'voters and learners', in: cs([1, 2, 3], { learners: [4, 5] }) },
    { name: 'joint', in: cs([1, 2, 4], { outgoing: [1, 2, 3] }) },
    { name: 'joint, autoLeave', in: cs([1, 2, 4], { outgoing: [1, 2, 3], autoLeave: true }) },
    { name: 'joint with disjoint halves', in: cs([4, 5, 6], { outgoing: [1, 2, 3] }) },
    {
      name: 'joint with learners and learnersNext',
      in: cs([1, 2, 3], { learners: [5], outgoing: [1, 2, 4, 6], learnersNext: [4] }),
    },
    {
      name: 'joint with learners and learnersNext, autoLeave',
      in: cs([2], { learners: [3, 7], outgoing: [1, 2], learnersNext: [1], autoLeave: true }),
    },
    {
      name: 'unsorted ids come back sorted',
      in: { voters: [3n, 1n, 2n], learners: [9n, 8n], votersOutgoing: [], learnersNext: [], autoLeave: false },
      want: cs([1, 2, 3], { learners: [8, 9] }),
    },
  ];
  for (const c of cases) {
    test(`restore gives back an equivalent ConfState: ${c.name}`, () => {
      const trk = restore(c.in);
      assert.deepEqual(trk.confState(), c.want ?? c.in);
      checkTrackerInvariants(trk, c.name);
      for (const id of (c.want ?? c.in).learnersNext) {
        assert.equal(trk.progress.get(id)?.isLearner, false, `learnersNext ${id} must still be a voter (outgoing)`);
      }
    });
  }

  test('a restored joint config with learnersNext can be left, turning them into learners', () => {
    const trk = restore(cs([1, 2, 3], { learners: [5], outgoing: [1, 2, 4, 6], learnersNext: [4] }));
    assert.deepEqual(apply(trk, 10, leave), cs([1, 2, 3], { learners: [4, 5] }));
    assert.equal(trk.progress.has(6n), false);
    checkTrackerInvariants(trk, 'left');
  });

  test('restored members are probed from the given last index', () => {
    const trk = restore(cs([1, 2], { learners: [3] }), 42);
    for (const id of [1, 2, 3]) assert.equal(progressOf(trk, id).next, 42, `next of ${id}`);
  });
});

// ---- randomized ---------------------------------------------------------------------------------------------

/**
 * Random sequences of changes, checked against a small model of what each should do, and after every accepted
 * change, restoring the resulting ConfState must reproduce the same config. Refused changes must leave the
 * tracker as it was. Set CONFCHANGE_SEED to replay one seed.
 */
describe('confchange: randomized sequences of changes', () => {
  const maxId = 6;
  type Role = 'voter' | 'learner' | 'none';

  function randomChanges(rng: SeededRng, n: number): ConfChangeSingle[] {
    const types = [ConfChangeType.AddNode, ConfChangeType.AddLearnerNode, ConfChangeType.RemoveNode, ConfChangeType.UpdateNode];
    const out: ConfChangeSingle[] = [];
    for (let i = 0; i < n; i++) {
      // Node 0 now and then: such changes must be ignored.
      const nodeId = rng.int(20) === 0 ? 0n : BigInt(1 + rng.int(maxId));
      out.push({ type: types[rng.int(types.length)] as ConfChangeType, nodeId });
    }
    return out;
  }

  /** The roles in the incoming config after applying `changes` in order, starting from the active config. */
  function modelRoles(trk: ProgressTracker, changes: ConfChangeSingle[]): Map<NodeId, Role> {
    const roles = new Map<NodeId, Role>();
    for (let i = 1; i <= maxId; i++) {
      const id = BigInt(i);
      const inc = trk.config.voters.incoming.has(id);
      const lrn = trk.config.learners.has(id) || trk.config.learnersNext.has(id);
      roles.set(id, inc ? 'voter' : lrn ? 'learner' : 'none');
    }
    for (const c of changes) {
      if (c.nodeId === 0n) continue;
      if (c.type === ConfChangeType.AddNode) roles.set(c.nodeId, 'voter');
      else if (c.type === ConfChangeType.AddLearnerNode) roles.set(c.nodeId, 'learner');
      else if (c.type === ConfChangeType.RemoveNode) roles.set(c.nodeId, 'none');
    }
    return roles;
  }

  function votersOf(roles: Map<NodeId, Role>): NodeId[] {
    return sortIds([...roles].filter(([, r]) => r === 'voter').map(([id]) => id));
  }

  function runSeed(seed: number, steps: number): { accepted: number; joint: number } {
    const rng = new SeededRng(seed);
    const trk = newTracker();
    let accepted = 0;
    let jointEntered = 0;
    let lastIndex = 0;
    for (let step = 0; step < steps; step++) {
      lastIndex += rng.int(3);
      const ctx = `seed ${seed} step ${step}`;
      const isJoint = trk.config.voters.isJoint;
      const before = trk.confState();
      const beforeDump = dump(trk);
      const pick = rng.int(10);
      let kind: 'simple' | 'enter' | 'leave';
      if (isJoint) kind = pick < 6 ? 'leave' : pick < 8 ? 'simple' : 'enter';
      else kind = pick < 6 ? 'simple' : pick < 9 ? 'enter' : 'leave';
      const changes = randomChanges(rng, kind === 'simple' ? 1 + rng.int(2) : rng.int(5));
      const autoLeave = rng.int(2) === 0;
      const desc = `${ctx}: ${kind}${kind === 'enter' ? `(autoLeave=${autoLeave})` : ''} ${changes
        .map((c) => `${'vrul'[c.type]}${c.nodeId}`)
        .join(' ')} on ${trk.config}`;

      // What the model expects.
      const roles = modelRoles(trk, changes);
      const newVoters = votersOf(roles);
      let expectRefused: boolean;
      if (kind === 'leave') {
        expectRefused = !isJoint;
      } else if (kind === 'enter') {
        expectRefused = isJoint || before.voters.length === 0 || newVoters.length === 0;
      } else {
        const old = new Set(before.voters);
        const diff = newVoters.filter((id) => !old.has(id)).length + before.voters.filter((id) => !newVoters.includes(id)).length;
        expectRefused = isJoint || newVoters.length === 0 || diff > 1;
      }

      const c = new Changer(trk, lastIndex);
      let r: ChangeResult | undefined;
      try {
        r = kind === 'simple' ? c.simple(changes) : kind === 'enter' ? c.enterJoint(autoLeave, changes) : c.leaveJoint();
      } catch (err) {
        if (!(err instanceof ErrInvalidConfChange)) throw new Error(`${desc}: unexpected error`, { cause: err });
      }
      assert.equal(r === undefined, expectRefused, `${desc}: refused=${r === undefined}, model says refused=${expectRefused}`);
      if (r === undefined) {
        assert.deepEqual(dump(trk), beforeDump, `${desc}: a refused change altered the tracker`);
        continue;
      }
      trk.setConfig(r.config, r.progress);
      accepted++;
      const after = trk.confState();
      checkTrackerInvariants(trk, desc);

      // The model's expectations of the result.
      if (kind === 'leave') {
        assert.deepEqual(after.voters, before.voters, `${desc}: leave changed the incoming voters`);
        assert.deepEqual(after.learners, sortIds([...before.learners, ...before.learnersNext]), `${desc}: learners after leave`);
        assert.deepEqual(after.votersOutgoing, [], `${desc}`);
      } else {
        assert.deepEqual(after.voters, newVoters, `${desc}: incoming voters`);
        const learnerIds = [...roles].filter(([, x]) => x === 'learner').map(([id]) => id);
        if (kind === 'enter') {
          jointEntered++;
          assert.deepEqual(after.votersOutgoing, before.voters, `${desc}: outgoing must be the old voters`);
          assert.equal(after.autoLeave, autoLeave, `${desc}: autoLeave`);
          const old = new Set(before.voters);
          assert.deepEqual(after.learnersNext, sortIds(learnerIds.filter((id) => old.has(id))), `${desc}: learnersNext`);
          assert.deepEqual(after.learners, sortIds(learnerIds.filter((id) => !old.has(id))), `${desc}: learners`);
        } else {
          assert.deepEqual(after.learners, sortIds(learnerIds), `${desc}: learners`);
        }
      }

      // Restoring the ConfState reproduces the config.
      const restored = newTracker();
      try {
        restoreConfState(restored, lastIndex, after);
      } catch (err) {
        throw new Error(`${desc}: restore of ${JSON.stringify(after, (_, v: unknown) => (typeof v === 'bigint' ? `${v}` : v))} failed`, {
          cause: err,
        });
      }
      assert.deepEqual(restored.confState(), after, `${desc}: restored ConfState differs`);
      assert.equal(restored.config.toString(), trk.config.toString(), `${desc}: restored config differs`);
      assert.deepEqual(sortIds(restored.progress.keys()), sortIds(trk.progress.keys()), `${desc}: restored progress ids differ`);
      for (const [id, pr] of trk.progress) {
        assert.equal(restored.progress.get(id)?.isLearner, pr.isLearner, `${desc}: restored isLearner of ${id} differs`);
      }
    }
    return { accepted, joint: jointEntered };
  }

  const envSeed = process.env.CONFCHANGE_SEED;
  const seeds = envSeed !== undefined ? [Number(envSeed)] : Array.from({ length: 30 }, (_, i) => 1000 + i);
  test(`random valid and invalid changes; restore(confState) reproduces every accepted config (seeds ${seeds[0]}..${seeds[seeds.length - 1]})`, () => {
    let accepted = 0;
    let joint = 0;
    for (const seed of seeds) {
      try {
        const r = runSeed(seed, 300);
        accepted += r.accepted;
        joint += r.joint;
      } catch (err) {
        // The seed is in every message; repeat it here so it cannot be missed. Replay: CONFCHANGE_SEED=<seed>.
        console.error(`confchange randomized test failed with seed ${seed} (replay with CONFCHANGE_SEED=${seed})`);
        throw err;
      }
    }
    // Guard against a generator that only produces refused changes.
    assert.ok(accepted > seeds.length * 60, `only ${accepted} accepted changes over ${seeds.length} seeds`);
    assert.ok(joint > seeds.length * 10, `only ${joint} joint configs entered over ${seeds.length} seeds`);
  });
});
