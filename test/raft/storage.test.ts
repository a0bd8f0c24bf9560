/**
 * The MemoryStorage side of the Storage contract (storage.ts): term, entries, first/last index, the
 * ErrCompacted / ErrUnavailable edges, compaction, snapshots and appends. Scenarios follow etcd-io/raft
 * storage_test.go: the fixture is a storage whose snapshot is at (3, 3), holding entries (4, 4) and (5, 5).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type ConfState,
  type Entry,
  ErrCompacted,
  ErrSnapOutOfDate,
  ErrUnavailable,
  MemoryStorage,
  RaftInvariantError,
  type Snapshot,
  emptyBytes,
  emptyConfState,
  emptyHardState,
  entrySize,
  newEntry,
} from '../../src/server/raft/index.js';

const INF = Number.POSITIVE_INFINITY;
const cs: ConfState = { ...emptyConfState, voters: [1n, 2n, 3n] };
const data = new TextEncoder().encode('data');

function e(index: number, term: number): Entry {
  return newEntry(index, term);
}

function snap(index: number, term: number, conf: ConfState = cs): Snapshot {
  return { data: emptyBytes, metadata: { confState: conf, index, term } };
}

/** Snapshot at (3, 3), then the given entries (default (4, 4), (5, 5)). */
function fixture(ents: Entry[] = [e(4, 4), e(5, 5)]): MemoryStorage {
  const s = new MemoryStorage(cs);
  s.applySnapshot(snap(3, 3));
  s.append(ents);
  return s;
}

/** Every entry from firstIndex - 1 (the snapshot's index and term) to lastIndex, as [index, term]. */
function contents(s: MemoryStorage): [number, number][] {
  const out: [number, number][] = [[s.firstIndex() - 1, s.term(s.firstIndex() - 1)]];
  if (s.lastIndex() >= s.firstIndex()) {
    for (const x of s.entries(s.firstIndex(), s.lastIndex() + 1, INF)) out.push([x.index, x.term]);
  }
  return out;
}

describe('MemoryStorage.term', () => {
  const cases: { i: number; want: number | 'compacted' | 'unavailable' }[] = [
    { i: 2, want: 'compacted' },
    { i: 3, want: 3 },
    { i: 4, want: 4 },
    { i: 5, want: 5 },
    { i: 6, want: 'unavailable' },
  ];
  for (const c of cases) {
    test(`term(${c.i}) ${typeof c.want === 'number' ? `is ${c.want}` : `throws ${c.want}`} (snapshot at 3, last index 5)`, () => {
      const s = fixture();
      if (c.want === 'compacted') assert.throws(() => s.term(c.i), ErrCompacted);
      else if (c.want === 'unavailable') assert.throws(() => s.term(c.i), ErrUnavailable);
      else assert.equal(s.term(c.i), c.want);
    });
  }

  test('a fresh storage knows the term of index 0 (0) and nothing after it', () => {
    const s = new MemoryStorage();
    assert.equal(s.term(0), 0);
    assert.throws(() => s.term(1), ErrUnavailable);
    assert.equal(s.firstIndex(), 1);
    assert.equal(s.lastIndex(), 0);
  });
});

describe('MemoryStorage.entries', () => {
  // Snapshot at 3, entries 4, 5, 6.
  const ents = [e(4, 4), e(5, 5), e(6, 6)];
  const sz = (x: Entry): number => entrySize(x);
  const [e4, e5, e6] = ents as [Entry, Entry, Entry];
  const cases: { lo: number; hi: number; max: number; want: number[] | 'compacted'; why: string }[] = [
    { lo: 2, hi: 6, max: INF, want: 'compacted', why: 'lo below the snapshot' },
    { lo: 3, hi: 4, max: INF, want: 'compacted', why: 'lo at the snapshot index' },
    { lo: 4, hi: 5, max: INF, want: [4], why: 'one entry' },
    { lo: 4, hi: 6, max: INF, want: [4, 5], why: 'two entries' },
    { lo: 4, hi: 7, max: INF, want: [4, 5, 6], why: 'every entry' },
    { lo: 5, hi: 5, max: INF, want: [], why: 'an empty range' },
    { lo: 4, hi: 7, max: 0, want: [4], why: 'maxSize 0 still returns one entry' },
    { lo: 4, hi: 7, max: sz(e4) + sz(e5), want: [4, 5], why: 'exactly two entries fit' },
    { lo: 4, hi: 7, max: sz(e4) + sz(e5) + Math.floor(sz(e6) / 2), want: [4, 5], why: 'half of the third entry fits' },
    { lo: 4, hi: 7, max: sz(e4) + sz(e5) + sz(e6) - 1, want: [4, 5], why: 'one byte short of three' },
    { lo: 4, hi: 7, max: sz(e4) + sz(e5) + sz(e6), want: [4, 5, 6], why: 'exactly three fit' },
  ];
  for (const c of cases) {
    test(`entries[${c.lo}, ${c.hi}) maxSize=${c.max}: ${c.why}`, () => {
      const s = fixture(ents);
      if (c.want === 'compacted') {
        assert.throws(() => s.entries(c.lo, c.hi, c.max), ErrCompacted);
      } else {
        assert.deepEqual(
          s.entries(c.lo, c.hi, c.max).map((x) => x.index),
          c.want,
        );
      }
    });
  }

  test('entries with hi past lastIndex + 1 is a broken invariant (raft never asks past the log), as the Storage interface documents', () => {
    const s = fixture(ents);
    assert.throws(
      () => s.entries(4, 8, INF),
      RaftInvariantError,
      'storage.ts documents a RaftInvariantError for hi > lastIndex() + 1 in Storage.entries',
    );
  });

  test('entries past lastIndex + 1 is refused with an error, and never returns entries', () => {
    const s = fixture(ents);
    assert.throws(() => s.entries(4, 8, INF));
    assert.throws(() => s.entries(7, 9, INF));
  });
});

