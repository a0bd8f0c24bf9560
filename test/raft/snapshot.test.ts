/**
 * Snapshots (Raft §7, InstallSnapshot): when a leader sends one, how it tracks it (Snapshot progress state,
 * MsgSnapStatus), and how a follower restores or ignores one. Scenarios follow etcd-io/raft
 * raft_snap_test.go and the restore tests of raft_test.go.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type ConfState,
  type Message,
  MessageType,
  MemoryStorage,
  ProgressState,
  type Raft,
  type Snapshot,
  StateType,
  describeMessage,
  emptyConfState,
  newEntry,
  progressStateName,
} from '../../src/server/raft/index.js';
import type { Progress } from '../../src/server/raft/tracker/progress.js';
import { Network, confState, enc, entriesWithTerms, ids, msg, newTestRaft, storageWithConfig } from '../sim/network.js';

function snapshot(index: number, term: number, cs: ConfState, data = enc('snapshot')): Snapshot {
  return { data, metadata: { confState: cs, index, term } };
}

/** (1 2) at index 11, term 11: the leader's log starts after it. */
const snap11 = snapshot(11, 11, confState([1, 2]));

/**
 * Node 1 as leader of (1 2) at term 12 over a storage compacted at (11, 11): firstIndex 12, its no-op entry
 * at 12. Node 2's progress is fresh (Probe, next 12, not recently active).
 */
function leaderWithCompactedLog(): Raft {
  const s = new MemoryStorage(confState([1, 2]));
  s.applySnapshot(snap11);
  s.setHardState({ term: 11, vote: 0n, commit: 11 });
  const r = newTestRaft(1, 10, 1, s);
  r.becomeCandidate();
  r.becomeLeader();
  r.takeMessages();
  assert.equal(r.raftLog.firstIndex(), 12, 'fixture: firstIndex');
  assert.equal(r.raftLog.lastIndex(), 12, 'fixture: lastIndex (the no-op)');
  return r;
}

function pr(r: Raft, id: number): Progress {
  const p = r.trk.progress.get(BigInt(id));
  assert.ok(p !== undefined, `no progress for ${id}`);
  return p;
}

function describeAll(msgs: readonly Message[]): string {
  return msgs.map((m) => describeMessage(m)).join('; ') || '(none)';
}

function to(msgs: readonly Message[], id: number, type?: MessageType): Message[] {
  return msgs.filter((m) => m.to === BigInt(id) && (type === undefined || m.type === type));
}

function propose(r: Raft, data = 'x'): void {
  r.step(msg(1, 1, MessageType.MsgProp, { entries: [newEntry(0, 0, enc(data))] }));
}

