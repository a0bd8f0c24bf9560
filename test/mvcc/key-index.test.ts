import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { SeededRng } from '../../src/base/rng.js';
import { KeyIndex, RevSet } from '../../src/server/mvcc/key-index.js';
import { bytesToRev, isTombstoneKey, mainRevPrefix, revToBytes } from '../../src/server/mvcc/revision.js';
import { TreeIndex } from '../../src/server/mvcc/tree-index.js';

/** Generations as [[main, ...], ...] (subs are 0 in these examples). */
function gens(ki: KeyIndex): number[][] {
  return ki.gens.map((g) => [...g.mains]);
}

/** etcd's key_index.go example: put(1.0);put(2.0);tombstone(3.0);put(4.0);tombstone(5.0). */
function example(): KeyIndex {
  const ki = new KeyIndex('foo');
  ki.put(1, 0);
  ki.put(2, 0);
  assert.equal(ki.tombstone(3, 0), true);
  ki.put(4, 0);
  assert.equal(ki.tombstone(5, 0), true);
  return ki;
}

describe('revision bytes', () => {
  it('encodes main _ sub big-endian, 17 bytes, plus t for a tombstone', () => {
    const k = revToBytes(0x0102030405, 7);
    assert.equal(k.toString('hex'), '0000000102030405' + '5f' + '0000000000000007');
    const t = revToBytes(2, 1, true);
    assert.equal(t.length, 18);
    assert.equal(t[17], 0x74);
    assert.equal(isTombstoneKey(t), true);
    assert.deepEqual(bytesToRev(t), { main: 2, sub: 1, tombstone: true });
    assert.deepEqual(bytesToRev(revToBytes(Number.MAX_SAFE_INTEGER, 3)), { main: Number.MAX_SAFE_INTEGER, sub: 3, tombstone: false });
  });

  it('sorts like revisions, a tombstone right after its unmarked revision', () => {
    const ks = [revToBytes(2, 0), revToBytes(1, 1, true), revToBytes(1, 1), revToBytes(256, 0), mainRevPrefix(2)];
    ks.sort(Buffer.compare);
    assert.deepEqual(
      ks.map((k) => k.toString('hex')),
      [revToBytes(1, 1), revToBytes(1, 1, true), mainRevPrefix(2), revToBytes(2, 0), revToBytes(256, 0)].map((k) => k.toString('hex')),
    );
  });

  it('refuses malformed keys', () => {
    assert.throws(() => bytesToRev(Buffer.from('abc')), { code: 'MVCC_CORRUPT' });
    const bad = revToBytes(1, 0, true);
    bad[17] = 0x78;
    assert.throws(() => bytesToRev(bad), { code: 'MVCC_CORRUPT' });
  });
});

