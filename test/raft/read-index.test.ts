/**
 * Client interaction (Raft paper §8) and linearizable reads with ReadIndex (thesis §6.4).
 *
 * A read request is a MsgReadIndex whose single entry carries the request id (ctx). The leader records its
 * commit index, confirms it is still leader with a heartbeat round carrying the ctx, and once a quorum has
 * acknowledged, answers with a ReadState { index, requestCtx } (locally, or as a MsgReadIndexResp to the
 * follower that forwarded it). In this core, requests arriving between two message collections
 * (`takeMessages()`) share one heartbeat round.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  EntryType,
  ErrInvalidConfig,
  ErrProposalDropped,
  type Message,
  MessageType,
  type Raft,
  MemoryStorage,
  ReadOnlyOption,
  type ReadState,
  StateType,
  emptyBytes,
  newEntry,
} from '../../src/server/raft/index.js';
import { Network, dec, enc, msg, newTestRaft, storageWithConfig } from '../sim/network.js';

// ---- helpers ------------------------------------------------------------------------------------------------

/** A read request with id `ctx`, stepped at node `at` (from itself, as RawNode.readIndex does). */
function readReq(at: number, ctx: string): Message {
  return msg(at, at, MessageType.MsgReadIndex, { entries: [newEntry(0, 0, enc(ctx))] });
}

function prop(id: number, data = 'x'): Message {
  return msg(id, id, MessageType.MsgProp, { entries: [newEntry(0, 0, enc(data))] });
}

/** The read states of `r` as [ctx, index] pairs, cleared as a Ready would. */
function takeReads(r: Raft): [string, number][] {
  const rs = r.readStates.map((s: ReadState): [string, number] => [dec(s.requestCtx), s.index]);
  r.readStates = [];
  return rs;
}

function heartbeats(msgs: readonly Message[]): Message[] {
  return msgs.filter((m) => m.type === MessageType.MsgHeartbeat);
}

/** Three nodes, node 1 leader with its no-op committed everywhere. */
function cluster(opts: Parameters<typeof newTestRaft>[4] = {}): Network {
  const nt = new Network([null, null, null], opts);
  nt.campaign(1);
  const n1 = nt.raft(1);
  assert.equal(n1.state, StateType.Leader);
  assert.equal(n1.raftLog.committed, 1);
  return nt;
}

// ---- ReadIndex ----------------------------------------------------------------------------------------------

