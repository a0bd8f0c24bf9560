// End-to-end: `kvctl cluster restore` through three agents on 127.0.0.1/.2/.3.
// - kvctl runtime: keys, `kvctl snapshot save`, more writes and a delete; without --yes the restore is refused
//   with nothing changed; a corrupt copy of the file is refused with the hash error before anything stops;
//   with --yes every member comes back holding exactly the snapshot's keys at its revision, as a new cluster
//   (3 members, new ids, new cluster id), read by the real etcdctl with the context's certificates, with the
//   old data dirs kept as `.before-restore`; the same restore run again works too;
// - real etcd 3.4 runtime: a kvctl-format snapshot is refused before anything is stopped; a snapshot saved
//   by the real etcdctl (a bbolt file) is refused, with nothing stopped, while one agent's host has neither
//   etcdutl nor etcdctl, and then restored by the agents with etcd's own tool.
// Every agent and member is stopped at the end, even on failure (test/support/agents.ts).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { noopLogger } from '../../src/base/logger.js';
import { snapshotChunks } from '../../src/server/kvserver/snapshot-stream.js';
import { Backend } from '../../src/server/mvcc/backend.js';
import { KvStore } from '../../src/server/mvcc/kvstore.js';
import { type Harness, TOKEN, harness, memberArgs, ok, status } from '../support/agent-harness.js';
import type { TestAgent } from '../support/agents.js';
import { reapDir } from '../support/reaper.js';

type Member = { id: string; name: string };

