// Nothing a client sends may crash the node: random bytes on every kind of RPC, garbage on a stream.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Client, Metadata, credentials, status } from '@grpc/grpc-js';

import { SeededRng } from '../../src/base/rng.js';
import { etcdctl } from '../support/etcdctl.js';
import { type KvNode, removeDir, startKvNode } from '../support/kvnode.js';

const SEED = Number(process.env.SEED ?? Date.now() % 100_000);

const UNARY = [
  '/etcdserverpb.KV/Range',
  '/etcdserverpb.KV/Put',
  '/etcdserverpb.KV/DeleteRange',
  '/etcdserverpb.KV/Txn',
  '/etcdserverpb.KV/Compact',
  '/etcdserverpb.Lease/LeaseGrant',
  '/etcdserverpb.Lease/LeaseRevoke',
  '/etcdserverpb.Lease/LeaseTimeToLive',
  '/etcdserverpb.Auth/UserAdd',
  '/etcdserverpb.Auth/RoleGrantPermission',
  '/etcdserverpb.Maintenance/Status',
  '/etcdserverpb.Maintenance/Alarm',
  '/etcdserverpb.Maintenance/HashKV',
  '/etcdserverpb.Cluster/MemberList',
];

describe(`malformed requests (SEED=${SEED})`, { timeout: 60_000 }, () => {
  let node: KvNode;
  let client: Client;
  before(async () => {
    node = await startKvNode();
    client = new Client(node.endpoint, credentials.createInsecure());
  });
  after(async () => {
    client?.close();
    await node?.stop();
    if (node) removeDir(node.dataDir);
  });

  const call = (path: string, bytes: Buffer) =>
    new Promise<number>((resolve) => {
      client.makeUnaryRequest(
        path,
        (b: Buffer) => b,
        (b: Buffer) => b,
        bytes,
        new Metadata(),
        { deadline: Date.now() + 10_000 },
        (err) => resolve(err ? (err.code ?? -1) : status.OK),
      );
    });

  test('random bytes on every unary RPC: an answer, never a crash', async () => {
    const rng = new SeededRng(SEED);
    const seen = new Map<number, number>();
    for (let i = 0; i < 400; i++) {
      const path = UNARY[rng.int(UNARY.length)] as string;
      const bytes = Buffer.from(Array.from({ length: 1 + rng.int(48) }, () => rng.int(256)));
      const code = await call(path, bytes);
      seen.set(code, (seen.get(code) ?? 0) + 1);
      assert.notEqual(code, status.UNAVAILABLE, `SEED=${SEED}: ${path} with ${bytes.toString('hex')} made the node unavailable`);
      assert.notEqual(code, status.INTERNAL, `SEED=${SEED}: ${path} with ${bytes.toString('hex')} answered INTERNAL`);
    }
    assert.ok((seen.get(status.INVALID_ARGUMENT) ?? 0) > 0, `no INVALID_ARGUMENT among ${JSON.stringify([...seen])}`);
    assert.equal((await etcdctl(node.endpoint, ['put', 'still', 'alive'])).stdout, 'OK\n');
  });

  test('undecodable bytes answer INVALID_ARGUMENT; garbage on a stream ends only that stream', async () => {
    assert.equal((await etcdctl(node.endpoint, ['put', 'stream-check', 'alive'])).stdout, 'OK\n');
    // Field 1 (key) as a length-delimited field claiming 100 bytes that are not there.
    assert.equal(await call('/etcdserverpb.KV/Range', Buffer.from([0x0a, 0x64, 0x01])), status.INVALID_ARGUMENT);
    const stream = client.makeBidiStreamRequest('/etcdserverpb.Watch/Watch', (b: Buffer) => b, (b: Buffer) => b, new Metadata());
    const ended = new Promise<number>((resolve) => {
      stream.on('error', (err: { code?: number }) => resolve(err.code ?? -1));
      stream.on('end', () => resolve(status.OK));
    });
    stream.on('data', () => {});
    stream.write(Buffer.from([0x0a, 0x64, 0x01]));
    const code = await ended;
    assert.notEqual(code, status.OK);
    assert.equal((await etcdctl(node.endpoint, ['get', 'stream-check', '--print-value-only'])).stdout, 'alive\n');
  });
});
