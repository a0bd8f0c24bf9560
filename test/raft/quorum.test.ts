/**
 * Quorum arithmetic: the committed index of majority and joint configurations, and vote tallies.
 * Table cases are the facts of etcd-io/raft quorum/testdata/{majority,joint}_commit.txt; `_` there is an
 * unknown (absent) acknowledgement, written `undefined` here.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SeededRng } from '../../src/base/rng.js';
import type { NodeId } from '../../src/server/raft/index.js';
import { JointConfig } from '../../src/server/raft/quorum/joint.js';
import { MajorityConfig } from '../../src/server/raft/quorum/majority.js';
import { type AckedIndexer, INFINITE_INDEX, VoteResult, formatIndex } from '../../src/server/raft/quorum/quorum.js';

type Idx = number | undefined;

/**
 * Pairs acked indexes with ids in the order the ids first appear in `cfg` then `cfgj` (the convention of
 * the etcd test data).
 */
function acker(cfg: number[], cfgj: number[], idx: Idx[]): AckedIndexer {
  const order: number[] = [];
  for (const id of [...cfg, ...cfgj]) if (!order.includes(id)) order.push(id);
  assert.equal(idx.length, order.length, 'test case: one idx per distinct voter');
  const m = new Map<NodeId, number>();
  order.forEach((id, i) => {
    const v = idx[i];
    if (v !== undefined) m.set(BigInt(id), v);
  });
  return (id) => m.get(id);
}

const majority = (ids: number[]): MajorityConfig => new MajorityConfig(ids.map((x) => BigInt(x)));
const joint = (a: number[], b: number[]): JointConfig => new JointConfig(majority(a), majority(b));

const _ = undefined;

describe('MajorityConfig.committedIndex', () => {
  test('the empty majority config commits everything (∞), the neutral element for joint configs', () => {
    const got = majority([]).committedIndex(() => 0);
    assert.equal(got, INFINITE_INDEX, 'empty config should report ∞');
    assert.equal(formatIndex(got), '∞');
  });

  const cases: { cfg: number[]; idx: Idx[]; want: number; why: string }[] = [
    { cfg: [1], idx: [_], want: 0, why: 'a single voter with nothing acked commits nothing' },
    { cfg: [1], idx: [12], want: 12, why: 'a single voter commits what it acked' },
    { cfg: [1, 2], idx: [_, _], want: 0, why: 'two voters, nothing known' },
    { cfg: [1, 2], idx: [12, _], want: 0, why: 'two voters need both acks' },
    { cfg: [1, 2], idx: [12, 5], want: 5, why: 'two voters commit the smaller ack' },
    { cfg: [1, 2, 3], idx: [_, _, _], want: 0, why: 'three voters, nothing known' },
    { cfg: [1, 2, 3], idx: [12, _, _], want: 0, why: 'one of three is not a quorum' },
    { cfg: [1, 2, 3], idx: [12, 5, _], want: 5, why: 'two of three at >= 5' },
    { cfg: [1, 2, 3], idx: [12, 5, 6], want: 6, why: 'two of three at >= 6' },
    { cfg: [1, 2, 3], idx: [12, 5, 4], want: 5, why: 'two of three at >= 5, the third is lower' },
    { cfg: [1, 2, 3], idx: [5, 5, _], want: 5, why: 'two equal acks' },
    { cfg: [1, 2, 3], idx: [5, 5, 12], want: 5, why: 'a higher third ack does not matter' },
    { cfg: [1, 2, 3], idx: [100, 101, 103], want: 101, why: 'the median of three' },
    { cfg: [1, 2, 3, 4, 5], idx: [101, 104, 103, 103, _], want: 103, why: 'three of five at >= 103' },
    { cfg: [1, 2, 3, 4, 5], idx: [101, 102, 103, 103, _], want: 102, why: 'three of five at >= 102' },
  ];
  for (const c of cases) {
    test(`cfg=(${c.cfg.join(',')}) idx=(${c.idx.map((x) => x ?? '_').join(',')}) commits ${c.want}: ${c.why}`, () => {
      const got = majority(c.cfg).committedIndex(acker(c.cfg, [], c.idx));
      assert.equal(got, c.want, `committedIndex: got ${formatIndex(got)}, want ${c.want}`);
      // A majority config joint with the empty config behaves exactly like the majority config.
      const gotJ = joint(c.cfg, []).committedIndex(acker(c.cfg, [], c.idx));
      assert.equal(gotJ, c.want, `joint with an empty half: got ${formatIndex(gotJ)}, want ${c.want}`);
    });
  }
});

