/**
 * The RawNode Ready/advance contract, driven the way raw-node.ts describes: persist `hardState`, `entries`
 * and `snapshot` into the storage, send `messages`, apply `committedEntries` (conf changes through
 * `applyConfChange`), then `advance()`. Scenarios follow etcd-io/raft rawnode_test.go.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SeededRng } from '../../src/base/rng.js';
import {
  type ConfState,
  ConfChangeTransition,
  ConfChangeType,
  type Entry,
  EntryType,
  ErrInvalidMessage,
  ErrProposalDropped,
  ErrStepLocalMsg,
  ErrStepPeerNotFound,
  type Message,
  MessageType,
  MemoryStorage,
  ProgressState,
  type RaftConfig,
  RaftInvariantError,
  type Ready,
  RawNode,
  StateType,
  decodeConfChange,
  decodeConfChangeV2,
  describeMessage,
  emptyBytes,
  emptySnapshot,
  newEntry,
} from '../../src/server/raft/index.js';
import { confState, dec, enc, ids, msg } from '../sim/network.js';

// ---- harness ----------------------------------------------------------------------------------------------

interface Node {
  readonly id: bigint;
  readonly rn: RawNode;
  readonly storage: MemoryStorage;
  /** Every committed entry handed to the application, in order. */
  readonly applied: Entry[];
  /** ConfStates returned by applyConfChange. */
  readonly confStates: ConfState[];
}

function newNode(id: number, voters: number[], opts: Partial<RaftConfig> = {}, storage?: MemoryStorage): Node {
  const s = storage ?? new MemoryStorage(confState(voters));
  const rn = new RawNode({ id: BigInt(id), electionTick: 10, heartbeatTick: 1, storage: s, rng: new SeededRng(id), ...opts });
  return { id: BigInt(id), rn, storage: s, applied: [], confStates: [] };
}

/** Step 1 of the contract: make the Ready durable (here: visible in the MemoryStorage). */
function persist(s: MemoryStorage, rd: Ready): void {
  if (rd.snapshot !== undefined) s.applySnapshot(rd.snapshot);
  s.append(rd.entries);
  if (rd.hardState !== undefined) s.setHardState(rd.hardState);
}

/** Step 3: apply committed entries, conf changes through applyConfChange. */
function apply(n: Node, rd: Ready): void {
  for (const e of rd.committedEntries) {
    n.applied.push(e);
    if (e.type === EntryType.ConfChange) n.confStates.push(n.rn.applyConfChange(decodeConfChange(e.data)));
    else if (e.type === EntryType.ConfChangeV2) n.confStates.push(n.rn.applyConfChange(decodeConfChangeV2(e.data)));
  }
}

/** Handles one Ready completely and returns its messages (to be sent). */
function handle(n: Node): Ready {
  const rd = n.rn.ready();
  persist(n.storage, rd);
  apply(n, rd);
  n.rn.advance();
  return rd;
}

/** Runs every node's Readys and delivers their messages until the group is quiet. */
function run(nodes: Node[], onReady: (n: Node, rd: Ready) => void = () => {}): void {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  for (let round = 0; round < 1000; round++) {
    const msgs: Message[] = [];
    for (const n of nodes) {
      if (!n.rn.hasReady()) continue;
      const rd = handle(n);
      onReady(n, rd);
      msgs.push(...rd.messages);
    }
    if (msgs.length === 0 && !nodes.some((n) => n.rn.hasReady())) return;
    for (const m of msgs) {
      const target = byId.get(m.to);
      if (target === undefined) continue;
      try {
        target.rn.step(m);
      } catch (err) {
        if (!(err instanceof ErrProposalDropped)) throw err;
      }
    }
  }
  throw new Error('the group did not quiesce within 1000 rounds');
}

function describeAll(msgs: readonly Message[]): string {
  return msgs.map((m) => describeMessage(m)).join('; ') || '(none)';
}

/** A single-voter group whose node has campaigned and handled its first Ready. */
function singleLeader(opts: Partial<RaftConfig> = {}): Node {
  const n = newNode(1, [1], opts);
  n.rn.campaign();
  handle(n);
  assert.equal(n.rn.raft.state, StateType.Leader, 'fixture: node 1 leads');
  return n;
}

