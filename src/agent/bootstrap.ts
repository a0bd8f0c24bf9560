/**
 * `kvctl cluster bootstrap`: from a plan to a healthy cluster. In order, each step said as it happens:
 * 1. refuse a bad plan (checkPlan) and say what a risky one risks (planWarnings);
 * 2. the cluster's PKI in the context directory: CA, the operator's client certificate, each member's
 *    server and peer certificates (IP SANs of its host), each agent's certificate;
 * 3. (--local) start the local agents;
 * 4. enroll every agent (bootstrap token) and push its member's spec (env file, unit, certificates);
 * 5. start every member (together: each waits for a quorum of the others) and wait until all are healthy;
 * 6. save the context (endpoints + client certificate) and make it current.
 * Every step can run again: certificates that exist are reused, enrolled agents are reconnected, an equal spec
 * is accepted as is, a running member is left running.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { checkSrvPlan, inspectDiscoveryToken, lookupSrvCluster, resolverFor } from '../client/index.js';
import type { AgentStatus, NodeSpec } from '../proto/gen/kvctl/agent/v1/agent.js';
import type { AgentConnection } from './client.js';
import { type ClusterContext, contextPkiDir, kvctlHome, loadContext, saveContext } from './context.js';
import { PlanError, StepError } from './errors.js';
import { type ClusterPkiFiles, clusterPkiFiles, connectAgent, ensureClusterPki, memberTls } from './fleet.js';
import { startLocalAgents } from './local.js';
import { type ClusterPlan, type MemberPlan, agentAddress, checkPlan, clientUrl, initialCluster, memberCertificateHosts, memberSpec, peerUrl, planWarnings } from './plan.js';
import { renderTemplate } from './render.js';
import { envValues, memberLayout } from './spec.js';

export interface BootstrapOptions {
  readonly plan: ClusterPlan;
  /** The agents' bootstrap token (for agents not enrolled yet). */
  readonly token: string | undefined;
  /** Start local agents under this directory first (`--local`). */
  readonly localDir?: string | undefined;
  readonly progress: (line: string) => void;
  readonly timeoutMs: number;
}

export interface BootstrapResult {
  readonly context: ClusterContext;
  readonly contextFile: string;
  readonly members: readonly AgentStatus[];
  readonly warnings: readonly string[];
}

export function localClusterDir(clusterName: string): string {
  return join(kvctlHome(), 'local', clusterName);
}

/**
 * The plan as text, and each member's env file as its agent would render it (`--dry-run`). `token`: the initial
 * cluster token, from dryRunToken.
 */
export function renderPlan(plan: ClusterPlan, token: string): string {
  checkPlan(plan);
  const lines = [
    `cluster ${plan.clusterName}: ${plan.members.length} members, runtime ${plan.runtime}${plan.runtime === 'docker' ? ` (image ${plan.image})` : ''}, ${plan.tls ? 'TLS with a kvctl CA' : 'plain http'}, bootstrap ${describeMode(plan)}`,
    ...planWarnings(plan.members.length).map((w) => `warning: ${w}`),
    '',
  ];
  const placeholderTls = plan.tls ? { caPem: '(issued at bootstrap)', certPem: '(issued at bootstrap)', keyPem: '(issued at bootstrap)' } : undefined;
  for (const m of plan.members) {
    const tls = placeholderTls !== undefined ? { client: placeholderTls, peer: placeholderTls } : undefined;
    const spec = memberSpec(plan, m, { state: 'new', initialCluster: initialCluster(plan), token, tls });
    lines.push(`# member ${m.name}: agent ${agentAddress(m)}, client ${clientUrl(plan, m)}; <agent-dir>/member/etcd.env:`);
    lines.push(renderTemplate('etcd.env', envValues(spec, memberLayout('<agent-dir>'), m.name)), '');
  }
  return lines.join('\n');
}

function describeMode(plan: ClusterPlan): string {
  switch (plan.mode.kind) {
    case 'static':
      return `static (--initial-cluster ${initialCluster(plan)})`;
    case 'discovery':
      return `from discovery URL ${plan.mode.url}`;
    case 'dns-srv':
      return `from DNS SRV records of ${plan.mode.domain}`;
  }
}

/** `kvctl-<cluster>-<first 8 hex digits of the CA certificate's SHA-256>`: unique per cluster, stable across reruns. */
export async function clusterTokenFor(clusterName: string, pki: ClusterPkiFiles): Promise<string> {
  return `kvctl-${clusterName}-${createHash('sha256').update(await readFile(pki.ca)).digest('hex').slice(0, 8)}`;
}

