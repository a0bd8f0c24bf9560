/**
 * Elections beyond the basic algorithm of the Raft paper: pre-vote (Ongaro's thesis §9.6), check-quorum and
 * the leader lease that goes with it (thesis §6.2 and §4.2.3), and the rule that only voters campaign.
 * Scenarios follow etcd-io/raft's raft_test.go (TestDisruptiveFollower*, TestFreeStuckCandidateWithCheckQuorum,
 * TestNonPromotableVoterWithCheckQuorum, TestLeaderElectionWithCheckQuorum, TestLeaderSupersedingWithCheckQuorum,
 * TestLearnerElectionTimeout, ...); the code is our own.
 *
 * Messages produced by `tick()` stay queued in the node until collected; the helpers below either deliver
 * them through the network or discard them (for a node whose links are all cut), so that nothing stale is
 * delivered later by accident.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ConfChangeTransition,
  ConfChangeType,
  type Message,
  MessageType,
  type MemoryStorage,
  None,
  type Raft,
  StateType,
  describeMessage,
  emptyBytes,
  stateName,
} from '../../src/server/raft/index.js';
import { BlackHole, Network, type TestRaftOptions, enc, entriesWithTerms, msg, newTestRaft, storageWithConfig, tickN } from '../sim/network.js';

const ET = 10;

// ---- helpers ---------------------------------------------------------------------------------------------

interface NodeSpec {
  learners?: number[];
  terms?: number[];
  term?: number;
  vote?: number;
  election?: number;
  opts?: TestRaftOptions;
}

function node(id: number, voters: number[], spec: NodeSpec = {}): { r: Raft; s: MemoryStorage } {
  const s = storageWithConfig(voters, spec.learners ?? [], entriesWithTerms(...(spec.terms ?? [])));
  if (spec.term !== undefined || spec.vote !== undefined) s.setHardState({ term: spec.term ?? 0, vote: BigInt(spec.vote ?? 0), commit: 0 });
  const r = newTestRaft(id, spec.election ?? ET, 1, s, spec.opts);
  return { r, s };
}

function logOf(r: Raft): string[] {
  return r.raftLog.allEntries().map((e) => `${e.index}:${e.term}`);
}

function st(r: Raft): string {
  return `${stateName(r.state)} term=${r.term} lead=${r.lead} vote=${r.vote} commit=${r.raftLog.committed} last=${r.raftLog.lastIndex()}`;
}

function fmtMsgs(ms: readonly Message[]): string {
  return ms.length === 0 ? '(none)' : ms.map((m) => describeMessage(m)).join('; ');
}

/** Ticks a node whose links are all cut: whatever it sends is lost. */
function tickIsolated(r: Raft, n: number): void {
  for (let i = 0; i < n; i++) {
    r.tick();
    r.takeMessages();
  }
}

/** Ticks node `id` and delivers what it sends (and everything that follows) through the network. */
function tickDelivering(nt: Network, id: number, n: number): void {
  const r = nt.raft(id);
  for (let i = 0; i < n; i++) {
    r.tick();
    nt.send(...r.takeMessages());
  }
}

function states(nt: Network, ids: number[]): string {
  return ids.map((id) => `${id}: ${st(nt.raft(id))}`).join(' | ');
}

// ---- pre-vote ----------------------------------------------------------------------------------------------

