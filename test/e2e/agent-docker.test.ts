// End-to-end: the agent's docker runtime. Three real `kvctl agent` processes on 127.0.0.1, .2, .3 and
// `kvctl cluster bootstrap --static --runtime docker --image <img>`: each agent runs its member as a container
// (host networking) of an image made here with `docker import` (never pulled). Checked with the docker CLI and the
// real etcdctl: the cluster is healthy, `kvctl member list` works through the saved context, a container killed
// with `docker kill` is started again by its agent, a restarted agent adopts the container that kept running, a
// restart through the agent's API replaces the container, and `cluster down --purge` removes the containers. Then the same with the real etcd (Debian's /usr/bin/etcd) in the
// image; `--local 3 --runtime docker` (agents started by the CLI, containers removed by `down --purge`); and the
// refusals: no engine (the runtime is not offered until one answers, then the member is tried again), an image
// that is not on the host (never pulled). Skipped, with the reason, where no Docker engine answers (but for the no-engine refusal). Built CLI:
// `npm run build` first.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { AgentConnection } from '../../src/agent/index.js';
import { containersLabelled, docker, dockerUnavailable, importImage, removeImageAndContainers, removeImageAndContainersSync } from '../support/docker.js';
import { etcdctl } from '../support/etcdctl.js';
import { freePort } from '../support/ports.js';
import { reapCleanup, reapDir, reapProcess, releaseCleanup, releaseProcess } from '../support/reaper.js';
import { waitExit, waitFor } from '../support/wait.js';
import { kvctl, root } from './kvctl.js';

const token = 'docker-test-token-0123456789abcdef';
const suffix = `${process.pid}-${Date.now().toString(36)}`;
const kvctlImage = `kvctl-test/kvctl:${suffix}`;
const etcdImage = `kvctl-test/etcd:${suffix}`;

/** The packages kvctl needs at run time (no dev tools), as paths relative to the repo. */
function productionPackages(): string[] {
  const out = execFileSync('npm', ['ls', '--omit=dev', '--parseable', '--all'], { cwd: root, encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'ignore'] });
  const prefix = root.endsWith('/') ? root : `${root}/`;
  return out
    .split('\n')
    .filter((p) => p.startsWith(prefix))
    .map((p) => p.slice(prefix.length))
    .filter((p) => /^node_modules\/(@[^/]+\/)?[^/]+$/.test(p));
}

/** The repo's built kvctl at /opt/kvctl, and the host's node: the image's command is `node run.js node`. */
async function buildKvctlImage(): Promise<void> {
  const files: Record<string, string> = {};
  for (const p of ['dist', 'bin', 'templates', 'package.json', ...productionPackages()]) files[`opt/kvctl/${p}`] = join(root, p);
  await importImage(kvctlImage, { binaries: [process.execPath], files, cmd: [process.execPath, '/opt/kvctl/bin/run.js', 'node'] });
}

/** The engine's socket, as the docker CLI finds it (DOCKER_HOST=unix://..., else the default). */
function engineSocket(): string {
  const host = process.env.DOCKER_HOST ?? '';
  return host.startsWith('unix://') ? host.slice('unix://'.length) : '/var/run/docker.sock';
}

type AgentProc = { name: string; dir: string; host: string; port: number; child: ChildProcess; log: string[] };

