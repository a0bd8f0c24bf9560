// Three kvctl nodes against three real etcd members (Debian etcd-server 3.4), same run, same machine, same flags.
//
// Both clusters come from the e2e harness (test/support/cluster.ts): member i on host 127.0.0.i, fresh temporary
// data directories, heartbeat 100 ms / election 1000 ms, no fault proxies. kvctl runs from dist/ (`npm run build`).
//
// Both clusters run side by side and the measurements alternate between them (see measureBoth). Measured:
// - put ops/s and p50/p99 latency at 64 and 256 concurrent clients, 256 B values over 10k keys. The clients are
//   spread evenly over the three members (client w talks to member w mod 3), so about two thirds of the writes
//   land on a follower and are forwarded to the leader;
// - linearizable range ops/s at 64 clients, point reads spread over the members the same way;
// - for each of those, the CPU time the three members used per 1000 ops (from /proc): the machine is shared, so
//   throughput moves with whatever else runs, while CPU per op mostly does not;
// - leader failover under a light write load (8 clients spread over the members; a client whose write fails or
//   takes longer than 1 s moves on to the next member): kill -9 the leader, then (a) the time until a survivor's
//   Maintenance.Status names a new leader (each survivor polled every ~20 ms) and (b) the time until the first
//   write sent after the kill is acknowledged, where every ~20 ms a fresh probe write goes to each survivor (the
//   light load's own clients are no measure: see failoverRound). The killed member is restarted and the cluster
//   waited on (one leader, every member at the same revision and hash) between rounds; the median over the
//   rounds is reported.
// The load generator is this process: grpc-js KVClients directly, three connections per member. An op that fails
// is counted and reported, not timed; the ops/s of a phase is over its wall time, so an op that hangs until its
// server-side timeout stretches the phase.
//
//   npm run build && npm run bench -- --only=cluster [--quick] [--json] [--logs]
//   (or: node --import tsx bench/cluster.ts [--quick] [--json] [--logs])
//   --quick  2 s per point and one failover round instead of 5 s and seven rounds (elections are randomized: fewer rounds cannot tell 200 ms apart)
//   --json   one JSON line on stdout instead of the table (progress goes to stderr)
//   --logs   print every member's warning and error lines at the end
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { credentials, Metadata } from '@grpc/grpc-js';

import {
  KVClient,
  MaintenanceClient,
  PutRequest,
  RangeRequest,
  StatusRequest,
  type StatusResponse,
} from '../src/proto/gen/etcdserverpb/rpc.js';
import { root } from '../test/e2e/kvctl.js';
import { type Cluster, type ClusterKind, type ClusterMember, startCluster } from '../test/support/cluster.js';

const quick = process.argv.includes('--quick');
const json = process.argv.includes('--json');
const showLogs = process.argv.includes('--logs');
const SECONDS = quick ? 2 : 5;
const FAILOVER_ROUNDS = quick ? 1 : 7;
const KEYS = 10_000;
const VALUE = Buffer.alloc(256, 'v');
const CONNS_PER_MEMBER = 3;
const FAILOVER_CLIENTS = 8;
/** A failover-load write that takes longer than this is abandoned and retried on the next member. */
const FAILOVER_WRITE_DEADLINE_MS = 1000;
/** How often the failover measurement asks the survivors for their Status, and sends them a probe write. */
const STATUS_POLL_MS = 20;
/** A probe write not acknowledged within this is given up (it went to a follower still on the dead leader). */
const PROBE_DEADLINE_MS = 3000;
/** How long a failover round may take before the bench gives up on it (and fails, with the members' logs). */
const FAILOVER_LIMIT_MS = 30_000;

/** Progress and notes: stdout normally, stderr under --json so that stdout is one JSON line. */
function say(line: string): void {
  (json ? process.stderr : process.stdout).write(`${line}\n`);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** The q-quantile of ascending `sorted`. */
function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? NaN;
}

/**
 * `perMember` connections to each endpoint, interleaved (connection j talks to endpoint j mod n), so that client
 * w of a load, which uses connection w mod length, talks to member w mod n. The channel option only makes grpc-js
 * open a connection per client instead of sharing one per endpoint.
 */
