/**
 * Operations on a saved cluster context through its agents: its status table, and `cluster down`.
 */
import { readFile, rm } from 'node:fs/promises';

import { EtcdClient } from '../client/index.js';
import type { AgentStatus } from '../proto/gen/kvctl/agent/v1/agent.js';
import { AgentConnection, parseAgentAddress } from './client.js';
import { type ClusterContext, contextPkiDir, removeContext } from './context.js';
import { adminTls, clusterPkiFiles } from './fleet.js';
import { AgentUnavailableError } from './errors.js';
import { startLocalAgents, stopLocalAgents, stopOrphanMember } from './local.js';
import { waitHealthy } from './bootstrap.js';
import { newToken } from './trust.js';

/** Mutual-TLS connections to every agent of the context. */
export async function contextAgents(ctx: ClusterContext): Promise<Map<string, AgentConnection>> {
  const tls = await adminTls(clusterPkiFiles(contextPkiDir(ctx.name)));
  return new Map(ctx.agents.map((a) => [a.member, AgentConnection.enrolled(a.address, tls)]));
}

export interface MemberStatusRow {
  readonly member: string;
  readonly agent: string;
  /** The agent's answer, or why there was none. */
  readonly agentState: string;
  readonly node: string;
  readonly pid: number;
  readonly runtime: string;
  readonly restarts: number;
  readonly health: string;
  readonly endpoint: string;
  readonly isLeader: boolean;
  readonly isLearner: boolean;
  readonly raftTerm: string;
  readonly raftIndex: string;
  readonly dbSize: string;
  readonly version: string;
  readonly errors: readonly string[];
}

export async function clientOf(ctx: ClusterContext): Promise<EtcdClient> {
  const tls = ctx.tls !== undefined ? { ca: await readFile(ctx.tls.ca), cert: await readFile(ctx.tls.cert), key: await readFile(ctx.tls.key) } : undefined;
  return EtcdClient.create({ endpoints: ctx.endpoints.join(','), dialTimeoutMs: 2000, commandTimeoutMs: 3000, ...(tls !== undefined ? { tls } : {}) });
}

/** One row per agent of the context: what its agent says and what its member says (v3 Status). */
export async function clusterStatus(ctx: ClusterContext): Promise<MemberStatusRow[]> {
  const agents = await contextAgents(ctx);
  const client = await clientOf(ctx);
  try {
    return await Promise.all(
      ctx.agents.map(async (a): Promise<MemberStatusRow> => {
        let s: AgentStatus | undefined;
        let agentState = 'ok';
        try {
          s = await agents.get(a.member)?.status(3000);
        } catch (err) {
          agentState = (err as Error).message;
        }
        const endpoint = s?.clientUrls[0] ?? a.clientUrl;
        const row = {
          member: a.member,
          agent: a.address,
          agentState,
          node: s?.nodeState ?? 'unknown',
          pid: s?.pid ?? 0,
          runtime: s?.runtime ?? ctx.runtime,
          restarts: s?.restarts ?? 0,
          health: s?.health ?? '',
          endpoint,
          isLeader: false,
          isLearner: false,
          raftTerm: '',
          raftIndex: '',
          dbSize: '',
          version: '',
          errors: [] as string[],
        };
        if (endpoint === '') return row;
        try {
          const st = await client.status(endpoint);
          return {
            ...row,
            isLeader: st.header !== undefined && st.leader === st.header.memberId,
            isLearner: st.isLearner,
            raftTerm: st.raftTerm.toString(),
            raftIndex: st.raftIndex.toString(),
            dbSize: st.dbSize.toString(),
            version: st.version,
            errors: st.errors,
          };
        } catch (err) {
          return { ...row, errors: [(err as Error).message] };
        }
      }),
    );
  } finally {
    client.close();
    for (const c of agents.values()) c.close();
  }
}

export interface DownResult {
  readonly stopped: readonly string[];
  readonly failed: readonly { member: string; error: string }[];
  readonly agentsStopped: readonly string[];
  readonly purged: boolean;
}

/**
 * Stops every member of the context (with purge: deletes its data and configuration too); for a `--local`
 * context also stops the local agents, and with purge deletes their directory and the context.
 */
export async function clusterDown(ctx: ClusterContext, purge: boolean, progress: (line: string) => void): Promise<DownResult> {
  const agents = await contextAgents(ctx);
  const stopped: string[] = [];
  const failed: { member: string; error: string }[] = [];
  try {
    await Promise.all(
      [...agents.entries()].map(async ([member, conn]) => {
        try {
          // Purging deletes the context and its CA: the agents of hosts kept by the operator leave the cluster
          // too, so that a later bootstrap can enroll them with their token (local agents go away anyway).
          if (purge) await conn.reset(member, ctx.localDir === undefined);
          else await conn.stop();
          stopped.push(member);
          progress(`member ${member} ${purge ? 'stopped and deleted' : 'stopped'}`);
        } catch (err) {
          // A local agent that is gone may have left its member running: stop that process directly.
          if (ctx.localDir !== undefined && err instanceof AgentUnavailableError) {
            const ran = await stopOrphanMember(ctx.localDir, member, ctx.runtime);
            stopped.push(member);
            progress(`agent of ${member} is not running; ${ran ? 'its member was stopped directly' : 'its member was not running either'}`);
            return;
          }
          failed.push({ member, error: (err as Error).message });
          progress(`member ${member}: ${(err as Error).message}`);
        }
      }),
    );
  } finally {
    for (const c of agents.values()) c.close();
  }
  let agentsStopped: string[] = [];
  if (ctx.localDir !== undefined) {
    agentsStopped = await stopLocalAgents(ctx.localDir);
    if (agentsStopped.length > 0) progress(`local agents stopped: ${agentsStopped.join(', ')}`);
    if (purge && failed.length === 0) {
      await rm(ctx.localDir, { recursive: true, force: true });
      await removeContext(ctx.name);
      progress(`deleted ${ctx.localDir} and context ${ctx.name}`);
    }
  } else if (purge && failed.length === 0) {
    await removeContext(ctx.name);
    progress(`context ${ctx.name} deleted`);
  }
  return { stopped: stopped.sort(), failed, agentsStopped, purged: purge && failed.length === 0 };
}

/**
 * `kvctl cluster up`: starts what `cluster down` stopped, as the context knows the cluster now (members added
 * or removed since the bootstrap included): the local agents of a `--local` cluster, then every member, and
 * waits until all are healthy.
 */
export async function clusterUp(ctx: ClusterContext, progress: (line: string) => void, timeoutMs: number): Promise<AgentStatus[]> {
  if (ctx.localDir !== undefined) {
    const plans = ctx.agents.map((a) => {
      const { host, port } = parseAgentAddress(a.address);
      return { name: a.member, host, clientPort: 0, peerPort: 0, agentPort: port };
    });
    await startLocalAgents(plans, ctx.localDir, newToken(), progress);
  }
  const agents = await contextAgents(ctx);
  try {
    await Promise.all([...agents.values()].map(async (c) => await c.start()));
    progress(`${agents.size} members started; waiting until all are healthy`);
    return await waitHealthy(agents, timeoutMs, progress);
  } finally {
    for (const c of agents.values()) c.close();
  }
}
