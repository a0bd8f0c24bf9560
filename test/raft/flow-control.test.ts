/**
 * Flow control on the leader: the inflight window (by count and by bytes), probing, proposal batching,
 * maxSizePerMsg, the uncommitted-tail limit and MsgUnreachable. Scenarios follow etcd-io/raft
 * raft_flow_control_test.go and parts of raft_test.go, adapted to this core's deferred sends: proposals are
 * replicated when messages are collected (`takeMessages()`), one batch per collection.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SeededRng } from '../../src/base/rng.js';
import {
  type Entry,
  ErrProposalDropped,
  type HardState,
  type Message,
  MessageType,
  MemoryStorage,
  ProgressState,
  type Raft,
  type Ready,
  RawNode,
  StateType,
  describeMessage,
  entrySize,
  newEntry,
} from '../../src/server/raft/index.js';
import type { Progress } from '../../src/server/raft/tracker/progress.js';
import { Network, type TestRaftOptions, confState, enc, entriesWithTerms, msg, newTestRaft, storageWithConfig } from '../sim/network.js';

/** Node 1 as the leader of `voters` (term 1, its no-op at index 1); followers are in Probe with next 1. */
function leader(voters: number[], opts: TestRaftOptions = {}, entries: Entry[] = []): Raft {
  const r = newTestRaft(1, 5, 1, storageWithConfig(voters, [], entries), opts);
  r.becomeCandidate();
  r.becomeLeader();
  r.takeMessages();
  return r;
}

function pr(r: Raft, id: number): Progress {
  const p = r.trk.progress.get(BigInt(id));
  assert.ok(p !== undefined, `no progress for ${id}`);
  return p;
}

function propose(r: Raft, data: string | Uint8Array = 'somedata'): void {
  const bytes = typeof data === 'string' ? enc(data) : data;
  r.step(msg(1, 1, MessageType.MsgProp, { entries: [newEntry(0, 0, bytes)] }));
}

function apps(msgs: readonly Message[], id: number): Message[] {
  return msgs.filter((m) => m.to === BigInt(id) && m.type === MessageType.MsgApp);
}

function describeAll(msgs: readonly Message[]): string {
  return msgs.map((m) => describeMessage(m)).join('; ') || '(none)';
}

function ack(r: Raft, from: number, index: number): void {
  r.step(msg(from, 1, MessageType.MsgAppResp, { term: r.term, index }));
}

