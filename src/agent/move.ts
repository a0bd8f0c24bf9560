/**
 * `kvctl member update <name>` through the agents: re-issues a member's certificates and, given another agent,
 * moves the member there with its identity, the way etcd documents migrating a member: stop it, copy its data
 * dir to the new host, update its peer URL, start it there. The member keeps its ID, its raft state and its
 * data, so the cluster never changes size (unlike a remove + add, which also works when the old host is gone).
 *
 * Refused before anything changes: a peer URL another member has, a host another member of the context runs
 * on, a voter whose stop would leave fewer healthy voters than the quorum, an old agent that does not answer
 * (its data cannot be copied). A failure before the peer URL changed starts the member again where it was;
 * after, the same command resumes (it sees the new peer URL and finishes on the new host).
 */
import { humanizeBytes } from '../base/go-format.js';
import { ClusterApi, type Member } from '../client/index.js';
import type { AgentStatus } from '../proto/gen/kvctl/agent/v1/agent.js';
import { waitHealthy } from './bootstrap.js';
import { type AgentConnection, parseAgentAddress } from './client.js';
import { type ClusterContext, contextPkiDir, saveContext } from './context.js';
import { AgentUnavailableError, PlanError, StepError } from './errors.js';
import { clusterPkiFiles, connectAgent, memberTls } from './fleet.js';
import { healthyVoters, joiningPlan, portOf, quorum, whenHealthy } from './membership.js';
import { clientOf, contextAgents } from './operate.js';
import { type MemberPlan, clientUrl, memberCertificateHosts, memberSpec, peerUrl } from './plan.js';

const hex = (id: bigint) => id.toString(16);

export interface UpdateMemberOptions {
  readonly ctx: ClusterContext;
  /** The member's name, or its ID in hex. */
  readonly member: string;
  /** The agent to move it to; undefined: it stays where it is (certificates re-issued, ports maybe changed). */
  readonly agentAddress?: string | undefined;
  readonly clientPort?: number | undefined;
  readonly peerPort?: number | undefined;
  /** The new agent's bootstrap token, if it is not enrolled yet. */
  readonly token?: string | undefined;
  readonly progress: (line: string) => void;
  readonly timeoutMs: number;
}

export interface UpdateMemberResult {
  readonly member: Member;
  readonly from: string;
  readonly to: string;
  readonly moved: boolean;
  readonly peerUrl: string;
  readonly clientUrl: string;
  readonly bytesCopied: number;
  readonly agent: AgentStatus;
  readonly context: ClusterContext;
}

