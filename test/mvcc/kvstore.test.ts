import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';

import { Event_EventType, KeyValue } from '../../src/proto/gen/mvccpb/kv.js';
import { CompactedError, FutureRevError, StaleTxnError } from '../../src/server/mvcc/errors.js';
import { META_FINISHED_COMPACT, META_SCHEDULED_COMPACT } from '../../src/server/mvcc/kvstore.js';
import { bytesToRev, revToBytes } from '../../src/server/mvcc/revision.js';
import { ALL, b, del, type Fixture, keys, openFixture, put, t, txn } from './helpers.js';

let f: Fixture;
beforeEach(() => {
  f = openFixture();
});
afterEach(async () => {
  await f.close();
});

/** Every revision key in the key bucket, as "main.sub" with a trailing t for tombstones. */
function bucketRevs(): string[] {
  return [...f.backend.buckets.key.range()].map(({ key }) => {
    const r = bytesToRev(key);
    return `${r.main}.${r.sub}${r.tombstone ? 't' : ''}`;
  });
}

describe('revisions, versions, create revisions', () => {
  it('starts at revision 1, never compacted', () => {
    assert.equal(f.kv.currentRevision, 1);
    assert.equal(f.kv.compactRevision, -1);
    assert.deepEqual(f.kv.range(b('a'), undefined), { kvs: [], count: 0, rev: 1 });
  });

  it('tracks create_revision, mod_revision and version across put, delete and re-create', () => {
    assert.equal(put(f, 'a', 'v1'), 2);
    assert.equal(put(f, 'a', 'v2', 7n), 3);
    assert.equal(put(f, 'b', 'x'), 4);
    assert.equal(del(f, 'a'), 5);
    assert.equal(put(f, 'a', 'v3'), 6);
    const at = (rev: number) => t(f.kv.range(b('a'), undefined, { rev }).kvs[0]);
    assert.deepEqual(at(2), ['a', 'v1', 2, 2, 1, 0]);
    assert.deepEqual(at(3), ['a', 'v2', 2, 3, 2, 7]);
    assert.deepEqual(at(4), ['a', 'v2', 2, 3, 2, 7]);
    assert.equal(at(5), undefined);
    assert.deepEqual(at(6), ['a', 'v3', 6, 6, 1, 0]);
    assert.deepEqual(at(0), at(6));
    assert.equal(f.kv.currentRevision, 6);
    assert.equal(f.kv.keyCount(), 2);
  });

  it('gives the changes of one txn one main revision and sub-revisions in order', () => {
    put(f, 'z', 'old');
    const res = txn(f, (w) => {
      w.put(b('x'), b('1'), 0n);
      w.put(b('y'), b('2'), 0n);
      w.deleteRange(b('z'), undefined);
    });
    assert.equal(res.rev, 3);
    assert.deepEqual(bucketRevs(), ['2.0', '3.0', '3.1', '3.2t']);
    // A tombstone stores KeyValue{key} only, as etcd.
    const tomb = f.backend.buckets.key.get(revToBytes(3, 2, true));
    assert.deepEqual(tomb, Buffer.from(KeyValue.encode({ key: b('z'), createRevision: 0n, modRevision: 0n, version: 0n, value: Buffer.alloc(0), lease: 0n }).finish()));
    assert.deepEqual(tomb?.toString('hex'), '0a017a');
  });

  it('does not bump the revision for a txn that changes nothing', () => {
    put(f, 'a', '1');
    const r = txn(f, (w) => {
      assert.equal(w.range(b('a'), undefined).kvs.length, 1);
      assert.equal(w.deleteRange(b('nope'), undefined), 0);
      assert.equal(w.deleteRange(b('p'), b('q')), 0);
    });
    assert.deepEqual(r, { rev: 2, events: [] });
    assert.equal(f.kv.currentRevision, 2);
    assert.equal(del(f, 'missing'), 2);
    assert.deepEqual(bucketRevs(), ['2.0']);
  });

  it('leaves no trace of a txn dropped without end()', () => {
    put(f, 'a', '1');
    const w = f.kv.write();
    w.put(b('a'), b('2'), 0n);
    w.deleteRange(b('a'), undefined);
    assert.deepEqual(t(f.kv.range(b('a'), undefined).kvs[0]), ['a', '1', 2, 2, 1, 0]);
    assert.equal(put(f, 'c', '3'), 3);
  });
});

