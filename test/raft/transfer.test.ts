/**
 * Leadership transfer (Raft thesis §3.10): the leader brings the transferee's log up to date, then sends it
 * MsgTimeoutNow, on which the transferee campaigns at once (skipping pre-vote and overriding leader leases);
 * the leader stops accepting proposals meanwhile, and gives up after an election timeout.
 *
 * A transfer is requested with a MsgTransferLeader whose `from` is the transferee.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ConfChangeTransition,
  ConfChangeType,
  ErrProposalDropped,
  type Message,
  MessageType,
  None,
  type NodeId,
  type Raft,
  StateType,
  emptyBytes,
  newEntry,
} from '../../src/server/raft/index.js';
import { Network, enc, msg, newTestRaft, storageWithConfig, tickN } from '../sim/network.js';

// ---- helpers ------------------------------------------------------------------------------------------------

/** A request at `at` to transfer leadership to `to`. */
function transfer(to: number, at: number): Message {
  return msg(to, at, MessageType.MsgTransferLeader);
}

function prop(id: number, data = 'x'): Message {
  return msg(id, id, MessageType.MsgProp, { entries: [newEntry(0, 0, enc(data))] });
}

/** Checks the leader-transfer outcome as etcd's tests do: the node's role, its leader and no transfer pending. */
function checkState(r: Raft, state: StateType, lead: number, ctx: string): void {
  assert.equal(r.state, state, `${ctx}: state of node ${r.id}`);
  assert.equal(r.lead, BigInt(lead), `${ctx}: leader known to node ${r.id}`);
  assert.equal(r.leadTransferee, None, `${ctx}: a transfer is still pending at node ${r.id}`);
}

function timeoutNowTo(msgs: readonly Message[], to: NodeId): Message[] {
  return msgs.filter((m) => m.type === MessageType.MsgTimeoutNow && m.to === to);
}

/** Three nodes, node 1 leader at term 1 with its no-op committed everywhere. */
function cluster(opts: Parameters<typeof newTestRaft>[4] = {}): Network {
  const nt = new Network([null, null, null], opts);
  nt.campaign(1);
  assert.equal(nt.raft(1).state, StateType.Leader);
  return nt;
}

// ---- tests --------------------------------------------------------------------------------------------------

