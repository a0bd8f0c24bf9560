// EtcdClient against a real etcd (and, for failures etcd cannot be made to produce, a small fake gRPC server):
// the KV calls, maintenance and cluster calls, etcd's errors, unreachable endpoints, failover and timeouts.
import assert from 'node:assert/strict';
import { type Server as NetServer, type Socket, createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';

import * as grpc from '@grpc/grpc-js';

import { ClientError, EtcdClient, compare, op, toBytes, txnRequest } from '../../src/client/index.js';
import { GrpcCode, etcdErrors } from '../../src/proto/errors.js';
import { KVService, type PutResponse, RangeResponse } from '../../src/proto/gen/etcdserverpb/rpc.js';
import { type EtcdHandle, startEtcd } from '../support/etcd.js';
import { freePort } from '../support/ports.js';

const b = (...bytes: number[]): Buffer => Buffer.from(bytes);

/** A TCP server that accepts connections and never answers: a gRPC dial to it stays "connecting". */
async function silentServer(): Promise<{ endpoint: string; accepted: () => number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const s: NetServer = createServer((sock) => {
    accepted++;
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  return {
    endpoint: `127.0.0.1:${port}`,
    accepted: () => accepted,
    close: async () => {
      for (const sock of sockets) sock.destroy();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
}

/**
 * A gRPC server with etcd's KV service where Range never answers (to hit the command timeout) unless the key is
 * "unavailable", and every other call fails with a status that is not one of etcd's.
 */
async function fakeKvServer(): Promise<{ endpoint: string; close: () => Promise<void> }> {
  const server = new grpc.Server();
  const unavailable = { code: grpc.status.UNAVAILABLE, details: 'fake: connection to the backend lost' };
  server.addService(KVService, {
    range: (call: grpc.ServerUnaryCall<unknown, RangeResponse>, cb: grpc.sendUnaryData<RangeResponse>) => {
      const req = call.request as { key: Buffer };
      if (req.key.toString() === 'unavailable') cb(unavailable);
      // otherwise never answer
    },
    put: (_call: grpc.ServerUnaryCall<unknown, PutResponse>, cb: grpc.sendUnaryData<PutResponse>) => cb(unavailable),
    deleteRange: (_call: unknown, cb: grpc.sendUnaryData<never>) => cb({ code: grpc.status.UNIMPLEMENTED, details: 'nope' }),
    txn: (_call: unknown, cb: grpc.sendUnaryData<never>) => cb({ code: grpc.status.UNIMPLEMENTED, details: 'nope' }),
    compact: (_call: unknown, cb: grpc.sendUnaryData<never>) => cb({ code: grpc.status.UNIMPLEMENTED, details: 'nope' }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    endpoint: `127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())).then(() => server.forceShutdown()),
  };
}

/** A gRPC server on `port` whose KV Range answers an empty result: an endpoint that can go away and come back. */
async function answeringKvServer(port: number): Promise<{ close: () => void }> {
  const server = new grpc.Server();
  server.addService(KVService, {
    range: (_call: unknown, cb: grpc.sendUnaryData<RangeResponse>) => cb(null, RangeResponse.fromPartial({})),
  });
  await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { close: () => server.forceShutdown() };
}

function isClientError(check: (e: ClientError) => void): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof ClientError, `expected a ClientError, got ${String(err)}`);
    check(err);
    return true;
  };
}

describe('EtcdClient against a real etcd', () => {
  let etcd: EtcdHandle;
  let client: EtcdClient;

  before(async () => {
    etcd = await startEtcd({ name: 'client-test' });
    client = await EtcdClient.connect({ endpoints: [etcd.endpoint], dialTimeoutMs: 2000, commandTimeoutMs: 5000 });
  });

  after(async () => {
    client?.close();
    await etcd?.stop();
  });

  it('puts and reads bytes unchanged', async () => {
    const key = b(0x6b, 0x00, 0xff);
    const value = b(0xfe, 0x0a, 0x00);
    const put = await client.put(key, value);
    assert.ok((put.header?.revision ?? 0n) > 1n);
    const got = await client.range(key);
    assert.equal(got.count, 1n);
    assert.deepEqual(got.kvs[0]?.key, key);
    assert.deepEqual(got.kvs[0]?.value, value);
    const again = await client.put(key, 'v2', { prevKv: true });
    assert.deepEqual(again.prevKv?.value, value);
    assert.ok((got.header?.clusterId ?? 0n) > 0n, 'cluster id is a non-zero uint64');
  });

  it('reads ranges: prefix, from-key, limit, sort, keys-only, count-only, revision filters', async () => {
    for (const k of ['r/a', 'r/b', 'r/c', 'r0']) await client.put(k, `v-${k}`);
    const prefix = await client.range('r/', { prefix: true });
    assert.deepEqual(prefix.kvs.map((kv) => kv.key.toString()), ['r/a', 'r/b', 'r/c']);
    const limited = await client.range('r/', { prefix: true, limit: 2, sortTarget: 'KEY', sortOrder: 'DESCEND' });
    assert.deepEqual([limited.kvs.map((kv) => kv.key.toString()), limited.more, limited.count], [['r/c', 'r/b'], true, 3n]);
    const from = await client.range('r0', { fromKey: true, keysOnly: true });
    assert.equal(from.kvs[0]?.key.toString(), 'r0');
    assert.equal(from.kvs[0]?.value.length, 0);
    const counted = await client.range('r/', { prefix: true, countOnly: true });
    assert.deepEqual([counted.kvs.length, counted.count], [0, 3n]);
    const rb = (await client.range('r/b')).kvs[0]?.modRevision ?? 0n;
    const since = await client.range('r/', { prefix: true, minModRevision: rb });
    assert.deepEqual(since.kvs.map((kv) => kv.key.toString()), ['r/b', 'r/c']);
    const serial = await client.range('r/a', { serializable: true });
    assert.equal(serial.kvs[0]?.value.toString(), 'v-r/a');
  });

  it('deletes ranges and returns the previous pairs', async () => {
    for (const k of ['d/1', 'd/2', 'd/3']) await client.put(k, k);
    const one = await client.deleteRange('d/1', { rangeEnd: 'd/2', prevKv: true });
    assert.deepEqual([one.deleted, one.prevKvs.map((kv) => kv.key.toString())], [1n, ['d/1']]);
    const rest = await client.deleteRange('d/', { prefix: true });
    assert.equal(rest.deleted, 2n);
  });

  it('runs transactions', async () => {
    await client.put('t', '1');
    const ok = await client.txn(txnRequest([compare('VALUE', 't', '=', '1')], [op.put('t', '2'), op.range('t')], [op.delete('t')]));
    assert.equal(ok.succeeded, true);
    assert.equal(ok.responses[1]?.responseRange?.kvs[0]?.value.toString(), '2');
    const no = await client.txn(txnRequest([compare('MOD', 't', '<', 1)], [], [op.range('t', { keysOnly: true })]));
    assert.equal(no.succeeded, false);
    assert.equal(no.responses[0]?.responseRange?.kvs[0]?.key.toString(), 't');
  });

  it('surfaces etcd errors with their exact message, name, code and gRPC code', async () => {
    const first = await client.put('c', '1');
    await client.put('c', '2');
    const rev = first.header?.revision ?? 0n;
    await client.compact(rev + 1n, { physical: true });
    await assert.rejects(
      client.range('c', { revision: rev }),
      isClientError((e) => {
        assert.equal(e.message, etcdErrors.compacted.message);
        assert.deepEqual([e.etcdError, e.code, e.grpcCode, e.kind, e.endpoint], ['compacted', 'ETCD_COMPACTED', GrpcCode.OUT_OF_RANGE, 'server', etcd.endpoint]);
      }),
    );
    await assert.rejects(client.range('c', { revision: 1n << 40n }), isClientError((e) => assert.equal(e.etcdError, 'futureRev')));
    await assert.rejects(
      client.put('missing-key', '', { ignoreValue: true }),
      isClientError((e) => assert.deepEqual([e.etcdError, e.message], ['keyNotFound', 'etcdserver: key not found'])),
    );
    await assert.rejects(client.put('k', 'v', { lease: 0xabcn }), isClientError((e) => assert.equal(e.code, 'ETCD_LEASE_NOT_FOUND')));
  });

  it('answers maintenance and cluster calls', async () => {
    const status = await client.status(etcd.endpoint);
    assert.match(status.version, /^3\./);
    assert.equal(status.leader, status.header?.memberId);
    const members = await client.memberList();
    assert.deepEqual(members.members.map((m) => m.clientURLs), [[etcd.clientUrl]]);
    const hash = await client.hashKV(etcd.clientUrl);
    assert.ok(hash.hash > 0);
    assert.deepEqual((await client.alarmList()).alarms, []);
    assert.deepEqual((await client.alarmDisarm()).alarms, []);
    await client.defragment(etcd.endpoint);
  });
});

describe('EtcdClient connection handling', () => {
  let etcd: EtcdHandle;
  const cleanups: (() => Promise<void> | void)[] = [];

  before(async () => {
    etcd = await startEtcd({ name: 'conn-test' });
  });

  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await etcd?.stop();
  });

  it('fails fast and names the endpoint when nothing listens there', async () => {
    const ep = `127.0.0.1:${await freePort()}`;
    const start = Date.now();
    await assert.rejects(
      EtcdClient.connect({ endpoints: ep, dialTimeoutMs: 2000 }),
      isClientError((e) => {
        assert.equal(e.message, `failed to connect to ${ep}: connection refused`);
        assert.deepEqual([e.kind, e.code, e.endpoint], ['unreachable', 'ENDPOINTS_UNREACHABLE', ep]);
      }),
    );
    assert.ok(Date.now() - start < 1900, 'a refused connection does not wait for the dial timeout');
  });

  it('gives up on an endpoint that never answers after the dial timeout, naming it', async () => {
    const silent = await silentServer();
    cleanups.push(silent.close);
    const start = Date.now();
    await assert.rejects(
      EtcdClient.connect({ endpoints: silent.endpoint, dialTimeoutMs: 300 }),
      isClientError((e) => assert.equal(e.message, `failed to connect to ${silent.endpoint}: dial timeout after 300ms`)),
    );
    const took = Date.now() - start;
    assert.ok(took >= 250 && took < 3000, `took ${took} ms`);
  });

  it('lists every endpoint when none can be reached', async () => {
    const a = `127.0.0.1:${await freePort()}`;
    const silent = await silentServer();
    cleanups.push(silent.close);
    const client = EtcdClient.create({ endpoints: [a, silent.endpoint], dialTimeoutMs: 200 });
    cleanups.push(() => client.close());
    await assert.rejects(
      client.range('x'),
      isClientError((e) => {
        assert.equal(e.message, `failed to connect to any endpoint: ${a}: connection refused; ${silent.endpoint}: dial timeout after 200ms`);
        assert.equal(e.kind, 'unreachable');
      }),
    );
  });

  it('fails over to the next endpoint and keeps using the one that works', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const silent = await silentServer();
    cleanups.push(silent.close);
    const client = await EtcdClient.connect({ endpoints: [dead, silent.endpoint, etcd.endpoint], dialTimeoutMs: 300 });
    cleanups.push(() => client.close());
    await client.put('failover', 'yes');
    const dialsToSilent = silent.accepted();
    assert.ok(dialsToSilent >= 1, 'the put tried the silent endpoint before the working one');
    assert.equal((await client.range('failover')).kvs[0]?.value.toString(), 'yes');
    assert.equal(silent.accepted(), dialsToSilent, 'the working endpoint is tried first once known');
  });

  it('maps the command timeout to "context deadline exceeded", and retries only reads on a non-etcd UNAVAILABLE', async () => {
    const fake = await fakeKvServer();
    cleanups.push(fake.close);
    const slow = await EtcdClient.connect({ endpoints: fake.endpoint, commandTimeoutMs: 300 });
    cleanups.push(() => slow.close());
    await assert.rejects(
      slow.range('hang'),
      isClientError((e) => assert.deepEqual([e.message, e.kind, e.code, e.grpcCode], ['context deadline exceeded', 'timeout', 'DEADLINE_EXCEEDED', GrpcCode.DEADLINE_EXCEEDED])),
    );
    await assert.rejects(
      slow.put('k', 'v'),
      isClientError((e) => assert.deepEqual([e.message, e.code], ['rpc error: code = Unavailable desc = fake: connection to the backend lost', 'GRPC_UNAVAILABLE'])),
    );

    const both = await EtcdClient.connect({ endpoints: [fake.endpoint, etcd.endpoint] });
    cleanups.push(() => both.close());
    // The fake endpoint answers first, so calls start there.
    await assert.rejects(both.put('unavailable', 'v'), isClientError((e) => assert.equal(e.endpoint, fake.endpoint)), 'a write is never replayed elsewhere');
    await both.range('unavailable'); // a read moves on to the real etcd
  });

  it('calls a pinned endpoint only', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const client = EtcdClient.create({ endpoints: [etcd.endpoint, dead] });
    cleanups.push(() => client.close());
    await assert.rejects(client.status(dead), isClientError((e) => assert.equal(e.message, `failed to connect to ${dead}: connection refused`)));
    assert.match((await client.status(etcd.endpoint)).version, /^3\./);
  });

  it('refuses calls after close and honours an abort signal', async () => {
    const client = await EtcdClient.connect({ endpoints: etcd.endpoint });
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(client.range('x', {}, { signal: ac.signal }), isClientError((e) => assert.equal(e.kind, 'canceled')));
    client.close();
    await assert.rejects(client.range('x'), /closed/);
  });

  it('takes strings as UTF-8', () => {
    assert.deepEqual(toBytes('€'), b(0xe2, 0x82, 0xac));
  });
});

describe('EtcdClient reconnecting', () => {
  it('an endpoint that comes back answers the next call, however long it was down', async () => {
    const port = await freePort();
    let server = await answeringKvServer(port);
    const client = EtcdClient.create({ endpoints: `127.0.0.1:${port}`, dialTimeoutMs: 2000 });
    try {
      await client.range('k');
      server.close();
      // Calls fail while it is down. grpc's reconnect backoff, left to grow (1 s, 1.6 s, 2.6 s, 4.1 s ...), would
      // put the next connect attempt after the dial timeout, and the first call after the return would fail.
      const downUntil = Date.now() + 6000;
      for (let i = 0; i < 100 && Date.now() < downUntil; i++) {
        await assert.rejects(client.range('k'), isClientError((e) => assert.equal(e.kind, 'unreachable')));
        await new Promise((r) => setTimeout(r, 100));
      }
      server = await answeringKvServer(port);
      await client.range('k');
    } finally {
      client.close();
      server.close();
    }
  });
});