/** A three-voter group with node 1 elected and everything settled. */
function threeNodeCluster(opts: Partial<RaftConfig> = {}): Node[] {
  const nodes = [newNode(1, [1, 2, 3], opts), newNode(2, [1, 2, 3], opts), newNode(3, [1, 2, 3], opts)];
  (nodes[0] as Node).rn.campaign();
  run(nodes);
  assert.equal((nodes[0] as Node).rn.raft.state, StateType.Leader, 'fixture: node 1 leads');
  return nodes;
}

// ---- tests ------------------------------------------------------------------------------------------------

describe('the Ready contract', () => {
  test('§5.2: a single-voter group campaigns and becomes leader; its first Ready has the new soft and hard state and the no-op', () => {
    const n = newNode(1, [1]);
    assert.equal(n.rn.hasReady(), false, 'a fresh node has nothing to do');
    n.rn.campaign();
    assert.equal(n.rn.hasReady(), true);
    const rd = n.rn.ready();
    assert.deepEqual(rd.softState, { lead: 1n, raftState: StateType.Leader }, 'softState: node 1 leads');
    assert.deepEqual(rd.hardState, { term: 1, vote: 1n, commit: 1 }, 'hardState: term 1, voted for itself, no-op committed');
    assert.deepEqual(
      rd.entries.map((e) => [e.index, e.term, e.data.length]),
      [[1, 1, 0]],
      'the empty no-op entry of the new term',
    );
    assert.deepEqual(
      rd.committedEntries.map((e) => e.index),
      [1],
      'a single voter commits on append',
    );
    assert.equal(rd.mustSync, true, 'new entries, term and vote must be synced');
    assert.equal(rd.messages.length, 0, 'nobody to talk to');
    persist(n.storage, rd);
    n.rn.advance();
    assert.equal(n.rn.hasReady(), false, 'nothing left after advance');
  });

  test('a proposal of a single-voter leader appears in entries and committedEntries of the same Ready', () => {
    const n = singleLeader();
    n.rn.propose(enc('foo'));
    const rd = n.rn.ready();
    assert.deepEqual(
      rd.entries.map((e) => [e.index, e.term, dec(e.data)]),
      [[2, 1, 'foo']],
    );
    assert.deepEqual(
      rd.committedEntries.map((e) => [e.index, dec(e.data)]),
      [[2, 'foo']],
    );
    assert.equal(rd.softState, undefined, 'softState only when it changed');
    assert.deepEqual(rd.hardState, { term: 1, vote: 1n, commit: 2 }, 'the commit index moved');
    assert.equal(rd.mustSync, true, 'entries must be synced');
    persist(n.storage, rd);
    n.rn.advance();
    assert.equal(n.rn.hasReady(), false);
    assert.equal(n.rn.basicStatus().applied, 2, 'advance marks the committed entries applied');
  });

  test('mustSync is false for a Ready that only moves the commit index; softState appears only when the leader changes', () => {
    // Node 2 of (1 2 3) holds entries 1..2 of term 1 and has not heard from a leader yet.
    const s = new MemoryStorage(confState([1, 2, 3]));
    s.append([newEntry(1, 1), newEntry(2, 1)]);
    s.setHardState({ term: 1, vote: 0n, commit: 0 });
    const n = newNode(2, [1, 2, 3], {}, s);
    n.rn.step(msg(1, 2, MessageType.MsgHeartbeat, { term: 1, commit: 2 }));
    let rd = n.rn.ready();
    assert.deepEqual(rd.softState, { lead: 1n, raftState: StateType.Follower }, 'the leader became known');
    assert.deepEqual(rd.hardState, { term: 1, vote: 0n, commit: 2 });
    assert.equal(rd.entries.length, 0);
    assert.equal(rd.mustSync, false, 'a commit index alone need not be synced');
    assert.deepEqual(
      rd.committedEntries.map((e) => e.index),
      [1, 2],
    );
    persist(n.storage, rd);
    n.rn.advance();

    n.rn.step(msg(1, 2, MessageType.MsgHeartbeat, { term: 1, commit: 2 }));
    rd = n.rn.ready();
    assert.equal(rd.softState, undefined, 'same leader: no softState');
    assert.equal(rd.hardState, undefined, 'nothing to persist');
    assert.equal(rd.mustSync, false);
    assert.equal(rd.messages.length, 1, 'the heartbeat response');
    n.rn.advance();
  });

  test('§5.1: mustSync is set when only the vote or only the term changes', () => {
    const n = newNode(2, [1, 2, 3]);
    n.rn.step(msg(3, 2, MessageType.MsgVote, { term: 1, index: 0, logTerm: 0 }));
    let rd = n.rn.ready();
    assert.deepEqual(rd.hardState, { term: 1, vote: 3n, commit: 0 });
    assert.equal(rd.entries.length, 0);
    assert.equal(rd.mustSync, true, 'a new term and vote must be durable before the vote is sent');
    assert.equal(rd.messages[0]?.type, MessageType.MsgVoteResp);
    persist(n.storage, rd);
    n.rn.advance();

    // A heartbeat of a later term: only the term changes (the vote is reset to none).
    n.rn.step(msg(1, 2, MessageType.MsgHeartbeat, { term: 2, commit: 0 }));
    rd = n.rn.ready();
    assert.equal(rd.hardState?.term, 2);
    assert.equal(rd.entries.length, 0);
    assert.equal(rd.mustSync, true, 'a term change must be synced');
    n.rn.advance();
  });

  test('calling ready() twice without advance() throws; hasReady() is false while a Ready is pending', () => {
    const n = newNode(1, [1]);
    n.rn.campaign();
    n.rn.ready();
    assert.equal(n.rn.hasReady(), false, 'hasReady is false while a Ready is outstanding');
    assert.throws(() => n.rn.ready(), RaftInvariantError);
  });

  test('advance() without a pending ready() throws', () => {
    const n = newNode(1, [1]);
    assert.throws(() => n.rn.advance(), RaftInvariantError);
    const m = singleLeader();
    assert.throws(() => m.rn.advance(), RaftInvariantError, 'a second advance for one Ready');
  });

  test('hasReady() stays false after advance() when nothing happened, also across ticks below the heartbeat', () => {
    const n = singleLeader({ heartbeatTick: 5, electionTick: 50 });
    assert.equal(n.rn.hasReady(), false);
    n.rn.tick();
    assert.equal(n.rn.hasReady(), false, 'a tick of a single-voter leader produces nothing');
  });

  test('step() may be called between ready() and advance(); what it causes appears in the next Ready', () => {
    const n = singleLeader();
    n.rn.propose(enc('a'));
    const rd = n.rn.ready();
    n.rn.propose(enc('b'));
    persist(n.storage, rd);
    n.rn.advance();
    assert.equal(n.rn.hasReady(), true);
    const rd2 = n.rn.ready();
    assert.deepEqual(
      rd2.entries.map((e) => dec(e.data)),
      ['b'],
    );
    assert.deepEqual(
      rd2.committedEntries.map((e) => dec(e.data)),
      ['b'],
    );
    n.rn.advance();
  });
});

