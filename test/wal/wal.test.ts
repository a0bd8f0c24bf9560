/**
 * The WAL's behaviour on a healthy disk: round trips across segments, opening at a snapshot, raft's log
 * truncation by rewritten indexes, MustSync and group commit, atomic create, the in-process lock, releasing
 * and purging segments, and the snapshot list.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ConfState } from '../../src/server/raft/raftpb.js';
import {
  Wal,
  WalExistsError,
  WalFileNotFoundError,
  WalInUseError,
  WalSnapshotMismatchError,
  WalSnapshotNotFoundError,
  WalStateError,
  decodeWalMetadata,
  encodeWalMetadata,
  parseWalName,
} from '../../src/server/wal/index.js';
import { countingFs, entries, failingDatasyncFs, hs, rmrf, tempDir, walFiles } from './helpers.js';

const SEG = 4096;
const md = encodeWalMetadata({ nodeId: 0x8e9e05c52164694dn, clusterId: 0xcdf818194e3a8c32n });
const cs: ConfState = { voters: [1n, 2n, 3n], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
const opts = { segmentSizeBytes: SEG };

let root: string;
let n = 0;
const fresh = () => join(root, `wal-${n++}`);

before(() => {
  root = tempDir();
});
after(() => rmrf(root));

/** Writes batches of 5 entries of 100 bytes (term 2), each with a hard state committing it. */
async function fill(w: Wal, from: number, batches: number, onBatch?: (last: number) => Promise<void>): Promise<number> {
  let idx = from - 1;
  for (let b = 0; b < batches; b++) {
    const ents = entries(idx + 1, idx + 5, 2, 100);
    idx += 5;
    await w.save(hs(2, idx), ents);
    await onBatch?.(idx);
  }
  return idx;
}

describe('round trip', () => {
  test('entries, hard state and metadata survive a reopen across several segments', async () => {
    const dir = fresh();
    const w = await Wal.create(dir, md, opts);
    const last = await fill(w, 1, 30);
    await w.close();

    const files = walFiles(dir);
    assert.ok(files.length >= 4, `expected several segments, got ${files.join(', ')}`);
    const parsed = files.map((f) => parseWalName(f));
    parsed.forEach((p, i) => assert.equal(p?.seq, i, 'sequence numbers run 0, 1, 2, ...'));
    assert.equal(parsed[0]?.index, 0);
    // Saves of 5 entries: a segment is cut after a save, so each later one starts at a multiple of 5 plus 1.
    for (const p of parsed.slice(1)) assert.equal(((p?.index ?? 0) - 1) % 5, 0);
    // Every segment but the last was truncated to its data at the cut; the last is preallocated.
    assert.equal(fs.statSync(join(dir, files[files.length - 1] as string)).size, SEG);

    const r = await Wal.open(dir, { index: 0, term: 0 }, opts);
    const got = await r.readAll();
    assert.deepEqual(got.entries, entries(1, last, 2, 100));
    assert.deepEqual(got.hardState, hs(2, last));
    assert.deepEqual(decodeWalMetadata(got.metadata), decodeWalMetadata(md));
    await r.close();
  });

  test('a reopened WAL appends where it left off, chaining the CRC, and cuts again', async () => {
    const dir = fresh();
    const w = await Wal.create(dir, md, opts);
    const mid = await fill(w, 1, 12);
    await w.close();
    const r = await Wal.open(dir, { index: 0, term: 0 }, opts);
    await r.readAll();
    const last = await fill(r, mid + 1, 12);
    await r.close();
    const r2 = await Wal.open(dir, { index: 0, term: 0 }, opts);
    const got = await r2.readAll();
    assert.deepEqual(got.entries, entries(1, last, 2, 100));
    await r2.close();
  });

  test('an empty save writes nothing; saving before readAll or after close is refused', async () => {
    const dir = fresh();
    const w = await Wal.create(dir, md, opts);
    const before = fs.readFileSync(join(dir, walFiles(dir)[0] as string));
    await w.save(undefined, []);
    await w.save({ term: 0, vote: 0n, commit: 0 }, []);
    assert.deepEqual(fs.readFileSync(join(dir, walFiles(dir)[0] as string)), before);
    await w.close();
    await assert.rejects(w.save(hs(1, 1), []), WalStateError);
    const r = await Wal.open(dir, { index: 0, term: 0 }, opts);
    await assert.rejects(r.save(hs(1, 1), []), WalStateError);
    await r.readAll();
    await assert.rejects(r.readAll(), WalStateError);
    await r.close();
  });
});