describe('§7: the leader sends a snapshot', () => {
  test('§7: a follower whose next entry is compacted at the leader is sent a MsgSnap; its progress enters Snapshot with pendingSnapshot set', () => {
    const r = leaderWithCompactedLog();
    // Node 2 has nothing: it rejects the probe at 11 and hints index 0.
    r.step(msg(2, 1, MessageType.MsgAppResp, { term: r.term, index: 11, reject: true, rejectHint: 0 }));
    const msgs = r.takeMessages();
    const snaps = to(msgs, 2, MessageType.MsgSnap);
    assert.equal(snaps.length, 1, `expected one MsgSnap to 2, got: ${describeAll(msgs)}`);
    const m = snaps[0] as Message;
    assert.equal(m.snapshot?.metadata.index, 11, 'the snapshot sent is the storage snapshot');
    assert.equal(m.snapshot?.metadata.term, 11);
    assert.equal(m.term, r.term, 'the MsgSnap carries the leader term');
    assert.equal(to(msgs, 2, MessageType.MsgApp).length, 0, 'no MsgApp alongside the snapshot');
    const p = pr(r, 2);
    assert.equal(progressStateName(p.state), 'StateSnapshot');
    assert.equal(p.pendingSnapshot, 11);
    assert.equal(p.isPaused(), true, 'replication to 2 is paused while the snapshot is in flight');
  });

  test('§7: no snapshot is sent to a follower that is not recently active; it is sent once the follower is heard from', () => {
    const r = leaderWithCompactedLog();
    const p = pr(r, 2);
    p.next = 1; // needs entries the leader compacted
    p.recentActive = false;
    propose(r);
    let msgs = r.takeMessages();
    assert.equal(to(msgs, 2, MessageType.MsgSnap).length, 0, `no MsgSnap to an inactive follower, got: ${describeAll(msgs)}`);
    assert.equal(p.state, ProgressState.Probe, 'the follower stays in Probe');
    assert.equal(p.pendingSnapshot, 0);

    // A heartbeat response marks it active and makes the leader resend: now as a snapshot.
    r.step(msg(2, 1, MessageType.MsgHeartbeatResp, { term: r.term }));
    msgs = r.takeMessages();
    assert.equal(to(msgs, 2, MessageType.MsgSnap).length, 1, `MsgSnap once active, got: ${describeAll(msgs)}`);
    assert.equal(p.state, ProgressState.Snapshot);
  });

  test('§7: while a snapshot is pending the leader sends no entries to that follower', () => {
    const r = leaderWithCompactedLog();
    pr(r, 2).next = 1;
    pr(r, 2).becomeSnapshot(11);
    propose(r, 'a');
    propose(r, 'b');
    const msgs = r.takeMessages();
    assert.equal(to(msgs, 2).length, 0, `nothing to 2 while its snapshot is pending, got: ${describeAll(msgs)}`);
  });

  test('MsgSnapStatus finish: the follower goes to Probe from pendingSnapshot + 1, paused until the next heartbeat response', () => {
    const r = leaderWithCompactedLog();
    const p = pr(r, 2);
    p.next = 1;
    p.becomeSnapshot(11);
    r.step(msg(2, 1, MessageType.MsgSnapStatus, { reject: false }));
    assert.equal(p.state, ProgressState.Probe);
    assert.equal(p.pendingSnapshot, 0, 'the snapshot is no longer pending');
    assert.equal(p.next, 12, 'probing resumes after the snapshot');
    assert.equal(p.msgAppFlowPaused, true, 'paused until the follower is heard from');

    propose(r);
    let msgs = r.takeMessages();
    assert.equal(to(msgs, 2).length, 0, `no MsgApp while paused, got: ${describeAll(msgs)}`);

    r.step(msg(2, 1, MessageType.MsgHeartbeatResp, { term: r.term }));
    msgs = r.takeMessages();
    const apps = to(msgs, 2, MessageType.MsgApp);
    assert.equal(apps.length, 1, `the heartbeat response resumes replication, got: ${describeAll(msgs)}`);
    assert.equal((apps[0] as Message).index, 11, 'the probe follows the snapshot index');
    assert.equal((apps[0] as Message).logTerm, 11);
  });

  test('MsgSnapStatus failure: the follower goes to Probe from match + 1, paused until the next heartbeat response, then the snapshot is retried', () => {
    const r = leaderWithCompactedLog();
    const p = pr(r, 2);
    p.next = 1;
    p.becomeSnapshot(11);
    r.step(msg(2, 1, MessageType.MsgSnapStatus, { reject: true }));
    assert.equal(p.state, ProgressState.Probe);
    assert.equal(p.pendingSnapshot, 0);
    assert.equal(p.next, 1, 'next = match + 1: the snapshot never arrived');
    assert.equal(p.msgAppFlowPaused, true, 'paused until the next heartbeat response');

    propose(r);
    let msgs = r.takeMessages();
    assert.equal(to(msgs, 2).length, 0, `nothing to 2 while paused, got: ${describeAll(msgs)}`);

    r.step(msg(2, 1, MessageType.MsgHeartbeatResp, { term: r.term }));
    msgs = r.takeMessages();
    assert.equal(to(msgs, 2, MessageType.MsgSnap).length, 1, `the snapshot is retried, got: ${describeAll(msgs)}`);
  });

  test('MsgSnapStatus for a follower that is not in Snapshot state is ignored', () => {
    const r = leaderWithCompactedLog();
    const p = pr(r, 2);
    p.match = 12;
    p.becomeReplicate();
    r.step(msg(2, 1, MessageType.MsgSnapStatus, { reject: true }));
    assert.equal(p.state, ProgressState.Replicate);
    assert.equal(p.msgAppFlowPaused, false);
  });

  test('§7: a MsgAppResp that catches up a follower in Snapshot state moves it to Replicate and the leader streams the rest', () => {
    const r = leaderWithCompactedLog();
    const p = pr(r, 2);
    p.next = 1;
    p.becomeSnapshot(11);
    r.step(msg(2, 1, MessageType.MsgAppResp, { term: r.term, index: 11 }));
    assert.equal(progressStateName(p.state), 'StateReplicate');
    assert.equal(p.pendingSnapshot, 0, 'the pending snapshot is aborted');
    assert.equal(p.match, 11);
    // The leader sent its no-op (index 12) at once, optimistically moving next past it.
    assert.equal(p.next, 13);
    const msgs = r.takeMessages();
    const apps = to(msgs, 2, MessageType.MsgApp);
    assert.equal(apps.length, 1, `one MsgApp with the missing entry, got: ${describeAll(msgs)}`);
    assert.deepEqual(
      (apps[0] as Message).entries.map((e) => e.index),
      [12],
    );
  });
});

