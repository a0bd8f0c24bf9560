/**
 * Growing and shrinking a cluster through its agents, in the order etcd needs and with the checks an operator
 * would make by hand first.
 *
 * Add: refuse a plan that cannot work (name or peer URL taken, a learner already waiting, too few healthy
 * voters for the quorum after promotion), warn about an even size; then certificates, enroll the agent, add the
 * member as a learner, wipe any data an earlier member left on that host, push its spec with state
 * `existing`, start it, promote it once it is in sync (etcd refuses earlier), and record it in the context.
 * Remove: refuse when the remaining healthy voters would not make a quorum; then remove it from the cluster,
 * stop it and delete its data, configuration and certificates on its host, and record that in the context.
 * Each step is said as it happens; a failure says what was done and what is left.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { ClientError, ClusterApi, type EtcdClient, type Member } from '../client/index.js';
import type { AgentStatus } from '../proto/gen/kvctl/agent/v1/agent.js';
import { clusterTokenFor } from './bootstrap.js';
import { type AgentConnection, parseAgentAddress } from './client.js';
import { type ClusterContext, contextPkiDir, saveContext } from './context.js';
import { AgentUnavailableError, PlanError, StepError } from './errors.js';
import { clusterPkiFiles, connectAgent, memberTls } from './fleet.js';
import { removeLocalAgent } from './local.js';
import { clientOf, contextAgents } from './operate.js';
import { type ClusterPlan, type MemberPlan, clientUrl, memberCertificateHosts, memberSpec, peerUrl, planWarnings } from './plan.js';

const hex = (id: bigint) => id.toString(16);

/**
 * Runs a membership change, retrying while etcd answers "unhealthy cluster": its strict reconfiguration
 * check wants the leader connected to every voter for the last 5 s, so a member that just (re)started makes
 * the change fail for a few seconds. Other errors, and that one after `timeoutMs`, are thrown.
 */
export async function whenHealthy<T>(change: () => Promise<T>, progress: (line: string) => void, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let said = false;
  for (;;) {
    try {
      return await change();
    } catch (err) {
      if (!(err instanceof ClientError && /unhealthy cluster/.test(err.message)) || Date.now() > deadline) throw err;
      if (!said) progress('the cluster answers "unhealthy cluster" (a member connected less than 5 s ago): retrying');
      said = true;
      await sleep(1000);
    }
  }
}

export async function healthyVoters(client: EtcdClient, members: readonly Member[]): Promise<Member[]> {
  const voters = members.filter((m) => !m.isLearner && m.clientURLs.length > 0);
  const answers = await Promise.all(
    voters.map(async (m) => {
      try {
        await client.status(m.clientURLs[0] as string);
        return m;
      } catch {
        return undefined;
      }
    }),
  );
  return answers.filter((m): m is Member => m !== undefined);
}