function connect(endpoints: readonly string[], perMember: number): KVClient[] {
  return Array.from({ length: endpoints.length * perMember }, (_, j) =>
    new KVClient(endpoints[j % endpoints.length] as string, credentials.createInsecure(), { 'kvctl.bench.conn': j }),
  );
}

/** No call may hang the bench: one that gets no answer in this long fails (and is counted as an error). */
const CALL_DEADLINE_MS = 10_000;

function putKey(c: KVClient, key: string, deadlineMs = CALL_DEADLINE_MS): Promise<void> {
  const req = PutRequest.fromPartial({ key: Buffer.from(key), value: VALUE });
  return new Promise((resolve, reject) => {
    c.put(req, new Metadata(), { deadline: Date.now() + deadlineMs }, (e) => (e ? reject(e) : resolve()));
  });
}

type Op = (c: KVClient, i: number) => Promise<void>;

const put: Op = (c, i) => putKey(c, `key${(i * 7919) % KEYS}`);
const linearizableGet: Op = (c, i) =>
  new Promise((resolve, reject) =>
    c.range(RangeRequest.fromPartial({ key: Buffer.from(`key${(i * 7919) % KEYS}`) }), new Metadata(), { deadline: Date.now() + CALL_DEADLINE_MS }, (e) =>
      e ? reject(e) : resolve(),
    ),
  );

type LoadResult = {
  ops: number;
  p50: number;
  p99: number;
  errors: number;
  firstError: string | undefined;
  /** CPU time (user + system) the members spent per 1000 completed ops: efficiency, less skewed by contention. */
  cpuMsPer1k: number;
};

