/** The snapshotter: etcd's .snap format, atomic save, newest usable load, broken files, purge, stray .tmp. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { crc32c } from '../../src/base/crc32c.js';
import { type LogLevel, levelLogger } from '../../src/base/logger.js';
import { encodeSnapshot } from '../../src/server/raft/codec.js';
import type { Snapshot } from '../../src/server/raft/raftpb.js';
import {
  SnapCrcMismatchError,
  SnapEmptyError,
  Snapshotter,
  decodeSnapFile,
  encodeSnapFile,
  parseSnapName,
  snapName,
} from '../../src/server/snap/index.js';

let root: string;
let n = 0;
const fresh = () => join(root, `snap-${n++}`);

before(() => {
  root = fs.mkdtempSync(join(os.tmpdir(), 'kvctl-snap-'));
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

function snap(term: number, index: number, size = 100): Snapshot {
  const data = Uint8Array.from({ length: size }, (_, i) => (i + index) & 0xff);
  return {
    data,
    metadata: { term, index, confState: { voters: [1n, 2n], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } },
  };
}

function capture() {
  const lines: Array<{ level: LogLevel; message: string }> = [];
  return { logger: levelLogger('debug', (level, message) => lines.push({ level, message })), lines };
}

test('save writes %016x-%016x.snap (term, index) holding snappb.Snapshot{crc, data}', async () => {
  const dir = fresh();
  const s = new Snapshotter(dir);
  const sn = snap(3, 0x20);
  await s.save(sn);
  assert.deepEqual(fs.readdirSync(dir), ['0000000000000003-0000000000000020.snap']);
  const bytes = fs.readFileSync(join(dir, snapName(3, 0x20)));
  const data = encodeSnapshot(sn);
  const crc = crc32c(data);
  // Field 1 (crc) as a varint, then field 2 (data) length-delimited: what etcd's gogoproto code writes.
  const varint = (x: number) => {
    const o: number[] = [];
    while (x >= 0x80) {
      o.push((x & 0x7f) | 0x80);
      x = Math.floor(x / 128);
    }
    o.push(x);
    return o;
  };
  const expected = Buffer.from([0x08, ...varint(crc), 0x12, ...varint(data.length), ...data]);
  assert.deepEqual(bytes, expected);
  assert.deepEqual(Buffer.from(encodeSnapFile(sn)), expected);
  assert.deepEqual(parseSnapName('0000000000000003-0000000000000020.snap'), { name: '0000000000000003-0000000000000020.snap', term: 3, index: 0x20 });

  // A snapshot at index 0 is "no snapshot": nothing is written.
  await s.save(snap(1, 0));
  assert.equal(fs.readdirSync(dir).length, 1);
});

test('loadNewestAvailable returns the newest snapshot the WAL knows', async () => {
  const dir = fresh();
  const s = new Snapshotter(dir);
  for (const [t, i] of [
    [1, 10],
    [1, 20],
    [2, 30],
    [2, 40],
  ] as const) {
    await s.save(snap(t, i));
  }
  assert.deepEqual(await s.loadNewestAvailable([{ index: 20, term: 1 }, { index: 30, term: 2 }]), snap(2, 30));
  // 40 exists on disk but the WAL has no record of it (the WAL write did not happen): not used.
  assert.deepEqual(await s.loadNewestAvailable([{ index: 10, term: 1 }]), snap(1, 10));
  assert.equal(await s.loadNewestAvailable([{ index: 30, term: 1 }]), undefined, 'the term must match too');
  assert.equal(await s.loadNewestAvailable([]), undefined);
  assert.equal(await new Snapshotter(join(dir, 'missing')).loadNewestAvailable([{ index: 10, term: 1 }]), undefined);
});

test('a file that fails its CRC or decode is renamed .broken and the next older one is used', async () => {
  const dir = fresh();
  const { logger, lines } = capture();
  const s = new Snapshotter(dir, { logger });
  await s.save(snap(1, 10));
  await s.save(snap(1, 20));
  await s.save(snap(1, 30));
  // Flip a byte of the data in the newest; empty the second newest.
  const newest = join(dir, snapName(1, 30));
  const b = fs.readFileSync(newest);
  b[b.length - 10] = (b[b.length - 10] as number) ^ 0xff;
  fs.writeFileSync(newest, b);
  fs.writeFileSync(join(dir, snapName(1, 20)), '');
  const walSnaps = [10, 20, 30].map((index) => ({ index, term: 1 }));
  assert.deepEqual(await s.loadNewestAvailable(walSnaps), snap(1, 10));
  assert.deepEqual(fs.readdirSync(dir).sort(), [snapName(1, 10), `${snapName(1, 20)}.broken`, `${snapName(1, 30)}.broken`]);
  const warnings = lines.filter((l) => l.level === 'warn').map((l) => l.message);
  assert.ok(warnings.some((m) => m.includes(snapName(1, 30)) && m.includes('snap: crc mismatch')), warnings.join('\n'));
  assert.ok(warnings.some((m) => m.includes(snapName(1, 20)) && m.includes('snap: empty snapshot')), warnings.join('\n'));

  assert.throws(() => decodeSnapFile(b), SnapCrcMismatchError);
  assert.throws(() => decodeSnapFile(new Uint8Array(0)), SnapEmptyError);
  // A file renamed to the wrong (term, index) is not trusted either.
  fs.copyFileSync(join(dir, snapName(1, 10)), join(dir, snapName(1, 50)));
  assert.deepEqual(await s.loadNewestAvailable([{ index: 50, term: 1 }, { index: 10, term: 1 }]), snap(1, 10));
  assert.ok(fs.existsSync(join(dir, `${snapName(1, 50)}.broken`)));
});

test('purge keeps the newest maxFiles (0: all) and list orders by term then index', async () => {
  const dir = fresh();
  const s = new Snapshotter(dir);
  const saved: Array<[number, number]> = [
    [2, 5],
    [1, 100],
    [1, 9],
    [3, 1],
  ];
  for (const [t, i] of saved) await s.save(snap(t, i));
  assert.deepEqual(
    (await s.list()).map((f) => [f.term, f.index]),
    [
      [1, 9],
      [1, 100],
      [2, 5],
      [3, 1],
    ],
  );
  assert.deepEqual(await s.purge(0), []);
  assert.deepEqual(await s.purge(2), [snapName(1, 9), snapName(1, 100)]);
  assert.deepEqual(fs.readdirSync(dir).sort(), [snapName(2, 5), snapName(3, 1)]);
  assert.deepEqual(await s.purge(5), []);
});

test('stray .snap.tmp files of an interrupted save are removed when a Snapshotter is made', async () => {
  const dir = fresh();
  fs.mkdirSync(dir);
  fs.writeFileSync(join(dir, `${snapName(1, 10)}.tmp`), 'half a snapshot');
  fs.writeFileSync(join(dir, 'db'), 'the backend lives here too');
  const { logger, lines } = capture();
  const s = new Snapshotter(dir, { logger });
  assert.deepEqual(fs.readdirSync(dir), ['db']);
  assert.ok(lines.some((l) => l.level === 'warn' && l.message.includes('.snap.tmp')));
  assert.deepEqual(await s.list(), []);
  await s.save(snap(1, 10));
  assert.deepEqual(fs.readdirSync(dir).sort(), [snapName(1, 10), 'db']);
});
