/**
 * RaftLog (stable storage + unstable tail, commit/apply cursors) and UnstableLog.
 * Scenarios follow etcd-io/raft log_test.go and log_unstable_test.go.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type Entry,
  ErrCompacted,
  ErrUnavailable,
  MemoryStorage,
  RaftInvariantError,
  type Snapshot,
  emptyBytes,
  emptyConfState,
  entrySize,
  newEntry,
} from '../../src/server/raft/index.js';
import { UnstableLog } from '../../src/server/raft/log-unstable.js';
import { RaftLog } from '../../src/server/raft/log.js';

const INF = Number.POSITIVE_INFINITY;

function e(index: number, term: number): Entry {
  return newEntry(index, term);
}

function snap(index: number, term: number): Snapshot {
  return { data: emptyBytes, metadata: { confState: { ...emptyConfState, voters: [1n] }, index, term } };
}

/** A storage holding a snapshot at (index, term) (none when index is 0) followed by `ents`. */
function storage(snapIndex: number, snapTerm: number, ents: Entry[] = []): MemoryStorage {
  const s = new MemoryStorage();
  if (snapIndex > 0) s.applySnapshot(snap(snapIndex, snapTerm));
  s.append(ents);
  return s;
}

function newLog(s: MemoryStorage = new MemoryStorage(), maxApplying = INF): RaftLog {
  return new RaftLog(s, maxApplying);
}

/** [index, term] pairs, for readable deepEqual diffs. */
function it(ents: readonly Entry[]): [number, number][] {
  return ents.map((x) => [x.index, x.term]);
}

describe('RaftLog.findConflict', () => {
  const prev = [e(1, 1), e(2, 2), e(3, 3)];
  const cases: { ents: Entry[]; want: number; why: string }[] = [
    { ents: [], want: 0, why: 'no entries: no conflict' },
    { ents: [e(1, 1), e(2, 2), e(3, 3)], want: 0, why: 'all present' },
    { ents: [e(2, 2), e(3, 3)], want: 0, why: 'a present suffix' },
    { ents: [e(3, 3)], want: 0, why: 'the last entry' },
    { ents: [e(1, 1), e(2, 2), e(3, 3), e(4, 4), e(5, 4)], want: 4, why: 'first new entry' },
    { ents: [e(2, 2), e(3, 3), e(4, 4), e(5, 4)], want: 4, why: 'first new entry after an overlap' },
    { ents: [e(3, 3), e(4, 4), e(5, 4)], want: 4, why: 'first new entry after the last' },
    { ents: [e(4, 4), e(5, 4)], want: 4, why: 'only new entries' },
    { ents: [e(1, 4), e(2, 4)], want: 1, why: 'conflict at the first entry' },
    { ents: [e(2, 1), e(3, 4), e(4, 4)], want: 2, why: 'conflict in the middle' },
    { ents: [e(3, 1), e(4, 2), e(5, 4), e(6, 4)], want: 3, why: 'conflict at the last entry' },
  ];
  for (const c of cases) {
    test(`§5.3: findConflict ${JSON.stringify(it(c.ents))} is ${c.want} (${c.why})`, () => {
      const log = newLog();
      log.append(prev);
      assert.equal(log.findConflict(c.ents), c.want);
    });
  }
});

