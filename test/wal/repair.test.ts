/**
 * Torn tails and corruption: what a crash can leave at the end of the last segment is repaired, anything
 * else is refused with the file and offset. See the rule in src/server/wal/wal.ts.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Wal, WalCorruptError, encodeWalMetadata, parseWalName } from '../../src/server/wal/index.js';
import { captureLogger, copyDir, entries, entry, frames, hs, rmrf, tempDir, walFiles } from './helpers.js';

const md = encodeWalMetadata({ nodeId: 1n, clusterId: 2n });
const at0 = { index: 0, term: 0 };

let root: string;
let n = 0;
const fresh = () => join(root, `wal-${n++}`);

before(() => {
  root = tempDir();
});
after(() => rmrf(root));

function flip(file: string, offset: number): void {
  const fd = fs.openSync(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, offset);
    b[0] = (b[0] as number) ^ 0xff;
    fs.writeSync(fd, b, 0, 1, offset);
  } finally {
    fs.closeSync(fd);
  }
}

function overwrite(file: string, offset: number, bytes: Uint8Array): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    fs.closeSync(fd);
  }
}

async function readAllAt0(dir: string, logger = captureLogger().logger, segmentSizeBytes = 1024) {
  const w = await Wal.open(dir, at0, { segmentSizeBytes, logger });
  return { w, got: await w.readAll() };
}

describe('a file cut at every offset of the last segment', () => {
  test('keeps every record wholly before the cut, appends after it, and survives another reopen', async () => {
    const SEG = 1024;
    const template = fresh();
    const w = await Wal.create(template, md, { segmentSizeBytes: SEG });
    // One entry and its commit per save, until the third segment has begun; then four saves more.
    let idx = 0;
    for (let i = 0; i < 200 && walFiles(template).length < 3; i++) {
      idx++;
      await w.save(hs(1, idx), [entry(idx, 1, 40)]);
    }
    for (let i = 0; i < 4; i++) {
      idx++;
      await w.save(hs(1, idx), [entry(idx, 1, 40)]);
    }
    await w.close();
    const lastName = walFiles(template).at(-1) as string;
    const first = parseWalName(lastName)?.index as number;
    // Last segment: crc, metadata, state (the header), then an entry and a state per save.
    const fr = frames(join(template, lastName));
    assert.equal(fr.length, 3 + 2 * (idx - first + 1));
    const entryEnds = fr.filter((_, i) => i >= 3 && i % 2 === 1).map((f) => f.end);
    const stateEnds = fr.filter((_, i) => i >= 4 && i % 2 === 0).map((f) => f.end);
    const boundaries = new Set(fr.map((f) => f.end));
    const dataEnd = (fr.at(-1) as { end: number }).end;

    // Every offset of the data, and a few in the zeros beyond it. Bounded: dataEnd is under the segment size.
    const cuts = [...Array.from({ length: dataEnd + 9 }, (_, c) => c), 700, SEG];
    for (const c of cuts) {
      const dir = fresh();
      copyDir(template, dir);
      const file = join(dir, lastName);
      fs.truncateSync(file, c);
      const { logger, lines } = captureLogger();
      const { w: r, got } = await readAllAt0(dir, logger, SEG);
      const kept = entryEnds.filter((e) => e <= c).length;
      const keptStates = stateEnds.filter((e) => e <= c).length;
      assert.deepEqual(got.entries, entries(1, first - 1 + kept, 1, 40), `cut at ${c}`);
      assert.equal(got.hardState.commit, first - 1 + keptStates, `cut at ${c}`);
      const torn = c < dataEnd && c > 0 && !boundaries.has(c);
      const warning = lines.find((l) => l.level === 'warn' && l.message.includes('torn tail'));
      if (torn) {
        assert.ok(warning?.message.includes(lastName), `cut at ${c}: the warning names the file`);
        const start = fr.find((f) => f.offset < c && c < f.end)?.offset;
        assert.ok(warning?.message.includes(`from offset ${start}`), `cut at ${c}: the warning names the offset (${warning?.message})`);
      } else {
        assert.equal(warning, undefined, `cut at ${c}: nothing torn`);
      }
      assert.equal(fs.statSync(file).size >= SEG, true, 'the segment is re-extended');
      const next = first + kept;
      await r.save(hs(1, next), [entry(next, 1, 40)]);
      await r.close();
      const { w: r2, got: got2 } = await readAllAt0(dir, captureLogger().logger, SEG);
      assert.deepEqual(got2.entries, entries(1, next, 1, 40), `cut at ${c}, after appending`);
      assert.equal(got2.hardState.commit, next);
      await r2.close();
      rmrf(dir);
    }
  });
});

describe('torn writes', () => {
  /** A WAL whose last save is one write of 20 entries of 100 bytes (several sectors), after a synced one. */
  async function bigLastWrite() {
    const dir = fresh();
    const w = await Wal.create(dir, md, { segmentSizeBytes: 64 * 1024 });
    await w.save(hs(1, 1), entries(1, 5, 1, 100));
    await w.save(hs(1, 5), entries(6, 25, 1, 100));
    await w.close();
    const file = join(dir, walFiles(dir)[0] as string);
    return { dir, file, fr: frames(file) };
  }

  test('a lost sector inside the final write is a torn tail even when later sectors landed', async () => {
    const { dir, file, fr } = await bigLastWrite();
    // The header is 3 frames, then 5 entries and a state; the final write starts after them.
    const finalWrite = fr.slice(9);
    const start = (finalWrite[0] as { offset: number }).offset;
    const sector = Math.ceil((start + 600) / 512) * 512;
    overwrite(file, sector, new Uint8Array(512)); // that sector never reached the disk; the next ones did
    const keptFrames = finalWrite.filter((f) => f.end <= sector).length;
    const { logger, lines } = captureLogger();
    const { w, got } = await readAllAt0(dir, logger, 64 * 1024);
    assert.deepEqual(got.entries, entries(1, 5 + keptFrames, 1, 100));
    assert.deepEqual(got.hardState, hs(1, 1));
    assert.ok(lines.some((l) => l.level === 'warn' && l.message.includes(basename(file))));
    assert.ok(fs.existsSync(`${file}.broken`), 'the original is kept for forensics');
    await w.close();
  });

  test('a garbled final record with nothing after it is a torn tail', async () => {
    const { dir, file, fr } = await bigLastWrite();
    const lastState = fr.at(-1) as { offset: number; end: number };
    overwrite(file, lastState.offset + 10, Buffer.from('garbage!'));
    const { w, got } = await readAllAt0(dir, undefined, 64 * 1024);
    assert.deepEqual(got.entries, entries(1, 25, 1, 100));
    assert.deepEqual(got.hardState, hs(1, 1), 'the garbled state record is dropped');
    // The tail was zeroed: a new save lands where the garbled record was and reads back.
    await w.save(hs(1, 26), [entry(26, 1, 100)]);
    await w.close();
    const { w: w2, got: got2 } = await readAllAt0(dir, undefined, 64 * 1024);
    assert.deepEqual(got2.entries, entries(1, 26, 1, 100));
    await w2.close();
  });
});

