/**
 * Cluster membership changes (Raft paper §6, thesis §4) on Raft instances connected by the test Network.
 *
 * Conf changes are proposed as MsgProp carrying an EntryConfChange(V2) entry and take effect when applied:
 * the tests play the application, which after commit calls `applyConfChange` for each conf change entry and
 * then `appliedTo` (what RawNode.advance does).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type ConfChange,
  type ConfChangeSingle,
  ConfChangeTransition,
  ConfChangeType,
  type ConfChangeV2,
  type ConfState,
  type Entry,
  EntryType,
  ErrProposalDropped,
  type Message,
  MemoryStorage,
  MessageType,
  type Raft,
  RawNode,
  StateType,
  confChangeAsV2,
  decodeConfChange,
  decodeConfChangeV2,
  emptyBytes,
  encodeConfChange,
  encodeConfChangeV2,
  newEntry,
  newMessage,
} from '../../src/server/raft/index.js';
import { SeededRng } from '../../src/base/rng.js';
import { Network, enc, msg, newTestRaft, storageWithConfig, tickN } from '../sim/network.js';

// ---- helpers ------------------------------------------------------------------------------------------------

const v1 = (type: ConfChangeType, id: number): ConfChange => ({ type, nodeId: BigInt(id), context: emptyBytes, id: 0n });

const v2 = (transition: ConfChangeTransition, ...changes: [ConfChangeType, number][]): ConfChangeV2 => ({
  transition,
  changes: changes.map(([type, id]): ConfChangeSingle => ({ type, nodeId: BigInt(id) })),
  context: emptyBytes,
});

/** The empty ConfChangeV2: "leave the joint config". */
const leaveJoint: ConfChangeV2 = { transition: ConfChangeTransition.Auto, changes: [], context: emptyBytes };

/** The entry an application would propose for a conf change. */
function ccEntry(cc: ConfChange | ConfChangeV2): Entry {
  return 'changes' in cc
    ? newEntry(0, 0, encodeConfChangeV2(cc), EntryType.ConfChangeV2)
    : newEntry(0, 0, encodeConfChange(cc), EntryType.ConfChange);
}

/** A MsgProp of a conf change addressed to node `id` (by itself, as a local proposal). */
function propCC(id: number, cc: ConfChange | ConfChangeV2): Message {
  return msg(id, id, MessageType.MsgProp, { entries: [ccEntry(cc)] });
}

function entryAt(r: Raft, i: number): Entry {
  const e = r.raftLog.slice(i, i + 1, Number.POSITIVE_INFINITY)[0];
  assert.ok(e !== undefined, `node ${r.id} has no entry at ${i}`);
  return e;
}

function lastEntry(r: Raft): Entry {
  return entryAt(r, r.raftLog.lastIndex());
}

/**
 * Plays the application on `r`: applies every committed, unapplied entry (conf changes through
 * applyConfChange), then reports them applied. Returns the last ConfState produced, if any.
 */
function applyCommitted(r: Raft): ConfState | undefined {
  const lo = r.raftLog.applied + 1;
  const hi = r.raftLog.committed + 1;
  if (lo >= hi) return undefined;
  let last: ConfState | undefined;
  for (const e of r.raftLog.slice(lo, hi, Number.POSITIVE_INFINITY)) {
    if (e.type === EntryType.ConfChange) last = r.applyConfChange(confChangeAsV2(decodeConfChange(e.data)));
    else if (e.type === EntryType.ConfChangeV2) last = r.applyConfChange(decodeConfChangeV2(e.data));
  }
  r.appliedTo(hi - 1);
  return last;
}

/** Delivers what the given nodes have queued (e.g. probes after a config switch) and runs the network dry. */
function flush(nt: Network, ...ids: number[]): void {
  for (const id of ids) nt.send(...nt.raft(id).takeMessages());
}

/** A bare Raft of election 10 / heartbeat 1 over its own storage (test defaults: no pre-vote, no check-quorum). */
function node(id: number, voters: number[], learners: number[] = []): Raft {
  return newTestRaft(id, 10, 1, storageWithConfig(voters, learners));
}

const ids = (...n: number[]) => n.map((x) => BigInt(x));

function sentTypes(r: Raft): MessageType[] {
  return r.takeMessages().map((m) => m.type);
}

/**
 * Runs the cluster as applications would: every tick, each node ticks, its messages are delivered, and it
 * applies what it has committed (which may produce more messages). Stops when `done` holds; returns the
 * number of ticks taken, or -1 if `done` never held within `maxTicks`.
 */
function runUntil(nt: Network, nodes: number[], done: () => boolean, maxTicks: number): number {
  for (let t = 0; t <= maxTicks; t++) {
    if (done()) return t;
    for (const id of nodes) {
      const r = nt.raft(id);
      r.tick();
      nt.send(...r.takeMessages());
      applyCommitted(r);
      nt.send(...r.takeMessages());
    }
  }
  return done() ? maxTicks : -1;
}