describe('RaftLog.findConflictByTerm', () => {
  // terms at indexes 1..6: 1 1 3 3 5 5
  const ents = [e(1, 1), e(2, 1), e(3, 3), e(4, 3), e(5, 5), e(6, 5)];
  const cases: { index: number; term: number; want: [number, number]; why: string }[] = [
    { index: 6, term: 5, want: [6, 5], why: 'same term at index: match there' },
    { index: 6, term: 6, want: [6, 5], why: 'a higher term: our last entry may match' },
    { index: 6, term: 4, want: [4, 3], why: 'skip the whole term 5' },
    { index: 6, term: 2, want: [2, 1], why: 'skip terms 5 and 3' },
    { index: 6, term: 0, want: [0, 0], why: 'no entry has term <= 0' },
    { index: 3, term: 3, want: [3, 3], why: 'match in the middle' },
    { index: 3, term: 2, want: [2, 1], why: 'skip back from the middle' },
    { index: 0, term: 0, want: [0, 0], why: 'index 0' },
  ];
  for (const c of cases) {
    test(`findConflictByTerm(${c.index}, ${c.term}) = (${c.want.join(', ')}): ${c.why}`, () => {
      const log = newLog();
      log.append(ents);
      const got = log.findConflictByTerm(c.index, c.term);
      assert.deepEqual([got.index, got.term], c.want);
    });
  }

  test('findConflictByTerm stops at the compaction boundary with an unknown (0) term', () => {
    // Storage compacted through index 2 (its term 1 is kept), entries 3..6 remain.
    const s = storage(2, 1, [e(3, 3), e(4, 3), e(5, 5), e(6, 5)]);
    const log = newLog(s);
    assert.deepEqual(log.findConflictByTerm(6, 2), { index: 2, term: 1 }, 'the snapshot entry term is known');
    assert.deepEqual(log.findConflictByTerm(6, 0), { index: 1, term: 0 }, 'below the snapshot the term is unknown');
  });

  test('findConflictByTerm past the last index reports the index with an unknown term', () => {
    const log = newLog();
    log.append(ents);
    assert.deepEqual(log.findConflictByTerm(10, 5), { index: 10, term: 0 });
  });
});

describe('RaftLog.maybeAppend', () => {
  const prev = [e(1, 1), e(2, 2), e(3, 3)];
  const lastIndex = 3;
  const lastTerm = 3;
  const commit = 1;
  const cases: {
    index: number;
    logTerm: number;
    committed: number;
    ents: Entry[];
    wantLast: number | undefined;
    wantCommit: number;
    why: string;
  }[] = [
    { index: lastIndex, logTerm: lastTerm - 1, committed: lastIndex, ents: [e(4, 4)], wantLast: undefined, wantCommit: commit, why: 'term mismatch: rejected' },
    { index: lastIndex + 1, logTerm: lastTerm, committed: lastIndex, ents: [e(5, 4)], wantLast: undefined, wantCommit: commit, why: 'index past the log: rejected' },
    { index: lastIndex, logTerm: lastTerm, committed: lastIndex, ents: [], wantLast: lastIndex, wantCommit: lastIndex, why: 'match at the last entry, commit to leader commit' },
    { index: lastIndex, logTerm: lastTerm, committed: lastIndex + 1, ents: [], wantLast: lastIndex, wantCommit: lastIndex, why: 'commit is capped at the last new entry' },
    { index: lastIndex, logTerm: lastTerm, committed: lastIndex - 1, ents: [], wantLast: lastIndex, wantCommit: lastIndex - 1, why: 'commit follows the leader' },
    { index: lastIndex, logTerm: lastTerm, committed: 0, ents: [], wantLast: lastIndex, wantCommit: commit, why: 'commit never decreases' },
    { index: 0, logTerm: 0, committed: lastIndex, ents: [], wantLast: 0, wantCommit: commit, why: 'an empty append at 0 commits nothing past it' },
    { index: lastIndex, logTerm: lastTerm, committed: lastIndex, ents: [e(4, 4)], wantLast: 4, wantCommit: lastIndex, why: 'append one' },
    { index: lastIndex, logTerm: lastTerm, committed: 4, ents: [e(4, 4)], wantLast: 4, wantCommit: 4, why: 'append one and commit it' },
    { index: lastIndex, logTerm: lastTerm, committed: 5, ents: [e(4, 4), e(5, 4)], wantLast: 5, wantCommit: 5, why: 'append two and commit them' },
    { index: 2, logTerm: 2, committed: lastIndex, ents: [e(3, 4)], wantLast: 3, wantCommit: 3, why: 'conflict at 3 replaced' },
    { index: 1, logTerm: 1, committed: lastIndex, ents: [e(2, 4)], wantLast: 2, wantCommit: 2, why: 'conflict at 2 replaced, commit capped at 2' },
    { index: 1, logTerm: 1, committed: 1, ents: [e(2, 2)], wantLast: 2, wantCommit: 1, why: 'an already present entry' },
  ];
  for (const c of cases) {
    test(`§5.3: maybeAppend(${c.index}, ${c.logTerm}, ${c.committed}, ${JSON.stringify(it(c.ents))}): ${c.why}`, () => {
      const log = newLog();
      log.append(prev);
      log.committed = commit;
      const got = log.maybeAppend(c.index, c.logTerm, c.committed, c.ents);
      assert.equal(got, c.wantLast, 'last new index');
      assert.equal(log.committed, c.wantCommit, 'committed');
      if (got !== undefined && c.ents.length > 0) {
        const appended = log.slice(c.index + 1, got + 1, INF);
        assert.deepEqual(it(appended), it(c.ents), 'the appended entries are in the log');
      }
    });
  }

  test('§5.3: a conflicting entry and all that follow it are deleted', () => {
    const log = newLog();
    log.append([e(1, 1), e(2, 1), e(3, 1), e(4, 1), e(5, 1)]);
    const got = log.maybeAppend(2, 1, 0, [e(3, 2)]);
    assert.equal(got, 3);
    assert.deepEqual(it(log.allEntries()), [
      [1, 1],
      [2, 1],
      [3, 2],
    ]);
    assert.equal(log.lastIndex(), 3, 'entries 4 and 5 are gone');
  });

  test('§5.3: entries that already match do not truncate the log (a delayed, shorter MsgApp)', () => {
    const log = newLog();
    log.append([e(1, 1), e(2, 1), e(3, 1), e(4, 1)]);
    assert.equal(log.maybeAppend(1, 1, 0, [e(2, 1)]), 2, 'returns the last index of the message');
    assert.equal(log.lastIndex(), 4, 'later entries are kept');
  });

  test('§5.4: a conflict with a committed entry is an invariant violation', () => {
    const log = newLog();
    log.append([e(1, 1), e(2, 2), e(3, 3)]);
    log.committed = 2;
    assert.throws(() => log.maybeAppend(1, 1, 3, [e(2, 4)]), RaftInvariantError);
    assert.deepEqual(it(log.allEntries()), [
      [1, 1],
      [2, 2],
      [3, 3],
    ], 'the log is unchanged');
    log.committed = 1;
    assert.throws(() => log.maybeAppend(0, 0, 3, [e(1, 4)]), RaftInvariantError, 'conflict at committed index 1');
  });

  test('append before the commit index is an invariant violation', () => {
    const log = newLog();
    log.append([e(1, 1), e(2, 1)]);
    log.commitTo(2);
    assert.throws(() => log.append([e(2, 2)]), RaftInvariantError);
  });
});

