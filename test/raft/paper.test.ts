/**
 * Tests named after the claims of the Raft paper (Ongaro & Ousterhout, "In Search of an Understandable
 * Consensus Algorithm", 2014), section by section. Each test sets up a node or a network, acts, and checks
 * the claim. Scenarios and facts follow etcd-io/raft's raft_paper_test.go and raft_test.go; the code is
 * our own.
 *
 * Deliberate differences of this core that the tests account for: a leader's proposals are replicated when
 * its messages are collected (`takeMessages()` flushes them), and every new leader appends an empty entry
 * of its term at once.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SeededRng } from '../../src/base/rng.js';
import {
  type Entry,
  type Message,
  MessageType,
  type MemoryStorage,
  None,
  type Raft,
  type Snapshot,
  StateType,
  describeMessage,
  emptyBytes,
  newEntry,
  stateName,
} from '../../src/server/raft/index.js';
import {
  BlackHole,
  Network,
  RaftPeer,
  type TestRaftOptions,
  dec,
  enc,
  entriesWithTerms,
  msg,
  newTestRaft,
  storageWithConfig,
  tickN,
} from '../sim/network.js';

const ET = 10; // election tick used throughout

// ---- helpers ---------------------------------------------------------------------------------------------

interface NodeSpec {
  entries?: Entry[];
  term?: number;
  vote?: number;
  commit?: number;
  election?: number;
  heartbeat?: number;
  opts?: TestRaftOptions;
}

/** A raft node over a fresh MemoryStorage holding `entries` and (if given) a persisted HardState. */
function node(id: number, voters: number[], spec: NodeSpec = {}): { r: Raft; s: MemoryStorage } {
  const s = storageWithConfig(voters, [], spec.entries ?? []);
  if (spec.term !== undefined || spec.vote !== undefined || spec.commit !== undefined) {
    s.setHardState({ term: spec.term ?? 0, vote: BigInt(spec.vote ?? 0), commit: spec.commit ?? 0 });
  }
  const r = newTestRaft(id, spec.election ?? ET, spec.heartbeat ?? 1, s, spec.opts);
  return { r, s };
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}

/** Entries with the given terms at indexes start, start+1, ... */
function entriesFrom(start: number, ...terms: number[]): Entry[] {
  return terms.map((t, i) => newEntry(start + i, t));
}

/** `count` copies of `term`. */
function rep(term: number, count: number): number[] {
  return Array.from({ length: count }, () => term);
}

/** A log rendered as "index:term" items, for comparing logs in assertions. */
function logOf(r: Raft): string[] {
  return r.raftLog.allEntries().map((e) => `${e.index}:${e.term}`);
}

function fmtMsgs(ms: readonly Message[]): string {
  return ms.length === 0 ? '(none)' : ms.map((m) => describeMessage(m)).join('; ');
}

function st(r: Raft): string {
  return `${stateName(r.state)} term=${r.term} lead=${r.lead} vote=${r.vote} commit=${r.raftLog.committed} log=[${logOf(r).join(' ')}]`;
}

/** Puts a fresh node (term 0 unless the storage says otherwise) into `role` the way etcd's tests do. */
function enterRole(r: Raft, role: StateType): void {
  switch (role) {
    case StateType.Follower:
      r.becomeFollower(r.term + 1, 2n);
      break;
    case StateType.PreCandidate:
      r.becomePreCandidate();
      break;
    case StateType.Candidate:
      r.becomeCandidate();
      break;
    case StateType.Leader:
      r.becomeCandidate();
      r.becomeLeader();
      break;
  }
}

const allRoles: StateType[] = [StateType.Follower, StateType.PreCandidate, StateType.Candidate, StateType.Leader];

/** Runs an election on a lone node by stepping MsgHup and granting every vote it asks for. */
function electLeader(r: Raft): void {
  r.step(msg(Number(r.id), Number(r.id), MessageType.MsgHup));
  for (const m of r.takeMessages()) {
    assert.equal(m.type, MessageType.MsgVote, `expected only vote requests after MsgHup, got ${describeMessage(m)}`);
    if (r.state === StateType.Leader) break;
    r.step(msg(Number(m.to), Number(r.id), MessageType.MsgVoteResp, { term: m.term }));
  }
  assert.equal(r.state, StateType.Leader, `node did not win the election: ${st(r)}`);
}

/** The reply of a follower that accepted a MsgApp. */
function acceptAndReply(m: Message): Message {
  assert.equal(m.type, MessageType.MsgApp, `expected a MsgApp, got ${describeMessage(m)}`);
  return msg(Number(m.to), Number(m.from), MessageType.MsgAppResp, { term: m.term, index: m.index + m.entries.length });
}

/**
 * Has every follower acknowledge the new leader's empty entry, then persists the leader's log and marks it
 * applied (etcd's commitNoopEntry), so that later checks see only what the test itself adds.
 */
function commitNoop(r: Raft, s: MemoryStorage): void {
  assert.equal(r.state, StateType.Leader);
  for (const m of r.takeMessages()) {
    assert.ok(m.type === MessageType.MsgApp && m.entries.length === 1 && m.entries[0]?.data.length === 0, `not the no-op append: ${describeMessage(m)}`);
    r.step(acceptAndReply(m));
  }
  r.takeMessages(); // the commit index broadcast
  const unstable = r.raftLog.nextUnstableEntries();
  const last = unstable[unstable.length - 1];
  s.append(unstable);
  if (last !== undefined) r.raftLog.stableTo(last.index, last.term);
  r.appliedTo(r.raftLog.committed);
}

function propose(r: Raft, data: string): void {
  r.step(msg(Number(r.id), Number(r.id), MessageType.MsgProp, { entries: [newEntry(0, 0, enc(data))] }));
}

/**
 * Records every entry any node has committed, and checks the two safety properties that matter here:
 * no index is ever committed with two different terms (State Machine Safety), and a newly elected leader
 * holds every committed entry (Leader Completeness, §5.4).
 */
class CommitLedger {
  private readonly committed = new Map<number, number>();

  observe(nt: Network, ids: number[]): void {
    for (const id of ids) {
      const r = nt.raft(id);
      for (let i = 1; i <= r.raftLog.committed; i++) {
        const t = r.raftLog.maybeTerm(i);
        if (t === undefined) continue;
        const seen = this.committed.get(i);
        assert.ok(seen === undefined || seen === t, `index ${i} committed with term ${seen} and, on node ${id}, with term ${t}`);
        this.committed.set(i, t);
      }
    }
  }