const CLOCK_TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** CPU time (user + system, ms) the running members' processes have used so far, from /proc/<pid>/stat. */
function membersCpuMs(members: readonly ClusterMember[]): number {
  let ticks = 0;
  for (const m of members) {
    if (m.pid === undefined) continue;
    // The fields after the command name (which is in parentheses and may hold spaces): utime and stime are
    // fields 14 and 15 of the line, so 12 and 13 after the closing parenthesis.
    const stat = readFileSync(`/proc/${m.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}

/**
 * Runs `concurrency` loops of `op` for `seconds` over `conns`; completed ops per second of wall time (until the
 * last op in flight returned) and their latency in ms. A failed op is counted, not timed, and the client pauses
 * 10 ms before its next one: in a healthy cluster there should be none.
 */
async function load(
  members: readonly ClusterMember[],
  conns: readonly KVClient[],
  concurrency: number,
  op: Op,
  seconds: number,
): Promise<LoadResult> {
  const lat: number[] = [];
  const cpu0 = membersCpuMs(members);
  let errors = 0;
  let firstError: string | undefined;
  const start = performance.now();
  const end = start + seconds * 1000;
  let n = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      const c = conns[w % conns.length] as KVClient;
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          await op(c, n++);
          lat.push(performance.now() - t0);
        } catch (err) {
          errors++;
          firstError ??= err instanceof Error ? err.message : String(err);
          await sleep(10);
        }
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  const cpuMsPer1k = ((membersCpuMs(members) - cpu0) * 1000) / lat.length;
  lat.sort((a, b) => a - b);
  return { ops: lat.length / elapsed, p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), errors, firstError, cpuMsPer1k };
}

/** Puts every key once (64 clients), so that reads find them; doubles as the warm-up of both sides. */
async function preload(conns: readonly KVClient[]): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 64 }, async (_, w) => {
      const c = conns[w % conns.length] as KVClient;
      while (next < KEYS) await putKey(c, `key${next++}`);
    }),
  );
}

function statusOf(client: MaintenanceClient, timeoutMs: number): Promise<StatusResponse | undefined> {
  return new Promise((resolve) =>
    client.status(StatusRequest.fromPartial({}), new Metadata(), { deadline: Date.now() + timeoutMs }, (e, r) => resolve(e ? undefined : r)),
  );
}

type FailoverRound = {
  killed: string;
  newLeader: string;
  /** ms from the kill until a survivor named a new leader. */
  electMs: number;
  /** ms from the kill until the first probe write (all sent after the kill) was acknowledged. */
  firstWriteMs: number;
  /** Writes of the light load that failed or timed out after the kill. */
  failedWrites: number;
};

/** One failover round (see the module comment); leaves the cluster healthy with all members running. */
async function failoverRound(cluster: Cluster): Promise<FailoverRound> {
  const leader = await cluster.leader();
  const oldId = leader.id;
  if (oldId === undefined) throw new Error(`the leader ${leader.name} has no known member id`);
  const survivors = cluster.members.filter((m) => m !== leader);
  const conns = connect(cluster.endpoints, 1);
  const pollers = survivors.map((m) => new MaintenanceClient(m.endpoint, credentials.createInsecure()));
  const probeConns = survivors.map((m) => new KVClient(m.endpoint, credentials.createInsecure(), { 'kvctl.bench.probe': 1 }));

  // The light load. Its own first success after the kill is no measure of the cluster: its clients all sit out
  // their 1 s deadline on writes that went to a follower still forwarding to the dead leader, so they come back
  // in step, on whole seconds.
  let killAt = Infinity;
  let failedWrites = 0;
  let stopping = false;
  let n = 0;
  const writers = Array.from({ length: FAILOVER_CLIENTS }, async (_, w) => {
    let at = w % conns.length;
    while (!stopping) {
      const sentAt = performance.now();
      try {
        await putKey(conns[at] as KVClient, `key${(n++ * 7919) % KEYS}`, FAILOVER_WRITE_DEADLINE_MS);
      } catch {
        if (sentAt >= killAt) failedWrites++;
        at = (at + 1) % conns.length;
        await sleep(10);
      }
    }
  });

  let electedAt: number | undefined;
  let newLeaderId: bigint | undefined;
  let firstAckAt: number | undefined;
  const probes: Promise<void>[] = [];
  try {
    await sleep(1000); // the light load reaches its steady state
    killAt = performance.now();
    const killed = leader.kill9();
    // (b): a fresh write to every survivor every STATUS_POLL_MS, without waiting for the earlier ones (those
    // that reached a follower before it gave up on the dead leader hang until their deadline).
    const probing = (async () => {
      while (firstAckAt === undefined && performance.now() - killAt < FAILOVER_LIMIT_MS) {
        for (const c of probeConns) {
          probes.push(
            putKey(c, 'bench/failover-probe', PROBE_DEADLINE_MS).then(
              () => {
                firstAckAt ??= performance.now();
              },
              () => undefined,
            ),
          );
        }
        await sleep(STATUS_POLL_MS);
      }
    })();
    // (a): every survivor's Status every STATUS_POLL_MS until one names a leader other than the dead one.
    while (electedAt === undefined && performance.now() - killAt < FAILOVER_LIMIT_MS) {
      const tick = performance.now();
      const statuses = await Promise.all(pollers.map((p) => statusOf(p, 200)));
      for (const s of statuses) {
        if (s !== undefined && s.leader !== 0n && s.leader !== oldId && electedAt === undefined) {
          electedAt = performance.now();
          newLeaderId = s.leader;
        }
      }
      await sleep(Math.max(0, tick + STATUS_POLL_MS - performance.now()));
    }
    await probing;
    await killed;
  } finally {
    stopping = true;
    await Promise.all([...writers, ...probes]);
    for (const c of [...conns, ...pollers, ...probeConns]) c.close();
  }
  if (electedAt === undefined || firstAckAt === undefined) {
    throw new Error(
      `${cluster.kind}: after killing ${leader.name}, ${electedAt === undefined ? 'no new leader' : 'no write acknowledged'} within ${FAILOVER_LIMIT_MS} ms\n${cluster.logTails(20)}`,
    );
  }

  // Healthy again before the next round: the killed member back, one leader, everyone at the same revision.
  await leader.restart();
  await cluster.leader();
  await cluster.waitConverged({ timeoutMs: 60_000 });
  const newLeader = cluster.members.find((m) => m.id === newLeaderId);
  return {
    killed: leader.name,
    newLeader: newLeader?.name ?? String(newLeaderId),
    electMs: electedAt - killAt,
    firstWriteMs: firstAckAt - killAt,
    failedWrites,
  };
}

type Metrics = Record<string, number>;

type SystemResult = { metrics: Metrics; failover: FailoverRound[]; errors: Record<string, string>; logLines: string[] };

/** A system under test: its running cluster, the load's connections to it, and what was measured so far. */
type System = SystemResult & { kind: ClusterKind; cluster: Cluster; conns: KVClient[] };

type Phase = { name: string; concurrency: number; op: Op; metric: string };

const PHASES: readonly Phase[] = [
  { name: 'put @64', concurrency: 64, op: put, metric: 'put' },
  { name: 'put @256', concurrency: 256, op: put, metric: 'put' },
  { name: 'linearizable range @64', concurrency: 64, op: linearizableGet, metric: 'range linearizable' },
];

async function runPhase(sys: System, phase: Phase): Promise<void> {
  const r = await load(sys.cluster.members, sys.conns, phase.concurrency, phase.op, SECONDS);
  const at = `@${phase.concurrency}`;
  sys.metrics[`${phase.metric} ops/s ${at}`] = r.ops;
  sys.metrics[`${phase.metric} p50 ms ${at}`] = r.p50;
  sys.metrics[`${phase.metric} p99 ms ${at}`] = r.p99;
  sys.metrics[`${phase.metric} members' CPU ms per 1k ops ${at}`] = r.cpuMsPer1k;
  if (r.errors > 0) sys.errors[phase.name] = `${r.errors} failed, first: ${r.firstError ?? '?'}`;
  say(
    `  ${sys.kind}: ${phase.name}: ${r.ops.toFixed(0)} ops/s, p99 ${r.p99.toFixed(1)} ms, members' CPU ${r.cpuMsPer1k.toFixed(0)} ms per 1k ops ` +
      `(load average ${loadavg()[0]?.toFixed(2)})${r.errors ? `, ${r.errors} FAILED` : ''}`,
  );
}

/** Warning and error lines of the members' logs (etcd 3.4's capnslog `W |`/`E |`, zap JSON, or kvctl's). */
function warningLines(members: readonly ClusterMember[]): string[] {
  const out: string[] = [];
  for (const m of members) {
    for (const line of m.log().split('\n')) {
      if (/\s[WEC] \||"level":"(warn|error|fatal)"|\b(WARN|ERROR|warn|error)\b/.test(line)) out.push(`${m.name}: ${line}`);
    }
  }
  return out;
}

/**
 * Both clusters run side by side (an idle 3-member cluster of either costs ~3% of one core: heartbeats), and the
 * phases alternate between them, each phase's first system alternating too: whatever else loads the machine
 * meanwhile then falls on both about equally.
 */
async function measureBoth(): Promise<Record<ClusterKind, SystemResult>> {
  const systems: System[] = [];
  try {
    for (const kind of ['etcd', 'kvctl'] as const) {
      say(`${kind}: starting 3 members (load average ${loadavg().map((x) => x.toFixed(2)).join(' ')})`);
      const cluster = await startCluster({ kind, size: 3, readyTimeoutMs: 60_000 });
      systems.push({ kind, cluster, conns: connect(cluster.endpoints, CONNS_PER_MEMBER), metrics: {}, failover: [], errors: {}, logLines: [] });
    }
    for (const sys of systems) await preload(sys.conns);
    const inTurn = (i: number): System[] => (i % 2 === 0 ? systems : [...systems].reverse());
    for (const [i, phase] of PHASES.entries()) for (const sys of inTurn(i)) await runPhase(sys, phase);
    for (let round = 1; round <= FAILOVER_ROUNDS; round++) {
      for (const sys of inTurn(round - 1)) {
        const f = await failoverRound(sys.cluster);
        sys.failover.push(f);
        say(
          `  ${sys.kind}: failover ${round}: killed ${f.killed}, ${f.newLeader} elected after ${f.electMs.toFixed(0)} ms, ` +
            `first write acked after ${f.firstWriteMs.toFixed(0)} ms (${f.failedWrites} writes of the light load failed meanwhile)`,
        );
      }
    }
    for (const sys of systems) {
      sys.metrics['failover: new leader ms (median)'] = median(sys.failover.map((f) => f.electMs));
      sys.metrics['failover: first write ms (median)'] = median(sys.failover.map((f) => f.firstWriteMs));
      sys.logLines = warningLines(sys.cluster.members);
    }
    const [etcd, kvctl] = systems as [System, System];
    const result = (x: System): SystemResult => ({ metrics: x.metrics, failover: x.failover, errors: x.errors, logLines: x.logLines });
    return { etcd: result(etcd), kvctl: result(kvctl) };
  } finally {
    for (const sys of systems) {
      for (const c of sys.conns) c.close();
      if (showLogs) for (const line of warningLines(sys.cluster.members)) say(`  ${sys.kind} log: ${line}`);
      await sys.cluster.stop();
    }
  }
}

// ---- main ----

const etcdVersion = spawnSync(process.env.ETCD_BIN ?? 'etcd', ['--version'], { encoding: 'utf8' });
if (etcdVersion.status !== 0) {
  console.error('bench/cluster: the real etcd is not installed (apt-get install etcd-server); nothing to compare with');
  process.exit(1);
}
if (!existsSync(join(root, 'dist', 'commands'))) {
  console.error('bench/cluster: kvctl runs from dist/; run `npm run build` first');
  process.exit(1);
}

const version = /etcd Version: (\S+)/.exec(etcdVersion.stdout)?.[1] ?? '?';
say(
  `3 kvctl nodes vs 3 etcd ${version} members on 127.0.0.1-3 (heartbeat 100 ms, election 1000 ms), node ${process.version}, ` +
    `${SECONDS}s per point, ${FAILOVER_ROUNDS} failover round(s); 256 B values over ${KEYS} keys; clients spread evenly over ` +
    `the 3 members (${CONNS_PER_MEMBER} connections each), so ~2/3 of writes are forwarded by a follower.`,
);
say(
  `NOTE: ${cpus().length} CPU core(s), shared by the 3 members AND this load generator (and anything else running): ` +
    `figures are relative, compare the ratios, not the absolute numbers.`,
);

const { etcd, kvctl: kv } = await measureBoth();

/** Lower is better for latencies and failover times, higher for throughput. */
const lowerIsBetter = (metric: string): boolean => metric.includes(' ms');

type Target = { name: string; metric: string; pass: boolean; detail: string };
const targets: Target[] = [];
for (const metric of ['put ops/s @64', 'put ops/s @256', 'range linearizable ops/s @64']) {
  const ratio = (kv.metrics[metric] ?? NaN) / (etcd.metrics[metric] ?? NaN);
  targets.push({ name: `${metric} >= 0.5x etcd`, metric, pass: ratio >= 0.5, detail: `${ratio.toFixed(2)}x` });
}
for (const metric of ['failover: new leader ms (median)', 'failover: first write ms (median)']) {
  const a = kv.metrics[metric] ?? NaN;
  const b = etcd.metrics[metric] ?? NaN;
  targets.push({ name: `${metric} <= etcd's`, metric, pass: a <= b, detail: `${a.toFixed(0)} vs ${b.toFixed(0)} ms` });
}

if (json) {
  process.stdout.write(
    `${JSON.stringify({
      bench: 'cluster',
      node: process.version,
      etcd: version,
      cores: cpus().length,
      seconds: SECONDS,
      failoverRounds: FAILOVER_ROUNDS,
      results: { etcd, kvctl: kv },
      targets,
    })}\n`,
  );
} else {
  const digits = (metric: string): number => (lowerIsBetter(metric) ? 1 : 0);
  const rows = Object.keys(etcd.metrics).map((metric) => {
    const a = kv.metrics[metric] ?? NaN;
    const b = etcd.metrics[metric] ?? NaN;
    return {
      metric,
      etcd: b.toFixed(digits(metric)),
      kvctl: a.toFixed(digits(metric)),
      'kvctl/etcd': (a / b).toFixed(2),
      better: lowerIsBetter(metric) ? 'lower' : 'higher',
    };
  });
  console.table(rows);
  for (const [kind, r] of [['etcd', etcd], ['kvctl', kv]] as const) {
    console.log(
      `${kind} failover rounds (ms, new leader / first write): ${r.failover.map((f) => `${f.electMs.toFixed(0)}/${f.firstWriteMs.toFixed(0)}`).join(', ')}`,
    );
    for (const [phase, e] of Object.entries(r.errors)) console.log(`${kind} errors during ${phase}: ${e}`);
    console.log(`${kind} warning/error log lines: ${r.logLines.length}${r.logLines.length && !showLogs ? ' (--logs prints them)' : ''}`);
  }
  for (const t of targets) console.log(`${t.pass ? 'PASS' : 'MISS'}  ${t.name}: ${t.detail}`);
  console.log('(a MISS does not fail the bench: benchmarks are not tests)');
}