describe('corruption is refused with the file and offset', () => {
  async function threeSegments() {
    const dir = fresh();
    const w = await Wal.create(dir, md, { segmentSizeBytes: 1024 });
    for (let i = 1; i <= 200 && walFiles(dir).length < 3; i++) await w.save(hs(1, i), [entry(i, 1, 40)]);
    for (let i = 0; i < 3; i++) await w.save(hs(1, 100 + i), []);
    await w.close();
    return dir;
  }

  async function expectCorrupt(dir: string, file: string, offset: number, reason: RegExp) {
    const before = fs.readFileSync(join(dir, file));
    const w = await Wal.open(dir, at0, { segmentSizeBytes: 1024 });
    const err = await w.readAll().then(
      () => assert.fail('readAll should refuse a corrupt WAL'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof WalCorruptError, String(err));
    assert.equal(err.file, file);
    assert.equal(err.offset, offset);
    assert.match(err.message, new RegExp(`^wal: corrupt record in ${file} at offset ${offset}: `));
    assert.match(err.message, reason);
    assert.deepEqual(fs.readFileSync(join(dir, file)), before, 'nothing is repaired');
    assert.equal(fs.existsSync(join(dir, `${file}.broken`)), false);
  }

  test('a flipped data byte followed by valid records, in the last segment', async () => {
    const dir = await threeSegments();
    const last = walFiles(dir).at(-1) as string;
    const rec = frames(join(dir, last))[4] as { offset: number; end: number };
    flip(join(dir, last), rec.end - 5);
    await expectCorrupt(dir, last, rec.offset, /crc mismatch.*intact records follow/);
  });

  test('a flipped length byte followed by valid records, in the last segment', async () => {
    const dir = await threeSegments();
    const last = walFiles(dir).at(-1) as string;
    const rec = frames(join(dir, last))[3] as { offset: number };
    flip(join(dir, last), rec.offset);
    await expectCorrupt(dir, last, rec.offset, /intact records follow/);
  });

  test('a zeroed length word that is not a lost sector, in the last segment', async () => {
    const dir = await threeSegments();
    const last = walFiles(dir).at(-1) as string;
    const rec = frames(join(dir, last))[3] as { offset: number };
    overwrite(join(dir, last), rec.offset, new Uint8Array(8));
    await expectCorrupt(dir, last, rec.offset, /zero length field followed by non-zero data/);
  });

  test('a flipped byte in a segment that is not the last, even in its final record', async () => {
    const dir = await threeSegments();
    const middle = walFiles(dir)[1] as string;
    const rec = frames(join(dir, middle)).at(-1) as { offset: number; end: number };
    flip(join(dir, middle), rec.end - 3);
    await expectCorrupt(dir, middle, rec.offset, /crc mismatch/);
    // Truncating a non-last segment is corruption too.
    const dir2 = await threeSegments();
    const first = walFiles(dir2)[0] as string;
    const fr = frames(join(dir2, first));
    const cut = fr.at(-1) as { offset: number };
    fs.truncateSync(join(dir2, first), cut.offset + 10);
    await expectCorrupt(dir2, first, cut.offset, /extends past the end of the file/);
  });
});
