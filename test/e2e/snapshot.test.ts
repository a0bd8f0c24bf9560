// Snapshots: etcdctl snapshot save against a kvctl node, kvctl snapshot save against kvctl and real etcd,
// kvctl snapshot status, and a damaged file refused.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { startEtcd } from '../support/etcd.js';
import { etcdctl } from '../support/etcdctl.js';
import { type KvNode, removeDir, startKvNode } from '../support/kvnode.js';
import { kvctl } from './kvctl.js';

function hasValidTrailer(path: string): boolean {
  const b = readFileSync(path);
  return b.length > 32 && createHash('sha256').update(b.subarray(0, b.length - 32)).digest().equals(b.subarray(b.length - 32));
}

describe('snapshot save and status', { timeout: 90_000 }, () => {
  let node: KvNode;
  const dir = mkdtempSync(join(tmpdir(), 'kvctl-snap-e2e-'));
  before(async () => {
    node = await startKvNode();
    for (let i = 0; i < 10; i++) await etcdctl(node.endpoint, ['put', `snap/${i}`, `v${i}`]);
  });
  after(async () => {
    await node?.stop();
    if (node) removeDir(node.dataDir);
    removeDir(dir);
  });

  test('the real etcdctl saves a snapshot of a kvctl node, with the SHA-256 trailer etcd appends', async () => {
    const path = join(dir, 'etcdctl.db');
    const r = await etcdctl(node.endpoint, ['snapshot', 'save', path]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Snapshot saved at /);
    assert.ok(hasValidTrailer(path));
  });

  test('kvctl snapshot save, then status in each format; the revision is the node\'s', async () => {
    const path = join(dir, 'kvctl.db');
    const saved = await kvctl(['snapshot', 'save', path, '--endpoints', node.endpoint]);
    assert.equal(saved.code, 0, saved.stderr);
    assert.equal(saved.stdout, `Snapshot saved at ${path}\n`);
    assert.ok(hasValidTrailer(path));
    const rev = (JSON.parse((await etcdctl(node.endpoint, ['get', 'x', '-w', 'json'])).stdout) as { header: { revision: number } }).header.revision;
    const json = JSON.parse((await kvctl(['snapshot', 'status', path, '-w', 'json'])).stdout) as Record<string, number>;
    assert.equal(json.revision, rev);
    assert.ok((json.totalKey ?? 0) >= 10);
    const simple = await kvctl(['snapshot', 'status', path]);
    assert.match(simple.stdout, new RegExp(`^[0-9a-f]+, ${rev}, \\d+, \\d+ kB\\n$`));
    const table = await kvctl(['snapshot', 'status', path, '-w', 'table']);
    assert.match(table.stdout, /\| +HASH +\| REVISION \| TOTAL KEYS \| TOTAL SIZE \|/);
  });

  test('a damaged snapshot is refused; several endpoints are refused', async () => {
    const path = join(dir, 'damaged.db');
    await kvctl(['snapshot', 'save', path, '--endpoints', node.endpoint]);
    const b = readFileSync(path);
    b[100] = (b[100] ?? 0) ^ 0xff;
    writeFileSync(path, b);
    const r = await kvctl(['snapshot', 'status', path]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /SHA-256 mismatch/);
    const two = await kvctl(['snapshot', 'save', join(dir, 'x.db'), '--endpoints', `${node.endpoint},${node.endpoint}`]);
    assert.notEqual(two.code, 0);
    assert.match(two.stderr, /snapshot must be requested to one selected node, not multiple/);
  });

  test('kvctl snapshot save works against the real etcd too', async () => {
    const etcd = await startEtcd();
    try {
      const path = join(dir, 'etcd.db');
      const r = await kvctl(['snapshot', 'save', path, '--endpoints', etcd.endpoint]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(hasValidTrailer(path));
    } finally {
      await etcd.stop();
    }
  });
});
