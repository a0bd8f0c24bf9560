/**
 * `kvctl agent` processes for tests: one per loopback "host", each with its own directory and a free port, and
 * the member it runs. Members are detached from their agent (they outlive it on purpose), so they are not the
 * test's children: `stop()` and the exit hook kill the member named by the agent's pid file too.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { freePort } from './ports.js';
import { reapDir, reapProcess, releaseProcess } from './reaper.js';
import { waitExit, waitFor } from './wait.js';

const root = new URL('../..', import.meta.url).pathname;

export interface TestAgent {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly address: string;
  readonly dir: string;
  process: ChildProcess;
  log(): string;
  /** The member process's pid from the agent's pid file (0 when none). */
  memberPid(): number;
  /** Starts the agent process again (after stop/kill9), same directory and port; `env` for this start only. */
  restart(env?: NodeJS.ProcessEnv): Promise<void>;
  /** SIGTERM to the agent only (its member keeps running). */
  stop(): Promise<void>;
  kill9(): Promise<void>;
  /** Agent and member gone, directory deleted. */
  destroy(): Promise<void>;
}

const members = new Set<string>();
let hooked = false;

function killMemberOf(dir: string): void {
  try {
    const pid = Number(readFileSync(join(dir, 'node.pid'), 'utf8').trim());
    if (pid > 1) process.kill(pid, 'SIGKILL');
  } catch {
    // no member, or gone already
  }
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const dir of members) killMemberOf(dir);
  });
}

export async function startAgent(opts: { name: string; host: string; token: string; env?: NodeJS.ProcessEnv; args?: readonly string[] }): Promise<TestAgent> {
  hook();
  const dir = mkdtempSync(join(tmpdir(), `kvctl-agent-${opts.name}-`));
  reapDir(dir);
  members.add(dir);
  const port = await freePort(opts.host);
  let output = '';
  const spawnAgent = async (env?: NodeJS.ProcessEnv): Promise<ChildProcess> => {
    const from = output.length;
    const child = spawn(
      process.execPath,
      [join(root, 'bin/run.js'), 'agent', '--name', opts.name, '--listen', `${opts.host}:${port}`, '--data-dir', dir, ...(opts.args ?? [])],
      { cwd: root, env: { ...process.env, KVCTL_AGENT_TOKEN: opts.token, ...opts.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    reapProcess(child);
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    await waitFor(() => output.slice(from).includes('listening on') || child.exitCode !== null, { timeoutMs: 15_000, what: `agent ${opts.name} to listen` });
    if (child.exitCode !== null) throw new Error(`agent ${opts.name} exited ${child.exitCode}:\n${output}`);
    return child;
  };
  const agent: TestAgent = {
    name: opts.name,
    host: opts.host,
    port,
    address: `${opts.host}:${port}`,
    dir,
    process: await spawnAgent(),
    log: () => output,
    memberPid: () => {
      try {
        return Number(readFileSync(join(dir, 'node.pid'), 'utf8').trim());
      } catch {
        return 0;
      }
    },
    restart: async (env) => {
      agent.process = await spawnAgent(env);
    },
    stop: async () => {
      agent.process.kill('SIGTERM');
      if (!(await waitExit(agent.process, 10_000))) agent.process.kill('SIGKILL');
      releaseProcess(agent.process);
    },
    kill9: async () => {
      agent.process.kill('SIGKILL');
      await waitExit(agent.process, 5000);
      releaseProcess(agent.process);
    },
    destroy: async () => {
      agent.process.kill('SIGKILL');
      await waitExit(agent.process, 5000);
      killMemberOf(dir);
      members.delete(dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return agent;
}