describe('pre-vote (thesis §9.6)', () => {
  /** A 3-node cluster with leader 1 at term 1, while node 3 was cut off and missed two committed entries. */
  function clusterWithStaleNode3(preVote: boolean): Network {
    const nt = new Network([null, null, null], { preVote });
    nt.campaign(1);
    assert.equal(nt.raft(1).state, StateType.Leader, states(nt, [1, 2, 3]));
    assert.equal(nt.raft(1).term, 1);
    nt.isolate(3);
    nt.propose(1, 'a');
    nt.propose(1, 'b');
    assert.equal(nt.raft(1).raftLog.committed, 3, 'proposals should commit on nodes 1 and 2');
    return nt;
  }

  test('thesis §9.6: an isolated follower with pre-vote keeps its term while cut off, and rejoining does not depose the healthy leader', () => {
    const nt = clusterWithStaleNode3(true);
    const r3 = nt.raft(3);
    tickIsolated(r3, 5 * ET); // several election timeouts, each one a failed pre-campaign
    assert.equal(r3.state, StateType.PreCandidate, `node 3 should be pre-campaigning: ${st(r3)}`);
    assert.equal(r3.term, 1, `pre-campaigns must not raise the term: ${st(r3)}`);

    nt.recover();
    nt.campaign(3); // its next timeout fires right after it rejoins
    assert.equal(nt.raft(1).state, StateType.Leader, `leader deposed: ${states(nt, [1, 2, 3])}`);
    for (const id of [1, 2, 3]) assert.equal(nt.raft(id).term, 1, `node ${id} changed term: ${states(nt, [1, 2, 3])}`);
    assert.equal(r3.state, StateType.Follower, `node 3 lost the pre-vote and should be follower: ${st(r3)}`);

    // The leader's next heartbeat round brings node 3 back.
    nt.send(msg(1, 1, MessageType.MsgBeat));
    assert.equal(r3.lead, 1n, st(r3));
    assert.deepEqual(logOf(r3), logOf(nt.raft(1)), 'node 3 not caught up');
    assert.equal(r3.raftLog.committed, 3, st(r3));
  });

  test('without pre-vote (contrast): the rejoining node has raised its term and deposes the healthy leader', () => {
    const nt = clusterWithStaleNode3(false);
    const r3 = nt.raft(3);
    tickIsolated(r3, 5 * ET);
    assert.equal(r3.state, StateType.Candidate, st(r3));
    assert.ok(r3.term > 1, `node 3 should have raised its term: ${st(r3)}`);

    nt.recover();
    nt.campaign(3);
    const r1 = nt.raft(1);
    assert.equal(r1.state, StateType.Follower, `leader should have been deposed: ${states(nt, [1, 2, 3])}`);
    assert.ok(r1.term > 1, st(r1));
    assert.notEqual(r3.state, StateType.Leader, `node 3's stale log must not win: ${st(r3)}`);
  });

  test('thesis §9.6: a pre-candidate keeps its term until a majority grants the pre-vote, then campaigns at term+1 and becomes leader', () => {
    const { r } = node(1, [1, 2, 3, 4, 5], { terms: [1, 1], term: 1, opts: { preVote: true } });
    r.step(msg(1, 1, MessageType.MsgHup));
    assert.equal(r.state, StateType.PreCandidate, st(r));
    assert.equal(r.term, 1, st(r));
    assert.equal(r.vote, None, `a pre-candidate does not vote: ${st(r)}`);
    let out = r.takeMessages().sort((a, b) => Number(a.to - b.to));
    assert.deepEqual(
      out.map((m) => [m.type, m.to, m.term, m.index, m.logTerm]),
      [2n, 3n, 4n, 5n].map((to) => [MessageType.MsgPreVote, to, 2, 2, 1]),
      `pre-vote requests are for the next term: ${fmtMsgs(out)}`,
    );

    r.step(msg(2, 1, MessageType.MsgPreVoteResp, { term: 2 }));
    assert.equal(r.state, StateType.PreCandidate, `2 of 5 is no majority: ${st(r)}`);
    assert.equal(r.term, 1, `a granted pre-vote (for the next term) must not raise the term: ${st(r)}`);

    r.step(msg(3, 1, MessageType.MsgPreVoteResp, { term: 2 }));
    assert.equal(r.state, StateType.Candidate, st(r));
    assert.equal(r.term, 2, st(r));
    assert.equal(r.vote, 1n, st(r));
    out = r.takeMessages().sort((a, b) => Number(a.to - b.to));
    assert.deepEqual(
      out.map((m) => [m.type, m.to, m.term]),
      [2n, 3n, 4n, 5n].map((to) => [MessageType.MsgVote, to, 2]),
      fmtMsgs(out),
    );

    r.step(msg(2, 1, MessageType.MsgVoteResp, { term: 2 }));
    r.step(msg(3, 1, MessageType.MsgVoteResp, { term: 2 }));
    assert.equal(r.state, StateType.Leader, st(r));
    assert.equal(r.term, 2);
  });

  test('thesis §9.6: a three-node cluster with pre-vote elects a leader in one campaign, at term 1', () => {
    const nt = new Network([null, null, null], { preVote: true });
    nt.campaign(1);
    assert.equal(nt.raft(1).state, StateType.Leader, states(nt, [1, 2, 3]));
    for (const id of [1, 2, 3]) assert.equal(nt.raft(id).term, 1, states(nt, [1, 2, 3]));
    for (const id of [2, 3]) assert.equal(nt.raft(id).lead, 1n, states(nt, [1, 2, 3]));
  });

  test('thesis §9.6: a pre-vote is refused to a candidate whose log is less up to date; answering a pre-vote never changes term or vote', () => {
    const mk = (): Raft => {
      const { r } = node(1, [1, 2, 3], { terms: [1, 2], term: 2, opts: { preVote: true } });
      r.becomeFollower(2, None);
      return r;
    };
    // Stale candidate log: last term 1 < 2.
    let r = mk();
    r.step(msg(2, 1, MessageType.MsgPreVote, { term: 3, logTerm: 1, index: 5 }));
    let out = r.takeMessages();
    assert.deepEqual(out.map((m) => [m.type, m.to, m.reject, m.term]), [[MessageType.MsgPreVoteResp, 2n, true, 2]], fmtMsgs(out));
    assert.equal(r.term, 2, st(r));
    assert.equal(r.vote, None, st(r));
    assert.equal(r.state, StateType.Follower, st(r));
    // Shorter log with the same last term.
    r = mk();
    r.step(msg(2, 1, MessageType.MsgPreVote, { term: 3, logTerm: 2, index: 1 }));
    out = r.takeMessages();
    assert.deepEqual(out.map((m) => [m.reject]), [[true]], fmtMsgs(out));
    // Up to date: granted (with the term it asks about), and still nothing changes here.
    r = mk();
    r.step(msg(2, 1, MessageType.MsgPreVote, { term: 3, logTerm: 2, index: 2 }));
    out = r.takeMessages();
    assert.deepEqual(out.map((m) => [m.type, m.reject, m.term]), [[MessageType.MsgPreVoteResp, false, 3]], fmtMsgs(out));
    assert.equal(r.term, 2, st(r));
    assert.equal(r.vote, None, st(r));
  });

  test('thesis §9.6: a node in any role grants a pre-vote for a later term to an up-to-date candidate without changing its own state', () => {
    for (const role of [StateType.Follower, StateType.PreCandidate, StateType.Candidate, StateType.Leader]) {
      const { r } = node(1, [1, 2, 3], { term: 1, opts: { preVote: true } });
      if (role === StateType.Follower) r.becomeFollower(1, 3n);
      else if (role === StateType.PreCandidate) r.becomePreCandidate();
      else {
        r.becomeCandidate();
        if (role === StateType.Leader) r.becomeLeader();
      }
      r.takeMessages();
      const before = st(r);
      r.step(msg(2, 1, MessageType.MsgPreVote, { term: r.term + 1, logTerm: r.term + 1, index: 42 }));
      const out = r.takeMessages();
      assert.deepEqual(out.map((m) => [m.type, m.reject]), [[MessageType.MsgPreVoteResp, false]], `${stateName(role)}: ${fmtMsgs(out)}`);
      assert.equal(st(r), before, `${stateName(role)}: state changed by a pre-vote`);
    }
  });

  test('thesis §9.6: a pre-candidate that receives a pre-vote rejection with a higher term becomes follower at that term', () => {
    const { r } = node(1, [1, 2, 3], { terms: [1], term: 1, opts: { preVote: true } });
    r.step(msg(1, 1, MessageType.MsgHup));
    assert.equal(r.state, StateType.PreCandidate);
    r.takeMessages();
    r.step(msg(2, 1, MessageType.MsgPreVoteResp, { term: 5, reject: true }));
    assert.equal(r.state, StateType.Follower, st(r));
    assert.equal(r.term, 5, st(r));
    assert.equal(r.lead, None, st(r));
  });

  test('thesis §9.6: a pre-candidate that a majority refuses goes back to follower at its unchanged term', () => {
    const { r } = node(1, [1, 2, 3], { terms: [1], term: 1, opts: { preVote: true } });
    r.step(msg(1, 1, MessageType.MsgHup));
    r.step(msg(2, 1, MessageType.MsgPreVoteResp, { term: 1, reject: true }));
    assert.equal(r.state, StateType.PreCandidate, `one refusal of three is not a loss: ${st(r)}`);
    r.step(msg(3, 1, MessageType.MsgPreVoteResp, { term: 1, reject: true }));
    assert.equal(r.state, StateType.Follower, st(r));
    assert.equal(r.term, 1, st(r));
  });

  test('thesis §9.6: a single-node cluster with pre-vote becomes leader as soon as it campaigns', () => {
    const nt = new Network([null], { preVote: true });
    nt.campaign(1);
    assert.equal(nt.raft(1).state, StateType.Leader, st(nt.raft(1)));
    assert.equal(nt.raft(1).term, 1);
    assert.equal(nt.raft(1).raftLog.committed, 1, 'the single node commits its empty entry at once');
  });

  test("thesis §9.6: with pre-vote and check-quorum, a late heartbeat from the leader to a pre-candidate does not depose the leader (etcd's TestDisruptiveFollowerPreVote)", () => {
    const nt = new Network([null, null, null], { preVote: true, checkQuorum: true });
    nt.campaign(1);
    nt.isolate(3);
    for (const d of ['a', 'b', 'c']) nt.propose(1, d);
    nt.recover();
    nt.campaign(3);
    const [r1, r2, r3] = [nt.raft(1), nt.raft(2), nt.raft(3)];
    assert.equal(r1.state, StateType.Leader, states(nt, [1, 2, 3]));
    assert.equal(r2.state, StateType.Follower, states(nt, [1, 2, 3]));
    assert.equal(r3.state, StateType.PreCandidate, `nodes in the lease do not answer: ${states(nt, [1, 2, 3])}`);
    for (const r of [r1, r2, r3]) assert.equal(r.term, 1, states(nt, [1, 2, 3]));

    nt.send(msg(1, 3, MessageType.MsgHeartbeat, { term: r1.term }));
    assert.equal(r1.state, StateType.Leader, states(nt, [1, 2, 3]));
    assert.equal(r1.term, 1);
    assert.equal(r3.state, StateType.Follower, st(r3));
    assert.equal(r3.lead, 1n, st(r3));
  });

  test("thesis §9.6: after a split pre-vote round the cluster still elects a leader (etcd's TestPreVoteWithSplitVote)", () => {
    const nt = new Network([null, null, null], { preVote: true });
    nt.campaign(1);
    nt.isolate(1);
    // 2 and 3 pre-campaign together: each grants the other's pre-vote, both become candidates at term 2 and
    // each refuses the other's real vote (it voted for itself).
    nt.send(msg(2, 2, MessageType.MsgHup), msg(3, 3, MessageType.MsgHup));
    assert.equal(nt.raft(2).state, StateType.Candidate, states(nt, [2, 3]));
    assert.equal(nt.raft(3).state, StateType.Candidate, states(nt, [2, 3]));
    assert.equal(nt.raft(2).term, 2);
    assert.equal(nt.raft(3).term, 2);
    nt.campaign(2);
    assert.equal(nt.raft(2).state, StateType.Leader, states(nt, [2, 3]));
    assert.equal(nt.raft(2).term, 3);
    assert.equal(nt.raft(3).state, StateType.Follower, states(nt, [2, 3]));
  });
});