export function quorum(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

export function portOf(url: string | undefined, fallback: number): number {
  if (url === undefined) return fallback;
  const p = new URL(url).port;
  return p === '' ? fallback : Number(p);
}

/**
 * The plan of one member joining the context's cluster (added, or moved): static, with the context's settings,
 * and the cluster's initial token.
 */
export async function joiningPlan(ctx: ClusterContext, member: MemberPlan): Promise<{ plan: ClusterPlan; token: string }> {
  return { plan: singleMemberPlan(ctx, member, ctx.runtime), token: await clusterTokenFor(ctx.name, clusterPkiFiles(contextPkiDir(ctx.name))) };
}

/** A static plan of `member` alone, with the context's TLS, image and settings, run by `runtime`. */
export function singleMemberPlan(ctx: ClusterContext, member: MemberPlan, runtime: string): ClusterPlan {
  return {
    clusterName: ctx.name,
    tls: ctx.tls !== undefined,
    runtime,
    image: ctx.image ?? '',
    mode: { kind: 'static' },
    members: [member],
    settings: ctx.settings ?? {},
  };
}

export interface AddMemberOptions {
  readonly ctx: ClusterContext;
  readonly name: string;
  readonly agentAddress: string;
  readonly clientPort?: number | undefined;
  readonly peerPort?: number | undefined;
  readonly token: string | undefined;
  readonly progress: (line: string) => void;
  readonly timeoutMs: number;
}

export interface AddMemberResult {
  readonly member: Member;
  readonly agent: AgentStatus;
  readonly warnings: readonly string[];
  readonly context: ClusterContext;
}

export async function addMemberThroughAgent(opts: AddMemberOptions): Promise<AddMemberResult> {
  const { ctx, name, progress } = opts;
  const done: string[] = [];
  const client = await clientOf(ctx);
  let conn: AgentConnection | undefined;
  try {
    const { members } = await client.memberList();
    const { host, port: agentPort, text: address } = parseAgentAddress(opts.agentAddress);
    const any = members.find((m) => m.clientURLs.length > 0);
    const planned: MemberPlan = {
      name,
      host,
      clientPort: opts.clientPort ?? portOf(any?.clientURLs[0], 2379),
      peerPort: opts.peerPort ?? portOf(any?.peerURLs[0], 2380),
      agentPort,
    };
    const pki = clusterPkiFiles(contextPkiDir(ctx.name));
    const { plan, token } = await joiningPlan(ctx, planned);
    const newPeerUrl = peerUrl(plan, planned);

    // Checks, before anything changes.
    const sameName = members.find((m) => m.name === name);
    const samePeer = members.find((m) => m.peerURLs.includes(newPeerUrl));
    if (sameName !== undefined && !(samePeer === sameName && sameName.isLearner)) {
      throw new PlanError(`the cluster already has a member named ${name} (${hex(sameName.ID)}): pick another name, or remove it first`);
    }
    if (samePeer !== undefined && samePeer.name !== '' && samePeer.name !== name) {
      throw new PlanError(`peer URL ${newPeerUrl} is already member ${samePeer.name}'s (${hex(samePeer.ID)})`);
    }
    const resuming = samePeer !== undefined && samePeer.isLearner ? samePeer : undefined;
    const otherLearner = members.find((m) => m.isLearner && m !== resuming);
    if (otherLearner !== undefined) {
      throw new PlanError(`member ${otherLearner.name || hex(otherLearner.ID)} is a learner still: promote it (kvctl member promote ${hex(otherLearner.ID)}) or remove it before adding another`);
    }
    const voters = members.filter((m) => !m.isLearner).length;
    const healthy = (await healthyVoters(client, members)).length;
    if (healthy + 1 < quorum(voters + 1)) {
      throw new PlanError(`only ${healthy} of ${voters} voting members answer: after adding ${name} the cluster would need ${quorum(voters + 1)} healthy voters; bring the others back first`);
    }
    const warnings = planWarnings(voters + 1);
    for (const w of warnings) progress(`warning: ${w}`);

    const tls = plan.tls ? await memberTls(pki.dir, name, memberCertificateHosts(host)) : undefined;
    if (tls !== undefined) done.push(`certificates for ${name} in ${pki.dir}`);
    conn = await connectAgent(address, { pki, clusterName: ctx.name, member: name, hosts: [host], token: opts.token, progress });
    done.push(`agent ${address} enrolled`);

    let added: Member;
    let allMembers: readonly Member[];
    if (resuming !== undefined) {
      added = resuming;
      allMembers = members;
      progress(`member ${name} (${hex(added.ID)}) is already a learner: resuming`);
    } else {
      const resp = await whenHealthy(async () => await new ClusterApi(client).memberAdd([newPeerUrl], { learner: true }), progress);
      if (resp.member === undefined) throw new Error('member add returned no member');
      added = resp.member;
      allMembers = resp.members;
      progress(`member ${name} added as learner ${hex(added.ID)} with peer URL ${newPeerUrl}`);
      // A new member must start from an empty data dir; anything on the host is from an earlier member.
      const status = await conn.status();
      if (status.memberName !== '') {
        await conn.reset(status.memberName);
        progress(`agent ${address}: data of earlier member ${status.memberName} deleted`);
      }
    }
    done.push(`member ${name} added as a learner`);
    const cluster = allMembers
      .map((m) => (m.ID === added.ID ? `${name}=${newPeerUrl}` : m.peerURLs.map((u) => `${m.name}=${u}`).join(',')))
      .filter((s) => !s.startsWith('='))
      .join(',');
    await conn.configure(memberSpec(plan, planned, { state: 'existing', initialCluster: cluster, token, tls }));
    await conn.start();
    done.push(`member ${name} started`);
    progress(`member ${name} started by its agent; waiting until it is in sync to promote it`);

    const deadline = Date.now() + opts.timeoutMs;
    for (;;) {
      try {
        await new ClusterApi(client).memberPromote(added.ID);
        break;
      } catch (err) {
        // etcd refuses until the learner has started and caught up with the leader's log.
        const notYet = err instanceof ClientError && /in sync with leader/.test(err.message);
        if (!notYet || Date.now() > deadline) throw err;
        await sleep(500);
      }
    }
    done.push(`member ${name} promoted`);
    progress(`member ${name} promoted to voter`);
    const context: ClusterContext = {
      ...ctx,
      endpoints: [...ctx.endpoints.filter((e) => e !== clientUrl(plan, planned)), clientUrl(plan, planned)],
      agents: [...ctx.agents.filter((a) => a.member !== name), { member: name, address, clientUrl: clientUrl(plan, planned) }],
    };
    await saveContext(context, false);
    return { member: { ...added, name, isLearner: false }, agent: await conn.status(), warnings, context };
  } catch (err) {
    if (err instanceof PlanError) throw err;
    const steps = [`member ${name} added as a learner`, `member ${name} started`, `member ${name} promoted`];
    const left = [...steps.filter((s) => !done.includes(s)), 'context updated'];
    throw new StepError(
      `${(err as Error).message}\n(rerun the same command to finish: it resumes the learner; or undo with kvctl member remove ${name})`,
      done,
      left,
      { cause: err },
    );
  } finally {
    conn?.close();
    client.close();
  }
}

export interface RemoveMemberResult {
  /** The member removed; undefined when it had left the cluster already and only its host was freed. */
  readonly removed: Member | undefined;
  readonly agentReset: boolean;
  readonly context: ClusterContext;
  readonly warnings: readonly string[];
}

/**
 * Frees the host of member `name` (out of the cluster already) through its agent: stops the member, deletes
 * its data, configuration and certificates, and for a `--local` context stops that agent too. Returns whether
 * the agent did it; an agent that cannot is reported, not thrown (the removal itself has happened).
 */
async function freeHost(ctx: ClusterContext, conn: AgentConnection | undefined, name: string, progress: (line: string) => void): Promise<boolean> {
  if (conn === undefined) {
    progress(`no agent of ${name} in context ${ctx.name}: stop it and delete its data dir on its host yourself`);
    return false;
  }
  try {
    await conn.reset(name);
    progress(`agent ${conn.address}: member ${name} stopped; its data, configuration and certificates deleted`);
    if (ctx.localDir !== undefined) {
      conn.close();
      await removeLocalAgent(ctx.localDir, name);
      progress(`local agent ${name} stopped and its directory deleted`);
    }
    return true;
  } catch (err) {
    const why = err instanceof AgentUnavailableError ? 'is unreachable' : `refused: ${(err as Error).message}`;
    progress(`agent ${conn.address} ${why}; the member is out of the cluster, but its process and data may remain on that host (once the agent answers, kvctl member remove ${name} again frees it)`);
    return false;
  }
}

/**
 * Removes member `nameOrId` (its name, or its ID in hex) and frees its host through its agent. A member that
 * left the cluster already but whose agent the context still lists (its agent was unreachable then) only has
 * its host freed.
 */
export async function removeMemberThroughAgent(ctx: ClusterContext, nameOrId: string, progress: (line: string) => void): Promise<RemoveMemberResult> {
  const client = await clientOf(ctx);
  const agents = await contextAgents(ctx);
  try {
    const { members } = await client.memberList();
    const target = members.find((m) => m.name === nameOrId || hex(m.ID) === nameOrId.toLowerCase());
    if (target === undefined) {
      if (!ctx.agents.some((a) => a.member === nameOrId)) throw new PlanError(`no member ${nameOrId} in cluster ${ctx.name} (kvctl member list shows them)`);
      progress(`member ${nameOrId} is not in the cluster any more; freeing its host`);
      const agentReset = await freeHost(ctx, agents.get(nameOrId), nameOrId, progress);
      const context: ClusterContext = { ...ctx, agents: agentReset ? ctx.agents.filter((a) => a.member !== nameOrId) : ctx.agents };
      await saveContext(context, false);
      return { removed: undefined, agentReset, context, warnings: [] };
    }
    const voters = members.filter((m) => !m.isLearner);
    if (!target.isLearner) {
      if (voters.length === 1) throw new PlanError(`${target.name} is the only voting member: removing it would end the cluster (kvctl cluster down --purge does that)`);
      const healthyOthers = (await healthyVoters(client, members)).filter((m) => m.ID !== target.ID).length;
      const need = quorum(voters.length - 1);
      if (healthyOthers < need) {
        throw new PlanError(`removing ${target.name} leaves ${healthyOthers} healthy voting members of ${voters.length - 1}, and quorum needs ${need}: bring the others back first`);
      }
    }
    const warnings = target.isLearner ? [] : planWarnings(voters.length - 1);
    for (const w of warnings) progress(`warning: ${w}`);
    // Asked of the other members: a removed member stops at once, and a request it was serving would end
    // with "server stopped" although the removal took effect.
    const others = ctx.endpoints.filter((e) => !target.clientURLs.includes(e));
    const via = others.length > 0 ? await clientOf({ ...ctx, endpoints: others }) : client;
    try {
      await whenHealthy(async () => await new ClusterApi(via).memberRemove(target.ID), progress);
    } finally {
      if (via !== client) via.close();
    }
    progress(`member ${target.name} (${hex(target.ID)}) removed from the cluster`);
    const agentReset = await freeHost(ctx, agents.get(target.name), target.name, progress);
    const gone = new Set(target.clientURLs);
    const context: ClusterContext = {
      ...ctx,
      endpoints: ctx.endpoints.filter((e) => !gone.has(e)),
      agents: agentReset ? ctx.agents.filter((a) => a.member !== target.name) : ctx.agents,
    };
    await saveContext(context, false);
    return { removed: target, agentReset, context, warnings };
  } finally {
    client.close();
    for (const c of agents.values()) c.close();
  }
}