// ---- adding and removing voters -----------------------------------------------------------------------------

describe('§6: adding and removing voters', () => {
  test('§6: a new voter started with an empty config gets a snapshot of the config and log from the leader and then counts for quorum', () => {
    const s1 = storageWithConfig([1, 2]);
    const n1 = newTestRaft(1, 10, 1, s1);
    const n2 = node(2, [1, 2]);
    const n3 = newTestRaft(3, 10, 1, new MemoryStorage());
    assert.equal(n3.promotable(), false, 'a node outside any config must not be promotable');
    const nt = new Network([n1, n2, n3]);
    nt.campaign(1);
    nt.propose(1, 'before');
    nt.send(propCC(1, v1(ConfChangeType.AddNode, 3)));
    const ccIndex = n1.raftLog.lastIndex();
    assert.equal(lastEntry(n1).type, EntryType.ConfChange);
    assert.equal(n1.raftLog.committed, ccIndex, 'the conf change did not commit with (1 2)');
    assert.deepEqual(applyCommitted(n1)?.voters, ids(1, 2, 3));
    applyCommitted(n2);

    // The leader persists its log and snapshots the applied state (config included), compacting the log:
    // node 3 can only be caught up by the snapshot.
    const ents = n1.raftLog.nextUnstableEntries();
    s1.append(ents);
    const lastEnt = ents[ents.length - 1];
    assert.ok(lastEnt !== undefined);
    n1.raftLog.stableTo(lastEnt.index, lastEnt.term);
    s1.createSnapshot(n1.raftLog.applied, n1.trk.confState(), enc('state'));
    s1.compact(n1.raftLog.applied);

    flush(nt, 1); // the probe sent when the config switched
    const snaps = nt.delivered.filter((m) => m.type === MessageType.MsgSnap && m.to === 3n);
    assert.equal(snaps.length, 1, 'node 3 should get exactly one snapshot');
    assert.deepEqual(n3.trk.confState().voters, ids(1, 2, 3), 'node 3 did not take the config from the snapshot');
    assert.equal(n3.raftLog.committed, ccIndex, 'node 3 commit index after the snapshot');
    assert.equal(n3.lead, 1n);
    assert.equal(n1.trk.progress.get(3n)?.match, ccIndex, 'leader does not know node 3 caught up');

    // With node 2 cut off, commits need node 3: (1 2 3) needs two acks.
    nt.isolate(2);
    nt.propose(1, 'after');
    assert.equal(n1.raftLog.committed, n1.raftLog.lastIndex(), 'node 3 did not count for quorum');
    assert.equal(n3.raftLog.lastIndex(), n1.raftLog.lastIndex(), 'node 3 did not receive the new entry');
  });

  test('§6: a new voter with an empty log is caught up from the leader log, entry by entry', () => {
    const n3 = newTestRaft(3, 10, 1, new MemoryStorage());
    const nt = new Network([node(1, [1, 2]), node(2, [1, 2]), n3]);
    nt.campaign(1);
    for (let i = 0; i < 3; i++) nt.propose(1, `e${i}`);
    nt.send(propCC(1, v1(ConfChangeType.AddNode, 3)));
    const n1 = nt.raft(1);
    applyCommitted(n1);
    assert.equal(n3.raftLog.lastIndex(), 0, 'node 3 got entries before it was added');
    flush(nt, 1);
    assert.deepEqual(n3.raftLog.allEntries(), n1.raftLog.allEntries(), 'node 3 log differs from the leader log');
    assert.equal(n3.raftLog.committed, n1.raftLog.committed);
    nt.isolate(2);
    nt.propose(1, 'needs 3');
    assert.equal(n1.raftLog.committed, n1.raftLog.lastIndex(), 'node 3 did not count for quorum');
  });

  test('§6: removing a voter recomputes the commit index: an entry waiting only for the removed node commits', () => {
    const r = node(1, [1, 2]);
    r.becomeCandidate();
    r.becomeLeader();
    r.step(propCC(1, v1(ConfChangeType.RemoveNode, 2)));
    const ccIndex = r.raftLog.lastIndex();
    r.step(msg(1, 1, MessageType.MsgProp, { entries: [newEntry(0, 0, enc('hello'))] }));
    r.takeMessages();
    assert.equal(r.raftLog.committed, 0, 'nothing can commit without node 2');
    // Node 2 acknowledges up to the conf change, not the entry after it.
    r.step(msg(2, 1, MessageType.MsgAppResp, { term: r.term, index: ccIndex }));
    assert.equal(r.raftLog.committed, ccIndex);
    applyCommitted(r);
    assert.deepEqual(r.trk.confState().voters, ids(1));
    assert.equal(r.raftLog.committed, ccIndex + 1, 'with node 2 gone, the leader alone must commit "hello"');
    assert.equal(new TextDecoder().decode(entryAt(r, ccIndex + 1).data), 'hello');
  });

  for (const [name, opts] of [
    ['checkQuorum and preVote on, the library defaults', { checkQuorum: true, preVote: true }],
    ['checkQuorum and preVote off', {}],
  ] as const) {
    test(`§6: a leader that applies its own removal stops taking proposals, hands leadership to a voter of the new config and steps down (${name})`, () => {
      const nt = new Network([null, null, null], opts);
      nt.campaign(1);
      const n1 = nt.raft(1);
      assert.equal(n1.state, StateType.Leader);
      const term = n1.term;
      nt.send(propCC(1, v1(ConfChangeType.RemoveNode, 1)));
      assert.equal(n1.raftLog.committed, n1.raftLog.lastIndex(), 'removal did not commit');
      assert.equal(n1.state, StateType.Leader, 'the leader must stay leader until it applies its removal');
      // The applications apply the committed removal (followers first here, as they may well do).
      for (const id of [2, 3, 1]) applyCommitted(nt.raft(id));
      assert.throws(
        () => n1.step(msg(1, 1, MessageType.MsgProp, { entries: [newEntry(0, 0, enc('x'))] })),
        ErrProposalDropped,
        'a removed leader accepted a proposal',
      );
      const out = n1.takeMessages();
      assert.ok(
        out.some((m) => m.type === MessageType.MsgTimeoutNow && (m.to === 2n || m.to === 3n)),
        'the removed leader did not hand leadership to a voter of the new config',
      );
      nt.send(...out);

      const newLeader = () => [2, 3].find((id) => nt.raft(id).state === StateType.Leader);
      const ticks = runUntil(nt, [1, 2, 3], () => newLeader() !== undefined && n1.state !== StateType.Leader, 3 * n1.electionTimeout);
      assert.notEqual(newLeader(), undefined, 'no voter of the new config became leader');
      assert.ok(ticks >= 0, `the removed leader was still leader (term ${n1.term}) after ${3 * n1.electionTimeout} ticks`);
      assert.equal(n1.state, StateType.Follower);
      const lead = nt.raft(newLeader() as number);
      assert.ok(lead.term > term);
      assert.deepEqual(lead.trk.confState().voters, ids(2, 3));
      assert.ok(
        !nt.delivered.some((m) => m.type === MessageType.MsgVote && m.from === 1n && m.term > term),
        'the removed node campaigned',
      );
      nt.propose(lead.id === 2n ? 2 : 3, 'new config');
      assert.equal(lead.raftLog.committed, lead.raftLog.lastIndex(), 'the new leader cannot commit with (2 3)');
    });
  }

  test('§6: a removed node does not campaign, neither on timeout nor on MsgHup', () => {
    const nt = new Network([null, null, null]);
    nt.campaign(1);
    nt.send(propCC(1, v1(ConfChangeType.RemoveNode, 3)));
    const n3 = nt.raft(3);
    assert.equal(n3.raftLog.committed, n3.raftLog.lastIndex(), 'node 3 did not learn the removal committed');
    applyCommitted(n3);
    assert.equal(n3.promotable(), false);
    const term = n3.term;
    tickN(n3, 100);
    n3.step(newMessage({ type: MessageType.MsgHup, from: 3n }));
    assert.equal(n3.state, StateType.Follower);
    assert.equal(n3.term, term, 'the removed node started an election');
    assert.deepEqual(sentTypes(n3), [], 'the removed node sent messages');
  });

  test('§6 / thesis §4.2.3: a removed server that never learned of its removal cannot disrupt the cluster (checkQuorum lease)', () => {
    const nt = new Network([null, null, null], { checkQuorum: true });
    nt.campaign(1);
    const n1 = nt.raft(1);
    nt.isolate(3);
    nt.send(propCC(1, v1(ConfChangeType.RemoveNode, 3)));
    assert.equal(n1.raftLog.committed, n1.raftLog.lastIndex(), 'the removal did not commit with 1 and 2');
    applyCommitted(n1);
    applyCommitted(nt.raft(2));
    nt.recover();
    const term = n1.term;
    const n3 = nt.raft(3);
    // Node 3 still believes it is a voter of (1 2 3): it times out and campaigns.
    for (let i = 0; i < 2 * n3.electionTimeout && n3.state !== StateType.Candidate; i++) n3.tick();
    assert.equal(n3.state, StateType.Candidate, 'setup: node 3 should campaign');
    nt.send(...n3.takeMessages());
    assert.equal(n1.state, StateType.Leader, 'the removed server deposed the leader');
    assert.equal(n1.term, term, 'the removed server raised the leader term');
    assert.equal(nt.raft(2).term, term, 'the removed server raised a follower term');
    nt.propose(1, 'still serving');
    assert.equal(n1.raftLog.committed, n1.raftLog.lastIndex());
  });

  test('§6: a leader demoted to learner stops leading once a voter of the new config takes over, and keeps following as a learner', () => {
    const nt = new Network([null, null, null]);
    nt.campaign(1);
    const n1 = nt.raft(1);
    nt.send(propCC(1, v1(ConfChangeType.AddLearnerNode, 1)));
    for (const id of [1, 2, 3]) applyCommitted(nt.raft(id));
    nt.send(...n1.takeMessages());
    assert.equal(n1.isLearner, true);
    assert.equal(n1.promotable(), false);
    const ticks = runUntil(nt, [1, 2, 3], () => n1.state === StateType.Follower && [2, 3].some((id) => nt.raft(id).state === StateType.Leader), 30);
    assert.ok(ticks >= 0, 'the demoted leader did not step down / no voter took over');
    const lead = [2, 3].find((id) => nt.raft(id).state === StateType.Leader) as number;
    assert.equal(n1.lead, BigInt(lead), 'the demoted node does not follow the new leader');
    nt.propose(lead, 'y');
    assert.equal(n1.raftLog.committed, n1.raftLog.lastIndex(), 'the learner does not receive the new leader entries');
  });
});