export async function updateMemberThroughAgent(opts: UpdateMemberOptions): Promise<UpdateMemberResult> {
  const { ctx, progress } = opts;
  const done: string[] = [];
  const left: string[] = [];
  const client = await clientOf(ctx);
  const agents = await contextAgents(ctx);
  /** The new host's agent when moving (closed here; the context's agents are closed with `agents`). */
  let newAgent: AgentConnection | undefined;
  let rollback: (() => Promise<void>) | undefined;
  try {
    const { members } = await client.memberList();
    const member = members.find((m) => m.name === opts.member || hex(m.ID) === opts.member.toLowerCase());
    if (member === undefined) throw new PlanError(`no member ${opts.member} in cluster ${ctx.name} (kvctl member list shows them)`);
    const name = member.name;
    const entry = ctx.agents.find((a) => a.member === name);
    const source = agents.get(name);
    if (entry === undefined || source === undefined) throw new PlanError(`context ${ctx.name} knows no agent of member ${name}: kvctl member update works on members that agents run`);
    const from = parseAgentAddress(entry.address);
    const to = opts.agentAddress !== undefined ? parseAgentAddress(opts.agentAddress) : from;
    const moving = to.text !== from.text;
    if (moving && ctx.localDir !== undefined) {
      throw new PlanError(`context ${ctx.name} is a --local cluster: all its members run on this host, there is nothing to move to (without --host, kvctl member update re-issues ${name}'s certificates in place)`);
    }
    const busy = ctx.agents.find((a) => a.member !== name && parseAgentAddress(a.address).text === to.text);
    if (busy !== undefined) throw new PlanError(`agent ${to.text} runs member ${busy.member}: one member per agent; pick another host`);
    const planned: MemberPlan = {
      name,
      host: to.host,
      clientPort: opts.clientPort ?? portOf(member.clientURLs[0] ?? entry.clientUrl, 2379),
      peerPort: opts.peerPort ?? portOf(member.peerURLs[0], 2380),
      agentPort: to.port,
    };
    const { plan, token } = await joiningPlan(ctx, planned);
    const newPeerUrl = peerUrl(plan, planned);
    const newClientUrl = clientUrl(plan, planned);
    const taken = members.find((m) => m.ID !== member.ID && m.peerURLs.includes(newPeerUrl));
    if (taken !== undefined) throw new PlanError(`peer URL ${newPeerUrl} is member ${taken.name}'s (${hex(taken.ID)})`);
    // A resumed move: an earlier run changed the peer URL already, so the member's home is the new host.
    const peerUpdated = moving && member.peerURLs.includes(newPeerUrl);
    if (!member.isLearner && !peerUpdated) {
      const voters = members.filter((m) => !m.isLearner).length;
      const healthyOthers = (await healthyVoters(client, members)).filter((m) => m.ID !== member.ID).length;
      if (healthyOthers < quorum(voters)) {
        throw new PlanError(`while ${name} restarts, ${healthyOthers} of the other ${voters - 1} voting members answer and quorum needs ${quorum(voters)}: bring the others back first`);
      }
    }
    let sourceStatus: AgentStatus;
    try {
      sourceStatus = await source.status();
    } catch (err) {
      if (!(err instanceof AgentUnavailableError)) throw err;
      throw new PlanError(
        `the agent of ${name} at ${from.text} does not answer (${err.message}), so its data cannot be copied. If that host is gone for good, replace the member instead: kvctl member remove ${name}, then kvctl member add ${name} --host <agent>`,
      );
    }
    if (sourceStatus.memberName !== name && !peerUpdated) {
      throw new PlanError(`agent ${from.text} does not run member ${name} (it runs ${sourceStatus.memberName || 'nothing'}): the context is out of date`);
    }

    const pki = clusterPkiFiles(contextPkiDir(ctx.name));
    if (moving) newAgent = await connectAgent(to.text, { pki, clusterName: ctx.name, member: name, hosts: [to.host], token: opts.token, progress });
    const target = newAgent ?? source;
    const targetStatus = await target.status();
    if (targetStatus.memberName !== '' && targetStatus.memberName !== name) {
      throw new PlanError(`agent ${to.text} runs member ${targetStatus.memberName}: remove it first (kvctl member remove ${targetStatus.memberName}) or pick another host`);
    }
    const tls = plan.tls ? await memberTls(pki.dir, name, memberCertificateHosts(to.host), { renew: !peerUpdated }) : undefined;
    if (tls !== undefined && !peerUpdated) {
      done.push(`certificates of ${name} re-issued for ${to.host}`);
      progress(`certificates of ${name} re-issued for ${to.host}`);
    }
    const cluster = members
      .map((m) => (m.ID === member.ID ? `${name}=${newPeerUrl}` : m.peerURLs.map((u) => `${m.name}=${u}`).join(',')))
      .filter((s) => s !== '' && !s.startsWith('='))
      .join(',');
    const spec = memberSpec(plan, planned, { state: 'existing', initialCluster: cluster, token, tls });
    const peerChanges = !member.peerURLs.includes(newPeerUrl);
    let bytesCopied = 0;

    if (!moving) {
      left.push(`member ${name} restarted with its new certificates`, 'context updated');
      if (peerChanges) {
        // Stopped with its old configuration, so that a refused peer URL change can start it again as it was.
        await source.stop();
        done.push(`member ${name} stopped`);
        rollback = async () => {
          await source.start();
        };
        await whenHealthy(async () => await new ClusterApi(client).memberUpdate(member.ID, [newPeerUrl]), progress);
        rollback = undefined;
        done.push(`peer URL of ${name} changed to ${newPeerUrl}`);
        progress(`peer URL of ${name} changed to ${newPeerUrl}`);
        await source.configure(spec, true);
        await source.start();
      } else {
        await source.configure(spec, true);
        await source.restart();
      }
      progress(`member ${name} restarted by agent ${from.text}; waiting until it is healthy`);
    } else if (!peerUpdated || targetStatus.memberName !== name) {
      left.push(`member ${name} stopped on ${from.text}`, `data copied to ${to.text}`, `peer URL changed to ${newPeerUrl}`, `member ${name} started on ${to.text}`, `member ${name} deleted on ${from.text}`, 'context updated');
      if (peerUpdated) throw new PlanError(`member ${name} has peer URL ${newPeerUrl} already, but agent ${to.text} holds no data of it: copy its data dir there by hand, or replace the member (kvctl member remove ${name}; kvctl member add ${name} --host ${to.text})`);
      // What an earlier, failed run left on the new host is incomplete: start over there.
      if (targetStatus.memberName === name) await target.reset(name);
      await target.configure(spec);
      await source.stop();
      done.push(`member ${name} stopped on ${from.text}`);
      progress(`member ${name} stopped on ${from.text}; copying its data dir to ${to.text}`);
      const dest = target;
      rollback = async () => {
        await dest.reset(name).catch(() => {});
        await source.start();
      };
      let said = 0;
      await source.copyDataTo(target, name, (bytes) => {
        bytesCopied = bytes;
        if (bytes - said >= 16 << 20) {
          said = bytes;
          progress(`  ${humanizeBytes(bytes)} copied`);
        }
      });
      done.push(`data copied to ${to.text}`);
      progress(`data dir of ${name} copied to ${to.text} (${humanizeBytes(bytesCopied)})`);
      if (peerChanges) {
        await whenHealthy(async () => await new ClusterApi(client).memberUpdate(member.ID, [newPeerUrl]), progress);
        done.push(`peer URL changed to ${newPeerUrl}`);
        progress(`peer URL of ${name} changed to ${newPeerUrl}`);
      }
      rollback = undefined;
      await target.start();
      done.push(`member ${name} started on ${to.text}`);
      progress(`member ${name} started by agent ${to.text}; waiting until it is healthy`);
    } else {
      left.push(`member ${name} started on ${to.text}`, `member ${name} deleted on ${from.text}`, 'context updated');
      progress(`member ${name} has peer URL ${newPeerUrl} already: finishing the move to ${to.text}`);
      await target.start();
      done.push(`member ${name} started on ${to.text}`);
    }

    // Its agent probes /health on the new client URL: healthy there before the old host's copy is deleted.
    const [status] = await waitHealthy(new Map([[name, target]]), opts.timeoutMs, progress);
    if (moving) {
      try {
        if ((await source.status()).memberName === name) await source.reset(name);
        done.push(`member ${name} deleted on ${from.text}`);
        progress(`agent ${from.text}: the old copy of ${name} (data, configuration, certificates) deleted`);
      } catch (err) {
        progress(`agent ${from.text} could not delete the old copy of ${name} (${(err as Error).message}): its data stays there until you reset it`);
      }
    }
    const oldClientUrl = entry.clientUrl;
    const context: ClusterContext = {
      ...ctx,
      endpoints: ctx.endpoints.map((e) => (e === oldClientUrl ? newClientUrl : e)),
      agents: ctx.agents.map((a) => (a.member === name ? { member: name, address: to.text, clientUrl: newClientUrl } : a)),
    };
    await saveContext(context, false);
    return {
      member: { ...member, peerURLs: [newPeerUrl], clientURLs: [newClientUrl] },
      from: from.text,
      to: to.text,
      moved: moving,
      peerUrl: newPeerUrl,
      clientUrl: newClientUrl,
      bytesCopied,
      agent: status ?? (await target.status()),
      context,
    };
  } catch (err) {
    // Nothing changed yet (e.g. the new agent is unreachable): the error as it is, without steps.
    if (err instanceof PlanError || (done.length === 0 && rollback === undefined)) throw err;
    let restored = '';
    if (rollback !== undefined) {
      try {
        await rollback();
        restored = ' The member was started again where it was, as it was.';
        done.push(`member started again where it was`);
      } catch (undo) {
        restored = ` Starting it again where it was failed too (${(undo as Error).message}).`;
      }
    }
    throw new StepError(
      `${(err as Error).message}.${restored}\n(fix the cause and run the same command again: it resumes)`,
      done,
      left.filter((s) => !done.includes(s)),
      { cause: err },
    );
  } finally {
    newAgent?.close();
    client.close();
    for (const c of agents.values()) c.close();
  }
}