describe('snapshots through RawNode', () => {
  test('§7: a snapshot from the leader is handed out in a Ready (no committed entries with it); after persisting and advance it counts as applied', () => {
    const n = newNode(2, [1, 2, 3]);
    const snap = { data: enc('state'), metadata: { confState: confState([1, 2, 3]), index: 10, term: 3 } };
    n.rn.step(msg(1, 2, MessageType.MsgSnap, { term: 3, snapshot: snap }));
    const rd = n.rn.ready();
    assert.equal(rd.snapshot?.metadata.index, 10, 'the snapshot to persist and apply');
    assert.deepEqual(rd.committedEntries, [], 'the snapshot replaces the committed entries');
    assert.deepEqual(rd.hardState, { term: 3, vote: 0n, commit: 10 });
    const resp = rd.messages.find((m) => m.type === MessageType.MsgAppResp);
    assert.equal(resp?.index, 10, 'the follower acknowledges the snapshot');
    persist(n.storage, rd);
    n.rn.advance();
    assert.equal(n.rn.basicStatus().applied, 10, 'the snapshot counts as applied');
    assert.equal(n.rn.hasReady(), false);
    assert.equal(n.rn.raft.raftLog.hasNextUnstableSnapshot(), false, 'the snapshot is stable');

    // Replication continues right after the snapshot.
    n.rn.step(msg(1, 2, MessageType.MsgApp, { term: 3, index: 10, logTerm: 3, entries: [newEntry(11, 3, enc('next'))], commit: 11 }));
    const rd2 = handle(n);
    assert.deepEqual(
      rd2.committedEntries.map((e) => [e.index, dec(e.data)]),
      [[11, 'next']],
    );
    assert.equal(n.storage.lastIndex(), 11);
    assert.equal(n.storage.firstIndex(), 11);
  });
});

