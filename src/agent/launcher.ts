/**
 * Starting a member's process so that it outlives its agent, and finding it again.
 *
 * Decision (issue 6): a node keeps serving when its agent stops or restarts. The node is started detached
 * (its own process group, stdio straight into the log file, never a pipe through the agent), so neither the
 * agent's exit nor a signal to the agent's process group reaches it. Its pid goes into a pid file, and the
 * process carries `KVCTL_PROCESS_IDENTITY=<identity>` (e.g. `member of agent <dir>`) in its environment: a
 * restarted agent adopts the process named in the pid file only when /proc shows that identity, so a reused pid is never mistaken for the member.
 * An adopted process is not the agent's child; its end is noticed by polling (its exit status is lost).
 */
import { openSync, closeSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { execa } from 'execa';

/** A started (or adopted) member process. */
export interface Launched {
  readonly pid: number;
  /** Settles when the process has ended, with how it ended ("exit code 1", "signal SIGKILL", ...). */
  readonly ended: Promise<string>;
  signal(signal: NodeJS.Signals): void;
}

/** How a member is run: the process runtimes (kvctl's node, a real etcd) and the docker runtime implement it. */
export interface Launcher {
  launch(env: ReadonlyMap<string, string>): Promise<Launched>;
  /** The member an earlier agent started, if it still runs. */
  adopt(): Promise<Launched | undefined>;
  /** Forget what launch() recorded (after the member stopped for good). */
  forget(): Promise<void>;
}

export const identityVariable = 'KVCTL_PROCESS_IDENTITY';

/**
 * SIGTERM, then SIGKILL if it still runs after `timeoutMs` (`onKill` says so first); resolves with how it
 * ended. The one way kvctl stops a member or an agent.
 */
export async function stopGracefully(running: Launched, timeoutMs: number, onKill?: () => void): Promise<string> {
  running.signal('SIGTERM');
  const timer = setTimeout(() => {
    onKill?.();
    running.signal('SIGKILL');
  }, timeoutMs);
  try {
    return await running.ended;
  } finally {
    clearTimeout(timer);
  }
}

/** Stops what `launcher` finds running (and forgets it); whether there was something. */
export async function stopAdopted(launcher: Launcher, timeoutMs: number): Promise<boolean> {
  const running = await launcher.adopt();
  if (running === undefined) return false;
  await stopGracefully(running, timeoutMs);
  await launcher.forget();
  return true;
}

/** The identity of the member run by the agent in `agentDir`. */
export function memberIdentity(agentDir: string): string {
  return `member of agent ${agentDir}`;
}

export interface ProcessLauncherOptions {
  readonly file: string;
  readonly args: readonly string[];
  /** Marks the process as this launcher's (see the module comment). */
  readonly identity: string;
  readonly logFile: string;
  readonly pidFile: string;
  /** Let this process exit while the launched one runs on (a CLI that starts daemons). */
  readonly unref?: boolean;
}

/** The environment a process starts with: ours minus ETCD_* settings and agent secrets, plus `env` and its identity. */
export function memberEnvironment(env: ReadonlyMap<string, string>, identity: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith('ETCD_') || k.startsWith('ETCDCTL_') || k.startsWith('KVCTL_AGENT') || k === identityVariable) continue;
    out[k] = v;
  }
  for (const [k, v] of env) out[k] = v;
  out[identityVariable] = identity;
  return out;
}

function describeEnd(code: number | undefined, signal: string | undefined): string {
  if (signal !== undefined && signal !== null) return `signal ${signal}`;
  return `exit code ${code ?? 'unknown'}`;
}

/** True when `pid` runs and its environment carries `identity`. */
function isOurs(pid: number, identity: string): boolean {
  try {
    const environ = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
    return environ.includes(`${identityVariable}=${identity}`);
  } catch {
    return false;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class ProcessLauncher implements Launcher {
  constructor(private readonly opts: ProcessLauncherOptions) {}

  async launch(env: ReadonlyMap<string, string>): Promise<Launched> {
    await mkdir(dirname(this.opts.logFile), { recursive: true });
    // One fd for both streams, opened O_APPEND and handed to the child itself: the node writes its log
    // without the agent in between, so it keeps logging (and never gets EPIPE) after the agent is gone.
    // (execa's types accept a file descriptor only as a literal number; it hands any fd to the child as is.)
    const fd = openSync(this.opts.logFile, 'a', 0o640) as 3;
    const start = () =>
      execa(this.opts.file, [...this.opts.args], {
        env: memberEnvironment(env, this.opts.identity),
        extendEnv: false,
        detached: true,
        cleanup: false,
        reject: false,
        buffer: false,
        stdin: 'ignore',
        stdout: fd,
        stderr: fd,
      });
    let child: ReturnType<typeof start>;
    try {
      child = start();
    } finally {
      closeSync(fd);
    }
    const pid = child.pid;
    if (pid === undefined) {
      const result = await child;
      throw new Error(`could not start ${this.opts.file}: ${result.message ?? describeEnd(result.exitCode, result.signal)}`);
    }
    if (this.opts.unref === true) child.unref();
    await writeFile(this.opts.pidFile, `${pid}\n`, { mode: 0o644 });
    const ended = child.then((r) => describeEnd(r.exitCode, r.signal ?? undefined));
    return { pid, ended, signal: (s) => void child.kill(s) };
  }

  async adopt(): Promise<Launched | undefined> {
    let pid: number;
    try {
      pid = Number((await readFile(this.opts.pidFile, 'utf8')).trim());
    } catch {
      return undefined;
    }
    if (!Number.isSafeInteger(pid) || pid <= 1 || !alive(pid) || !isOurs(pid, this.opts.identity)) return undefined;
    const ended = (async () => {
      // Unref'd: watching a process must not keep a CLI that merely looked at it from exiting.
      while (alive(pid) && isOurs(pid, this.opts.identity)) await sleep(250, undefined, { ref: false });
      return 'ended (its exit status is unknown: an earlier agent started it)';
    })();
    return {
      pid,
      ended,
      signal: (s) => {
        try {
          process.kill(pid, s);
        } catch {
          // already gone
        }
      },
    };
  }

  async forget(): Promise<void> {
    await rm(this.opts.pidFile, { force: true });
  }
}