describe('JointConfig.committedIndex', () => {
  const cases: { cfg: number[]; cfgj: number[]; idx: Idx[]; want: number }[] = [
    { cfg: [1, 2, 3], cfgj: [], idx: [100, 101, 99], want: 100 },
    // non-overlapping singletons
    { cfg: [1], cfgj: [2], idx: [_, _], want: 0 },
    { cfg: [1], cfgj: [2], idx: [100, _], want: 0 },
    { cfg: [1], cfgj: [2], idx: [13, 100], want: 13 },
    // identical singletons
    { cfg: [1], cfgj: [1], idx: [_], want: 0 },
    { cfg: [1], cfgj: [1], idx: [100], want: 100 },
    // two nodes joint with a disjoint single node (idx order: 1, 3, 2)
    { cfg: [1, 3], cfgj: [2], idx: [_, _, _], want: 0 },
    { cfg: [1, 3], cfgj: [2], idx: [100, _, _], want: 0 },
    { cfg: [1, 3], cfgj: [2], idx: [100, _, 50], want: 0 },
    { cfg: [1, 3], cfgj: [2], idx: [100, 45, 50], want: 45 },
    // two nodes joint with an overlapping single node
    { cfg: [1, 2], cfgj: [2], idx: [_, _], want: 0 },
    { cfg: [1, 2], cfgj: [2], idx: [100, _], want: 0 },
    { cfg: [1, 2], cfgj: [2], idx: [_, 100], want: 0 },
    { cfg: [1, 2], cfgj: [2], idx: [50, 100], want: 50 },
    { cfg: [1, 2], cfgj: [2], idx: [100, 50], want: 50 },
    // disjoint two-node halves
    { cfg: [1, 2], cfgj: [3, 4], idx: [50, _, _, _], want: 0 },
    { cfg: [1, 2], cfgj: [3, 4], idx: [50, _, 49, _], want: 0 },
    { cfg: [1, 2], cfgj: [3, 4], idx: [50, 48, 49, _], want: 0 },
    { cfg: [1, 2], cfgj: [3, 4], idx: [50, 48, 49, 47], want: 47 },
    // overlapping two-node halves
    { cfg: [1, 2], cfgj: [2, 3], idx: [_, _, _], want: 0 },
    { cfg: [1, 2], cfgj: [2, 3], idx: [100, _, _], want: 0 },
    { cfg: [1, 2], cfgj: [2, 3], idx: [_, 100, _], want: 0 },
    { cfg: [1, 2], cfgj: [2, 3], idx: [_, 100, 99], want: 0 },
    { cfg: [1, 2], cfgj: [2, 3], idx: [101, 100, 99], want: 99 },
    // identical two-node halves
    { cfg: [1, 2], cfgj: [1, 2], idx: [_, _], want: 0 },
    { cfg: [1, 2], cfgj: [1, 2], idx: [_, 40], want: 0 },
    { cfg: [1, 2], cfgj: [1, 2], idx: [41, 40], want: 40 },
    // disjoint three-node halves
    { cfg: [1, 2, 3], cfgj: [4, 5, 6], idx: [_, _, _, _, _, _], want: 0 },
    { cfg: [1, 2, 3], cfgj: [4, 5, 6], idx: [100, _, _, _, _, _], want: 0 },
    { cfg: [1, 2, 3], cfgj: [4, 5, 6], idx: [100, _, _, 90, _, _], want: 0 },
    { cfg: [1, 2, 3], cfgj: [4, 5, 6], idx: [100, 99, _, _, _, _], want: 0 },
    { cfg: [1, 2, 3], cfgj: [4, 5, 6], idx: [_, 99, 90, 97, 95, _], want: 90 },
    { cfg: [1, 2, 3], cfgj: [4, 5, 6], idx: [92, 99, 90, 97, 95, _], want: 92 },
    { cfg: [1, 2, 3], cfgj: [4, 5, 6], idx: [92, 99, 90, 97, 95, 77], want: 92 },
    // overlapping three-node halves (idx order: 1, 2, 3, 4, 5)
    { cfg: [1, 2, 3], cfgj: [1, 4, 5], idx: [_, _, _, _, _], want: 0 },
    { cfg: [1, 2, 3], cfgj: [1, 4, 5], idx: [100, _, _, _, _], want: 0 },
    { cfg: [1, 2, 3], cfgj: [1, 4, 5], idx: [100, 101, _, _, _], want: 0 },
    { cfg: [1, 2, 3], cfgj: [1, 4, 5], idx: [100, 101, 100, _, _], want: 0 },
    { cfg: [1, 2, 3], cfgj: [1, 4, 5], idx: [_, 100, _, 99, 98], want: 0 },
    { cfg: [1, 2, 3], cfgj: [1, 4, 5], idx: [_, 100, 99, 99, 98], want: 98 },
    { cfg: [1, 2, 3], cfgj: [1, 4, 5], idx: [1, 100, 99, 99, 98], want: 98 },
    { cfg: [1, 2, 3], cfgj: [1, 4, 5], idx: [100, 100, 99, 99, 98], want: 99 },
    // more overlap
    { cfg: [1, 2, 3], cfgj: [2, 3, 4], idx: [_, _, _, _], want: 0 },
    { cfg: [1, 2, 3], cfgj: [2, 3, 4], idx: [_, 100, 99, _], want: 99 },
    { cfg: [1, 2, 3], cfgj: [2, 3, 4], idx: [98, 100, 99, _], want: 99 },
    { cfg: [1, 2, 3], cfgj: [2, 3, 4], idx: [100, 100, 99, _], want: 99 },
    { cfg: [1, 2, 3], cfgj: [2, 3, 4], idx: [100, 100, 99, 98], want: 99 },
    { cfg: [1, 2, 3], cfgj: [2, 3, 4], idx: [100, _, _, 101], want: 0 },
    { cfg: [1, 2, 3], cfgj: [2, 3, 4], idx: [100, 99, _, 101], want: 99 },
    { cfg: [1, 2, 3], cfgj: [1, 2, 3], idx: [50, 45, _], want: 45 },
  ];
  for (const c of cases) {
    const name = `cfg=(${c.cfg.join(',')}) cfgj=(${c.cfgj.join(',')}) idx=(${c.idx.map((x) => x ?? '_').join(',')}) commits ${c.want}`;
    test(`thesis §4.3: ${name}`, () => {
      const a = acker(c.cfg, c.cfgj, c.idx);
      const got = joint(c.cfg, c.cfgj).committedIndex(a);
      assert.equal(got, c.want, `joint committedIndex: got ${formatIndex(got)}, want ${c.want}`);
      // Swapping the halves must not change the answer.
      const swapped = joint(c.cfgj, c.cfg).committedIndex(a);
      assert.equal(swapped, c.want, `with halves swapped: got ${formatIndex(swapped)}, want ${c.want}`);
    });
  }

  test('a joint config of two empty halves commits ∞', () => {
    assert.equal(joint([], []).committedIndex(() => 5), INFINITE_INDEX);
  });
});

