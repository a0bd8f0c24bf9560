// The real etcdctl (Debian etcd-client 3.4) against a `kvctl node` process: every KV feature it can say,
// the maintenance and cluster calls that exist for one member, and the errors etcd gives.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { credentials } from '@grpc/grpc-js';

import {
  KVClient,
  type RangeRequest as RangeRequestT,
  RangeRequest,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  type RangeResponse,
} from '../../src/proto/gen/etcdserverpb/rpc.js';
import { b64, etcdctl, parseJson } from '../support/etcdctl.js';
import { type KvNode, removeDir, startKvNode } from '../support/kvnode.js';

const b = (s: string) => Buffer.from(s);

describe('kvctl node driven by the real etcdctl', { timeout: 120_000 }, () => {
  let node: KvNode;
  let ep: string;
  let client: KVClient;
  const ctl = (...args: string[]) => etcdctl(ep, args);
  const kv = {
    range: (req: RangeRequestT) =>
      new Promise<RangeResponse>((resolve, reject) => client.range(req, (err, res) => (err ? reject(err) : resolve(res)))),
  };

  before(async () => {
    node = await startKvNode({ name: 'infra0' });
    ep = node.endpoint;
    client = new KVClient(ep, credentials.createInsecure());
  });
  after(async () => {
    client?.close();
    await node?.stop();
    if (node) removeDir(node.dataDir);
  });

  test('put, get, del with prefixes, revisions and options', async () => {
    assert.equal((await ctl('put', 'foo', 'bar')).stdout, 'OK\n');
    assert.equal((await ctl('get', 'foo')).stdout, 'foo\nbar\n');
    await ctl('put', 'foo1', 'v1');
    await ctl('put', 'foo2', 'v2');
    await ctl('put', 'fop', 'x');
    assert.equal((await ctl('get', 'foo', '--prefix', '--keys-only')).stdout, 'foo\n\nfoo1\n\nfoo2\n\n');
    assert.equal((await ctl('get', 'foo', 'foo2')).stdout, 'foo\nbar\nfoo1\nv1\n');
    assert.equal((await ctl('get', 'foo', '--prefix', '--limit', '1')).stdout, 'foo\nbar\n');
    assert.equal((await ctl('get', 'foo', '--prefix', '--print-value-only', '--order', 'DESCEND')).stdout, 'v2\nv1\nbar\n');
    assert.equal((await ctl('get', 'foo', '--from-key', '--keys-only')).stdout, 'foo\n\nfoo1\n\nfoo2\n\nfop\n\n');
    assert.equal(parseJson(await ctl('get', 'foo', '--prefix', '--limit', '1', '-w', 'json')).count, 3);
    const counted = await kv.range(RangeRequest.fromPartial({ key: b('foo'), rangeEnd: b('fop'), countOnly: true }));
    assert.equal(counted.count, 3n);
    assert.deepEqual(counted.kvs, []);

    const put1 = parseJson(await ctl('put', 'rev', 'one', '-w', 'json'));
    const rev1 = (put1.header as { revision: number }).revision;
    await ctl('put', 'rev', 'two');
    assert.equal((await ctl('get', 'rev', '--rev', String(rev1), '--print-value-only')).stdout, 'one\n');
    const got = parseJson(await ctl('get', 'rev', '-w', 'json'));
    const first = (got.kvs as Array<Record<string, unknown>>)[0];
    assert.ok(first);
    assert.equal(first.key, b64('rev'));
    assert.equal(first.value, b64('two'));
    assert.equal(first.create_revision, rev1);
    assert.equal(first.mod_revision, rev1 + 1);
    assert.equal(first.version, 2);

    assert.equal((await ctl('put', 'rev', 'three', '--prev-kv')).stdout, 'OK\nrev\ntwo\n');
    assert.equal((await ctl('del', 'foo', '--prefix')).stdout, '3\n');
    assert.equal((await ctl('del', 'fop', '--prev-kv')).stdout, '1\nfop\nx\n');
    assert.equal((await ctl('get', 'foo', '--prefix')).stdout, '');
  });

  test('sorting, min/max revision filters, serializable reads', async () => {
    await ctl('put', 's/b', '1');
    await ctl('put', 's/a', '3');
    await ctl('put', 's/c', '2');
    assert.equal((await ctl('get', 's/', '--prefix', '--sort-by', 'VALUE', '--print-value-only')).stdout, '1\n2\n3\n');
    assert.equal((await ctl('get', 's/', '--prefix', '--sort-by', 'MODIFY', '--order', 'DESCEND', '--keys-only')).stdout, 's/c\n\ns/a\n\ns/b\n\n');
    assert.equal((await ctl('get', 's/', '--prefix', '--consistency', 's', '--keys-only')).stdout, 's/a\n\ns/b\n\ns/c\n\n');
    const all = parseJson(await ctl('get', 's/', '--prefix', '-w', 'json'));
    const revs = (all.kvs as Array<{ mod_revision: number }>).map((k) => k.mod_revision).sort((a, b) => a - b);
    const min = revs[1] ?? 0;
    // etcdctl 3.4 has no flags for these filters: our own client says them.
    const keys = (r: { kvs: Array<{ key: Buffer }> }) => r.kvs.map((k) => k.key.toString());
    const prefix = { key: b('s/'), rangeEnd: b('s0') };
    assert.deepEqual(keys(await kv.range(RangeRequest.fromPartial({ ...prefix, minModRevision: BigInt(min) }))), ['s/a', 's/c']);
    assert.deepEqual(keys(await kv.range(RangeRequest.fromPartial({ ...prefix, maxCreateRevision: BigInt(min) }))), ['s/a', 's/b']);
    const limited = await kv.range(RangeRequest.fromPartial({ ...prefix, limit: 2n, sortTarget: RangeRequest_SortTarget.VALUE, sortOrder: RangeRequest_SortOrder.DESCEND }));
    assert.deepEqual(keys(limited), ['s/a', 's/c']);
    assert.equal(limited.more, true);
    assert.equal(limited.count, 3n);
  });

  test('txn: compares, success and failure branches', async () => {
    await ctl('put', 'tx', 'v1');
    const ok = await etcdctl(ep, ['txn'], { input: 'value("tx") = "v1"\n\nput tx v2\nget tx\n\nput tx nope\n\n' });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'SUCCESS\n\nOK\n\ntx\nv2\n');
    const fail = await etcdctl(ep, ['txn'], { input: 'mod("tx") < "2"\n\nput tx v3\n\nget tx\n\n' });
    assert.equal(fail.stdout, 'FAILURE\n\ntx\nv2\n');
    const missing = await etcdctl(ep, ['txn'], { input: 'version("absent") = "0"\n\nput absent created\n\n\n' });
    assert.equal(missing.stdout, 'SUCCESS\n\nOK\n');
    const dup = await etcdctl(ep, ['txn'], { input: '\nput d 1\nput d 2\n\n\n' });
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /etcdserver: duplicate key given in txn request/);
  });

  test('compaction: old revisions answer etcd\'s compacted error', async () => {
    const r = parseJson(await ctl('put', 'c', '1', '-w', 'json'));
    const rev = (r.header as { revision: number }).revision;
    await ctl('put', 'c', '2');
    const compact = await ctl('compaction', String(rev + 1), '--physical');
    assert.equal(compact.stdout, `compacted revision ${rev + 1}\n`);
    const old = await ctl('get', 'c', '--rev', String(rev));
    assert.notEqual(old.code, 0);
    assert.match(old.stderr, /etcdserver: mvcc: required revision has been compacted/);
    const again = await ctl('compaction', String(rev));
    assert.match(again.stderr, /etcdserver: mvcc: required revision has been compacted/);
    const future = await ctl('get', 'c', '--rev', '999999999');
    assert.match(future.stderr, /etcdserver: mvcc: required revision is a future revision/);
    assert.equal((await ctl('get', 'c', '--print-value-only')).stdout, '2\n');
  });

  test('bad requests get etcd\'s errors and change nothing', async () => {
    const empty = await ctl('put', '', 'v');
    assert.notEqual(empty.code, 0);
    assert.match(empty.stderr, /etcdserver: key is not provided/);
    const ignore = await ctl('put', 'never-written', '--ignore-value');
    assert.match(ignore.stderr, /etcdserver: key not found/);
    const lease = await ctl('put', 'k', 'v', '--lease', '1234');
    assert.match(lease.stderr, /etcdserver: requested lease not found/);
    const big = await etcdctl(ep, ['put', 'big'], { input: 'x'.repeat(1_600_000) });
    assert.match(big.stderr, /etcdserver: request is too large/);
    assert.equal((await ctl('get', 'big')).stdout, '');
    assert.equal((await ctl('get', 'k')).stdout, '');
  });

  test('endpoint status and health, member list', async () => {
    const status = parseJson(await ctl('endpoint', 'status', '-w', 'json')) as unknown as Array<{
      Endpoint: string;
      Status: { header: { member_id: number }; leader: number; version: string; raftIndex: number; raftAppliedIndex: number };
    }>;
    const s = status[0];
    assert.ok(s);
    assert.equal(s.Endpoint, ep);
    assert.equal(s.Status.leader, s.Status.header.member_id);
    assert.ok(s.Status.raftIndex > 0);
    const table = await ctl('endpoint', 'status', '-w', 'table');
    assert.match(table.stdout, /\| +true +\| +false +\|/);
    const health = await ctl('endpoint', 'health');
    assert.equal(health.code, 0, health.stderr);
    assert.match(health.stdout + health.stderr, new RegExp(`${ep.replaceAll('.', '\\.')} is healthy: successfully committed proposal`));
    const members = await ctl('member', 'list');
    assert.match(members.stdout, new RegExp(`^[0-9a-f]+, started, infra0, http://127\\.0\\.0\\.1:\\d+, http://${ep.replaceAll('.', '\\.')}, false\\n$`));
    // A learner can be added and removed without touching the quorum (a voter added to a one-member cluster
    // would make it wait for the new member, as etcd does).
    const add = await ctl('member', 'add', 'infra1', '--peer-urls', 'http://127.0.0.2:2380', '--learner');
    assert.equal(add.code, 0, add.stderr);
    const id = /^Member +([0-9a-f]+) added to cluster/.exec(add.stdout)?.[1];
    assert.ok(id !== undefined, add.stdout);
    assert.match(add.stdout, /ETCD_INITIAL_CLUSTER_STATE="existing"/);
    const removed = await ctl('member', 'remove', id);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match((await ctl('member', 'list')).stdout, /^[0-9a-f]+, started, infra0, [^\n]*\n$/);
    const hash = parseJson(await ctl('endpoint', 'hashkv', '-w', 'json')) as unknown as Array<{ HashKV: { hash: number } }>;
    assert.equal(typeof hash[0]?.HashKV.hash, 'number');
  });

  test('defrag while clients write: every write lands, the data survives the file swap', async () => {
    const writes = Array.from({ length: 40 }, (_, i) => ctl('put', `df${i}`, `v${i}`));
    const defrag = await ctl('defrag');
    assert.equal(defrag.code, 0, defrag.stderr);
    assert.match(defrag.stdout, new RegExp(`Finished defragmenting etcd member\\[${ep.replaceAll('.', '\\.')}\\]`));
    for (const w of await Promise.all(writes)) assert.equal(w.stdout, 'OK\n', w.stderr);
    const got = parseJson(await ctl('get', 'df', '--prefix', '--limit', '1', '-w', 'json'));
    assert.equal(got.count, 40);
    assert.equal((await ctl('alarm', 'list')).stdout, '');
  });

  test('HTTP endpoints on the client port: /health, /version, /metrics', async () => {
    const health = await fetch(`http://${ep}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { health: 'true', reason: '' });
    const version = (await (await fetch(`http://${ep}/version`)).json()) as Record<string, string>;
    assert.match(version.etcdserver ?? '', /^3\.\d+\.\d+$/);
    const metrics = await (await fetch(`http://${ep}/metrics`)).text();
    assert.match(metrics, /^etcd_server_has_leader 1$/m);
    assert.match(metrics, /^etcd_server_proposals_committed_total \d+$/m);
    assert.match(metrics, /^etcd_disk_wal_fsync_duration_seconds_count \d+$/m);
    assert.match(metrics, /^etcd_disk_backend_commit_duration_seconds_bucket\{le="\+Inf"\} \d+$/m);
    assert.match(metrics, /^etcd_mvcc_db_total_size_in_bytes \d+$/m);
  });
});
