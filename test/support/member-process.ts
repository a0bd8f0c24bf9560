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
import { join } from 'node:path';

import { root } from '../e2e/kvctl.js';
import { etcdCommand, isHealthy, memberArgs } from './etcd.js';
import { freePorts } from './ports.js';
import { type ProcessHandle, spawnProcess, tempDir } from './process-handle.js';

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
  const [clientPort, peerPort] = await freePorts([host, host]);
  const clientUrl = `http://${host}:${clientPort}`;
  const peerUrl = `http://${host}:${peerPort}`;
  const dataDir = tempDir(`kvctl-${opts.kind}-${opts.name}-`);
  const flags = [...memberArgs({ name: opts.name, dataDir: dataDir.path, clientUrls: [clientUrl], peerUrl }), ...opts.args];
  const [command, args] =
    opts.kind === 'kvctl' ? [process.execPath, [join(root, 'bin/run.js'), 'node', ...flags]] : [etcdCommand(), flags];
  const label = `${opts.kind} ${opts.name}`;

  let all = '';
  const start = (): ProcessHandle =>
    spawnProcess(command, args, {
      label,
      cwd: root,
      env: opts.env,
      graceMs: 10_000,
      logLimit: LOG_LIMIT,
      onOutput: (text) => {
        all = (all + text).slice(-LOG_LIMIT);
      },
    });
  // The process of the current (last) start; restart() replaces it.
  let current = start();
  let stopped: Promise<void> | undefined;
  return {
    kind: opts.kind,
    name: opts.name,
    host,
    clientUrl,
    endpoint: `${host}:${clientPort}`,
    peerUrl,
    dataDir: dataDir.path,
    log: () => all,
    lastLog: () => current.log(),
    running: () => current.running(),
    waitHealthy: (timeoutMs) =>
      current.waitReady(() => isHealthy(clientUrl), { timeoutMs, notReady: `${label} not healthy on ${clientUrl} after ${timeoutMs} ms` }),
    async waitExited(timeoutMs) {
      const proc = current;
      if (!(await proc.waitExit(timeoutMs))) throw new Error(`${label} still running after ${timeoutMs} ms:\n${proc.logTail()}`);
      return proc.exitCode();
    },
    stopProcess: () => current.stop(),
    async restart() {
      await current.stop();
      current = start();
    },
    stop() {
      stopped ??= current.stop().then(() => dataDir.remove());
      return stopped;
    },
  };
}