describe('inflight window (Replicate)', () => {
  test('the leader sends at most maxInflightMsgs MsgApps to a replicating follower, then stops', () => {
    const maxInflight = 4;
    const r = leader([1, 2], { maxInflightMsgs: maxInflight });
    pr(r, 2).becomeReplicate();
    for (let i = 0; i < maxInflight; i++) {
      propose(r);
      const ms = r.takeMessages();
      assert.equal(apps(ms, 2).length, 1, `proposal ${i}: one MsgApp while the window has room, got: ${describeAll(ms)}`);
    }
    assert.equal(pr(r, 2).inflights.full(), true, 'the window is full');
    assert.equal(pr(r, 2).isPaused(), true);
    for (let i = 0; i < 5; i++) {
      propose(r);
      const ms = r.takeMessages();
      assert.equal(ms.length, 0, `proposal ${maxInflight + i}: nothing sent with a full window, got: ${describeAll(ms)}`);
    }
  });

  test('the window also closes by bytes: maxInflightBytes of payload in flight stops further MsgApps', () => {
    const r = leader([1, 2], { maxInflightMsgs: 100, maxSizePerMsg: 100, maxInflightBytes: 100 });
    pr(r, 2).becomeReplicate();
    const payload = 'x'.repeat(40);
    let sent = 0;
    for (let i = 0; i < 3; i++) {
      propose(r, payload);
      sent += apps(r.takeMessages(), 2).length;
    }
    assert.equal(sent, 3, 'three MsgApps of 40 bytes each are sent (the window fills at 120 >= 100 bytes)');
    assert.equal(pr(r, 2).inflights.bytes(), 120);
    assert.equal(pr(r, 2).inflights.full(), true, 'full by bytes, not by count');
    propose(r, payload);
    const ms = r.takeMessages();
    assert.equal(apps(ms, 2).length, 0, `no MsgApp once the byte window is full, got: ${describeAll(ms)}`);
  });

  test('an acknowledgement frees the window and the leader sends what was held back', () => {
    const maxInflight = 3;
    const r = leader([1, 2], { maxInflightMsgs: maxInflight });
    pr(r, 2).becomeReplicate();
    const lastOfMsg: number[] = [];
    for (let i = 0; i < maxInflight; i++) {
      propose(r);
      const m = apps(r.takeMessages(), 2)[0];
      assert.ok(m !== undefined);
      lastOfMsg.push((m.entries[m.entries.length - 1] as Entry).index);
    }
    propose(r); // held back: the window is full
    assert.equal(apps(r.takeMessages(), 2).length, 0);
    const held = r.raftLog.lastIndex();

    ack(r, 2, lastOfMsg[0] as number);
    const ms = r.takeMessages();
    const sent = apps(ms, 2);
    assert.equal(sent.length, 1, `the freed slot is used at once, got: ${describeAll(ms)}`);
    assert.deepEqual(
      (sent[0] as Message).entries.map((e) => e.index),
      [held],
      'the held-back entry is sent',
    );
    assert.equal(pr(r, 2).inflights.full(), true, 'the window is full again');

    // Acknowledging everything empties the window; the next proposal is sent immediately.
    ack(r, 2, held);
    assert.equal(pr(r, 2).inflights.count(), 0);
    r.takeMessages(); // the commit index moved: an empty MsgApp tells the follower
    propose(r);
    const after = r.takeMessages();
    assert.equal(apps(after, 2).length, 1, `the next proposal goes out at once, got: ${describeAll(after)}`);
  });

  test('a heartbeat response with a full window makes the leader send an empty MsgApp, and pauses again', () => {
    const maxInflight = 3;
    const r = leader([1, 2], { maxInflightMsgs: maxInflight });
    pr(r, 2).becomeReplicate();
    for (let i = 0; i < maxInflight; i++) {
      propose(r);
      r.takeMessages();
    }
    assert.equal(pr(r, 2).isPaused(), true);
    for (let round = 0; round < 3; round++) {
      r.step(msg(2, 1, MessageType.MsgHeartbeatResp, { term: r.term }));
      const ms = r.takeMessages();
      const sent = apps(ms, 2);
      assert.equal(sent.length, 1, `round ${round}: one MsgApp after the heartbeat response, got: ${describeAll(ms)}`);
      assert.equal((sent[0] as Message).entries.length, 0, `round ${round}: the MsgApp is empty (the window is still full)`);
      assert.equal(pr(r, 2).inflights.count(), maxInflight, 'an empty MsgApp takes no slot');
      propose(r);
      assert.equal(apps(r.takeMessages(), 2).length, 0, `round ${round}: a proposal after it is held back`);
    }
  });
});

describe('Probe', () => {
  test('§5.3: in Probe only one MsgApp is outstanding until the follower answers', () => {
    const r = leader([1, 2]);
    assert.equal(pr(r, 2).state, ProgressState.Probe);
    propose(r, 'a');
    let ms = r.takeMessages();
    assert.equal(apps(ms, 2).length, 1, `the first probe goes out, got: ${describeAll(ms)}`);
    assert.equal(pr(r, 2).isPaused(), true, 'the probe pauses the flow');
    for (let i = 0; i < 3; i++) {
      propose(r, `b${i}`);
      ms = r.takeMessages();
      assert.equal(apps(ms, 2).length, 0, `nothing more while the probe is outstanding, got: ${describeAll(ms)}`);
    }
    // The answer confirms the match: the follower moves to Replicate and gets the rest at once.
    ack(r, 2, 2);
    assert.equal(pr(r, 2).state, ProgressState.Replicate);
    ms = r.takeMessages();
    const sent = apps(ms, 2);
    assert.equal(sent.length, 1, `the rest is sent after the probe is answered, got: ${describeAll(ms)}`);
    assert.deepEqual(
      (sent[0] as Message).entries.map((e) => e.index),
      [3, 4, 5],
    );
  });

  test('in Probe a heartbeat response unpauses and the probe is resent', () => {
    const r = leader([1, 2]);
    propose(r);
    r.takeMessages();
    assert.equal(pr(r, 2).isPaused(), true);
    r.step(msg(2, 1, MessageType.MsgHeartbeatResp, { term: r.term }));
    const ms = r.takeMessages();
    assert.equal(apps(ms, 2).length, 1, `the probe is resent, got: ${describeAll(ms)}`);
  });
});