describe('RaftLog.isUpToDate', () => {
  const cases: { index: number; term: number; want: boolean }[] = [
    // a higher last term always wins
    { index: 2, term: 4, want: true },
    { index: 3, term: 4, want: true },
    { index: 4, term: 4, want: true },
    // a lower last term always loses
    { index: 2, term: 2, want: false },
    { index: 3, term: 2, want: false },
    { index: 4, term: 2, want: false },
    // equal last term: the longer (or equal) log wins
    { index: 2, term: 3, want: false },
    { index: 3, term: 3, want: true },
    { index: 4, term: 3, want: true },
  ];
  for (const c of cases) {
    test(`§5.4.1: a log ending at (index ${c.index}, term ${c.term}) ${c.want ? 'is' : 'is not'} as up to date as one ending at (3, 3)`, () => {
      const log = newLog();
      log.append([e(1, 1), e(2, 2), e(3, 3)]);
      assert.equal(log.isUpToDate(c.index, c.term), c.want);
    });
  }
});

describe('RaftLog.commitTo', () => {
  test('commitTo moves the commit index forward and never back', () => {
    const log = newLog();
    log.append([e(1, 1), e(2, 2), e(3, 3)]);
    log.commitTo(2);
    assert.equal(log.committed, 2);
    log.commitTo(1);
    assert.equal(log.committed, 2, 'a lower commit index is ignored');
    log.commitTo(3);
    assert.equal(log.committed, 3);
  });

  test('commitTo beyond the last index is an invariant violation (a corrupted or lost log)', () => {
    const log = newLog();
    log.append([e(1, 1), e(2, 2), e(3, 3)]);
    log.commitTo(1);
    assert.throws(() => log.commitTo(4), RaftInvariantError);
    assert.equal(log.committed, 1, 'committed is unchanged');
  });

  test('§5.4.2: maybeCommit only commits an index whose entry has the given term', () => {
    const log = newLog();
    log.append([e(1, 1), e(2, 2), e(3, 3)]);
    assert.equal(log.maybeCommit(2, 3), false, 'entry 2 is of term 2, not 3');
    assert.equal(log.committed, 0);
    assert.equal(log.maybeCommit(3, 3), true);
    assert.equal(log.committed, 3);
    assert.equal(log.maybeCommit(2, 2), false, 'never backwards');
  });
});

