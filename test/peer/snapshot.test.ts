/**
 * Snapshot streaming: a MsgSnap with a backend file of a few MiB arrives whole and checksum-verified;
 * short files, corrupted or truncated streams and a node that refuses the file all fail, leave no file
 * behind, and are reported; the payload is released exactly once either way.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';

import { encodeMessage } from '../../src/server/raft/codec.js';
import { type Message, MessageType, newMessage } from '../../src/server/raft/raftpb.js';
import { GrpcCall, connectPeer, parsePeerUrl, writeFrame } from '../../src/server/peer/grpc-client.js';
import type { SnapshotPayload } from '../../src/server/peer/index.js';
import {
  FrameWriter,
  GrpcCode,
  HEADER_CLUSTER_ID,
  HEADER_FROM,
  HEADER_TO,
  SNAPSHOT_PATH,
  lenFieldSize,
  snapshotHeaderFrame,
  snapshotSha256Frame,
} from '../../src/server/peer/wire.js';
import { CLUSTER, type Member, connectAll, logText, startMember, tempDir, waitFor } from './helpers.js';

const A = 0xa1n;
const B = 0xb2n;

function msgSnap(index: number): Message {
  return newMessage({
    type: MessageType.MsgSnap,
    from: A,
    to: B,
    term: 4,
    snapshot: {
      data: new Uint8Array([7, 7, 7]),
      metadata: { index, term: 4, confState: { voters: [A, B], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } },
    },
  });
}

/** A file of `size` random bytes and a payload for it that counts its releases. */
function payloadFile(t: { after: (fn: () => void) => void }, size: number, announced = size) {
  const dir = tempDir('kvctl-peer-snapsrc-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'db');
  const content = randomBytes(size);
  fs.writeFileSync(file, content);
  const p = { releases: 0, content };
  const payload: SnapshotPayload = { path: file, size: announced, release: () => void p.releases++ };
  return { p, payload };
}

/** Files left in a receive directory (none may remain after a failure). */
const filesIn = (m: Member) => (fs.existsSync(m.receiveDir) ? fs.readdirSync(m.receiveDir) : []);

/** Streams hand-made Snapshot chunks to `m` and returns the status it answers. */
async function rawSnapshot(m: Member, frames: Buffer[], endStream = true) {
  const session = connectPeer(parsePeerUrl(m.url), {});
  try {
    const md = { [HEADER_CLUSTER_ID]: CLUSTER.toString(16), [HEADER_FROM]: 'a1', [HEADER_TO]: 'b2' };
    const call = new GrpcCall(session, SNAPSHOT_PATH, md, { timeoutMs: 5000 });
    for (const f of frames) await writeFrame(call, f);
    if (endStream) call.end();
    else {
      await new Promise((r) => setTimeout(r, 50));
      call.cancel(GrpcCode.CANCELLED, 'sender gave up');
    }
    return await call.done;
  } finally {
    session.destroy();
  }
}

function dataFrame(data: Uint8Array): Buffer {
  const w = new FrameWriter(lenFieldSize(data.length));
  w.bytes(2, data);
  return w.finish();
}

describe('snapshots', { timeout: 60_000 }, () => {
  test('a 5 MiB snapshot arrives whole, verified, under its final name; success reported', async (t) => {
    const a = await startMember(t, { id: A });
    const b = await startMember(t, { id: B, host: '127.0.0.2' });
    await connectAll([a, b]);
    const size = 5 * 1024 * 1024 + 123;
    const { p, payload } = payloadFile(t, size);
    const t0 = performance.now();
    a.transport.sendSnapshot(msgSnap(0x2a), payload);
    await waitFor(() => a.reports.snapshotStatus.length === 1, 'the snapshot status', 20_000);
    t.diagnostic(`${size} bytes in ${(performance.now() - t0).toFixed(0)} ms`);
    assert.deepEqual(a.reports.snapshotStatus, [[B, true]], logText(a));
    assert.equal(p.releases, 1);
    assert.equal(b.rec.snapshots.length, 1);
    const got = b.rec.snapshots[0]!;
    assert.equal(path.basename(got.path), '000000000000002a.snap.db');
    assert.equal(path.dirname(got.path), b.receiveDir);
    assert.equal(createHash('sha256').update(got.content).digest('hex'), createHash('sha256').update(p.content).digest('hex'));
    assert.equal(got.m.type, MessageType.MsgSnap);
    assert.equal(got.m.snapshot?.metadata.index, 0x2a);
    assert.deepEqual([...got.m.snapshot!.metadata.confState.voters], [A, B]);
    assert.deepEqual(filesIn(b), [], 'the handler took the file; no temporary file is left');
    assert.equal(b.rec.received.length, 0, 'a MsgSnap never goes through process()');
  });

  test('temporary files a crashed receiver left are removed at listen; other files are kept', async (t) => {
    const dir = path.join(tempDir(), 'snap');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, '0000000000000007.snap.db.part-123-1'), 'half');
    fs.writeFileSync(path.join(dir, '0000000000000006.snap.db'), 'the node has not taken this one yet');
    const b = await startMember(t, { id: B, receiveDir: dir });
    assert.deepEqual(fs.readdirSync(dir), ['0000000000000006.snap.db']);
    assert.ok(b.logs.some((l) => l.level === 'warn' && l.message.includes('0000000000000007.snap.db.part-123-1')), logText(b));
  });

  test('an empty file is a valid snapshot', async (t) => {
    const a = await startMember(t, { id: A });
    const b = await startMember(t, { id: B, host: '127.0.0.2' });
    await connectAll([a, b]);
    const { p, payload } = payloadFile(t, 0);
    a.transport.sendSnapshot(msgSnap(3), payload);
    await waitFor(() => a.reports.snapshotStatus.length === 1, 'the snapshot status');
    assert.deepEqual(a.reports.snapshotStatus, [[B, true]]);
    assert.equal(p.releases, 1);
    assert.equal(b.rec.snapshots[0]!.content.length, 0);
  });

  test('a file shorter than announced fails on both sides and leaves nothing behind', async (t) => {
    const a = await startMember(t, { id: A });
    const b = await startMember(t, { id: B, host: '127.0.0.2' });
    await connectAll([a, b]);
    const { p, payload } = payloadFile(t, 3 * 1024 * 1024, 3 * 1024 * 1024 + 10);
    a.transport.sendSnapshot(msgSnap(5), payload);
    await waitFor(() => a.reports.snapshotStatus.length === 1, 'the snapshot status');
    assert.deepEqual(a.reports.snapshotStatus, [[B, false]]);
    assert.equal(p.releases, 1);
    assert.ok(a.logs.some((l) => /failed to send database snapshot to remote peer b2: snapshot file .* ends at 3145728 bytes, before its announced 3145738/.test(l.message)), logText(a));
    await waitFor(() => b.logs.some((l) => /failed to receive database snapshot from remote peer a1/.test(l.message)), 'the receiver to give up');
    assert.equal(b.rec.snapshots.length, 0);
    assert.deepEqual(filesIn(b), []);
  });

  test('corrupted, oversized, truncated and cancelled streams are refused; no file is left', async (t) => {
    const b = await startMember(t, { id: B, host: '127.0.0.2' });
    const data = randomBytes(300_000);
    const header = snapshotHeaderFrame(encodeMessage(msgSnap(9)), data.length);
    const sha = createHash('sha256').update(data).digest();
    const bad = Buffer.from(sha);
    bad[0]! ^= 1;

    const corrupted = await rawSnapshot(b, [header, dataFrame(data), snapshotSha256Frame(bad)]);
    assert.deepEqual(corrupted, { code: GrpcCode.DATA_LOSS, message: 'snapshot checksum mismatch', fromPeer: true });

    const flipped = Buffer.from(data);
    flipped[1000]! ^= 0x40;
    const changed = await rawSnapshot(b, [header, dataFrame(flipped), snapshotSha256Frame(sha)]);
    assert.equal(changed.message, 'snapshot checksum mismatch');

    const noChecksum = await rawSnapshot(b, [header, dataFrame(data)]);
    assert.deepEqual([noChecksum.code, noChecksum.message], [GrpcCode.DATA_LOSS, 'snapshot stream ended without its checksum']);

    const short = await rawSnapshot(b, [header, dataFrame(data.subarray(1)), snapshotSha256Frame(sha)]);
    assert.equal(short.message, `snapshot size mismatch: received ${data.length - 1} bytes, announced ${data.length}`);

    const oversized = await rawSnapshot(b, [header, dataFrame(data), dataFrame(data.subarray(0, 1))]);
    assert.equal(oversized.message, `snapshot is larger than its announced ${data.length} bytes`);

    const noHeader = await rawSnapshot(b, [dataFrame(data)]);
    assert.equal(noHeader.message, 'snapshot stream does not start with its header');

    const notSnap = await rawSnapshot(b, [snapshotHeaderFrame(encodeMessage(newMessage({ type: MessageType.MsgApp, from: A, to: B })), 0)]);
    assert.equal(notSnap.message, 'wrong raft message type');
    const bare = await rawSnapshot(b, [snapshotHeaderFrame(encodeMessage(newMessage({ type: MessageType.MsgSnap, from: A, to: B })), 0)]);
    assert.equal(bare.message, 'MsgSnap without a snapshot');

    const cancelled = await rawSnapshot(b, [header, dataFrame(data.subarray(0, 1000))], false);
    assert.equal(cancelled.fromPeer, false);
    await waitFor(() => filesIn(b).length === 0, 'the cancelled stream’s temporary file to go');

    assert.equal(b.rec.snapshots.length, 0);
    assert.deepEqual(filesIn(b), []);
    // The good stream, for contrast, is accepted.
    const ok = await rawSnapshot(b, [header, dataFrame(data), snapshotSha256Frame(sha)]);
    assert.deepEqual(ok, { code: GrpcCode.OK, message: 'OK', fromPeer: true });
    assert.equal(b.rec.snapshots.length, 1);
  });

  test('a node that refuses the file: failure reported, the file deleted', async (t) => {
    const a = await startMember(t, { id: A });
    const b = await startMember(t, { id: B, host: '127.0.0.2', handler: { receiveSnapshot: async () => Promise.reject(new Error('no space left')) } });
    await connectAll([a, b]);
    const { p, payload } = payloadFile(t, 100_000);
    a.transport.sendSnapshot(msgSnap(6), payload);
    await waitFor(() => a.reports.snapshotStatus.length === 1, 'the snapshot status');
    assert.deepEqual(a.reports.snapshotStatus, [[B, false]]);
    assert.equal(p.releases, 1);
    assert.ok(a.logs.some((l) => l.message.endsWith('peer answered failed to process raft message (no space left)')), logText(a));
    assert.deepEqual(filesIn(b), []);
  });

  test('success is reported only after the node has taken the file', async (t) => {
    let take!: () => void;
    const taken = new Promise<void>((r) => (take = r));
    const a = await startMember(t, { id: A });
    const b = await startMember(t, { id: B, host: '127.0.0.2', handler: { receiveSnapshot: async (_m, p) => { await taken; fs.unlinkSync(p); } } });
    await connectAll([a, b]);
    const { payload } = payloadFile(t, 10_000);
    a.transport.sendSnapshot(msgSnap(8), payload);
    await waitFor(() => filesIn(b).includes('0000000000000008.snap.db'), 'the file in the receive directory');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(a.reports.snapshotStatus, [], 'nothing reported while the node holds the file');
    take();
    await waitFor(() => a.reports.snapshotStatus.length === 1, 'the snapshot status');
    assert.deepEqual(a.reports.snapshotStatus, [[B, true]]);
  });

  test('to an unknown or refusing peer: failure reported, payload released', async (t) => {
    const a = await startMember(t, { id: A });
    const { p, payload } = payloadFile(t, 10);
    a.transport.sendSnapshot(msgSnap(1), payload);
    assert.equal(p.releases, 1);
    await waitFor(() => a.reports.snapshotStatus.length === 1, 'the snapshot status');
    assert.deepEqual(a.reports.snapshotStatus, [[B, false]]);

    const other = await startMember(t, { id: B, host: '127.0.0.2', cluster: 0x2222n });
    a.transport.setPeer(B, [other.url]);
    const second = payloadFile(t, 1000);
    a.transport.sendSnapshot(msgSnap(2), second.payload);
    await waitFor(() => a.reports.snapshotStatus.length === 2, 'the second status');
    assert.deepEqual(a.reports.snapshotStatus[1], [B, false]);
    assert.ok(a.reports.unreachable.includes(B), 'unreachable reported with the failure, as etcd does');
    assert.equal(second.p.releases, 1);
    assert.ok(a.logs.some((l) => l.message.endsWith('peer answered request cluster ID mismatch')), logText(a));
    assert.deepEqual(filesIn(other), []);
  });

  test('close() with a snapshot in flight releases its payload and reports nothing', async (t) => {
    const a = await startMember(t, { id: A });
    const b = await startMember(t, { id: B, host: '127.0.0.2', handler: { receiveSnapshot: () => new Promise(() => {}) } });
    await connectAll([a, b]);
    const { p, payload } = payloadFile(t, 200_000);
    a.transport.sendSnapshot(msgSnap(4), payload);
    await waitFor(() => filesIn(b).length === 1, 'the file to arrive (the node never takes it)');
    const t0 = Date.now();
    await a.transport.close();
    assert.ok(Date.now() - t0 < 1000);
    assert.equal(p.releases, 1);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(a.reports.snapshotStatus, []);
    assert.equal(p.releases, 1);
  });
});
