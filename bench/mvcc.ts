/**
 * MVCC store throughput on the real lmdb backend, in one process.
 *
 *  0. the key index alone: `--index-keys` inserts of distinct keys in random order, then seeks + visits;
 *  1. puts: `--puts` single-put write txns (one revision each) of 256-byte values over `--keys` keys, in
 *     batches of `--batch` txns per backend.batch (as the raft loop applies one Ready), each batch also
 *     recording the applied index;
 *  2. point ranges: `--puts` reads of a random key at the current revision;
 *  3. historical point reads at random revisions above the compacted one;
 *  4. full-range scans of every key;
 *  5. reopen (index rebuilt from all revisions), compaction at the current revision (index + physical);
 *  6. reopen after the compaction;
 *  7. per-batch commit cost of the two durability modes the backend offers (noSync, syncEveryBatch).
 * Prints ops/s and heap/RSS after each phase. `--quick` divides the sizes by 10.
 *
 * Usage: node [--expose-gc] --import tsx bench/mvcc.ts [--puts 100000] [--keys 10000] [--batch 64] [--scans 5]
 *        [--index-keys 500000] [--json] [--quick]
 * With --expose-gc the heap is measured after a full GC (and the index phase's tree is still alive then).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { SeededRng } from '../src/base/rng.js';
import { Backend } from '../src/server/mvcc/backend.js';
import { KvStore } from '../src/server/mvcc/kvstore.js';
import { TreeIndex } from '../src/server/mvcc/tree-index.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isSafeInteger(v) || v <= 0) throw new Error(`--${name} must be a positive integer`);
  return v;
}

const quick = process.argv.includes('--quick') ? 10 : 1;
const PUTS = Math.floor(arg('puts', 100_000) / quick);
const KEYS = Math.floor(arg('keys', 10_000) / quick);
const BATCH = arg('batch', 64);
const SCANS = arg('scans', 5);
const VALUE_BYTES = 256;
const INDEX_KEYS = Math.floor(arg('index-keys', 500_000) / quick);

interface PhaseResult {
  readonly phase: string;
  readonly ops: number;
  readonly seconds: number;
  readonly opsPerSec: number;
  readonly heapMB: number;
  readonly rssMB: number;
  readonly note?: string;
}

const results: PhaseResult[] = [];
const mb = (n: number): number => Math.round(n / 1048576);

/** Present under `node --expose-gc`: heap figures are then measured after a full collection. */
const gc = (globalThis as { gc?: () => void }).gc;

function record(phase: string, ops: number, ms: number, note?: string): void {
  gc?.();
  const mem = process.memoryUsage();
  results.push({
    phase,
    ops,
    seconds: Number((ms / 1000).toFixed(3)),
    opsPerSec: Math.round(ops / (ms / 1000)),
    heapMB: mb(mem.heapUsed),
    rssMB: mb(mem.rss),
    ...(note !== undefined ? { note } : {}),
  });
}