describe('RaftLog.term / maybeTerm around compaction', () => {
  // A snapshot at (offset, 1), then entries offset+1 .. offset+num-1 with term i.
  const offset = 100;
  const num = 100;
  function build(): RaftLog {
    const ents: Entry[] = [];
    for (let i = 1; i < num; i++) ents.push(e(offset + i, i));
    return newLog(storage(offset, 1, ents));
  }

  test('the term of the entry just before firstIndex (the snapshot) is known', () => {
    const log = build();
    assert.equal(log.firstIndex(), offset + 1);
    assert.equal(log.maybeTerm(offset), 1);
    assert.equal(log.term(offset), 1);
  });

  test('terms inside the log are those of the entries', () => {
    const log = build();
    assert.equal(log.term(offset + 1), 1);
    assert.equal(log.term(offset + num / 2), num / 2);
    assert.equal(log.term(offset + num - 1), num - 1);
    assert.equal(log.lastTerm(), num - 1);
  });

  test('below firstIndex - 1 the term is compacted: maybeTerm undefined, term throws ErrCompacted', () => {
    const log = build();
    assert.equal(log.maybeTerm(offset - 1), undefined);
    assert.throws(() => log.term(offset - 1), ErrCompacted);
    assert.throws(() => log.term(0), ErrCompacted);
  });

  test('past lastIndex the term is unavailable: maybeTerm undefined, term throws ErrUnavailable', () => {
    const log = build();
    assert.equal(log.maybeTerm(offset + num), undefined);
    assert.throws(() => log.term(offset + num), ErrUnavailable);
  });

  test('unstable entries past the storage are visible through term', () => {
    const log = build();
    log.append([e(offset + num, num)]);
    assert.equal(log.term(offset + num), num);
    assert.equal(log.lastIndex(), offset + num);
  });

  test('after compacting the storage further, the new boundary term is kept', () => {
    const s = storage(0, 0, [e(1, 1), e(2, 2), e(3, 3), e(4, 4), e(5, 5)]);
    s.compact(3);
    const log = newLog(s);
    assert.equal(log.firstIndex(), 4);
    assert.equal(log.term(3), 3, 'term at firstIndex - 1 survives compaction');
    assert.throws(() => log.term(2), ErrCompacted);
    assert.equal(log.matchTerm(3, 3), true);
    assert.equal(log.matchTerm(2, 2), false, 'a compacted index never matches');
  });
});

