/**
 * End-to-end fault tests of a 3-member cluster, the same bodies for the real etcd and for `kvctl node`:
 *
 *     clusterFaultSuite('etcd');   // test/e2e/cluster-faults.test.ts
 *     clusterFaultSuite('kvctl');
 *
 * (a) kill -9 the leader under write load: a new leader soon, every acknowledged write on every member;
 * (b) partition a follower while writing, heal: it catches up (same revision and HashKV everywhere);
 * (c) concurrent put/get/delete/cas while the leader is partitioned and healed: the history is linearizable;
 * (d) crash the whole cluster (SIGKILL all) and start it again: the data is all there;
 * (e) stop the leader gracefully (SIGTERM) under write load: it hands leadership over first, nothing is lost.
 * Each case starts its own cluster and stops it even when it fails; each reports its timings as diagnostics.
 *
 * clusterMembershipSuite(kind): a fourth member added at runtime (`member add`, then a process started with
 * `--initial-cluster-state existing`) catches up, and later catches up again after a partition.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { ClientError, type EtcdClient } from '../../src/client/index.js';
import { type Cluster, type ClusterKind, type ClusterMember, startCluster } from './cluster.js';
import { etcdctl } from './etcdctl.js';
import { runWorkload } from './history.js';
import { checkLinearizable } from './linearizability.js';
import { waitFor } from './wait.js';


type Writers = {
  /** Writes the servers acknowledged: key -> value (every key is written once). */
  acked: Map<string, string>;
  /** Acknowledgement times (performance.now()). */
  ackTimes: number[];
  failures: Map<string, number>;
  stop(): Promise<void>;
};