describe('opening at a snapshot', () => {
  test('reads only the entries after a snapshot recorded in a middle segment', async () => {
    const dir = fresh();
    const w = await Wal.create(dir, md, opts);
    let snapAt = 0;
    let segAtSnap = '';
    const last = await fill(w, 1, 30, async (idx) => {
      if (idx === 60) {
        await w.saveSnapshot({ index: idx, term: 2, confState: cs });
        snapAt = idx;
        segAtSnap = w.heldSegments().at(-1) as string;
      }
    });
    await w.close();
    const files = walFiles(dir);
    const pos = files.indexOf(segAtSnap);
    assert.ok(pos > 0 && pos < files.length - 1, `the snapshot should be in a middle segment (${segAtSnap} of ${files.join(', ')})`);

    const r = await Wal.open(dir, { index: snapAt, term: 2 }, opts);
    assert.deepEqual(r.heldSegments(), files.slice(pos), 'only the snapshot segment and later ones are read');
    const got = await r.readAll();
    assert.deepEqual(got.entries, entries(snapAt + 1, last, 2, 100));
    assert.deepEqual(got.hardState, hs(2, last));
    await r.close();

    // The segment chosen for an index is the last one starting at or below it; the record must be there.
    const r2 = await Wal.open(dir, { index: snapAt, term: 3 }, opts);
    await assert.rejects(r2.readAll(), WalSnapshotMismatchError);
    const r3 = await Wal.open(dir, { index: snapAt + 5, term: 2 }, opts);
    await assert.rejects(r3.readAll(), WalSnapshotNotFoundError);
    // readAll closes the WAL on error, so it can be opened again.
    const r4 = await Wal.open(dir, { index: snapAt, term: 2 }, opts);
    await r4.close();
  });

  test('listSnapshots returns the snapshot records the commit index covers', async () => {
    const dir = fresh();
    const w = await Wal.create(dir, md, opts);
    await w.save(hs(1, 0), entries(1, 10));
    await w.saveSnapshot({ index: 5, term: 1, confState: cs });
    await w.save(hs(1, 10), []);
    await w.saveSnapshot({ index: 10, term: 1, confState: cs });
    await w.save(hs(1, 10), entries(11, 20));
    // Recorded before the commit index reached it: not usable (etcd's ValidSnapshotEntries).
    await w.saveSnapshot({ index: 20, term: 1, confState: cs });
    await w.close();
    assert.deepEqual(await Wal.listSnapshots(dir), [
      { index: 0, term: 0 },
      { index: 5, term: 1 },
      { index: 10, term: 1 },
    ]);
  });

  test('open fails clearly without segments or with a gap in the sequence', async () => {
    const empty = fresh();
    fs.mkdirSync(empty);
    await assert.rejects(Wal.open(empty, { index: 0, term: 0 }), WalFileNotFoundError);

    const dir = fresh();
    const w = await Wal.create(dir, md, opts);
    await fill(w, 1, 30);
    await w.close();
    const files = walFiles(dir);
    fs.unlinkSync(join(dir, files[2] as string));
    await assert.rejects(Wal.open(dir, { index: 0, term: 0 }), /do not increase continuously/);
  });
});

