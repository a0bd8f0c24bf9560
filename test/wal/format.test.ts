/**
 * The exact bytes of a segment, derived by hand from etcd's format (walpb/record.proto, encoder.go, wal.go's
 * Create and cut), so that any drift from etcd's on-disk layout fails here first.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { crc32c } from '../../src/base/crc32c.js';
import { encodeEntry } from '../../src/server/raft/codec.js';
import type { Entry } from '../../src/server/raft/raftpb.js';
import { RecordType, RecordWriter } from '../../src/server/wal/record.js';
import {
  Wal,
  decodeWalMetadata,
  decodeWalSnapshot,
  encodeWalMetadata,
  encodeWalSnapshot,
  parseWalName,
  walName,
} from '../../src/server/wal/index.js';
import { frames, rmrf, tempDir, walFiles } from './helpers.js';

let root: string;
before(() => {
  root = tempDir();
});
after(() => rmrf(root));

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('a new WAL and its first save, byte for byte', async () => {
  const dir = join(root, 'pinned');
  // etcdserverpb.Metadata{NodeID: 1, ClusterID: 2}: 08 01 (field 1 = 1) 10 02 (field 2 = 2).
  const metadata = encodeWalMetadata({ nodeId: 1n, clusterId: 2n });
  assert.deepEqual(Buffer.from(metadata), hex('08 01 10 02'));
  const w = await Wal.create(dir, metadata, { segmentSizeBytes: 4096 });
  await w.save({ term: 1, vote: 1n, commit: 1 }, [{ term: 1, index: 1, type: 0, data: new TextEncoder().encode('x') }]);
  await w.close();

  assert.deepEqual(walFiles(dir), ['0000000000000000-0000000000000000.wal']);
  const file = fs.readFileSync(join(dir, '0000000000000000-0000000000000000.wal'));
  assert.equal(file.length, 4096, 'preallocated to the segment size');

  // Each record's crc is CRC-32C(data) chained from the previous record's; the values, for the record below:
  assert.equal(crc32c(hex('08 01 10 02'), 0), 0xc59c3b29);
  assert.equal(crc32c(hex('08 00 10 00'), 0xc59c3b29), 0xdfbfe799);
  assert.equal(crc32c(hex('08 00 10 01 18 01 22 01 78'), 0xdfbfe799), 0xd4aa7b79);
  assert.equal(crc32c(hex('08 01 10 01 18 01'), 0xd4aa7b79), 0x977f2188);

  const expected = hex(`
    04 00 00 00 00 00 00 84
    08 04  10 00  00 00 00 00

    0e 00 00 00 00 00 00 82
    08 01  10 a9 f6 f0 ac 0c  1a 04 08 01 10 02  00 00

    0e 00 00 00 00 00 00 82
    08 05  10 99 cf ff fd 0d  1a 04 08 00 10 00  00 00

    13 00 00 00 00 00 00 85
    08 02  10 f9 f6 a9 a5 0d  1a 09 08 00 10 01 18 01 22 01 78  00 00 00 00 00

    10 00 00 00 00 00 00 00
    08 03  10 88 c3 fc bb 09  1a 06 08 01 10 01 18 01
  `);
  // Offset 0, the crc record: length word 4 (low 56 bits) with top byte 0x84 = 0x80 | 4 padding bytes;
  //   walpb.Record{type (field 1) = 4 (crc), crc (field 2) = 0: the chain starts at 0}; no data field; 4 pad.
  // Offset 16, the metadata record: 14 bytes, 2 padding (0x82); type 1, crc 0xc59c3b29 as a 5-byte varint,
  //   data (field 3, 0x1a) of 4 bytes: the Metadata message above.
  // Offset 40, the snapshot record: type 5, crc 0xdfbfe799, data = walpb.Snapshot{index 0, term 0}: both
  //   fields written although zero (non-nullable in etcd's gogoproto), no conf_state.
  // Offset 64, the entry record: 19 bytes, 5 padding (0x85); type 2, data = raftpb.Entry{Type 0, Term 1,
  //   Index 1, Data "x"} (08 00 10 01 18 01 22 01 78: etcd writes the zero Type too).
  // Offset 96, the state record: 16 bytes, no padding, so the top byte is 0; type 3, data =
  //   raftpb.HardState{Term 1, Vote 1, Commit 1}.
  // Offset 120 on: zeros, the preallocated rest of the segment.
  assert.deepEqual(file.subarray(0, expected.length), expected);
  assert.ok(file.subarray(expected.length).every((b) => b === 0));
});

test('a cut segment starts with the chain crc, the metadata and the last hard state', async () => {
  const dir = join(root, 'cut');
  const metadata = encodeWalMetadata({ nodeId: 1n, clusterId: 2n });
  const w = await Wal.create(dir, metadata, { segmentSizeBytes: 512 });
  const data = new Uint8Array(600);
  await w.save({ term: 3, vote: 2n, commit: 1 }, [{ term: 3, index: 1, type: 0, data }]);
  await w.close();
  const [first, second] = walFiles(dir);
  // The first save passed 512 bytes, so the segment was cut; the next entry that may follow is index 2.
  assert.equal(second, walName(1, 2));
  assert.deepEqual(parseWalName(second as string), { seq: 1, index: 2 });
  const firstBytes = fs.readFileSync(join(dir, first as string));
  const fr = frames(join(dir, first as string));
  assert.equal(firstBytes.length, (fr.at(-1) as { end: number }).end, 'a cut truncates the old segment to its data');

  // The running crc at the end of the first segment is the last record's crc field.
  const lastRec = fr.at(-1) as { offset: number; end: number };
  const stateData = hex('08 03 10 02 18 01');
  // Recompute the chain over the first segment's records: the second segment's crc record must carry it.
  let chain = 0;
  for (const f of fr) {
    // Decode each record's data by hand: skip the type and crc varints, read field 3.
    const rec = firstBytes.subarray(f.offset + 8);
    let p = 2; // 08 <type>
    p++; // 10
    while ((rec[p] as number) & 0x80) p++;
    p++;
    if (rec[p] === 0x1a) {
      p++;
      let len = 0;
      let shift = 1;
      while ((rec[p] as number) & 0x80) {
        len += ((rec[p] as number) & 0x7f) * shift;
        shift *= 128;
        p++;
      }
      len += (rec[p] as number) * shift;
      p++;
      chain = crc32c(rec.subarray(p, p + len), chain);
    }
  }
  assert.ok(lastRec.end > 512);
  const secondBytes = fs.readFileSync(join(dir, second as string));
  const v = (x: number) => {
    const o: number[] = [];
    while (x >= 0x80) {
      o.push((x & 0x7f) | 0x80);
      x = Math.floor(x / 128);
    }
    o.push(x);
    return Buffer.from(o);
  };
  const crcRec = Buffer.concat([hex('08 04 10'), v(chain)]);
  const pad = (8 - (crcRec.length % 8)) % 8;
  const word = Buffer.alloc(8);
  word.writeUInt32LE(crcRec.length, 0);
  word.writeUInt32LE(pad > 0 ? ((0x80 | pad) << 24) >>> 0 : 0, 4); // no padding: the top byte stays 0
  assert.deepEqual(secondBytes.subarray(0, 8 + crcRec.length + pad), Buffer.concat([word, crcRec, Buffer.alloc(pad)]));
  const header = frames(join(dir, second as string));
  assert.equal(header.length, 3, 'crc, metadata, state');
  // The state record carries raftpb.HardState{Term 3, Vote 2, Commit 1}.
  const st = header[2] as { offset: number; end: number };
  assert.ok(secondBytes.subarray(st.offset, st.end).includes(stateData));
});

test('walpb.Snapshot, metadata and names', () => {
  assert.deepEqual(Buffer.from(encodeWalSnapshot({ index: 300, term: 2 })), hex('08 ac 02 10 02'));
  const cs = { voters: [1n], learners: [2n], votersOutgoing: [], learnersNext: [], autoLeave: false };
  // conf_state (field 3) holds raftpb.ConfState{voters [1], learners [2], auto_leave false}.
  assert.deepEqual(Buffer.from(encodeWalSnapshot({ index: 1, term: 1, confState: cs })), hex('08 01 10 01 1a 06 08 01 10 02 28 00'));
  assert.deepEqual(decodeWalSnapshot(encodeWalSnapshot({ index: 1, term: 1, confState: cs })), { index: 1, term: 1, confState: cs });
  const m = { nodeId: 0xffffffffffffffffn, clusterId: 0x8000000000000000n };
  assert.deepEqual(decodeWalMetadata(encodeWalMetadata(m)), m);
  assert.equal(walName(0x1f, 0x21), '000000000000001f-0000000000000021.wal');
  assert.equal(parseWalName('0000000000000000.wal'), undefined);
  assert.equal(parseWalName('0000000000000000-0000000000000000.snap'), undefined);
  assert.equal(parseWalName('0000000000000000-0000000000000000.wal.broken'), undefined);
});

test('entries encoded in place are byte-identical to codec.encodeEntry, into a dirty reused buffer too', () => {
  // Enough entries that some crc values take fewer than 5 varint bytes (1 in 16 do), which moves the data.
  const sizes = [0, 1, 7, 100, 127, 128, 300, 16383, 16384, 70000];
  const ents: Entry[] = [];
  for (let i = 0; i < 200; i++) {
    const size = sizes[i % sizes.length] as number;
    const data = Uint8Array.from({ length: size }, (_, k) => (k * 13 + i) & 0xff);
    ents.push({ index: 2 ** 40 + i, term: 1 + (i % 3), type: (i % 3) as 0 | 1 | 2, data });
  }
  const viaCodec = new RecordWriter(0x12345678);
  for (const e of ents) viaCodec.add(RecordType.Entry, encodeEntry(e));
  const inPlace = new RecordWriter(0x12345678, Buffer.alloc(100, 0xff));
  for (const e of ents) inPlace.addEntry(e);
  assert.equal(inPlace.crc, viaCodec.crc);
  assert.deepEqual(inPlace.bytes(), viaCodec.bytes());
  let short = 0;
  for (const f of framesOf(inPlace.bytes())) if (f.crcVarint < 5) short++;
  assert.ok(short > 0, 'some records exercise the shorter crc varint');
});

/** Frames of an in-memory segment, with the size of each record's crc varint. */
function framesOf(buf: Buffer): Array<{ recBytes: number; crcVarint: number }> {
  const out: Array<{ recBytes: number; crcVarint: number }> = [];
  // Bounded by the buffer length: every frame is at least 8 bytes.
  for (let pos = 0; pos + 8 <= buf.length; ) {
    const recBytes = buf.readUInt32LE(pos);
    const top = buf.readUInt32LE(pos + 4) >>> 24;
    let q = pos + 8 + 3; // 08 <type> 10
    const crcStart = q;
    while ((buf[q] as number) & 0x80) q++;
    out.push({ recBytes, crcVarint: q + 1 - crcStart });
    pos += 8 + recBytes + (top & 0x80 ? top & 7 : 0);
  }
  return out;
}