/** `count` clients, each putting unique keys under `prefix` as fast as acknowledgements come back. */
function startWriters(cluster: Cluster, prefix: string, count: number, endpoints: readonly string[] = cluster.endpoints): Writers {
  const acked = new Map<string, string>();
  const ackTimes: number[] = [];
  const failures = new Map<string, number>();
  let running = true;
  const loops = Array.from({ length: count }, async (_, w) => {
    // Each writer starts at a different member, so that the load does not all go through one.
    const rotated = endpoints.map((_, i) => endpoints[(w + i) % endpoints.length]!);
    const client: EtcdClient = cluster.client({ endpoints: rotated, commandTimeoutMs: 2000, dialTimeoutMs: 500 });
    for (let n = 0; running; n++) {
      const key = `${prefix}/${w}/${String(n).padStart(6, '0')}`;
      const value = `v-${w}-${n}`;
      try {
        await client.put(key, value);
        acked.set(key, value);
        ackTimes.push(performance.now());
      } catch (err) {
        const code = err instanceof ClientError ? err.code : String(err);
        failures.set(code, (failures.get(code) ?? 0) + 1);
        await sleep(20);
      }
    }
  });
  return {
    acked,
    ackTimes,
    failures,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** Every key under `prefix` on one member, read from its own state (serializable: no quorum round). */
async function localKeys(cluster: Cluster, member: ClusterMember, prefix: string): Promise<Map<string, string>> {
  const client = cluster.client({ endpoints: [member.endpoint] });
  try {
    const res = await client.range(prefix, { prefix: true, serializable: true }, { endpoint: member.endpoint });
    return new Map(res.kvs.map((kv) => [kv.key.toString('utf8'), kv.value.toString('utf8')]));
  } finally {
    client.close();
  }
}

/** Asserts that `member` holds every acknowledged write. */
async function assertHoldsAcked(cluster: Cluster, member: ClusterMember, prefix: string, acked: ReadonlyMap<string, string>): Promise<void> {
  const local = await localKeys(cluster, member, prefix);
  const missing = [...acked].filter(([k, v]) => local.get(k) !== v);
  assert.equal(missing.length, 0, `${member.name} lacks ${missing.length} of ${acked.size} acknowledged writes, e.g. ${JSON.stringify(missing.slice(0, 5))}`);
}

const ms = (t: number): string => `${Math.round(t)} ms`;

export function clusterFaultSuite(kind: ClusterKind): void {
  describe(`3-member ${kind} cluster under faults`, { timeout: 120_000 }, () => {
    test('(a) kill -9 of the leader under write load: a new leader soon, no acknowledged write lost', { timeout: 40_000 }, async (t) => {
      const t0 = performance.now();
      const cluster = await startCluster({ kind });
      t.after(() => cluster.stop());
      const started = performance.now();
      const old = await cluster.leader();

      const writers = startWriters(cluster, 'a', 4);
      await waitFor(() => writers.acked.size >= 50, { timeoutMs: 10_000, what: '50 acknowledged writes before the kill' });
      const killedAt = performance.now();
      await old.kill9();
      const next = await cluster.leader({ not: old, timeoutMs: 10 * cluster.electionMs });
      const electedAt = performance.now();
      const ackedBeforeKill = writers.ackTimes.filter((x) => x < killedAt).length;
      await waitFor(() => writers.ackTimes.filter((x) => x > electedAt).length >= 50, {
        timeoutMs: 10_000,
        what: '50 acknowledged writes after the new leader',
      });
      await writers.stop();
      const firstAckAfter = writers.ackTimes.find((x) => x > killedAt);
      const failover = electedAt - killedAt;
      assert.ok(failover < 5 * cluster.electionMs, `new leader after ${ms(failover)} (election timeout ${cluster.electionMs} ms)`);

      const survivors = cluster.members.filter((m) => m !== old);
      if (kind === 'kvctl') {
        // The followers learned of the death from the reset connections, not by waiting out the lease.
        const heard = survivors.filter((m) => /lost its connection to leader [0-9a-f]+ at term \d+: its lease ends now/.test(m.log()));
        assert.ok(heard.length > 0, `no survivor noticed the reset connection:\n${survivors.map((m) => m.log().split("\n").slice(-30).join("\n")).join('\n')}`);
      }
      await cluster.waitConverged({ members: survivors });
      for (const m of survivors) await assertHoldsAcked(cluster, m, 'a/', writers.acked);
      // The killed member comes back and catches up too.
      await old.restart();
      await cluster.waitConverged();
      await assertHoldsAcked(cluster, old, 'a/', writers.acked);
      t.diagnostic(
        `${kind}: cluster up in ${ms(started - t0)}; killed leader ${old.name}, ${next.name} led after ${ms(failover)}, ` +
          `first write acknowledged ${firstAckAfter === undefined ? 'never' : ms(firstAckAfter - killedAt)} after the kill; ` +
          `${writers.acked.size} writes acknowledged (${ackedBeforeKill} before the kill), failures ${JSON.stringify(Object.fromEntries(writers.failures))}; ` +
          `case took ${ms(performance.now() - t0)}`,
      );
    });

    test('(b) a partitioned follower catches up after the partition heals', { timeout: 40_000 }, async (t) => {
      const t0 = performance.now();
      const cluster = await startCluster({ kind, proxied: true });
      t.after(() => cluster.stop());
      const leader = await cluster.leader();
      const follower = cluster.members.find((m) => m !== leader)!;
      const connected = cluster.members.filter((m) => m !== follower);

      const before = await cluster.status(follower);
      cluster.partition(follower);
      const partitionedAt = performance.now();
      const writers = startWriters(
        cluster,
        'b',
        3,
        connected.map((m) => m.endpoint),
      );
      await waitFor(() => writers.acked.size >= 200, { timeoutMs: 15_000, what: '200 writes acknowledged by the majority' });
      // Long enough for the isolated follower to time out and campaign, which it must not win.
      await sleep(Math.max(0, 3 * cluster.electionMs - (performance.now() - partitionedAt)));
      await writers.stop();
      // The partition is real: the follower saw none of it.
      const lagging = await cluster.status(follower);
      const ahead = await cluster.status(connected[0]!);
      assert.ok(lagging && ahead && before, 'statuses answered');
      assert.equal(lagging.header?.revision, before.header?.revision, `${follower.name} applied writes across the partition`);
      assert.ok((ahead.header?.revision ?? 0n) >= (before.header?.revision ?? 0n) + 200n);

      cluster.heal();
      const healedAt = performance.now();
      const converged = await cluster.waitConverged();
      const caughtUp = performance.now() - healedAt;
      assert.equal(converged.revision, ahead.header?.revision);
      await assertHoldsAcked(cluster, follower, 'b/', writers.acked);
      t.diagnostic(
        `${kind}: partitioned ${follower.name} for ${ms(healedAt - partitionedAt)} while ${writers.acked.size} writes went through; ` +
          `it caught up ${ms(caughtUp)} after the heal (revision ${converged.revision}, hash ${converged.hash}); ` +
          `case took ${ms(performance.now() - t0)}`,
      );
    });

    test('(c) concurrent clients stay linearizable while the leader is partitioned and healed', { timeout: 60_000 }, async (t) => {
      const t0 = performance.now();
      const cluster = await startCluster({ kind, proxied: true });
      t.after(() => cluster.stop());
      const seed = Number(process.env.CLUSTER_FAULTS_SEED ?? Math.floor(Math.random() * 2 ** 31));
      const old = await cluster.leader();

      const workload = runWorkload({ endpoints: cluster.endpoints, durationMs: 5000, seed, clients: 4, commandTimeoutMs: 1000 });
      await sleep(1000);
      cluster.partition(old);
      const partitionedAt = performance.now();
      const next = await cluster.leader({ not: old });
      const electedAt = performance.now();
      await sleep(Math.max(0, 2000 - (electedAt - partitionedAt)));
      cluster.heal();
      const { history, counts, errors } = await workload;
      const converged = await cluster.waitConverged();

      const checkStarted = performance.now();
      const result = checkLinearizable(history, { timeoutMs: 30_000 });
      const checkMs = performance.now() - checkStarted;
      const summary =
        `seed ${seed}: ${history.length} ops recorded (${JSON.stringify(counts)}), errors ${JSON.stringify(errors)}; ` +
        `partitioned leader ${old.name}, ${next.name} led ${ms(electedAt - partitionedAt)} later; ` +
        `all at revision ${converged.revision} after the heal; checked in ${ms(checkMs)}`;
      if (result.verdict === 'not-linearizable') assert.fail(`${summary}\n${result.explanation}`);
      if (result.verdict === 'unknown') assert.fail(`${summary}\n${result.reason}`);
      assert.ok(counts.ok >= 100, `too few completed ops to mean anything: ${summary}`);
      t.diagnostic(`${kind}: ${summary}; case took ${ms(performance.now() - t0)}`);
    });

    test('(e) a graceful stop (SIGTERM) of the leader hands leadership over first, losing no acknowledged write', { timeout: 40_000 }, async (t) => {
      const t0 = performance.now();
      const cluster = await startCluster({ kind });
      t.after(() => cluster.stop());
      const old = await cluster.leader();
      const writers = startWriters(cluster, 'e', 4);
      await waitFor(() => writers.acked.size >= 50, { timeoutMs: 10_000, what: '50 acknowledged writes before the stop' });
      const stoppedAt = performance.now();
      await old.stop();
      const goneMs = performance.now() - stoppedAt;
      const next = await cluster.leader({ not: old, timeoutMs: 10 * cluster.electionMs });
      const electedMs = performance.now() - stoppedAt;
      // etcd's Stop moves leadership before it closes anything (3.4 logs it either way, zap or capnslog).
      assert.match(old.log(), /leadership transfer starting|starts leadership transfer/, `${old.name} stopped without handing over`);
      const ackedBefore = writers.acked.size;
      await waitFor(() => writers.acked.size >= ackedBefore + 50, { timeoutMs: 10_000, what: '50 acknowledged writes after the stop' });
      await writers.stop();
      const survivors = cluster.members.filter((m) => m !== old);
      await cluster.waitConverged({ members: survivors });
      for (const m of survivors) await assertHoldsAcked(cluster, m, 'e/', writers.acked);
      await old.restart();
      await cluster.waitConverged();
      await assertHoldsAcked(cluster, old, 'e/', writers.acked);
      t.diagnostic(
        `${kind}: SIGTERM to leader ${old.name}: gone after ${ms(goneMs)}, ${next.name} known as leader ${ms(electedMs)} after the signal; ` +
          `${writers.acked.size} writes acknowledged, failures ${JSON.stringify(Object.fromEntries(writers.failures))}; case took ${ms(performance.now() - t0)}`,
      );
    });

    test('(d) a full-cluster crash and restart keeps every acknowledged write', { timeout: 40_000 }, async (t) => {
      const t0 = performance.now();
      const cluster = await startCluster({ kind });
      t.after(() => cluster.stop());
      const client = cluster.client();
      const expected = new Map<string, string>();
      for (let i = 0; i < 100; i++) {
        const key = `d/${String(i).padStart(3, '0')}`;
        await client.put(key, `first-${i}`);
        expected.set(key, `first-${i}`);
      }
      for (let i = 0; i < 100; i += 10) {
        const key = `d/${String(i).padStart(3, '0')}`;
        await client.put(key, `second-${i}`);
        expected.set(key, `second-${i}`);
      }
      await client.deleteRange('d/05', { prefix: true });
      for (const k of [...expected.keys()]) if (k.startsWith('d/05')) expected.delete(k);
      const before = await cluster.waitConverged();
      client.close();

      const restartStarted = performance.now();
      await cluster.restartAll({ kill: true });
      const restartMs = performance.now() - restartStarted;
      const after = await cluster.waitConverged();
      assert.equal(after.revision, before.revision);
      assert.equal(after.hash, before.hash);
      for (const m of cluster.members) {
        const local = await localKeys(cluster, m, 'd/');
        assert.deepEqual(new Map([...local].sort()), new Map([...expected].sort()), `${m.name} after the restart`);
      }
      // And it still takes writes.
      const again = cluster.client();
      await again.put('d/after', 'restart');
      assert.equal((await again.range('d/after')).kvs[0]?.value.toString(), 'restart');
      t.diagnostic(`${kind}: crashed all 3 and had a leader again in ${ms(restartMs)} (revision ${after.revision}); case took ${ms(performance.now() - t0)}`);
    });
  });
}

export function clusterMembershipSuite(kind: ClusterKind): void {
  describe(`${kind} cluster membership`, { timeout: 60_000 }, () => {
    test('a member added at runtime joins, catches up, and catches up again after a partition', { timeout: 45_000 }, async (t) => {
      const t0 = performance.now();
      const cluster = await startCluster({ kind, proxied: true });
      t.after(() => cluster.stop());
      const client = cluster.client();
      const acked = new Map<string, string>();
      for (let i = 0; i < 50; i++) {
        await client.put(`e/${i}`, `before-join-${i}`);
        acked.set(`e/${i}`, `before-join-${i}`);
      }

      const m4 = await cluster.prepareMember();
      assert.equal(m4.host, '127.0.0.4');
      // etcd refuses a new voter until every member has been connected for 5 s ("unhealthy cluster"): retry.
      const add = await waitFor(
        async () => {
          const run = await etcdctl(cluster.endpoints.join(','), ['member', 'add', m4.name, `--peer-urls=${m4.peerUrl}`]);
          if (run.code === 0) return run;
          if (/unhealthy cluster/.test(run.stderr)) return undefined;
          throw new Error(`member add failed (${run.code}): ${run.stderr}`);
        },
        { timeoutMs: 15_000, intervalMs: 250, what: 'member add to be accepted' },
      );
      // etcdctl prints the flags the new member needs; the handle's default --initial-cluster must be the same set.
      const printed = /ETCD_INITIAL_CLUSTER="([^"]*)"/.exec(add.stdout)?.[1];
      assert.ok(printed !== undefined, add.stdout);
      const expected = cluster.members.map((m) => `${m.name}=${m.peerUrl}`);
      assert.deepEqual(printed.split(',').sort(), expected.sort());
      assert.match(add.stdout, /ETCD_INITIAL_CLUSTER_STATE="existing"/);

      const joinStarted = performance.now();
      await cluster.startJoining(m4);
      const joined = await cluster.waitConverged();
      const joinMs = performance.now() - joinStarted;
      await assertHoldsAcked(cluster, m4, 'e/', acked);
      const list = await client.memberList();
      assert.deepEqual(list.members.map((m) => m.name).sort(), ['m1', 'm2', 'm3', 'm4']);

      // Cut it off with resets this time (the other fault mode), write, heal.
      cluster.partition(m4, 'reset');
      for (let i = 50; i < 150; i++) {
        await client.put(`e/${i}`, `while-cut-${i}`);
        acked.set(`e/${i}`, `while-cut-${i}`);
      }
      const cut = await cluster.status(m4);
      assert.equal(cut?.header?.revision, joined.revision, 'm4 applied writes across the partition');
      const stats = m4.proxy?.stats();
      cluster.heal();
      const healed = await cluster.waitConverged();
      assert.ok(healed.revision >= joined.revision + 100n);
      await assertHoldsAcked(cluster, m4, 'e/', acked);
      t.diagnostic(
        `${kind}: m4 joined and caught up in ${ms(joinMs)} (revision ${joined.revision}); after a reset-mode partition ` +
          `(its proxy refused ${stats?.refused ?? 0} connections) all 4 at revision ${healed.revision}; case took ${ms(performance.now() - t0)}`,
      );
    });
  });
}