/** The token a bootstrap would use: the real one when the cluster's CA exists (a rerun), else how it is made. */
export async function dryRunToken(clusterName: string): Promise<string> {
  try {
    return await clusterTokenFor(clusterName, clusterPkiFiles(contextPkiDir(clusterName)));
  } catch {
    return `kvctl-${clusterName}-<first 8 hex digits of the SHA-256 of the CA it creates>`;
  }
}

/**
 * The checks of a discovery or DNS SRV plan, against the service itself, before anything starts. Returns each
 * member's extra certificate names (with DNS SRV, peers dial the record's target name).
 */
export async function preflightMode(plan: ClusterPlan, progress: (line: string) => void): Promise<Map<string, string[]>> {
  const names = new Map<string, string[]>();
  const mode = plan.mode;
  if (mode.kind === 'discovery') {
    const state = await inspectDiscoveryToken(mode.url);
    if (state.size === undefined) throw new PlanError(`discovery URL ${mode.url} has no size (_config/size): make one with kvctl discovery new --size ${plan.members.length}`);
    if (state.size !== plan.members.length) {
      throw new PlanError(`discovery URL ${mode.url} expects ${state.size} members but the plan has ${plan.members.length}: make a new one with kvctl discovery new --size ${plan.members.length}`);
    }
    if (state.registered.length > 0) {
      throw new PlanError(`discovery URL ${mode.url} already has registrations (${state.registered.join(', ')}): a token bootstraps one cluster once; make a new one with kvctl discovery new`);
    }
    progress(`discovery URL ${mode.url}: size ${state.size}, no registrations yet`);
  } else if (mode.kind === 'dns-srv') {
    const found = await lookupSrvCluster(mode.domain, { serviceName: mode.serviceName, resolver: resolverFor(mode.dnsServer) });
    const check = checkSrvPlan(
      found.records.filter((r) => r.scheme === (plan.tls ? 'https' : 'http')),
      plan.members.map((m) => ({ name: m.name, peerUrl: peerUrl(plan, m) })),
    );
    const problems = check.members.filter((m) => m.problem !== undefined).map((m) => `${m.name} (${m.peerUrl}): ${m.problem as string}`);
    for (const r of check.unmatchedRecords) problems.push(`record ${r.name} -> ${r.target}:${r.port} matches no planned member`);
    if (!check.ok || problems.length > 0) {
      const service = `_etcd-server${plan.tls ? '-ssl' : ''}${mode.serviceName !== '' ? `-${mode.serviceName}` : ''}._tcp.${mode.domain}`;
      throw new PlanError(`the SRV records of ${mode.domain} do not fit the plan (${service}):\n  ${problems.join('\n  ') || found.errors.join('\n  ')}`);
    }
    for (const m of check.members) if (m.record !== undefined) names.set(m.name, [m.record.target.replace(/\.$/, '')]);
    progress(`SRV records of ${mode.domain}: ${check.members.length} members, each found by its peer URL`);
  }
  return names;
}

function hostsOf(m: MemberPlan, extra: ReadonlyMap<string, string[]> = new Map()): string[] {
  return [...memberCertificateHosts(m.host), ...(extra.get(m.name) ?? [])];
}

/** Polls the agents until every member reports healthy; says each change of state. */
export async function waitHealthy(conns: ReadonlyMap<string, AgentConnection>, timeoutMs: number, progress: (line: string) => void): Promise<AgentStatus[]> {
  const deadline = Date.now() + timeoutMs;
  const said = new Map<string, string>();
  for (;;) {
    const statuses = await Promise.all(
      [...conns.entries()].map(async ([name, conn]) => {
        try {
          return await conn.status(3000);
        } catch (err) {
          return { memberName: name, nodeState: 'unknown', health: (err as Error).message } as AgentStatus;
        }
      }),
    );
    for (const s of statuses) {
      const text = `${s.nodeState}${s.health !== '' ? `, health ${s.health}` : ''}${s.lastExit !== '' && s.lastExit !== undefined && s.nodeState !== 'running' ? `, last exit: ${s.lastExit}` : ''}`;
      if (said.get(s.memberName) !== text) {
        said.set(s.memberName, text);
        progress(`member ${s.memberName}: ${text}`);
      }
    }
    if (statuses.every((s) => s.health === 'true')) return statuses;
    if (Date.now() > deadline) {
      const sick = statuses.filter((s) => s.health !== 'true');
      const details = await Promise.all(sick.map(async (s) => `${s.memberName}: ${s.nodeState}, health ${s.health || 'not asked'}${await logTail(conns.get(s.memberName))}`));
      throw new StepError(`the cluster is not healthy after ${Math.round(timeoutMs / 1000)} s:\n${details.join('\n')}`, ['members started'], ['members healthy']);
    }
    await sleep(300);
  }
}