// ---- naive reference implementations ----------------------------------------------------------------------

/** The largest index acknowledged by a majority, by trying every candidate index. */
function naiveCommitted(voters: readonly NodeId[], acked: AckedIndexer): number {
  if (voters.length === 0) return INFINITE_INDEX;
  const q = Math.floor(voters.length / 2) + 1;
  const candidates = new Set<number>([0]);
  for (const id of voters) candidates.add(acked(id) ?? 0);
  let best = 0;
  for (const c of candidates) {
    let n = 0;
    for (const id of voters) if ((acked(id) ?? 0) >= c) n++;
    if (n >= q && c > best) best = c;
  }
  return best;
}

function naiveVote(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.length === 0) return VoteResult.Won;
  const q = Math.floor(voters.length / 2) + 1;
  let yes = 0;
  let no = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) yes++;
    else if (v === false) no++;
  }
  if (yes >= q) return VoteResult.Won;
  if (voters.length - no >= q) return VoteResult.Pending;
  return VoteResult.Lost;
}

function naiveJointVote(a: readonly NodeId[], b: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  const x = naiveVote(a, votes);
  const y = naiveVote(b, votes);
  if (x === VoteResult.Lost || y === VoteResult.Lost) return VoteResult.Lost;
  if (x === VoteResult.Won && y === VoteResult.Won) return VoteResult.Won;
  return VoteResult.Pending;
}