// ---- check-quorum and the leader lease ------------------------------------------------------------------------

describe('check-quorum and the leader lease (thesis §6.2, §4.2.3)', () => {
  test('thesis §6.2: a leader that hears from no quorum for an election timeout steps down', () => {
    const et = 5;
    const { r } = node(1, [1, 2, 3], { election: et, opts: { checkQuorum: true } });
    r.becomeCandidate();
    r.becomeLeader();
    tickN(r, et - 1);
    assert.equal(r.state, StateType.Leader, `stepped down before an election timeout: ${st(r)}`);
    tickN(r, 2);
    assert.equal(r.state, StateType.Follower, `still leader after an election timeout alone: ${st(r)}`);
    assert.equal(r.term, 1, 'stepping down does not change the term');
    assert.equal(r.lead, None);
  });

  test('thesis §6.2: a leader that keeps hearing from a quorum stays leader', () => {
    const et = 5;
    const { r } = node(1, [1, 2, 3], { election: et, opts: { checkQuorum: true } });
    r.becomeCandidate();
    r.becomeLeader();
    for (let i = 0; i < 4 * et; i++) {
      r.step(msg(2, 1, MessageType.MsgHeartbeatResp, { term: r.term }));
      r.tick();
    }
    assert.equal(r.state, StateType.Leader, st(r));
  });

  test('thesis §6.2: in a network, a leader cut off from every follower steps down while one with a quorum stays', () => {
    const nt = new Network([null, null, null], { checkQuorum: true });
    nt.campaign(1);
    tickDelivering(nt, 1, 3 * ET); // heartbeats answered
    assert.equal(nt.raft(1).state, StateType.Leader, states(nt, [1, 2, 3]));
    nt.isolate(1);
    tickIsolated(nt.raft(1), 2 * ET);
    assert.equal(nt.raft(1).state, StateType.Follower, states(nt, [1, 2, 3]));
  });

  for (const type of [MessageType.MsgVote, MessageType.MsgPreVote]) {
    const name = type === MessageType.MsgVote ? 'MsgVote' : 'MsgPreVote';
    test(`thesis §4.2.3: a follower within the leader lease ignores ${name} with a higher term and keeps its term; after the lease it answers`, () => {
      const { r } = node(1, [1, 2, 3], { opts: { checkQuorum: true, preVote: type === MessageType.MsgPreVote } });
      r.becomeFollower(2, 2n);
      r.step(msg(3, 1, type, { term: 3, logTerm: 2, index: 5 }));
      assert.deepEqual(r.takeMessages(), [], `answered a ${name} inside the lease`);
      assert.equal(r.term, 2, st(r));
      assert.equal(r.vote, None, st(r));
      assert.equal(r.lead, 2n, st(r));
      assert.equal(r.state, StateType.Follower);

      r.randomizedElectionTimeout = 2 * ET; // do not campaign while the lease runs out
      tickN(r, ET);
      r.step(msg(3, 1, type, { term: 3, logTerm: 2, index: 5 }));
      const out = r.takeMessages();
      assert.deepEqual(out.map((m) => [m.type, m.reject, m.term]), [[type === MessageType.MsgVote ? MessageType.MsgVoteResp : MessageType.MsgPreVoteResp, false, 3]], `after the lease: ${fmtMsgs(out)}`);
      if (type === MessageType.MsgVote) {
        assert.equal(r.term, 3, st(r));
        assert.equal(r.vote, 3n, st(r));
      } else {
        assert.equal(r.term, 2, `a pre-vote never changes the term: ${st(r)}`);
      }
    });
  }

  test('thesis §3.10: a leadership-transfer vote (context CampaignTransfer) is granted inside the leader lease', () => {
    const { r } = node(1, [1, 2, 3], { opts: { checkQuorum: true } });
    r.becomeFollower(2, 2n);
    r.step(msg(3, 1, MessageType.MsgVote, { term: 3, logTerm: 2, index: 5, context: enc('CampaignTransfer') }));
    const out = r.takeMessages();
    assert.deepEqual(out.map((m) => [m.type, m.to, m.reject, m.term]), [[MessageType.MsgVoteResp, 3n, false, 3]], fmtMsgs(out));
    assert.equal(r.term, 3, st(r));
    assert.equal(r.vote, 3n, st(r));
  });

  test('thesis §3.10: with check-quorum, leadership transfer completes although every node is inside the lease', () => {
    const nt = new Network([null, null, null], { checkQuorum: true });
    nt.campaign(1);
    assert.equal(nt.raft(1).state, StateType.Leader);
    nt.send(msg(2, 1, MessageType.MsgTransferLeader));
    assert.equal(nt.raft(2).state, StateType.Leader, states(nt, [1, 2, 3]));
    assert.equal(nt.raft(2).term, 2);
    assert.equal(nt.raft(1).state, StateType.Follower, states(nt, [1, 2, 3]));
    assert.equal(nt.raft(1).lead, 2n, states(nt, [1, 2, 3]));
    assert.equal(nt.raft(3).lead, 2n, states(nt, [1, 2, 3]));
  });

  test("thesis §4.2.3: a candidate cannot win while a quorum is inside the lease, and wins once a voter's lease has expired (etcd's TestLeaderSupersedingWithCheckQuorum)", () => {
    const nt = new Network([null, null, null], { checkQuorum: true });
    nt.campaign(1);
    const [r1, r2, r3] = [nt.raft(1), nt.raft(2), nt.raft(3)];
    assert.equal(r1.state, StateType.Leader);
    nt.campaign(3);
    assert.equal(r3.state, StateType.Candidate, `votes inside the lease must be ignored: ${states(nt, [1, 2, 3])}`);
    assert.equal(r1.state, StateType.Leader, states(nt, [1, 2, 3]));
    assert.equal(r2.term, 1, `node 2 changed term inside the lease: ${st(r2)}`);

    r2.randomizedElectionTimeout = ET + 1; // let the lease expire without campaigning itself
    tickN(r2, ET);
    assert.deepEqual(r2.takeMessages(), []);
    nt.campaign(3);
    assert.equal(r3.state, StateType.Leader, states(nt, [1, 2, 3]));
    assert.equal(r1.state, StateType.Follower, states(nt, [1, 2, 3]));
  });

  test("thesis §4.2.3: a leader inside its lease ignores a higher-term vote but is deposed by the leader the other voters elect (etcd's TestLeaderElectionWithCheckQuorum)", () => {
    const nt = new Network([null, null, null], { checkQuorum: true });
    const [r1, r2, r3] = [nt.raft(1), nt.raft(2), nt.raft(3)];
    nt.campaign(1);
    assert.equal(r1.state, StateType.Leader);
    assert.equal(r3.state, StateType.Follower);
    // Time passes: the leader's heartbeats are not delivered yet (they wait in its queue), node 2's lease runs
    // out, and the leader's quorum check still passes (everyone answered its first append).
    r1.randomizedElectionTimeout = ET + 1;
    r2.randomizedElectionTimeout = ET + 2;
    tickN(r1, ET);
    tickN(r2, ET);
    assert.equal(r1.state, StateType.Leader, st(r1));
    nt.campaign(3);
    assert.equal(r3.state, StateType.Leader, states(nt, [1, 2, 3]));
    assert.equal(r1.state, StateType.Follower, states(nt, [1, 2, 3]));
    assert.equal(r1.term, r3.term, states(nt, [1, 2, 3]));
  });

  test("thesis §4.2.3: a candidate stuck at a higher term after a partition is freed: its answer to the leader's heartbeat makes the leader step down, and it can then be elected (etcd's TestFreeStuckCandidateWithCheckQuorum)", () => {
    const nt = new Network([null, null, null], { checkQuorum: true });
    const [r1, r2, r3] = [nt.raft(1), nt.raft(2), nt.raft(3)];
    nt.campaign(1);
    assert.equal(r1.state, StateType.Leader);
    nt.isolate(1);
    nt.campaign(3); // node 2 is inside node 1's lease: it ignores the vote
    assert.equal(r2.state, StateType.Follower, states(nt, [1, 2, 3]));
    assert.equal(r3.state, StateType.Candidate, states(nt, [1, 2, 3]));
    assert.equal(r3.term, r2.term + 1, states(nt, [1, 2, 3]));
    nt.campaign(3);
    assert.equal(r2.state, StateType.Follower, states(nt, [1, 2, 3]));
    assert.equal(r3.state, StateType.Candidate, states(nt, [1, 2, 3]));
    assert.equal(r3.term, r2.term + 2, `node 3 is stuck raising its term: ${states(nt, [1, 2, 3])}`);

    nt.recover();
    const mark = nt.delivered.length;
    nt.send(msg(1, 3, MessageType.MsgHeartbeat, { term: r1.term }));
    const answers = nt.delivered.slice(mark).filter((m) => m.from === 3n && m.to === 1n);
    assert.ok(
      answers.some((m) => m.type === MessageType.MsgAppResp && m.term === r3.term),
      `node 3 should answer the stale heartbeat with its higher term: ${fmtMsgs(answers)}`,
    );
    assert.equal(r1.state, StateType.Follower, `the leader should step down: ${states(nt, [1, 2, 3])}`);
    assert.equal(r1.term, r3.term, states(nt, [1, 2, 3]));

    nt.campaign(3);
    assert.equal(r3.state, StateType.Leader, states(nt, [1, 2, 3]));
    assert.equal(r1.lead, 3n, states(nt, [1, 2, 3]));
  });

  test("thesis §4.2.3: a node that is not a voter of its own config never campaigns, yet votes for and follows the leader (etcd's TestNonPromotableVoterWithCheckQuorum)", () => {
    const a = node(1, [1, 2], { opts: { checkQuorum: true } }).r;
    const b = node(2, [1], { opts: { checkQuorum: true } }).r; // b does not know it is a member
    const nt = new Network([a, b]);
    assert.equal(b.promotable(), false);
    tickIsolated(b, 3 * ET);
    assert.equal(b.state, StateType.Follower, st(b));
    assert.equal(b.term, 0, `a non-voter must not campaign: ${st(b)}`);
    nt.campaign(1);
    assert.equal(a.state, StateType.Leader, states(nt, [1, 2]));
    assert.equal(b.state, StateType.Follower, st(b));
    assert.equal(b.lead, 1n, st(b));
  });
});