  assertLeaderHasAll(r: Raft, when: string): void {
    assert.equal(r.state, StateType.Leader, `${when}: node ${r.id} is not leader: ${st(r)}`);
    for (const [i, t] of this.committed) {
      assert.equal(r.raftLog.maybeTerm(i), t, `${when}: new leader ${r.id} lacks committed entry ${i}:${t}: ${st(r)}`);
    }
  }
}

/** Replaces node `id` by a node restarted from its own durable state (log, term, vote, commit). */
function restart(nt: Network, id: number, voters: number[], opts: TestRaftOptions = {}): Raft {
  const old = nt.raft(id);
  const s = storageWithConfig(voters, [], old.raftLog.allEntries());
  s.setHardState(old.hardState());
  const r = newTestRaft(id, ET, 1, s, opts);
  nt.peers.set(BigInt(id), new RaftPeer(r));
  return r;
}

// ---- §5.1 -------------------------------------------------------------------------------------------------

describe('§5.1 Raft basics', () => {
  test('§5.1: servers start as followers', () => {
    const { r } = node(1, [1, 2, 3]);
    assert.equal(r.state, StateType.Follower, `a new node is ${stateName(r.state)}`);
    assert.equal(r.term, 0);
    assert.equal(r.lead, None);
  });

  const higherTermCases: { type: MessageType; name: string; leadIsSender: boolean }[] = [
    { type: MessageType.MsgApp, name: 'MsgApp', leadIsSender: true },
    { type: MessageType.MsgHeartbeat, name: 'MsgHeartbeat', leadIsSender: true },
    { type: MessageType.MsgSnap, name: 'MsgSnap', leadIsSender: true },
    { type: MessageType.MsgVote, name: 'MsgVote', leadIsSender: false },
  ];
  for (const role of allRoles) {
    for (const c of higherTermCases) {
      test(`§5.1: a ${stateName(role)} that receives ${c.name} with a higher term adopts the term and becomes follower${c.leadIsSender ? ' of the sender' : ''}`, () => {
        const { r } = node(1, [1, 2, 3]);
        enterRole(r, role);
        r.takeMessages();
        const snapshot: Snapshot = { data: emptyBytes, metadata: { index: 11, term: 4, confState: { voters: [1n, 2n, 3n], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } } };
        // A vote request from a candidate whose log is newer than ours, so that the vote is granted whatever our role.
        const fields = c.type === MessageType.MsgVote ? { logTerm: 5, index: 42 } : {};
        r.step(msg(2, 1, c.type, { term: 5, ...fields, snapshot: c.type === MessageType.MsgSnap ? snapshot : undefined }));
        assert.equal(r.term, 5, `term not updated: ${st(r)}`);
        assert.equal(r.state, StateType.Follower, `not a follower: ${st(r)}`);
        assert.equal(r.lead, c.leadIsSender ? 2n : None, `wrong leader: ${st(r)}`);
        if (c.type === MessageType.MsgVote) assert.equal(r.vote, 2n, `vote for the up-to-date candidate not recorded: ${st(r)}`);
      });
    }
  }

  for (const role of allRoles) {
    test(`§5.1: a ${stateName(role)} ignores messages with a lower term (pre-vote and check-quorum off)`, () => {
      for (const type of [MessageType.MsgApp, MessageType.MsgHeartbeat, MessageType.MsgVote, MessageType.MsgAppResp, MessageType.MsgVoteResp]) {
        const { r } = node(1, [1, 2, 3], { term: 5 });
        enterRole(r, role);
        r.takeMessages();
        const before = st(r);
        r.step(msg(2, 1, type, { term: r.term - 1, index: 0, logTerm: 0, entries: type === MessageType.MsgApp ? [newEntry(1, r.term - 1)] : [] }));
        assert.equal(st(r), before, `state changed on a stale ${describeMessage(msg(2, 1, type))}`);
        const out = r.takeMessages();
        assert.deepEqual(out, [], `stale message was answered: ${fmtMsgs(out)}`);
      }
    });
  }

  for (const opt of ['checkQuorum', 'preVote'] as const) {
    test(`§5.1 (with ${opt}): a stale MsgApp or MsgHeartbeat is answered with a MsgAppResp carrying the current term, a stale MsgVote is ignored`, () => {
      for (const role of allRoles) {
        for (const type of [MessageType.MsgApp, MessageType.MsgHeartbeat, MessageType.MsgVote]) {
          const { r } = node(1, [1, 2, 3], { term: 5, opts: { [opt]: true } });
          enterRole(r, role);
          r.takeMessages();
          const before = st(r);
          r.step(msg(2, 1, type, { term: r.term - 1 }));
          assert.equal(st(r), before, `${stateName(role)}: state changed on a stale message`);
          const out = r.takeMessages();
          if (type === MessageType.MsgVote) {
            assert.deepEqual(out, [], `${stateName(role)}: stale MsgVote was answered: ${fmtMsgs(out)}`);
          } else {
            assert.equal(out.length, 1, `${stateName(role)}: want one answer to a stale message, got ${fmtMsgs(out)}`);
            const m = out[0] as Message;
            assert.equal(m.type, MessageType.MsgAppResp, describeMessage(m));
            assert.equal(m.to, 2n, describeMessage(m));
            assert.equal(m.term, r.term, `answer must carry our term: ${describeMessage(m)}`);
            assert.equal(m.reject, false, describeMessage(m));
          }
        }
      }
    });
  }

  test('§5.1: a stale MsgPreVote is explicitly rejected with the current term (so the pre-candidate learns it)', () => {
    for (const role of allRoles) {
      const { r } = node(1, [1, 2, 3], { term: 5 });
      enterRole(r, role);
      r.takeMessages();
      const before = st(r);
      r.step(msg(2, 1, MessageType.MsgPreVote, { term: r.term - 1, index: 10, logTerm: r.term - 1 }));
      assert.equal(st(r), before, `${stateName(role)}: state changed`);
      const out = r.takeMessages();
      assert.equal(out.length, 1, `${stateName(role)}: ${fmtMsgs(out)}`);
      const m = out[0] as Message;
      assert.ok(m.type === MessageType.MsgPreVoteResp && m.reject && m.term === r.term && m.to === 2n, `${stateName(role)}: ${describeMessage(m)}`);
    }
  });
});