describe('thesis §6.4: ReadIndex', () => {
  test('a read at the leader yields a ReadState with the commit index only once a quorum acknowledged the heartbeat carrying its ctx', () => {
    const nt = cluster();
    const n1 = nt.raft(1);
    nt.propose(1, 'w');
    const commit = n1.raftLog.committed;

    n1.step(readReq(1, 'r1'));
    assert.deepEqual(takeReads(n1), [], 'answered before any heartbeat round');
    const out = n1.takeMessages();
    const hbs = heartbeats(out);
    assert.deepEqual(
      hbs.map((m) => m.to),
      [2n, 3n],
      'one heartbeat to each follower',
    );
    for (const m of hbs) assert.equal(dec(m.context ?? emptyBytes), 'r1', 'the heartbeat does not carry the read ctx');
    assert.deepEqual(takeReads(n1), [], 'answered before any acknowledgement');

    // Node 3 is cut off: 1 (itself) and 2 make a quorum of 3.
    nt.isolate(3);
    nt.send(...out);
    assert.deepEqual(takeReads(n1), [['r1', commit]]);
  });

  test('a read at a leader that only hears from itself (1/3) is not answered, until a quorum acknowledges a later heartbeat', () => {
    const nt = cluster();
    const n1 = nt.raft(1);
    nt.isolate(2);
    nt.isolate(3);
    nt.send(readReq(1, 'r1'));
    assert.deepEqual(takeReads(n1), [], 'a read was answered without a quorum');
    assert.equal(n1.readOnly.pendingCount(), 1);

    nt.recover();
    n1.tick(); // heartbeat timeout 1: the next round carries the pending read's ctx
    const hbs = heartbeats(n1.takeMessages());
    assert.equal(hbs.length, 2);
    for (const m of hbs) assert.equal(dec(m.context ?? emptyBytes), 'r1', 'a regular heartbeat must carry the pending ctx');
    nt.send(...hbs);
    assert.deepEqual(takeReads(n1), [['r1', 1]]);
  });

  test('an acknowledgement without the ctx (an ordinary heartbeat response) does not confirm a read', () => {
    const nt = cluster();
    const n1 = nt.raft(1);
    n1.step(readReq(1, 'r1'));
    n1.takeMessages();
    n1.step(msg(2, 1, MessageType.MsgHeartbeatResp, { term: n1.term }));
    n1.step(msg(3, 1, MessageType.MsgHeartbeatResp, { term: n1.term, context: enc('other') }));
    assert.deepEqual(takeReads(n1), []);
    n1.step(msg(3, 1, MessageType.MsgHeartbeatResp, { term: n1.term, context: enc('r1') }));
    assert.deepEqual(takeReads(n1), [['r1', 1]]);
  });

  test('a learner’s acknowledgement does not count toward a read quorum', () => {
    const mk = (id: number) => newTestRaft(id, 10, 1, storageWithConfig([1, 2, 3], [4]));
    const nt = new Network([mk(1), mk(2), mk(3), mk(4)]);
    nt.campaign(1);
    const n1 = nt.raft(1);
    nt.isolate(2);
    nt.isolate(3);
    const start = nt.delivered.length;
    nt.send(readReq(1, 'r'));
    assert.ok(
      nt.delivered.slice(start).some((m) => m.type === MessageType.MsgHeartbeatResp && m.from === 4n),
      'setup: the learner should acknowledge the heartbeat',
    );
    assert.deepEqual(takeReads(n1), [], 'the leader and a learner confirmed a read');
    nt.recover();
    n1.tick();
    nt.send(...n1.takeMessages());
    assert.deepEqual(takeReads(n1), [['r', 1]]);
  });

  test('thesis §4.3: in a joint config, a read needs a quorum of each half', () => {
    const joint = { voters: [1n, 2n, 4n], votersOutgoing: [1n, 2n, 3n], learners: [], learnersNext: [], autoLeave: false };
    const mk = (id: number) => newTestRaft(id, 10, 1, new MemoryStorage(joint));
    const nt = new Network([mk(1), mk(2), mk(3), mk(4)]);
    nt.campaign(1);
    const n1 = nt.raft(1);
    assert.equal(n1.state, StateType.Leader);
    const commit = n1.raftLog.committed;
    // 1 and 4 are a quorum of (1 2 4) but not of (1 2 3).
    nt.isolate(2);
    nt.isolate(3);
    nt.send(readReq(1, 'j'));
    assert.deepEqual(takeReads(n1), [], 'a read was confirmed by a quorum of one half only');
    // 1, 3 and 4 are a quorum of both.
    nt.recover();
    nt.isolate(2);
    n1.tick();
    nt.send(...n1.takeMessages());
    assert.deepEqual(takeReads(n1), [['j', commit]]);
  });

  test('a read forwarded from a follower comes back as MsgReadIndexResp and a ReadState at the follower', () => {
    const nt = cluster();
    nt.propose(1, 'w');
    const n1 = nt.raft(1);
    const n2 = nt.raft(2);
    const start = nt.delivered.length;
    nt.send(readReq(2, 'f1'));
    const traffic = nt.delivered.slice(start);
    assert.ok(
      traffic.some((m) => m.type === MessageType.MsgReadIndex && m.from === 2n && m.to === 1n),
      'the follower did not forward the read to the leader',
    );
    const resp = traffic.filter((m) => m.type === MessageType.MsgReadIndexResp);
    assert.equal(resp.length, 1);
    assert.equal(resp[0]?.to, 2n);
    assert.equal(resp[0]?.index, n1.raftLog.committed);
    assert.deepEqual(takeReads(n2), [['f1', n1.raftLog.committed]]);
    assert.deepEqual(takeReads(n1), [], 'the leader kept a ReadState for a forwarded read');
  });

  test('a read at a follower with no known leader is dropped', () => {
    const r = newTestRaft(2, 10, 1, storageWithConfig([1, 2, 3]));
    r.step(readReq(2, 'x'));
    assert.deepEqual(r.takeMessages(), []);
    assert.deepEqual(takeReads(r), []);
  });

  test('§8: a new leader holds reads until an entry of its term is committed, then answers them', () => {
    const nt = cluster();
    nt.propose(1, 'w');
    const n2 = nt.raft(2);
    const oldCommit = n2.raftLog.committed;
    assert.equal(oldCommit, 2);

    // Node 2 wins term 2 but its no-op cannot be replicated yet.
    nt.ignore(MessageType.MsgApp);
    nt.campaign(2);
    assert.equal(n2.state, StateType.Leader);
    assert.equal(n2.raftLog.committed, oldCommit, 'the no-op of term 2 must not be committed yet');

    const start = nt.delivered.length;
    nt.send(readReq(2, 'r1'));
    assert.deepEqual(takeReads(n2), [], 'a read was answered before the new leader committed an entry of its term');
    assert.ok(
      !nt.delivered.slice(start).some((m) => m.type === MessageType.MsgHeartbeat && m.context !== undefined),
      'a heartbeat round for the read went out before an entry of the new term was committed',
    );
    assert.equal(n2.pendingReadIndexMessages.length, 1);

    nt.recover();
    n2.tick(); // a heartbeat un-pauses replication; the no-op gets through and commits
    nt.send(...n2.takeMessages());
    assert.equal(n2.raftLog.maybeTerm(n2.raftLog.committed), n2.term, 'no entry of term 2 committed');
    assert.deepEqual(takeReads(n2), [['r1', n2.raftLog.committed]], 'the held read was not answered after the commit');
    assert.equal(n2.pendingReadIndexMessages.length, 0);
  });

  test('a single-voter leader answers reads at once, without any message', () => {
    const r = newTestRaft(1, 10, 1, storageWithConfig([1]));
    r.step(msg(1, 1, MessageType.MsgHup));
    assert.equal(r.state, StateType.Leader);
    r.takeMessages();
    r.step(readReq(1, 'solo'));
    assert.deepEqual(takeReads(r), [['solo', r.raftLog.committed]]);
    assert.deepEqual(r.takeMessages(), []);
  });

  test('batching: many reads between two message collections share exactly one heartbeat round, and all are answered in order', () => {
    const nt = cluster();
    const n1 = nt.raft(1);
    const ctxs = Array.from({ length: 10 }, (_, i) => `b${i}`);
    for (const c of ctxs) n1.step(readReq(1, c));
    const out = n1.takeMessages();
    const hbs = heartbeats(out);
    assert.equal(hbs.length, 2, 'expected one heartbeat per follower for the whole batch');
    for (const m of hbs) assert.equal(dec(m.context ?? emptyBytes), 'b9', 'the batch heartbeat must carry the newest ctx');

    const start = nt.delivered.length;
    nt.send(...out);
    assert.equal(
      heartbeats(nt.delivered.slice(start)).length,
      2,
      'more heartbeats were sent while confirming the batch',
    );
    assert.deepEqual(
      takeReads(n1),
      ctxs.map((c) => [c, 1]),
    );
    assert.equal(n1.readOnly.pendingCount(), 0);
  });

  test('batching: reads forwarded by followers are batched with local reads', () => {
    const nt = cluster();
    const n1 = nt.raft(1);
    n1.step(readReq(1, 'local'));
    n1.step(msg(2, 1, MessageType.MsgReadIndex, { entries: [newEntry(0, 0, enc('from2'))] }));
    n1.step(msg(3, 1, MessageType.MsgReadIndex, { entries: [newEntry(0, 0, enc('from3'))] }));
    const out = n1.takeMessages();
    assert.equal(heartbeats(out).length, 2);
    nt.send(...out);
    assert.deepEqual(takeReads(n1), [['local', 1]]);
    assert.deepEqual(takeReads(nt.raft(2)), [['from2', 1]]);
    assert.deepEqual(takeReads(nt.raft(3)), [['from3', 1]]);
  });

  test('a later request’s quorum acknowledgement releases earlier ones whose round was lost', () => {
    const nt = cluster();
    const n1 = nt.raft(1);
    n1.step(readReq(1, 'first'));
    const lost = heartbeats(n1.takeMessages());
    assert.equal(lost.length, 2);
    // The first round never arrives. A proposal commits in between, so the two reads have different indexes.
    nt.propose(1, 'w');
    n1.step(readReq(1, 'second'));
    const out = n1.takeMessages();
    for (const m of heartbeats(out)) assert.equal(dec(m.context ?? emptyBytes), 'second');
    nt.send(...out);
    assert.deepEqual(takeReads(n1), [
      ['first', 1],
      ['second', 2],
    ]);
    // A late acknowledgement of the first round changes nothing.
    nt.send(...lost);
    assert.deepEqual(takeReads(n1), []);
  });

  test('the same ctx twice while pending is queued once', () => {
    const nt = cluster();
    const n1 = nt.raft(1);
    n1.step(readReq(1, 'dup'));
    n1.step(readReq(1, 'dup'));
    assert.equal(n1.readOnly.pendingCount(), 1);
    nt.send(...n1.takeMessages());
    assert.equal(takeReads(n1).length, 1);
  });

  test('ReadOnlyOption.LeaseBased answers from the leader lease, without a heartbeat round', () => {
    const nt = cluster({ checkQuorum: true, readOnlyOption: ReadOnlyOption.LeaseBased });
    const n1 = nt.raft(1);
    n1.takeMessages();
    n1.step(readReq(1, 'lease'));
    assert.deepEqual(takeReads(n1), [['lease', 1]]);
    assert.deepEqual(heartbeats(n1.takeMessages()), [], 'a lease-based read sent heartbeats');
    // Forwarded reads are answered the same way.
    const start = nt.delivered.length;
    nt.send(readReq(3, 'lease3'));
    assert.deepEqual(takeReads(nt.raft(3)), [['lease3', 1]]);
    assert.deepEqual(heartbeats(nt.delivered.slice(start)), []);
  });

  test('ReadOnlyOption.LeaseBased requires checkQuorum', () => {
    assert.throws(
      () => newTestRaft(1, 10, 1, storageWithConfig([1, 2, 3]), { checkQuorum: false, readOnlyOption: ReadOnlyOption.LeaseBased }),
      ErrInvalidConfig,
    );
  });

  test('pending reads are dropped when the leader steps down', () => {
    const nt = cluster();
    const n1 = nt.raft(1);
    nt.isolate(1);
    nt.send(readReq(1, 'lost'));
    assert.equal(n1.readOnly.pendingCount(), 1);
    n1.step(msg(2, 1, MessageType.MsgApp, { term: n1.term + 1, index: 1, logTerm: 1 }));
    assert.equal(n1.state, StateType.Follower);
    assert.equal(n1.readOnly.pendingCount(), 0);
    assert.deepEqual(takeReads(n1), []);
  });
});