// ---- only voters campaign -----------------------------------------------------------------------------------

describe('only voters campaign', () => {
  test('a learner never starts an election, however long it hears nothing, nor on MsgHup or MsgTimeoutNow', () => {
    const { r } = node(2, [1], { learners: [2] });
    assert.equal(r.isLearner, true);
    r.randomizedElectionTimeout = ET; // the earliest possible timeout
    tickN(r, 5 * ET);
    assert.deepEqual(r.takeMessages(), []);
    assert.equal(r.state, StateType.Follower, st(r));
    assert.equal(r.term, 0, st(r));
    r.step(msg(2, 2, MessageType.MsgHup));
    r.step(msg(1, 2, MessageType.MsgTimeoutNow, { term: r.term }));
    assert.deepEqual(r.takeMessages(), []);
    assert.equal(r.state, StateType.Follower, st(r));
    assert.equal(r.term, 0, st(r));
  });

  test('a learner in a cluster follows the leader and is never elected (etcd TestLearnerCampaign)', () => {
    const n1 = node(1, [1], { learners: [2] }).r;
    const n2 = node(2, [1], { learners: [2] }).r;
    const nt = new Network([n1, n2]);
    nt.campaign(2);
    assert.equal(n2.state, StateType.Follower, st(n2));
    nt.campaign(1);
    assert.equal(n1.state, StateType.Leader, st(n1));
    nt.send(msg(1, 1, MessageType.MsgBeat)); // a lone voter wins without sending anything; the learner hears of it here
    assert.equal(n2.lead, 1n, st(n2));
    nt.send(msg(1, 2, MessageType.MsgTimeoutNow, { term: n1.term }));
    assert.equal(n2.state, StateType.Follower, st(n2));
    assert.equal(n1.state, StateType.Leader, st(n1));
    tickIsolated(n2, 5 * ET);
    assert.equal(n2.state, StateType.Follower, st(n2));
  });

  test('a node removed from the configuration does not campaign', () => {
    const { r } = node(1, [1, 2, 3]);
    r.applyConfChange({ transition: ConfChangeTransition.Auto, changes: [{ type: ConfChangeType.RemoveNode, nodeId: 1n }], context: emptyBytes });
    assert.equal(r.promotable(), false);
    tickN(r, 5 * ET);
    r.step(msg(1, 1, MessageType.MsgHup));
    assert.deepEqual(r.takeMessages(), []);
    assert.equal(r.state, StateType.Follower, st(r));
    assert.equal(r.term, 0, st(r));
  });

  test('a node whose initial configuration does not include it does not campaign', () => {
    const { r } = node(4, [1, 2, 3]);
    tickN(r, 5 * ET);
    r.step(msg(4, 4, MessageType.MsgHup));
    assert.deepEqual(r.takeMessages(), []);
    assert.equal(r.state, StateType.Follower, st(r));
    assert.equal(r.term, 0, st(r));
  });

  test('a follower removed from the configuration lets election timeouts pass without campaigning, leaving the leader undisturbed', () => {
    const nt = new Network([null, null, null]);
    nt.campaign(1);
    const removeThree = { transition: ConfChangeTransition.Auto, changes: [{ type: ConfChangeType.RemoveNode, nodeId: 3n }], context: emptyBytes };
    for (const id of [1, 2, 3]) nt.raft(id).applyConfChange(removeThree);
    const r3 = nt.raft(3);
    assert.equal(r3.promotable(), false);
    const mark = nt.delivered.length;
    tickDelivering(nt, 3, 5 * ET);
    const sent = nt.delivered.slice(mark);
    assert.deepEqual(sent, [], `the removed node sent: ${fmtMsgs(sent)}`);
    assert.equal(r3.state, StateType.Follower, st(r3));
    assert.equal(r3.term, 1, st(r3));
    assert.equal(nt.raft(1).state, StateType.Leader, states(nt, [1, 2, 3]));
    assert.equal(nt.raft(1).term, 1, states(nt, [1, 2, 3]));
  });
});