// ---- §5.2 -------------------------------------------------------------------------------------------------

describe('§5.2 Leader election', () => {
  test('§5.2: a leader sends an empty MsgHeartbeat to every follower each heartbeat interval', () => {
    const hb = 3;
    const { r } = node(1, [1, 2, 3], { heartbeat: hb });
    r.becomeCandidate();
    r.becomeLeader();
    r.takeMessages();
    for (let round = 0; round < 3; round++) {
      tickN(r, hb - 1);
      assert.deepEqual(r.takeMessages(), [], `round ${round}: heartbeat sent before ${hb} ticks`);
      r.tick();
      const out = r.takeMessages();
      assert.deepEqual(
        out.map((m) => [m.type, m.to, m.term, m.index, m.logTerm, m.entries.length, m.commit]).sort((a, b) => Number(a[1]) - Number(b[1])),
        [
          [MessageType.MsgHeartbeat, 2n, 1, 0, 0, 0, 0],
          [MessageType.MsgHeartbeat, 3n, 1, 0, 0, 0, 0],
        ],
        `round ${round}: ${fmtMsgs(out)}`,
      );
    }
    assert.equal(r.state, StateType.Leader);
  });

  for (const role of [StateType.Follower, StateType.Candidate]) {
    test(`§5.2: a ${stateName(role)} that hears nothing for an election timeout starts an election: term+1, votes for itself, MsgVote to each voter with its last log index and term`, () => {
      const { r } = node(1, [1, 2, 3], { entries: entriesWithTerms(1, 1) });
      if (role === StateType.Follower) r.becomeFollower(1, 2n);
      else r.becomeCandidate();
      const term = r.term;
      // The randomized timeout is below 2*ET, so 2*ET-1 ticks start exactly one election.
      tickN(r, 2 * ET - 1);
      assert.equal(r.state, StateType.Candidate, st(r));
      assert.equal(r.term, term + 1, st(r));
      assert.equal(r.vote, 1n, `did not vote for itself: ${st(r)}`);
      assert.equal(r.trk.tallyVotes().granted, 1, 'own vote not counted');
      const out = r.takeMessages().sort((a, b) => Number(a.to - b.to));
      assert.deepEqual(
        out.map((m) => [m.type, m.to, m.term, m.index, m.logTerm]),
        [
          [MessageType.MsgVote, 2n, term + 1, 2, 1],
          [MessageType.MsgVote, 3n, term + 1, 2, 1],
        ],
        fmtMsgs(out),
      );
    });
  }

  test('§5.2: a candidate wins with votes from a majority, loses on rejections from a majority, and otherwise stays candidate', () => {
    const F = StateType.Follower;
    const C = StateType.Candidate;
    const L = StateType.Leader;
    const cases: { size: number; votes: Record<number, boolean>; want: StateType }[] = [
      // wins
      { size: 1, votes: {}, want: L },
      { size: 3, votes: { 2: true, 3: true }, want: L },
      { size: 3, votes: { 2: true }, want: L },
      { size: 5, votes: { 2: true, 3: true, 4: true, 5: true }, want: L },
      { size: 5, votes: { 2: true, 3: true, 4: true }, want: L },
      { size: 5, votes: { 2: true, 3: true }, want: L },
      // loses: back to follower
      { size: 3, votes: { 2: false, 3: false }, want: F },
      { size: 5, votes: { 2: false, 3: false, 4: false, 5: false }, want: F },
      { size: 5, votes: { 2: true, 3: false, 4: false, 5: false }, want: F },
      // undecided
      { size: 3, votes: {}, want: C },
      { size: 5, votes: { 2: true }, want: C },
      { size: 5, votes: { 2: false, 3: false }, want: C },
      { size: 5, votes: {}, want: C },
    ];
    for (const [i, c] of cases.entries()) {
      const { r } = node(1, range(c.size));
      r.step(msg(1, 1, MessageType.MsgHup));
      for (const [id, granted] of Object.entries(c.votes)) {
        r.step(msg(Number(id), 1, MessageType.MsgVoteResp, { term: r.term, reject: !granted }));
      }
      assert.equal(r.state, c.want, `#${i} size ${c.size} votes ${JSON.stringify(c.votes)}: ${st(r)}`);
      assert.equal(r.term, 1, `#${i}: ${st(r)}`);
    }
  });

  test('§5.2: a follower votes for at most one candidate per term, first come first served', () => {
    const cases: { vote: number; candidate: number; reject: boolean }[] = [
      { vote: 0, candidate: 2, reject: false },
      { vote: 0, candidate: 3, reject: false },
      { vote: 2, candidate: 2, reject: false }, // a repeated request is granted again
      { vote: 3, candidate: 3, reject: false },
      { vote: 2, candidate: 3, reject: true },
      { vote: 3, candidate: 2, reject: true },
    ];
    for (const [i, c] of cases.entries()) {
      const { r } = node(1, [1, 2, 3], { term: 1, vote: c.vote });
      r.step(msg(c.candidate, 1, MessageType.MsgVote, { term: 1 }));
      const out = r.takeMessages();
      assert.deepEqual(
        out.map((m) => [m.type, m.from, m.to, m.term, m.reject]),
        [[MessageType.MsgVoteResp, 1n, BigInt(c.candidate), 1, c.reject]],
        `#${i} voted ${c.vote}, asked by ${c.candidate}: ${fmtMsgs(out)}`,
      );
      assert.equal(r.vote, BigInt(c.vote === 0 ? c.candidate : c.vote), `#${i}: recorded vote`);
    }
  });

  test('§5.2: a follower that voted in a term refuses a second candidate of that term, in the order the requests arrive', () => {
    const { r } = node(1, [1, 2, 3]);
    r.step(msg(3, 1, MessageType.MsgVote, { term: 1 }));
    r.step(msg(2, 1, MessageType.MsgVote, { term: 1 }));
    const out = r.takeMessages();
    assert.deepEqual(
      out.map((m) => [m.to, m.reject]),
      [
        [3n, false],
        [2n, true],
      ],
      fmtMsgs(out),
    );
    assert.equal(r.vote, 3n);
  });

  test('§5.2: a candidate that receives MsgApp from a leader of its own term (or a higher one) becomes its follower', () => {
    for (const term of [1, 2]) {
      const { r } = node(1, [1, 2, 3]);
      r.step(msg(1, 1, MessageType.MsgHup));
      assert.equal(r.state, StateType.Candidate);
      r.step(msg(2, 1, MessageType.MsgApp, { term }));
      assert.equal(r.state, StateType.Follower, `term ${term}: ${st(r)}`);
      assert.equal(r.term, term, `term ${term}: ${st(r)}`);
      assert.equal(r.lead, 2n, `term ${term}: ${st(r)}`);
    }
  });

  for (const role of [StateType.Follower, StateType.Candidate]) {
    test(`§5.2: the election timeouts of a ${stateName(role)} are spread over [electionTick, 2*electionTick)`, (t) => {
      const seed = 20240501 + role;
      t.diagnostic(`seed ${seed}`);
      const { r } = node(1, [1, 2, 3], { opts: { seed } });
      const hist = new Map<number, number>();
      const rounds = 100 * ET;
      for (let round = 0; round < rounds; round++) {
        if (role === StateType.Follower) r.becomeFollower(r.term + 1, 2n);
        else r.becomeCandidate();
        let ticks = 0;
        while (r.takeMessages().length === 0) {
          r.tick();
          ticks++;
          assert.ok(ticks <= 2 * ET, `seed ${seed} round ${round}: no election after ${ticks} ticks`);
        }
        hist.set(ticks, (hist.get(ticks) ?? 0) + 1);
      }
      for (const d of hist.keys()) assert.ok(d >= ET && d < 2 * ET, `seed ${seed}: timeout of ${d} ticks outside [${ET}, ${2 * ET})`);
      for (let d = ET; d < 2 * ET; d++) {
        // Uniform would give rounds/ET = 100 per value; far fewer means the spread is broken.
        assert.ok((hist.get(d) ?? 0) >= 50, `seed ${seed}: timeout ${d} drawn ${hist.get(d) ?? 0} times in ${rounds}: ${JSON.stringify([...hist].sort((a, b) => a[0] - b[0]))}`);
      }
    });
  }

  for (const role of [StateType.Follower, StateType.Candidate]) {
    test(`§5.2: in most rounds a single one of 5 ${stateName(role)}s times out first, so split votes are rare`, (t) => {
      const seed = 777 + role;
      t.diagnostic(`seeds ${seed * 10 + 1}..${seed * 10 + 5}`);
      const voters = range(5);
      const rs = voters.map((id) => node(id, voters, { opts: { seed: seed * 10 + id } }).r);
      const rounds = 1000;
      let conflicts = 0;
      for (let round = 0; round < rounds; round++) {
        for (const r of rs) {
          if (role === StateType.Follower) r.becomeFollower(r.term + 1, None);
          else r.becomeCandidate();
          r.takeMessages();
        }
        let timedOut = 0;
        for (let ticks = 0; timedOut === 0; ticks++) {
          assert.ok(ticks < 2 * ET, `round ${round}: nobody timed out`);
          for (const r of rs) {
            r.tick();
            if (r.takeMessages().length > 0) timedOut++;
          }
        }
        if (timedOut > 1) conflicts++;
      }
      assert.ok(conflicts / rounds <= 0.3, `seed ${seed}: ${conflicts} of ${rounds} rounds had simultaneous timeouts`);
    });
  }
});