describe('RaftLog.slice and entries', () => {
  // Indexes and terms stay in [128, 16384) so every entry has the same encoded size.
  const offset = 200;
  const num = 100;
  const last = offset + num;
  const half = offset + num / 2;
  const size = entrySize(e(half, half));

  /** Storage: snapshot at offset, entries offset+1 .. half-1; unstable: half .. last-1. */
  function build(): RaftLog {
    const stable: Entry[] = [];
    for (let i = 1; i < num / 2; i++) stable.push(e(offset + i, offset + i));
    const log = newLog(storage(offset, offset, stable));
    const unstable: Entry[] = [];
    for (let i = num / 2; i < num; i++) unstable.push(e(offset + i, offset + i));
    log.append(unstable);
    return log;
  }

  test('the fixture has a stable half and an unstable half', () => {
    const log = build();
    assert.equal(log.unstable.offset, half);
    assert.equal(log.lastIndex(), last - 1);
    assert.equal(log.firstIndex(), offset + 1);
  });

  const cases: { lo: number; hi: number; max: number; want: number[]; why: string }[] = [
    { lo: half - 1, hi: half + 1, max: INF, want: [half - 1, half], why: 'across storage and unstable' },
    { lo: half, hi: half + 1, max: INF, want: [half], why: 'unstable only' },
    { lo: last - 1, hi: last, max: INF, want: [last - 1], why: 'the last entry' },
    { lo: offset + 1, hi: offset + 2, max: INF, want: [offset + 1], why: 'the first entry' },
    { lo: half, hi: half, max: INF, want: [], why: 'an empty range' },
    { lo: half - 1, hi: half + 1, max: 0, want: [half - 1], why: 'at least one entry even with maxSize 0' },
    { lo: half - 1, hi: half + 1, max: size + 1, want: [half - 1], why: 'room for one entry only' },
    { lo: half - 2, hi: half + 1, max: size + 1, want: [half - 2], why: 'room for one entry, storage part' },
    { lo: half - 1, hi: half + 1, max: size * 2, want: [half - 1, half], why: 'exactly two entries across the boundary' },
    { lo: half - 1, hi: half + 2, max: size * 3, want: [half - 1, half, half + 1], why: 'three entries across the boundary' },
    { lo: half - 3, hi: half + 2, max: size * 2, want: [half - 3, half - 2], why: 'storage stops early: no unstable entries after a gap' },
    { lo: half, hi: half + 2, max: size, want: [half], why: 'unstable only, room for one' },
    { lo: half, hi: half + 2, max: size * 2, want: [half, half + 1], why: 'unstable only, room for two' },
  ];
  for (const c of cases) {
    test(`slice[${c.lo}, ${c.hi}) maxSize=${c.max}: ${c.why}`, () => {
      const got = build().slice(c.lo, c.hi, c.max);
      assert.deepEqual(
        got.map((x) => x.index),
        c.want,
      );
    });
  }

  test('slice at or below the snapshot index throws ErrCompacted', () => {
    const log = build();
    assert.throws(() => log.slice(offset - 1, offset + 1, INF), ErrCompacted);
    assert.throws(() => log.slice(offset, offset + 1, INF), ErrCompacted);
  });

  test('slice past the last index is an invariant violation', () => {
    const log = build();
    assert.throws(() => log.slice(last, last + 1, INF), RaftInvariantError);
    assert.throws(() => log.slice(half + 1, half, INF), RaftInvariantError, 'lo > hi');
  });

  test('entries(i) returns everything from i, [] past the end, and respects maxSize', () => {
    const log = build();
    assert.equal(log.entries(offset + 1, INF).length, num - 1);
    assert.deepEqual(log.entries(last, INF), [], 'nothing past the last index');
    assert.deepEqual(
      log.entries(last - 2, INF).map((x) => x.index),
      [last - 2, last - 1],
    );
    assert.equal(log.entries(offset + 1, 0).length, 1, 'at least one entry');
    assert.equal(log.entries(offset + 1, size * 5).length, 5);
    assert.throws(() => log.entries(offset, INF), ErrCompacted);
  });
});

