// The fault-injecting proxy, on loopback only: a target server on 127.0.0.1, the proxy on 127.0.0.2, clients whose
// source address is bound to 127.0.0.3 or 127.0.0.4 so that faults can tell them apart.
import assert from 'node:assert/strict';
import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';
import { after, afterEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { type FaultProxy, httpHeaderSource, startFaultProxy } from '../support/fault-proxy.js';
import { waitFor } from '../support/wait.js';

const TARGET_HOST = '127.0.0.1';
const PROXY_HOST = '127.0.0.2';
const A = '127.0.0.3';
const B = '127.0.0.4';

type Target = { server: Server; port: number; accepted: number; sockets: Set<Socket> };

/** An echo server that counts the connections it accepts. */
async function startEchoTarget(): Promise<Target> {
  const t: Target = { server: createServer(), port: 0, accepted: 0, sockets: new Set() };
  t.server.on('connection', (s) => {
    t.accepted++;
    t.sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => t.sockets.delete(s));
    s.pipe(s);
  });
  await new Promise<void>((resolve) => t.server.listen(0, TARGET_HOST, resolve));
  t.port = (t.server.address() as AddressInfo).port;
  return t;
}

async function stopTarget(t: Target): Promise<void> {
  for (const s of t.sockets) s.destroy();
  await new Promise<void>((resolve) => t.server.close(() => resolve()));
}

/** A client connection from `from` with a record of what it received and how it ended. */
type Client = { socket: Socket; received: () => string; ended: Promise<'end' | 'reset' | 'error' | 'close'> };

async function dial(proxy: FaultProxy, from: string): Promise<Client> {
  const socket = connect({ host: proxy.host, port: proxy.port, localAddress: from });
  let data = '';
  socket.on('data', (d: Buffer) => (data += d.toString()));
  const ended = new Promise<'end' | 'reset' | 'error' | 'close'>((resolve) => {
    socket.once('end', () => resolve('end'));
    socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNRESET' ? 'reset' : 'error'));
    socket.once('close', () => resolve('close'));
  });
  // A proxy that resets at once may fail the connect itself: that shows in `ended`.
  await Promise.race([new Promise((resolve) => socket.once('connect', resolve)), ended]);
  return { socket, received: () => data, ended };
}

/** Waits until `cond` holds (polling every 5 ms), failing after `ms`. */
async function until(cond: () => boolean, ms = 2000, what = 'condition'): Promise<void> {
  await waitFor(cond, { timeoutMs: ms, intervalMs: 5, what });
}

/** Resolves with 'timeout' if `p` has not settled within `ms`. */
function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  return Promise.race([p, sleep(ms).then(() => 'timeout' as const)]);
}

