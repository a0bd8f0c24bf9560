/**
 * Starts a real multi-member etcd cluster (the `etcd` binary on PATH, or $ETCD_BIN), one member per loopback
 * "host" (127.0.0.1, 127.0.0.2, ...), each in a temporary data directory, with fast heartbeats and elections; and
 * starts further members that join it with the settings `member add` printed.
 *
 *     const cluster = await startEtcdCluster({ size: 3 });
 *     after(() => cluster.stop());
 *     const addr = await reserveMember('127.0.0.1');            // ports for a member to add
 *     // ... member add m4 --peer-urls=<addr.peerUrl>, then:
 *     const m4 = await startMember(addr, { env: { ETCD_NAME: 'm4', ETCD_INITIAL_CLUSTER: '...', ... } });
 *
 * Guarantees, so that a failing test leaves nothing behind:
 * - A start resolves once every member started serves `/health` with `{"health":"true"}`; otherwise its processes
 *   are killed and it rejects with the tail of their logs.
 * - `stop()` kills the process (SIGKILL: the data is thrown away anyway) and removes its data directory; it is
 *   idempotent, and `cluster.stop()` stops every member started through this module, joined ones included.
 * - Every etcd still running when the test process exits (or is stopped by SIGINT/SIGTERM/SIGHUP) is killed and its
 *   data directory removed.
 * Small and self-contained on purpose; test/support/cluster.ts (fault proxies) is the general one.
 */
import { reapDir, reapProcess, releaseDir, releaseProcess } from './reaper.js';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Heartbeat and election timeout (ms): fast, so that elections and joins take well under a second. */
const HEARTBEAT_MS = 50;
const ELECTION_MS = 500;

/** Where a member listens: chosen before it starts, because `member add` needs its peer URL first. */
export type MemberAddress = {
  readonly host: string;
  /** `http://host:port` of the client listener. */
  readonly clientUrl: string;
  /** `host:port` of the client listener, the form --endpoints takes. */
  readonly endpoint: string;
  readonly peerUrl: string;
};

export type ClusterMember = MemberAddress & {
  readonly name: string;
  readonly dataDir: string;
  readonly pid: number;
  /** The last lines etcd wrote, for failure messages. */
  logTail(): string;
  /** Kills the member and removes its data directory. Idempotent. */
  stop(): Promise<void>;
};

export type EtcdCluster = {
  readonly members: readonly ClusterMember[];
  /** Every member's endpoint, comma separated (for --endpoints). */
  readonly endpoints: string;
  /** Stops every member started through this module (the initial ones and those joined since). */
  stop(): Promise<void>;
};


/** A port the kernel considers free on `host` right now. */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