describe('range', () => {
  beforeEach(() => {
    txn(f, (w) => {
      for (const k of ['a', 'a\x00', 'b', 'ba', 'c', 'd', '\xff\xfe']) w.put(b(k), b(`v-${k}`), 0n);
    });
  });

  it('follows etcd key-range conventions', () => {
    const r = (key: string | Buffer, end?: string | Buffer) =>
      keys(f.kv.range(typeof key === 'string' ? b(key) : key, typeof end === 'string' ? b(end) : end).kvs);
    assert.deepEqual(r('b'), ['b'], 'end undefined: the single key');
    assert.deepEqual(r('b', Buffer.alloc(0)), ['b'], 'empty end: the single key');
    assert.deepEqual(r('bb'), [], 'missing single key');
    assert.deepEqual(r('b', 'd'), ['b', 'ba', 'c'], '[key, end)');
    assert.deepEqual(r('a', 'b'), ['a', 'a\x00']);
    assert.deepEqual(r('b', ALL), ['b', 'ba', 'c', 'd', '\xff\xfe'], 'end [0x00]: every key >= key');
    assert.deepEqual(r(ALL, ALL), ['a', 'a\x00', 'b', 'ba', 'c', 'd', '\xff\xfe'], 'key = end = [0x00]: all keys');
    assert.deepEqual(r('d', 'b'), [], 'end before key');
    assert.deepEqual(r('c', 'c'), [], 'empty interval');
    assert.deepEqual(r('\xff', '\xff\xff'), ['\xff\xfe'], 'high bytes sort last');
  });

  it('limits kvs but counts the whole range; countOnly and keysOnly', () => {
    const lim = f.kv.range(b('a'), ALL, { limit: 3 });
    assert.deepEqual(keys(lim.kvs), ['a', 'a\x00', 'b']);
    assert.equal(lim.count, 7);
    assert.equal(lim.rev, 2);
    assert.deepEqual(f.kv.range(b('a'), ALL, { countOnly: true }), { kvs: [], count: 7, rev: 2 });
    assert.deepEqual(f.kv.range(b('c'), undefined, { countOnly: true }), { kvs: [], count: 1, rev: 2 });
    const ko = f.kv.range(b('b'), b('c'), { keysOnly: true });
    assert.deepEqual(
      ko.kvs.map((kv) => [kv.key.toString(), kv.value.length, Number(kv.modRevision)]),
      [
        ['b', 0, 2],
        ['ba', 0, 2],
      ],
    );
  });

  it('reads history and refuses future revisions', () => {
    del(f, 'b'); // 3
    put(f, 'ba', 'new'); // 4
    const at = (rev: number) => f.kv.range(b('b'), b('c'), { rev });
    assert.deepEqual(keys(at(2).kvs), ['b', 'ba']);
    assert.deepEqual(keys(at(3).kvs), ['ba']);
    assert.equal(at(3).rev, 4, 'the result carries the current revision, not the one read at');
    assert.deepEqual(t(at(4).kvs[0]), ['ba', 'new', 2, 4, 2, 0]);
    assert.deepEqual(at(1).kvs, []);
    assert.throws(() => at(5), FutureRevError);
    assert.throws(() => at(5), { message: 'mvcc: required revision is a future revision' });
  });
});

