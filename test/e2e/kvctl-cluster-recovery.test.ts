// Recovery of `kvctl node` clusters, end to end with real processes on 127.0.0.1/.2/.3:
// (1) a follower cut off until it is behind the leader's in-memory log catches up from a snapshot (the
//     leader's backend file), with deletes, a lease and a compaction in what it missed; a watch opened on it
//     before the cut either gets what it missed or is cancelled as compacted, as etcd's watchable store does
//     on restore; kill -9 and restart after the installed snapshot keep the data;
// (2) a member removed (its process stops by itself), its data dir wiped, added again under the same peer
//     URL (a new id) and started with --initial-cluster-state existing joins and catches up;
// (3) disaster recovery: `kvctl snapshot save` from one member, `kvctl snapshot restore` of that one file
//     into three data dirs under a new token and new peer URLs, three nodes started on them; checked with
//     the real etcdctl.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { ClientError, LeaseApi, type Watch, type WatchEvent, type WatchResponse, WatchSession } from '../../src/client/index.js';
import { type Cluster, type ClusterMember, startCluster } from '../support/cluster.js';
import { etcdctl } from '../support/etcdctl.js';
import { reapProcess, releaseProcess } from '../support/reaper.js';
import { waitFor } from '../support/wait.js';
import { kvctl } from './kvctl.js';

const ms = (t: number): string => `${Math.round(t)} ms`;
const hex = (id: bigint | undefined): string => (id ?? 0n).toString(16);

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

/** JSON for failure messages (bigints as text). */
const show = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));

const sorted = (m: ReadonlyMap<string, string>): Array<[string, string]> => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/** The real etcdctl against `endpoint`; fails the test with its output when it fails. */
async function ctl(endpoint: string, args: readonly string[]): Promise<string> {
  const run = await etcdctl(endpoint, args);
  assert.equal(run.code, 0, `etcdctl --endpoints ${endpoint} ${args.join(' ')} failed (${run.code}): ${run.stderr}${run.stdout}`);
  return run.stdout;
}

/** etcdctl prints 64-bit ids as JSON numbers, which lose precision in JS: read them from the raw text, as hex. */
function rawIds(json: string, field: string): string[] {
  return [...json.matchAll(new RegExp(`"${field}":(\\d+)`, 'g'))].map((m) => BigInt(m[1] as string).toString(16));
}

/** Reads a watch in the background: its responses, and how it ended. */
function collect(w: Watch): { responses: WatchResponse[]; ended: Promise<string> } {
  const responses: WatchResponse[] = [];
  const ended = (async () => {
    try {
      for await (const r of w) responses.push(r);
      return 'ended';
    } catch (err) {
      return `failed: ${err instanceof Error ? err.message : String(err)}`;
    }
  })();
  return { responses, ended };
}

/** One line per event, comparable across members: type (0 PUT, 1 DELETE), key, mod revision, value. */
function eventLines(responses: readonly WatchResponse[]): string[] {
  return responses.flatMap((r) => r.events.map((e: WatchEvent) => `${e.type} ${e.kv?.key.toString()} ${e.kv?.modRevision} ${e.kv?.value.toString()}`));
}

const lastModRevision = (responses: readonly WatchResponse[]): bigint => {
  let last = 0n;
  for (const r of responses) for (const e of r.events) if ((e.kv?.modRevision ?? 0n) > last) last = e.kv?.modRevision ?? 0n;
  return last;
};

/** `etcdctl watch` as a long-running child process; its output, and its exit. */
function etcdctlWatch(endpoint: string, args: readonly string[]): { out: () => string; err: () => string; child: ChildProcess; exited: Promise<number | null> } {
  const child = spawn('etcdctl', ['--endpoints', endpoint, '--dial-timeout', '3s', 'watch', ...args], {
    env: { ...process.env, ETCDCTL_API: '3' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  reapProcess(child);
  child.once('exit', () => releaseProcess(child));
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(-1));
  });
  return { out: () => out, err: () => err, child, exited };
}

