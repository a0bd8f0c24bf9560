/**
 * The lifecycle of a long-running program a test starts (etcd, `kvctl node`), in one place, so that each launcher
 * (etcd.ts, etcd-tls.ts, member-process.ts) keeps only what is its own: flags, readiness probe, restarts.
 *
 * - `spawnProcess` starts the program with its output piped: the pipes are always drained (a program never blocks
 *   on a full one) and the last `logLimit` characters kept for failure messages. The process is registered with
 *   reaper.ts until it exits, and a program that cannot be started is reported, not thrown as an unhandled 'error'.
 * - `stop()` sends SIGTERM, then SIGKILL after `graceMs`, and resolves once the process is gone; it is idempotent.
 * - `waitReady` polls a probe, bounded in time, and gives up at once when the process exits or could not start;
 *   its error says why and ends with the tail of the log.
 * - `tempDir` is a data directory that the reaper removes if the test process dies first.
 * - `startServer` puts these together for a server in a fresh data directory: it resolves once the server is ready,
 *   or stops it, removes the directory and rejects; a start that lost a race for a port ("address already in use")
 *   is tried again from scratch, with the new ports `launch` picks, up to 3 times.
 *
 * A separate module rather than part of etcd.ts: the same lifecycle runs `kvctl node` (member-process.ts), and
 * etcd.ts stays about etcd (its flags and /health).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { reapDir, reapProcess, releaseDir, releaseProcess } from './reaper.js';
import { waitExit } from './wait.js';

export type SpawnProcessOptions = {
  /** Names the program in messages ("etcd exited ..."); default the command's file name. */
  readonly label?: string | undefined;
  readonly cwd?: string | undefined;
  /** Added to this process's environment. */
  readonly env?: NodeJS.ProcessEnv | undefined;
  /** How long stop() waits after SIGTERM before it sends SIGKILL (default 5 s). */
  readonly graceMs?: number | undefined;
  /** How many characters of output log() keeps (default 16 KiB). */
  readonly logLimit?: number | undefined;
  /** Sees every piece of output as it arrives (e.g. to keep one log across restarts). */
  readonly onOutput?: ((text: string) => void) | undefined;
};

export interface ProcessHandle {
  /** The process id, or -1 when the program could not be started. */
  readonly pid: number;
  /** False once the process has exited, or when it could not be started. */
  running(): boolean;
  /** stdout and stderr as they came, the last `logLimit` characters. */
  log(): string;
  /** The last `lines` lines of the log (default 30). */
  logTail(lines?: number): string;
  /** The exit code; null while running, after a signal, or when the program could not be started. */
  exitCode(): number | null;
  /** Why the process is not running ("could not run etcd: ...", "etcd exited (code 1, signal null)"), or undefined. */
  whyNotRunning(): string | undefined;
  /** Resolves with true once the process is gone (at once if it is), or with false after `ms`. */
  waitExit(ms: number): Promise<boolean>;
  /**
   * Polls `ready` every 100 ms until it resolves true. Throws once the process is not running or `timeoutMs` has
   * passed (saying `notReady`), the tail of the log appended; it does not stop the process.
   */
  waitReady(ready: () => Promise<boolean>, opts: { timeoutMs: number; notReady: string }): Promise<void>;
  /** SIGTERM, SIGKILL after `graceMs`; resolves once the process is gone. Later calls return the same promise. */
  stop(): Promise<void>;
}

const DEFAULT_LOG_LIMIT = 16 * 1024;