describe('RaftLog.stableTo and UnstableLog', () => {
  test('stableTo drops persisted entries from the unstable tail', () => {
    const log = newLog();
    log.append([e(1, 1), e(2, 2)]);
    log.stableTo(1, 1);
    assert.equal(log.unstable.offset, 2);
    assert.deepEqual(it(log.nextUnstableEntries()), [[2, 2]]);
    assert.equal(log.term(2), 2);
  });

  test('stableTo is ignored when the entry at that index has since been replaced with another term', () => {
    const log = newLog();
    log.append([e(1, 1), e(2, 1), e(3, 1)]);
    // A new leader overwrote 2..3 while the write of (3, 1) was in flight.
    log.append([e(2, 2), e(3, 2)]);
    log.stableTo(3, 1);
    assert.equal(log.unstable.offset, 1, 'nothing was marked stable');
    assert.deepEqual(it(log.nextUnstableEntries()), [
      [1, 1],
      [2, 2],
      [3, 2],
    ]);
  });

  test('stableTo past the unstable entries or before its offset is ignored', () => {
    const log = newLog();
    log.append([e(1, 1), e(2, 1)]);
    log.stableTo(3, 1);
    assert.equal(log.unstable.offset, 1, 'index past the last unstable entry');
    log.stableTo(2, 1);
    assert.equal(log.unstable.offset, 3);
    log.stableTo(1, 1);
    assert.equal(log.unstable.offset, 3, 'index before the offset');
  });

  test('stableTo at a pending snapshot index (before the unstable offset) is ignored', () => {
    const u = new UnstableLog(1);
    u.restore(snap(5, 2));
    u.truncateAndAppend([e(6, 2)]);
    u.stableTo(5, 2);
    assert.equal(u.offset, 6);
    assert.equal(u.entries.length, 1);
    u.stableTo(6, 2);
    assert.equal(u.offset, 7);
    assert.equal(u.entries.length, 0);
    assert.notEqual(u.snapshot, undefined, 'stableTo does not drop the snapshot');
    u.stableSnapTo(4);
    assert.notEqual(u.snapshot, undefined, 'stableSnapTo with another index is ignored');
    u.stableSnapTo(5);
    assert.equal(u.snapshot, undefined);
  });

  const truncateCases: { offset: number; ents: Entry[]; toAppend: Entry[]; wantOffset: number; want: [number, number][]; why: string }[] = [
    { offset: 5, ents: [e(5, 1)], toAppend: [e(6, 1), e(7, 1)], wantOffset: 5, want: [[5, 1], [6, 1], [7, 1]], why: 'append to the end' },
    { offset: 5, ents: [e(5, 1)], toAppend: [e(5, 2), e(6, 2)], wantOffset: 5, want: [[5, 2], [6, 2]], why: 'replace from the offset' },
    { offset: 5, ents: [e(5, 1)], toAppend: [e(4, 2), e(5, 2), e(6, 2)], wantOffset: 4, want: [[4, 2], [5, 2], [6, 2]], why: 'replace from before the offset' },
    { offset: 5, ents: [e(5, 1), e(6, 1), e(7, 1)], toAppend: [e(6, 2)], wantOffset: 5, want: [[5, 1], [6, 2]], why: 'truncate in the middle' },
    { offset: 5, ents: [e(5, 1), e(6, 1), e(7, 1)], toAppend: [e(7, 2), e(8, 2)], wantOffset: 5, want: [[5, 1], [6, 1], [7, 2], [8, 2]], why: 'truncate the last and append' },
  ];
  for (const c of truncateCases) {
    test(`UnstableLog.truncateAndAppend: ${c.why}`, () => {
      const u = new UnstableLog(c.offset);
      u.entries = c.ents.slice();
      u.truncateAndAppend(c.toAppend);
      assert.equal(u.offset, c.wantOffset, 'offset');
      assert.deepEqual(it(u.entries), c.want, 'entries');
    });
  }

  test('UnstableLog first/last index and term come from its snapshot and entries', () => {
    const u = new UnstableLog(1);
    assert.equal(u.maybeFirstIndex(), undefined, 'no snapshot: first index unknown');
    assert.equal(u.maybeLastIndex(), undefined, 'empty: last index unknown');
    u.restore(snap(4, 1));
    assert.equal(u.maybeFirstIndex(), 5);
    assert.equal(u.maybeLastIndex(), 4);
    assert.equal(u.maybeTerm(4), 1, 'the snapshot term');
    assert.equal(u.maybeTerm(3), undefined);
    u.truncateAndAppend([e(5, 1)]);
    assert.equal(u.maybeLastIndex(), 5);
    assert.equal(u.maybeTerm(5), 1);
    assert.equal(u.maybeTerm(6), undefined);
    assert.throws(() => u.slice(4, 6), RaftInvariantError, 'slice below the offset');
  });
});