describe('kvctl cluster recovery', { timeout: 100_000 }, () => {
  test('a follower behind the log window catches up from a snapshot; watches on it; kill -9 and restart after it', { timeout: 45_000 }, async (t) => {
    const t0 = performance.now();
    const cluster = await startCluster({
      kind: 'kvctl',
      proxied: true,
      snapshotCount: 200,
      extraArgs: ['--experimental-snapshot-catchup-entries', '50'],
    });
    t.after(() => cluster.stop());
    const leader = await cluster.leader();
    const follower = cluster.members.find((m) => m !== leader)!;
    const connected = cluster.members.filter((m) => m !== follower);
    const client = cluster.client({ endpoints: connected.map((m) => m.endpoint) });
    const expected = new Map<string, string>();
    const put = async (key: string, value: string, lease?: bigint): Promise<bigint> => {
      const res = await client.put(key, value, lease === undefined ? {} : { lease });
      expected.set(key, value);
      return res.header?.revision ?? 0n;
    };

    for (let i = 0; i < 20; i++) await put(`cu/pre/${i}`, `pre-${i}`);

    // The real etcdctl watching the follower, as an operator would leave it running. It shows no "created":
    // write a probe key until it prints one.
    const cliWatch = etcdctlWatch(follower.endpoint, ['--prefix', 'cu/']);
    t.after(() => {
      cliWatch.child.kill('SIGKILL');
    });
    let r0 = 0n;
    await waitFor(
      async () => {
        if (cliWatch.out().includes('cu/probe')) return true;
        r0 = await put('cu/probe', `probe at ${performance.now()}`);
        return false;
      },
      { timeoutMs: 10_000, intervalMs: 300, what: `etcdctl watch on ${follower.name} to print cu/probe` },
    );
    // The plan from r0 (nobody else writes): a sentinel at r0+1 that the watches see before the cut; then,
    // cut off, two leased keys and 400 puts (to r0+403), and a compaction at rC.
    const rC = r0 + 301n;

    // Watches on the follower, opened before the cut, with our client (not reconnecting: what the server
    // does, not what a resuming client would do). `behind` waits for the next revision; `ahead` starts at
    // rC, a revision the follower has not reached yet.
    const followerClient = cluster.client({ endpoints: [follower.endpoint] });
    const session = await WatchSession.open(followerClient, { reconnect: false });
    t.after(() => session.close());
    const behindWatch = session.watch('cu/', { prefix: true });
    const aheadWatch = session.watch('cu/', { prefix: true, startRevision: rC });
    const behind = collect(behindWatch);
    const ahead = collect(aheadWatch);
    await waitFor(() => behindWatch.id !== undefined && aheadWatch.id !== undefined, { timeoutMs: 5000, what: 'both watches created on the follower' });
    const sentinelRev = await put('cu/sentinel', 'x');
    assert.equal(sentinelRev, r0 + 1n);
    await waitFor(async () => (await cluster.status(follower))?.header?.revision === sentinelRev, {
      timeoutMs: 5000,
      what: `${follower.name} to apply the sentinel`,
    });
    await waitFor(() => eventLines(behind.responses).length === 1 && cliWatch.out().includes('cu/sentinel'), {
      timeoutMs: 5000,
      what: 'the behind-watch and etcdctl watch to see the sentinel',
    });

    cluster.partition(follower);
    const cutAt = performance.now();
    const lease = await new LeaseApi(client).grant(600);
    const leaseId = lease.ID;
    await put('cu/lease/a', 'la', leaseId);
    await put('cu/lease/b', 'lb', leaseId);
    const batch = async (from: number, to: number, value: (i: number) => string): Promise<bigint> => {
      let rev = 0n;
      for (let i = from; i < to; i += 20) {
        const revs = await Promise.all(
          Array.from({ length: Math.min(20, to - i) }, (_, j) => put(`cu/k/${String(i + j).padStart(3, '0')}`, value(i + j))),
        );
        rev = revs.reduce((a, b) => (a > b ? a : b), rev);
      }
      return rev;
    };
    const beforeCompaction = await batch(0, 400, (i) => `v1-${i}`);
    assert.equal(beforeCompaction, r0 + 403n);
    await client.deleteRange('cu/k/01', { prefix: true });
    await client.deleteRange('cu/k/005');
    for (const k of [...expected.keys()]) if (k.startsWith('cu/k/01') || k === 'cu/k/005') expected.delete(k);
    await client.compact(rC, { physical: true });
    await batch(100, 200, (i) => `v2-${i}`);
    await client.deleteRange('cu/k/02', { prefix: true });
    for (const k of [...expected.keys()]) if (k.startsWith('cu/k/02')) expected.delete(k);
    const finalRev = await batch(400, 600, (i) => `v1-${i}`);
    // Long enough for the cut-off follower to time out and campaign (pre-vote), which must not disturb anyone.
    await sleep(Math.max(0, 3 * cluster.electionMs - (performance.now() - cutAt)));

    const cut = await cluster.status(follower);
    assert.equal(cut?.header?.revision, sentinelRev, `${follower.name} applied writes across the partition`);
    const leaderStatus = await cluster.status(leader);
    const followerIndex = cut?.raftAppliedIndex ?? 0n;
    assert.ok((leaderStatus?.raftAppliedIndex ?? 0n) > followerIndex + 600n, 'the leader is 600+ entries ahead');

    cluster.heal();
    const healedAt = performance.now();
    const converged = await cluster.waitConverged({ timeoutMs: 20_000 });
    const caughtUpMs = performance.now() - healedAt;
    assert.equal(converged.revision, finalRev);

    // It caught up from a snapshot: the follower installed one, a leader sent it one.
    const installed = /installed the snapshot at index (\d+) in (\d+) ms \(revision (\d+)\)/.exec(follower.log());
    assert.ok(installed, `${follower.name} installed no snapshot:\n${cluster.logTails(30)}`);
    const sentBy = connected.filter((m) => new RegExp(`sending a snapshot at index \\d+ to ${hex(follower.id)} `).test(m.log()));
    assert.ok(sentBy.length > 0, `no member logged sending a snapshot to ${hex(follower.id)}:\n${cluster.logTails(30)}`);

    // Its own state (serializable reads): the keys, the lease with its keys, the compaction.
    assert.deepEqual(sorted(await localKeys(cluster, follower, 'cu/')), sorted(expected));
    assert.deepEqual(sorted(await localKeys(cluster, leader, 'cu/')), sorted(expected));
    // etcdctl prints lease ids as %016x.
    const leaseHex = hex(leaseId).padStart(16, '0');
    assert.match(await ctl(follower.endpoint, ['lease', 'list']), new RegExp(`^found 1 leases\\n${leaseHex}\\n$`));
    const leasedJson = await ctl(follower.endpoint, ['get', 'cu/lease/a', '--consistency=s', '-w', 'json']);
    assert.deepEqual(rawIds(leasedJson, 'lease'), [hex(leaseId)]);
    const ttl = await ctl(follower.endpoint, ['lease', 'timetolive', leaseHex, '--keys']);
    assert.match(ttl, new RegExp(`^lease ${leaseHex} granted with TTL\\(600s\\), remaining\\(\\d+s\\), attached keys\\(\\[(cu/lease/a cu/lease/b|cu/lease/b cu/lease/a)\\]\\)`));
    await assert.rejects(
      followerClient.range('cu/k/100', { revision: rC - 1n, serializable: true }, { endpoint: follower.endpoint }),
      (err: unknown) => err instanceof ClientError && /required revision has been compacted/.test(err.message),
    );

    // The watches. `behind` (next revision r0+2) is below the compaction the snapshot carried: cancelled with
    // compact_revision, having seen nothing after the sentinel. `ahead` (from rC) gets every event from rC on,
    // exactly as a watch from rC on the leader sees them.
    assert.equal(await Promise.race([behind.ended, new Promise<string>((r) => setTimeout(() => r('still open'), 5000))]), 'ended');
    const behindLast = behind.responses.at(-1);
    assert.deepEqual(eventLines(behind.responses), [`0 cu/sentinel ${sentinelRev} x`]);
    assert.equal(behindLast?.canceled, true, `behind-watch: ${show(behind.responses)}`);
    assert.equal(behindLast?.compactRevision, rC);
    await waitFor(() => lastModRevision(ahead.responses) >= finalRev, { timeoutMs: 10_000, what: `the ahead-watch to reach revision ${finalRev}` });
    const truthSession = await WatchSession.open(cluster.client({ endpoints: [leader.endpoint] }), { reconnect: false });
    t.after(() => truthSession.close());
    const truth = collect(truthSession.watch('cu/', { prefix: true, startRevision: rC }));
    await waitFor(() => lastModRevision(truth.responses) >= finalRev, { timeoutMs: 10_000, what: `the leader's watch from ${rC} to reach ${finalRev}` });
    const aheadEvents = eventLines(ahead.responses);
    assert.deepEqual(aheadEvents, eventLines(truth.responses));
    assert.match(aheadEvents[0] ?? '', new RegExp(`^0 cu/k/\\d{3} ${rC} v1-\\d+$`));
    assert.equal(aheadWatch.done, false);
    // etcdctl's watch (like `behind`) is cancelled as compacted.
    const cliExit = await Promise.race([cliWatch.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 5000))]);
    assert.match(cliWatch.err(), /^watch was canceled \(etcdserver: mvcc: required revision has been compacted\)\nError: watch is canceled by the server\n$/, `etcdctl watch (${cliExit}): ${cliWatch.err()}`);
    assert.equal(cliExit, 5, 'etcdctl exits with ExitInterrupted when the server cancels its watch');
    assert.doesNotMatch(cliWatch.out(), /cu\/k\/|cu\/lease\//, 'etcdctl watch printed nothing between the sentinel and its cancellation');

    // kill -9 the follower and start it again on what the snapshot left: same data, same hash.
    await follower.kill9();
    await follower.restart();
    const restarted = await cluster.waitConverged({ timeoutMs: 10_000 });
    assert.deepEqual(restarted, converged);
    const restartLine = /restarted member [0-9a-f]+ in cluster [0-9a-f]+ at commit index \d+ \(backend applied \d+, snapshot (\d+)\)/.exec(follower.log());
    assert.ok(restartLine, follower.log());
    assert.ok(Number(restartLine[1]) >= Number(installed[1]), `restarted from the installed snapshot (${installed[1]}) or a later one: ${restartLine[0]}`);
    assert.deepEqual(sorted(await localKeys(cluster, follower, 'cu/')), sorted(expected));
    assert.match(await ctl(follower.endpoint, ['lease', 'list']), new RegExp(`^found 1 leases\\n${leaseHex}\\n$`));
    // And it keeps following.
    await put('cu/after-restart', 'y');
    const after = await cluster.waitConverged({ timeoutMs: 10_000 });
    assert.equal(after.revision, finalRev + 1n);
    t.diagnostic(
      `cut ${follower.name} off ${ms(healedAt - cutAt)} while ${finalRev - sentinelRev} revisions (${(leaderStatus?.raftAppliedIndex ?? 0n) - followerIndex} entries) went by; ` +
        `caught up ${ms(caughtUpMs)} after the heal from a snapshot at index ${installed[1]} sent by ${sentBy.map((m) => m.name).join(',')} ` +
        `(installed in ${installed[2]} ms, revision ${installed[3]}); behind-watch cancelled with compact_revision ${behindLast?.compactRevision}, ` +
        `ahead-watch got ${aheadEvents.length} events from ${rC}; etcdctl watch exited ${cliExit}, ` +
        `stderr ${JSON.stringify(cliWatch.err().trim())}; after kill -9: ${restartLine[0]}; case took ${ms(performance.now() - t0)}`,
    );
  });

  test('a member removed, wiped and added again under the same peer URL joins with a new id and catches up', { timeout: 40_000 }, async (t) => {
    const t0 = performance.now();
    const cluster = await startCluster({ kind: 'kvctl', snapshotCount: 200, extraArgs: ['--experimental-snapshot-catchup-entries', '50'] });
    t.after(() => cluster.stop());
    const client = cluster.client();
    const expected = new Map<string, string>();
    for (let i = 0; i < 300; i += 20) {
      await Promise.all(
        Array.from({ length: 20 }, async (_, j) => {
          await client.put(`rj/${i + j}`, `a-${i + j}`);
          expected.set(`rj/${i + j}`, `a-${i + j}`);
        }),
      );
    }
    const leader = await cluster.leader();
    const victim = cluster.members.find((m) => m !== leader)!;
    const others = cluster.members.filter((m) => m !== victim);
    const othersEndpoints = others.map((m) => m.endpoint).join(',');
    const oldId = hex(victim.id);
    const clusterId = hex((await cluster.status(leader))?.header?.clusterId);

    // etcd refuses to remove a started member until the rest has been connected for 5 s ("unhealthy cluster").
    const removed = await waitFor(
      async () => {
        const run = await etcdctl(othersEndpoints, ['member', 'remove', oldId]);
        if (run.code === 0) return run.stdout;
        if (/unhealthy cluster/.test(run.stderr)) return undefined;
        throw new Error(`member remove failed (${run.code}): ${run.stderr}`);
      },
      { timeoutMs: 15_000, intervalMs: 250, what: 'member remove to be accepted' },
    );
    // etcdctl prints both ids with %16x (space-padded).
    assert.match(removed, new RegExp(`^Member +${oldId} removed from cluster +${clusterId}\\n$`));
    // The removed member stops by itself.
    await waitFor(() => !victim.running(), { timeoutMs: 10_000, what: `${victim.name} to exit after its removal` });
    const exitLine = /--- \S+ exited \(code (\S+), signal (\S+)\) ---/.exec(victim.log())?.[0];
    assert.match(victim.log(), /permanently removed from the cluster/);
    rmSync(victim.dataDir, { recursive: true, force: true });

    for (let i = 300; i < 450; i++) {
      await client.put(`rj/${i}`, `b-${i}`);
      expected.set(`rj/${i}`, `b-${i}`);
    }

    // The same peer URL again. Member ids come from the peer URLs and the time in seconds: within the second
    // of the removal the id would be the removed one, which etcd refuses ("member not found"): retry.
    let attempts = 0;
    const refusals = new Set<string>();
    const added = await waitFor(
      async () => {
        attempts++;
        const run = await etcdctl(othersEndpoints, ['member', 'add', victim.name, `--peer-urls=${victim.peerUrl}`]);
        if (run.code === 0) return run.stdout;
        if (/unhealthy cluster|member not found/.test(run.stderr)) {
          refusals.add(run.stderr.trim());
          return undefined;
        }
        throw new Error(`member add failed (${run.code}): ${run.stderr}`);
      },
      { timeoutMs: 15_000, intervalMs: 250, what: 'member add to be accepted' },
    );
    const newId = /^Member +([0-9a-f]+) added to cluster +([0-9a-f]+)$/m.exec(added);
    assert.ok(newId, added);
    assert.notEqual(newId[1], oldId);
    assert.equal(newId[2], clusterId);

    const joinStarted = performance.now();
    await cluster.startJoining(victim);
    const converged = await cluster.waitConverged({ timeoutMs: 20_000 });
    const joinMs = performance.now() - joinStarted;
    assert.equal(hex(victim.id), newId[1]);
    assert.match(victim.log(), new RegExp(`joining existing cluster ${clusterId} as member ${newId[1]}`));
    const installed = /installed the snapshot at index (\d+)/.exec(victim.log());
    assert.ok(installed, `the re-added member installed no snapshot:\n${victim.log().split('\n').slice(-30).join('\n')}`);
    for (const m of cluster.members) assert.deepEqual(sorted(await localKeys(cluster, m, 'rj/')), sorted(expected), m.name);

    // The member list, as etcdctl shows it: three members, the re-added one under its new id and its name.
    const list = await waitFor(
      async () => {
        const out = await ctl(othersEndpoints, ['member', 'list', '-w', 'json']);
        const members = (JSON.parse(out) as { members: Array<{ name?: string; peerURLs: string[] }> }).members;
        const ids = rawIds(out, 'ID');
        const rows = members.map((m, i) => `${ids[i]} ${m.name ?? ''} ${m.peerURLs.join(',')}`).sort();
        return rows.every((r) => !/^\S+ {2}/.test(r)) ? rows : undefined;
      },
      { timeoutMs: 5000, what: 'every member to have published its name' },
    );
    assert.deepEqual(list, cluster.members.map((m) => `${hex(m.id)} ${m.name} ${m.peerUrl}`).sort());
    assert.ok(!list.some((r) => r.startsWith(`${oldId} `)), 'the old id is gone');
    t.diagnostic(
      `removed ${victim.name} (${oldId}; ${exitLine}); re-added as ${newId[1]} after ${attempts} attempt(s) ` +
        `(refusals: ${JSON.stringify([...refusals])}); it joined and converged in ${ms(joinMs)} at revision ${converged.revision} ` +
        `from a snapshot at index ${installed[1]}; case took ${ms(performance.now() - t0)}`,
    );
  });

  test('three members restored from one snapshot form a new cluster with the data', { timeout: 40_000 }, async (t) => {
    const t0 = performance.now();
    const dir = mkdtempSync(join(tmpdir(), 'kvctl-recovery-e2e-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const snapshot = join(dir, 'backup.db');

    const original = await startCluster({ kind: 'kvctl' });
    t.after(() => original.stop());
    const client = original.client();
    const expected = new Map<string, string>();
    for (let i = 0; i < 100; i++) {
      await client.put(`rs/${String(i).padStart(3, '0')}`, `v-${i}`);
      expected.set(`rs/${String(i).padStart(3, '0')}`, `v-${i}`);
    }
    await client.deleteRange('rs/05', { prefix: true });
    for (const k of [...expected.keys()]) if (k.startsWith('rs/05')) expected.delete(k);
    const before = await original.waitConverged();
    const leader = await original.leader();
    const source = original.members.find((m) => m !== leader)!;
    const originalIds = new Set(original.members.map((m) => hex(m.id)));
    const originalClusterId = hex((await original.status(source))?.header?.clusterId);
    const saved = await kvctl(['snapshot', 'save', snapshot, '--endpoints', source.endpoint]);
    assert.equal(saved.code, 0, saved.stderr);
    await original.stop();

    const restoreStarted = performance.now();
    type Report = { memberId: string; clusterId: string; revision: number; members: Array<{ name: string; id: string; peerURLs: string[] }> };
    const reports = new Map<string, Report>();
    let restoresDoneMs = 0;
    const restored = await startCluster({
      kind: 'kvctl',
      beforeStart: async (c) => {
        reports.clear();
        const initialCluster = c.members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
        await Promise.all(
          c.members.map(async (m) => {
            rmSync(m.dataDir, { recursive: true, force: true });
            const r = await kvctl([
              'snapshot', 'restore', snapshot,
              '--name', m.name,
              '--data-dir', m.dataDir,
              '--initial-cluster', initialCluster,
              '--initial-cluster-token', c.token,
              '--initial-advertise-peer-urls', m.peerUrl,
              '-w', 'json',
            ]);
            assert.equal(r.code, 0, `restore of ${m.name}: ${r.stderr}`);
            reports.set(m.name, JSON.parse(r.stdout) as Report);
          }),
        );
        restoresDoneMs = performance.now() - restoreStarted;
      },
    });
    t.after(() => restored.stop());
    const restoredMs = performance.now() - restoreStarted;
    const endpoints = restored.endpoints;

    // Every member serves the snapshot's keys at the snapshot's revision (its own state: --consistency=s).
    for (const m of restored.members) {
      const out = await ctl(m.endpoint, ['get', 'rs/', '--prefix', '--consistency=s', '-w', 'json']);
      const body = JSON.parse(out) as { header: { revision: number }; kvs?: Array<{ key: string; value: string }> };
      assert.equal(body.header.revision, Number(before.revision), `${m.name}'s revision`);
      const got = new Map((body.kvs ?? []).map((kv) => [Buffer.from(kv.key, 'base64').toString(), Buffer.from(kv.value, 'base64').toString()]));
      assert.deepEqual(sorted(got), sorted(expected), `${m.name}'s keys`);
    }
    const converged = await restored.waitConverged();
    assert.deepEqual(converged, before, 'same revision and HashKV as the original cluster');

    // The new membership: the restored members under new ids, in a new cluster.
    const listOut = await ctl(endpoints.join(','), ['member', 'list', '-w', 'json']);
    const members = (JSON.parse(listOut) as { members: Array<{ name: string; peerURLs: string[] }> }).members;
    const ids = rawIds(listOut, 'ID');
    const rows = members.map((m, i) => `${ids[i]} ${m.name} ${m.peerURLs.join(',')}`).sort();
    assert.deepEqual(rows, restored.members.map((m) => `${reports.get(m.name)?.memberId} ${m.name} ${m.peerUrl}`).sort());
    for (const id of ids) assert.ok(!originalIds.has(id), `member id ${id} is one of the original cluster's`);
    const newClusterId = rawIds(listOut, 'cluster_id')[0];
    assert.equal(newClusterId, reports.get('m1')?.clusterId);
    assert.notEqual(newClusterId, originalClusterId);

    // A new write goes through and reaches every member.
    const putOut = await ctl(endpoints[1]!, ['put', 'rs/new', 'after-restore', '-w', 'json']);
    assert.equal((JSON.parse(putOut) as { header: { revision: number } }).header.revision, Number(before.revision) + 1);
    for (const m of restored.members) {
      await waitFor(async () => (await etcdctl(m.endpoint, ['get', 'rs/new', '--consistency=s', '--print-value-only'])).stdout === 'after-restore\n', {
        timeoutMs: 5000,
        what: `rs/new on ${m.name}`,
      });
    }
    t.diagnostic(
      `saved from ${source.name} at revision ${before.revision}; restored into 3 data dirs in ${ms(restoresDoneMs)} (3 restores at once), all serving with a leader ${ms(restoredMs)} after the original stopped ` +
        `(cluster ${originalClusterId} -> ${newClusterId}); case took ${ms(performance.now() - t0)}`,
    );
  });
});