describe('write txn', () => {
  it('reads its own writes, and the committed state at older revisions', () => {
    put(f, 'a', '1'); // 2
    put(f, 'b', '1'); // 3
    txn(f, (w) => {
      assert.equal(w.range(b('a'), ALL).rev, 3, 'no changes yet: the view is the current revision');
      w.put(b('a'), b('2'), 0n);
      w.put(b('c'), b('1'), 0n);
      let r = w.range(b('a'), ALL);
      assert.equal(r.rev, 4);
      assert.deepEqual(r.kvs.map(t), [
        ['a', '2', 2, 4, 2, 0],
        ['b', '1', 3, 3, 1, 0],
        ['c', '1', 4, 4, 1, 0],
      ]);
      assert.equal(w.deleteRange(b('b'), b('c')), 1);
      r = w.range(b('a'), ALL, { limit: 1 });
      assert.deepEqual(keys(r.kvs), ['a']);
      assert.equal(r.count, 2);
      assert.deepEqual(w.range(b('b'), undefined).kvs, []);
      assert.deepEqual(w.range(b('c'), undefined, { countOnly: true }).count, 1);
      assert.deepEqual(keys(w.range(b('a'), ALL, { rev: 3 }).kvs), ['a', 'b'], 'explicit older revision: committed state');
      assert.deepEqual(w.range(b('a'), undefined, { keysOnly: true }).kvs[0]?.value.length, 0);
      assert.throws(() => w.range(b('a'), undefined, { rev: 5 }), FutureRevError);
      // The same key twice in one txn: version counts both, as the index would.
      w.put(b('a'), b('3'), 0n);
      assert.deepEqual(t(w.range(b('a'), undefined).kvs[0]), ['a', '3', 2, 4, 3, 0]);
      // Delete then re-create in the same txn starts a new generation at this revision.
      w.deleteRange(b('c'), undefined);
      w.put(b('c'), b('again'), 0n);
      assert.deepEqual(t(w.range(b('c'), undefined).kvs[0]), ['c', 'again', 4, 4, 1, 0]);
    });
    assert.deepEqual(f.kv.range(b('a'), ALL).kvs.map(t), [
      ['a', '3', 2, 4, 3, 0],
      ['c', 'again', 4, 4, 1, 0],
    ]);
    assert.deepEqual(t(f.kv.range(b('b'), undefined, { rev: 3 }).kvs[0]), ['b', '1', 3, 3, 1, 0]);
  });

  it('returns one event per change with prevKv when the key existed', () => {
    put(f, 'a', '1');
    const { rev, events } = txn(f, (w) => {
      w.put(b('a'), b('2'), 5n);
      w.put(b('n'), b('new'), 0n);
      w.deleteRange(b('a'), b('b'));
    });
    assert.equal(rev, 3);
    assert.deepEqual(
      events.map((e) => [e.type, t(e.kv), t(e.prevKv)]),
      [
        [Event_EventType.PUT, ['a', '2', 2, 3, 2, 5], ['a', '1', 2, 2, 1, 0]],
        [Event_EventType.PUT, ['n', 'new', 3, 3, 1, 0], undefined],
        [Event_EventType.DELETE, ['a', '', 0, 3, 0, 0], ['a', '2', 2, 3, 2, 5]],
      ],
    );
  });

  it('refuses to end a txn that another txn overtook', () => {
    const w1 = f.kv.write();
    w1.put(b('a'), b('1'), 0n);
    put(f, 'b', '1');
    assert.throws(() => f.backend.batch(() => w1.end()), StaleTxnError);
    assert.equal(f.kv.currentRevision, 2);
  });

  it('puts back index, revision and compaction when the batch rolls back', async () => {
    for (let i = 0; i < 5; i++) put(f, `k${i}`, `v${i}`); // 2..6
    del(f, 'k0'); // 7
    put(f, 'k1', 'again'); // 8
    const before = JSON.stringify(
      [2, 3, 4, 5, 6, 7, 8].map((rev) => f.kv.range(b('k'), b('l'), { rev }).kvs.map(t)),
    );
    const bucketBefore = bucketRevs();
    let physicalDone: Promise<void> | undefined;
    assert.throws(
      () =>
        f.backend.batch(() => {
          const w = f.kv.write();
          w.put(b('k9'), b('x'), 0n);
          w.deleteRange(b('k2'), b('k4'));
          w.end();
          physicalDone = f.kv.compact(8).physicalDone;
          assert.equal(f.kv.compactRevision, 8);
          const w2 = f.kv.write();
          w2.put(b('k1'), b('y'), 0n);
          w2.put(b('new'), b('y'), 0n);
          w2.end();
          assert.equal(f.kv.currentRevision, 10);
          throw new Error('boom');
        }),
      /boom/,
    );
    await physicalDone;
    assert.equal(f.kv.currentRevision, 8);
    assert.equal(f.kv.compactRevision, -1);
    assert.equal(f.kv.keyCount(), 4);
    assert.deepEqual(bucketRevs(), bucketBefore);
    assert.equal(
      JSON.stringify([2, 3, 4, 5, 6, 7, 8].map((rev) => f.kv.range(b('k'), b('l'), { rev }).kvs.map(t))),
      before,
    );
    assert.equal(f.backend.buckets.meta.get(META_SCHEDULED_COMPACT), undefined);
    // Still usable, and the restart agrees.
    assert.equal(put(f, 'k9', 'z'), 9);
    await f.reopen();
    assert.equal(f.kv.currentRevision, 9);
    assert.deepEqual(keys(f.kv.range(b('k'), b('l')).kvs), ['k1', 'k2', 'k3', 'k4', 'k9']);
  });
});

