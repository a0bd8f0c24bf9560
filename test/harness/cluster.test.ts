// The cluster harness's own guarantees, with the real etcd: stop() leaves nothing behind, and neither does a test
// process that is killed while its cluster runs.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { startCluster } from '../support/cluster.js';
import { HistoryRecorder, runKvOp } from '../support/history.js';
import { checkLinearizable } from '../support/linearizability.js';
import { waitFor } from '../support/wait.js';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('cluster harness', { timeout: 60_000 }, () => {
  test('stop() kills every member, closes the proxies and removes the data directories; twice is harmless', async (t) => {
    const cluster = await startCluster({ kind: 'etcd', proxied: true });
    t.after(() => cluster.stop());
    assert.deepEqual(
      cluster.members.map((m) => [m.name, m.host]),
      [['m1', '127.0.0.1'], ['m2', '127.0.0.2'], ['m3', '127.0.0.3']],
    );
    for (const m of cluster.members) {
      assert.equal(m.peerUrl, m.proxy?.url);
      assert.notEqual(m.peerUrl, m.listenPeerUrl);
      assert.equal(new URL(m.peerUrl).hostname, m.host);
      assert.ok(m.id !== undefined && m.id !== 0n);
    }
    const leader = await cluster.leader();
    await leader.kill9();
    assert.equal(leader.running(), false);
    await leader.restart();
    assert.equal(leader.running(), true);
    assert.match(leader.log(), /started again/);
    const pids = cluster.members.map((m) => m.pid!);
    const dirs = cluster.members.map((m) => m.dataDir);
    await cluster.stop();
    await cluster.stop();
    for (const pid of pids) assert.equal(alive(pid), false, `pid ${pid} still alive`);
    for (const dir of dirs) assert.equal(existsSync(dir), false, `${dir} still there`);
    // The proxies are closed for real: their ports can be bound again.
    for (const m of cluster.members) {
      if (m.proxy === undefined) continue;
      const probe = createServer();
      await new Promise<void>((resolve, reject) => {
        probe.once('error', reject);
        probe.listen(m.proxy?.port, m.proxy?.host, () => resolve());
      });
      await new Promise<void>((resolve) => probe.close(() => resolve()));
    }
  });

  test('a member that cannot start fails startCluster at once, with its log', async () => {
    const started = Date.now();
    await assert.rejects(startCluster({ kind: 'etcd', extraArgs: ['--no-such-flag'] }), (err: Error) => {
      assert.match(err.message, /m1 is not running/);
      assert.match(err.message, /no-such-flag/);
      return true;
    });
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
  });

  test('a test process killed with SIGTERM takes its members and data directories with it', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(fileURLToPath(new URL('.', import.meta.url)), 'cluster-exit-child.ts')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    try {
      const line = await waitFor(() => out.split('\n').find((l) => l.startsWith('{')), { timeoutMs: 30_000, what: `the child's cluster (stderr: ${err})` });
      const { pids, dirs } = JSON.parse(line) as { pids: number[]; dirs: string[] };
      assert.equal(pids.length, 3);
      for (const pid of pids) assert.equal(alive(pid), true);
      child.kill('SIGTERM');
      assert.equal(await exited, 'SIGTERM', 'the child dies of the signal, as it would have without the hook');
      await waitFor(() => pids.every((pid) => !alive(pid)), { timeoutMs: 5000, what: 'the members to die' });
      for (const dir of dirs) assert.equal(existsSync(dir), false, `${dir} still there`);
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('negative control: stale serializable reads from a partitioned member are caught by the checker', async (t) => {
    const cluster = await startCluster({ kind: 'etcd', proxied: true });
    t.after(() => cluster.stop());
    const leader = await cluster.leader();
    const isolated = cluster.members.find((m) => m !== leader)!;
    const writer = cluster.client({ endpoints: [leader.endpoint] });
    const reader = cluster.client({ endpoints: [isolated.endpoint] });
    const recorder = new HistoryRecorder();
    await recorder.record(1, { op: 'put', key: 'x', value: 'before' }, () => runKvOp(writer, { op: 'put', key: 'x', value: 'before' }));
    await cluster.waitConverged();
    cluster.partition(isolated);
    for (let i = 0; i < 10; i++) {
      const put = { op: 'put', key: 'x', value: `during-${i}` } as const;
      await recorder.record(1, put, () => runKvOp(writer, put));
      await recorder.record(2, { op: 'get', key: 'x' }, () => runKvOp(reader, { op: 'get', key: 'x' }, { serializable: true }));
    }
    cluster.heal();
    assert.equal(recorder.counts.ok, 21, JSON.stringify(recorder.errors));
    const result = checkLinearizable(recorder.ops);
    assert.equal(result.verdict, 'not-linearizable');
    assert.ok(result.verdict === 'not-linearizable');
    assert.equal(result.culprit.client, 2);
    assert.match(result.explanation, /get\(x\) -> "before"/);
    t.diagnostic(result.explanation.split('\n').slice(0, 6).join(' | '));
  });
});