const keyOf = (i: number): Buffer => Buffer.from(`/registry/pods/default/pod-${String(i).padStart(6, '0')}`);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kvctl-bench-mvcc-'));
  try {
    const path = join(dir, 'db');
    let backend = Backend.open({ path });
    let kv = KvStore.open(backend);
    const rng = new SeededRng(42);
    const value = Buffer.alloc(VALUE_BYTES, 0x76);
    const keys = Array.from({ length: KEYS }, (_, i) => keyOf(i));

    // 0. the key index alone: random-order inserts of many distinct keys, then seeks + 100-key visits
    {
      const n = INDEX_KEYS;
      const tree = new TreeIndex();
      const strs = Array.from({ length: n }, () => keyOf(rng.int(1_000_000_000)).toString('latin1'));
      let t = performance.now();
      for (let i = 0; i < n; i++) tree.put(strs[i] as string, i + 2, 0);
      record('index put (random order)', n, performance.now() - t, `${tree.size} distinct keys, no backend`);
      t = performance.now();
      let visited = 0;
      for (let i = 0; i < 10_000; i++) {
        let left = 100;
        tree.visit(strs[rng.int(n)] as string, null, () => {
          visited++;
          return --left > 0;
        });
      }
      record('index seek + visit 100', 10_000, performance.now() - t, `${visited} keys visited`);
    }

    // 1. puts
    let t0 = performance.now();
    let applied = 0;
    for (let done = 0; done < PUTS; ) {
      const n = Math.min(BATCH, PUTS - done);
      backend.batch(() => {
        for (let i = 0; i < n; i++) {
          const w = kv.write();
          w.put(keys[rng.int(KEYS)] as Buffer, value, 0n);
          w.end();
        }
        applied += n;
        backend.setConsistentIndex(applied, 1);
      });
      done += n;
    }
    record('put', PUTS, performance.now() - t0, `${BATCH} txns per batch, ${VALUE_BYTES} B values, ${KEYS} keys`);
    const rev = kv.currentRevision;

    // 2. point ranges at the current revision
    t0 = performance.now();
    let found = 0;
    for (let i = 0; i < PUTS; i++) found += kv.range(keys[rng.int(KEYS)] as Buffer, undefined).count;
    record('range (point, current)', PUTS, performance.now() - t0, `${found} found`);

    // 3. point ranges at random older revisions
    t0 = performance.now();
    for (let i = 0; i < PUTS; i++) kv.range(keys[rng.int(KEYS)] as Buffer, undefined, { rev: 1 + rng.int(rev) });
    record('range (point, historical)', PUTS, performance.now() - t0);

    // 4. full scans
    t0 = performance.now();
    let scanned = 0;
    for (let i = 0; i < SCANS; i++) scanned += kv.range(Buffer.from([0]), Buffer.from([0])).kvs.length;
    record('range (full scan)', scanned, performance.now() - t0, `${SCANS} scans, ops = keys returned`);
    t0 = performance.now();
    for (let i = 0; i < SCANS; i++) kv.range(Buffer.from([0]), Buffer.from([0]), { countOnly: true });
    record('range (full, countOnly)', SCANS * KEYS, performance.now() - t0, 'index only');

    const sizeBefore = backend.sizeBytes();
    const inUseBefore = backend.sizeInUseBytes();

    // 5a. reopen with the whole history (the index is rebuilt from every revision)
    await kv.close();
    await backend.close();
    t0 = performance.now();
    backend = Backend.open({ path });
    kv = KvStore.open(backend);
    record('reopen (restore index)', rev - 1, performance.now() - t0, 'ops = revisions read');

    // 5. compaction
    t0 = performance.now();
    const { physicalDone } = kv.compact(rev);
    const indexMs = performance.now() - t0;
    await physicalDone;
    record('compact', rev, performance.now() - t0, `ops = revisions; index part ${indexMs.toFixed(1)} ms`);

    // 6. reopen
    await kv.close();
    await backend.close();
    t0 = performance.now();
    backend = Backend.open({ path });
    kv = KvStore.open(backend);
    record('reopen after compaction', kv.keyCount(), performance.now() - t0, 'ops = revisions read');
    if (kv.currentRevision !== rev) throw new Error(`reopened at ${kv.currentRevision}, want ${rev}`);
    const sizes = `db ${mb(sizeBefore)} MB, in use ${mb(inUseBefore)} MB before compaction; ${mb(backend.sizeBytes())} / ${mb(backend.sizeInUseBytes())} MB after`;
    await kv.close();
    await backend.close();

    // 7. commit cost per durability mode (same shape: 64 puts of 256 B per batch)
    const commitBatches = Math.max(50, Math.floor(1000 / quick));
    for (const syncEveryBatch of [false, true]) {
      const p = join(dir, `commit-${syncEveryBatch}`);
      const be = Backend.open({ path: p, syncEveryBatch });
      t0 = performance.now();
      for (let i = 0; i < commitBatches; i++) {
        be.batch(() => {
          for (let j = 0; j < 64; j++) be.buckets.key.put(keys[(i * 64 + j) % KEYS] as Buffer, value);
        });
      }
      const ms = performance.now() - t0;
      await be.close();
      record(
        `commit (${syncEveryBatch ? 'syncEveryBatch' : 'noSync, default'})`,
        commitBatches,
        ms,
        `${((ms * 1000) / commitBatches).toFixed(0)} us per batch of 64 puts`,
      );
    }

    if (process.argv.includes('--json')) {
      process.stdout.write(`${JSON.stringify({ bench: 'mvcc', node: process.version, puts: PUTS, keys: KEYS, batch: BATCH, sizes, results })}\n`);
    } else {
      process.stdout.write(`mvcc on lmdb, node ${process.version}: ${PUTS} puts over ${KEYS} keys; ${sizes}\n`);
      const w = Math.max(...results.map((r) => r.phase.length));
      for (const r of results) {
        process.stdout.write(
          `  ${r.phase.padEnd(w)}  ${String(r.opsPerSec).padStart(9)} ops/s  (${r.ops} in ${r.seconds}s)  heap ${r.heapMB} MB  rss ${r.rssMB} MB${r.note ? `  ${r.note}` : ''}\n`,
        );
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
