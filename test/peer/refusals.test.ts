/**
 * Who a member refuses, with which message: another cluster, a removed member (at connect time and when
 * removed while its stream is up), a stream meant for another member, unknown ids outside Call.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { encodeMessage } from '../../src/server/raft/codec.js';
import { GrpcCall, connectPeer, parsePeerUrl } from '../../src/server/peer/grpc-client.js';
import { PeerCallError, callPeerUrl, refusal } from '../../src/server/peer/index.js';
import { FrameWriter, GrpcCode, HEADER_CLUSTER_ID, HEADER_FROM, HEADER_TO, RAFT_PATH, lenFieldSize } from '../../src/server/peer/wire.js';
import { CLUSTER, type Member, connectAll, logText, msgApp, startMember, waitFor } from './helpers.js';

const A = 0xa1n;
const B = 0xb2n;

/** Opens a raw Raft stream to `m` with the given metadata, sends one message, and returns the status. */
async function rawRaftStream(m: Member, md: Record<string, string>) {
  const session = connectPeer(parsePeerUrl(m.url), {});
  try {
    const call = new GrpcCall(session, RAFT_PATH, md, { timeoutMs: 5000 });
    const enc = encodeMessage(msgApp(A, B, 1));
    const w = new FrameWriter(lenFieldSize(enc.length));
    w.bytes(1, enc);
    call.write(w.finish(), () => {});
    call.end();
    return await call.done;
  } finally {
    session.destroy();
  }
}