describe('fault proxy', { timeout: 30_000 }, () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()?.();
  });
  after(async () => {
    while (cleanups.length > 0) await cleanups.pop()?.();
  });

  async function setup(opts: { identify?: ReturnType<typeof httpHeaderSource> } = {}) {
    const target = await startEchoTarget();
    cleanups.push(() => stopTarget(target));
    const proxy = await startFaultProxy({ listenHost: PROXY_HOST, targetHost: TARGET_HOST, targetPort: target.port, ...opts });
    cleanups.push(() => proxy.close());
    const clients: Client[] = [];
    cleanups.push(() => clients.forEach((c) => c.socket.destroy()));
    const open = async (from: string) => {
      const c = await dial(proxy, from);
      clients.push(c);
      return c;
    };
    return { target, proxy, open };
  }

  test('forwards both ways, keeps large transfers intact and passes a half-close on', async () => {
    const { proxy, open, target } = await setup();
    assert.equal(proxy.url, `http://${PROXY_HOST}:${proxy.port}`);
    assert.equal(proxy.target, `${TARGET_HOST}:${target.port}`);
    const c = await open(A);
    c.socket.write('hello');
    await until(() => c.received() === 'hello');
    const big = Buffer.alloc(2 * 1024 * 1024, 'x');
    big.write('start');
    big.write('end', big.length - 3);
    c.socket.end(big);
    assert.equal(await within(c.ended, 5000), 'end');
    assert.equal(c.received().length, 5 + big.length);
    assert.ok(c.received().endsWith('end'));
    const stats = proxy.stats();
    assert.equal(stats.accepted, 1);
    assert.equal(stats.bytesUp, 5 + big.length);
    assert.equal(stats.bytesDown, 5 + big.length);
    assert.deepEqual(stats.bySource[A], { accepted: 1, active: stats.active });
    await until(() => proxy.stats().active === 0, 2000, 'the link to close');
  });

  test('a client that sends and half-closes at once still gets its answer', async () => {
    const { open } = await setup({ identify: httpHeaderSource('X-Server-From') });
    const c = await open(A);
    c.socket.end('GET / HTTP/1.1\r\nX-Server-From: 1\r\n\r\n');
    assert.equal(await within(c.ended, 2000), 'end');
    assert.match(c.received(), /^GET \/ HTTP/);
  });

  test("block(source, 'drop') blackholes that source's connections, old and new; unblock resets them", async () => {
    const { proxy, open, target } = await setup();
    const a = await open(A);
    const b = await open(B);
    a.socket.write('1');
    b.socket.write('1');
    await until(() => a.received() === '1' && b.received() === '1');

    proxy.block(A, 'drop');
    assert.equal(proxy.isBlocked(A), true);
    assert.equal(proxy.isBlocked(B), false);
    a.socket.write('2');
    b.socket.write('2');
    await until(() => b.received() === '12');
    const a2 = await open(A); // accepted by the proxy, but it never reaches the target
    a2.socket.write('x');
    await sleep(150);
    assert.equal(a.received(), '1', 'nothing crosses the partition');
    assert.equal(a2.received(), '');
    assert.equal(target.accepted, 2);
    assert.equal(await within(a.ended, 10), 'timeout', 'a blackholed connection hangs, it is not closed');
    assert.equal(proxy.stats().blackholed, 2);
    assert.ok(proxy.stats().bytesDiscarded >= 2);

    proxy.unblock(A);
    assert.equal(await within(a.ended, 2000), 'reset');
    assert.equal(await within(a2.ended, 2000), 'reset');
    const a3 = await open(A);
    a3.socket.write('back');
    await until(() => a3.received() === 'back');
    b.socket.write('3');
    await until(() => b.received() === '123', 2000, 'B untouched throughout');
  });

  test("block(source, 'reset') resets that source's connections and every new one", async () => {
    const { proxy, open, target } = await setup();
    const a = await open(A);
    const b = await open(B);
    proxy.block(A, 'reset');
    assert.equal(await within(a.ended, 2000), 'reset');
    const a2 = await open(A);
    assert.equal(await within(a2.ended, 2000), 'reset');
    b.socket.write('ok');
    await until(() => b.received() === 'ok');
    assert.equal(target.accepted, 2);
    assert.equal(proxy.stats().refused, 1);
    proxy.unblock();
    const a3 = await open(A);
    a3.socket.write('ok');
    await until(() => a3.received() === 'ok');
  });

  test('block() without a source cuts every connection; a source rule and the all-sources rule combine', async () => {
    const { proxy, open } = await setup();
    const a = await open(A);
    const b = await open(B);
    proxy.block();
    a.socket.write('x');
    b.socket.write('x');
    await sleep(100);
    assert.equal(a.received() + b.received(), '');
    proxy.block(B, 'reset'); // B's own rule decides its mode: existing blackholed B links are not touched again
    const b2 = await open(B);
    assert.equal(await within(b2.ended, 2000), 'reset');
    proxy.unblock(); // heals everything, and the blackholed links are reset
    assert.equal(await within(a.ended, 2000), 'reset');
    const a2 = await open(A);
    a2.socket.write('y');
    await until(() => a2.received() === 'y');
  });

  test('delay(ms) delays each direction and keeps the order', async () => {
    const { proxy, open } = await setup();
    const a = await open(A);
    const b = await open(B);
    proxy.delay(100, A);
    const started = Date.now();
    for (let i = 0; i < 10; i++) a.socket.write(String(i));
    b.socket.write('fast');
    await until(() => b.received() === 'fast');
    // Order, not a time bound, shows B was not delayed: A's echo (two 100 ms hops) had not come back yet.
    assert.equal(a.received(), '', 'the undelayed source overtook the delayed one');
    await until(() => a.received() === '0123456789', 3000);
    const slowMs = Date.now() - started;
    assert.ok(slowMs >= 195, `two delayed hops took only ${slowMs} ms`);
    proxy.delay(0, A);
    const t0 = Date.now();
    a.socket.write('!');
    await until(() => a.received().endsWith('!'));
    // Below what the two delayed hops took (a loaded machine may still take tens of milliseconds).
    assert.ok(Date.now() - t0 < 195, `after delay(0) the echo took ${Date.now() - t0} ms`);
  });

  test('dropAfter(bytes) cuts a connection once it has forwarded that many bytes', async () => {
    const { proxy, open } = await setup();
    proxy.dropAfter(10, { source: A, mode: 'reset' });
    const a = await open(A);
    a.socket.write('12345'); // 5 up + 5 echoed down = 10: cut
    assert.equal(await within(a.ended, 2000), 'reset');
    const b = await open(B);
    b.socket.write('1234567890abcdef');
    await until(() => b.received() === '1234567890abcdef');
    proxy.dropAfter(null, { source: A });
    const a2 = await open(A);
    a2.socket.write('1234567890abcdef');
    await until(() => a2.received() === '1234567890abcdef');
  });

  test('cutAll resets the current connections once; new ones go through', async () => {
    const { proxy, open } = await setup();
    const a = await open(A);
    const b = await open(B);
    a.socket.write('.');
    b.socket.write('.');
    await until(() => a.received() === '.' && b.received() === '.');
    assert.equal(proxy.cutAll({ source: B }), 1);
    assert.equal(await within(b.ended, 2000), 'reset');
    assert.equal(proxy.cutAll(), 1);
    assert.equal(await within(a.ended, 2000), 'reset');
    const c = await open(A);
    c.socket.write('new');
    await until(() => c.received() === 'new');
  });

  test('a connection to a target that is down is reset', async () => {
    const { proxy, open, target } = await setup();
    await stopTarget(target);
    const a = await open(A);
    assert.equal(await within(a.ended, 2000), 'reset');
    assert.equal(proxy.stats().resets, 1);
  });

  test('httpHeaderSource names the source from a request header, falling back to the address', async () => {
    const { proxy, open, target } = await setup({ identify: httpHeaderSource('X-Server-From') });
    const request = (from: string) => `GET /raft/stream/message/${from} HTTP/1.1\r\nHost: x\r\nX-Server-From: ${from}\r\n\r\n`;
    const m1 = await open(A);
    m1.socket.write(request('8e9e05c52164694d'));
    const m2 = await open(A);
    m2.socket.write(request('91bc3c398fb3c146'));
    const anon = await open(A);
    anon.socket.write('GET /raft/probing HTTP/1.1\r\nHost: x\r\n\r\n');
    const binary = await open(B);
    binary.socket.write(Buffer.from([0x16, 0x03, 0x01, 0x00]));
    await until(() => proxy.connections().filter((c) => c.state === 'open').length === 4, 2000, 'four open links');
    assert.deepEqual(proxy.connections().map((c) => c.source).sort(), [A, B, '8e9e05c52164694d', '91bc3c398fb3c146'].sort());

    proxy.block('8e9e05c52164694d', 'drop');
    const m1b = await open(A);
    m1b.socket.write(request('8e9e05c52164694d').slice(0, 20)); // identification waits for the whole head
    await sleep(50);
    m1b.socket.write(request('8e9e05c52164694d').slice(20));
    const m2b = await open(A);
    m2b.socket.write(request('91bc3c398fb3c146'));
    await until(() => m2b.received().includes('91bc3c398fb3c146'));
    await sleep(100);
    assert.equal(m1b.received(), '');
    assert.equal(target.accepted, 5);
    assert.equal(proxy.stats().bySource['8e9e05c52164694d']?.accepted, 2);
  });

  test('close() ends every connection and frees the port', async () => {
    const { proxy, open } = await setup();
    const a = await open(A);
    proxy.block(B);
    const b = await open(B);
    await proxy.close();
    assert.notEqual(await within(a.ended, 2000), 'timeout');
    assert.notEqual(await within(b.ended, 2000), 'timeout');
    const again = createServer();
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.listen(proxy.port, PROXY_HOST, resolve);
    });
    await new Promise<void>((resolve) => again.close(() => resolve()));
  });
});