describe('raft log truncation', () => {
  test('an entry whose index repeats an earlier one replaces it and everything after', async () => {
    const dir = fresh();
    const w = await Wal.create(dir, md, opts);
    await w.save(hs(1, 3), entries(1, 10, 1));
    // A new leader at term 2 overwrote the uncommitted tail from index 6.
    await w.save(hs(2, 3), entries(6, 8, 2));
    await w.close();
    const r = await Wal.open(dir, { index: 0, term: 0 }, opts);
    const got = await r.readAll();
    assert.deepEqual(got.entries, [...entries(1, 5, 1), ...entries(6, 8, 2)]);
    // Appending continues from the replaced tail.
    await r.save(hs(2, 9), entries(9, 9, 2));
    await r.close();
    const r2 = await Wal.open(dir, { index: 0, term: 0 }, opts);
    assert.deepEqual((await r2.readAll()).entries, [...entries(1, 5, 1), ...entries(6, 9, 2)]);
    await r2.close();
  });
});

describe('durability', () => {
  test('one save is one write and at most one fdatasync (MustSync)', async () => {
    const dir = fresh();
    const { fs: cfs, counts } = countingFs();
    const w = await Wal.create(dir, md, { segmentSizeBytes: 1 << 20, fs: cfs });
    const measure = async (f: () => Promise<void>) => {
      const before = { ...counts };
      await f();
      return { writes: counts.writes - before.writes, syncs: counts.datasync - before.datasync + counts.fsync - before.fsync };
    };
    assert.deepEqual(await measure(() => w.save(hs(1, 0, 1n), entries(1, 256, 1, 300))), { writes: 1, syncs: 1 });
    assert.deepEqual(await measure(() => w.save(undefined, entries(257, 257))), { writes: 1, syncs: 1 });
    // Commit-only change: written, not synced.
    assert.deepEqual(await measure(() => w.save(hs(1, 200, 1n), [])), { writes: 1, syncs: 0 });
    // New vote or new term: must be durable before any message depends on it.
    assert.deepEqual(await measure(() => w.save(hs(1, 200, 2n), [])), { writes: 1, syncs: 1 });
    assert.deepEqual(await measure(() => w.save(hs(2, 200, 2n), [])), { writes: 1, syncs: 1 });
    assert.deepEqual(await measure(() => w.saveSnapshot({ index: 100, term: 1, confState: cs })), { writes: 1, syncs: 1 });
    assert.deepEqual(await measure(() => w.save(undefined, [])), { writes: 0, syncs: 0 });
    await w.close();
  });

  test('saves issued while one is in flight are written and synced together, in order', async () => {
    const dir = fresh();
    const { fs: cfs, counts } = countingFs();
    const w = await Wal.create(dir, md, { segmentSizeBytes: 1 << 20, fs: cfs });
    const before = { ...counts };
    const done: number[] = [];
    const saves = [];
    for (let i = 1; i <= 20; i++) saves.push(w.save(hs(1, i - 1), [entries(i, i)[0] as never]).then(() => done.push(i)));
    await Promise.all(saves);
    assert.deepEqual(done, Array.from({ length: 20 }, (_, i) => i + 1), 'saves resolve in order');
    // The first save goes alone; the 19 queued behind it form one batch.
    assert.equal(counts.datasync - before.datasync, 2);
    assert.equal(counts.writes - before.writes, 2);
    await w.close();
    const r = await Wal.open(dir, { index: 0, term: 0 });
    const got = await r.readAll();
    assert.deepEqual(got.entries, entries(1, 20));
    assert.deepEqual(got.hardState, hs(1, 19));
    await r.close();
  });
});

