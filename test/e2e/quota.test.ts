// The space quota and the NOSPACE alarm, as an operator meets them: writes refused with etcd's error,
// the alarm listed (and kept across a restart), room made with del + compaction + defrag, alarm disarmed.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import { credentials } from '@grpc/grpc-js';

import { KVClient, PutRequest } from '../../src/proto/gen/etcdserverpb/rpc.js';
import { etcdctl } from '../support/etcdctl.js';
import { type KvNode, removeDir, startKvNode } from '../support/kvnode.js';
import { kvctl } from './kvctl.js';

describe('--quota-backend-bytes and the NOSPACE alarm', { timeout: 90_000 }, () => {
  let node: KvNode | undefined;
  after(async () => {
    await node?.kill9();
    if (node) removeDir(node.dataDir);
  });

  test('fill, refuse, list, survive a restart, make room, disarm, write again', async () => {
    node = await startKvNode({ args: ['--quota-backend-bytes', '400000'] });
    const ep = node.endpoint;
    const client = new KVClient(ep, credentials.createInsecure());
    let refused: Error | undefined;
    for (let i = 0; i < 3000 && refused === undefined; i++) {
      refused = await new Promise<Error | undefined>((resolve) =>
        client.put(PutRequest.fromPartial({ key: Buffer.from(`fill/${i}`), value: Buffer.alloc(2000, 'x') }), (err) => resolve(err ?? undefined)),
      );
    }
    client.close();
    assert.ok(refused, 'the quota was never reached');
    assert.match(refused.message, /etcdserver: mvcc: database space exceeded/);

    const put = await etcdctl(ep, ['put', 'more', 'data']);
    assert.match(put.stderr, /etcdserver: mvcc: database space exceeded/);
    const listed = await etcdctl(ep, ['alarm', 'list']);
    assert.match(listed.stdout, /^memberID:\d+ alarm:NOSPACE \n$/);
    assert.equal((await kvctl(['alarm', 'list', '--endpoints', ep])).stdout, listed.stdout);
    const status = JSON.parse((await etcdctl(ep, ['endpoint', 'status', '-w', 'json'])).stdout) as Array<{ Status: { errors?: string[] } }>;
    assert.match(status[0]?.Status.errors?.[0] ?? '', /^memberID:\d+ alarm:NOSPACE$/);

    // The alarm is state, not a mood: it survives a restart.
    await node.stop();
    node = await startKvNode({ dataDir: node.dataDir, clientPort: node.clientPort, args: ['--quota-backend-bytes', '400000'] });
    assert.equal((await etcdctl(ep, ['alarm', 'list'])).stdout, listed.stdout);

    // Deletes still work; compaction and defrag give the space back.
    const del = await etcdctl(ep, ['del', 'fill/', '--prefix', '-w', 'json']);
    const rev = (JSON.parse(del.stdout) as { header: { revision: number } }).header.revision;
    assert.equal((await etcdctl(ep, ['compaction', String(rev), '--physical'])).code, 0);
    const defrag = await kvctl(['defrag', '--endpoints', ep]);
    assert.equal(defrag.stdout, `Finished defragmenting etcd member[${ep}]\n`, defrag.stderr);
    const disarm = await kvctl(['alarm', 'disarm', '--endpoints', ep]);
    assert.equal(disarm.stdout, listed.stdout);
    assert.equal((await etcdctl(ep, ['alarm', 'list'])).stdout, '');
    assert.equal((await etcdctl(ep, ['put', 'more', 'data'])).stdout, 'OK\n');
  });
});