describe('compaction', () => {
  it('validates the revision like etcd', () => {
    put(f, 'a', '1'); // 2
    put(f, 'a', '2'); // 3
    assert.throws(() => f.kv.compact(4), FutureRevError);
    f.kv.compact(2);
    assert.throws(() => f.kv.compact(2), CompactedError);
    assert.throws(() => f.kv.compact(1), { message: 'mvcc: required revision has been compacted' });
  });

  it('fails reads below the compacted revision, serves reads at it, removes superseded revisions', async () => {
    put(f, 'a', '1'); // 2
    put(f, 'a', '2'); // 3
    put(f, 'b', '1'); // 4
    del(f, 'b'); // 5
    put(f, 'c', '1'); // 6
    del(f, 'c'); // 7
    put(f, 'a', '3'); // 8
    const { physicalDone } = f.kv.compact(7);
    assert.equal(f.kv.compactRevision, 7);
    assert.throws(() => f.kv.range(b('a'), undefined, { rev: 6 }), CompactedError);
    assert.deepEqual(t(f.kv.range(b('a'), undefined, { rev: 7 }).kvs[0]), ['a', '2', 2, 3, 2, 0]);
    assert.deepEqual(keys(f.kv.range(b('a'), ALL, { rev: 7 }).kvs), ['a']);
    await physicalDone;
    // a@3 is the newest of a at 7; b's tombstone (5) went with b; c's tombstone at 7 (= compact rev) stays.
    assert.deepEqual(bucketRevs(), ['3.0', '7.0t', '8.0']);
    assert.deepEqual(f.backend.buckets.meta.get(META_FINISHED_COMPACT), revToBytes(7, 0));
    assert.deepEqual(f.backend.buckets.meta.get(META_SCHEDULED_COMPACT), revToBytes(7, 0));
    assert.equal(f.kv.keyCount(), 1);
    // The kept tombstone is an event at the compacted revision; the next compaction removes it.
    assert.deepEqual(
      f.kv.eventsSince(7, 8, 0).map((e) => [e.type, e.kv?.key.toString(), Number(e.kv?.modRevision)]),
      [
        [Event_EventType.DELETE, 'c', 7],
        [Event_EventType.PUT, 'a', 8],
      ],
    );
    await f.kv.compact(8).physicalDone;
    assert.deepEqual(bucketRevs(), ['8.0']);
    // A re-created key after compaction keeps working.
    put(f, 'c', 'back'); // 9
    assert.deepEqual(t(f.kv.range(b('c'), undefined).kvs[0]), ['c', 'back', 9, 9, 1, 0]);
  });

  it('deletes in chunks, yielding between them, while writes continue', async () => {
    await f.reopen({ compactionBatchLimit: 7 });
    for (let i = 0; i < 60; i++) put(f, `k${i % 10}`, `v${i}`); // 2..61
    const { physicalDone } = f.kv.compact(50);
    let settled = false;
    void physicalDone.then(() => {
      settled = true;
    });
    let writesDuring = 0;
    for (let i = 0; i < 100 && !settled; i++) {
      put(f, 'during', String(i));
      writesDuring++;
      await new Promise((r) => setImmediate(r));
    }
    await physicalDone;
    assert.ok(writesDuring > 1, `writes interleaved with the compaction (${writesDuring})`);
    // Ten keys: the newest revision of each at <= 50 survives, plus everything after 50.
    const revs = bucketRevs().map((s) => Number(s.split('.')[0]));
    assert.deepEqual(
      revs.filter((r) => r <= 50),
      [42, 43, 44, 45, 46, 47, 48, 49, 50, 41].sort((x, y) => x - y),
    );
    assert.equal(revs.filter((r) => r > 50).length, 11 + writesDuring);
  });

  it('resumes an interrupted physical compaction at open', async () => {
    await f.reopen({ compactionBatchLimit: 3 });
    for (let i = 0; i < 20; i++) put(f, 'k', String(i)); // 2..21
    const { physicalDone } = f.kv.compact(20);
    await f.kv.close(); // stops before the first chunk
    await assert.rejects(physicalDone, { code: 'MVCC_STORE_CLOSED' });
    assert.equal(bucketRevs().length, 20, 'nothing deleted yet');
    await f.reopen();
    assert.equal(f.kv.compactRevision, 20);
    assert.throws(() => f.kv.range(b('k'), undefined, { rev: 19 }), CompactedError);
    await f.kv.compactionsSettled();
    assert.deepEqual(bucketRevs(), ['20.0', '21.0']);
    assert.deepEqual(f.backend.buckets.meta.get(META_FINISHED_COMPACT), revToBytes(20, 0));
  });
});