// ---- learners -----------------------------------------------------------------------------------------------

describe('thesis §4.2.1: learners (non-voting members)', () => {
  test('an added learner receives the log but its acks never count toward commit', () => {
    const n3 = newTestRaft(3, 10, 1, new MemoryStorage());
    const nt = new Network([node(1, [1, 2]), node(2, [1, 2]), n3]);
    nt.campaign(1);
    nt.send(propCC(1, v1(ConfChangeType.AddLearnerNode, 3)));
    const n1 = nt.raft(1);
    assert.deepEqual(applyCommitted(n1)?.learners, ids(3));
    flush(nt, 1);
    assert.deepEqual(n3.raftLog.allEntries(), n1.raftLog.allEntries(), 'the learner did not receive the log');

    const committed = n1.raftLog.committed;
    nt.isolate(2);
    nt.propose(1, 'x');
    assert.equal(n1.trk.progress.get(3n)?.match, n1.raftLog.lastIndex(), 'the learner did not acknowledge the entry');
    assert.equal(n1.raftLog.committed, committed, 'a learner ack counted toward commit');
    nt.recover();
    nt.propose(1, 'y');
    assert.equal(n1.raftLog.committed, n1.raftLog.lastIndex(), 'voters 1 and 2 must commit');
  });

  test('a learner never campaigns, on timeout or on MsgHup', () => {
    const n3 = node(3, [1, 2], [3]);
    assert.equal(n3.isLearner, true);
    tickN(n3, 100);
    n3.step(newMessage({ type: MessageType.MsgHup, from: 3n }));
    assert.equal(n3.state, StateType.Follower);
    assert.equal(n3.term, 0);
    assert.deepEqual(sentTypes(n3), [], 'the learner sent messages');
  });

  test('a vote from a node the candidate sees as a learner does not count', () => {
    const r = node(1, [1, 2], [3]);
    r.step(newMessage({ type: MessageType.MsgHup, from: 1n }));
    assert.equal(r.state, StateType.Candidate);
    r.takeMessages();
    r.step(msg(3, 1, MessageType.MsgVoteResp, { term: r.term }));
    assert.equal(r.state, StateType.Candidate, 'the learner vote made the candidate leader');
    r.step(msg(2, 1, MessageType.MsgVoteResp, { term: r.term }));
    assert.equal(r.state, StateType.Leader, 'votes of 1 and 2 are a majority of (1 2)');
  });

  test('a candidate does not ask learners for votes', () => {
    const r = node(1, [1, 2], [3]);
    r.step(newMessage({ type: MessageType.MsgHup, from: 1n }));
    const to = r
      .takeMessages()
      .filter((m) => m.type === MessageType.MsgVote)
      .map((m) => m.to);
    assert.deepEqual(to, ids(2));
  });

  test('a learner answers vote requests (it may be a voter in a config it has not applied yet)', () => {
    const n3 = node(3, [1, 2], [3]);
    n3.step(msg(1, 3, MessageType.MsgVote, { term: 2, index: 0, logTerm: 0 }));
    const resp = n3.takeMessages().filter((m) => m.type === MessageType.MsgVoteResp);
    assert.equal(resp.length, 1, 'the learner did not answer the vote request');
    assert.equal(resp[0]?.reject, false, 'the learner refused a vote for an up-to-date candidate');
    assert.equal(resp[0]?.to, 1n);
    assert.equal(n3.vote, 1n);
  });

  test('promoting a learner makes its acks count toward commit', () => {
    const spec = (id: number) => node(id, [1, 2], [3]);
    const nt = new Network([spec(1), spec(2), spec(3)]);
    nt.campaign(1);
    const n1 = nt.raft(1);
    nt.isolate(2);
    nt.propose(1, 'x');
    assert.ok(n1.raftLog.committed < n1.raftLog.lastIndex(), 'committed without node 2 while 3 is a learner');
    nt.recover();
    nt.send(propCC(1, v1(ConfChangeType.AddNode, 3)));
    assert.equal(n1.raftLog.committed, n1.raftLog.lastIndex());
    for (const id of [1, 2, 3]) applyCommitted(nt.raft(id));
    assert.deepEqual(n1.trk.confState().voters, ids(1, 2, 3));
    assert.deepEqual(n1.trk.confState().learners, []);
    assert.equal(nt.raft(3).isLearner, false);
    assert.equal(nt.raft(3).promotable(), true, 'the promoted node must be able to campaign');

    nt.isolate(2);
    nt.propose(1, 'y');
    assert.equal(n1.raftLog.committed, n1.raftLog.lastIndex(), 'the promoted node did not count toward commit');
  });
});