describe('create, lock, release and purge', () => {
  test('create is atomic: a leftover .tmp directory is never a WAL and is replaced', async () => {
    const dir = fresh();
    // What a crash in the middle of create leaves: a .tmp directory, even with a segment inside.
    fs.mkdirSync(`${dir}.tmp`);
    fs.writeFileSync(join(`${dir}.tmp`, '0000000000000000-0000000000000000.wal'), 'partial');
    assert.equal(Wal.exists(dir), false);
    await assert.rejects(Wal.open(dir, { index: 0, term: 0 }), WalFileNotFoundError);
    const w = await Wal.create(dir, md, opts);
    assert.equal(fs.existsSync(`${dir}.tmp`), false);
    assert.equal(Wal.exists(dir), true);
    assert.deepEqual(walFiles(dir), ['0000000000000000-0000000000000000.wal']);
    await w.close();
    await assert.rejects(Wal.create(dir, md, opts), WalExistsError);
    // An empty directory may be created into; one with foreign files may not.
    const empty = fresh();
    fs.mkdirSync(empty);
    await (await Wal.create(empty, md, opts)).close();
    const foreign = fresh();
    fs.mkdirSync(foreign);
    fs.writeFileSync(join(foreign, 'notes.txt'), 'x');
    await assert.rejects(Wal.create(foreign, md, opts), WalExistsError);
  });

  test('a directory can be open in only one live Wal of this process', async () => {
    const dir = fresh();
    const w = await Wal.create(dir, md, opts);
    await assert.rejects(Wal.open(dir, { index: 0, term: 0 }), WalInUseError);
    await assert.rejects(Wal.open(`${dir}/`, { index: 0, term: 0 }), WalInUseError);
    await w.close();
    const r = await Wal.open(dir, { index: 0, term: 0 });
    await assert.rejects(Wal.open(dir, { index: 0, term: 0 }), WalInUseError);
    await r.close();
    await r.close(); // idempotent
  });

  test('purge deletes only released segments, oldest first', async () => {
    const dir = fresh();
    const w = await Wal.create(dir, md, opts);
    await fill(w, 1, 40);
    const files = walFiles(dir);
    assert.ok(files.length >= 6);
    // Nothing released yet: every segment is needed.
    assert.deepEqual(await w.purge(1), []);
    // A snapshot covers the entries of the first segments: release them.
    const third = parseWalName(files[3] as string)?.index as number;
    w.releaseLockTo(third + 2);
    // etcd keeps the segment that holds index third+2 (files[3]) and everything after.
    assert.deepEqual(w.heldSegments(), files.slice(3));
    assert.deepEqual(await w.purge(0), [], '0 means unlimited');
    assert.deepEqual(await w.purge(files.length - 1), files.slice(0, 1));
    assert.deepEqual(await w.purge(1), files.slice(1, 3), 'stops at the first segment still needed');
    assert.deepEqual(walFiles(dir), files.slice(3));
    await w.close();

    // Segments before the one a WAL is opened at are not needed either.
    const r = await Wal.open(dir, { index: 0, term: 0 }).catch((e: unknown) => e);
    assert.ok(r instanceof WalFileNotFoundError, 'index 0 is gone with the first segment');
  });
});

describe('crashes and failures', () => {
  test('a prepared segment a crash left unrenamed (0.tmp) is ignored and removed', async () => {
    const dir = fresh();
    const w = await Wal.create(dir, md, opts);
    const last = await fill(w, 1, 12);
    await w.close();
    // What a crash inside a cut leaves: the next segment, header written, not yet renamed.
    fs.writeFileSync(join(dir, '0.tmp'), fs.readFileSync(join(dir, walFiles(dir).at(-1) as string)));
    fs.writeFileSync(join(dir, '1.tmp'), Buffer.alloc(SEG));
    const r = await Wal.open(dir, { index: 0, term: 0 }, opts);
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')),
      [],
    );
    assert.deepEqual((await r.readAll()).entries, entries(1, last, 2, 100));
    await r.close();
  });

  test('after a failed fdatasync every later save is refused (fail-stop)', async () => {
    const dir = fresh();
    let failing = false;
    const faulty = failingDatasyncFs(() => failing);
    const w = await Wal.create(dir, md, { segmentSizeBytes: 1 << 20, fs: faulty });
    await w.save(hs(1, 0), entries(1, 3));
    failing = true;
    await assert.rejects(w.save(hs(1, 3), entries(4, 4)), /EIO: injected/);
    failing = false;
    await assert.rejects(w.save(hs(1, 4), entries(5, 5)), /EIO: injected/, 'the WAL stays failed');
    await w.close();
  });
});