describe('KeyIndex', () => {
  it('builds generations from puts and tombstones', () => {
    const ki = example();
    assert.deepEqual(gens(ki), [[1, 2, 3], [4, 5], []]);
    assert.equal(ki.isLive, false);
    assert.equal(ki.tombstone(6, 0), false, 'a deleted key cannot be deleted again');
  });

  it('answers get at every revision like etcd', () => {
    const ki = example();
    // rev: [modMain, created, version] or undefined
    const want: Record<number, [number, number, number] | undefined> = {
      0: undefined,
      1: [1, 1, 1],
      2: [2, 1, 2],
      3: undefined, // deleted at 3
      4: [4, 4, 1],
      5: undefined,
      6: undefined,
    };
    for (const [rev, w] of Object.entries(want)) {
      const got = ki.get(Number(rev));
      assert.deepEqual(got === undefined ? undefined : [got.modMain, got.created, got.version], w, `at ${rev}`);
    }
  });

  it('compacts as in the key_index.go walkthrough (tombstone at the compact revision kept)', () => {
    const cases: Array<[number, number[][], number[]]> = [
      [1, [[1, 2, 3], [4, 5], []], [1]],
      [2, [[2, 3], [4, 5], []], [2]],
      [3, [[3], [4, 5], []], [3]],
      [4, [[4, 5], []], [4]],
      [5, [[5], []], [5]],
      [6, [[]], []],
    ];
    for (const [rev, wantGens, wantKeep] of cases) {
      const ki = example();
      const keep = new RevSet();
      ki.compact(rev, keep);
      assert.deepEqual(gens(ki), wantGens, `compact(${rev})`);
      assert.equal(keep.size, wantKeep.length);
      for (const m of wantKeep) assert.ok(keep.has(m, 0), `compact(${rev}) keeps ${m}`);
    }
    // Successive compactions give the same result as one.
    const ki = example();
    for (const rev of [2, 4]) ki.compact(rev, new RevSet());
    assert.deepEqual(gens(ki), [[4, 5], []]);
  });

  it('keeps the generation a txn re-created in the revision of its tombstone', () => {
    const ki = new KeyIndex('k');
    ki.put(1, 0);
    ki.tombstone(2, 0);
    ki.put(2, 1);
    const keep = new RevSet();
    ki.compact(2, keep);
    assert.deepEqual(gens(ki), [[2]]);
    assert.equal(ki.gens[0]?.subs[0], 1);
    assert.ok(keep.has(2, 1));
    assert.equal(keep.size, 1);
    assert.deepEqual(ki.get(2), { modMain: 2, modSub: 1, created: 2, version: 1 });
  });

  it('keep leaves out a tombstone that ends a generation', () => {
    for (const [rev, want] of [
      [2, [2]],
      [3, []],
      [4, [4]],
      [5, []],
      [6, []],
    ] as Array<[number, number[]]>) {
      const keep = new RevSet();
      example().keep(rev, keep);
      assert.deepEqual(
        want.filter((m) => keep.has(m, 0)),
        want,
      );
      assert.equal(keep.size, want.length, `keep(${rev})`);
    }
  });

  it('compaction never mutates the old generations (so it can be undone)', () => {
    const ki = example();
    const before = ki.gens;
    const snapshot = JSON.stringify(before);
    ki.compact(4, new RevSet());
    assert.equal(JSON.stringify(before), snapshot);
  });

  it('unput/untombstone undo put/tombstone', () => {
    const ki = new KeyIndex('k');
    ki.put(1, 0);
    const g = JSON.stringify(ki.gens);
    ki.put(2, 0);
    ki.unput(1, 0);
    assert.equal(JSON.stringify(ki.gens), g);
    ki.tombstone(3, 0);
    ki.untombstone(1, 0);
    assert.equal(JSON.stringify(ki.gens), g);
    assert.equal(ki.modMain, 1);
    assert.throws(() => ki.put(1, 0), /not after/);
  });
});

describe('TreeIndex ordering', () => {
  it('keeps 20k random binary keys in byte order through inserts and removals', () => {
    const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
    console.log(`tree-index seed=${seed}`);
    const rng = new SeededRng(seed);
    const tree = new TreeIndex();
    const model = new Set<string>();
    const randKey = (): string => {
      const len = 1 + rng.int(6);
      const bytes = Buffer.alloc(len);
      for (let i = 0; i < len; i++) bytes[i] = rng.int(4) === 0 ? rng.int(256) : 0x61 + rng.int(4);
      return bytes.toString('latin1');
    };
    for (let i = 0; i < 20_000; i++) {
      const k = randKey();
      if (model.has(k)) {
        if (rng.int(2) === 0) {
          tree.remove(tree.keyIndex(k) as KeyIndex);
          model.delete(k);
        }
      } else {
        tree.insert(new KeyIndex(k));
        model.add(k);
      }
    }
    const sorted = [...model].sort((x, y) => Buffer.compare(Buffer.from(x, 'latin1'), Buffer.from(y, 'latin1')));
    const seen: string[] = [];
    tree.visit('', null, (ki) => {
      seen.push(ki.keyStr);
    });
    assert.equal(tree.size, model.size);
    assert.deepEqual(seen, sorted);
    // Bounded visits agree with a filter of the sorted list.
    for (let i = 0; i < 200; i++) {
      const lo = randKey();
      const hi = randKey();
      const got: string[] = [];
      tree.visit(lo, hi, (ki) => {
        got.push(ki.keyStr);
      });
      assert.deepEqual(
        got,
        sorted.filter((k) => k >= lo && k < hi),
        `[${JSON.stringify(lo)}, ${JSON.stringify(hi)})`,
      );
    }
  });
});