describe('restart', () => {
  function runFirstLife(): MemoryStorage {
    const n = singleLeader();
    n.rn.propose(enc('a'));
    handle(n);
    n.rn.propose(enc('b'));
    handle(n);
    assert.equal(n.rn.raft.raftLog.committed, 3);
    return n.storage;
  }

  test('§5.1: a node restarted from its storage with applied set keeps term, vote and commit and does not hand out applied entries again', () => {
    const s = runFirstLife();
    const n = newNode(1, [1], { applied: 3 }, s);
    const st = n.rn.basicStatus();
    assert.deepEqual(st.hardState, { term: 1, vote: 1n, commit: 3 }, 'the persisted HardState is loaded');
    assert.equal(st.applied, 3);
    assert.equal(n.rn.raft.raftLog.lastIndex(), 3);
    assert.equal(n.rn.hasReady(), false, 'nothing to hand out: everything committed is applied');
  });

  test('a node restarted with applied below commit hands out only the unapplied committed entries', () => {
    const s = runFirstLife();
    const n = newNode(1, [1], { applied: 2 }, s);
    const rd = n.rn.ready();
    assert.deepEqual(
      rd.committedEntries.map((e) => [e.index, dec(e.data)]),
      [[3, 'b']],
    );
    assert.equal(rd.hardState, undefined, 'the loaded HardState is not handed out again');
    assert.equal(rd.entries.length, 0, 'persisted entries are not handed out again');
    n.rn.advance();
  });

  test('a node restarted without applied hands out every committed entry again', () => {
    const s = runFirstLife();
    const n = newNode(1, [1], {}, s);
    const rd = n.rn.ready();
    assert.deepEqual(
      rd.committedEntries.map((e) => e.index),
      [1, 2, 3],
    );
    n.rn.advance();
  });

  test('the restarted single voter campaigns at a higher term and keeps its log', () => {
    const s = runFirstLife();
    const n = newNode(1, [1], { applied: 3 }, s);
    n.rn.campaign();
    const rd = handle(n);
    assert.equal(rd.hardState?.term, 2);
    assert.deepEqual(
      rd.entries.map((e) => [e.index, e.term]),
      [[4, 2]],
    );
  });
});