describe('RaftLog.restore', () => {
  test('a log built on a storage holding a snapshot starts at the snapshot, which counts as committed and applied', () => {
    const index = 1000;
    const term = 1000;
    const log = newLog(storage(index, term));
    assert.deepEqual(log.allEntries(), []);
    assert.equal(log.firstIndex(), index + 1);
    assert.equal(log.lastIndex(), index);
    assert.equal(log.committed, index);
    assert.equal(log.applied, index);
    assert.equal(log.unstable.offset, index + 1);
    assert.equal(log.term(index), term);
  });

  test('restore(snapshot) replaces the log: first/last index and commit follow the snapshot', () => {
    const log = newLog();
    log.append([e(1, 1), e(2, 1), e(3, 2)]);
    log.commitTo(2);
    log.restore(snap(10, 3));
    assert.equal(log.lastIndex(), 10);
    assert.equal(log.firstIndex(), 11);
    assert.equal(log.committed, 10);
    assert.equal(log.term(10), 3);
    assert.equal(log.lastTerm(), 3);
    assert.deepEqual(log.allEntries(), []);
    assert.deepEqual(log.nextUnstableEntries(), [], 'the old unstable entries are gone');
    assert.equal(log.hasNextUnstableSnapshot(), true);
    assert.equal(log.snapshot().metadata.index, 10, 'the pending snapshot is the one to send');
    assert.throws(() => log.term(9), ErrCompacted);
  });
});

describe('RaftLog committed entries for the application', () => {
  // Snapshot at (3, 1); entry 4 in storage; 5 and 6 unstable; committed 5.
  function build(applied: number, applying: number, maxApplying = INF): RaftLog {
    const log = newLog(storage(3, 1, [e(4, 1)]), maxApplying);
    log.append([e(5, 1), e(6, 1)]);
    log.commitTo(5);
    log.appliedTo(applied);
    log.acceptApplying(applying);
    return log;
  }

  const cases: { applied: number; applying: number; want: number[] }[] = [
    { applied: 3, applying: 3, want: [4, 5] },
    { applied: 3, applying: 4, want: [5] },
    { applied: 3, applying: 5, want: [] },
    { applied: 4, applying: 4, want: [5] },
    { applied: 4, applying: 5, want: [] },
    { applied: 5, applying: 5, want: [] },
  ];
  for (const c of cases) {
    test(`applied=${c.applied} applying=${c.applying}: next committed entries are ${JSON.stringify(c.want)}, never past the commit index`, () => {
      const log = build(c.applied, c.applying);
      assert.equal(log.hasNextCommittedEntries(), c.want.length > 0, 'hasNextCommittedEntries');
      assert.deepEqual(
        log.nextCommittedEntries().map((x) => x.index),
        c.want,
      );
    });
  }

  test('nextCommittedEntries respects maxApplyingEntsSize, handing out at least one entry', () => {
    const size = entrySize(e(4, 1));
    assert.deepEqual(
      build(3, 3, 0).nextCommittedEntries().map((x) => x.index),
      [4],
      'maxApplyingEntsSize 0 still hands out one entry',
    );
    assert.deepEqual(
      build(3, 3, size * 2 - 1).nextCommittedEntries().map((x) => x.index),
      [4],
      'room for one entry',
    );
    assert.deepEqual(
      build(3, 3, size * 2).nextCommittedEntries().map((x) => x.index),
      [4, 5],
      'room for two entries (across storage and unstable)',
    );
  });

  test('hasNextCommittedEntries is false while an unstable snapshot is pending', () => {
    const log = build(3, 3);
    assert.equal(log.hasNextCommittedEntries(), true);
    log.restore(snap(8, 2));
    assert.equal(log.committed, 8);
    assert.equal(log.hasNextCommittedEntries(), false, 'the snapshot must be applied before any entry');
    assert.deepEqual(log.nextCommittedEntries(), []);
  });

  test('appliedTo past the commit index is an invariant violation', () => {
    const log = build(3, 3);
    assert.throws(() => log.appliedTo(6), RaftInvariantError);
    assert.throws(() => log.acceptApplying(6), RaftInvariantError);
  });
});