/** `etcdctl member list` (simple format: hex ids). */
async function members(h: Harness, endpoint: string): Promise<Member[]> {
  const out = ok(await h.ctl(endpoint, ['member', 'list']), 'etcdctl member list').stdout;
  return out
    .trim()
    .split('\n')
    .map((line) => line.split(', '))
    .map(([id, , name]) => ({ id: id as string, name: name as string }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The keys under `prefix` with their values, and the revision and cluster id of the answer (etcdctl). */
async function read(h: Harness, endpoint: string, prefix: string): Promise<{ kvs: Record<string, string>; revision: number; clusterId: string }> {
  const r = ok(await h.ctl(endpoint, ['get', prefix, '--prefix', '-w', 'json']), 'etcdctl get');
  const parsed = JSON.parse(r.stdout) as { header: { revision: number }; kvs?: { key: string; value: string }[] };
  const kvs: Record<string, string> = {};
  for (const kv of parsed.kvs ?? []) kvs[Buffer.from(kv.key, 'base64').toString()] = Buffer.from(kv.value, 'base64').toString();
  // 64-bit ids lose precision as JSON numbers: read the cluster id from the raw text.
  const clusterId = BigInt(/"cluster_id":(\d+)/.exec(r.stdout)?.[1] ?? '0').toString(16);
  return { kvs, revision: parsed.header.revision, clusterId };
}

async function endpoints(h: Harness): Promise<string[]> {
  const ctx = JSON.parse(readFileSync(join(h.home, 'contexts', 'default', 'context.json'), 'utf8')) as { endpoints: string[] };
  return ctx.endpoints;
}

/** Puts and deletes with etcdctl, in order: `k=v` puts, `-k` deletes. */
async function write(h: Harness, endpoint: string, ops: readonly string[]): Promise<void> {
  for (const op of ops) {
    if (op.startsWith('-')) ok(await h.ctl(endpoint, ['del', op.slice(1)]), `del ${op}`);
    else ok(await h.ctl(endpoint, ['put', op.split('=')[0] as string, op.split('=')[1] as string]), `put ${op}`);
  }
}

/** A PATH that finds the real etcd and nothing else (no etcdctl, no etcdutl). */
function onlyEtcdOnPath(dir: string): string {
  const bin = join(dir, 'only-etcd');
  mkdirSync(bin);
  const etcd = (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '').map((d) => join(d, 'etcd')).find((f) => existsSync(f));
  assert.ok(etcd !== undefined, 'etcd is on PATH');
  symlinkSync(etcd, join(bin, 'etcd'));
  return bin;
}

/**
 * Three agents and a directory for snapshot files, for the describe block it is called in: the agents start
 * before its tests and, with the directory, are gone after them, even on failure.
 */
function restoreFixture(): { readonly h: Harness; readonly files: string } {
  const files = mkdtempSync(join(tmpdir(), 'kvctl-restore-files-'));
  reapDir(files);
  let started: Harness | undefined;
  before(async () => {
    started = await harness(3);
  });
  after(async () => {
    await started?.cleanup();
    rmSync(files, { recursive: true, force: true });
  });
  return {
    get h(): Harness {
      assert.ok(started !== undefined, 'the agents started');
      return started;
    },
    files,
  };
}

const wanted = { 'dr/a': '1', 'dr/b': '2', 'dr/c': '3' };

describe('cluster restore (kvctl runtime)', { timeout: 240_000 }, () => {
  const fixture = restoreFixture();

  test('refused without --yes and for a corrupt file; with --yes every member holds exactly the snapshot, as a new cluster', async () => {
    const { h, files } = fixture;
    ok(await h.run(['cluster', 'bootstrap', '--static', ...(await memberArgs(h.agents)), '--token', TOKEN]), 'bootstrap');
    const [m1, m2, m3] = (await endpoints(h)) as [string, string, string];
    await write(h, m1, ['dr/a=1', 'dr/b=2', 'dr/c=3']);
    const snapshot = join(files, 'backup.db');
    ok(await h.run(['snapshot', 'save', snapshot, '--endpoints', m2]), 'snapshot save');
    const atSnapshot = await read(h, m2, 'dr/');
    assert.deepEqual(atSnapshot.kvs, wanted);
    await write(h, m1, ['dr/later=x', '-dr/b', 'dr/a=changed']);
    const oldMembers = await members(h, m1);
    const changed = await read(h, m3, 'dr/');
    assert.deepEqual(changed.kvs, { 'dr/a': 'changed', 'dr/c': '3', 'dr/later': 'x' });
    const pids = h.agents.map((a) => a.memberPid());

    // Without --yes: says what would be replaced, changes nothing.
    const unconfirmed = await h.run(['cluster', 'restore', snapshot]);
    assert.notEqual(unconfirmed.code, 0);
    assert.match(unconfirmed.stderr, /kvctl's snapshot format, \d+ bytes, revision \d+, \d+ total keys, hash \d+, SHA-256 trailer checked/);
    assert.match(unconfirmed.stderr, /m1: its data dir .*\/data is moved to .*\/data\.before-restore/);
    assert.match(unconfirmed.stderr, /nothing was changed: rerun with --yes/);
    // A corrupt copy: refused with etcd's hash error before any member stops.
    const bytes = readFileSync(snapshot);
    const middle = Math.floor(bytes.length / 2);
    for (let i = 0; i < 16; i++) bytes.writeUInt8(bytes.readUInt8(middle + i) ^ 0xff, middle + i);
    const corrupt = join(files, 'corrupt.db');
    writeFileSync(corrupt, bytes);
    const refused = await h.run(['cluster', 'restore', corrupt, '--yes']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /is corrupt: expected sha256 \[[\d ]+\], got \[[\d ]+\]; nothing was changed/);
    assert.deepEqual(h.agents.map((a) => a.memberPid()), pids, 'no member was stopped');
    assert.deepEqual((await read(h, m2, 'dr/')).kvs, changed.kvs);
    for (const a of h.agents) assert.equal(existsSync(join(a.dir, 'data.before-restore')), false);

    const t0 = Date.now();
    const restored = ok(await h.run(['cluster', 'restore', snapshot, '--yes', '--timeout', '60']), 'cluster restore');
    const tookMs = Date.now() - t0;
    process.stderr.write(`# cluster restore of 3 kvctl members took ${tookMs} ms\n`);
    assert.match(restored.stderr, /member m1 stopped/);
    assert.match(restored.stderr, /member m3: snapshot sent and restored in \d+ ms/);
    assert.match(restored.stdout, /Cluster default restored from .*backup\.db \(revision \d+, \d+ total keys\) as new cluster [0-9a-f]+ in [\d.]+ s; all 3 members healthy/);

    for (const ep of [m1, m2, m3]) {
      const now = await read(h, ep, 'dr/');
      assert.deepEqual(now.kvs, wanted, `${ep} holds exactly the snapshot's keys`);
      assert.equal(now.revision, atSnapshot.revision, `${ep} is at the snapshot's revision`);
      assert.notEqual(now.clusterId, atSnapshot.clusterId, 'a new cluster id');
    }
    const newMembers = await members(h, m3);
    assert.deepEqual(newMembers.map((m) => m.name), ['m1', 'm2', 'm3']);
    for (const m of newMembers) assert.ok(!oldMembers.some((o) => o.id === m.id), `member ${m.name} has a new id (${m.id})`);
    for (const a of h.agents) {
      assert.ok(existsSync(join(a.dir, 'data.before-restore', 'member', 'wal')), `${a.name} kept its old data dir`);
      assert.match(readFileSync(join(a.dir, 'member', 'etcd.env'), 'utf8'), /^ETCD_INITIAL_CLUSTER_TOKEN=kvctl-default-[0-9a-f]{8}-restore-[0-9a-f]{8}-[0-9a-z]+$/m);
    }
    const json = JSON.parse(ok(await h.run(['cluster', 'status', '--json']), 'cluster status').stdout) as { health: string }[];
    assert.deepEqual(json.map((r) => r.health), ['true', 'true', 'true']);
    // The restored cluster takes writes.
    await write(h, m2, ['dr/after=1']);
  });

  test('the same restore run again (e.g. after a failure half way) works', async () => {
    const { h, files } = fixture;
    const [m1] = (await endpoints(h)) as [string];
    const again = ok(await h.run(['cluster', 'restore', join(files, 'backup.db'), '--yes', '--json', '--timeout', '60']), 'cluster restore again');
    const result = JSON.parse(again.stdout) as { members: { member: string; id: string; health: string }[]; clusterId: string };
    assert.deepEqual(result.members.map((m) => `${m.member}:${m.health}`), ['m1:true', 'm2:true', 'm3:true']);
    assert.deepEqual((await read(h, m1, 'dr/')).kvs, wanted);
    assert.deepEqual((await members(h, m1)).map((m) => m.id).sort(), result.members.map((m) => m.id).sort());
  });
});

/** A snapshot in kvctl's format (`snapshot save` of a kvctl node: lmdb db + SHA-256), made in-process. */
async function kvctlFormatSnapshot(dir: string): Promise<string> {
  const backend = Backend.open({ path: join(dir, 'src-db'), logger: noopLogger });
  const kv = KvStore.open(backend, { logger: noopLogger });
  backend.batch(() => {
    const w = kv.write();
    w.put(Buffer.from('k'), Buffer.from('v'), 0n);
    w.end();
  });
  const parts: Buffer[] = [];
  for await (const chunk of snapshotChunks(backend)) parts.push(Buffer.from(chunk.blob));
  await kv.close();
  await backend.close();
  const path = join(dir, 'kvctl-format.db');
  writeFileSync(path, Buffer.concat(parts));
  return path;
}

describe('cluster restore (real etcd 3.4 runtime)', { timeout: 200_000 }, () => {
  const fixture = restoreFixture();

  test("a kvctl-format snapshot is refused before anything stops; etcdctl's (bbolt) snapshot is restored with etcd's tool", async () => {
    const { h, files } = fixture;
    ok(await h.run(['cluster', 'bootstrap', '--static', ...(await memberArgs(h.agents)), '--token', TOKEN, '--runtime', 'etcd']), 'bootstrap');
    const [m1, m2, m3] = (await endpoints(h)) as [string, string, string];
    await write(h, m1, ['dr/a=1', 'dr/b=2', 'dr/c=3']);
    const snapshot = join(files, 'etcd.db');
    ok(await h.ctl(m3, ['snapshot', 'save', snapshot]), 'etcdctl snapshot save');
    const atSnapshot = await read(h, m3, 'dr/');
    await write(h, m2, ['dr/later=x', '-dr/a']);
    const oldMembers = await members(h, m1);
    const pids = h.agents.map((a) => a.memberPid());

    const wrongFormat = await h.run(['cluster', 'restore', await kvctlFormatSnapshot(files), '--yes']);
    assert.notEqual(wrongFormat.code, 0);
    assert.match(wrongFormat.stderr, /member m1 runs a real etcd \(runtime etcd\): a real etcd cannot read kvctl's snapshot format/);
    assert.deepEqual(h.agents.map((a) => a.memberPid()), pids, 'no member was stopped');

    // An agent whose host lacks etcd's restore tools: refused before anything stops, naming the host.
    const a2 = h.agents[1] as TestAgent;
    await a2.stop();
    await a2.restart({ PATH: onlyEtcdOnPath(files) });
    const noTool = await h.run(['cluster', 'restore', snapshot, '--yes']);
    assert.notEqual(noTool.code, 0);
    assert.match(noTool.stderr, new RegExp(`m2: agent ${a2.address} has neither etcdutl nor etcdctl on its PATH .*apt install etcd-client`));
    assert.match(noTool.stderr, /nothing was changed/);
    assert.deepEqual(h.agents.map((a) => a.memberPid()), pids, 'no member was stopped');
    await a2.stop();
    await a2.restart();

    const restored = ok(await h.run(['cluster', 'restore', snapshot, '--yes', '--timeout', '60']), 'cluster restore');
    assert.match(restored.stderr, /a real etcd's snapshot \(bbolt\), \d+ bytes, revision \d+, \d+ total keys/);
    for (const ep of [m1, m2, m3]) {
      const now = await read(h, ep, 'dr/');
      assert.deepEqual(now.kvs, wanted, `${ep} holds exactly the snapshot's keys`);
      assert.equal(now.revision, atSnapshot.revision, `${ep} is at the snapshot's revision`);
      assert.notEqual(now.clusterId, atSnapshot.clusterId);
    }
    const newMembers = await members(h, m2);
    assert.deepEqual(newMembers.map((m) => m.name), ['m1', 'm2', 'm3']);
    for (const m of newMembers) assert.ok(!oldMembers.some((o) => o.id === m.id), `member ${m.name} has a new id`);
    for (const a of h.agents) assert.ok(existsSync(join(a.dir, 'data.before-restore', 'member', 'snap', 'db')), `${a.name} kept its old data dir`);
    assert.deepEqual((await status(h)).map((r) => r.health), ['true', 'true', 'true']);
  });
});
