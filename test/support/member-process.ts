/**
 * One cluster member as a real process, `kvctl node` (the built CLI) or the real `etcd` ($ETCD_BIN), with
 * the bootstrap flags left to the caller (e.g. `--discovery <url>`): for tests of how members find their
 * cluster. The member listens on its own loopback host with free client and peer ports, in a temporary
 * data directory; the same ports and directory are used again by `restart()`.
 *
 * Everything is bounded and cleaned up: `waitHealthy` and `waitExited` end after the time they are given;
 * `stop()` sends SIGTERM and SIGKILL after 10 s, removes the data directory and is idempotent; a process
 * or directory still there when the test process ends is removed by reaper.ts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { root } from '../e2e/kvctl.js';
import { freePort } from './ports.js';
import { reapDir, reapProcess, releaseDir, releaseProcess } from './reaper.js';
import { waitExit, waitFor } from './wait.js';

export type MemberKind = 'kvctl' | 'etcd';

export interface MemberProcess {
  readonly kind: MemberKind;
  readonly name: string;
  readonly host: string;
  /** `http://host:port` and `host:port` of the client listener. */
  readonly clientUrl: string;
  readonly endpoint: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  /** Output of every start so far (stdout and stderr, the last 256 KiB). */
  log(): string;
  /** Output of the current (last) start only. */
  lastLog(): string;
  running(): boolean;
  /** Resolves once /health says true; throws (with the log) if the process exits or time runs out. */
  waitHealthy(timeoutMs: number): Promise<void>;
  /** The exit code once the process has exited, or throws after `timeoutMs`. */
  waitExited(timeoutMs: number): Promise<number | null>;
  /** SIGTERM, SIGKILL after 10 s; keeps the data directory. */
  stopProcess(): Promise<void>;
  /** Starts the process again with the same flags, ports and data directory. */
  restart(): Promise<void>;
  /** stopProcess() and remove the data directory. Idempotent. */
  stop(): Promise<void>;
}

export interface SpawnMemberOptions {
  kind: MemberKind;
  name: string;
  /** A loopback address (default 127.0.0.1). */
  host?: string;
  /** The flags that say how the member finds its cluster, and any others (after ours). */
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
}

const LOG_LIMIT = 256 * 1024;

export async function spawnMember(opts: SpawnMemberOptions): Promise<MemberProcess> {
  const host = opts.host ?? '127.0.0.1';
  if (!host.startsWith('127.')) throw new Error(`tests run on loopback only, not ${host}`);
  const clientPort = await freePort(host);
  let peerPort = await freePort(host);
  while (peerPort === clientPort) peerPort = await freePort(host);
  const clientUrl = `http://${host}:${clientPort}`;
  const peerUrl = `http://${host}:${peerPort}`;
  const dataDir = mkdtempSync(join(tmpdir(), `kvctl-${opts.kind}-${opts.name}-`));
  reapDir(dataDir);
  const memberArgs = [
    '--name', opts.name,
    '--data-dir', dataDir,
    '--listen-client-urls', clientUrl,
    '--advertise-client-urls', clientUrl,
    '--listen-peer-urls', peerUrl,
    '--initial-advertise-peer-urls', peerUrl,
    ...opts.args,
  ];
  const [command, args] =
    opts.kind === 'kvctl'
      ? [process.execPath, [join(root, 'bin/run.js'), 'node', ...memberArgs]]
      : [process.env.ETCD_BIN ?? 'etcd', memberArgs];

  let all = '';
  let last = '';
  let child: ChildProcess | undefined;
  const start = () => {
    last = '';
    const c = spawn(command, args, { cwd: root, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    reapProcess(c);
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      all = (all + text).slice(-LOG_LIMIT);
      last = (last + text).slice(-LOG_LIMIT);
    };
    c.stdout?.on('data', onData);
    c.stderr?.on('data', onData);
    c.once('exit', () => releaseProcess(c));
    child = c;
  };
  const isRunning = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  const stopProcess = async () => {
    const c = child;
    if (c === undefined || !isRunning()) return;
    c.kill('SIGTERM');
    if (!(await waitExit(c, 10_000))) {
      c.kill('SIGKILL');
      await waitExit(c, 5000);
    }
  };
  let stopped: Promise<void> | undefined;
  start();
  return {
    kind: opts.kind,
    name: opts.name,
    host,
    clientUrl,
    endpoint: `${host}:${clientPort}`,
    peerUrl,
    dataDir,
    log: () => all,
    lastLog: () => last,
    running: isRunning,
    async waitHealthy(timeoutMs) {
      await waitFor(
        async () => {
          if (!isRunning()) throw new Error(`${opts.kind} ${opts.name} exited (${child?.exitCode ?? child?.signalCode}) before it was healthy:\n${last.slice(-4000)}`);
          try {
            const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
            const body = (await res.json()) as { health?: unknown };
            return body.health === 'true' || body.health === true;
          } catch {
            return false;
          }
        },
        { timeoutMs, intervalMs: 100, what: `${opts.kind} ${opts.name} healthy on ${clientUrl}` },
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n${last.slice(-4000)}`);
      });
    },
    async waitExited(timeoutMs) {
      const c = child;
      if (c === undefined) return null;
      if (!(await waitExit(c, timeoutMs))) throw new Error(`${opts.kind} ${opts.name} still running after ${timeoutMs} ms:\n${last.slice(-4000)}`);
      return c.exitCode;
    },
    stopProcess,
    async restart() {
      await stopProcess();
      start();
    },
    stop() {
      stopped ??= stopProcess().then(() => {
        if (existsSync(dataDir)) rmSync(dataDir, { recursive: true, force: true });
        releaseDir(dataDir);
      });
      return stopped;
    },
  };
}