/** Two free ports on a loopback host, for a member's client and peer listeners. */
export async function reserveMember(host: string): Promise<MemberAddress> {
  if (!host.startsWith('127.')) throw new Error(`tests run on loopback only, not ${host}`);
  const clientPort = await freePort(host);
  let peerPort = await freePort(host);
  for (let i = 0; i < 5 && peerPort === clientPort; i++) peerPort = await freePort(host);
  return { host, clientUrl: `http://${host}:${clientPort}`, endpoint: `${host}:${clientPort}`, peerUrl: `http://${host}:${peerPort}` };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function waitExit(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function isHealthy(clientUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
    const body = (await res.json()) as { health?: unknown };
    return body.health === 'true' || body.health === true;
  } catch {
    return false;
  }
}

/** Members started and not yet stopped, for EtcdCluster.stop. */
const started = new Set<ClusterMember>();

/**
 * Starts one member at `addr`. Its bootstrap settings come from `flags` (`--name`, `--initial-cluster`, ...) or
 * from `env` (`ETCD_NAME`, `ETCD_INITIAL_CLUSTER`, ...: what `member add` prints); etcd refuses the same setting in
 * both. Does not wait for it to be healthy (see `waitHealthy`).
 */
function spawnMember(addr: MemberAddress, boot: { flags?: readonly string[]; env?: Readonly<Record<string, string>> }): ClusterMember {
  const dataDir = mkdtempSync(join(tmpdir(), 'kvctl-etcd-cluster-'));
  const args = [
    '--data-dir', dataDir,
    '--listen-client-urls', addr.clientUrl,
    '--advertise-client-urls', addr.clientUrl,
    '--listen-peer-urls', addr.peerUrl,
    '--heartbeat-interval', String(HEARTBEAT_MS),
    '--election-timeout', String(ELECTION_MS),
    ...(boot.flags ?? []),
  ];
  const child = spawn(process.env.ETCD_BIN ?? 'etcd', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...boot.env } });
  reapProcess(child);
  reapDir(dataDir);
  let log = '';
  const onData = (chunk: Buffer): void => {
    log = (log + chunk.toString('utf8')).slice(-16_384);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  child.once('error', (err) => onData(Buffer.from(`could not run etcd: ${err.message}\n`)));
  child.once('exit', () => releaseProcess(child));
  const nameAt = boot.flags?.indexOf('--name') ?? -1;
  const name = boot.env?.ETCD_NAME ?? (nameAt >= 0 ? boot.flags?.[nameAt + 1] : undefined) ?? '';
  let stopped: Promise<void> | undefined;
  const member: ClusterMember = {
    ...addr,
    name,
    dataDir,
    pid: child.pid ?? -1,
    logTail: () => log.split('\n').slice(-30).join('\n'),
    stop: () => {
      stopped ??= (async () => {
        child.kill('SIGKILL');
        await waitExit(child, 5000);
        releaseProcess(child);
        started.delete(member);
        rmSync(dataDir, { recursive: true, force: true });
        releaseDir(dataDir);
      })();
      return stopped;
    },
  };
  started.add(member);
  return member;
}

/** Waits until every member serves /health as healthy; on timeout or exit, stops them and rejects with their logs. */
async function waitHealthy(members: readonly ClusterMember[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(members);
  while (pending.size > 0 && Date.now() < deadline) {
    for (const m of [...pending]) if (await isHealthy(m.clientUrl)) pending.delete(m);
    if (pending.size > 0) await sleep(100);
  }
  if (pending.size === 0) return;
  const logs = members.map((m) => `--- ${m.name} (${m.endpoint}) ---\n${m.logTail()}`).join('\n');
  await Promise.all(members.map((m) => m.stop()));
  throw new Error(`etcd members did not become healthy within ${timeoutMs} ms\n${logs}`);
}

/** Starts a new cluster of `size` members named m1..mN on 127.0.0.1..127.0.0.N; see the module comment. */
export async function startEtcdCluster(opts: { size?: number; readyTimeoutMs?: number } = {}): Promise<EtcdCluster> {
  const size = opts.size ?? 3;
  const addrs = await Promise.all(Array.from({ length: size }, (_, i) => reserveMember(`127.0.0.${i + 1}`)));
  const initialCluster = addrs.map((a, i) => `m${i + 1}=${a.peerUrl}`).join(',');
  const token = `kvctl-cluster-${process.pid}-${Date.now()}`;
  const members = addrs.map((a, i) =>
    spawnMember(a, {
      flags: [
        '--name', `m${i + 1}`,
        '--initial-advertise-peer-urls', a.peerUrl,
        '--initial-cluster', initialCluster,
        '--initial-cluster-token', token,
        '--initial-cluster-state', 'new',
      ],
    }),
  );
  await waitHealthy(members, opts.readyTimeoutMs ?? 20_000);
  return {
    members,
    endpoints: members.map((m) => m.endpoint).join(','),
    stop: async () => {
      await Promise.all([...started].map((m) => m.stop()));
    },
  };
}

/**
 * Starts a member that joins a running cluster with the settings `member add` printed (`ETCD_NAME`,
 * `ETCD_INITIAL_CLUSTER`, `ETCD_INITIAL_ADVERTISE_PEER_URLS`, `ETCD_INITIAL_CLUSTER_STATE`), passed to etcd as
 * its environment, as an operator would; resolves once it is healthy.
 */
export async function startMember(addr: MemberAddress, env: Readonly<Record<string, string>>, readyTimeoutMs = 20_000): Promise<ClusterMember> {
  const member = spawnMember(addr, { env });
  await waitHealthy([member], readyTimeoutMs);
  return member;
}