describe('restart', () => {
  it('rebuilds identical state: every range at every revision, counts, revisions', async () => {
    txn(f, (w) => {
      for (let i = 0; i < 30; i++) w.put(b(`key/${i}`), b(`v${i}`), BigInt(i % 3));
    });
    for (let i = 0; i < 30; i += 3) del(f, `key/${i}`);
    for (let i = 0; i < 30; i += 6) put(f, `key/${i}`, 'again');
    txn(f, (w) => {
      w.deleteRange(b('key/1'), b('key/2'));
    });
    await f.kv.compact(10).physicalDone;
    put(f, 'tail', 'x');
    const snapshot = () => {
      const out: unknown[] = [f.kv.currentRevision, f.kv.compactRevision, f.kv.keyCount()];
      for (let rev = f.kv.compactRevision; rev <= f.kv.currentRevision; rev++) {
        out.push(f.kv.range(ALL, ALL, { rev }).kvs.map(t));
      }
      out.push(f.kv.hashKV(0), f.kv.eventsSince(10, 1000, 0).map((e) => [e.type, t(e.kv)]));
      return out;
    };
    const before = snapshot();
    await f.reopen();
    assert.deepEqual(snapshot(), before);
    // Writes continue from the restored revision with the restored versions.
    const rev = put(f, 'key/6', 'next');
    assert.equal(rev, (before[0] as number) + 1);
    assert.deepEqual(t(f.kv.range(b('key/6'), undefined).kvs[0])?.slice(2), [14, rev, 2, 0]);
  });

  it('keeps the revision when compaction removed every entry of the newest revisions', async () => {
    put(f, 'a', '1'); // 2
    del(f, 'a'); // 3
    put(f, 'b', '1'); // 4
    del(f, 'b'); // 5
    await f.kv.compact(5).physicalDone;
    // Drop b's kept tombstone: no entry is left, the finished compaction still holds the revision.
    f.backend.batch(() => f.backend.buckets.key.delete(revToBytes(5, 0, true)));
    await f.reopen();
    assert.equal(f.kv.currentRevision, 5);
    assert.equal(put(f, 'c', '1'), 6);
    // etcd#17780: a scheduled (unfinished) compaction ahead of every entry also holds it.
    await f.kv.compact(6).physicalDone;
    f.backend.batch(() => {
      f.backend.buckets.key.delete(revToBytes(6, 0));
      f.backend.buckets.meta.put(META_FINISHED_COMPACT, revToBytes(5, 0));
    });
    await f.reopen();
    assert.equal(f.kv.currentRevision, 6);
    assert.equal(f.kv.compactRevision, 6, 'the scheduled compaction resumed');
    await f.kv.compactionsSettled();
    assert.equal(put(f, 'd', '1'), 7);
  });
});

