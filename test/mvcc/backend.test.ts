import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { Backend, BUCKET_NAMES, META_CONSISTENT_INDEX, META_TERM } from '../../src/server/mvcc/backend.js';
import { BackendBusyError, BackendClosedError, NotInBatchError } from '../../src/server/mvcc/errors.js';
import { b, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => void;
let be: Backend;
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
  be = Backend.open({ path: join(dir, 'member', 'snap', 'db') });
});
afterEach(async () => {
  await be.close();
  cleanup();
});

function fill(bucket: 'key' | 'lease', n: number, valueBytes: number, from = 0): void {
  be.batch(() => {
    for (let i = from; i < from + n; i++) {
      const k = Buffer.alloc(8);
      k.writeUInt32BE(i, 4);
      be.buckets[bucket].put(k, Buffer.alloc(valueBytes, i & 0xff));
    }
  });
}

describe('Backend', () => {
  it('keeps its data in exactly the given file, with every etcd bucket', () => {
    const path = join(dir, 'member', 'snap', 'db');
    assert.ok(statSync(path).isFile());
    assert.ok(existsSync(`${path}-lock`));
    assert.deepEqual(Object.keys(be.buckets).sort(), [...BUCKET_NAMES].sort());
    assert.equal(be.members, be.buckets.members);
  });

  it('commits a batch as a whole or not at all', () => {
    be.batch(() => {
      be.buckets.auth.put(b('x'), b('1'));
      be.buckets.alarm.put(b('y'), b(''));
    });
    assert.throws(
      () =>
        be.batch(() => {
          be.buckets.auth.put(b('x'), b('2'));
          be.buckets.auth.put(b('z'), b('3'));
          assert.deepEqual(be.buckets.auth.get(b('x')), b('2'), 'a batch reads its own writes');
          throw new Error('abort');
        }),
      /abort/,
    );
    assert.deepEqual(be.buckets.auth.get(b('x')), b('1'));
    assert.equal(be.buckets.auth.get(b('z')), undefined);
    assert.deepEqual(be.buckets.alarm.get(b('y')), Buffer.alloc(0), 'empty values are fine');
  });

  it('refuses writes outside a batch and async batch functions', () => {
    assert.throws(() => be.buckets.key.put(b('a'), b('1')), NotInBatchError);
    assert.throws(() => be.setConsistentIndex(1, 1), { message: 'mvcc: Backend.setConsistentIndex must be called inside backend.batch()' });
    assert.throws(() => be.batch(async () => {}), /must be synchronous/);
    assert.equal(be.buckets.key.count(), 0);
  });

  it('joins nested batches into the outer one and runs rollback hooks newest first', () => {
    const order: string[] = [];
    assert.throws(() =>
      be.batch(() => {
        be.onRollback(() => order.push('outer'));
        be.batch(() => {
          be.buckets.lease.put(b('a'), b('1'));
          be.onRollback(() => order.push('inner'));
        });
        assert.equal(be.inBatch, true);
        throw new Error('x');
      }),
    );
    assert.deepEqual(order, ['inner', 'outer']);
    assert.equal(be.buckets.lease.get(b('a')), undefined);
    assert.equal(be.inBatch, false);
    assert.throws(() => be.onRollback(() => {}), NotInBatchError);
  });

  it('records the consistent index and term as 8-byte big-endian in meta', () => {
    assert.deepEqual(be.consistentIndex(), { index: 0, term: 0 });
    be.batch(() => be.setConsistentIndex(0x1_0000_0001, 3));
    assert.deepEqual(be.consistentIndex(), { index: 0x1_0000_0001, term: 3 });
    assert.equal(be.buckets.meta.get(META_CONSISTENT_INDEX)?.toString('hex'), '0000000100000001');
    assert.equal(be.buckets.meta.get(META_TERM)?.toString('hex'), '0000000000000003');
    be.batch(() => be.setConsistentIndex(0, 9));
    assert.deepEqual(be.consistentIndex(), { index: 0x1_0000_0001, term: 3 }, 'index 0 is never written');
  });

  it('iterates in key order over [start, end) and counts', () => {
    be.batch(() => {
      for (const k of ['b', 'a', 'c', 'ab', '\xff']) be.buckets.cluster.put(b(k), b(k.toUpperCase()));
    });
    const ks = (start?: string, end?: string, limit?: number) =>
      [...be.buckets.cluster.range(start === undefined ? undefined : b(start), end === undefined ? undefined : b(end), limit)].map((e) =>
        e.key.toString('latin1'),
      );
    assert.deepEqual(ks(), ['a', 'ab', 'b', 'c', '\xff']);
    assert.deepEqual(ks('ab', 'c'), ['ab', 'b']);
    assert.deepEqual(ks('b', undefined, 2), ['b', 'c']);
    assert.equal(be.buckets.cluster.count(b('a'), b('b')), 2);
    assert.deepEqual(
      [...be.buckets.cluster.entries(b('c'))].map(([k, v]) => [k.toString(), v.toString()]),
      [
        ['c', 'C'],
        ['\xff', '\xff'.toUpperCase()].map((s) => Buffer.from(s, 'latin1').toString()),
      ],
    );
    be.batch(() => assert.equal(be.buckets.cluster.delete(b('a')), true));
    assert.equal(be.buckets.cluster.count(), 4);
  });

  it('hashes every bucket deterministically, ignoring the applied index and term', async () => {
    const { dir: dir2, cleanup: cleanup2 } = tempDir();
    const other = Backend.open({ path: join(dir2, 'db') });
    try {
      for (const x of [be, other]) {
        x.batch(() => {
          x.buckets.key.put(b('k'), b('v'));
          x.buckets.authUsers.put(b('root'), b('pw'));
        });
      }
      be.batch(() => be.setConsistentIndex(10, 2));
      other.batch(() => other.setConsistentIndex(99, 5));
      assert.equal(be.hash(), other.hash());
      assert.notEqual(be.hash(() => false), other.hash(() => false));
      other.batch(() => other.buckets.members_removed.put(b('1'), b('')));
      assert.notEqual(be.hash(), other.hash());
    } finally {
      await other.close();
      cleanup2();
    }
  });

  it('reports physical size and pages in use; defragment shrinks the file and keeps buckets valid', async () => {
    const lease = be.buckets.lease;
    fill('lease', 4000, 1000);
    fill('key', 100, 10);
    be.batch(() => {
      for (let i = 0; i < 3900; i++) {
        const k = Buffer.alloc(8);
        k.writeUInt32BE(i, 4);
        lease.delete(k);
      }
    });
    const size = be.sizeBytes();
    const inUse = be.sizeInUseBytes();
    assert.ok(size >= 4000 * 1000, `size ${size}`);
    assert.ok(inUse < size / 4, `in use ${inUse} of ${size}`);
    const hash = be.hash();
    const pending = be.defragment();
    assert.throws(() => be.batch(() => {}), BackendBusyError);
    assert.equal(lease.count(), 100, 'reads keep working while the copy runs');
    await pending;
    assert.ok(be.sizeBytes() < size / 4, `defragmented to ${be.sizeBytes()} from ${size}`);
    assert.equal(be.hash(), hash);
    assert.equal(lease.count(), 100, 'the same Bucket object reads the new file');
    be.batch(() => lease.put(b('after'), b('defrag')));
    assert.deepEqual(lease.get(b('after')), b('defrag'));
    assert.ok(!existsSync(`${be.path}.defrag.tmp`));
  });

  it('copies a consistent snapshot to a new file and syncs', async () => {
    fill('key', 500, 100);
    be.batch(() => be.setConsistentIndex(42, 7));
    const target = join(dir, 'snapshot.db');
    const copying = be.copyTo(target);
    fill('key', 10, 100, 1000); // committed while the copy starts: in it or not, never half
    await copying;
    await be.sync();
    await assert.rejects(be.copyTo(target), /exist/i, 'the target must not exist');
    const copy = Backend.open({ path: target });
    try {
      assert.ok([500, 510].includes(copy.buckets.key.count()), `copy has ${copy.buckets.key.count()} keys`);
      assert.deepEqual(copy.consistentIndex(), { index: 42, term: 7 });
    } finally {
      await copy.close();
    }
  });

  it('throws after close', async () => {
    await be.close();
    assert.throws(() => be.batch(() => {}), BackendClosedError);
    assert.throws(() => be.buckets.key.get(b('a')), BackendClosedError);
    await be.close();
    be = Backend.open({ path: join(dir, 'member', 'snap', 'db') });
  });

  it('loses no committed batch to kill -9', async () => {
    const path = join(dir, 'crash', 'db');
    const writer = fileURLToPath(new URL('./crash-writer.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', writer, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    let lastPrinted = 0;
    let buf = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('crash writer made no progress in 20 s')), 20_000);
      child.on('error', reject);
      child.stdout.on('data', (chunk: Buffer) => {
        buf += chunk.toString();
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        for (const l of lines) lastPrinted = Number(l);
        if (lastPrinted >= 2000 && child.exitCode === null && !child.killed) {
          child.kill('SIGKILL');
          clearTimeout(timer);
        }
      });
      child.on('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    assert.ok(lastPrinted >= 2000, `writer reached ${lastPrinted}`);
    const reopened = Backend.open({ path });
    try {
      const { index } = reopened.consistentIndex();
      assert.ok(index >= lastPrinted, `applied index ${index} < last acknowledged ${lastPrinted}`);
      assert.equal(reopened.buckets.lease.count(), index, 'every batch up to the index is whole');
    } finally {
      await reopened.close();
    }
  });
});
