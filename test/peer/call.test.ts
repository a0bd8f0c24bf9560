/**
 * Unary calls between members (round trip, the remote error message carried exactly, deadlines), calls
 * by URL before the ids are known, and the source address of outgoing connections (`localAddress`), seen
 * by a TCP forwarder in front of the receiver as the test suite's fault proxy would see it.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { describe, test } from 'node:test';

import { PeerCallError, PeerUnreachableError, callPeerUrl } from '../../src/server/peer/index.js';
import { GrpcCode } from '../../src/server/peer/wire.js';
import { CLUSTER, type Member, connectAll, logText, msgApp, startMember, waitFor } from './helpers.js';

const A = 0xa1n;
const B = 0xb2n;
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/**
 * A TCP forwarder on 127.0.0.1 to `target`, recording the source address of every connection. With
 * `blackhole` set it keeps every connection open but forwards nothing, as a partition would.
 */
async function forwarder(t: { after: (fn: () => Promise<void>) => void }, target: Member) {
  const [host, port] = [target.url.slice('http://'.length).split(':')[0]!, Number(target.url.split(':').pop())];
  const state = { sources: [] as string[], blackhole: false };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    state.sources.push(inbound.remoteAddress ?? '?');
    const outbound = net.connect({ host, port });
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('error', () => {
        inbound.destroy();
        outbound.destroy();
      });
      s.on('close', () => {
        sockets.delete(s);
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.on('data', (d) => state.blackhole || outbound.write(d));
    outbound.on('data', (d) => state.blackhole || inbound.write(d));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const addr = server.address() as net.AddressInfo;
  return Object.assign(state, { url: `http://127.0.0.1:${addr.port}` });
}

describe('calls and source addresses', { timeout: 60_000 }, () => {
  test('a call round-trips; the handler sees the caller; its error message comes back exactly', async (t) => {
    const a = await startMember(t, { id: A });
    const b = await startMember(t, {
      id: B,
      host: '127.0.0.2',
      handler: {
        call: async (method, payload, from) => {
          if (method === 'fail') throw new Error(`etcdserver: member not found (asked by ${from.toString(16)}: ${dec(payload)})`);
          if (method === 'slow') return new Promise(() => {});
          return enc(`${method}/${dec(payload)}/${from.toString(16)}`);
        },
      },
    });
    a.transport.setPeer(B, [b.url]);
    // A call does not wait for the raft stream; it dials on its own if needed.
    const out = await a.transport.call(B, 'lease-renew', enc('42'), 2000);
    assert.equal(dec(out), 'lease-renew/42/a1');
    assert.equal(Object.getPrototypeOf(b.rec.calls[0]!.payload), Uint8Array.prototype, 'the handler gets a plain Uint8Array');

    const big = 'x'.repeat(3 * 1024 * 1024);
    assert.equal(dec(await a.transport.call(B, 'echo', enc(big), 5000)).length, `echo/${big}/a1`.length);

    await assert.rejects(a.transport.call(B, 'fail', enc('ünïcode %20 100%'), 2000), (err: unknown) => {
      assert.ok(err instanceof PeerCallError, String(err));
      assert.equal(err.message, 'etcdserver: member not found (asked by a1: ünïcode %20 100%)');
      assert.equal(err.grpcCode, GrpcCode.UNKNOWN);
      return true;
    });

    const t0 = Date.now();
    await assert.rejects(a.transport.call(B, 'slow', enc(''), 300), (err: unknown) => {
      assert.ok(err instanceof PeerUnreachableError, String(err));
      assert.match(err.message, /^peer: cannot reach remote peer b2 \(http:\/\/127\.0\.0\.2:\d+\): deadline exceeded after 300 ms$/);
      return true;
    });
    assert.ok(Date.now() - t0 < 1500);

    await assert.rejects(a.transport.call(0x99n, 'x', enc(''), 300), { message: 'peer: unknown remote peer 99' });
    // Calls in both directions, while the raft streams run.
    b.transport.setPeer(A, [a.url]);
    await connectAll([a, b]);
    assert.equal(dec(await b.transport.call(A, 'm', enc('p'), 2000)), 'm:p:b2');
  });

  test('a call to a peer that refuses connections fails as unreachable', async (t) => {
    const a = await startMember(t, { id: A });
    a.transport.setPeer(B, ['http://127.0.0.2:1']);
    await assert.rejects(a.transport.call(B, 'x', enc(''), 1000), (err: unknown) => {
      assert.ok(err instanceof PeerUnreachableError);
      assert.match(err.message, /ECONNREFUSED/);
      return true;
    });
    await assert.rejects(callPeerUrl('http://127.0.0.2:1', 'x', enc(''), { clusterId: 0n, memberId: 0n, timeoutMs: 1000 }), PeerUnreachableError);
    await assert.rejects(callPeerUrl('https://127.0.0.2:1', 'x', enc(''), { clusterId: 0n, memberId: 0n, timeoutMs: 1000 }), /an https peer URL needs --peer-cert-file and --peer-key-file \(or --peer-auto-tls\)/);
  });

  test('a peer that stops answering is noticed by keepalive; the stream comes back when it answers again', async (t) => {
    const a = await startMember(t, { id: A });
    const b = await startMember(t, { id: B, host: '127.0.0.2' });
    const fwd = await forwarder(t, b);
    a.transport.setPeer(B, [fwd.url]);
    await waitFor(() => a.transport.activeSince(B) !== undefined, 'the stream through the forwarder');

    fwd.blackhole = true;
    const t0 = Date.now();
    await waitFor(() => a.transport.activeSince(B) === undefined, 'the partition to be noticed', 10_000);
    const noticed = Date.now() - t0;
    t.diagnostic(`partition noticed after ${noticed} ms`);
    assert.ok(noticed >= 4000, `not before the 5 s keepalive timeout (${noticed} ms)`);
    assert.ok(a.logs.some((l) => /^lost TCP streaming connection with remote peer b2 .*: no answer to a keepalive ping for 5000 ms$/.test(l.message)), logText(a));
    // A call into the partition fails within its own deadline.
    await assert.rejects(a.transport.call(B, 'x', enc(''), 300), /deadline exceeded after 300 ms/);

    fwd.blackhole = false;
    await waitFor(() => a.transport.activeSince(B) !== undefined, 'the stream after the partition', 10_000);
    a.transport.send([msgApp(A, B, 7)]);
    await waitFor(() => b.rec.received.some((m) => m.index === 7), 'delivery after the partition');
  });

  test('outgoing connections bind localAddress: the receiver side sees 127.0.0.2', async (t) => {
    const b = await startMember(t, { id: B, host: '127.0.0.3' });
    const a = await startMember(t, { id: A, host: '127.0.0.2', localAddress: '127.0.0.2' });
    const plain = await startMember(t, { id: 0xc3n, host: '127.0.0.1' });
    const fwd = await forwarder(t, b);

    // The raft stream and a call (one connection) and a snapshot would each dial; all from 127.0.0.2.
    a.transport.setPeer(B, [fwd.url]);
    await waitFor(() => a.transport.activeSince(B) !== undefined, 'the stream through the forwarder');
    a.transport.send([msgApp(A, B, 1)]);
    await waitFor(() => b.rec.received.length === 1, 'delivery through the forwarder');
    assert.equal(dec(await callPeerUrl(fwd.url, 'who', enc(''), { clusterId: CLUSTER, memberId: A, dial: { localAddress: '127.0.0.2' }, timeoutMs: 2000 })), 'who::a1');
    assert.ok(fwd.sources.length >= 2);
    assert.deepEqual([...new Set(fwd.sources)], ['127.0.0.2']);

    // Without localAddress the kernel picks the source: 127.0.0.1 toward 127.0.0.1.
    plain.transport.setPeer(B, [fwd.url]);
    await waitFor(() => plain.transport.activeSince(B) !== undefined, 'the plain stream');
    assert.ok(fwd.sources.includes('127.0.0.1'), fwd.sources.join(','));
  });
});