describe('step() refuses what a peer may not send, and changes nothing', () => {
  /** Node 2, follower of 1 at term 1 in (1 2 3), log (1,1), nothing pending. */
  function follower(): Node {
    const s = new MemoryStorage(confState([1, 2, 3]));
    s.append([newEntry(1, 1)]);
    s.setHardState({ term: 1, vote: 1n, commit: 1 });
    const n = newNode(2, [1, 2, 3], {}, s);
    n.rn.step(msg(1, 2, MessageType.MsgHeartbeat, { term: 1, commit: 1 }));
    handle(n);
    assert.equal(n.rn.hasReady(), false);
    return n;
  }

  function assertUnchanged(n: Node, what: string): void {
    const st = n.rn.basicStatus();
    assert.deepEqual(st.hardState, { term: 1, vote: 1n, commit: 1 }, `${what}: hard state changed`);
    assert.deepEqual(st.softState, { lead: 1n, raftState: StateType.Follower }, `${what}: soft state changed`);
    assert.equal(n.rn.raft.raftLog.lastIndex(), 1, `${what}: log changed`);
    assert.equal(n.rn.hasReady(), false, `${what}: something is pending`);
  }

  for (const t of [MessageType.MsgHup, MessageType.MsgBeat, MessageType.MsgUnreachable, MessageType.MsgSnapStatus, MessageType.MsgCheckQuorum]) {
    test(`a local message type (${describeMessage(msg(1, 2, t))}) from the network is refused with ErrStepLocalMsg`, () => {
      const n = follower();
      assert.throws(() => n.rn.step(msg(1, 2, t, { term: 5 })), ErrStepLocalMsg);
      assertUnchanged(n, 'local message');
    });
  }

  for (const t of [MessageType.MsgAppResp, MessageType.MsgVoteResp, MessageType.MsgHeartbeatResp, MessageType.MsgPreVoteResp]) {
    test(`a response (type ${t}) from a node that is not in the configuration is refused with ErrStepPeerNotFound`, () => {
      const n = follower();
      assert.throws(() => n.rn.step(msg(9, 2, t, { term: 5 })), ErrStepPeerNotFound);
      assertUnchanged(n, 'response from unknown peer');
    });
  }

  test('a response from an unknown peer is refused by a leader too, and its progress is unchanged', () => {
    const n = singleLeader();
    assert.throws(() => n.rn.step(msg(2, 1, MessageType.MsgAppResp, { term: 1, index: 1 })), ErrStepPeerNotFound);
    assert.equal(n.rn.raft.state, StateType.Leader);
    assert.equal(n.rn.hasReady(), false);
  });

  const malformed: { name: string; m: () => Message }[] = [
    { name: 'MsgProp without entries', m: () => msg(1, 2, MessageType.MsgProp, { entries: [] }) },
    {
      name: 'MsgApp with non-contiguous entries (a higher term, so that stepping it would change the term)',
      m: () => msg(1, 2, MessageType.MsgApp, { term: 5, index: 1, logTerm: 1, entries: [newEntry(2, 5), newEntry(4, 5)] }),
    },
    {
      name: 'MsgApp whose first entry does not follow index',
      m: () => msg(1, 2, MessageType.MsgApp, { term: 5, index: 1, logTerm: 1, entries: [newEntry(3, 5)] }),
    },
    { name: 'MsgSnap without a snapshot', m: () => msg(1, 2, MessageType.MsgSnap, { term: 5 }) },
    { name: 'MsgSnap with an empty snapshot', m: () => msg(1, 2, MessageType.MsgSnap, { term: 5, snapshot: emptySnapshot }) },
    { name: 'MsgReadIndex without its request entry', m: () => msg(1, 2, MessageType.MsgReadIndex, { entries: [] }) },
  ];
  for (const c of malformed) {
    test(`a malformed message (${c.name}) is refused with ErrInvalidMessage`, () => {
      const n = follower();
      assert.throws(() => n.rn.step(c.m()), ErrInvalidMessage);
      assertUnchanged(n, c.name);
    });
  }
});

