/**
 * WAL throughput on this machine's disk: saves per second and entries per second for saves of 1, 16 and
 * 256 entries of 300 bytes, each save awaited before the next (the raft loop's pattern: every save is
 * one write and one fdatasync), plus one run with 16 single-entry saves in flight at once to show the
 * WAL's own group commit. Segments are etcd's default 64 MB, so cuts are included in the figures.
 *
 * `--prealloc` instead measures what decided the preallocation strategy (wal.ts header): the latency of a
 * write + fdatasync into a growing file, an ftruncate-extended (sparse) file, and a zero-filled one.
 *
 * Usage: node --import tsx bench/wal.ts [--seconds 2] [--quick] [--json] [--prealloc]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import type { Entry } from '../src/server/raft/raftpb.js';
import { Wal, encodeWalMetadata } from '../src/server/wal/index.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}
const flag = (name: string) => process.argv.includes(`--${name}`);

const quick = flag('quick');
const seconds = Number(arg('seconds', quick ? '0.5' : '2'));
const ENTRY_BYTES = 300;

interface Result {
  readonly scenario: string;
  readonly batch: number;
  readonly inFlight: number;
  readonly saves: number;
  readonly seconds: number;
  readonly savesPerSec: number;
  readonly entriesPerSec: number;
  readonly mbPerSec: number;
}

function makeEntries(from: number, count: number): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const data = new Uint8Array(ENTRY_BYTES);
    data.fill((from + i) & 0xff);
    out.push({ index: from + i, term: 1, type: 0, data });
  }
  return out;
}

async function run(root: string, batch: number, inFlight: number): Promise<Result> {
  const dir = join(root, `wal-${batch}-${inFlight}`);
  const wal = await Wal.create(dir, encodeWalMetadata({ nodeId: 1n, clusterId: 1n }));
  let index = 0;
  let saves = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  // Each worker awaits its save before issuing the next; with inFlight > 1 they overlap and the WAL
  // writes whatever queued up during the previous fdatasync as one batch.
  const worker = async () => {
    while (process.hrtime.bigint() < deadline) {
      const ents = makeEntries(index + 1, batch);
      index += batch;
      await wal.save({ term: 1, vote: 1n, commit: index }, ents);
      saves++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  await wal.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    scenario: inFlight > 1 ? `${inFlight} saves in flight` : 'sequential',
    batch,
    inFlight,
    saves,
    seconds: secs,
    savesPerSec: saves / secs,
    entriesPerSec: (saves * batch) / secs,
    mbPerSec: (saves * batch * ENTRY_BYTES) / secs / 1e6,
  };
}

/** Latency of write + fdatasync per preallocation strategy (see the wal.ts header). */
async function prealloc(root: string): Promise<void> {
  const SEG = 64 * 1000 * 1000;
  const N = quick ? 300 : 3000;
  const buf = Buffer.alloc(8192, 7);
  const zero = Buffer.alloc(1 << 20);
  const strategies: Array<[string, (fd: number) => void]> = [
    ['growing file', () => {}],
    ['ftruncate (sparse)', (fd) => fs.ftruncateSync(fd, SEG)],
    [
      'zero-filled',
      (fd) => {
        for (let o = 0; o < SEG; o += zero.length) fs.writeSync(fd, zero, 0, Math.min(zero.length, SEG - o), o);
        fs.fsyncSync(fd);
      },
    ],
  ];
  for (const [name, prep] of strategies) {
    const p = join(root, 'prealloc');
    const fd = fs.openSync(p, 'w+');
    const t0 = process.hrtime.bigint();
    prep(fd);
    const prepMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const row: string[] = [];
    let off = 0;
    for (const size of [64, 4096, 8192]) {
      const t = process.hrtime.bigint();
      for (let i = 0; i < N; i++) {
        fs.writeSync(fd, buf, 0, size, off);
        off += size;
        fs.fdatasyncSync(fd);
      }
      row.push(`${size} B: ${(Number(process.hrtime.bigint() - t) / 1e3 / N).toFixed(0)} us`);
    }
    fs.closeSync(fd);
    fs.unlinkSync(p);
    console.log(`${name.padEnd(20)} prep ${prepMs.toFixed(0).padStart(4)} ms   write+fdatasync: ${row.join(', ')}`);
  }
}

const root = fs.mkdtempSync(join(os.tmpdir(), 'kvctl-bench-wal-'));
try {
  if (flag('prealloc')) {
    await prealloc(root);
  } else {
    const results: Result[] = [];
    for (const [batch, inFlight] of [
      [1, 1],
      [16, 1],
      [256, 1],
      [1, 16],
    ] as const) {
      results.push(await run(root, batch, inFlight));
    }
    if (flag('json')) {
      console.log(JSON.stringify(results, null, 2));
    } else {
      console.log(`WAL saves, ${ENTRY_BYTES}-byte entries, ${seconds} s each, dir ${os.tmpdir()}`);
      for (const r of results) {
        console.log(
          `${r.scenario.padEnd(20)} batch ${String(r.batch).padStart(3)}: ${r.savesPerSec.toFixed(0).padStart(6)} saves/s ${r.entriesPerSec.toFixed(0).padStart(8)} entries/s ${r.mbPerSec.toFixed(1).padStart(6)} MB/s`,
        );
      }
    }
  }
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
