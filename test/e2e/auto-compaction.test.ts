// --auto-compaction-mode periodic: history older than the retention is compacted by the leader.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { etcdctl } from '../support/etcdctl.js';
import { type KvNode, removeDir, startKvNode } from '../support/kvnode.js';

let node: KvNode | undefined;
after(async () => {
  await node?.kill9();
  if (node) removeDir(node.dataDir);
});

test('periodic auto-compaction compacts history older than the retention', { timeout: 30_000 }, async () => {
  node = await startKvNode({ args: ['--auto-compaction-mode', 'periodic', '--auto-compaction-retention', '1s'] });
  const first = JSON.parse((await etcdctl(node.endpoint, ['put', 'ac', 'v1', '-w', 'json'])).stdout) as { header: { revision: number } };
  await etcdctl(node.endpoint, ['put', 'ac', 'v2']);
  let compacted = false;
  for (let i = 0; i < 40 && !compacted; i++) {
    await new Promise((r) => setTimeout(r, 200));
    await etcdctl(node.endpoint, ['put', 'tick', String(i)]);
    const old = await etcdctl(node.endpoint, ['get', 'ac', '--rev', String(first.header.revision)]);
    compacted = /required revision has been compacted/.test(old.stderr);
  }
  assert.ok(compacted, `revision ${first.header.revision} was never compacted:\n${node.log().slice(-2000)}`);
  assert.match(node.log(), /compactor: finished auto-compaction at revision \d+/);
  assert.equal((await etcdctl(node.endpoint, ['get', 'ac', '--print-value-only'])).stdout, 'v2\n');
});