describe('proposal batching', () => {
  function replicatingCluster(opts: TestRaftOptions = {}): Network {
    const nt = new Network([null, null, null], opts);
    nt.campaign(1);
    const r = nt.raft(1);
    assert.equal(r.state, StateType.Leader);
    for (const id of [2, 3]) assert.equal(pr(r, id).state, ProgressState.Replicate, `fixture: follower ${id} replicates`);
    assert.equal(r.takeMessages().length, 0, 'fixture: nothing pending');
    return nt;
  }

  test('N proposals stepped before messages are collected go out as one MsgApp per follower carrying all N entries', () => {
    const nt = replicatingCluster();
    const r = nt.raft(1);
    const first = r.raftLog.lastIndex() + 1;
    const n = 20;
    for (let i = 0; i < n; i++) propose(r, `p${i}`);
    assert.equal(r.msgs.length, 0, 'proposals are deferred: nothing is queued before collection');
    const ms = r.takeMessages();
    for (const id of [2, 3]) {
      const sent = apps(ms, id);
      assert.equal(sent.length, 1, `exactly one MsgApp to ${id}, got: ${describeAll(ms)}`);
      const m = sent[0] as Message;
      assert.deepEqual(
        m.entries.map((e) => e.index),
        Array.from({ length: n }, (_, i) => first + i),
        `the MsgApp to ${id} carries all ${n} entries in order`,
      );
      assert.equal(m.index, first - 1, 'it follows the previous last entry');
    }
    assert.equal(ms.length, 2, `nothing else is sent, got: ${describeAll(ms)}`);
  });

  test('a new leader probing its followers also batches: one MsgApp per follower with the no-op and all N proposals', () => {
    const r = leader([1, 2, 3]);
    const n = 5;
    for (let i = 0; i < n; i++) propose(r, `p${i}`);
    const ms = r.takeMessages();
    for (const id of [2, 3]) {
      const sent = apps(ms, id);
      assert.equal(sent.length, 1, `one probe to ${id}, got: ${describeAll(ms)}`);
      assert.deepEqual(
        (sent[0] as Message).entries.map((e) => e.index),
        [1, 2, 3, 4, 5, 6],
      );
    }
  });

  test('batched proposals are replicated and committed on every node', () => {
    const nt = replicatingCluster();
    const r = nt.raft(1);
    for (let i = 0; i < 10; i++) propose(r, `p${i}`);
    nt.send(...r.takeMessages());
    for (const id of [1, 2, 3]) assert.equal(nt.raft(id).raftLog.committed, 11, `node ${id} commits the no-op and the 10 proposals`);
  });

  test('batching respects maxSizePerMsg: several MsgApps per follower, each within the limit or a single entry', () => {
    const payload = 'y'.repeat(100);
    const size = entrySize(newEntry(10, 1, enc(payload)));
    const nt = replicatingCluster({ maxSizePerMsg: size * 2 });
    const r = nt.raft(1);
    const first = r.raftLog.lastIndex() + 1;
    const n = 7;
    for (let i = 0; i < n; i++) propose(r, payload);
    const ms = r.takeMessages();
    for (const id of [2, 3]) {
      const sent = apps(ms, id);
      assert.ok(sent.length >= Math.ceil(n / 2), `at least ${Math.ceil(n / 2)} MsgApps to ${id} (two entries fit in one), got ${sent.length}: ${describeAll(sent)}`);
      const indexes = sent.flatMap((m) => m.entries.map((e) => e.index));
      assert.deepEqual(indexes, Array.from({ length: n }, (_, i) => first + i), `all ${n} entries reach ${id} in order, without duplicates`);
      for (const m of sent) {
        assert.ok(m.entries.length >= 1, 'every MsgApp carries at least one entry');
        const bytes = m.entries.reduce((s, e) => s + entrySize(e), 0);
        assert.ok(m.entries.length === 1 || bytes <= size * 2, `MsgApp of ${bytes} bytes exceeds maxSizePerMsg ${size * 2}`);
      }
    }
  });

  test('an entry larger than maxSizePerMsg is still sent, alone', () => {
    const nt = replicatingCluster({ maxSizePerMsg: 10 });
    const r = nt.raft(1);
    propose(r, 'z'.repeat(50));
    const ms = r.takeMessages();
    for (const id of [2, 3]) {
      const sent = apps(ms, id);
      assert.equal(sent.length, 1, `one MsgApp to ${id}, got: ${describeAll(ms)}`);
      assert.equal((sent[0] as Message).entries.length, 1);
    }
  });
});

