// Leases end to end: the real etcdctl 3.4 against `kvctl node` (grant, put --lease, timetolive, keep-alive,
// revoke, list, expiry, restart), and `kvctl lease ...` printing what etcdctl prints, against kvctl node and
// against a real etcd.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { EtcdClient, LeaseApi } from '../../src/client/index.js';
import { type EtcdHandle, startEtcd } from '../support/etcd.js';
import { b64, etcdctl } from '../support/etcdctl.js';
import { type KvNode, removeDir, startKvNode } from '../support/kvnode.js';
import { kvctl, root } from './kvctl.js';

/**
 * A 500 ms election timeout keeps the waits short: etcd's minimum TTL for it is 1 s (1.5 election timeouts,
 * rounded up), and a new leader extends leases by 0.5 s.
 */
const NODE_ARGS = ['--election-timeout', '500', '--heartbeat-interval', '100'];

/** Polls until `check` holds or `ms` pass; returns whether it held. */
async function eventually(ms: number, check: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(100);
  }
  return check();
}

/** A long-running process with its output so far. */
function spawnProc(command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}) {
  const child: ChildProcess = spawn(command, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  void exited.then(() => clearTimeout(timer));
  return { child, exited, out: () => stdout, err: () => stderr };
}

const idOf = (granted: string): string => {
  const m = /^lease ([0-9a-f]{16}) granted with TTL\((\d+)s\)\n$/.exec(granted);
  assert.ok(m, `unexpected grant output ${JSON.stringify(granted)}`);
  return m[1] as string;
};

// The two halves (kvctl node, real etcd) are independent: run them side by side.
describe('leases', { concurrency: true }, () => {
describe('leases on kvctl node, driven by the real etcdctl', { timeout: 60_000, concurrency: false }, () => {
  let node: KvNode;
  const ctl = (...args: string[]) => etcdctl(node.endpoint, args);
  const kv = (...args: string[]) => kvctl(['--endpoints', node.endpoint, ...args]);

  before(async () => {
    node = await startKvNode({ name: 'lease0', args: NODE_ARGS });
  });
  after(async () => {
    await node?.stop();
    if (node) removeDir(node.dataDir);
  });

  test('grant, put --lease, timetolive --keys, keep-alive --once, list, revoke', async () => {
    const id = idOf((await ctl('lease', 'grant', '60')).stdout);
    assert.equal((await ctl('put', 'lk/b', '1', '--lease', id)).stdout, 'OK\n');
    assert.equal((await ctl('put', 'lk/a', '2', '--lease', id)).stdout, 'OK\n');
    assert.equal((await ctl('put', 'lk/plain', '3')).stdout, 'OK\n');

    const ttl = await ctl('lease', 'timetolive', id, '--keys');
    assert.match(ttl.stdout, new RegExp(`^lease ${id} granted with TTL\\(60s\\), remaining\\((59|60)s\\), attached keys\\(\\[lk/a lk/b\\]\\)\n$`));
    const json = JSON.parse((await ctl('lease', 'timetolive', id, '--keys', '-w', 'json')).stdout) as Record<string, unknown>;
    assert.equal(json['granted-ttl'], 60);
    assert.deepEqual(json.keys, [b64('lk/a'), b64('lk/b')]);
    assert.equal((await ctl('get', 'lk/a', '-w', 'json')).stdout.includes(`"lease":${BigInt(`0x${id}`)}`), true);

    assert.equal((await ctl('lease', 'keep-alive', '--once', id)).stdout, `lease ${id} keepalived with TTL(60)\n`);
    assert.match((await ctl('lease', 'list')).stdout, new RegExp(`^found \\d+ leases\n(.*\n)*${id}\n`));

    assert.equal((await ctl('lease', 'revoke', id)).stdout, `lease ${id} revoked\n`);
    assert.equal((await ctl('get', 'lk/', '--prefix', '--keys-only')).stdout, 'lk/plain\n\n');
    assert.equal((await ctl('lease', 'timetolive', id)).stdout, `lease ${id} already expired\n`);
    assert.doesNotMatch((await ctl('lease', 'list')).stdout, new RegExp(id));

    const again = await ctl('lease', 'revoke', id);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /Error: failed to revoke lease \(etcdserver: requested lease not found\)\n$/);
    const once = await ctl('lease', 'keep-alive', '--once', id);
    assert.equal(once.code, 2);
    assert.match(once.stderr, /Error: etcdserver: requested lease not found\n$/);
    const put = await ctl('put', 'lk/x', 'v', '--lease', id);
    assert.equal(put.code, 1);
    assert.match(put.stderr, /Error: etcdserver: requested lease not found\n$/);
    const big = await ctl('lease', 'grant', '9000000001');
    assert.match(big.stderr, /Error: failed to grant lease \(etcdserver: too large lease TTL\)\n$/);
  });

  test("an expired lease's keys are deleted; keep-alive keeps another alive until it is revoked", async () => {
    // etcd's minimum TTL (1 s for this node's election timeout) instead of 0.
    const [short, kept, cli] = await Promise.all([ctl('lease', 'grant', '0'), ctl('lease', 'grant', '2'), ctl('lease', 'grant', '10')]);
    assert.match(short.stdout, /granted with TTL\(1s\)/);
    const [shortId, keptId, cliId] = [short, kept, cli].map((r) => idOf(r.stdout)) as [string, string, string];
    const t0 = Date.now();
    // The 2 s lease is kept alive by kvctl's client in this process (a CLI process could take longer than
    // 2 s to start on a busy machine); the CLI's keep-alive runs on the 10 s lease.
    const client = EtcdClient.create({ endpoints: node.endpoint });
    const renewals: bigint[] = [];
    const kept2 = new LeaseApi(client).keepAlive(BigInt(`0x${keptId}`), { onResponse: (r) => renewals.push(r.TTL) });
    const keeper = spawnProc(process.execPath, [join(root, 'bin/run.js'), 'lease', 'keep-alive', cliId, '--endpoints', node.endpoint]);
    try {
      await Promise.all([ctl('put', 'exp/short', 'v', '--lease', shortId), ctl('put', 'exp/kept', 'v', '--lease', keptId)]);

      const gone = await eventually(6_000, async () => (await ctl('get', 'exp/short')).stdout === '');
      const elapsed = Date.now() - t0;
      assert.ok(gone, 'the expired lease kept its key');
      assert.ok(elapsed >= 900, `deleted after ${elapsed} ms, before its TTL`);
      assert.equal((await ctl('lease', 'timetolive', shortId)).stdout, `lease ${shortId} already expired\n`);

      // Past the kept lease's own TTL: the keep-alive renewed it, every TTL/3.
      await sleep(Math.max(0, 2_600 - (Date.now() - t0)));
      assert.equal((await ctl('get', 'exp/kept', '--print-value-only')).stdout, 'v\n');
      assert.ok(renewals.length >= 3, `${renewals.length} renewals`);
      assert.ok(renewals.every((ttl) => ttl === 2n));
      await ctl('lease', 'revoke', keptId);
      assert.equal(await kept2, 'expired');
      assert.equal((await ctl('get', 'exp/kept')).stdout, '');

      assert.ok(await eventually(10_000, async () => keeper.out() !== ''), `kvctl lease keep-alive printed nothing: ${keeper.err()}`);
      await ctl('lease', 'revoke', cliId);
      assert.equal(await keeper.exited, 0, keeper.err());
      assert.match(keeper.out(), new RegExp(`^(lease ${cliId} keepalived with TTL\\(10\\)\n)+lease ${cliId} expired or revoked\\.\n$`));
    } finally {
      client.close();
      keeper.child.kill('SIGKILL');
    }
  });

  test('leases and their keys survive a restart; expiry starts fresh', async () => {
    const [long, short] = await Promise.all([ctl('lease', 'grant', '60'), ctl('lease', 'grant', '1')]);
    const longId = idOf(long.stdout);
    const shortId = idOf(short.stdout);
    await Promise.all([
      ctl('put', 'rs/1', 'v', '--lease', longId),
      ctl('put', 'rs/2', 'v', '--lease', longId),
      ctl('put', 'rs/short', 'v', '--lease', shortId),
    ]);
    assert.equal(await node.stop(), 0);
    node = await startKvNode({ name: 'lease0', dataDir: node.dataDir, clientPort: node.clientPort, args: NODE_ARGS });
    const t0 = Date.now();

    const ttl = await ctl('lease', 'timetolive', longId, '--keys');
    // Promote gives every lease now + election timeout + TTL: 60.5 s, printed truncated.
    assert.match(ttl.stdout, new RegExp(`^lease ${longId} granted with TTL\\(60s\\), remaining\\((59|60)s\\), attached keys\\(\\[rs/1 rs/2\\]\\)\n$`));
    assert.match((await ctl('lease', 'list')).stdout, new RegExp(longId));
    // The restored short lease still expires, counted from the restart: 0.5 s + 1 s.
    assert.ok(await eventually(6_000, async () => (await ctl('get', 'rs/short')).stdout === ''), 'the restored lease never expired');
    assert.ok(Date.now() - t0 >= 1_000, 'the restored lease expired before its TTL');
    assert.equal((await ctl('get', 'rs/', '--prefix', '--keys-only')).stdout, 'rs/1\n\nrs/2\n\n');
    // Keys re-attached from the KV store go with their lease.
    await ctl('lease', 'revoke', longId);
    assert.equal((await ctl('get', 'rs/', '--prefix')).stdout, '');
  });

  test('kvctl lease prints what etcdctl prints', async () => {
    const id = idOf((await ctl('lease', 'grant', '100')).stdout);
    await ctl('put', 'cmp/b', 'v', '--lease', id);
    await ctl('put', 'cmp/a', 'v', '--lease', id);
    // Remaining seconds may tick between the two runs; everything else must be equal byte for byte.
    const norm = (s: string) => s.replace(/remaining\(\d+s\)/, 'remaining(Ns)').replace(/"ttl":\d+/, '"ttl":N').replace(/"TTL" : \d+/, '"TTL" : N');
    const same = async (args: string[], normalize = (s: string) => s) => {
      const [ours, theirs] = await Promise.all([kv(...args), ctl(...args)]);
      assert.equal(normalize(ours.stdout), normalize(theirs.stdout), `stdout of ${args.join(' ')} (kvctl: ${ours.stderr})`);
      assert.equal(ours.code, theirs.code, `exit code of ${args.join(' ')}: ${ours.stderr}`);
      // etcdctl may log a retry line before its error; the error line is the last.
      assert.equal(ours.stderr.trim().split('\n').pop(), theirs.stderr.trim().split('\n').pop(), `stderr of ${args.join(' ')}`);
    };
    // Twin leases for the operations that change state (one for each tool).
    const twins = await Promise.all([ctl('lease', 'grant', '30'), ctl('lease', 'grant', '30')]);
    const [mine, theirs] = twins.map((t) => idOf(t.stdout)) as [string, string];
    await Promise.all([
      same(['lease', 'timetolive', id, '--keys'], norm),
      same(['lease', 'timetolive', id, '--keys', '-w', 'json'], norm),
      same(['lease', 'timetolive', id, '--keys', '-w', 'fields'], norm),
      same(['lease', 'list', '-w', 'json']),
      same(['lease', 'keep-alive', '--once', id, '-w', 'fields']),
      same(['lease', 'keep-alive', '--once', 'abc0']),
      same(['lease', 'timetolive', 'abc0']),
      same(['lease', 'revoke', 'abc0']),
      same(['lease', 'grant', 'x']),
    ]);
    const [g1, g2, r1, r2] = await Promise.all([
      kv('lease', 'grant', '0'),
      ctl('lease', 'grant', '0'),
      kv('lease', 'revoke', mine),
      ctl('lease', 'revoke', theirs),
    ]);
    assert.equal(g1.stdout.replace(/[0-9a-f]{16}/, 'ID'), g2.stdout.replace(/[0-9a-f]{16}/, 'ID'));
    assert.equal(r1.stdout.replace(mine, 'ID'), r2.stdout.replace(theirs, 'ID'));
    assert.equal((await kv('lease', 'revoke', id)).stdout, `lease ${id} revoked\n`);
    assert.equal((await ctl('get', 'cmp/', '--prefix')).stdout, '');
  });
});

describe('kvctl lease against a real etcd', { timeout: 60_000, concurrency: false }, () => {
  let etcd: EtcdHandle;
  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    await etcd?.stop();
  });

  test('the same operations print the same as etcdctl', async () => {
    const ctl = (...args: string[]) => etcdctl(etcd.endpoint, args);
    const kv = (...args: string[]) => kvctl(['--endpoints', etcd.endpoint, ...args]);
    const [granted, long] = await Promise.all([kv('lease', 'grant', '0'), kv('lease', 'grant', '100')]);
    assert.equal(granted.code, 0, granted.stderr);
    // etcd raises it to its minimum too.
    assert.match(granted.stdout, /^lease [0-9a-f]{16} granted with TTL\(2s\)\n$/);
    const id = idOf(long.stdout);
    // One key: etcd lists attached keys in map order. The short lease goes: it would expire mid-comparison.
    await Promise.all([ctl('put', 'ek', 'v', '--lease', id), ctl('lease', 'revoke', idOf(granted.stdout))]);
    const norm = (s: string) => s.replace(/remaining\(\d+s\)/, 'remaining(Ns)').replace(/"ttl":\d+/, '"ttl":N');
    const compare = [
      ['lease', 'timetolive', id, '--keys'],
      ['lease', 'timetolive', id, '--keys', '-w', 'json'],
      ['lease', 'list', '-w', 'json'],
    ].map(async (args) => {
      const [ours, theirs] = await Promise.all([kv(...args), ctl(...args)]);
      assert.equal(norm(ours.stdout), norm(theirs.stdout), args.join(' '));
    });
    const missing = kv('lease', 'keep-alive', '--once', 'abc0').then((once) => {
      assert.equal(once.code, 2);
      assert.equal(once.stderr, 'Error: etcdserver: requested lease not found\n');
    });
    await Promise.all([...compare, missing]);
    assert.equal((await kv('lease', 'revoke', id)).stdout, `lease ${id} revoked\n`);
    assert.equal((await ctl('get', 'ek')).stdout, '');
  });
});
});
