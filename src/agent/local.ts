/**
 * `--local`: agents on this host, one per loopback address, started by the CLI as daemons (detached: they
 * outlive the command) and stopped by `kvctl cluster down`. Each lives in `<local dir>/<member>/` with its
 * token file, pid file and log (`agent.log`).
 */
import { readdir, readFile } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { ensureDir, replaceFile } from '../pki/index.js';
import { AgentUnavailableError } from './errors.js';
import { kvctlCommand } from './install.js';
import { ProcessLauncher, memberIdentity } from './launcher.js';
import type { MemberPlan } from './plan.js';
import { agentAddress } from './plan.js';
import { memberLayout } from './spec.js';

function launcherFor(dir: string, member: MemberPlan | undefined): ProcessLauncher {
  const [file, ...args] = kvctlCommand('agent');
  const extra = member === undefined ? [] : ['--name', member.name, '--listen', agentAddress(member), '--data-dir', dir, '--token-file', join(dir, 'bootstrap-token')];
  return new ProcessLauncher({
    file: file ?? process.execPath,
    args: [...args, ...extra],
    identity: `kvctl agent ${dir}`,
    logFile: join(dir, 'agent.log'),
    pidFile: join(dir, 'agent.pid'),
    unref: true,
  });
}

async function logTail(file: string, lines = 15): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/**
 * Starts (or finds running) the agent of each member under `localDir`, and waits until each answers with
 * `token` (their first contact needs it; enrolled ones ignore it), until each listens.
 */
export async function startLocalAgents(members: readonly MemberPlan[], localDir: string, token: string, progress: (line: string) => void, timeoutMs = 30_000): Promise<void> {
  for (const m of members) {
    const dir = join(localDir, m.name);
    await ensureDir(dir);
    await replaceFile(join(dir, 'bootstrap-token'), `${token}\n`, 0o600);
    const launcher = launcherFor(dir, m);
    const running = await launcher.adopt();
    if (running !== undefined) {
      progress(`agent ${m.name} already runs (pid ${running.pid}) on ${agentAddress(m)}`);
      continue;
    }
    const launched = await launcher.launch(new Map());
    progress(`agent ${m.name} started (pid ${launched.pid}) on ${agentAddress(m)}, log ${join(dir, 'agent.log')}`);
  }
  const deadline = Date.now() + timeoutMs;
  for (const m of members) {
    for (;;) {
      const refused = await connectRefused(m.host, m.agentPort);
      if (refused === undefined) break;
      if (Date.now() > deadline) {
        const log = await logTail(join(localDir, m.name, 'agent.log'));
        throw new AgentUnavailableError(`agent ${m.name} does not listen on ${agentAddress(m)} after ${timeoutMs / 1000} s: ${refused}${log !== '' ? `\nits log ends with:\n${log}` : ''}`);
      }
      await sleep(200);
    }
  }
}

/** Why a TCP connection to host:port fails, or undefined when it succeeds (the agent listens). */
async function connectRefused(host: string, port: number): Promise<string | undefined> {
  return await new Promise((resolve) => {
    const socket = netConnect({ host, port });
    socket.setTimeout(1000, () => socket.destroy(new Error('timed out')));
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (err) => resolve(err.message));
  });
}

/** Stops every local agent under `localDir` (SIGTERM; SIGKILL after 10 s). Returns the names stopped. */
export async function stopLocalAgents(localDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = (await readdir(localDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
  const stopped: string[] = [];
  await Promise.all(
    names.map(async (name) => {
      const launcher = launcherFor(join(localDir, name), undefined);
      const running = await launcher.adopt();
      if (running === undefined) return;
      running.signal('SIGTERM');
      const timer = setTimeout(() => running.signal('SIGKILL'), 10_000);
      await running.ended;
      clearTimeout(timer);
      await launcher.forget();
      stopped.push(name);
    }),
  );
  return stopped.sort();
}

/**
 * For a local agent that is not running: stops the member it left running (found by its pid file and
 * identity, as the agent would adopt it). Returns whether one ran.
 */
export async function stopOrphanMember(localDir: string, member: string): Promise<boolean> {
  const agentDir = join(localDir, member);
  const layout = memberLayout(agentDir);
  const launcher = new ProcessLauncher({ file: '', args: [], identity: memberIdentity(agentDir), logFile: layout.logFile, pidFile: layout.pidFile });
  const running = await launcher.adopt();
  if (running === undefined) return false;
  running.signal('SIGTERM');
  const timer = setTimeout(() => running.signal('SIGKILL'), 20_000);
  await running.ended;
  clearTimeout(timer);
  await launcher.forget();
  return true;
}