describe('membership changes through RawNode', () => {
  test('thesis §4.1: proposeConfChange (V1) commits, and applyConfChange on commit yields the new ConfState', () => {
    const n = singleLeader();
    n.rn.proposeConfChange({ type: ConfChangeType.AddNode, nodeId: 2n, context: enc('ctx'), id: 7n });
    const rd = handle(n);
    const cc = rd.committedEntries.find((e) => e.type === EntryType.ConfChange);
    assert.ok(cc !== undefined, 'the conf change entry is committed');
    assert.equal(decodeConfChange(cc.data).nodeId, 2n);
    assert.equal(n.confStates.length, 1);
    assert.deepEqual((n.confStates[0] as ConfState).voters, ids(1, 2), 'the returned ConfState has the new voter');
    assert.deepEqual(n.rn.status().voters, ids(1, 2));
    // The leader starts probing the new member right away.
    const next = n.rn.ready();
    assert.ok(
      next.messages.some((m) => m.to === 2n && m.type === MessageType.MsgApp),
      `a MsgApp to the new member, got: ${describeAll(next.messages)}`,
    );
    n.rn.advance();
  });

  test('thesis §4.1: proposeConfChange (V2) adding a learner yields a ConfState with the learner', () => {
    const n = singleLeader();
    n.rn.proposeConfChange({ transition: ConfChangeTransition.Auto, changes: [{ type: ConfChangeType.AddLearnerNode, nodeId: 3n }], context: emptyBytes });
    handle(n);
    assert.equal(n.confStates.length, 1);
    const cs = n.confStates[0] as ConfState;
    assert.deepEqual(cs.voters, ids(1));
    assert.deepEqual(cs.learners, ids(3));
    assert.deepEqual(n.rn.status().learners, ids(3));
  });

  test('thesis §4.3: a joint ConfChangeV2 enters the joint config and, with auto-leave, leaves it once applied', () => {
    const nodes = threeNodeCluster();
    const leader = nodes[0] as Node;
    leader.rn.proposeConfChange({
      transition: ConfChangeTransition.JointImplicit,
      changes: [
        { type: ConfChangeType.RemoveNode, nodeId: 3n },
        { type: ConfChangeType.AddLearnerNode, nodeId: 3n },
      ],
      context: emptyBytes,
    });
    run(nodes);
    const states = leader.confStates;
    assert.ok(states.length >= 2, `enter and leave joint were both applied (got ${states.length})`);
    const joint = states[states.length - 2] as ConfState;
    assert.deepEqual(joint.votersOutgoing, ids(1, 2, 3), 'the joint config keeps the old voters as outgoing');
    const final = states[states.length - 1] as ConfState;
    assert.deepEqual(final.voters, ids(1, 2));
    assert.deepEqual(final.votersOutgoing, []);
    assert.deepEqual(final.learners, ids(3), 'the removed voter became a learner');
  });
});

describe('status and reports', () => {
  test('status() shows per-member progress on the leader only', () => {
    const nodes = threeNodeCluster();
    const st = (nodes[0] as Node).rn.status();
    assert.equal(st.softState.raftState, StateType.Leader);
    assert.deepEqual([...st.progress.keys()].sort(), ids(1, 2, 3));
    const last = (nodes[0] as Node).rn.raft.raftLog.lastIndex();
    for (const id of ids(1, 2, 3)) assert.equal(st.progress.get(id)?.match, last, `match of ${id}`);
    for (const f of [nodes[1], nodes[2]] as Node[]) {
      const fs = f.rn.status();
      assert.equal(fs.softState.raftState, StateType.Follower);
      assert.equal(fs.progress.size, 0, `follower ${f.id} reports no progress`);
      assert.deepEqual(fs.voters, ids(1, 2, 3), 'followers still report the config');
    }
  });

  test('reportUnreachable moves a replicating follower back to Probe in the leader progress', () => {
    const nodes = threeNodeCluster();
    const leader = (nodes[0] as Node).rn;
    assert.equal(leader.status().progress.get(2n)?.state, ProgressState.Replicate);
    leader.reportUnreachable(2n);
    assert.equal(leader.status().progress.get(2n)?.state, ProgressState.Probe);
    assert.equal(leader.status().progress.get(3n)?.state, ProgressState.Replicate, 'other followers are unaffected');
  });

  test('reportSnapshot finish / failure moves a follower out of Snapshot state, paused, from the snapshot or from match', () => {
    const nodes = threeNodeCluster();
    const leader = (nodes[0] as Node).rn;
    const p2 = leader.raft.trk.progress.get(2n);
    const p3 = leader.raft.trk.progress.get(3n);
    assert.ok(p2 !== undefined && p3 !== undefined);
    const match2 = p2.match;
    p2.becomeSnapshot(match2 + 10);
    p3.becomeSnapshot(p3.match + 10);
    leader.reportSnapshot(2n, 'finish');
    let st = leader.status().progress.get(2n);
    assert.equal(st?.state, ProgressState.Probe);
    assert.equal(st?.next, match2 + 11, 'probing resumes after the snapshot');
    assert.equal(st?.paused, true);
    leader.reportSnapshot(3n, 'failure');
    st = leader.status().progress.get(3n);
    assert.equal(st?.state, ProgressState.Probe);
    assert.equal(st?.next, p3.match + 1, 'probing resumes after the match');
    assert.equal(st?.pendingSnapshot, 0);
    assert.equal(st?.paused, true);
  });
});