describe('§7: a follower receives a snapshot', () => {
  const cs123: ConfState = { ...emptyConfState, voters: ids(1, 2, 3) };

  test('§7: restoring a snapshot discards the log: firstIndex, lastIndex and commit follow the snapshot, the config comes from its ConfState', () => {
    const s = storageWithConfig([1, 2], [], entriesWithTerms(1, 1, 2));
    const r = newTestRaft(2, 10, 1, s);
    r.becomeFollower(2, 1n);
    const snap = snapshot(11, 11, { ...cs123, learners: ids(4) });
    r.step(msg(1, 2, MessageType.MsgSnap, { term: 2, snapshot: snap }));
    assert.equal(r.lead, 1n, 'the sender is the leader');
    assert.equal(r.raftLog.firstIndex(), 12);
    assert.equal(r.raftLog.lastIndex(), 11);
    assert.equal(r.raftLog.lastTerm(), 11);
    assert.equal(r.raftLog.committed, 11);
    assert.deepEqual(r.raftLog.allEntries(), [], 'no entry survives');
    assert.equal(r.raftLog.hasNextUnstableSnapshot(), true, 'the snapshot waits to be persisted');
    assert.deepEqual(r.trk.voterNodes(), ids(1, 2, 3), 'voters from the snapshot');
    assert.deepEqual(r.trk.learnerNodes(), ids(4), 'learners from the snapshot');
    const msgs = r.takeMessages();
    const resp = to(msgs, 1, MessageType.MsgAppResp);
    assert.equal(resp.length, 1, `one MsgAppResp, got: ${describeAll(msgs)}`);
    assert.equal((resp[0] as Message).index, 11, 'acknowledges the snapshot index');
    assert.equal((resp[0] as Message).reject, false);
  });

  test('§7: a node that is a learner in the snapshot ConfState becomes a learner', () => {
    const r = newTestRaft(3, 10, 1, storageWithConfig([1, 2, 3]));
    assert.equal(r.restore(snapshot(11, 11, { ...emptyConfState, voters: ids(1, 2), learners: ids(3) })), true);
    assert.equal(r.isLearner, true);
    assert.equal(r.promotable(), false);
  });

  test('§7: restoring the same snapshot twice takes effect only once', () => {
    const r = newTestRaft(1, 10, 1, storageWithConfig([1, 2]));
    const snap = snapshot(11, 11, cs123);
    assert.equal(r.restore(snap), true);
    assert.equal(r.restore(snap), false, 'the snapshot is not newer than the commit index any more');
    assert.equal(r.raftLog.lastIndex(), 11);
  });

  test('§7: a snapshot at or below the commit index is ignored', () => {
    const s = storageWithConfig([1, 2], [], entriesWithTerms(1, 1, 1));
    const r = newTestRaft(2, 10, 1, s);
    r.becomeFollower(1, 1n);
    r.raftLog.commitTo(3);
    for (const index of [3, 2]) {
      r.step(msg(1, 2, MessageType.MsgSnap, { term: 1, snapshot: snapshot(index, 1, confState([1, 2])) }));
      assert.equal(r.raftLog.hasNextUnstableSnapshot(), false, `snapshot at ${index} must not be restored`);
      assert.equal(r.raftLog.lastIndex(), 3, 'the log is unchanged');
      assert.equal(r.raftLog.committed, 3);
      const resp = to(r.takeMessages(), 1, MessageType.MsgAppResp);
      assert.equal(resp.length, 1);
      assert.equal((resp[0] as Message).index, 3, 'the follower reports its commit index');
    }
  });

  test('§7: a snapshot whose last entry the follower already has only fast-forwards the commit index (the log is kept)', () => {
    const s = storageWithConfig([1, 2], [], entriesWithTerms(1, 1, 1));
    const r = newTestRaft(2, 10, 1, s);
    r.becomeFollower(1, 1n);
    r.raftLog.commitTo(1);
    r.step(msg(1, 2, MessageType.MsgSnap, { term: 1, snapshot: snapshot(2, 1, confState([1, 2])) }));
    assert.equal(r.raftLog.committed, 2, 'commit moves to the snapshot index');
    assert.equal(r.raftLog.hasNextUnstableSnapshot(), false, 'the snapshot is not installed');
    assert.equal(r.raftLog.lastIndex(), 3, 'entries after the snapshot are kept (§7: retain the log following it)');
    assert.equal(r.raftLog.firstIndex(), 1);
    const resp = to(r.takeMessages(), 1, MessageType.MsgAppResp);
    assert.equal((resp[0] as Message | undefined)?.index, 2, 'the follower acknowledges up to its new commit index');
  });

  test('§7: a snapshot whose last entry conflicts with the follower log replaces the log', () => {
    const s = storageWithConfig([1, 2], [], entriesWithTerms(1, 1, 1));
    const r = newTestRaft(2, 10, 1, s);
    r.becomeFollower(2, 1n);
    r.step(msg(1, 2, MessageType.MsgSnap, { term: 2, snapshot: snapshot(2, 2, confState([1, 2])) }));
    assert.equal(r.raftLog.hasNextUnstableSnapshot(), true);
    assert.equal(r.raftLog.lastIndex(), 2, 'the conflicting entry 3 is discarded');
    assert.equal(r.raftLog.lastTerm(), 2);
  });

  test('a snapshot whose ConfState does not include the node is refused and changes nothing', () => {
    const s = storageWithConfig([1, 2, 3], [], entriesWithTerms(1, 1));
    const r = newTestRaft(3, 10, 1, s);
    r.becomeFollower(1, 1n);
    r.step(msg(1, 3, MessageType.MsgSnap, { term: 1, snapshot: snapshot(11, 11, confState([1, 2])) }));
    assert.equal(r.raftLog.hasNextUnstableSnapshot(), false, 'not restored');
    assert.equal(r.raftLog.lastIndex(), 2, 'log unchanged');
    assert.equal(r.raftLog.committed, 0, 'commit unchanged');
    assert.deepEqual(r.trk.voterNodes(), ids(1, 2, 3), 'config unchanged');
  });

  test('a candidate that receives a snapshot of its term steps down and restores it', () => {
    const r = newTestRaft(2, 10, 1, storageWithConfig([1, 2, 3]));
    r.becomeCandidate();
    r.step(msg(1, 2, MessageType.MsgSnap, { term: r.term, snapshot: snapshot(5, 1, cs123) }));
    assert.equal(r.state, StateType.Follower);
    assert.equal(r.lead, 1n);
    assert.equal(r.raftLog.lastIndex(), 5);
  });
});