describe('MemoryStorage first and last index', () => {
  test('lastIndex is the index of the last entry and follows appends', () => {
    const s = fixture();
    assert.equal(s.lastIndex(), 5);
    s.append([e(6, 5)]);
    assert.equal(s.lastIndex(), 6);
  });

  test('firstIndex is the snapshot index + 1 and follows compaction', () => {
    const s = fixture();
    assert.equal(s.firstIndex(), 4);
    s.compact(4);
    assert.equal(s.firstIndex(), 5);
    assert.equal(s.lastIndex(), 5, 'compaction does not change lastIndex');
  });
});

describe('MemoryStorage.compact', () => {
  const cases: { i: number; err: boolean; want: [number, number][]; why: string }[] = [
    { i: 2, err: true, want: [[3, 3], [4, 4], [5, 5]], why: 'below the snapshot: ErrCompacted' },
    { i: 3, err: true, want: [[3, 3], [4, 4], [5, 5]], why: 'at the snapshot: ErrCompacted' },
    { i: 4, err: false, want: [[4, 4], [5, 5]], why: 'compact one entry, keeping its term' },
    { i: 5, err: false, want: [[5, 5]], why: 'compact everything, keeping the last term' },
  ];
  for (const c of cases) {
    test(`compact(${c.i}): ${c.why}`, () => {
      const s = fixture();
      if (c.err) assert.throws(() => s.compact(c.i), ErrCompacted);
      else s.compact(c.i);
      assert.deepEqual(contents(s), c.want);
    });
  }

  test('compact past the last index is an invariant violation', () => {
    const s = fixture();
    assert.throws(() => s.compact(6), RaftInvariantError);
    assert.deepEqual(contents(s), [
      [3, 3],
      [4, 4],
      [5, 5],
    ]);
  });

  test('entries of a compacted range throw ErrCompacted, the boundary term stays known', () => {
    const s = fixture();
    s.compact(4);
    assert.throws(() => s.entries(4, 5, INF), ErrCompacted);
    assert.throws(() => s.term(3), ErrCompacted);
    assert.equal(s.term(4), 4);
  });
});

describe('MemoryStorage.createSnapshot', () => {
  test('creates a snapshot at an index in the log, with that entry term, the given ConfState and data', () => {
    for (const [i, term] of [
      [4, 4],
      [5, 5],
    ] as const) {
      const s = fixture();
      const got = s.createSnapshot(i, cs, data);
      assert.equal(got.metadata.index, i);
      assert.equal(got.metadata.term, term);
      assert.deepEqual(got.metadata.confState, cs);
      assert.deepEqual(got.data, data);
      assert.equal(s.snapshot(), got, 'snapshot() returns the new snapshot');
      assert.equal(s.firstIndex(), 4, 'creating a snapshot does not compact by itself');
    }
  });

  test('without a ConfState the snapshot keeps the previous one', () => {
    const s = fixture();
    const got = s.createSnapshot(5, undefined, data);
    assert.deepEqual(got.metadata.confState, cs);
  });

  test('a snapshot at or below the current one throws ErrSnapOutOfDate', () => {
    const s = fixture();
    assert.throws(() => s.createSnapshot(3, cs, data), ErrSnapOutOfDate);
    assert.throws(() => s.createSnapshot(2, cs, data), ErrSnapOutOfDate);
    s.createSnapshot(4, cs, data);
    assert.throws(() => s.createSnapshot(4, cs, data), ErrSnapOutOfDate);
  });

  test('a snapshot beyond the last index is an invariant violation', () => {
    const s = fixture();
    assert.throws(() => s.createSnapshot(6, cs, data), RaftInvariantError);
    assert.equal(s.snapshot().metadata.index, 3, 'the snapshot is unchanged');
  });
});