describe('refusals', { timeout: 60_000 }, () => {
  test('another cluster: refused with "request cluster ID mismatch", nothing delivered', async (t) => {
    const a = await startMember(t, { id: A, cluster: 0x1111n });
    const b = await startMember(t, { id: B, host: '127.0.0.2' });
    a.transport.setPeer(B, [b.url]);
    await waitFor(() => a.logs.some((l) => l.message.includes(refusal.clusterIdMismatch)), 'the refusal in the sender log');
    assert.equal(a.transport.activeSince(B), undefined);
    a.transport.send([msgApp(A, B, 1)]);
    await waitFor(() => a.reports.unreachable.length === 1, 'unreachable');
    await assert.rejects(a.transport.call(B, 'm', new Uint8Array(), 2000), (err: unknown) => {
      assert.ok(err instanceof PeerCallError);
      assert.equal(err.message, 'request cluster ID mismatch');
      assert.equal(err.grpcCode, GrpcCode.FAILED_PRECONDITION);
      return true;
    });
    assert.equal(b.rec.received.length, 0);
    assert.equal(b.rec.calls.length, 0);
    assert.ok(b.logs.some((l) => l.level === 'warn' && /^request cluster ID mismatch: local member b2 is in cluster c1a55e5, remote peer a1 sent cluster ID 1111$/.test(l.message)), logText(b));
    assert.ok(a.logs.some((l) => /cannot stream to remote peer b2 at .*: peer answered request cluster ID mismatch; retrying with backoff/.test(l.message)), logText(a));

    // Straight at the wire: the status code and message.
    const st = await rawRaftStream(b, { [HEADER_CLUSTER_ID]: '1111', [HEADER_FROM]: 'a1', [HEADER_TO]: 'b2' });
    assert.deepEqual(st, { code: GrpcCode.FAILED_PRECONDITION, message: 'request cluster ID mismatch', fromPeer: true });
    assert.equal(b.rec.received.length, 0);
  });

  test('a removed member is refused and told so; it reports removedFromCluster once', async (t) => {
    const a = await startMember(t, { id: A });
    const b = await startMember(t, { id: B, host: '127.0.0.2' });
    b.rec.removed.add(A);
    a.transport.setPeer(B, [b.url]);
    await waitFor(() => a.reports.removedBy.length > 0, 'the removal report');
    await new Promise((r) => setTimeout(r, 400)); // retries happen; the report does not repeat
    assert.deepEqual(a.reports.removedBy, [B]);
    assert.equal(b.rec.received.length, 0);
    assert.ok(a.logs.some((l) => l.level === 'error' && l.message === 'remote peer b2 says: the member has been permanently removed from the cluster'), logText(a));
    assert.ok(b.logs.some((l) => l.message === 'rejected raft request from remote peer a1 because it was removed'), logText(b));
    await assert.rejects(a.transport.call(B, 'm', new Uint8Array(), 2000), { message: refusal.memberRemoved });
  });

  test('a member removed while its stream is up: its stream is ended and it learns why', async (t) => {
    const a = await startMember(t, { id: A });
    const b = await startMember(t, { id: B, host: '127.0.0.2' });
    await connectAll([a, b]);
    a.transport.send([msgApp(A, B, 1)]);
    await waitFor(() => b.rec.received.length === 1, 'delivery before the removal');
    b.rec.removed.add(A);
    b.transport.removePeer(A);
    await waitFor(() => a.reports.removedBy.length === 1, 'the removal report');
    assert.deepEqual(a.reports.removedBy, [B]);
    assert.equal(a.transport.activeSince(B), undefined);
  });

  test('a stream meant for another member is refused with "to field mismatch"', async (t) => {
    const a = await startMember(t, { id: A });
    const b = await startMember(t, { id: B, host: '127.0.0.2' });
    const C = 0xc3n;
    a.transport.setPeer(C, [b.url]); // a stale URL: b now listens where c used to
    await waitFor(() => a.logs.some((l) => l.message.includes(refusal.toMismatch)), 'the refusal');
    assert.equal(a.transport.activeSince(C), undefined);
    assert.ok(b.logs.some((l) => l.message === 'ignored raft request from remote peer a1 for member c3: this is member b2'), logText(b));
    await assert.rejects(a.transport.call(C, 'm', new Uint8Array(), 2000), { message: 'to field mismatch' });
    assert.equal(b.rec.calls.length, 0);
  });

  test('unknown ids (0) are accepted for Call only', async (t) => {
    const b = await startMember(t, { id: B, host: '127.0.0.2' });
    // A joining member: neither cluster nor member id known yet.
    const out = await callPeerUrl(b.url, 'members', new TextEncoder().encode('hi'), { clusterId: 0n, memberId: 0n, timeoutMs: 2000 });
    assert.equal(new TextDecoder().decode(out), 'members:hi:0');
    assert.deepEqual(b.rec.calls.map((c) => c.from), [0n]);

    const noCluster = await rawRaftStream(b, { [HEADER_CLUSTER_ID]: '0', [HEADER_FROM]: 'a1', [HEADER_TO]: 'b2' });
    assert.equal(noCluster.message, refusal.clusterIdMismatch);
    const noSender = await rawRaftStream(b, { [HEADER_CLUSTER_ID]: CLUSTER.toString(16), [HEADER_FROM]: '0', [HEADER_TO]: 'b2' });
    assert.deepEqual([noSender.code, noSender.message], [GrpcCode.INVALID_ARGUMENT, 'invalid from']);
    const noTarget = await rawRaftStream(b, { [HEADER_CLUSTER_ID]: CLUSTER.toString(16), [HEADER_FROM]: 'a1', [HEADER_TO]: '0' });
    assert.equal(noTarget.message, refusal.toMismatch);
    const garbage = await rawRaftStream(b, { [HEADER_CLUSTER_ID]: 'not-hex', [HEADER_FROM]: 'a1', [HEADER_TO]: 'b2' });
    assert.equal(garbage.message, refusal.clusterIdMismatch);
    assert.equal(b.rec.received.length, 0);

    // The same metadata that is refused above, with the right ids, is accepted and delivers.
    const ok = await rawRaftStream(b, { [HEADER_CLUSTER_ID]: CLUSTER.toString(16), [HEADER_FROM]: 'a1', [HEADER_TO]: 'b2' });
    assert.deepEqual(ok, { code: GrpcCode.OK, message: 'OK', fromPeer: true });
    assert.equal(b.rec.received.length, 1);

    // A known but wrong cluster id is refused for Call too.
    await assert.rejects(
      callPeerUrl(b.url, 'members', new Uint8Array(), { clusterId: 0x1111n, memberId: 0n, timeoutMs: 2000 }),
      { message: 'request cluster ID mismatch' },
    );
  });
});