describe('uncommitted tail limit (maxUncommittedEntriesSize)', () => {
  test('proposals are dropped once the uncommitted tail is full, and accepted again after entries commit', () => {
    const payload = 'testdata';
    const maxEntries = 16;
    const limit = maxEntries * payload.length;
    const r = leader([1, 2, 3], { maxUncommittedEntriesSize: limit, maxInflightMsgs: 1024 });
    for (const id of [2, 3]) pr(r, id).becomeReplicate();
    assert.equal(r.uncommittedSize, 0, "the leader's empty no-op does not count");

    for (let i = 0; i < maxEntries; i++) propose(r, payload);
    assert.equal(r.uncommittedSize, limit);
    assert.throws(() => propose(r, payload), ErrProposalDropped, 'one entry over the limit is dropped');
    const lastBefore = r.raftLog.lastIndex();
    assert.equal(lastBefore, maxEntries + 1, 'the dropped proposal was not appended');
    r.takeMessages();

    // The followers acknowledge everything: it commits. The application applies it, and (as RawNode.advance
    // does) the applied payload leaves the uncommitted tail.
    ack(r, 2, lastBefore);
    assert.equal(r.raftLog.committed, lastBefore);
    const committed = r.raftLog.slice(1, lastBefore + 1, Number.POSITIVE_INFINITY);
    r.reduceUncommittedSize(committed.reduce((s, e) => s + e.data.length, 0));
    assert.equal(r.uncommittedSize, 0);
    propose(r, payload);
    assert.equal(r.raftLog.lastIndex(), lastBefore + 1, 'accepted again after commit');
  });

  test('an empty tail accepts one proposal larger than the limit; after it, only empty entries are accepted', () => {
    const r = leader([1, 2, 3], { maxUncommittedEntriesSize: 64 });
    const big = 'b'.repeat(1000);
    propose(r, big);
    assert.equal(r.uncommittedSize, 1000, 'a proposal larger than the limit is accepted into an empty tail');
    assert.throws(() => propose(r, 'x'), ErrProposalDropped, 'the tail is over the limit');
    const before = r.raftLog.lastIndex();
    propose(r, new Uint8Array(0));
    propose(r, new Uint8Array(0));
    assert.equal(r.raftLog.lastIndex(), before + 2, 'empty entries are never dropped by the limit');
  });

  test('with RawNode: a single-node leader drops proposals over the limit until a Ready with the committed entries is advanced', () => {
    const s = new MemoryStorage(confState([1]));
    const rn = new RawNode({
      id: 1n,
      electionTick: 10,
      heartbeatTick: 1,
      storage: s,
      rng: new SeededRng(1),
      maxUncommittedEntriesSize: 30,
    });
    const persist = (rd: Ready): void => {
      if (rd.snapshot !== undefined) s.applySnapshot(rd.snapshot);
      s.append(rd.entries);
      if (rd.hardState !== undefined) s.setHardState(rd.hardState as HardState);
    };
    rn.campaign();
    let rd = rn.ready();
    persist(rd);
    rn.advance();
    assert.equal(rn.raft.state, StateType.Leader);

    const payload = enc('0123456789'); // 10 bytes
    rn.propose(payload);
    rn.propose(payload);
    rn.propose(payload);
    assert.throws(() => rn.propose(payload), ErrProposalDropped, 'a fourth 10-byte proposal exceeds 30 bytes');
    rn.propose(new Uint8Array(0)); // empty entries always pass

    rd = rn.ready();
    assert.equal(rd.committedEntries.length, 4, 'the single voter commits on append');
    persist(rd);
    assert.throws(() => rn.propose(payload), ErrProposalDropped, 'still dropped: the committed entries are not applied yet');
    rn.advance();
    assert.equal(rn.raft.uncommittedSize, 0, 'advance removes the applied payload from the tail');
    rn.propose(payload);
    rd = rn.ready();
    assert.equal(rd.entries.length, 1, 'accepted again after advance');
  });
});

describe('MsgUnreachable', () => {
  test('MsgUnreachable moves a replicating follower back to Probe from match + 1', () => {
    const r = leader([1, 2], {}, entriesWithTerms(1, 2, 3));
    const p = pr(r, 2);
    p.match = 3;
    p.becomeReplicate();
    p.updateOnEntriesSend(2, 0, 4); // optimistically sent 4 and 5
    assert.equal(p.next, 6);
    r.step(msg(2, 1, MessageType.MsgUnreachable));
    assert.equal(p.state, ProgressState.Probe);
    assert.equal(p.next, 4, 'probing restarts just past the match');
    assert.equal(p.inflights.count(), 0, 'the window is emptied');
  });

  test('MsgUnreachable does not change a follower that is already probing', () => {
    const r = leader([1, 2]);
    const p = pr(r, 2);
    propose(r);
    r.takeMessages();
    const next = p.next;
    r.step(msg(2, 1, MessageType.MsgUnreachable));
    assert.equal(p.state, ProgressState.Probe);
    assert.equal(p.next, next);
    assert.equal(p.isPaused(), true, 'the outstanding probe still pauses the flow');
  });
});