describe('eventsSince', () => {
  it('returns events in revision order, tombstones as DELETE with mod_revision', () => {
    put(f, 'a', '1'); // 2
    txn(f, (w) => {
      w.put(b('b'), b('1'), 0n);
      w.put(b('c'), b('1'), 0n);
    }); // 3
    del(f, 'a'); // 4
    put(f, 'a', '2'); // 5
    const ev = (from: number, to: number, limit: number) =>
      f.kv.eventsSince(from, to, limit).map((e) => `${e.type === Event_EventType.PUT ? 'P' : 'D'}:${e.kv?.key.toString()}@${e.kv?.modRevision}`);
    assert.deepEqual(ev(0, 100, 0), ['P:a@2', 'P:b@3', 'P:c@3', 'D:a@4', 'P:a@5']);
    assert.deepEqual(ev(3, 4, 0), ['P:b@3', 'P:c@3', 'D:a@4']);
    assert.deepEqual(ev(2, 5, 2), ['P:a@2', 'P:b@3', 'P:c@3'], 'limit never splits a revision');
    assert.deepEqual(ev(3, 5, 1), ['P:b@3', 'P:c@3'], 'the first revision comes whole');
    assert.deepEqual(ev(6, 9, 0), []);
    const full = f.kv.eventsSince(2, 2, 0)[0];
    assert.deepEqual(t(full?.kv), ['a', '1', 2, 2, 1, 0]);
  });

  it('refuses a start below the compacted revision', async () => {
    for (let i = 0; i < 4; i++) put(f, 'a', String(i)); // 2..5
    await f.kv.compact(4).physicalDone;
    assert.throws(() => f.kv.eventsSince(3, 5, 0), CompactedError);
    assert.deepEqual(
      f.kv.eventsSince(4, 5, 0).map((e) => Number(e.kv?.modRevision)),
      [4, 5],
    );
  });
});

describe('hashKV', () => {
  it('hashes equal for equal histories and differs for different ones', async () => {
    const g = openFixture();
    const h = openFixture();
    try {
      for (const s of [f, g, h]) {
        put(s, 'a', '1');
        put(s, 'b', '2');
        del(s, 'a');
        put(s, 'c', '3');
      }
      put(h, 'c', 'different');
      put(f, 'c', 'same');
      put(g, 'c', 'same');
      assert.equal(f.kv.hashKV(0).hash, g.kv.hashKV(0).hash);
      assert.notEqual(f.kv.hashKV(0).hash, h.kv.hashKV(0).hash);
      assert.deepEqual(f.kv.hashKV(3), g.kv.hashKV(3));
      assert.equal(f.kv.hashKV(5).hash, h.kv.hashKV(5).hash, 'same history up to 5');
      // f compacts and finishes; g compacts but is reopened before the physical part ran: same answers.
      await f.kv.compact(4).physicalDone;
      await g.reopen({ compactionBatchLimit: 1 });
      const pd = g.kv.compact(4).physicalDone;
      await g.kv.close();
      await pd.catch(() => {});
      // Reopen g; its resumed compaction has not run yet when we hash.
      await g.reopen();
      assert.equal(g.kv.compactRevision, 4);
      assert.deepEqual(g.kv.hashKV(6), f.kv.hashKV(6));
      await g.kv.compactionsSettled();
      assert.deepEqual(g.kv.hashKV(6), f.kv.hashKV(6));
      assert.equal(f.kv.hashKV(6).compactRevision, 4);
      assert.equal(f.kv.hashKV(6).hashRevision, 6);
      assert.throws(() => f.kv.hashKV(3), CompactedError);
      assert.throws(() => f.kv.hashKV(7), FutureRevError);
      // The hash computed by a compaction is what HashKV answers at that revision (etcd's hash storage).
      assert.deepEqual(f.kv.hashKV(4).compactRevision, -1);
    } finally {
      await g.close();
      await h.close();
    }
  });
});