async function logTail(conn: AgentConnection | undefined): Promise<string> {
  if (conn === undefined) return '';
  const { chunks, stop } = conn.logs(8, false);
  let text = '';
  try {
    for await (const c of chunks) text += c.toString('utf8');
  } catch {
    return '';
  } finally {
    stop();
  }
  return text.trim() === '' ? '' : `\n  log: ${text.trimEnd().split('\n').join('\n  log: ')}`;
}

export async function bootstrapCluster(opts: BootstrapOptions): Promise<BootstrapResult> {
  const { plan, progress } = opts;
  checkPlan(plan);
  const existing = await loadContext(plan.clusterName).catch(() => undefined);
  if (existing !== undefined) {
    const had = existing.agents.map((a) => a.member).sort().join(', ');
    const wants = plan.members.map((m) => m.name).sort().join(', ');
    if (had !== wants) {
      throw new PlanError(
        `cluster ${plan.clusterName} exists already with members ${had} (its membership changed since it was bootstrapped): start it with kvctl cluster up, or bootstrap another with --name`,
      );
    }
  }
  const warnings = planWarnings(plan.members.length);
  for (const w of warnings) progress(`warning: ${w}`);
  const done: string[] = [];
  const conns = new Map<string, AgentConnection>();
  try {
    const srvNames = await preflightMode(plan, progress);
    const pki: ClusterPkiFiles = await ensureClusterPki(contextPkiDir(plan.clusterName), plan.clusterName);
    // The initial cluster token is derived from the CA, so a rerun renders the same spec for each member.
    const token = await clusterTokenFor(plan.clusterName, pki);
    const specs = new Map<string, NodeSpec>();
    for (const m of plan.members) {
      const tls = plan.tls ? await memberTls(pki.dir, m.name, hostsOf(m, srvNames)) : undefined;
      specs.set(m.name, memberSpec(plan, m, { state: 'new', initialCluster: initialCluster(plan), token, tls }));
    }
    done.push(`certificates in ${pki.dir}`);
    progress(`certificates ready in ${pki.dir}`);

    if (opts.localDir !== undefined) {
      if (opts.token === undefined) throw new StepError('local agents need a token', done, ['start local agents']);
      await startLocalAgents(plan.members, opts.localDir, opts.token, progress);
      done.push(`local agents under ${opts.localDir}`);
    }

    for (const m of plan.members) {
      conns.set(m.name, await connectAgent(agentAddress(m), { pki, clusterName: plan.clusterName, member: m.name, hosts: hostsOf(m), token: opts.token, progress }));
    }
    done.push('agents enrolled');
    await Promise.all(plan.members.map(async (m) => await conns.get(m.name)?.configure(specs.get(m.name) as NodeSpec)));
    progress(`configuration pushed to ${plan.members.length} agents`);
    done.push('configuration pushed');

    await Promise.all(plan.members.map(async (m) => await conns.get(m.name)?.start()));
    progress('members started; waiting until all are healthy');
    done.push('members started');
    const members = await waitHealthy(conns, opts.timeoutMs, progress);
    done.push('members healthy');

    const context: ClusterContext = {
      name: plan.clusterName,
      endpoints: plan.members.map((m) => clientUrl(plan, m)),
      tls: plan.tls ? { ca: pki.ca, cert: pki.cert, key: pki.key } : undefined,
      agents: plan.members.map((m) => ({ member: m.name, address: agentAddress(m), clientUrl: clientUrl(plan, m) })),
      runtime: plan.runtime,
      image: plan.image,
      settings: plan.settings,
      localDir: opts.localDir,
      createdAt: new Date().toISOString(),
    };
    const contextFile = await saveContext(context);
    return { context, contextFile, members, warnings };
  } catch (err) {
    if (err instanceof StepError || err instanceof PlanError) throw err;
    const left = ['members started', 'members healthy', 'context saved'].filter((s) => !done.includes(s));
    throw new StepError(`${(err as Error).message}`, done, left, { cause: err });
  } finally {
    for (const c of conns.values()) c.close();
  }
}