// ---- one conf change at a time ------------------------------------------------------------------------------

describe('thesis §4.1: only one conf change pending at a time', () => {
  test('a second conf change proposed before the first is applied is replaced by an empty normal entry; after applying, a new one is accepted', () => {
    const nt = new Network([null, null, null]);
    nt.campaign(1);
    const n1 = nt.raft(1);
    applyCommitted(n1);
    nt.send(propCC(1, v1(ConfChangeType.AddLearnerNode, 4)));
    const first = lastEntry(n1);
    assert.equal(first.type, EntryType.ConfChange, 'the first conf change was not appended as such');
    assert.equal(n1.pendingConfIndex, first.index);

    nt.send(propCC(1, v1(ConfChangeType.AddLearnerNode, 5)));
    const second = lastEntry(n1);
    assert.equal(second.index, first.index + 1);
    assert.equal(second.type, EntryType.Normal, 'the second conf change must be replaced by a normal entry');
    assert.equal(second.data.length, 0, 'the replacement entry must be empty');

    applyCommitted(n1);
    assert.deepEqual(n1.trk.confState().learners, ids(4));
    nt.send(propCC(1, v2(ConfChangeTransition.Auto, [ConfChangeType.AddLearnerNode, 5])));
    assert.equal(lastEntry(n1).type, EntryType.ConfChangeV2, 'a conf change after the first was applied was refused');
  });

  test('several conf changes in one proposal: only the first is kept', () => {
    const r = node(1, [1, 2, 3]);
    r.becomeCandidate();
    r.becomeLeader();
    const before = r.raftLog.lastIndex();
    r.step(
      msg(1, 1, MessageType.MsgProp, {
        entries: [ccEntry(v1(ConfChangeType.AddLearnerNode, 4)), ccEntry(v1(ConfChangeType.AddLearnerNode, 5))],
      }),
    );
    assert.equal(entryAt(r, before + 1).type, EntryType.ConfChange);
    assert.equal(entryAt(r, before + 2).type, EntryType.Normal, 'the second conf change of the batch was kept');
    assert.equal(r.pendingConfIndex, before + 1);
  });

  test('a new leader sets pendingConfIndex to its last index and refuses conf changes until it has applied it', () => {
    const nt = new Network([null, null, null]);
    nt.campaign(1);
    nt.propose(1, 'a');
    nt.propose(1, 'b');
    const n2 = nt.raft(2);
    const last = n2.raftLog.lastIndex();
    assert.equal(n2.raftLog.applied, 0, 'nothing applied yet on node 2');
    nt.campaign(2);
    assert.equal(n2.state, StateType.Leader);
    assert.equal(n2.pendingConfIndex, last, 'pendingConfIndex must be the last index before the new leader’s no-op');

    nt.send(propCC(2, v1(ConfChangeType.AddLearnerNode, 4)));
    assert.equal(lastEntry(n2).type, EntryType.Normal, 'a conf change was accepted before the old log was applied');

    applyCommitted(n2);
    nt.send(propCC(2, v1(ConfChangeType.AddLearnerNode, 4)));
    assert.equal(lastEntry(n2).type, EntryType.ConfChange, 'a conf change was refused after everything was applied');
  });
});