function randomVoters(rng: SeededRng, maxSize: number): NodeId[] {
  const n = rng.int(maxSize + 1);
  const s = new Set<NodeId>();
  while (s.size < n) s.add(BigInt(1 + rng.int(12)));
  return [...s];
}

const voteName = (v: VoteResult): string => (v === VoteResult.Won ? 'Won' : v === VoteResult.Lost ? 'Lost' : 'Pending');

describe('quorum properties (seeded random configs)', () => {
  test('MajorityConfig.committedIndex equals the naive count over thousands of random configs', () => {
    const seed = 20240611;
    const rng = new SeededRng(seed);
    for (let iter = 0; iter < 5000; iter++) {
      const voters = randomVoters(rng, 9);
      const acked = new Map<NodeId, number>();
      for (let id = 1; id <= 12; id++) {
        // Some voters have acknowledged nothing yet; small index ranges produce many ties.
        if (rng.float() < 0.8) acked.set(BigInt(id), rng.int(rng.float() < 0.5 ? 5 : 1000));
      }
      const a: AckedIndexer = (id) => acked.get(id);
      const got = new MajorityConfig(voters).committedIndex(a);
      const want = naiveCommitted(voters, a);
      assert.equal(
        got,
        want,
        `seed=${seed} iteration=${iter}: voters=(${voters.join(' ')}) acked=${JSON.stringify([...acked].map(([k, v]) => [Number(k), v]))}: got ${formatIndex(got)}, want ${formatIndex(want)}`,
      );
    }
  });

  test('thesis §4.3: JointConfig.committedIndex is the minimum of the two halves, over random configs', () => {
    const seed = 77031;
    const rng = new SeededRng(seed);
    for (let iter = 0; iter < 5000; iter++) {
      const inc = randomVoters(rng, 7);
      const out = randomVoters(rng, 7);
      const acked = new Map<NodeId, number>();
      for (let id = 1; id <= 12; id++) if (rng.float() < 0.8) acked.set(BigInt(id), rng.int(50));
      const a: AckedIndexer = (id) => acked.get(id);
      const got = new JointConfig(new MajorityConfig(inc), new MajorityConfig(out)).committedIndex(a);
      const want = Math.min(naiveCommitted(inc, a), naiveCommitted(out, a));
      assert.equal(
        got,
        want,
        `seed=${seed} iteration=${iter}: incoming=(${inc.join(' ')}) outgoing=(${out.join(' ')}): got ${formatIndex(got)}, want ${formatIndex(want)}`,
      );
    }
  });

  test('majority and joint voteResult agree with a naive tally over random configs and votes', () => {
    const seed = 4242;
    const rng = new SeededRng(seed);
    for (let iter = 0; iter < 5000; iter++) {
      const inc = randomVoters(rng, 7);
      const out = randomVoters(rng, 7);
      const votes = new Map<NodeId, boolean>();
      for (let id = 1; id <= 12; id++) {
        const r = rng.int(3);
        if (r === 1) votes.set(BigInt(id), true);
        else if (r === 2) votes.set(BigInt(id), false);
      }
      const ctx = `seed=${seed} iteration=${iter}: incoming=(${inc.join(' ')}) outgoing=(${out.join(' ')}) votes=${JSON.stringify([...votes].map(([k, v]) => [Number(k), v]))}`;
      const m = new MajorityConfig(inc).voteResult(votes);
      assert.equal(voteName(m), voteName(naiveVote(inc, votes)), `majority: ${ctx}`);
      const j = new JointConfig(new MajorityConfig(inc), new MajorityConfig(out)).voteResult(votes);
      assert.equal(voteName(j), voteName(naiveJointVote(inc, out, votes)), `joint: ${ctx}`);
    }
  });
});

