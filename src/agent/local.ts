/**
 * `--local`: agents on this host, one per loopback address, started by the CLI as daemons (detached: they
 * outlive the command) and stopped by `kvctl cluster down`. Each lives in `<local dir>/<member>/` with its
 * token file, pid file and log (`agent.log`).
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { ensureDir } from '../pki/index.js';
import { parseAgentAddress } from './client.js';
import type { ClusterContext } from './context.js';
import { AgentUnavailableError, PlanError } from './errors.js';
import { DockerLauncher, defaultDockerSocket, probeDocker } from './docker.js';
import { kvctlCommand } from './install.js';
import { ProcessLauncher, memberIdentity, stopAdopted } from './launcher.js';
import { newToken } from './trust.js';
import type { MemberPlan } from './plan.js';
import { agentAddress } from './plan.js';
import { memberLayout } from './spec.js';
import { tokenFile, writeTokenFile } from './state.js';

function launcherFor(dir: string, member: MemberPlan | undefined): ProcessLauncher {
  const [file, ...args] = kvctlCommand('agent');
  const extra = member === undefined ? [] : ['--name', member.name, '--listen', agentAddress(member), '--data-dir', dir, '--token-file', tokenFile(dir)];
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
    await writeTokenFile(tokenFile(dir), token);
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
      if (await stopAdopted(launcherFor(join(localDir, name), undefined), 10_000)) stopped.push(name);
    }),
  );
  return stopped.sort();
}

/**
 * For a local agent that is not running: stops the member it left running, found as the agent would adopt it
 * (a process by its pid file and identity; for the docker runtime, its container by name and label). Returns
 * whether one ran.
 */
export async function stopOrphanMember(localDir: string, member: string, runtime: string): Promise<boolean> {
  const agentDir = join(localDir, member);
  const layout = memberLayout(agentDir);
  if (runtime === 'docker') {
    const probe = await probeDocker(defaultDockerSocket, { holdsProcess: true });
    if (!('docker' in probe)) throw new AgentUnavailableError(`the container of member ${member} cannot be stopped: no Docker engine answers at ${defaultDockerSocket} (${probe.error})`);
    return await stopAdopted(new DockerLauncher({ docker: probe.docker, agentDir, memberName: member, image: '', layout }), 20_000);
  }
  return await stopAdopted(new ProcessLauncher({ file: '', args: [], identity: memberIdentity(agentDir), logFile: layout.logFile, pidFile: layout.pidFile }), 20_000);
}

/**
 * `member add --local`: a new local agent for `member` on the next free loopback address of a `--local`
 * context, with the same ports as the others. Returns its address and the token it was started with.
 */
export async function startNextLocalAgent(ctx: ClusterContext, member: string, progress: (line: string) => void): Promise<{ address: string; token: string }> {
  if (ctx.localDir === undefined) throw new PlanError(`context ${ctx.name} was not made with --local: give the new member's agent with --host`);
  const used = new Set(ctx.agents.map((a) => parseAgentAddress(a.address).host));
  const first = ctx.agents[0];
  if (first === undefined) throw new PlanError(`context ${ctx.name} has no agents`);
  const { port } = parseAgentAddress(first.address);
  let host: string | undefined;
  for (let i = 1; i < 255 && host === undefined; i++) if (!used.has(`127.0.0.${i}`)) host = `127.0.0.${i}`;
  if (host === undefined) throw new PlanError('no free loopback address left');
  const token = newToken();
  const plan: MemberPlan = { name: member, host, clientPort: 0, peerPort: 0, agentPort: port };
  await startLocalAgents([plan], ctx.localDir, token, progress);
  return { address: agentAddress(plan), token };
}

/** After a member left a `--local` cluster: stops its local agent and deletes its directory. */
export async function removeLocalAgent(localDir: string, member: string): Promise<void> {
  const dir = join(localDir, member);
  await stopAdopted(launcherFor(dir, undefined), 10_000);
  await rm(dir, { recursive: true, force: true });
}