// ---- §5.3 -------------------------------------------------------------------------------------------------

describe('§5.3 Log replication', () => {
  test('§5.3: the leader appends a proposal to its log and sends it to every follower with the index and term of the entry before it', () => {
    const { r, s } = node(1, [1, 2, 3]);
    electLeader(r);
    commitNoop(r, s);
    const li = r.raftLog.lastIndex();
    propose(r, 'some data');
    assert.equal(r.raftLog.lastIndex(), li + 1, 'proposal not appended');
    assert.equal(r.raftLog.committed, li, 'committed before any follower acknowledged');
    const out = r.takeMessages().sort((a, b) => Number(a.to - b.to));
    assert.deepEqual(
      out.map((m) => [m.type, m.to, m.term, m.index, m.logTerm, m.commit, m.entries.map((e) => [e.index, e.term, dec(e.data)])]),
      [2n, 3n].map((to) => [MessageType.MsgApp, to, 1, li, 1, li, [[li + 1, 1, 'some data']]]),
      fmtMsgs(out),
    );
    // ...and it is handed out to be written to stable storage.
    assert.deepEqual(
      r.raftLog.nextUnstableEntries().map((e) => [e.index, e.term, dec(e.data)]),
      [[li + 1, 1, 'some data']],
    );
  });

  test('§5.3: once a majority stored the entry the leader commits it, hands it out to apply, and tells the followers its commit index', () => {
    const { r, s } = node(1, [1, 2, 3]);
    electLeader(r);
    commitNoop(r, s);
    const li = r.raftLog.lastIndex();
    propose(r, 'some data');
    for (const m of r.takeMessages()) r.step(acceptAndReply(m));
    assert.equal(r.raftLog.committed, li + 1);
    assert.deepEqual(
      r.raftLog.nextCommittedEntries().map((e) => [e.index, e.term, dec(e.data)]),
      [[li + 1, 1, 'some data']],
    );
    const out = r.takeMessages();
    const told = new Set(out.filter((m) => m.type === MessageType.MsgApp && m.commit === li + 1).map((m) => m.to));
    assert.deepEqual([...told].sort(), [2n, 3n], `followers not told the commit index: ${fmtMsgs(out)}`);
  });

  test('§5.3: an entry commits exactly when the leader and the followers that acknowledged it form a majority (1, 3 and 5 nodes)', () => {
    const cases: { size: number; acceptors: number[]; committed: boolean }[] = [
      { size: 1, acceptors: [], committed: true },
      { size: 3, acceptors: [], committed: false },
      { size: 3, acceptors: [2], committed: true },
      { size: 3, acceptors: [2, 3], committed: true },
      { size: 5, acceptors: [], committed: false },
      { size: 5, acceptors: [2], committed: false },
      { size: 5, acceptors: [2, 3], committed: true },
      { size: 5, acceptors: [2, 3, 4], committed: true },
      { size: 5, acceptors: [2, 3, 4, 5], committed: true },
    ];
    for (const [i, c] of cases.entries()) {
      const { r, s } = node(1, range(c.size));
      electLeader(r);
      commitNoop(r, s);
      const li = r.raftLog.lastIndex();
      propose(r, 'some data');
      for (const m of r.takeMessages()) {
        if (c.acceptors.includes(Number(m.to))) r.step(acceptAndReply(m));
      }
      assert.equal(r.raftLog.committed > li, c.committed, `#${i} size ${c.size} acceptors ${c.acceptors}: commit=${r.raftLog.committed} li=${li}`);
    }
  });

  test("§5.3: committing an entry commits every preceding entry of the leader's log, including those of earlier leaders", () => {
    const logs: Entry[][] = [[], entriesWithTerms(2), entriesWithTerms(1, 2), entriesWithTerms(1)];
    for (const [i, prior] of logs.entries()) {
      const { r } = node(1, [1, 2, 3], { entries: prior, term: 2 });
      r.becomeCandidate();
      r.becomeLeader();
      propose(r, 'some data');
      for (const m of r.takeMessages()) r.step(acceptAndReply(m));
      const li = prior.length;
      assert.deepEqual(
        r.raftLog.nextCommittedEntries().map((e) => [e.index, e.term, dec(e.data)]),
        [...prior.map((e) => [e.index, e.term, '']), [li + 1, 3, ''], [li + 2, 3, 'some data']],
        `#${i}`,
      );
    }
  });

  test("§5.3: a follower commits up to the leader's commit index (bounded by what it holds) and hands those entries out in log order", () => {
    const cases: { ents: Entry[]; commit: number }[] = [
      { ents: [newEntry(1, 1, enc('some data'))], commit: 1 },
      { ents: [newEntry(1, 1, enc('some data')), newEntry(2, 1, enc('some data2'))], commit: 2 },
      { ents: [newEntry(1, 1, enc('some data2')), newEntry(2, 1, enc('some data'))], commit: 2 },
      { ents: [newEntry(1, 1, enc('some data')), newEntry(2, 1, enc('some data2'))], commit: 1 },
    ];
    for (const [i, c] of cases.entries()) {
      const { r } = node(1, [1, 2, 3]);
      r.becomeFollower(1, 2n);
      r.step(msg(2, 1, MessageType.MsgApp, { term: 1, entries: c.ents, commit: c.commit }));
      assert.equal(r.raftLog.committed, c.commit, `#${i}`);
      assert.deepEqual(
        r.raftLog.nextCommittedEntries().map((e) => [e.index, dec(e.data)]),
        c.ents.slice(0, c.commit).map((e) => [e.index, dec(e.data)]),
        `#${i}`,
      );
    }
    // A commit index beyond the entries the message proves we share is capped.
    const { r } = node(1, [1, 2, 3], { entries: entriesWithTerms(1, 1, 1) });
    r.becomeFollower(1, 2n);
    r.step(msg(2, 1, MessageType.MsgApp, { term: 1, index: 1, logTerm: 1, commit: 3 }));
    assert.equal(r.raftLog.committed, 1, 'committed past the last entry the MsgApp vouched for');
  });

  test('§5.3: a follower rejects a MsgApp whose previous index and term it does not hold, hinting where the logs may match', () => {
    const cases: { logTerm: number; index: number; wantIndex: number; reject: boolean; hint: number; hintTerm: number }[] = [
      // matches a committed entry (index 0 is below the commit index: answered with the commit index)
      { logTerm: 0, index: 0, wantIndex: 1, reject: false, hint: 0, hintTerm: 0 },
      { logTerm: 1, index: 1, wantIndex: 1, reject: false, hint: 0, hintTerm: 0 },
      // matches an uncommitted entry
      { logTerm: 2, index: 2, wantIndex: 2, reject: false, hint: 0, hintTerm: 0 },
      // a different term at an existing index
      { logTerm: 1, index: 2, wantIndex: 2, reject: true, hint: 1, hintTerm: 1 },
      // an index past our log
      { logTerm: 3, index: 3, wantIndex: 3, reject: true, hint: 2, hintTerm: 2 },
    ];
    for (const [i, c] of cases.entries()) {
      const { r } = node(1, [1, 2, 3], { entries: entriesWithTerms(1, 2), commit: 1 });
      r.becomeFollower(2, 2n);
      r.step(msg(2, 1, MessageType.MsgApp, { term: 2, logTerm: c.logTerm, index: c.index }));
      const out = r.takeMessages();
      assert.deepEqual(
        out.map((m) => [m.type, m.to, m.term, m.index, m.reject, m.rejectHint, m.logTerm]),
        [[MessageType.MsgAppResp, 2n, 2, c.wantIndex, c.reject, c.hint, c.hintTerm]],
        `#${i} MsgApp after ${c.index}:${c.logTerm}: ${fmtMsgs(out)}`,
      );
    }
  });

  test('§5.3: an accepted MsgApp makes the follower delete a conflicting entry and all that follow it, and append the new entries', () => {
    const cases: { index: number; logTerm: number; ents: Entry[]; want: string[]; unstable: string[] }[] = [
      { index: 2, logTerm: 2, ents: entriesFrom(3, 3), want: ['1:1', '2:2', '3:3'], unstable: ['3:3'] },
      { index: 1, logTerm: 1, ents: entriesFrom(2, 3, 4), want: ['1:1', '2:3', '3:4'], unstable: ['2:3', '3:4'] },
      { index: 0, logTerm: 0, ents: entriesFrom(1, 1), want: ['1:1', '2:2'], unstable: [] },
      { index: 0, logTerm: 0, ents: entriesFrom(1, 3), want: ['1:3'], unstable: ['1:3'] },
    ];
    for (const [i, c] of cases.entries()) {
      const { r } = node(1, [1, 2, 3], { entries: entriesWithTerms(1, 2) });
      r.becomeFollower(2, 2n);
      r.step(msg(2, 1, MessageType.MsgApp, { term: 2, logTerm: c.logTerm, index: c.index, entries: c.ents }));
      assert.deepEqual(logOf(r), c.want, `#${i} log`);
      assert.deepEqual(
        r.raftLog.nextUnstableEntries().map((e) => `${e.index}:${e.term}`),
        c.unstable,
        `#${i} entries to write to stable storage`,
      );
    }
  });

  // Figure 7: the leader's log (top line) and six possible follower logs.
  const fig7Leader = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  const fig7Followers: [string, number[]][] = [
    ['a', [1, 1, 1, 4, 4, 5, 5, 6, 6]],
    ['b', [1, 1, 1, 4]],
    ['c', [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6]],
    ['d', [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7]],
    ['e', [1, 1, 1, 4, 4, 4, 4]],
    ['f', [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]],
  ];
  for (const [name, followerTerms] of fig7Followers) {
    test(`§5.3 Figure 7 (${name}): a new leader brings follower (${name}) to exactly its own log`, () => {
      const lead = node(1, [1, 2, 3], { entries: entriesWithTerms(...fig7Leader), term: 8, commit: fig7Leader.length }).r;
      const follower = node(2, [1, 2, 3], { entries: entriesWithTerms(...followerTerms), term: 7 }).r;
      // The third node is down; its vote is delivered by hand since (c) and (d) refuse theirs (their logs are
      // longer or newer than the leader's).
      const nt = new Network([lead, follower, new BlackHole()]);
      nt.campaign(1);
      nt.send(msg(3, 1, MessageType.MsgVoteResp, { term: lead.term }));
      assert.equal(lead.state, StateType.Leader, st(lead));
      assert.equal(lead.term, 9);
      const ledger = new CommitLedger();
      ledger.observe(nt, [1, 2]);
      ledger.assertLeaderHasAll(lead, 'after the election');
      nt.propose(1, 'x');
      assert.deepEqual(logOf(follower), logOf(lead), `follower (${name}) not brought in sync`);
      assert.deepEqual(
        lead.raftLog.allEntries().slice(0, fig7Leader.length).map((e) => e.term),
        fig7Leader,
        "the leader's own log must never change",
      );
      assert.equal(follower.raftLog.committed, lead.raftLog.committed, 'follower did not learn the commit index');
      assert.equal(lead.raftLog.committed, fig7Leader.length + 2, 'the no-op and the proposal should commit');
      ledger.observe(nt, [1, 2]);
    });
  }
});