// ---- joint consensus ----------------------------------------------------------------------------------------

describe('thesis §4.3: joint consensus', () => {
  /** (1 2 3) with a fresh node 4 (empty storage), leader 1. */
  function cluster(opts: Parameters<typeof newTestRaft>[4] = {}): Network {
    const mk = (id: number) => newTestRaft(id, 10, 1, storageWithConfig([1, 2, 3]), opts);
    const nt = new Network([mk(1), mk(2), mk(3), newTestRaft(4, 10, 1, new MemoryStorage(), opts)]);
    nt.campaign(1);
    return nt;
  }

  /** Proposes replacing 3 by 4, commits it and applies it on the leader; returns the resulting ConfState. */
  function enterReplace3With4(nt: Network, transition: ConfChangeTransition): ConfState | undefined {
    const n1 = nt.raft(1);
    nt.send(propCC(1, v2(transition, [ConfChangeType.AddNode, 4], [ConfChangeType.RemoveNode, 3])));
    const e = lastEntry(n1);
    assert.equal(e.type, EntryType.ConfChangeV2, 'the joint conf change was refused');
    assert.equal(n1.raftLog.committed, e.index, 'the joint conf change did not commit');
    return applyCommitted(n1);
  }

  test('a ConfChangeV2 with several changes enters the joint config C_old,new: replace 3 with 4 in (1 2 3)', () => {
    const nt = cluster();
    const cs = enterReplace3With4(nt, ConfChangeTransition.JointExplicit);
    assert.deepEqual(cs?.voters, ids(1, 2, 4));
    assert.deepEqual(cs?.votersOutgoing, ids(1, 2, 3));
    assert.equal(cs?.autoLeave, false);
    assert.equal(nt.raft(1).trk.config.voters.isJoint, true);
  });

  test('while joint, commit needs a majority of both halves', () => {
    const nt = cluster();
    enterReplace3With4(nt, ConfChangeTransition.JointExplicit);
    flush(nt, 1);
    const n1 = nt.raft(1);
    assert.equal(nt.raft(4).raftLog.lastIndex(), n1.raftLog.lastIndex(), 'node 4 not caught up');

    // 1 and 4 are a majority of (1 2 4) but only 1 of (1 2 3) acks: not committed.
    nt.isolate(2);
    nt.isolate(3);
    nt.propose(1, 'x');
    const xIndex = n1.raftLog.lastIndex();
    assert.equal(n1.trk.progress.get(4n)?.match, xIndex, 'node 4 did not ack');
    assert.ok(n1.raftLog.committed < xIndex, 'committed with a majority of the incoming half only');

    // 1 and 3 are a majority of (1 2 3) but only 1 of (1 2 4): not committed either.
    nt.recover();
    nt.isolate(2);
    nt.isolate(4);
    nt.propose(1, 'y');
    const yIndex = n1.raftLog.lastIndex();
    assert.equal(n1.trk.progress.get(3n)?.match, yIndex, 'node 3 did not ack');
    assert.ok(n1.raftLog.committed < yIndex, 'committed with a majority of the outgoing half only');
    // x, though, now has 1 and 4 of the incoming half (from before) and 1 and 3 of the outgoing half.
    assert.equal(n1.raftLog.committed, xIndex, 'x has majorities of both halves and must be committed');

    // 1, 3 and 4: majorities of both.
    nt.recover();
    nt.isolate(2);
    nt.propose(1, 'z');
    assert.equal(n1.raftLog.committed, n1.raftLog.lastIndex(), 'majorities of both halves must commit');
  });

  for (const [name, transition, changes] of [
    ['Auto with two changes', ConfChangeTransition.Auto, [[ConfChangeType.AddNode, 4], [ConfChangeType.RemoveNode, 3]]],
    ['JointImplicit with one change', ConfChangeTransition.JointImplicit, [[ConfChangeType.AddNode, 4]]],
  ] as [string, ConfChangeTransition, [ConfChangeType, number][]][]) {
    test(`autoLeave (${name}): once the joint change is applied, the leader proposes leaving by itself`, () => {
      const nt = cluster();
      const n1 = nt.raft(1);
      nt.send(propCC(1, v2(transition, ...changes)));
      const jointIndex = n1.raftLog.lastIndex();
      assert.equal(n1.raftLog.committed, jointIndex);
      const cs = applyCommitted(n1);
      assert.equal(cs?.autoLeave, true, 'the joint config must be marked autoLeave');
      assert.equal(n1.raftLog.lastIndex(), jointIndex + 1, 'the leader did not propose leaving the joint config');
      const e = lastEntry(n1);
      assert.equal(e.type, EntryType.ConfChangeV2);
      assert.equal(decodeConfChangeV2(e.data).changes.length, 0, 'the automatic proposal must be an empty ConfChangeV2');
      assert.equal(n1.pendingConfIndex, e.index);

      flush(nt, 1);
      assert.equal(n1.raftLog.committed, e.index, 'the leave-joint entry did not commit');
      const left = applyCommitted(n1);
      assert.equal(n1.trk.config.voters.isJoint, false, 'still joint after applying the leave entry');
      assert.deepEqual(left?.votersOutgoing, []);
      assert.equal(left?.autoLeave, false);
      assert.equal(n1.raftLog.lastIndex(), e.index, 'the leader proposed another leave after leaving');
    });
  }

  test('autoLeave through RawNode: advance() after applying the joint change makes the leader propose leaving', () => {
    const s = storageWithConfig([1]);
    const rn = new RawNode({ id: 1n, electionTick: 10, heartbeatTick: 1, storage: s, rng: new SeededRng(1), checkQuorum: false, preVote: false });
    let cs: ConfState | undefined;
    const applied: Entry[] = [];
    const drive = () => {
      for (let i = 0; i < 20 && rn.hasReady(); i++) {
        const rd = rn.ready();
        s.append(rd.entries);
        if (rd.hardState !== undefined) s.setHardState(rd.hardState);
        for (const e of rd.committedEntries) {
          applied.push(e);
          if (e.type === EntryType.ConfChange) cs = rn.applyConfChange(decodeConfChange(e.data));
          else if (e.type === EntryType.ConfChangeV2) cs = rn.applyConfChange(decodeConfChangeV2(e.data));
        }
        rn.advance();
      }
    };
    rn.campaign();
    drive();
    assert.equal(rn.raft.state, StateType.Leader);
    rn.proposeConfChange(v2(ConfChangeTransition.JointImplicit, [ConfChangeType.AddLearnerNode, 2]));
    drive();
    const ccs = applied.filter((e) => e.type === EntryType.ConfChangeV2);
    assert.equal(ccs.length, 2, 'expected the joint change and then the automatic leave-joint change to be applied');
    assert.equal(decodeConfChangeV2((ccs[1] as Entry).data).changes.length, 0);
    assert.deepEqual(cs?.voters, ids(1));
    assert.deepEqual(cs?.learners, ids(2));
    assert.deepEqual(cs?.votersOutgoing, [], 'still joint');
  });

  test('JointExplicit stays joint after being applied until an empty ConfChangeV2 is proposed', () => {
    const nt = cluster();
    const n1 = nt.raft(1);
    enterReplace3With4(nt, ConfChangeTransition.JointExplicit);
    const after = n1.raftLog.lastIndex();
    flush(nt, 1);
    tickN(n1, 30);
    flush(nt, 1);
    assert.equal(n1.raftLog.lastIndex(), after, 'the leader proposed something by itself');
    assert.equal(n1.trk.config.voters.isJoint, true);

    nt.send(propCC(1, leaveJoint));
    assert.equal(lastEntry(n1).type, EntryType.ConfChangeV2, 'the explicit leave was refused');
    assert.equal(n1.raftLog.committed, n1.raftLog.lastIndex());
    const cs = applyCommitted(n1);
    assert.deepEqual(cs?.voters, ids(1, 2, 4));
    assert.deepEqual(cs?.votersOutgoing, []);
  });

  test('while joint, conf changes other than leaving are refused (replaced by an empty normal entry)', () => {
    const nt = cluster();
    const n1 = nt.raft(1);
    enterReplace3With4(nt, ConfChangeTransition.JointExplicit);
    for (const [name, cc] of [
      ['V1 add learner', v1(ConfChangeType.AddLearnerNode, 5)],
      ['V2 add learner', v2(ConfChangeTransition.Auto, [ConfChangeType.AddLearnerNode, 5])],
      ['V2 enter joint again', v2(ConfChangeTransition.JointExplicit, [ConfChangeType.AddNode, 5], [ConfChangeType.RemoveNode, 2])],
    ] as const) {
      nt.send(propCC(1, cc));
      const e = lastEntry(n1);
      assert.equal(e.type, EntryType.Normal, `a conf change was accepted while joint: ${name}`);
      assert.equal(e.data.length, 0);
      applyCommitted(n1);
    }
    assert.deepEqual(n1.trk.confState().votersOutgoing, ids(1, 2, 3), 'the joint config changed');
  });

  test('leaving a joint config is refused outside a joint config', () => {
    const nt = new Network([null, null, null]);
    nt.campaign(1);
    const n1 = nt.raft(1);
    applyCommitted(n1);
    nt.send(propCC(1, leaveJoint));
    const e = lastEntry(n1);
    assert.equal(e.type, EntryType.Normal, 'an empty ConfChangeV2 was accepted outside a joint config');
    assert.equal(e.data.length, 0);
    assert.equal(n1.raftLog.committed, e.index);
    applyCommitted(n1);
    assert.deepEqual(n1.trk.confState().voters, ids(1, 2, 3));
  });

  test('a leader replaced through joint consensus keeps leading while joint, then hands over once the joint config is left (checkQuorum and preVote on)', () => {
    const nt = cluster({ checkQuorum: true, preVote: true });
    const n1 = nt.raft(1);
    nt.send(propCC(1, v2(ConfChangeTransition.Auto, [ConfChangeType.AddNode, 4], [ConfChangeType.RemoveNode, 1])));
    const cs = applyCommitted(n1);
    assert.deepEqual(cs?.voters, ids(2, 3, 4));
    assert.deepEqual(cs?.votersOutgoing, ids(1, 2, 3));
    assert.equal(n1.state, StateType.Leader, 'a leader that is still an outgoing voter must keep leading the joint config');
    const leave = lastEntry(n1);
    assert.equal(leave.type, EntryType.ConfChangeV2, 'the leader did not propose leaving the joint config');
    flush(nt, 1);
    assert.equal(n1.raftLog.committed, leave.index, 'the leave-joint entry did not commit (needs 4 caught up)');
    applyCommitted(n1);
    assert.deepEqual(n1.trk.confState().voters, ids(2, 3, 4));
    assert.deepEqual(n1.trk.confState().votersOutgoing, []);
    assert.throws(() => n1.step(msg(1, 1, MessageType.MsgProp, { entries: [newEntry(0, 0, enc('x'))] })), ErrProposalDropped);
    // Node 4 never applies anything here (it holds no config of its own); 2 and 3 do.
    nt.send(...n1.takeMessages());
    const ticks = runUntil(
      nt,
      [1, 2, 3],
      () => n1.state === StateType.Follower && [2, 3].some((id) => nt.raft(id).state === StateType.Leader),
      30,
    );
    assert.ok(ticks >= 0, 'the replaced leader did not hand over to a voter of (2 3 4)');
  });

  test('a candidate in a joint config needs a majority of each half to win', () => {
    const joint: ConfState = { voters: ids(1, 2, 4), votersOutgoing: ids(1, 2, 3), learners: [], learnersNext: [], autoLeave: false };
    const mk = () => newTestRaft(1, 10, 1, new MemoryStorage(joint));
    const r = mk();
    r.step(newMessage({ type: MessageType.MsgHup, from: 1n }));
    const asked = r
      .takeMessages()
      .filter((m) => m.type === MessageType.MsgVote)
      .map((m) => m.to);
    assert.deepEqual(asked, ids(2, 3, 4), 'the candidate must ask the voters of both halves');
    r.step(msg(4, 1, MessageType.MsgVoteResp, { term: r.term }));
    assert.equal(r.state, StateType.Candidate, 'won with a majority of the incoming half only');
    r.step(msg(3, 1, MessageType.MsgVoteResp, { term: r.term }));
    assert.equal(r.state, StateType.Leader, '1+4 of (1 2 4) and 1+3 of (1 2 3) must win');

    const lost = mk();
    lost.step(newMessage({ type: MessageType.MsgHup, from: 1n }));
    lost.step(msg(4, 1, MessageType.MsgVoteResp, { term: lost.term }));
    lost.step(msg(2, 1, MessageType.MsgVoteResp, { term: lost.term, reject: true }));
    lost.step(msg(3, 1, MessageType.MsgVoteResp, { term: lost.term, reject: true }));
    assert.equal(lost.state, StateType.Follower, 'rejections from a majority of the outgoing half must lose the election');
  });

  test('a new leader elected in an autoLeave joint config proposes leaving once it has applied its log', () => {
    const nt = new Network([null, null, null]);
    nt.campaign(1);
    nt.send(propCC(1, v2(ConfChangeTransition.JointImplicit, [ConfChangeType.AddLearnerNode, 4])));
    const n2 = nt.raft(2);
    const jointIndex = nt.raft(1).raftLog.lastIndex();
    assert.equal(n2.raftLog.committed, jointIndex);
    // The old leader is cut off before it applies the change (and so before it could propose leaving).
    nt.isolate(1);
    applyCommitted(n2);
    applyCommitted(nt.raft(3));
    assert.equal(n2.trk.config.autoLeave, true);
    nt.campaign(2);
    assert.equal(n2.state, StateType.Leader);
    applyCommitted(n2); // applies the new leader's no-op; advance would call appliedTo
    const e = lastEntry(n2);
    assert.equal(e.type, EntryType.ConfChangeV2, 'the new leader did not propose leaving the joint config');
    assert.equal(decodeConfChangeV2(e.data).changes.length, 0);
    flush(nt, 2);
    assert.equal(n2.raftLog.committed, e.index);
    applyCommitted(n2);
    assert.equal(n2.trk.config.voters.isJoint, false);
  });
});