describe('ReadIndex through RawNode', () => {
  test('thesis §6.4: a single-voter leader answers readIndex with a ReadState at its commit index in the next Ready', () => {
    const n = singleLeader();
    n.rn.propose(enc('x'));
    handle(n);
    n.rn.readIndex(enc('req-1'));
    assert.equal(n.rn.hasReady(), true);
    const rd = handle(n);
    assert.deepEqual(
      rd.readStates.map((rs) => [rs.index, dec(rs.requestCtx)]),
      [[2, 'req-1']],
    );
    assert.equal(n.rn.hasReady(), false, 'read states are handed out once');
  });

  test('thesis §6.4: in a three-node group the ReadState appears in a later Ready, after a heartbeat round confirms leadership', () => {
    const nodes = threeNodeCluster();
    const leader = nodes[0] as Node;
    const commit = leader.rn.raft.raftLog.committed;
    leader.rn.readIndex(enc('req-2'));
    const first = handle(leader);
    assert.deepEqual(first.readStates, [], 'not confirmed yet');
    const beats = first.messages.filter((m) => m.type === MessageType.MsgHeartbeat);
    assert.equal(beats.length, 2, `a heartbeat to each follower, got: ${describeAll(first.messages)}`);
    for (const m of beats) assert.equal(dec(m.context ?? emptyBytes), 'req-2', 'the heartbeat carries the request id');

    const readStates: [number, string][] = [];
    for (const m of first.messages) (nodes.find((n) => n.id === m.to) as Node).rn.step(m);
    run(nodes, (n, rd) => {
      if (n === leader) for (const rs of rd.readStates) readStates.push([rs.index, dec(rs.requestCtx)]);
    });
    assert.deepEqual(readStates, [[commit, 'req-2']], 'the read is released at the commit index it arrived at');
  });

  test('thesis §6.4: a follower forwards readIndex to the leader and gets its ReadState back', () => {
    const nodes = threeNodeCluster();
    const f = nodes[1] as Node;
    const commit = (nodes[0] as Node).rn.raft.raftLog.committed;
    f.rn.readIndex(enc('req-3'));
    const got: [number, string][] = [];
    run(nodes, (n, rd) => {
      if (n === f) for (const rs of rd.readStates) got.push([rs.index, dec(rs.requestCtx)]);
    });
    assert.deepEqual(got, [[commit, 'req-3']]);
  });

  test('thesis §6.4: a read requested before the new leader commits an entry of its term is answered once the no-op commits', () => {
    const nodes = [newNode(1, [1, 2, 3]), newNode(2, [1, 2, 3]), newNode(3, [1, 2, 3])];
    const leader = nodes[0] as Node;
    leader.rn.campaign();
    // Run the election only: deliver vote traffic, hold back the leader's first MsgApp.
    const held: Message[] = [];
    for (let round = 0; round < 20 && leader.rn.raft.state !== StateType.Leader; round++) {
      const msgs: Message[] = [];
      for (const n of nodes) if (n.rn.hasReady()) msgs.push(...handle(n).messages);
      for (const m of msgs) (nodes.find((n) => n.id === m.to) as Node).rn.step(m);
    }
    assert.equal(leader.rn.raft.state, StateType.Leader);
    held.push(...handle(leader).messages);
    assert.equal(leader.rn.raft.raftLog.committed, 0, 'the no-op is not committed yet');
    leader.rn.readIndex(enc('early'));
    const readStates: [number, string][] = [];
    for (const m of held) (nodes.find((n) => n.id === m.to) as Node).rn.step(m);
    run(nodes, (n, rd) => {
      if (n === leader) for (const rs of rd.readStates) readStates.push([rs.index, dec(rs.requestCtx)]);
    });
    assert.deepEqual(readStates, [[1, 'early']], 'released at the commit index of the no-op');
  });
});