// ---- §5.4 -------------------------------------------------------------------------------------------------

describe('§5.4 Safety', () => {
  test("§5.4.1: vote requests carry the candidate's last log index and term and go to every other voter", () => {
    const cases: { ents: Entry[]; wantTerm: number }[] = [
      { ents: entriesWithTerms(1), wantTerm: 2 },
      { ents: entriesWithTerms(1, 2), wantTerm: 3 },
    ];
    for (const [i, c] of cases.entries()) {
      const { r } = node(1, [1, 2, 3]);
      r.step(msg(2, 1, MessageType.MsgApp, { term: c.wantTerm - 1, index: 0, logTerm: 0, entries: c.ents }));
      r.takeMessages();
      tickN(r, 2 * ET - 1);
      const out = r.takeMessages().sort((a, b) => Number(a.to - b.to));
      const last = c.ents[c.ents.length - 1] as Entry;
      assert.deepEqual(
        out.map((m) => [m.type, m.to, m.term, m.index, m.logTerm]),
        [2n, 3n].map((to) => [MessageType.MsgVote, to, c.wantTerm, last.index, last.term]),
        `#${i}: ${fmtMsgs(out)}`,
      );
    }
  });

  test("§5.4.1: a voter denies its vote to a candidate whose log is less up to date than its own (later last term wins, then longer log)", () => {
    const cases: { ents: Entry[]; logTerm: number; index: number; reject: boolean }[] = [
      // same last term
      { ents: entriesWithTerms(1), logTerm: 1, index: 1, reject: false },
      { ents: entriesWithTerms(1), logTerm: 1, index: 2, reject: false },
      { ents: entriesWithTerms(1, 1), logTerm: 1, index: 1, reject: true },
      // candidate's last term is later
      { ents: entriesWithTerms(1), logTerm: 2, index: 1, reject: false },
      { ents: entriesWithTerms(1), logTerm: 2, index: 2, reject: false },
      { ents: entriesWithTerms(1, 1), logTerm: 2, index: 1, reject: false },
      // voter's last term is later
      { ents: entriesWithTerms(2), logTerm: 1, index: 1, reject: true },
      { ents: entriesWithTerms(2), logTerm: 1, index: 2, reject: true },
      { ents: entriesWithTerms(2, 2), logTerm: 1, index: 1, reject: true },
      { ents: entriesWithTerms(1, 1), logTerm: 1, index: 1, reject: true },
    ];
    for (const [i, c] of cases.entries()) {
      const { r } = node(1, [1, 2], { entries: c.ents });
      r.step(msg(2, 1, MessageType.MsgVote, { term: 3, logTerm: c.logTerm, index: c.index }));
      const out = r.takeMessages();
      assert.equal(out.length, 1, `#${i}: ${fmtMsgs(out)}`);
      const m = out[0] as Message;
      assert.equal(m.type, MessageType.MsgVoteResp, `#${i}: ${describeMessage(m)}`);
      assert.equal(m.reject, c.reject, `#${i} voter log [${logOf(r).join(' ')}], candidate ${c.index}:${c.logTerm}: ${describeMessage(m)}`);
      assert.equal(r.vote, c.reject ? None : 2n, `#${i}: recorded vote`);
    }
  });

  test('§5.4.2: a leader commits by counting replicas only entries of its current term', () => {
    const cases: { ackIndex: number; wantCommit: number }[] = [
      { ackIndex: 1, wantCommit: 0 }, // term 1 entry on a majority: not committed
      { ackIndex: 2, wantCommit: 0 }, // term 2 entry on a majority: not committed
      { ackIndex: 3, wantCommit: 3 }, // this leader's (term 3) no-op: committed, and everything before it
    ];
    for (const [i, c] of cases.entries()) {
      const { r } = node(1, [1, 2], { entries: entriesWithTerms(1, 2), term: 2 });
      r.becomeCandidate();
      r.becomeLeader();
      assert.equal(r.term, 3);
      propose(r, '');
      r.takeMessages();
      r.step(msg(2, 1, MessageType.MsgAppResp, { term: r.term, index: c.ackIndex }));
      assert.equal(r.raftLog.committed, c.wantCommit, `#${i}: follower acknowledged up to ${c.ackIndex}: ${st(r)}`);
    }
  });

  /**
   * Figure 8, (a) to (c), on five nodes. Before (a), entry 1 of term 1 is committed everywhere. A new leader's
   * first entry here is its empty entry, which plays the part of the figure's client entry.
   *   (a) S1 leads term 2; its entry 2:2 reaches S2 only.
   *   (b) S1 crashes; S5 wins term 3 with votes from S3, S4, itself; its entry 2:3 reaches nobody.
   *   (c) S5 crashes; S1 restarts and wins term 4 (after a split round at term 3). It brings S3 up to index 2,
   *       so 2:2 is on S1, S2, S3, a majority; its own term-4 entry 3:4 reaches S2 only.
   */
  function figure8UpToC(): { nt: Network; ledger: CommitLedger } {
    const voters = range(5);
    const rafts = voters.map((id) => node(id, voters, { entries: entriesWithTerms(1), term: 1, commit: 1 }).r);
    const nt = new Network(rafts);
    const ledger = new CommitLedger();
    const observe = (): void => ledger.observe(nt, voters);
    const app = MessageType.MsgApp;
    observe();

    // (a)
    nt.msgHook = (m) => !(m.type === app && m.from === 1n && m.to !== 2n);
    nt.campaign(1);
    observe();
    assert.equal(nt.raft(1).state, StateType.Leader, `(a) ${st(nt.raft(1))}`);
    assert.equal(nt.raft(1).term, 2);
    ledger.assertLeaderHasAll(nt.raft(1), '(a)');
    assert.deepEqual(voters.map((id) => logOf(nt.raft(id)).join(' ')), ['1:1 2:2', '1:1 2:2', '1:1', '1:1', '1:1'], '(a) logs');
    assert.equal(nt.raft(1).raftLog.committed, 1, '(a) 2:2 is on 2 of 5 nodes only');

    // (b)
    nt.isolate(1);
    nt.msgHook = (m) => !(m.type === app && m.from === 5n);
    nt.campaign(5);
    observe();
    assert.equal(nt.raft(5).state, StateType.Leader, `(b) ${st(nt.raft(5))}`);
    assert.equal(nt.raft(5).term, 3);
    ledger.assertLeaderHasAll(nt.raft(5), '(b)');
    assert.deepEqual(logOf(nt.raft(5)), ['1:1', '2:3'], '(b) S5 log');
    assert.equal(nt.raft(2).vote, None, '(b) S2 must have refused S5 (its log is more up to date)');

    // (c)
    nt.recover();
    nt.isolate(5);
    const s1 = restart(nt, 1, voters, { maxSizePerMsg: 1 }); // one entry per MsgApp
    nt.msgHook = (m) => {
      if (m.type !== app || m.from !== 1n) return true;
      if (m.to === 4n) return false;
      // Once S3 holds index 2, the MsgApp carrying the term-4 entry to it is lost.
      return !(m.to === 3n && nt.raft(3).raftLog.lastIndex() >= 2 && m.entries.some((e) => e.term === 4));
    };
    nt.campaign(1); // term 3: S2 grants, S3 and S4 already voted for S5; undecided
    assert.equal(s1.state, StateType.Candidate, `(c) first round: ${st(s1)}`);
    nt.campaign(1); // term 4
    observe();
    assert.equal(s1.state, StateType.Leader, `(c) ${st(s1)}`);
    assert.equal(s1.term, 4);
    ledger.assertLeaderHasAll(s1, '(c)');
    assert.deepEqual(
      voters.map((id) => logOf(nt.raft(id)).join(' ')),
      ['1:1 2:2 3:4', '1:1 2:2 3:4', '1:1 2:2', '1:1', '1:1 2:3'],
      '(c) logs',
    );
    return { nt, ledger };
  }

  test('§5.4.2 Figure 8 (a)-(d): an entry of an earlier term stored on a majority is not committed by counting, and a later leader may overwrite it', () => {
    const voters = range(5);
    const { nt, ledger } = figure8UpToC();
    const s1 = nt.raft(1);
    // The heart of §5.4.2: S1 knows 2:2 is on S1, S2 and S3, yet does not commit it.
    assert.ok((s1.trk.progress.get(2n)?.match ?? 0) >= 2 && (s1.trk.progress.get(3n)?.match ?? 0) >= 2, `(c) leader does not know S2/S3 hold index 2: ${[...s1.trk.progress].map(([id, pr]) => `${id}:${pr}`).join(', ')}`);
    assert.equal(s1.raftLog.committed, 1, `(c) 2:2 (term 2) must not be committed by the term-4 leader: ${st(s1)}`);
    for (const id of voters) assert.equal(nt.raft(id).raftLog.committed, 1, `(c) node ${id} committed past 1`);

    // (d) S1 crashes; S5 restarts and is elected (first round: everyone voted for S1 in term 4; second round:
    // S3 and S4, whose logs are not newer than S5's, grant), then overwrites index 2 everywhere.
    nt.msgHook = undefined;
    nt.recover();
    nt.isolate(1);
    const s5 = restart(nt, 5, voters);
    nt.campaign(5);
    assert.notEqual(s5.state, StateType.Leader, `(d) first round: ${st(s5)}`);
    nt.campaign(5);
    ledger.observe(nt, voters);
    assert.equal(s5.state, StateType.Leader, `(d) ${st(s5)}`);
    assert.equal(s5.term, 5);
    ledger.assertLeaderHasAll(s5, '(d)');
    // A follower whose acknowledgement came after the commit learns the commit index with the next heartbeat.
    nt.send(msg(5, 5, MessageType.MsgBeat));
    for (const id of [2, 3, 4, 5]) {
      assert.deepEqual(logOf(nt.raft(id)), ['1:1', '2:3', '3:5'], `(d) node ${id}: 2:2 should be overwritten by 2:3`);
      assert.equal(nt.raft(id).raftLog.committed, 3, `(d) node ${id}: ${st(nt.raft(id))}`);
    }
  });

  test('§5.4.2 Figure 8 (e): once the leader commits an entry of its own term, the earlier entries commit with it and cannot be overwritten', () => {
    const voters = range(5);
    const { nt, ledger } = figure8UpToC();
    const s1 = nt.raft(1);
    // (e) S1 gets its term-4 entry to a majority (S2 has it; a heartbeat round brings S3 up to date).
    nt.msgHook = undefined;
    nt.send(msg(1, 1, MessageType.MsgBeat));
    ledger.observe(nt, voters);
    assert.equal(s1.raftLog.committed, 3, `(e) 3:4 is on S1, S2, S3 and should be committed: ${st(s1)}`);
    assert.equal(s1.raftLog.maybeTerm(2), 2, '(e) index 2 committed with term 2');
    for (const id of [2, 3]) assert.equal(nt.raft(id).raftLog.committed, 3, `(e) node ${id} not told: ${st(nt.raft(id))}`);

    // S1 crashes; S5 restarts but cannot win: S2 and S3 hold a newer log.
    nt.recover();
    nt.isolate(1);
    const s5 = restart(nt, 5, voters);
    for (let round = 0; round < 3; round++) {
      nt.campaign(5);
      ledger.observe(nt, voters);
      assert.notEqual(s5.state, StateType.Leader, `(e) round ${round}: S5 elected without the committed entries: ${st(s5)}`);
    }
    for (const id of [2, 3]) assert.deepEqual(logOf(nt.raft(id)).slice(0, 3), ['1:1', '2:2', '3:4'], `(e) node ${id} lost committed entries`);
    // Another node can win, and it has every committed entry (Leader Completeness); S5 is brought in line.
    nt.campaign(2);
    ledger.observe(nt, voters);
    ledger.assertLeaderHasAll(nt.raft(2), '(e) after S2 wins');
    assert.deepEqual(logOf(s5).slice(0, 3), ['1:1', '2:2', '3:4'], `(e) S5's conflicting 2:3 not replaced: ${st(s5)}`);
  });

  test('§5.4.3: Leader Completeness holds across a sequence of partitions and elections on five nodes', (t) => {
    const seed = 4242;
    t.diagnostic(`seed ${seed}`);
    const rng = new SeededRng(seed);
    const voters = range(5);
    const nt = new Network(voters.map(() => null), { seed });
    const ledger = new CommitLedger();
    let elections = 0;
    for (let round = 0; round < 200; round++) {
      nt.recover();
      // Cut a random minority-or-so of nodes off, let a random node campaign, propose a little.
      const cut = voters.filter(() => rng.float() < 0.35);
      for (const id of cut) nt.isolate(id);
      const candidate = 1 + rng.int(5);
      const r = nt.raft(candidate);
      // A node that is still leader from an earlier round may be a stale, partitioned one: only a node that
      // wins an election now is bound by Leader Completeness.
      const wasLeader = r.state === StateType.Leader;
      if (!wasLeader) nt.campaign(candidate);
      ledger.observe(nt, voters);
      if (!wasLeader && r.state === StateType.Leader) {
        elections++;
        ledger.assertLeaderHasAll(r, `round ${round}`);
      }
      if (r.state === StateType.Leader) {
        for (let k = rng.int(3); k >= 0; k--) nt.propose(candidate, `r${round}.${k}`);
        ledger.observe(nt, voters);
      }
    }
    assert.ok(elections >= 25, `seed ${seed}: only ${elections} elections won; the scenario exercises too little`);
  });
});