// ---- a follower that loses its connection to the leader ----------------------------------------------------

describe('connection loss ends the leader lease early (reportConnectionLost)', () => {
  const safe = { preVote: true, checkQuorum: true };

  /** A 3-node cluster led by 1, every node with its own seed (its own randomized election timeout). */
  function ledCluster(seed: number, opts: TestRaftOptions = safe): Network {
    const nt = new Network([1, 2, 3].map((id) => node(id, [1, 2, 3], { opts: { ...opts, seed: seed * 10 + id } }).r));
    nt.campaign(1);
    assert.equal(nt.raft(1).state, StateType.Leader, states(nt, [1, 2, 3]));
    return nt;
  }

  /** Ticks 2 and 3 in turn (1 is dead) until one leads; the number of rounds, or -1 after `max`. */
  function roundsToNewLeader(nt: Network, max: number): number {
    for (let round = 1; round <= max; round++) {
      for (const id of [2, 3]) tickDelivering(nt, id, 1);
      if ([2, 3].some((id) => nt.raft(id).state === StateType.Leader)) return round;
    }
    return -1;
  }

  test('when the dead leader\'s followers hear of it, a new leader is elected in a fraction of an election timeout; without it, never before one', () => {
    const withReport: number[] = [];
    const without: number[] = [];
    for (let seed = 1; seed <= 30; seed++) {
      for (const report of [true, false]) {
        const nt = ledCluster(seed);
        nt.peers.set(1n, new BlackHole()); // kill -9
        if (report) for (const id of [2, 3]) nt.raft(id).connectionLost(1n);
        const rounds = roundsToNewLeader(nt, 4 * ET);
        assert.notEqual(rounds, -1, `seed ${seed} report=${report}: no leader after ${4 * ET} rounds: ${states(nt, [2, 3])}`);
        (report ? withReport : without).push(rounds);
      }
    }
    // Two followers each campaign after a uniform [0, ET) ticks; the same tick for both splits the vote.
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    assert.ok(without.every((r) => r >= ET), `without a report nobody wins inside the lease: ${without.join(' ')}`);
    assert.ok(median(withReport) <= ET / 2, `with a report: median ${median(withReport)} rounds (${withReport.join(' ')})`);
    assert.ok(median(withReport) + ET <= median(without) + 1, `with ${withReport.join(' ')}; without ${without.join(' ')}`);
  });

  test('a false alarm (the leader lives and the other follower hears it) changes no term and no leader', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const nt = ledCluster(seed);
      const term = nt.raft(1).term;
      nt.raft(2).connectionLost(1n);
      for (let round = 0; round < 5 * ET; round++) {
        for (const id of [1, 2, 3]) tickDelivering(nt, id, 1);
        if (round % 7 === 3) nt.raft(2).connectionLost(1n); // the alarm repeats, e.g. while a proxy resets links
      }
      for (const id of [1, 2, 3]) assert.equal(nt.raft(id).term, term, `seed ${seed}: ${states(nt, [1, 2, 3])}`);
      assert.equal(nt.raft(1).state, StateType.Leader, `seed ${seed}: ${states(nt, [1, 2, 3])}`);
      assert.equal(nt.raft(2).lead, 1n, `seed ${seed}: ${states(nt, [1, 2, 3])}`);
    }
  });

  test('it is a no-op without pre-vote or check-quorum, for a peer that is not the leader, and on the leader', () => {
    for (const opts of [{ preVote: false, checkQuorum: true }, { preVote: true, checkQuorum: false }]) {
      const nt = ledCluster(1, opts);
      const before = nt.raft(2).electionElapsed;
      nt.raft(2).connectionLost(1n);
      assert.equal(nt.raft(2).electionElapsed, before, JSON.stringify(opts));
    }
    const nt = ledCluster(1);
    nt.raft(2).connectionLost(3n);
    assert.equal(nt.raft(2).electionElapsed, 0, 'a follower that lost another follower keeps the lease');
    nt.raft(1).connectionLost(2n);
    assert.equal(nt.raft(1).electionElapsed, 0, 'the leader keeps its lease');
    nt.raft(2).connectionLost(1n);
    assert.equal(nt.raft(2).electionElapsed, ET, 'the lease of the lost leader ends');
  });
});
