// Disaster recovery as an operator runs it: a kvctl node with keys and a lease -> kvctl snapshot save ->
// kvctl snapshot restore under a new name, peer URL and token -> kvctl node on the restored dir, read with
// the real etcdctl. And the refusals: a corrupt file, an existing data dir, a real etcd's (bbolt) snapshot.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { startEtcd } from '../support/etcd.js';
import { b64, etcdctl, parseJson } from '../support/etcdctl.js';
import { type KvNode, removeDir, startKvNode } from '../support/kvnode.js';
import { freePort } from '../support/ports.js';
import { kvctl } from './kvctl.js';

type Header = { cluster_id: number | string; member_id: number | string; revision: number };
type MemberJson = { ID: number | string; name: string; peerURLs: string[] };

/** etcdctl prints 64-bit ids as JSON numbers, which lose precision in JS: read them from the raw text. */
function rawIds(json: string, field: string): string[] {
  return [...json.matchAll(new RegExp(`"${field}":(\\d+)`, 'g'))].map((m) => BigInt(m[1] as string).toString(16));
}

describe('snapshot restore', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvctl-restore-e2e-'));
  const snapshot = join(dir, 'backup.db');
  let original: KvNode | undefined;
  let restored: KvNode | undefined;
  let originalRevision = 0;
  let originalClusterId = '';
  let leaseId = '';

  before(async () => {
    original = await startKvNode({ name: 'old' });
    for (let i = 0; i < 10; i++) assert.equal((await etcdctl(original.endpoint, ['put', `dr/${i}`, `v${i}`])).code, 0);
    const grant = await etcdctl(original.endpoint, ['lease', 'grant', '600']);
    leaseId = /lease ([0-9a-f]+) granted/.exec(grant.stdout)?.[1] ?? '';
    assert.notEqual(leaseId, '', grant.stdout + grant.stderr);
    assert.equal((await etcdctl(original.endpoint, ['put', 'dr/leased', 'x', `--lease=${leaseId}`])).code, 0);
    const got = await etcdctl(original.endpoint, ['get', 'dr/0', '-w', 'json']);
    originalRevision = (parseJson(got).header as Header).revision;
    originalClusterId = rawIds(got.stdout, 'cluster_id')[0] ?? '';
    const saved = await kvctl(['snapshot', 'save', snapshot, '--endpoints', original.endpoint]);
    assert.equal(saved.code, 0, saved.stderr);
    // The original is gone, as in a disaster: only the file remains.
    await original.stop();
  });

  after(async () => {
    await original?.stop();
    await restored?.stop();
    if (original) removeDir(original.dataDir);
    removeDir(dir);
  });

  test('restored under a new name, peer URL and token, the node serves the snapshot\'s keys, revision and lease as a new cluster', async () => {
    const peer = `http://127.0.0.1:${await freePort()}`;
    const dataDir = join(dir, 'new1.etcd');
    const r = await kvctl([
      'snapshot', 'restore', snapshot,
      '--name', 'new1',
      '--data-dir', dataDir,
      '--initial-cluster', `new1=${peer}`,
      '--initial-cluster-token', 'recovered-1',
      '--initial-advertise-peer-urls', peer,
      '-w', 'json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /SHA-256 of the snapshot checked/);
    const report = JSON.parse(r.stdout) as { memberId: string; clusterId: string; revision: number; hashChecked: boolean; members: Array<{ name: string; id: string; peerURLs: string[] }> };
    assert.equal(report.revision, originalRevision);
    assert.equal(report.hashChecked, true);
    assert.deepEqual(report.members, [{ name: 'new1', id: report.memberId, peerURLs: [peer] }]);
    assert.notEqual(report.clusterId, originalClusterId);

    restored = await startKvNode({ name: 'new1', dataDir });
    const got = await etcdctl(restored.endpoint, ['get', 'dr/', '--prefix', '-w', 'json']);
    const body = parseJson(got) as { header: Header; kvs: Array<{ key: string; value: string }> };
    assert.equal(body.kvs.length, 11);
    assert.equal(body.kvs.find((kv) => kv.key === b64('dr/7'))?.value, b64('v7'));
    assert.equal(body.header.revision, originalRevision);
    assert.deepEqual(rawIds(got.stdout, 'cluster_id'), [report.clusterId]);
    assert.deepEqual(rawIds(got.stdout, 'member_id'), [report.memberId]);

    const members = await etcdctl(restored.endpoint, ['member', 'list', '-w', 'json']);
    const list = (parseJson(members).members as MemberJson[]).map((m, i) => ({ id: rawIds(members.stdout, 'ID')[i], name: m.name, peerURLs: m.peerURLs }));
    assert.deepEqual(list, [{ id: report.memberId, name: 'new1', peerURLs: [peer] }]);

    const ttl = await etcdctl(restored.endpoint, ['lease', 'timetolive', leaseId, '--keys']);
    assert.equal(ttl.code, 0, ttl.stderr);
    assert.match(ttl.stdout, new RegExp(`lease ${leaseId} granted with TTL\\(600s\\), remaining\\(\\d+s\\), attached keys\\(\\[dr/leased\\]\\)`));

    // The new cluster takes writes from the snapshot's revision on.
    const put = await etcdctl(restored.endpoint, ['put', 'dr/after', 'y', '-w', 'json']);
    assert.equal((parseJson(put).header as Header).revision, originalRevision + 1);
  });

  test('for a three-member cluster, the summary names the member, the new cluster and what to do next', async () => {
    const cluster = 'a=http://127.0.0.1:22380,b=http://127.0.0.2:22380,c=http://127.0.0.3:22380';
    const dataDir = join(dir, 'b.etcd');
    const r = await kvctl([
      'snapshot', 'restore', snapshot,
      '--name', 'b', '--data-dir', dataDir, '--initial-cluster', cluster,
      '--initial-cluster-token', 'tok3', '--initial-advertise-peer-urls', 'http://127.0.0.2:22380',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', new RegExp(`^Restored snapshot into ${dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: revision ${originalRevision}, 11 keys, \\d+ kB, SHA-256 checked$`));
    assert.match(lines[1] ?? '', /^Member b \([0-9a-f]+\) of NEW cluster [0-9a-f]+ with 3 member\(s\):$/);
    assert.equal(lines.filter((l) => /^ {2}[0-9a-f]+ {2}[abc] {2}http:\/\/127\.0\.0\.[123]:22380$/.test(l)).length, 3);
    assert.ok(lines.includes('Next: restore a, c from the same file with the same --initial-cluster and --initial-cluster-token, then start every member.'), r.stdout);
    assert.match(lines.at(-1) ?? '', /^Start this member with: kvctl node --name b --data-dir .*b\.etcd --initial-cluster a=.* --initial-cluster-token tok3 --initial-advertise-peer-urls http:\/\/127\.0\.0\.2:22380/);
  });

  test('a corrupt snapshot is refused with etcd\'s sha256 message and no data dir is left behind', async () => {
    const bad = join(dir, 'corrupt.db');
    const bytes = readFileSync(snapshot);
    bytes[4096] = (bytes[4096] ?? 0) ^ 0x5a;
    writeFileSync(bad, bytes);
    const dataDir = join(dir, 'from-corrupt.etcd');
    const r = await kvctl(['snapshot', 'restore', bad, '--data-dir', dataDir]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /Error \[SNAPSHOT_FILE_INVALID\]: expected sha256 \[[\d ]+\], got \[[\d ]+\]/);
    assert.equal(existsSync(dataDir), false);
    assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('from-corrupt')), []);
  });

  test('an existing data dir is refused, even an empty one, and left as it was', async () => {
    const dataDir = join(dir, 'taken.etcd');
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'keep'), 'x');
    const r = await kvctl(['snapshot', 'restore', snapshot, '--data-dir', dataDir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`data-dir "${dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}" exists`));
    assert.deepEqual(readdirSync(dataDir), ['keep']);
    const empty = join(dir, 'empty.etcd');
    mkdirSync(empty);
    const r2 = await kvctl(['snapshot', 'restore', snapshot, '--data-dir', empty]);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /data-dir ".*empty\.etcd" exists/);
  });

  test('a real etcd\'s snapshot (bbolt) is refused with a message that says so', async () => {
    const etcd = await startEtcd();
    try {
      const path = join(dir, 'etcd.db');
      assert.equal((await etcdctl(etcd.endpoint, ['snapshot', 'save', path])).code, 0);
      const dataDir = join(dir, 'from-etcd.etcd');
      const r = await kvctl(['snapshot', 'restore', path, '--data-dir', dataDir]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /is not a kvctl snapshot: it is a bbolt file/);
      assert.equal(existsSync(dataDir), false);
    } finally {
      await etcd.stop();
    }
  });
});
