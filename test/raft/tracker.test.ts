/**
 * The leader's per-follower bookkeeping: the inflight window, Progress state transitions, and the
 * ProgressTracker's quorum helpers.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SeededRng } from '../../src/base/rng.js';
import { RaftInvariantError, VoteResult } from '../../src/server/raft/index.js';
import type { NodeId } from '../../src/server/raft/index.js';
import { JointConfig } from '../../src/server/raft/quorum/joint.js';
import { MajorityConfig } from '../../src/server/raft/quorum/majority.js';
import { Inflights } from '../../src/server/raft/tracker/inflights.js';
import { Progress, ProgressState, progressStateName } from '../../src/server/raft/tracker/progress.js';
import { type ProgressMap, ProgressTracker, TrackerConfig } from '../../src/server/raft/tracker/tracker.js';

// ---- Inflights ------------------------------------------------------------------------------------------------

describe('Inflights', () => {
  test('the window is full once it holds capacity messages, and adding to a full window throws', () => {
    const inf = new Inflights(3, 0);
    assert.equal(inf.full(), false, 'a new window is not full');
    inf.add(1, 10);
    inf.add(2, 10);
    assert.equal(inf.full(), false, 'two of three slots used: not full');
    inf.add(3, 10);
    assert.equal(inf.full(), true, 'three of three slots used: full');
    assert.equal(inf.count(), 3);
    assert.throws(() => inf.add(4, 10), RaftInvariantError, 'add on a full window must throw');
    assert.equal(inf.count(), 3, 'the refused add must not change the window');
    assert.equal(inf.bytes(), 30, 'the refused add must not count its bytes');
  });

  test('the window is full by bytes once the payload in flight reaches maxBytes, whatever the count', () => {
    const inf = new Inflights(10, 1000);
    inf.add(1, 400);
    inf.add(2, 400);
    assert.equal(inf.full(), false, '800 of 1000 bytes: not full');
    inf.add(3, 200);
    assert.equal(inf.bytes(), 1000);
    assert.equal(inf.full(), true, '1000 of 1000 bytes: full');
    assert.throws(() => inf.add(4, 1), RaftInvariantError, 'add on a window full by bytes must throw');
    inf.freeLE(1);
    assert.equal(inf.bytes(), 600, 'freeing the first message releases its 400 bytes');
    assert.equal(inf.full(), false, 'after an ack the byte window has room again');
  });

  test('a single message larger than maxBytes fills the window by itself', () => {
    const inf = new Inflights(10, 100);
    inf.add(1, 5000);
    assert.equal(inf.full(), true, 'an oversized message fills the byte window');
    inf.freeLE(1);
    assert.equal(inf.full(), false);
    assert.equal(inf.bytes(), 0);
  });

  test('with maxBytes 0 there is no byte limit', () => {
    const inf = new Inflights(2, 0);
    inf.add(1, 1e9);
    assert.equal(inf.full(), false, 'maxBytes=0 means unlimited bytes');
  });

  test('freeLE frees every message whose last index is <= to, oldest first, and nothing below the oldest', () => {
    const inf = new Inflights(10, 0);
    for (let i = 0; i < 5; i++) inf.add(i * 2 + 2, 1); // 2, 4, 6, 8, 10
    inf.freeLE(1);
    assert.equal(inf.count(), 5, 'freeLE below the oldest index frees nothing');
    inf.freeLE(4);
    assert.equal(inf.count(), 3, 'freeLE(4) frees 2 and 4');
    assert.equal(inf.bytes(), 3);
    inf.freeLE(7);
    assert.equal(inf.count(), 2, 'freeLE(7) frees 6 (between two recorded indexes)');
    inf.freeLE(4);
    assert.equal(inf.count(), 2, 'a stale freeLE frees nothing');
    inf.freeLE(100);
    assert.equal(inf.count(), 0, 'freeLE past the newest frees everything');
    assert.equal(inf.bytes(), 0);
    inf.freeLE(200);
    assert.equal(inf.count(), 0, 'freeLE on an empty window is a no-op');
  });

  test('the ring buffer wraps around: adds after frees reuse the slots at the front', () => {
    const inf = new Inflights(10, 0);
    for (let i = 0; i < 5; i++) inf.add(i, 1);
    inf.freeLE(4);
    assert.equal(inf.count(), 0);
    // The start is now past the front; ten more adds must wrap around the end of the buffer.
    for (let i = 5; i < 15; i++) inf.add(i, 1);
    assert.equal(inf.count(), 10);
    assert.equal(inf.full(), true, 'ten messages fill a window of ten after wrapping');
    assert.throws(() => inf.add(15, 1), RaftInvariantError);
    inf.freeLE(8);
    assert.equal(inf.count(), 6, 'freeLE(8) frees 5..8 across the wrap');
    inf.add(15, 1);
    inf.add(16, 1);
    inf.add(17, 1);
    inf.add(18, 1);
    assert.equal(inf.full(), true);
    inf.freeLE(12);
    assert.equal(inf.count(), 6, 'freeLE(12) frees 9..12');
    inf.freeLE(18);
    assert.equal(inf.count(), 0);
    assert.equal(inf.bytes(), 0);
  });

  test('wrap-around keeps freeing in index order over many rounds (seeded)', () => {
    // Compare against a plain array model; indexes increase, frees land at random points.
    const seed = 12345;
    const rng = new SeededRng(seed);
    const next = (n: number): number => rng.int(n);
    const inf = new Inflights(7, 0);
    const model: number[] = [];
    let index = 0;
    for (let round = 0; round < 2000; round++) {
      if (model.length < 7 && next(3) !== 0) {
        index += 1 + next(3);
        inf.add(index, 1);
        model.push(index);
      } else {
        const to = index - next(6);
        inf.freeLE(to);
        while (model.length > 0 && (model[0] as number) <= to) model.shift();
      }
      assert.equal(inf.count(), model.length, `seed=${seed} round ${round}: count`);
      assert.equal(inf.full(), model.length === 7, `seed=${seed} round ${round}: full`);
    }
  });

  test('reset empties the window (count and bytes)', () => {
    const inf = new Inflights(3, 100);
    inf.add(1, 50);
    inf.add(2, 50);
    assert.equal(inf.full(), true);
    inf.reset();
    assert.equal(inf.count(), 0, 'count after reset');
    assert.equal(inf.bytes(), 0, 'bytes after reset');
    assert.equal(inf.full(), false, 'not full after reset');
    inf.add(10, 10);
    inf.freeLE(10);
    assert.equal(inf.count(), 0, 'the window works after reset');
  });

  test('clone is independent of the original', () => {
    const inf = new Inflights(3, 0);
    inf.add(1, 1);
    const c = inf.clone();
    c.add(2, 1);
    assert.equal(inf.count(), 1, 'adding to the clone must not change the original');
    inf.freeLE(1);
    assert.equal(c.count(), 2, 'freeing in the original must not change the clone');
  });
});

// ---- Progress -------------------------------------------------------------------------------------------------

function progress(opts: { state?: ProgressState; match?: number; next: number; cap?: number; maxBytes?: number; pendingSnapshot?: number }): Progress {
  const p = new Progress({ next: opts.next, match: opts.match ?? 0, inflights: new Inflights(opts.cap ?? 256, opts.maxBytes ?? 0) });
  if (opts.state !== undefined) p.state = opts.state;
  if (opts.pendingSnapshot !== undefined) p.pendingSnapshot = opts.pendingSnapshot;
  return p;
}

describe('Progress', () => {
  test('becomeProbe from Snapshot resumes just past the pending snapshot when it is ahead of match', () => {
    const p = progress({ match: 1, next: 5 });
    p.becomeSnapshot(10);
    assert.equal(p.state, ProgressState.Snapshot);
    assert.equal(p.pendingSnapshot, 10);
    p.becomeProbe();
    assert.equal(progressStateName(p.state), 'StateProbe');
    assert.equal(p.next, 11, 'next = pendingSnapshot + 1');
    assert.equal(p.match, 1, 'match is unchanged');
    assert.equal(p.pendingSnapshot, 0, 'the pending snapshot is forgotten');
    assert.equal(p.isPaused(), false, 'a fresh probe is not paused');
  });

  test('becomeProbe from Snapshot resumes past match when match is ahead of the pending snapshot', () => {
    const p = progress({ match: 15, next: 16 });
    p.becomeSnapshot(10);
    p.becomeProbe();
    assert.equal(p.next, 16, 'next = max(match, pendingSnapshot) + 1');
  });

  test('becomeProbe from Snapshot with pendingSnapshot cleared (a failed snapshot) resumes past match', () => {
    const p = progress({ match: 3, next: 4 });
    p.becomeSnapshot(10);
    p.pendingSnapshot = 0;
    p.becomeProbe();
    assert.equal(p.next, 4, 'next = match + 1');
  });

  test('becomeProbe from Replicate resumes just past match and clears the window', () => {
    const p = progress({ state: ProgressState.Replicate, match: 5, next: 9 });
    p.inflights.add(7, 1);
    p.inflights.add(8, 1);
    p.becomeProbe();
    assert.equal(p.state, ProgressState.Probe);
    assert.equal(p.next, 6);
    assert.equal(p.inflights.count(), 0, 'the inflight window is reset');
  });

  test('becomeReplicate sets next to match + 1', () => {
    const p = progress({ match: 4, next: 10 });
    p.becomeReplicate();
    assert.equal(p.state, ProgressState.Replicate);
    assert.equal(p.next, 5);
  });

  test('becomeSnapshot records the snapshot and sets next past it', () => {
    const p = progress({ state: ProgressState.Replicate, match: 2, next: 3 });
    p.becomeSnapshot(20);
    assert.equal(p.pendingSnapshot, 20);
    assert.equal(p.next, 21);
    assert.equal(p.isPaused(), true, 'Snapshot state is always paused');
  });

  test('maybeUpdate advances match and next, unpauses, and reports stale acknowledgements', () => {
    const cases = [
      { n: 3, update: false, match: 5, next: 10, why: 'an ack below match is stale' },
      { n: 5, update: false, match: 5, next: 10, why: 'an ack equal to match is stale' },
      { n: 6, update: true, match: 6, next: 10, why: 'an ack above match moves match; next stays' },
      { n: 10, update: true, match: 10, next: 11, why: 'an ack at next moves next past it' },
      { n: 12, update: true, match: 12, next: 13, why: 'an ack above next moves both' },
    ];
    for (const c of cases) {
      const p = progress({ match: 5, next: 10 });
      p.msgAppFlowPaused = true;
      const got = p.maybeUpdate(c.n);
      assert.equal(got, c.update, `${c.why}: return value`);
      assert.equal(p.match, c.match, `${c.why}: match`);
      assert.equal(p.next, c.next, `${c.why}: next`);
      assert.equal(p.msgAppFlowPaused, !c.update, `${c.why}: an update unpauses, a stale ack does not`);
    }
  });

  test('§5.3: maybeDecrTo in Replicate ignores stale rejections and otherwise falls back to match + 1', () => {
    const cases = [
      { rejected: 5, hint: 5, ok: false, next: 10, why: 'rejection of an index <= match is stale' },
      { rejected: 4, hint: 4, ok: false, next: 10, why: 'rejection below match is stale' },
      { rejected: 9, hint: 9, ok: true, next: 6, why: 'a real rejection restarts from match + 1' },
    ];
    for (const c of cases) {
      const p = progress({ state: ProgressState.Replicate, match: 5, next: 10 });
      assert.equal(p.maybeDecrTo(c.rejected, c.hint), c.ok, `${c.why}: return value`);
      assert.equal(p.next, c.next, `${c.why}: next`);
    }
  });

  test('§5.3: maybeDecrTo in Probe only honours the answer to the outstanding probe, and uses the hint', () => {
    const cases = [
      { match: 0, next: 0, rejected: 0, hint: 0, ok: false, wantNext: 0, why: 'next - 1 != rejected' },
      { match: 5, next: 10, rejected: 5, hint: 5, ok: false, wantNext: 10, why: 'rejection of an old probe' },
      { match: 5, next: 10, rejected: 9, hint: 9, ok: true, wantNext: 9, why: 'the hint allows one step back' },
      { match: 5, next: 10, rejected: 9, hint: 2, ok: true, wantNext: 6, why: 'next never goes below match + 1' },
      { match: 0, next: 10, rejected: 9, hint: 9, ok: true, wantNext: 9, why: 'next = hint + 1 capped at rejected' },
      { match: 0, next: 10, rejected: 9, hint: 0, ok: true, wantNext: 1, why: 'the hint skips back to the start' },
      { match: 0, next: 10, rejected: 9, hint: 4, ok: true, wantNext: 5, why: 'the hint skips several entries' },
    ];
    for (const c of cases) {
      const p = progress({ match: c.match, next: c.next });
      p.msgAppFlowPaused = true;
      assert.equal(p.maybeDecrTo(c.rejected, c.hint), c.ok, `${c.why}: return value`);
      assert.equal(p.next, c.wantNext, `${c.why}: next`);
      if (c.ok) assert.equal(p.msgAppFlowPaused, false, `${c.why}: an accepted rejection unpauses the probe`);
    }
  });

  test('isPaused: Probe pauses after one probe, Replicate when the window is full, Snapshot always', () => {
    const probe = progress({ next: 1 });
    assert.equal(probe.isPaused(), false, 'a fresh probe is not paused');
    probe.updateOnEntriesSend(0, 0, 1);
    assert.equal(probe.isPaused(), false, 'an empty probe does not pause');
    probe.updateOnEntriesSend(2, 10, 1);
    assert.equal(probe.isPaused(), true, 'a probe with entries pauses until answered');
    assert.equal(probe.next, 1, 'probing does not move next');

    const repl = progress({ state: ProgressState.Replicate, next: 1, cap: 2 });
    repl.updateOnEntriesSend(1, 5, 1);
    assert.equal(repl.isPaused(), false, 'one of two inflight slots used');
    repl.updateOnEntriesSend(1, 5, 2);
    assert.equal(repl.isPaused(), true, 'two of two inflight slots used');

    const snap = progress({ next: 1 });
    snap.becomeSnapshot(5);
    snap.msgAppFlowPaused = false;
    assert.equal(snap.isPaused(), true, 'Snapshot is paused regardless of the flag');
  });

  test('updateOnEntriesSend in Replicate moves next past the entries and records them in the window', () => {
    const p = progress({ state: ProgressState.Replicate, match: 4, next: 5, cap: 10 });
    p.updateOnEntriesSend(3, 30, 5);
    assert.equal(p.next, 8, 'next moves past 5..7');
    assert.equal(p.inflights.count(), 1);
    assert.equal(p.inflights.bytes(), 30);
    p.updateOnEntriesSend(0, 0, 8);
    assert.equal(p.next, 8, 'an empty append does not move next');
    assert.equal(p.inflights.count(), 1, 'an empty append takes no slot');
    p.inflights.freeLE(7);
    assert.equal(p.inflights.count(), 0);
  });

  test('updateOnEntriesSend in Replicate pauses when the byte window fills', () => {
    const p = progress({ state: ProgressState.Replicate, next: 1, cap: 100, maxBytes: 100 });
    p.updateOnEntriesSend(1, 60, 1);
    assert.equal(p.isPaused(), false);
    p.updateOnEntriesSend(1, 60, 2);
    assert.equal(p.isPaused(), true, '120 of 100 bytes in flight');
  });

  test('updateOnEntriesSend in Snapshot state is a programming error', () => {
    const p = progress({ next: 1 });
    p.becomeSnapshot(3);
    assert.throws(() => p.updateOnEntriesSend(1, 1, 4), Error);
  });
});

// ---- ProgressTracker -----------------------------------------------------------------------------------------

function tracker(voters: number[], learners: number[], outgoing: number[] = []): ProgressTracker {
  const t = new ProgressTracker(256, 0);
  const map: ProgressMap = new Map();
  for (const id of new Set([...voters, ...outgoing, ...learners])) {
    map.set(BigInt(id), new Progress({ next: 1, inflights: new Inflights(256, 0), isLearner: learners.includes(id) }));
  }
  const ids = (xs: number[]): NodeId[] => xs.map((x) => BigInt(x));
  t.setConfig(new TrackerConfig(new JointConfig(new MajorityConfig(ids(voters)), new MajorityConfig(ids(outgoing))), new Set(ids(learners))), map);
  return t;
}

function setActive(t: ProgressTracker, active: number[]): void {
  t.visit((id, pr) => {
    pr.recentActive = active.includes(Number(id));
  });
}

describe('ProgressTracker', () => {
  test('quorumActive needs a majority of voters recently active; learners do not count', () => {
    const t = tracker([1, 2, 3], [4, 5]);
    setActive(t, [1, 4, 5]);
    assert.equal(t.quorumActive(), false, 'one voter and two learners active is not a quorum');
    setActive(t, [1, 2]);
    assert.equal(t.quorumActive(), true, 'two of three voters active is a quorum');
    setActive(t, [3, 4, 5]);
    assert.equal(t.quorumActive(), false, 'one voter active is not a quorum');
  });

  test('thesis §4.3: quorumActive in a joint config needs a quorum of both halves', () => {
    const t = tracker([1, 2, 3], [], [3, 4, 5]);
    setActive(t, [1, 2]);
    assert.equal(t.quorumActive(), false, 'incoming majority only');
    setActive(t, [1, 2, 4, 5]);
    assert.equal(t.quorumActive(), true, 'majorities of both halves');
    setActive(t, [2, 3, 4]);
    assert.equal(t.quorumActive(), true, '3 counts in both halves');
  });

  test('§5.2: tallyVotes counts voters only: votes from learners and non-members are ignored', () => {
    const t = tracker([1, 2, 3], [4]);
    t.recordVote(1n, true);
    t.recordVote(4n, true); // learner
    t.recordVote(9n, true); // not a member
    let r = t.tallyVotes();
    assert.equal(r.granted, 1, 'only the voter 1 is counted as granted');
    assert.equal(r.rejected, 0);
    assert.equal(r.result, VoteResult.Pending, 'one voter of three is not decided');
    t.recordVote(2n, false);
    t.recordVote(9n, false);
    r = t.tallyVotes();
    assert.equal(r.granted, 1);
    assert.equal(r.rejected, 1, 'only voter 2 is counted as rejected');
    assert.equal(r.result, VoteResult.Pending);
    t.recordVote(3n, true);
    r = t.tallyVotes();
    assert.equal(r.granted, 2);
    assert.equal(r.result, VoteResult.Won);
  });

  test('§5.2: only the first vote of a node in an election counts; resetVotes starts a new election', () => {
    const t = tracker([1, 2, 3], []);
    t.recordVote(2n, false);
    t.recordVote(2n, true);
    assert.equal(t.tallyVotes().granted, 0, 'a second vote from 2 must not change its first');
    assert.equal(t.tallyVotes().rejected, 1);
    t.resetVotes();
    t.recordVote(2n, true);
    assert.equal(t.tallyVotes().granted, 1, 'after reset the vote counts anew');
    assert.equal(t.tallyVotes().rejected, 0);
  });

  test('a majority of rejections loses the election', () => {
    const t = tracker([1, 2, 3, 4, 5], []);
    t.recordVote(1n, true);
    t.recordVote(2n, false);
    t.recordVote(3n, false);
    assert.equal(t.tallyVotes().result, VoteResult.Pending);
    t.recordVote(4n, false);
    assert.equal(t.tallyVotes().result, VoteResult.Lost);
  });

  test('committed is the index a quorum of voters has matched; learners do not count', () => {
    const t = tracker([1, 2, 3], [4]);
    const set = (id: number, m: number): void => {
      (t.progress.get(BigInt(id)) as Progress).match = m;
    };
    set(1, 10);
    set(2, 3);
    set(3, 1);
    set(4, 100);
    assert.equal(t.committed(), 3, 'the median voter match is 3; the learner at 100 is ignored');
  });

  test('confState lists the config sorted, and isSingleton is true only for one voter outside a joint config', () => {
    const t = tracker([3, 1, 2], [5, 4]);
    const cs = t.confState();
    assert.deepEqual(cs.voters, [1n, 2n, 3n]);
    assert.deepEqual(cs.learners, [4n, 5n]);
    assert.equal(t.isSingleton(), false);
    assert.equal(tracker([1], [2]).isSingleton(), true, 'one voter plus learners is a singleton');
    assert.equal(tracker([1], [], [1, 2]).isSingleton(), false, 'a joint config is never a singleton');
  });
});
