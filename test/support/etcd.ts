/**
 * Starts a real etcd (the `etcd` binary on PATH, or $ETCD_BIN) as a one-member cluster on free loopback ports, in
 * a temporary data directory, and stops it again.
 *
 *     const etcd = await startEtcd();
 *     after(() => etcd.stop());
 *     // ... etcd.clientUrl is http://127.0.0.1:<port>, etcd.endpoint is 127.0.0.1:<port>
 *
 * Guarantees, so that a failing test never leaves anything behind:
 * - `startEtcd` resolves only once etcd serves `/health` with `{"health":"true"}`; if etcd exits or is not ready
 *   within `readyTimeoutMs`, it is killed and the promise rejects with the tail of etcd's log.
 * - `stop()` sends SIGTERM, waits up to 5 s, then SIGKILL; it removes the data directory (unless `keepDataDir`);
 *   calling it twice is harmless.
 * - Every etcd still running when the test process exits (or is stopped by SIGINT/SIGTERM/SIGHUP) is killed with
 *   SIGKILL and its data directory removed.
 * - Ports: the kernel picks free ones (bind to port 0, then release); if etcd loses the race for a port, the start
 *   is retried with new ports (up to 3 times).
 */
import { freePorts } from './ports.js';
import { startServer } from './process-handle.js';
import { spawn } from 'node:child_process';

export type StartEtcdOptions = {
  /** Member name (default `kvctl-test`). */
  name?: string;
  /** Extra command-line flags, appended after ours (so they can override them). */
  extraArgs?: readonly string[];
  /** Loopback address to listen on (default 127.0.0.1; any 127.x.y.z works on Linux). */
  host?: string;
  /** How long to wait for etcd to become healthy (default 20 s). */
  readyTimeoutMs?: number;
  /** Keep the data directory after `stop()` (to inspect it). */
  keepDataDir?: boolean;
};

export type EtcdHandle = {
  readonly name: string;
  /** `http://host:port` of the client listener. */
  readonly clientUrl: string;
  /** `host:port` of the client listener: the form etcdctl's --endpoints usually takes. */
  readonly endpoint: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly pid: number;
  /** The last lines etcd wrote (stdout and stderr), for failure messages. */
  logTail(): string;
  /** Stops etcd (SIGTERM, then SIGKILL after 5 s) and removes the data directory. Idempotent. */
  stop(): Promise<void>;
};

/** The etcd binary the tests run: $ETCD_BIN, or `etcd` on PATH. */
export function etcdCommand(): string {
  return process.env.ETCD_BIN ?? 'etcd';
}

/** Whether `GET <clientUrl>/health` (plain http) answers `{"health":"true"}` within 1 s; false on any failure. */
export async function isHealthy(clientUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
    if (!res.ok) return false;
    const body = (await res.json()) as { health?: unknown };
    return body.health === 'true' || body.health === true;
  } catch {
    return false;
  }
}

export type MemberPlace = {
  readonly name: string;
  readonly dataDir: string;
  /** Listened on and advertised. */
  readonly clientUrls: readonly string[];
  readonly peerUrl: string;
};

/** The flags that place a member (etcd's, which `kvctl node` shares): name, data directory, client and peer URLs. */
export function memberArgs(m: MemberPlace): string[] {
  return [
    '--name', m.name,
    '--data-dir', m.dataDir,
    '--listen-client-urls', m.clientUrls.join(','),
    '--advertise-client-urls', m.clientUrls.join(','),
    '--listen-peer-urls', m.peerUrl,
    '--initial-advertise-peer-urls', m.peerUrl,
  ];
}

/** memberArgs, and the flags that bootstrap the member as a new cluster of its own. */
export function oneMemberClusterArgs(m: MemberPlace & { readonly token: string }): string[] {
  return [
    ...memberArgs(m),
    '--initial-cluster', `${m.name}=${m.peerUrl}`,
    '--initial-cluster-token', m.token,
    '--initial-cluster-state', 'new',
  ];
}

/** Starts a one-member etcd on free loopback ports; see the module comment. */
export async function startEtcd(opts: StartEtcdOptions = {}): Promise<EtcdHandle> {
  const host = opts.host ?? '127.0.0.1';
  const name = opts.name ?? 'kvctl-test';
  const server = await startServer({
    dataDirPrefix: 'kvctl-etcd-',
    keepDataDir: opts.keepDataDir,
    readyTimeoutMs: opts.readyTimeoutMs ?? 20_000,
    notReady: 'etcd did not become healthy in time',
    launch: async (dataDir) => {
      const [clientPort, peerPort] = await freePorts([host, host]);
      const clientUrl = `http://${host}:${clientPort}`;
      const peerUrl = `http://${host}:${peerPort}`;
      const token = `kvctl-test-${process.pid}-${clientPort}`;
      return {
        command: etcdCommand(),
        args: [...oneMemberClusterArgs({ name, dataDir, clientUrls: [clientUrl], peerUrl, token }), ...(opts.extraArgs ?? [])],
        options: { label: 'etcd' },
        ready: () => isHealthy(clientUrl),
        info: { clientUrl, endpoint: `${host}:${clientPort}`, peerUrl },
      };
    },
  });
  return {
    name,
    ...server.info,
    dataDir: server.dataDir,
    pid: server.process.pid,
    logTail: () => server.process.logTail(),
    stop: server.stop,
  };
}

export type ProcessResult = { code: number; signal: NodeJS.Signals | null; stdout: Buffer; stderr: string };

/**
 * Runs a program to completion with optional stdin, capturing stdout as bytes (keys and values need not be UTF-8).
 * A run longer than `timeoutMs` (default 30 s) is killed with SIGKILL; it never rejects except when the program
 * cannot be started.
 */
export function runProcess(
  command: string,
  args: readonly string[],
  opts: { input?: string | Buffer; timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.on('error', () => {}); // the program may exit without reading its input
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs the real etcdctl (v3 API; $ETCDCTL_BIN or `etcdctl` on PATH). */
export function etcdctl(args: readonly string[], opts: { input?: string | Buffer; timeoutMs?: number } = {}): Promise<ProcessResult> {
  return runProcess(process.env.ETCDCTL_BIN ?? 'etcdctl', args, { ...opts, env: { ETCDCTL_API: '3' } });
}
