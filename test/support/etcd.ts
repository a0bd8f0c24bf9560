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
import { freePort } from './ports.js';
import { reapDir, reapProcess, releaseDir, releaseProcess } from './reaper.js';
import { waitExit } from './wait.js';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

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


async function isHealthy(clientUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
    if (!res.ok) return false;
    const body = (await res.json()) as { health?: unknown };
    return body.health === 'true' || body.health === true;
  } catch {
    return false;
  }
}

async function startOnce(opts: StartEtcdOptions, dataDir: string): Promise<EtcdHandle> {
  const host = opts.host ?? '127.0.0.1';
  const name = opts.name ?? 'kvctl-test';
  const clientPort = await freePort(host);
  let peerPort = await freePort(host);
  while (peerPort === clientPort) peerPort = await freePort(host);
  const clientUrl = `http://${host}:${clientPort}`;
  const peerUrl = `http://${host}:${peerPort}`;
  const args = [
    '--name', name,
    '--data-dir', dataDir,
    '--listen-client-urls', clientUrl,
    '--advertise-client-urls', clientUrl,
    '--listen-peer-urls', peerUrl,
    '--initial-advertise-peer-urls', peerUrl,
    '--initial-cluster', `${name}=${peerUrl}`,
    '--initial-cluster-token', `kvctl-test-${process.pid}-${clientPort}`,
    '--initial-cluster-state', 'new',
    ...(opts.extraArgs ?? []),
  ];
  const child = spawn(process.env.ETCD_BIN ?? 'etcd', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } });
  reapProcess(child);
  if (!opts.keepDataDir) reapDir(dataDir);

  // Keep only the tail of the log; always drain the pipes so that etcd never blocks on a full one.
  let log = '';
  const onData = (chunk: Buffer): void => {
    log = (log + chunk.toString('utf8')).slice(-16_384);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const logTail = (): string => log.split('\n').slice(-30).join('\n');
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });
  child.once('exit', () => releaseProcess(child));

  let stopped: Promise<void> | undefined;
  const stopProcess = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      if (!(await waitExit(child, 5000))) {
        child.kill('SIGKILL');
        await waitExit(child, 5000);
      }
    }
    releaseProcess(child);
  };
  const handle: EtcdHandle = {
    name,
    clientUrl,
    endpoint: `${host}:${clientPort}`,
    peerUrl,
    dataDir,
    pid: child.pid ?? -1,
    logTail,
    stop: () => {
      stopped ??= stopProcess().then(() => {
        if (!opts.keepDataDir) {
          rmSync(dataDir, { recursive: true, force: true });
          releaseDir(dataDir);
        }
      });
      return stopped;
    },
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 20_000);
  while (Date.now() < deadline) {
    if (spawnError !== undefined) break;
    if (child.exitCode !== null || child.signalCode !== null) break;
    if (await isHealthy(clientUrl)) return handle;
    await sleep(100);
  }
  await stopProcess();
  const why = spawnError
    ? `could not run etcd: ${spawnError.message}`
    : child.exitCode !== null || child.signalCode !== null
      ? `etcd exited (code ${child.exitCode}, signal ${child.signalCode})`
      : 'etcd did not become healthy in time';
  throw new Error(`${why}\n--- etcd log (tail) ---\n${logTail()}`);
}

/** Starts a one-member etcd on free loopback ports; see the module comment. */
export async function startEtcd(opts: StartEtcdOptions = {}): Promise<EtcdHandle> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const dataDir = mkdtempSync(join(tmpdir(), 'kvctl-etcd-'));
    try {
      return await startOnce(opts, dataDir);
    } catch (err) {
      lastError = err;
      if (!opts.keepDataDir) {
        rmSync(dataDir, { recursive: true, force: true });
        releaseDir(dataDir);
      }
      // Only a lost port race is worth another try.
      if (!(err instanceof Error && /address already in use/.test(err.message))) break;
    }
  }
  throw lastError;
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