describe('thesis §3.10: leadership transfer', () => {
  test('transfer to an up-to-date follower: MsgTimeoutNow is sent at once and the transferee wins the next term', () => {
    const nt = cluster();
    const n1 = nt.raft(1);
    const term = n1.term;
    n1.step(transfer(2, 1));
    assert.equal(n1.leadTransferee, 2n);
    const out = n1.takeMessages();
    assert.equal(timeoutNowTo(out, 2n).length, 1, 'the leader did not send MsgTimeoutNow at once');
    assert.ok(!out.some((m) => m.type === MessageType.MsgApp), 'no catch-up needed for an up-to-date follower');
    nt.send(...out);
    const n2 = nt.raft(2);
    checkState(n1, StateType.Follower, 2, 'old leader');
    checkState(n2, StateType.Leader, 2, 'transferee');
    assert.equal(n2.term, term + 1, 'the transferee must win the next term');
    // The new leader works: a proposal commits everywhere.
    nt.propose(2, 'after');
    for (const id of [1, 2, 3]) assert.equal(nt.raft(id).raftLog.committed, n2.raftLog.lastIndex(), `node ${id} commit`);
  });

  test('transfer back and forth works repeatedly', () => {
    const nt = cluster();
    nt.send(transfer(2, 1));
    checkState(nt.raft(2), StateType.Leader, 2, 'first transfer');
    nt.send(transfer(1, 2));
    checkState(nt.raft(1), StateType.Leader, 1, 'second transfer');
    assert.equal(nt.raft(1).term, 3);
  });

  test('transfer to a lagging follower: the leader first catches it up, then sends MsgTimeoutNow', () => {
    const nt = cluster();
    const n1 = nt.raft(1);
    nt.isolate(3);
    nt.propose(1, 'missed by 3');
    nt.recover();
    const last = n1.raftLog.lastIndex();
    assert.ok((n1.trk.progress.get(3n)?.match ?? 0) < last, 'node 3 should lag');

    n1.step(transfer(3, 1));
    const out = n1.takeMessages();
    assert.equal(timeoutNowTo(out, 3n).length, 0, 'MsgTimeoutNow sent to a follower that is not up to date');
    assert.ok(out.some((m) => m.type === MessageType.MsgApp && m.to === 3n), 'the leader did not start catching node 3 up');
    assert.equal(n1.leadTransferee, 3n);

    const start = nt.delivered.length;
    nt.send(...out);
    const traffic = nt.delivered.slice(start);
    const tn = traffic.findIndex((m) => m.type === MessageType.MsgTimeoutNow && m.to === 3n);
    assert.ok(tn >= 0, 'no MsgTimeoutNow after catching up');
    const caughtUp = traffic.findIndex((m) => m.type === MessageType.MsgAppResp && m.from === 3n && !m.reject && m.index === last);
    assert.ok(caughtUp >= 0 && caughtUp < tn, 'MsgTimeoutNow must follow node 3 acknowledging the last entry');
    checkState(nt.raft(3), StateType.Leader, 3, 'transferee');
    checkState(n1, StateType.Follower, 3, 'old leader');
  });

  test('a transfer requested at a follower is forwarded to the leader', () => {
    const nt = cluster();
    const start = nt.delivered.length;
    nt.send(transfer(2, 2));
    assert.ok(
      nt.delivered.slice(start).some((m) => m.type === MessageType.MsgTransferLeader && m.from === 2n && m.to === 1n),
      'the follower did not forward the request',
    );
    checkState(nt.raft(2), StateType.Leader, 2, 'transferee');
    checkState(nt.raft(1), StateType.Follower, 2, 'old leader');
  });

  test('a transfer requested at a follower for another node is forwarded too', () => {
    const nt = cluster();
    nt.send(transfer(3, 2));
    checkState(nt.raft(3), StateType.Leader, 3, 'transferee');
  });

  test('a transfer to the leader itself is ignored', () => {
    const nt = cluster();
    const n1 = nt.raft(1);
    const term = n1.term;
    nt.send(transfer(1, 1));
    checkState(n1, StateType.Leader, 1, 'leader');
    assert.equal(n1.term, term);
    nt.propose(1, 'still serving');
    assert.equal(n1.raftLog.committed, n1.raftLog.lastIndex());
  });

  test('a transfer to a learner is ignored', () => {
    const spec = (id: number) => newTestRaft(id, 10, 1, storageWithConfig([1, 2], [3]));
    const nt = new Network([spec(1), spec(2), spec(3)]);
    nt.campaign(1);
    const n1 = nt.raft(1);
    const start = nt.delivered.length;
    nt.send(transfer(3, 1));
    checkState(n1, StateType.Leader, 1, 'leader');
    assert.equal(timeoutNowTo(nt.delivered.slice(start), 3n).length, 0, 'MsgTimeoutNow sent to a learner');
    assert.equal(nt.raft(3).state, StateType.Follower);
  });

  test('a transfer to a node outside the config is ignored', () => {
    const nt = cluster();
    const n1 = nt.raft(1);
    const start = nt.delivered.length;
    nt.send(transfer(4, 1));
    checkState(n1, StateType.Leader, 1, 'leader');
    assert.equal(timeoutNowTo(nt.delivered.slice(start), 4n).length, 0);
    nt.propose(1, 'still serving');
    assert.equal(n1.raftLog.committed, n1.raftLog.lastIndex());
  });

  test('transfer to a follower that needs a snapshot: the leader sends the snapshot first, then MsgTimeoutNow', () => {
    const nt = cluster();
    const n1 = nt.raft(1);
    const s1 = nt.storage.get(1n);
    assert.ok(s1 !== undefined);
    nt.isolate(3);
    nt.propose(1, 'a');
    nt.propose(1, 'b');
    // The leader persists, applies and snapshots everything, compacting its log: node 3 can only get a snapshot.
    const ents = n1.raftLog.nextUnstableEntries();
    s1.append(ents);
    const lastEnt = ents[ents.length - 1];
    assert.ok(lastEnt !== undefined);
    n1.raftLog.stableTo(lastEnt.index, lastEnt.term);
    n1.appliedTo(n1.raftLog.committed);
    s1.createSnapshot(n1.raftLog.applied, n1.trk.confState(), enc('state'));
    s1.compact(n1.raftLog.applied);
    nt.recover();

    // Node 3 must persist and apply the snapshot before it can campaign: hold back its acknowledgement of the
    // snapshot until it has (as the application would, between Ready and advance).
    let held: Message | undefined;
    nt.msgHook = (m) => {
      if (m.type === MessageType.MsgAppResp && m.from === 3n && !m.reject && held === undefined) {
        held = m;
        return false;
      }
      return true;
    };
    const start = nt.delivered.length;
    nt.send(transfer(3, 1));
    const snapMsg = nt.delivered.slice(start).find((m) => m.type === MessageType.MsgSnap && m.to === 3n);
    assert.ok(snapMsg !== undefined, 'node 3 got no snapshot');
    assert.ok(held !== undefined, 'node 3 did not acknowledge the snapshot');
    assert.equal(n1.state, StateType.Leader, 'the leader handed over before node 3 acknowledged the snapshot');
    assert.equal(timeoutNowTo(nt.delivered.slice(start), 3n).length, 0, 'MsgTimeoutNow sent before the snapshot was acknowledged');

    const n3 = nt.raft(3);
    const snap = n3.raftLog.unstable.snapshot;
    assert.ok(snap !== undefined, 'node 3 holds no pending snapshot');
    nt.storage.get(3n)?.applySnapshot(snap);
    n3.raftLog.stableSnapTo(snap.metadata.index);
    n3.appliedTo(snap.metadata.index);
    nt.msgHook = undefined;
    const mid = nt.delivered.length;
    nt.send(held);
    assert.equal(timeoutNowTo(nt.delivered.slice(mid), 3n).length, 1, 'no MsgTimeoutNow once node 3 caught up');
    checkState(n3, StateType.Leader, 3, 'transferee');
    checkState(n1, StateType.Follower, 3, 'old leader');
  });

  test('proposals are dropped while a transfer is in progress', () => {
    const nt = cluster();
    const n1 = nt.raft(1);
    nt.isolate(3);
    nt.propose(1);
    nt.send(transfer(3, 1)); // node 3 cannot be caught up: the transfer stays pending
    assert.equal(n1.leadTransferee, 3n);
    const last = n1.raftLog.lastIndex();
    assert.throws(() => n1.step(prop(1, 'dropped')), ErrProposalDropped);
    assert.equal(n1.raftLog.lastIndex(), last, 'a proposal was appended during the transfer');
    // Forwarded proposals are dropped too.
    nt.send(prop(2, 'forwarded'));
    assert.equal(n1.raftLog.lastIndex(), last, 'a forwarded proposal was appended during the transfer');
  });

  test('a transfer not completed within an election timeout is aborted and the leader keeps serving', () => {
    const nt = cluster();
    const n1 = nt.raft(1);
    nt.isolate(3);
    nt.propose(1);
    nt.send(transfer(3, 1));
    assert.equal(n1.leadTransferee, 3n);
    for (let i = 0; i < n1.electionTimeout - 1; i++) {
      n1.tick();
      nt.send(...n1.takeMessages());
    }
    assert.equal(n1.leadTransferee, 3n, 'the transfer was aborted before an election timeout');
    n1.tick();
    nt.send(...n1.takeMessages());
    checkState(n1, StateType.Leader, 1, 'after the timeout');
    nt.propose(1, 'accepted again');
    assert.equal(n1.raftLog.committed, n1.raftLog.lastIndex(), 'the leader does not serve after the aborted transfer');
  });

  test('a second transfer to another node replaces the first', () => {
    const nt = cluster();
    const n1 = nt.raft(1);
    nt.isolate(3);
    nt.propose(1);
    nt.send(transfer(3, 1));
    assert.equal(n1.leadTransferee, 3n);
    nt.send(transfer(2, 1));
    checkState(nt.raft(2), StateType.Leader, 2, 'second transferee');
    checkState(n1, StateType.Follower, 2, 'old leader');
  });

  test('a repeated transfer to the same node does not restart the election-timeout deadline', () => {
    const nt = cluster();
    const n1 = nt.raft(1);
    nt.isolate(3);
    nt.propose(1);
    nt.send(transfer(3, 1));
    tickN(n1, n1.electionTimeout - 1);
    nt.send(...n1.takeMessages());
    nt.send(transfer(3, 1));
    assert.equal(n1.leadTransferee, 3n);
    n1.tick();
    nt.send(...n1.takeMessages());
    checkState(n1, StateType.Leader, 1, 'the deadline counts from the first request');
  });

  test('transfer with checkQuorum on succeeds: the transferee’s vote request overrides the followers’ leader lease', () => {
    const nt = cluster({ checkQuorum: true });
    const n1 = nt.raft(1);
    const n3 = nt.raft(3);
    const term = n1.term;
    // Node 3 has just heard from its leader: an ordinary vote request of a higher term is ignored (the lease) ...
    nt.send(...n1.takeMessages());
    n1.step(msg(1, 1, MessageType.MsgBeat));
    nt.send(...n1.takeMessages());
    n3.step(msg(2, 3, MessageType.MsgVote, { term: term + 1, index: n3.raftLog.lastIndex(), logTerm: n3.raftLog.lastTerm() }));
    assert.deepEqual(n3.takeMessages(), [], 'node 3 answered a vote request during its lease');
    assert.equal(n3.term, term, 'the lease did not protect node 3’s term');

    // ... but the vote request of a transfer is not.
    nt.send(transfer(2, 1));
    checkState(nt.raft(2), StateType.Leader, 2, 'transferee');
    checkState(n1, StateType.Follower, 2, 'old leader');
    assert.equal(nt.raft(2).term, term + 1);
  });

  test('transfer with pre-vote on skips the pre-vote round', () => {
    const nt = cluster({ preVote: true });
    const start = nt.delivered.length;
    nt.send(transfer(2, 1));
    checkState(nt.raft(2), StateType.Leader, 2, 'transferee');
    assert.ok(!nt.delivered.slice(start).some((m) => m.type === MessageType.MsgPreVote), 'a transfer campaign used pre-vote');
  });

  test('a transfer to a node removed in the meantime is aborted', () => {
    const nt = cluster();
    const n1 = nt.raft(1);
    nt.ignore(MessageType.MsgTimeoutNow);
    nt.send(transfer(3, 1));
    assert.equal(n1.leadTransferee, 3n);
    n1.applyConfChange({ transition: ConfChangeTransition.Auto, changes: [{ type: ConfChangeType.RemoveNode, nodeId: 3n }], context: emptyBytes });
    checkState(n1, StateType.Leader, 1, 'after removing the transferee');
  });

  test('a transfer to a node demoted to learner is aborted once the joint config is left', () => {
    const nt = cluster();
    const n1 = nt.raft(1);
    nt.ignore(MessageType.MsgTimeoutNow);
    nt.send(transfer(3, 1));
    n1.applyConfChange({
      transition: ConfChangeTransition.JointImplicit,
      changes: [
        { type: ConfChangeType.RemoveNode, nodeId: 3n },
        { type: ConfChangeType.AddLearnerNode, nodeId: 3n },
      ],
      context: emptyBytes,
    });
    // Still an outgoing voter: the transfer may still complete.
    assert.equal(n1.leadTransferee, 3n);
    n1.applyConfChange({ transition: ConfChangeTransition.Auto, changes: [], context: emptyBytes });
    checkState(n1, StateType.Leader, 1, 'after node 3 became a learner');
  });

  test('a MsgTimeoutNow at a learner or a candidate is ignored', () => {
    const learner = newTestRaft(3, 10, 1, storageWithConfig([1, 2], [3]));
    learner.step(msg(1, 3, MessageType.MsgTimeoutNow, { term: 1 }));
    assert.equal(learner.state, StateType.Follower, 'a learner campaigned on MsgTimeoutNow');
    assert.deepEqual(
      learner.takeMessages().filter((m) => m.type === MessageType.MsgVote),
      [],
    );
    const cand = newTestRaft(2, 10, 1, storageWithConfig([1, 2, 3]));
    cand.step(msg(2, 2, MessageType.MsgHup));
    const term = cand.term;
    cand.step(msg(1, 2, MessageType.MsgTimeoutNow, { term }));
    assert.equal(cand.state, StateType.Candidate);
    assert.equal(cand.term, term, 'a candidate started another election on MsgTimeoutNow');
  });
});