describe('voteResult', () => {
  const v = (entries: [number, boolean][]): Map<NodeId, boolean> => new Map(entries.map(([id, b]) => [BigInt(id), b]));

  test('the empty majority config wins every election (so that a joint config with an empty half is its other half)', () => {
    assert.equal(majority([]).voteResult(new Map()), VoteResult.Won);
  });

  const majorityCases: { cfg: number[]; votes: [number, boolean][]; want: VoteResult }[] = [
    { cfg: [1], votes: [], want: VoteResult.Pending },
    { cfg: [1], votes: [[1, true]], want: VoteResult.Won },
    { cfg: [1], votes: [[1, false]], want: VoteResult.Lost },
    { cfg: [1, 2], votes: [[1, true]], want: VoteResult.Pending },
    { cfg: [1, 2], votes: [[1, true], [2, false]], want: VoteResult.Lost },
    { cfg: [1, 2], votes: [[1, true], [2, true]], want: VoteResult.Won },
    { cfg: [1, 2, 3], votes: [[1, true]], want: VoteResult.Pending },
    { cfg: [1, 2, 3], votes: [[1, true], [2, false]], want: VoteResult.Pending },
    { cfg: [1, 2, 3], votes: [[1, true], [3, true]], want: VoteResult.Won },
    { cfg: [1, 2, 3], votes: [[2, false], [3, false]], want: VoteResult.Lost },
    { cfg: [1, 2, 3, 4], votes: [[1, true], [2, true]], want: VoteResult.Pending },
    { cfg: [1, 2, 3, 4], votes: [[1, true], [2, true], [3, false], [4, false]], want: VoteResult.Lost },
    { cfg: [1, 2, 3, 4, 5], votes: [[1, true], [2, true], [3, true]], want: VoteResult.Won },
    { cfg: [1, 2, 3, 4, 5], votes: [[1, false], [2, false], [3, false]], want: VoteResult.Lost },
    // Votes of non-members are not counted.
    { cfg: [1, 2, 3], votes: [[1, true], [7, true], [8, true]], want: VoteResult.Pending },
  ];
  for (const c of majorityCases) {
    test(`§5.2: cfg=(${c.cfg.join(',')}) votes=${JSON.stringify(c.votes)} is ${voteName(c.want)}`, () => {
      const got = majority(c.cfg).voteResult(v(c.votes));
      assert.equal(voteName(got), voteName(c.want), 'majority vote result');
    });
  }

  const jointCases: { cfg: number[]; cfgj: number[]; votes: [number, boolean][]; want: VoteResult }[] = [
    { cfg: [1, 2, 3], cfgj: [], votes: [[1, true], [2, true]], want: VoteResult.Won },
    { cfg: [1], cfgj: [2], votes: [[1, true]], want: VoteResult.Pending },
    { cfg: [1], cfgj: [2], votes: [[1, true], [2, true]], want: VoteResult.Won },
    { cfg: [1], cfgj: [2], votes: [[1, true], [2, false]], want: VoteResult.Lost },
    { cfg: [1], cfgj: [2], votes: [[2, false]], want: VoteResult.Lost },
    { cfg: [1, 2, 3], cfgj: [4, 5, 6], votes: [[1, true], [2, true]], want: VoteResult.Pending },
    { cfg: [1, 2, 3], cfgj: [4, 5, 6], votes: [[1, true], [2, true], [4, true], [5, true]], want: VoteResult.Won },
    { cfg: [1, 2, 3], cfgj: [4, 5, 6], votes: [[1, true], [2, true], [4, false], [5, false]], want: VoteResult.Lost },
    // Overlap: 2 and 3 count in both halves.
    { cfg: [1, 2, 3], cfgj: [2, 3, 4], votes: [[2, true], [3, true]], want: VoteResult.Won },
    { cfg: [1, 2, 3], cfgj: [2, 3, 4], votes: [[1, true], [2, true], [3, false], [4, false]], want: VoteResult.Lost },
    { cfg: [1, 2, 3], cfgj: [2, 3, 4], votes: [[1, true], [2, true], [4, false]], want: VoteResult.Pending },
    // Won in one half, lost in the other: lost.
    { cfg: [1, 2, 3], cfgj: [1, 4, 5], votes: [[1, true], [2, true], [4, false], [5, false]], want: VoteResult.Lost },
  ];
  for (const c of jointCases) {
    test(`thesis §4.3: joint cfg=(${c.cfg.join(',')})&&(${c.cfgj.join(',')}) votes=${JSON.stringify(c.votes)} is ${voteName(c.want)}`, () => {
      const got = joint(c.cfg, c.cfgj).voteResult(v(c.votes));
      assert.equal(voteName(got), voteName(c.want), 'joint vote result');
      const swapped = joint(c.cfgj, c.cfg).voteResult(v(c.votes));
      assert.equal(voteName(swapped), voteName(c.want), 'joint vote result with halves swapped');
    });
  }
});