// ---- client interaction (§8) --------------------------------------------------------------------------------

describe('§8: client interaction', () => {
  test('§8: a proposal at a follower is forwarded to the leader and committed', () => {
    const nt = cluster();
    const start = nt.delivered.length;
    nt.send(prop(2, 'via 2'));
    assert.ok(
      nt.delivered.slice(start).some((m) => m.type === MessageType.MsgProp && m.from === 2n && m.to === 1n),
      'the follower did not forward the proposal',
    );
    const n1 = nt.raft(1);
    const last = n1.raftLog.lastIndex();
    assert.equal(last, 2);
    const ents = n1.raftLog.slice(last, last + 1, Number.POSITIVE_INFINITY);
    assert.equal(dec(ents[0]?.data ?? emptyBytes), 'via 2');
    for (const id of [1, 2, 3]) assert.equal(nt.raft(id).raftLog.committed, last, `node ${id} commit`);
  });

  test('§8: a proposal with no known leader is dropped (ErrProposalDropped)', () => {
    const follower = newTestRaft(1, 10, 1, storageWithConfig([1, 2, 3]));
    assert.throws(() => follower.step(prop(1)), ErrProposalDropped);
    assert.deepEqual(follower.takeMessages(), []);
    assert.equal(follower.raftLog.lastIndex(), 0);
    const candidate = newTestRaft(1, 10, 1, storageWithConfig([1, 2, 3]));
    candidate.step(msg(1, 1, MessageType.MsgHup));
    assert.equal(candidate.state, StateType.Candidate);
    candidate.takeMessages();
    assert.throws(() => candidate.step(prop(1)), ErrProposalDropped);
    assert.equal(candidate.raftLog.lastIndex(), 0);
  });

  test('disableProposalForwarding: followers drop proposals instead of forwarding them', () => {
    const nt = cluster({ disableProposalForwarding: true });
    const n1 = nt.raft(1);
    const n2 = nt.raft(2);
    const last = n1.raftLog.lastIndex();
    assert.throws(() => n2.step(prop(2)), ErrProposalDropped);
    assert.deepEqual(n2.takeMessages(), [], 'the follower forwarded the proposal');
    assert.equal(n1.raftLog.lastIndex(), last);
    nt.propose(1, 'at the leader');
    assert.equal(n1.raftLog.committed, last + 1, 'the leader itself must still accept proposals');
  });

  test('§8: a new leader appends and commits an empty entry of its term first, committing earlier entries with it', () => {
    const nt = cluster();
    const n1 = nt.raft(1);
    // An entry of term 1 reaches every log, but its commit is never learned (acks are lost).
    nt.ignore(MessageType.MsgAppResp);
    nt.propose(1, 'old');
    assert.equal(n1.raftLog.committed, 1);
    for (const id of [2, 3]) assert.equal(nt.raft(id).raftLog.lastIndex(), 2, `node ${id} lacks the entry`);
    nt.recover();

    nt.campaign(2);
    const n2 = nt.raft(2);
    assert.equal(n2.state, StateType.Leader);
    assert.equal(n2.term, 2);
    const noop = n2.raftLog.slice(3, 4, Number.POSITIVE_INFINITY)[0];
    assert.ok(noop !== undefined);
    assert.equal(noop.term, 2, 'the first entry of the new leader must be of its term');
    assert.equal(noop.type, EntryType.Normal);
    assert.equal(noop.data.length, 0, 'the first entry of the new leader must be empty');
    assert.equal(n2.raftLog.committed, 3, 'the leader must commit its no-op and, with it, the old entry before it');
    // Followers learn the commit index at the latest with the next heartbeat.
    n2.tick();
    nt.send(...n2.takeMessages());
    for (const id of [1, 3]) {
      assert.equal(nt.raft(id).raftLog.committed, 3, `node ${id}: the no-op and the old entry before it must commit`);
    }
  });

  test('§5.3: after an election, every follower that acknowledged the no-op learns its commit without waiting for a heartbeat', () => {
    // etcd's leader sends the commit index to a follower whose acknowledgement arrives after the commit was
    // broadcast (raft.go stepLeader MsgAppResp: `pr.CanBumpCommit`, formerly `oldPaused`), so that all
    // followers apply the new leader's no-op within the same round of messages.
    for (const n of [3, 5]) {
      const nt = new Network(Array.from({ length: n }, () => null));
      nt.campaign(1);
      const leader = nt.raft(1);
      assert.equal(leader.raftLog.committed, 1);
      for (let id = 2; id <= n; id++) {
        assert.equal(leader.trk.progress.get(BigInt(id))?.match, 1, `${n} nodes: node ${id} did not acknowledge the no-op`);
        assert.equal(nt.raft(id).raftLog.committed, 1, `${n} nodes: node ${id} was not told the no-op is committed`);
      }
    }
  });
});
