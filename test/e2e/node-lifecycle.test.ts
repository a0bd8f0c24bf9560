// `kvctl node` as an operator runs it: flags and ETCD_* variables, restarts, kill -9 under write load,
// snapshots and WAL purge, a corrupt WAL.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

import { credentials } from '@grpc/grpc-js';

import { KVClient, type PutResponse } from '../../src/proto/gen/etcdserverpb/rpc.js';
import { etcdctl } from '../support/etcdctl.js';
import { type KvNode, removeDir, startKvNode } from '../support/kvnode.js';
import { freePort } from '../support/ports.js';
import { kvctl } from './kvctl.js';

const nodes: KvNode[] = [];
const dirs: string[] = [];
after(async () => {
  for (const n of nodes) await n.kill9();
  for (const d of dirs) removeDir(d);
});

async function start(opts: Parameters<typeof startKvNode>[0] = {}): Promise<KvNode> {
  const n = await startKvNode(opts);
  nodes.push(n);
  if (!dirs.includes(n.dataDir)) dirs.push(n.dataDir);
  return n;
}

describe('kvctl node: flags and environment', { timeout: 60_000 }, () => {
  test('an unknown flag stops it with one line naming the flag', async () => {
    const r = await kvctl(['node', '--no-such-flag']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no-such-flag/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });

  test('a bad value names the flag, from the command line or from ETCD_*', async () => {
    const flag = await kvctl(['node', '--snapshot-count', 'lots']);
    assert.notEqual(flag.code, 0);
    assert.match(flag.stderr, /--snapshot-count/);
    assert.equal(flag.stderr.trim().split('\n').length, 1, flag.stderr);
    const env = await kvctl(['node'], { env: { ETCD_SNAPSHOT_COUNT: 'lots' } });
    assert.notEqual(env.code, 0);
    assert.match(env.stderr, /--snapshot-count/);
    const url = await kvctl(['node', '--listen-client-urls', 'localhost:2379']);
    assert.match(url.stderr, /--listen-client-urls/);
    const et = await kvctl(['node', '--heartbeat-interval', '300', '--election-timeout', '1000']);
    assert.match(et.stderr, /--election-timeout\[1000ms\] should be at least as 5 times as --heartbeat-interval\[300ms\]/);
  });

  test('ETCD_* variables configure it and a flag wins over its variable', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'kvctl-env-'));
    dirs.push(dataDir);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const n = await start({
      name: 'fromflag',
      dataDir,
      clientPort: port,
      env: { ETCD_NAME: 'fromenv', ETCD_ADVERTISE_CLIENT_URLS: url, ETCD_SNAPSHOT_COUNT: '5000' },
    });
    const members = await etcdctl(n.endpoint, ['member', 'list']);
    assert.match(members.stdout, /, started, fromflag, /);
    await n.stop();
  });

  test('with no flags it serves on 127.0.0.1:2379 and keeps data in ./default.etcd', async (t) => {
    const cwd = mkdtempSync(join(tmpdir(), 'kvctl-default-'));
    dirs.push(cwd);
    const probe = await etcdctl('127.0.0.1:2379', ['endpoint', 'health'], { timeoutMs: 8000 });
    if (probe.code === 0) {
      t.skip('something already serves 127.0.0.1:2379');
      return;
    }
    const { spawn } = await import('node:child_process');
    const { root } = await import('./kvctl.js');
    const child = spawn(process.execPath, [join(root, 'bin/run.js'), 'node'], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr.on('data', (d: Buffer) => (log += d.toString()));
    try {
      for (let i = 0; i < 300 && !log.includes('ready to serve'); i++) await new Promise((r) => setTimeout(r, 20));
      assert.match(log, /ready to serve/);
      assert.equal((await etcdctl('127.0.0.1:2379', ['put', 'k', 'v'])).stdout, 'OK\n');
      assert.ok(existsSync(join(cwd, 'default.etcd', 'member', 'wal')));
      assert.ok(existsSync(join(cwd, 'default.etcd', 'member', 'snap', 'db')));
      const members = await etcdctl('127.0.0.1:2379', ['member', 'list']);
      // etcd's own ids for its defaults (name default, http://localhost:2380, token etcd-cluster).
      assert.match(members.stdout, /^8e9e05c52164694d, started, default, http:\/\/localhost:2380, http:\/\/localhost:2379, false/);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('kvctl node: durability', { timeout: 120_000 }, () => {
  test('a clean restart keeps every key', async () => {
    let n = await start();
    for (let i = 0; i < 20; i++) await etcdctl(n.endpoint, ['put', `k${i}`, `v${i}`]);
    assert.equal(await n.stop(), 0, n.log());
    n = await start({ dataDir: n.dataDir, clientPort: n.clientPort });
    const got = await etcdctl(n.endpoint, ['get', 'k', '--prefix', '--limit', '1', '-w', 'json']);
    assert.equal((JSON.parse(got.stdout) as { count: number }).count, 20);
    await n.stop();
  });

  test('kill -9 under concurrent writes loses no acknowledged put', async () => {
    let n = await start();
    const client = new KVClient(n.endpoint, credentials.createInsecure());
    const acked = new Set<string>();
    let stop = false;
    const writer = async (w: number) => {
      for (let i = 0; i < 100_000 && !stop; i++) {
        const key = `w${w}/${i}`;
        const ok = await new Promise<boolean>((resolve) =>
          client.put({ key: Buffer.from(key), value: Buffer.from(`v${i}`), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false }, (err: unknown, _r?: PutResponse) => resolve(!err)),
        );
        if (!ok) return;
        acked.add(key);
      }
    };
    const writers = Array.from({ length: 16 }, (_, w) => writer(w));
    await new Promise((r) => setTimeout(r, 1500));
    await n.kill9();
    stop = true;
    await Promise.all(writers);
    client.close();
    assert.ok(acked.size > 50, `only ${acked.size} puts acknowledged before the kill`);

    n = await start({ dataDir: n.dataDir, clientPort: n.clientPort });
    const got = await etcdctl(n.endpoint, ['get', 'w', '--prefix', '--keys-only'], { timeoutMs: 60_000 });
    const present = new Set(got.stdout.split('\n').filter((l) => l !== ''));
    const lost = [...acked].filter((k) => !present.has(k));
    assert.deepEqual(lost, [], `${lost.length} of ${acked.size} acknowledged puts lost`);
    await n.stop();
  });

  test('snapshots every --snapshot-count entries, purges old files, restarts from the snapshot', async () => {
    let n = await start({ args: ['--snapshot-count', '50', '--max-snapshots', '2'] });
    const client = new KVClient(n.endpoint, credentials.createInsecure());
    const put = (i: number) =>
      new Promise<void>((resolve, reject) =>
        client.put({ key: Buffer.from(`s${i}`), value: Buffer.from(`v${i}`), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false }, (err: unknown) => (err ? reject(err as Error) : resolve())),
      );
    for (let i = 0; i < 400; i++) await put(i);
    client.close();
    const snapDir = join(n.dataDir, 'member', 'snap');
    const snaps = readdirSync(snapDir).filter((f) => f.endsWith('.snap'));
    assert.ok(snaps.length >= 1 && snaps.length <= 2, `snap files: ${snaps.join(', ')}`);
    await n.stop();
    n = await start({ dataDir: n.dataDir, clientPort: n.clientPort });
    assert.equal((await etcdctl(n.endpoint, ['get', 's399', '--print-value-only'])).stdout, 'v399\n');
    const count = await etcdctl(n.endpoint, ['get', 's', '--prefix', '--limit', '1', '-w', 'json']);
    assert.equal((JSON.parse(count.stdout) as { count: number }).count, 400);
    await n.stop();
  });

  test('a corrupt WAL record refuses to start, naming the file and offset', async () => {
    const n = await start();
    for (let i = 0; i < 30; i++) await etcdctl(n.endpoint, ['put', `c${i}`, 'x'.repeat(100)]);
    await n.stop();
    const walDir = join(n.dataDir, 'member', 'wal');
    const file = readdirSync(walDir).filter((f) => f.endsWith('.wal')).sort()[0];
    assert.ok(file);
    const buf = readFileSync(join(walDir, file));
    // Flip a byte inside an early entry record, with valid records after it.
    const at = buf.indexOf(Buffer.from('x'.repeat(100)));
    assert.ok(at > 0);
    buf[at + 10] = (buf[at + 10] ?? 0) ^ 0xff;
    writeFileSync(join(walDir, file), buf);
    const r = await kvctl(['node', '--data-dir', n.dataDir, '--listen-client-urls', `http://127.0.0.1:${n.clientPort}`], { timeoutMs: 20_000 });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`${file.replace('.', '\\.')}.*offset \\d+`));
  });
});