describe('MemoryStorage.applySnapshot', () => {
  test('applying a newer snapshot replaces the log and the configuration', () => {
    const s = new MemoryStorage(cs);
    const newCs: ConfState = { ...emptyConfState, voters: [1n, 2n], learners: [3n] };
    s.append([e(1, 1), e(2, 1)]);
    s.applySnapshot(snap(4, 4, newCs));
    assert.equal(s.firstIndex(), 5);
    assert.equal(s.lastIndex(), 4);
    assert.equal(s.term(4), 4);
    assert.throws(() => s.term(2), ErrCompacted);
    assert.equal(s.snapshot().metadata.index, 4);
    assert.deepEqual(s.initialState().confState, newCs, 'initialState reports the snapshot config');
  });

  test('applying a snapshot that is not newer throws ErrSnapOutOfDate and changes nothing', () => {
    const s = new MemoryStorage(cs);
    s.applySnapshot(snap(4, 4));
    assert.throws(() => s.applySnapshot(snap(3, 3)), ErrSnapOutOfDate);
    assert.throws(() => s.applySnapshot(snap(4, 4)), ErrSnapOutOfDate);
    assert.equal(s.snapshot().metadata.index, 4);
    assert.equal(s.term(4), 4);
  });

  test('initialState reports the saved HardState', () => {
    const s = new MemoryStorage(cs);
    assert.deepEqual(s.initialState().hardState, emptyHardState);
    s.setHardState({ term: 3, vote: 2n, commit: 0 });
    assert.deepEqual(s.initialState().hardState, { term: 3, vote: 2n, commit: 0 });
    assert.deepEqual(s.initialState().confState, cs, 'the bootstrap config counts as a snapshot at 0');
  });
});

describe('MemoryStorage.append', () => {
  const cases: { ents: Entry[]; want: [number, number][]; why: string }[] = [
    { ents: [e(1, 1), e(2, 2)], want: [[3, 3], [4, 4], [5, 5]], why: 'entirely compacted: ignored' },
    { ents: [e(3, 3), e(4, 4), e(5, 5)], want: [[3, 3], [4, 4], [5, 5]], why: 'identical entries' },
    { ents: [e(3, 3), e(4, 6), e(5, 6)], want: [[3, 3], [4, 6], [5, 6]], why: 'a conflicting tail is replaced' },
    { ents: [e(3, 3), e(4, 4), e(5, 5), e(6, 5)], want: [[3, 3], [4, 4], [5, 5], [6, 5]], why: 'overlap and extend' },
    { ents: [e(2, 3), e(3, 3), e(4, 5)], want: [[3, 3], [4, 5]], why: 'partly compacted: the compacted part is skipped, the rest replaces the tail' },
    { ents: [e(4, 5)], want: [[3, 3], [4, 5]], why: 'truncate the existing tail from 4' },
    { ents: [e(5, 6)], want: [[3, 3], [4, 4], [5, 6]], why: 'truncate the existing tail from 5' },
    { ents: [e(6, 5)], want: [[3, 3], [4, 4], [5, 5], [6, 5]], why: 'append right after the last entry' },
    { ents: [], want: [[3, 3], [4, 4], [5, 5]], why: 'nothing to append' },
  ];
  for (const c of cases) {
    test(`append ${JSON.stringify(c.ents.map((x) => [x.index, x.term]))}: ${c.why}`, () => {
      const s = fixture();
      s.append(c.ents);
      assert.deepEqual(contents(s), c.want);
    });
  }

  test('append with a gap after the last index is an invariant violation and changes nothing', () => {
    const s = fixture();
    assert.throws(() => s.append([e(7, 5)]), RaftInvariantError);
    assert.deepEqual(contents(s), [
      [3, 3],
      [4, 4],
      [5, 5],
    ]);
  });

  test('withEntries builds a storage holding the entries after an empty snapshot', () => {
    const s = MemoryStorage.withEntries([e(1, 1), e(2, 2)], cs);
    assert.equal(s.firstIndex(), 1);
    assert.equal(s.lastIndex(), 2);
    assert.equal(s.term(2), 2);
    assert.deepEqual(s.initialState().confState, cs);
  });
});