/** Persists node `id`'s unstable entries to its storage, marks everything committed as applied, snapshots and compacts there. */
function persistSnapshotAndCompact(nt: Network, id: number): number {
  const r = nt.raft(id);
  const s = nt.storage.get(BigInt(id));
  assert.ok(s !== undefined);
  const ents = r.raftLog.nextUnstableEntries();
  const last = ents[ents.length - 1];
  s.append(ents);
  if (last !== undefined) r.raftLog.stableTo(last.index, last.term);
  const applied = r.raftLog.committed;
  r.appliedTo(applied);
  s.createSnapshot(applied, r.trk.confState(), enc(`state@${applied}`));
  s.compact(applied);
  return applied;
}

describe('§7: end to end', () => {
  test('§7: a follower that was cut off while the leader compacted its log catches up through a snapshot and then the log', () => {
    const nt = new Network([null, null, null]);
    nt.campaign(1);
    assert.equal(nt.raft(1).state, StateType.Leader);
    nt.isolate(3);
    for (let i = 0; i < 5; i++) nt.propose(1, `v${i}`);
    const leader = nt.raft(1);
    assert.equal(leader.raftLog.committed, 6, 'no-op + 5 proposals committed by 1 and 2');
    const compacted = persistSnapshotAndCompact(nt, 1);
    assert.ok(nt.raft(3).raftLog.lastIndex() < compacted, 'the isolated follower lacks entries the leader compacted');
    assert.equal(leader.raftLog.firstIndex(), compacted + 1, 'the leader log now starts after the snapshot');

    // One more entry after the snapshot, so the follower needs both the snapshot and the log.
    nt.propose(1, 'after-snapshot');
    nt.recover();
    nt.send(msg(1, 1, MessageType.MsgBeat));

    const f = nt.raft(3);
    const sentSnaps = nt.delivered.filter((m) => m.type === MessageType.MsgSnap && m.to === 3n);
    assert.equal(sentSnaps.length, 1, 'exactly one snapshot was sent to 3');
    assert.equal(sentSnaps[0]?.snapshot?.metadata.index, compacted);
    assert.equal(f.raftLog.lastIndex(), leader.raftLog.lastIndex(), 'same last index');
    assert.equal(f.raftLog.lastTerm(), leader.raftLog.lastTerm(), 'same last term');
    assert.equal(f.raftLog.committed, leader.raftLog.committed, 'same commit index');
    const p3 = pr(leader, 3);
    assert.equal(progressStateName(p3.state), 'StateReplicate', 'the leader replicates to 3 again');
    assert.equal(p3.match, leader.raftLog.lastIndex());

    // Replication continues normally.
    nt.propose(1, 'later');
    for (const id of [1, 2, 3]) {
      assert.equal(nt.raft(id).raftLog.committed, leader.raftLog.lastIndex(), `node ${id} commits the new entry`);
    }
  });
});