/** Starts `command`; see the module comment. */
export function spawnProcess(command: string, args: readonly string[], opts: SpawnProcessOptions = {}): ProcessHandle {
  const label = opts.label ?? basename(command);
  const logLimit = opts.logLimit ?? DEFAULT_LOG_LIMIT;
  const child = spawn(command, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  reapProcess(child);
  let log = '';
  const onData = (chunk: Buffer): void => {
    const text = chunk.toString('utf8');
    log = (log + text).slice(-logLimit);
    opts.onOutput?.(text);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  let spawnError: Error | undefined;
  // 'error' says the program could not be started (no pid then), or that a signal could not be sent: ignored, as
  // stop() waits for the exit anyway. Listening at all keeps either from being an unhandled 'error' event.
  child.on('error', (err) => {
    if (child.pid !== undefined) return;
    spawnError ??= err;
    releaseProcess(child);
  });
  child.once('exit', () => releaseProcess(child));

  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  const running = (): boolean => spawnError === undefined && !exited();
  const logTail = (lines = 30): string => log.split('\n').slice(-lines).join('\n');
  const whyNotRunning = (): string | undefined => {
    if (spawnError !== undefined) return `could not run ${label}: ${spawnError.message}`;
    if (exited()) return `${label} exited (code ${child.exitCode}, signal ${child.signalCode})`;
    return undefined;
  };
  const graceMs = opts.graceMs ?? 5000;
  let stopped: Promise<void> | undefined;

  return {
    pid: child.pid ?? -1,
    running,
    log: () => log,
    logTail,
    exitCode: () => child.exitCode,
    whyNotRunning,
    waitExit: (ms) => (child.pid === undefined ? Promise.resolve(true) : waitExit(child, ms)),
    async waitReady(ready, { timeoutMs, notReady }) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const why = whyNotRunning() ?? (Date.now() >= deadline ? notReady : undefined);
        if (why !== undefined) throw new Error(`${why}\n--- ${label} log (tail) ---\n${logTail()}`);
        if (await ready()) return;
        await sleep(100);
      }
    },
    stop() {
      stopped ??= (async () => {
        if (child.pid !== undefined && !exited()) {
          child.kill('SIGTERM');
          if (!(await waitExit(child, graceMs))) {
            child.kill('SIGKILL');
            await waitExit(child, 5000);
          }
        }
        releaseProcess(child);
      })();
      return stopped;
    },
  };
}

export interface TempDir {
  readonly path: string;
  /** Removes the directory (unless it is kept). Idempotent. */
  remove(): void;
}

/** A fresh directory under the system's temporary one; `keep`: never removed, neither by remove() nor the reaper. */
export function tempDir(prefix: string, opts: { keep?: boolean | undefined } = {}): TempDir {
  const path = mkdtempSync(join(tmpdir(), prefix));
  if (!opts.keep) reapDir(path);
  return {
    path,
    remove() {
      if (opts.keep) return;
      rmSync(path, { recursive: true, force: true });
      releaseDir(path);
    },
  };
}

/** One attempt at starting a server, as `startServer`'s `launch` describes it. */
export type ServerLaunch<T> = {
  readonly command: string;
  readonly args: readonly string[];
  readonly options?: SpawnProcessOptions | undefined;
  /** Whether the server serves yet (e.g. its /health); false on any failure. */
  readonly ready: () => Promise<boolean>;
  /** What the caller wants to know about this attempt (its URLs, ...). */
  readonly info: T;
};

export type StartedServer<T> = {
  readonly info: T;
  readonly process: ProcessHandle;
  readonly dataDir: string;
  /** Stops the process, then removes the data directory (unless kept). Idempotent. */
  stop(): Promise<void>;
};

/** Starts a server in a fresh data directory and waits until it is ready; see the module comment. */
export async function startServer<T>(opts: {
  /** Prefix of the data directory's name, e.g. `kvctl-etcd-`. */
  readonly dataDirPrefix: string;
  readonly keepDataDir?: boolean | undefined;
  readonly readyTimeoutMs: number;
  /** The error message when the server is still not ready after `readyTimeoutMs`. */
  readonly notReady: string;
  /** Picks ports and builds the command line, for a fresh data directory on each attempt. */
  readonly launch: (dataDir: string) => Promise<ServerLaunch<T>>;
}): Promise<StartedServer<T>> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = tempDir(opts.dataDirPrefix, { keep: opts.keepDataDir });
    let proc: ProcessHandle | undefined;
    try {
      const launch = await opts.launch(dir.path);
      const started = spawnProcess(launch.command, launch.args, launch.options);
      proc = started;
      await started.waitReady(launch.ready, { timeoutMs: opts.readyTimeoutMs, notReady: opts.notReady });
      let stopped: Promise<void> | undefined;
      return {
        info: launch.info,
        process: started,
        dataDir: dir.path,
        stop: () => (stopped ??= started.stop().then(() => dir.remove())),
      };
    } catch (err) {
      lastError = err;
      await proc?.stop();
      dir.remove();
      // Only a lost port race is worth another try.
      if (!(err instanceof Error && /address already in use/.test(err.message))) break;
    }
  }
  throw lastError;
}
