/**
 * The peer transport's raft streams, in process on loopback: delivery in order between three members,
 * batching under load, the bounded queue, reconnecting after the receiver restarts, close.
 */
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, test } from 'node:test';

import { type Message, MessageType, newMessage } from '../../src/server/raft/raftpb.js';
import { type Member, connectAll, logText, msgApp, startMember, waitFor } from './helpers.js';

const A = 0xa1n;
const B = 0xb2n;
const C = 0xc3n;

/** The `index` of every message `to` received from `from`, in arrival order. */
function indexesFrom(to: Member, from: bigint): number[] {
  return to.rec.received.filter((m) => m.from === from).map((m) => m.index);
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('raft streams', { timeout: 60_000 }, () => {
  test('three members exchange messages, each stream in order, fields intact', async (t) => {
    const a = await startMember(t, { id: A, host: '127.0.0.1' });
    const b = await startMember(t, { id: B, host: '127.0.0.2' });
    const c = await startMember(t, { id: C, host: '127.0.0.3' });
    const all = [a, b, c];
    await connectAll(all);

    for (const x of all) assert.ok(typeof x.transport.activeSince(all.find((y) => y !== x)!.id) === 'number');
    // 300 messages from each member to each other, in sends of 10 (a Ready's worth).
    for (let i = 1; i <= 300; i += 10) {
      for (const x of all) {
        const batch: Message[] = [];
        for (const y of all) if (x !== y) for (let k = i; k < i + 10; k++) batch.push(msgApp(x.id, y.id, k));
        x.transport.send(batch);
      }
      await nextTurn();
    }
    await waitFor(() => all.every((x) => x.rec.received.length === 600), 'every message to arrive');
    for (const x of all) for (const y of all) if (x !== y) assert.deepEqual(indexesFrom(y, x.id), range(1, 300));

    // A message with every field set survives the trip unchanged.
    const rich = newMessage({
      type: MessageType.MsgHeartbeat,
      from: A,
      to: C,
      term: 9,
      logTerm: 8,
      index: 77,
      commit: 70,
      vote: B,
      reject: true,
      rejectHint: 5,
      context: new Uint8Array([1, 2, 3]),
      entries: [msgApp(A, C, 1).entries[0]!],
    });
    a.transport.send([rich]);
    await waitFor(() => c.rec.received.length === 601, 'the rich message');
    assert.deepEqual({ ...c.rec.received[600]!, context: [...c.rec.received[600]!.context!] }, { ...rich, context: [1, 2, 3] });
    for (const x of all) assert.deepEqual(x.reports.unreachable, [], logText(x));
  });

  test('20k messages under load arrive in order, batched, in bounded time', async (t) => {
    const a = await startMember(t, { id: A });
    const b = await startMember(t, { id: B, host: '127.0.0.2' });
    await connectAll([a, b]);
    const total = 20_000;
    const started = performance.now();
    // Ten sends of 10 messages per turn of the event loop, as a busy raft loop would: the first send of a
    // turn starts a write, the other nine wait for it and leave together as the next batch.
    for (let i = 1; i <= total; i += 100) {
      for (let j = i; j < i + 100; j += 10) {
        const batch: Message[] = [];
        for (let k = j; k < j + 10; k++) batch.push(msgApp(A, B, k, 200));
        a.transport.send(batch);
      }
      await nextTurn();
    }
    await waitFor(() => b.rec.received.length === total, `${total} messages`, 20_000);
    const ms = performance.now() - started;
    assert.deepEqual(indexesFrom(b, A), range(1, total));
    const stats = a.transport.stats(B)!;
    assert.equal(stats.sentMessages, total);
    assert.equal(stats.droppedMessages, 0);
    assert.deepEqual(a.reports.unreachable, []);
    assert.ok(stats.sentBatches < total / 10, `expected batching, got ${stats.sentBatches} batches for ${total} messages`);
    t.diagnostic(`${total} MsgApp (200-byte entry) in ${ms.toFixed(0)} ms = ${Math.round((total / ms) * 1000)}/s, ${stats.sentBatches} batches`);
  });

  test('a full queue drops the rest and reports the peer unreachable once per send', async (t) => {
    const a = await startMember(t, { id: A });
    const b = await startMember(t, { id: B, host: '127.0.0.2' });
    await connectAll([a, b]);
    const batch: Message[] = [];
    for (let k = 1; k <= 10_000; k++) batch.push(msgApp(A, B, k, 10));
    a.transport.send(batch); // all in one call: nothing is written before the queue is full
    await waitFor(() => b.rec.received.length === 4096, 'the queued messages');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(indexesFrom(b, A), range(1, 4096), 'the first 4096, in order, and nothing else');
    assert.deepEqual(a.reports.unreachable, [B]);
    assert.equal(a.transport.stats(B)!.droppedMessages, 10_000 - 4096);
    assert.ok(a.logs.some((l) => l.level === 'warn' && /dropped 5904 internal Raft message\(s\) to remote peer b2 since sending buffer is full/.test(l.message)), logText(a));
  });

  test('messages to a peer whose stream is down are dropped and reported; unknown peers are ignored', async (t) => {
    const a = await startMember(t, { id: A });
    a.transport.setPeer(B, ['http://127.0.0.2:1']); // nothing listens there
    assert.equal(a.transport.activeSince(B), undefined);
    a.transport.send([msgApp(A, B, 1), msgApp(A, B, 2), msgApp(A, 0xdeadn, 1)]);
    assert.deepEqual(a.reports.unreachable, [], 'reports never arrive inside send()');
    await waitFor(() => a.reports.unreachable.length > 0, 'the unreachable report');
    assert.deepEqual(a.reports.unreachable, [B]);
    assert.equal(a.transport.stats(B)!.droppedMessages, 2);
    assert.equal(a.transport.stats(0xdeadn), undefined);
  });

  test('reconnects after the receiving member restarts; one log line per state change', async (t) => {
    const a = await startMember(t, { id: A });
    const b1 = await startMember(t, { id: B, host: '127.0.0.2' });
    await connectAll([a, b1]);
    a.transport.send([msgApp(A, B, 1)]);
    await waitFor(() => b1.rec.received.length === 1, 'the first message');

    const port = Number(b1.url.split(':').pop());
    await b1.transport.close();
    await waitFor(() => a.transport.activeSince(B) === undefined, 'the stream to be seen down');
    await waitFor(() => a.reports.connectionLost.length > 0, 'the lost connection to be reported');
    assert.deepEqual(a.reports.connectionLost, [B], 'a working stream that breaks is reported once');
    a.transport.send([msgApp(A, B, 2)]);
    await waitFor(() => a.reports.unreachable.includes(B), 'unreachable while down');
    // Down for a while: several retries happen (100, 200, 400, 800 ms ...), none of them logged.
    await new Promise((r) => setTimeout(r, 1200));

    const b2 = await startMember(t, { id: B, host: '127.0.0.2', port });
    const t0 = Date.now();
    await waitFor(() => a.transport.activeSince(B) !== undefined, 'the stream to come back', 10_000);
    t.diagnostic(`reconnected ${Date.now() - t0} ms after the restart`);
    a.transport.send([msgApp(A, B, 3)]);
    await waitFor(() => b2.rec.received.length === 1, 'a message after the restart');
    assert.equal(b2.rec.received[0]!.index, 3);

    const lines = a.logs.filter((l) => /remote peer b2/.test(l.message) && !/added remote peer/.test(l.message)).map((l) => l.message);
    assert.equal(lines.filter((l) => /^established/.test(l)).length, 2, lines.join('\n'));
    assert.equal(lines.filter((l) => /^lost TCP streaming connection/.test(l)).length, 1, lines.join('\n'));
    assert.ok(lines.filter((l) => /^cannot stream/.test(l)).length <= 2, `retries are not logged one by one:\n${lines.join('\n')}`);
    assert.deepEqual(a.reports.connectionLost, [B], 'failed retries while the peer is down report nothing more');
  });

  test('setPeer with new URLs moves the stream; removePeer stops it', async (t) => {
    const a = await startMember(t, { id: A });
    const b = await startMember(t, { id: B, host: '127.0.0.2' });
    a.transport.setPeer(B, ['http://127.0.0.2:1']);
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(a.transport.activeSince(B), undefined);
    a.transport.setPeer(B, [b.url]);
    await waitFor(() => a.transport.activeSince(B) !== undefined, 'the stream on the new URL');
    a.transport.send([msgApp(A, B, 1)]);
    await waitFor(() => b.rec.received.length === 1, 'delivery on the new URL');
    a.transport.removePeer(B);
    assert.equal(a.transport.activeSince(B), undefined);
    a.transport.send([msgApp(A, B, 2)]);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(b.rec.received.length, 1);
    assert.deepEqual(a.reports.unreachable, [], 'a removed peer is unknown, not unreachable');
    assert.deepEqual(a.reports.connectionLost, [], 'links we move or stop ourselves are not lost connections');
  });

  test('close() resolves promptly with streams up and peers retrying', async (t) => {
    const a = await startMember(t, { id: A });
    const b = await startMember(t, { id: B, host: '127.0.0.2' });
    await connectAll([a, b]);
    a.transport.setPeer(C, ['http://127.0.0.3:1']);
    const t0 = Date.now();
    await a.transport.close();
    await b.transport.close();
    assert.ok(Date.now() - t0 < 1000, `close took ${Date.now() - t0} ms`);
    a.transport.send([msgApp(A, B, 1)]); // after close: a no-op, not a throw
    assert.equal(a.transport.activeSince(B), undefined);
    await assert.rejects(a.transport.call(B, 'x', new Uint8Array(), 100), /transport closed/);
  });
});