function startAgent(name: string, host: string, port: number, dir: string, extraArgs: readonly string[] = []): AgentProc {
  const child = spawn(process.execPath, [join(root, 'bin/run.js'), 'agent', '--name', name, '--listen', `${host}:${port}`, '--data-dir', dir, '--token', token, ...extraArgs], {
    cwd: root,
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  reapProcess(child);
  const agent: AgentProc = { name, dir, host, port, child, log: [] };
  child.stderr?.setEncoding('utf8').on('data', (d: string) => agent.log.push(d));
  return agent;
}

async function stopAgent(agent: AgentProc): Promise<boolean> {
  agent.child.kill('SIGTERM');
  const exited = await waitExit(agent.child, 10_000);
  if (!exited) agent.child.kill('SIGKILL');
  releaseProcess(agent.child);
  return exited;
}

type Member = { name: string; host: string; client: number; peer: number; agentPort: number };

async function planMembers(hosts: readonly string[] = ['127.0.0.1', '127.0.0.2', '127.0.0.3']): Promise<Member[]> {
  const members: Member[] = [];
  for (const [i, host] of hosts.entries()) {
    members.push({ name: `m${i + 1}`, host, client: await freePort(host), peer: await freePort(host), agentPort: await freePort(host) });
  }
  return members;
}

/** What the saved context (`<KVCTL_HOME>/contexts/<name>/context.json`) says about the cluster. */
type Bootstrapped = { context: { endpoints: string[]; tls?: { ca: string; cert: string; key: string } } };

/**
 * A 3-member cluster of `image` through three fresh agents under `work` (also added to `started`, which the
 * suite stops at the end whatever happens): its agents, members and context.
 */
async function bootstrap(work: string, image: string, home: string, started: AgentProc[], hosts?: readonly string[]): Promise<{ agents: AgentProc[]; members: Member[]; result: Bootstrapped }> {
  const members = await planMembers(hosts);
  const agents = members.map((m) => startAgent(m.name, m.host, m.agentPort, join(work, 'agents', m.name)));
  started.push(...agents);
  await waitFor(() => agents.every((a) => a.log.join('').includes('listening on')), { timeoutMs: 30_000, intervalMs: 100, what: 'three agents listening' });
  for (const a of agents) assert.match(a.log.join(''), /docker runtime available: Docker engine/, `agent ${a.name} offers the docker runtime`);
  const r = await kvctl(
    ['cluster', 'bootstrap', '--static', '--name', 'dock', ...members.flatMap((m) => ['--member', `${m.name}=${m.host}:${m.client}:${m.peer}:${m.agentPort}`]),
      '--runtime', 'docker', '--image', image, '--token', token, '--timeout', '90'],
    { env: { KVCTL_HOME: home }, timeoutMs: 150_000 },
  );
  assert.equal(r.code, 0, `bootstrap failed:\n${r.stderr}\n${r.stdout}\nagent logs:\n${agents.map((a) => a.log.join('')).join('\n')}`);
  assert.match(r.stdout, /Cluster dock is healthy/);
  const context = JSON.parse(readFileSync(join(home, 'contexts', 'dock', 'context.json'), 'utf8')) as Bootstrapped['context'];
  return { agents, members, result: { context } };
}

function tlsArgs(result: Bootstrapped): string[] {
  const tls = result.context.tls;
  return tls === undefined ? [] : ['--cacert', tls.ca, '--cert', tls.cert, '--key', tls.key];
}

/** The one container of the agent in `dir` (by the label the agent puts on it). */
async function containerOf(agent: AgentProc): Promise<{ id: string; name: string; state: string } | undefined> {
  const found = await containersLabelled(`kvctl.agent-dir=${agent.dir}`);
  assert.ok(found.length <= 1, `one container per agent, found ${found.length}`);
  return found[0];
}

async function healthy(endpoint: string, result: Bootstrapped): Promise<boolean> {
  const r = await etcdctl(endpoint, [...tlsArgs(result), 'endpoint', 'health']);
  // etcdctl 3.4 prints the health lines on stderr.
  return r.code === 0 && r.stderr.includes('is healthy');
}

async function downAndCheck(home: string, agents: AgentProc[]): Promise<void> {
  const down = await kvctl(['cluster', 'down', '--purge'], { env: { KVCTL_HOME: home }, timeoutMs: 90_000 });
  assert.equal(down.code, 0, `cluster down --purge: ${down.stderr}`);
  // Reset stops each member, then the agent removes its container.
  for (const a of agents) await waitFor(async () => (await containerOf(a)) === undefined, { timeoutMs: 20_000, intervalMs: 200, what: `container of ${a.name} removed` });
}

describe('agents with the docker runtime', { timeout: 420_000 }, () => {
  let unavailable: string | undefined;
  const agents: AgentProc[] = [];
  const work = mkdtempSync(join(tmpdir(), 'kvctl-docker-'));
  reapDir(work);
  const cleanupSync = () => {
    for (const a of agents) a.child.kill('SIGKILL');
    removeImageAndContainersSync(kvctlImage);
    removeImageAndContainersSync(etcdImage);
  };

  before(async () => {
    unavailable = await dockerUnavailable();
    if (unavailable !== undefined) return;
    reapCleanup(cleanupSync);
    await buildKvctlImage();
    await importImage(etcdImage, { binaries: ['/usr/bin/etcd'], cmd: ['/usr/bin/etcd'] });
  });

  after(async () => {
    for (const a of agents) if (a.child.exitCode === null && a.child.signalCode === null) await stopAgent(a);
    if (unavailable === undefined) {
      const problems = [...(await removeImageAndContainers(kvctlImage)), ...(await removeImageAndContainers(etcdImage))];
      releaseCleanup(cleanupSync);
      assert.deepEqual(problems, [], 'every container and image the test made is removed');
    }
    rmSync(work, { recursive: true, force: true });
  });

  it('runs kvctl nodes as containers: bootstrap, member list, a killed container restarted, an agent restarted adopts, a restart replaces', async (t) => {
    if (unavailable !== undefined) return t.skip(unavailable);
    const home = join(work, 'home-kvctl');
    const { agents: started, members, result } = await bootstrap(join(work, 'kvctl'), kvctlImage, home, agents);
    const env = { KVCTL_HOME: home };

    // Through the saved context, and with the real etcdctl.
    const list = await kvctl(['member', 'list', '-w', 'json'], { env });
    assert.equal(list.code, 0, list.stderr);
    const names = (JSON.parse(list.stdout) as { members: { name: string }[] }).members.map((m) => m.name).sort();
    assert.deepEqual(names, ['m1', 'm2', 'm3']);
    const endpoints = result.context.endpoints.join(',');
    const health = await etcdctl(endpoints, [...tlsArgs(result), 'endpoint', 'health']);
    assert.equal(health.code, 0, health.stderr);
    assert.equal(health.stderr.match(/is healthy/g)?.length, 3, health.stderr);

    // One container per agent, named after the member, from our image, with host networking and docker-init.
    const containers = await Promise.all(started.map(containerOf));
    for (const [i, c] of containers.entries()) {
      assert.ok(c !== undefined && c.state === 'running', `m${i + 1}'s container runs`);
      assert.match(c.name, new RegExp(`^kvctl-m${i + 1}-[0-9a-f]{8}$`));
      const inspect = await docker(['inspect', '--format', '{{.Config.Image}} {{.HostConfig.NetworkMode}} {{.HostConfig.Init}}', c.id]);
      assert.equal(inspect.stdout.trim(), `${kvctlImage} host true`);
    }
    // The node's own log lines reach the agent's log file.
    const m2 = started[1] as AgentProc;
    const m2Log = join(m2.dir, 'logs', 'node.log');
    await waitFor(() => existsSync(m2Log) && readFileSync(m2Log, 'utf8').trim() !== '', { timeoutMs: 10_000, what: "m2's node log in the agent's log file" });

    // docker kill: the agent sees the container end and starts a new one.
    const before = containers[1];
    assert.ok(before !== undefined);
    const killed = await docker(['kill', before.id]);
    assert.equal(killed.code, 0, killed.stderr);
    const replaced = await waitFor(
      async () => {
        const now = await containerOf(m2);
        return now !== undefined && now.id !== before.id && now.state === 'running' ? now : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'a new container for m2' },
    );
    assert.equal(replaced.name, before.name);
    const m2Endpoint = `http${result.context.tls !== undefined ? 's' : ''}://${members[1]?.host}:${members[1]?.client}`;
    await waitFor(() => healthy(m2Endpoint, result), { timeoutMs: 30_000, intervalMs: 500, what: 'm2 healthy again' });
    assert.match(m2.log.join(''), /ended on its own: exit code 137 \(SIGKILL\)/);

    // An agent stopped leaves its member running; the next one adopts that same container.
    const m1 = started[0] as AgentProc;
    const m1Container = containers[0];
    assert.ok(m1Container !== undefined);
    assert.ok(await stopAgent(m1), 'the agent exits on SIGTERM while its container runs');
    assert.equal((await containerOf(m1))?.state, 'running', "m1's container outlives its agent");
    const put = await etcdctl(endpoints, [...tlsArgs(result), 'put', 'while-agent-down', 'yes']);
    assert.equal(put.code, 0, put.stderr);
    const m1Again = startAgent('m1', m1.host, m1.port, m1.dir);
    agents.push(m1Again);
    await waitFor(() => m1Again.log.join('').includes('adopted the running member'), { timeoutMs: 20_000, intervalMs: 100, what: 'the new agent adopts m1' });
    assert.equal((await containerOf(m1))?.id, m1Container.id, 'the same container, not a new one');
    const status = await kvctl(['cluster', 'status', '--json'], { env });
    assert.equal(status.code, 0, status.stderr);
    const rows = JSON.parse(status.stdout) as { member: string; node: string; runtime: string; health: string }[];
    assert.deepEqual(rows.map((r) => [r.member, r.node, r.runtime, r.health]).sort(), [['m1', 'running', 'docker', 'true'], ['m2', 'running', 'docker', 'true'], ['m3', 'running', 'docker', 'true']]);

    // A restart through the agent's API (stop, then start: the old container is removed, a new one made).
    const m3 = started[2] as AgentProc;
    const m3Before = await containerOf(m3);
    const pki = join(home, 'contexts', 'dock', 'pki');
    const conn = AgentConnection.enrolled(`${m3.host}:${m3.port}`, {
      ca: readFileSync(join(pki, 'ca.crt')),
      cert: readFileSync(join(pki, 'admin.crt')),
      key: readFileSync(join(pki, 'admin.key')),
    });
    try {
      const restarted = await conn.restart();
      assert.equal(restarted.nodeState, 'running');
    } finally {
      conn.close();
    }
    const m3After = await containerOf(m3);
    assert.ok(m3After !== undefined && m3After.state === 'running' && m3After.id !== m3Before?.id, 'a new container runs after the restart');
    const m3Endpoint = `http${result.context.tls !== undefined ? 's' : ''}://${members[2]?.host}:${members[2]?.client}`;
    await waitFor(() => healthy(m3Endpoint, result), { timeoutMs: 30_000, intervalMs: 500, what: 'm3 healthy after its restart' });

    await downAndCheck(home, [m1Again, m2, m3]);
  });

  it('--local with the docker runtime: local agents run containers; down --purge removes them', async (t) => {
    if (unavailable !== undefined) return t.skip(unavailable);
    const home = join(work, 'home-local');
    const env = { KVCTL_HOME: home, KVCTL_AGENT_TOKEN: '' };
    const ports = ['--client-port', String(await freePort()), '--peer-port', String(await freePort()), '--agent-port', String(await freePort())];
    try {
      const r = await kvctl(['cluster', 'bootstrap', '--static', '--local', '3', ...ports, '--runtime', 'docker', '--image', kvctlImage, '--timeout', '90'], { env, timeoutMs: 150_000 });
      assert.equal(r.code, 0, `bootstrap --local --runtime docker:\n${r.stderr}`);
      const dirs = ['m1', 'm2', 'm3'].map((m) => join(home, 'local', 'default', m));
      for (const dir of dirs) assert.equal((await containersLabelled(`kvctl.agent-dir=${dir}`)).length, 1, `one container for ${dir}`);
      assert.equal((await kvctl(['put', 'k', 'in-a-container'], { env })).code, 0);
      const got = await kvctl(['get', 'k', '--print-value-only'], { env });
      assert.equal(got.stdout.trim(), 'in-a-container');
      // Agents gone (kill -9) leave their containers running; down stops those containers itself. Every agent is
      // gone so that the CLI talks only to the engine: no agent call keeps it alive while it removes a container.
      for (const dir of dirs) process.kill(Number(readFileSync(join(dir, 'agent.pid'), 'utf8').trim()), 'SIGKILL');
      const down = await kvctl(['cluster', 'down', '--purge'], { env, timeoutMs: 90_000 });
      assert.equal(down.code, 0, down.stderr);
      for (const m of ['m1', 'm2', 'm3']) assert.match(down.stderr, new RegExp(`agent of ${m} is not running; its member was stopped directly`));
      for (const dir of dirs) {
        await waitFor(async () => (await containersLabelled(`kvctl.agent-dir=${dir}`)).length === 0, { timeoutMs: 20_000, intervalMs: 200, what: `container for ${dir} removed` });
      }
    } finally {
      await kvctl(['cluster', 'down', '--purge'], { env, timeoutMs: 90_000 });
    }
  });

  it('refuses the docker runtime where no engine answered at start, and an image that is not on the host', async () => {
    // An agent whose engine socket answers nothing does not offer the runtime; the spec is refused before any change.
    const [m] = await planMembers();
    assert.ok(m !== undefined);
    const noEngine = startAgent('m1', m.host, m.agentPort, join(work, 'refusals', 'no-engine'), ['--docker-socket', join(work, 'no-such.sock')]);
    agents.push(noEngine);
    await waitFor(() => noEngine.log.join('').includes('listening on'), { timeoutMs: 30_000, intervalMs: 100, what: 'the agent listening' });
    assert.match(noEngine.log.join(''), /docker runtime not available \(yet\): no Docker engine answers at \S+no-such\.sock \(connect ENOENT/);
    const member = `m1=${m.host}:${m.client}:${m.peer}:${m.agentPort}`;
    const refused = await kvctl(['cluster', 'bootstrap', '--static', '--name', 'nodock', '--member', member, '--runtime', 'docker', '--image', 'any:1', '--token', token, '--timeout', '20'], {
      env: { KVCTL_HOME: join(work, 'home-refusals') },
      timeoutMs: 60_000,
    });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /spec: runtime "docker" is not available on this agent \(it runs: kvctl, etcd\)/);
    await stopAgent(noEngine);
    if (unavailable !== undefined) return;

    // With an engine: an image that is not there is never pulled; Start fails and says how to load it.
    const withEngine = startAgent('m1', m.host, m.agentPort, join(work, 'refusals', 'engine'));
    agents.push(withEngine);
    await waitFor(() => withEngine.log.join('').includes('listening on'), { timeoutMs: 30_000, intervalMs: 100, what: 'the agent listening' });
    const missing = `kvctl-test/missing:${suffix}`;
    const failed = await kvctl(['cluster', 'bootstrap', '--static', '--name', 'noimage', '--member', member, '--runtime', 'docker', '--image', missing, '--token', token, '--timeout', '20'], {
      env: { KVCTL_HOME: join(work, 'home-refusals') },
      timeoutMs: 60_000,
    });
    assert.notEqual(failed.code, 0);
    assert.ok(failed.stderr.includes(`image ${missing} is not on this host, and kvctl never pulls images: put it there first (docker load -i <image.tar>, or docker import <rootfs.tar> ${missing})`), failed.stderr);
    assert.deepEqual(await containersLabelled(`kvctl.agent-dir=${withEngine.dir}`), [], 'no container was created');
    await stopAgent(withEngine);

    // The same agent restarted where no engine answers: it serves, and runs no process in the container's place.
    const restarted = startAgent('m1', m.host, m.agentPort, withEngine.dir, ['--docker-socket', join(work, 'no-such.sock')]);
    agents.push(restarted);
    await waitFor(() => restarted.log.join('').includes('could not resume member m1'), { timeoutMs: 30_000, intervalMs: 100, what: 'the agent giving up on its member' });
    assert.match(restarted.log.join(''), /could not resume member m1: agent m1: the docker runtime is not available \(it runs: kvctl, etcd\)/);
    assert.equal(existsSync(join(withEngine.dir, 'node.pid')), false, 'no member process was started');
    // The engine appears where the agent looks (its socket path now leads to the real engine): within one
    // retry the agent offers the runtime and tries its member again (the image is still missing: it says so).
    symlinkSync(engineSocket(), join(work, 'no-such.sock'));
    await waitFor(() => restarted.log.join('').includes('docker runtime available now'), { timeoutMs: 30_000, intervalMs: 200, what: 'the agent to notice the engine' });
    await waitFor(() => restarted.log.join('').includes(`image ${missing} is not on this host`), { timeoutMs: 15_000, intervalMs: 200, what: 'the agent to try its member again' });
    await stopAgent(restarted);
  });

  it("runs the real etcd as containers of an image holding Debian's etcd", async (t) => {
    if (unavailable !== undefined) return t.skip(unavailable);
    const home = join(work, 'home-etcd');
    // All three on 127.0.0.1 (own ports): etcd 3.4 checks a peer's client certificate against the address the
    // connection comes from, and etcd (unlike kvctl's node) does not bind its peer connections to its own
    // address, so the kernel sends them from 127.0.0.1 and .2/.3's certificates would be refused.
    const { agents: started, result } = await bootstrap(join(work, 'etcd'), etcdImage, home, agents, ['127.0.0.1', '127.0.0.1', '127.0.0.1']);
    const r = await etcdctl(result.context.endpoints.join(','), [...tlsArgs(result), 'endpoint', 'status', '-w', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const versions = (JSON.parse(r.stdout) as { Status: { version: string } }[]).map((s) => s.Status.version);
    assert.equal(versions.length, 3);
    for (const v of versions) assert.match(v, /^3\.4\./, 'a real etcd 3.4 answers');
    await downAndCheck(home, started);
  });
});