// ---- fast log backtracking ----------------------------------------------------------------------------------

describe('§5.3 optimisation: fast log backtracking', () => {
  const cases: { name: string; leader: number[]; follower: number[]; leaderTerm: number; followerTerm: number; maxRejections: number }[] = [
    {
      name: 'the follower has a 200-entry tail of older terms past the leader log',
      leader: [...rep(1, 5), ...rep(6, 15)],
      follower: [...rep(1, 5), ...rep(2, 50), ...rep(3, 50), ...rep(4, 50), ...rep(5, 50)],
      leaderTerm: 6,
      followerTerm: 5,
      maxRejections: 2,
    },
    {
      name: "the follower's 195-entry tail has newer terms than the leader's entries at those indexes",
      leader: [...rep(1, 5), ...rep(3, 45)],
      follower: [...rep(1, 5), ...rep(4, 50), ...rep(5, 50), ...rep(6, 50), ...rep(7, 45)],
      leaderTerm: 8,
      followerTerm: 8,
      maxRejections: 2,
    },
    {
      name: 'both logs diverge over 100 entries in interleaved terms',
      leader: [...rep(1, 5), ...[2, 4, 6, 8, 10].flatMap((t) => rep(t, 20))],
      follower: [...rep(1, 5), ...[3, 5, 7, 9, 11].flatMap((t) => rep(t, 20)), ...rep(11, 100)],
      leaderTerm: 12,
      followerTerm: 12,
      maxRejections: 10, // at most one round trip per divergent term
    },
  ];
  for (const c of cases) {
    test(`fast backtracking: ${c.name}: brought in sync in a handful of MsgApp round trips`, () => {
      const voters = [1, 2, 3];
      const lead = node(1, voters, { entries: entriesWithTerms(...c.leader), term: c.leaderTerm }).r;
      const follower = node(2, voters, { entries: entriesWithTerms(...c.follower), term: c.followerTerm }).r;
      const third = node(3, voters, { entries: entriesWithTerms(...c.leader), term: c.leaderTerm }).r;
      const nt = new Network([lead, follower, third]);
      nt.campaign(1);
      assert.equal(lead.state, StateType.Leader, st(lead));
      assert.deepEqual(logOf(follower), logOf(lead), 'follower not in sync');
      const rejections = nt.delivered.filter((m) => m.type === MessageType.MsgAppResp && m.from === 2n && m.reject);
      const apps = nt.delivered.filter((m) => m.type === MessageType.MsgApp && m.to === 2n);
      const divergent = Math.max(c.follower.length, c.leader.length) - 5;
      assert.ok(
        rejections.length <= c.maxRejections,
        `${rejections.length} rejected MsgApp round trips for a ${divergent}-entry divergence (want <= ${c.maxRejections}): ${fmtMsgs(rejections)}`,
      );
      assert.ok(apps.length <= rejections.length + 3, `${apps.length} MsgApp sent to the follower`);
    });
  }
});