// ---- campaigning with unapplied conf changes ----------------------------------------------------------------

describe('thesis §4.1: campaigning with unapplied conf changes', () => {
  test('a node with committed but unapplied conf changes refuses to campaign (MsgHup and timeout), and may once they are applied', () => {
    const nt = new Network([null, null, null]);
    nt.campaign(1);
    nt.send(propCC(1, v1(ConfChangeType.AddLearnerNode, 4)));
    const n2 = nt.raft(2);
    const ccIndex = nt.raft(1).raftLog.lastIndex();
    assert.equal(n2.raftLog.committed, ccIndex, 'node 2 does not know the conf change is committed');
    assert.ok(n2.raftLog.applied < ccIndex);
    const term = n2.term;

    n2.step(newMessage({ type: MessageType.MsgHup, from: 2n }));
    assert.equal(n2.state, StateType.Follower, 'campaigned with an unapplied conf change');
    assert.equal(n2.term, term);
    assert.ok(!sentTypes(n2).includes(MessageType.MsgVote));
    tickN(n2, 30);
    assert.equal(n2.state, StateType.Follower, 'campaigned on timeout with an unapplied conf change');
    assert.ok(!sentTypes(n2).includes(MessageType.MsgVote));

    applyCommitted(n2);
    n2.step(newMessage({ type: MessageType.MsgHup, from: 2n }));
    assert.equal(n2.state, StateType.Candidate, 'refused to campaign after applying');
    assert.equal(n2.term, term + 1);
  });

  test('unapplied normal entries do not prevent campaigning', () => {
    const nt = new Network([null, null, null]);
    nt.campaign(1);
    nt.propose(1, 'x');
    const n2 = nt.raft(2);
    assert.ok(n2.raftLog.applied < n2.raftLog.committed);
    n2.step(newMessage({ type: MessageType.MsgHup, from: 2n }));
    assert.equal(n2.state, StateType.Candidate);
  });
});
