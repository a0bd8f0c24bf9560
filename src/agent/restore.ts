/**
 * `kvctl cluster restore`: every member of a context's cluster restored from one snapshot file, through the
 * agents, as a NEW cluster (etcd's disaster recovery: all members restored from the same file with the same
 * initial cluster and a new token, then started together). In order, each step said as it happens:
 * 1. the file: readable, its SHA-256 trailer checked, its format (a real etcd's bbolt or kvctl's) and, for
 *    kvctl's, its revision and total keys; every agent answers, runs its member, and that member's runtime can read
 *    the format. Without --yes it stops here and says what would be replaced;
 * 2. each member's spec for the new cluster: what it is now (its agent's URLs and runtime, the context's TLS,
 *    image and settings, certificates from the context's pki), with the initial cluster of all members, state
 *    "new" and a new token derived from the old one, the snapshot's hash and the time (so the member ids and
 *    the cluster id differ from the old cluster's, as etcd recommends);
 * 3. stop every member; 4. send the file to every agent (Restore: checked, restored, the old data dir kept as
 *    `.before-restore`, the spec configured); 5. start every member and wait until all are healthy.
 * A failure says what was done and what is left; running the same command again finishes the job (a member
 * restored but never started is restored again without losing its `.before-restore`).
 *
 * Why specs are rebuilt here rather than read from the agents: the agent API reports a member's URLs but not
 * its spec (which holds private keys), and rebuilding it with memberSpec, from the same context and pki that
 * bootstrap and member add use, configures a restored member exactly as a bootstrapped one.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { access, constants, open, stat } from 'node:fs/promises';

import { findOnPath } from '../base/node-fs.js';
import type { AgentStatus, NodeSpec } from '../proto/gen/kvctl/agent/v1/agent.js';
import { SnapshotFileError, type SnapshotFormat, snapshotFileStatus, snapshotFormatOf, snapshotHeadBytes } from '../server/index.js';
import { clusterTokenFor, waitHealthy } from './bootstrap.js';
import { etcdRestoreTools } from './restore-data.js';
import { type AgentConnection, parseAgentAddress } from './client.js';
import { type ClusterContext, type ContextAgent, contextPkiDir } from './context.js';
import { PlanError, StepError } from './errors.js';
import { clusterPkiFiles, memberTls } from './fleet.js';
import { singleMemberPlan } from './membership.js';
import { clientOf, contextAgents } from './operate.js';
import { type MemberPlan, memberCertificateHosts, memberSpec } from './plan.js';

export interface SnapshotInfo {
  readonly path: string;
  readonly format: SnapshotFormat;
  readonly size: number;
  /** SHA-256 of the whole file (hex), as the agents check it. */
  readonly sha256: string;
  /** Whether the file ends with etcd's SHA-256 trailer, and it was checked. */
  readonly hashChecked: boolean;
  /**
   * The snapshot's revision and total keys (of every bucket, as `etcdctl snapshot status` counts them), when
   * they could be read: kvctl's format always, bbolt when this host has etcd's tool.
   */
  readonly revision?: number | undefined;
  readonly totalKeys?: number | undefined;
  readonly hash?: number | undefined;
}

const SHA256_BYTES = 32;

/** Go's %v of a []byte, as etcd's restore prints hashes. */
function goBytes(b: Buffer): string {
  return `[${[...b].join(' ')}]`;
}

/**
 * Reads the snapshot once: its whole SHA-256 (what the agents are told), and its SHA-256 trailer checked the way
 * etcd's restore checks it (a db is a whole number of 512-byte sectors: size % 512 == 32 means a trailer).
 */
export async function inspectSnapshot(path: string, skipHashCheck: boolean): Promise<SnapshotInfo> {
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' });
    await access(path, constants.R_OK);
    size = st.size;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'not a file' : (err as Error).message;
    throw new SnapshotFileError(`snapshot ${path}: ${why}`);
  }
  if (size === 0) throw new SnapshotFileError(`snapshot ${path} is empty`);
  const head = Buffer.alloc(snapshotHeadBytes);
  const fh = await open(path, 'r');
  try {
    await fh.read(head, 0, head.length, 0);
  } finally {
    await fh.close();
  }
  const format = snapshotFormatOf(head);
  const hasTrailer = size % 512 === SHA256_BYTES;
  if (!hasTrailer && !skipHashCheck) {
    throw new SnapshotFileError(`snapshot ${path}: snapshot missing hash but --skip-hash-check=false (a db copied out of a data dir has none: give --skip-hash-check)`);
  }
  const whole = createHash('sha256');
  const body = createHash('sha256');
  let pending = Buffer.alloc(0);
  for await (const chunk of createReadStream(path)) {
    whole.update(chunk as Buffer);
    // Everything but the last 32 bytes goes into the body's hash.
    pending = Buffer.concat([pending, chunk as Buffer]);
    if (pending.length > SHA256_BYTES) {
      body.update(pending.subarray(0, pending.length - SHA256_BYTES));
      pending = Buffer.from(pending.subarray(pending.length - SHA256_BYTES));
    }
  }
  const hashChecked = hasTrailer && !skipHashCheck;
  if (hashChecked) {
    const actual = body.digest();
    if (!actual.equals(pending)) {
      throw new SnapshotFileError(`snapshot ${path} is corrupt: expected sha256 ${goBytes(pending)}, got ${goBytes(actual)}; nothing was changed`);
    }
  }
  const info = { path, format, size, sha256: whole.digest('hex'), hashChecked };
  if (format === 'kvctl') {
    const st = await snapshotFileStatus(path);
    return { ...info, revision: st.revision, totalKeys: st.totalKey, hash: st.hash };
  }
  return { ...info, ...(await etcdSnapshotStatus(path)) };
}

/** A bbolt snapshot's revision and total keys, from the real etcdctl when this host has it (nothing otherwise). */
async function etcdSnapshotStatus(path: string): Promise<{ revision?: number; totalKeys?: number; hash?: number }> {
  const tool = etcdRestoreTools.find((t) => findOnPath(t) !== undefined);
  if (tool === undefined) return {};
  return await new Promise((resolve) => {
    execFile(tool, ['snapshot', 'status', path, '-w', 'json'], { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 30_000 }, (err, stdout) => {
      if (err !== null) {
        resolve({});
        return;
      }
      try {
        const s = JSON.parse(stdout) as { hash?: number; revision?: number; totalKey?: number };
        resolve({ revision: s.revision, totalKeys: s.totalKey, hash: s.hash });
      } catch {
        resolve({});
      }
    });
  });
}

export function describeSnapshot(s: SnapshotInfo): string {
  const what = s.format === 'bbolt' ? "a real etcd's snapshot (bbolt)" : "kvctl's snapshot format";
  const content = s.revision !== undefined ? `, revision ${s.revision}${s.totalKeys !== undefined ? `, ${s.totalKeys} total keys` : ''}${s.hash !== undefined ? `, hash ${s.hash}` : ''}` : '';
  return `snapshot ${s.path}: ${what}, ${s.size} bytes${content}, ${s.hashChecked ? 'SHA-256 trailer checked' : 'hash not checked (--skip-hash-check)'}`;
}

/** The refusal of a snapshot a member's runtime cannot read (the agent refuses it too, in the same words). */
export function formatProblem(format: SnapshotFormat, runtime: string, member: string): string | undefined {
  if (format === 'kvctl' && runtime === 'etcd') {
    return `member ${member} runs a real etcd (runtime etcd): a real etcd cannot read kvctl's snapshot format; restore a snapshot saved from a real etcd (a bbolt file)`;
  }
  if (format === 'bbolt' && runtime === 'kvctl') {
    return `member ${member} runs kvctl's node, which cannot read bbolt (a real etcd's snapshot); restore a snapshot saved from a kvctl member`;
  }
  return undefined;
}

/** A restore asked without --yes: everything was checked, nothing changed; `details` says what would be replaced. */
export class RestoreNotConfirmed extends PlanError {
  constructor(
    message: string,
    readonly details: readonly string[],
  ) {
    super(message);
  }
}

export interface RestoredMemberRow {
  readonly member: string;
  readonly agent: string;
  /** The member's id in the new cluster (hex). */
  readonly id: string;
  readonly peerUrls: readonly string[];
  readonly dataDir: string;
  /** Where the data from before the restore is kept. */
  readonly keptAs: string;
  readonly health: string;
}

export interface ClusterRestoreResult {
  readonly cluster: string;
  readonly snapshot: SnapshotInfo;
  readonly initialClusterToken: string;
  /** The new cluster's id (hex). */
  readonly clusterId: string;
  readonly members: readonly RestoredMemberRow[];
  readonly tookMs: number;
}

export interface ClusterRestoreOptions {
  readonly ctx: ClusterContext;
  readonly snapshotPath: string;
  /** Without it, everything is checked and nothing is changed. */
  readonly yes: boolean;
  readonly skipHashCheck: boolean;
  readonly progress: (line: string) => void;
  /** Bound on waiting for the restored cluster to be healthy. */
  readonly timeoutMs: number;
}

/** `<old token>-restore-<snapshot hash>-<time>`: new at every restore, so the ids never repeat an old cluster's. */
async function restoreToken(ctx: ClusterContext, snapshot: SnapshotInfo): Promise<string> {
  const old = await clusterTokenFor(ctx.name, clusterPkiFiles(contextPkiDir(ctx.name)));
  return `${old}-restore-${snapshot.sha256.slice(0, 8)}-${Date.now().toString(36)}`;
}

function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '');
}

/** The member's spec in the new cluster: as it runs now (its agent's URLs and runtime) with the new cluster's initial values. */
async function restoreSpec(ctx: ClusterContext, agent: ContextAgent, status: AgentStatus, token: string, initialCluster: string): Promise<NodeSpec> {
  const peer = new URL(status.peerUrls[0] as string);
  const client = new URL(status.clientUrls[0] as string);
  const m: MemberPlan = {
    name: agent.member,
    host: hostOf(peer),
    clientPort: Number(client.port),
    peerPort: Number(peer.port),
    agentPort: parseAgentAddress(agent.address).port,
  };
  const plan = singleMemberPlan(ctx, m, status.runtime);
  const tls = plan.tls ? await memberTls(contextPkiDir(ctx.name), m.name, memberCertificateHosts(m.host)) : undefined;
  return memberSpec(plan, m, { state: 'new', initialCluster, token, tls });
}

/** Every agent's status, checked: it answers, runs the member the context names, with URLs and a runtime that fits. */
async function checkMembers(ctx: ClusterContext, agents: ReadonlyMap<string, AgentConnection>, format: SnapshotFormat): Promise<Map<string, AgentStatus>> {
  const statuses = new Map<string, AgentStatus>();
  const problems: string[] = [];
  await Promise.all(
    ctx.agents.map(async (a) => {
      try {
        const s = await (agents.get(a.member) as AgentConnection).status(5000);
        if (s.memberName !== a.member) problems.push(`agent ${a.address} runs ${s.memberName === '' ? 'no member' : `member ${s.memberName}`}, not ${a.member}`);
        else if (s.peerUrls.length === 0 || s.clientUrls.length === 0) problems.push(`member ${a.member} has no client or peer URL configured`);
        else {
          const problem = formatProblem(format, s.runtime, a.member);
          if (problem !== undefined) problems.push(problem);
          else if (format === 'bbolt' && s.restoreTools.length === 0) {
            problems.push(`${a.member}: agent ${a.address} has neither etcdutl nor etcdctl on its PATH to restore a real etcd's (bbolt) snapshot with: install them on that host (Debian: apt install etcd-client)`);
          }
          statuses.set(a.member, s);
        }
      } catch (err) {
        problems.push(`${a.member}: ${(err as Error).message}`);
      }
    }),
  );
  if (problems.length > 0) throw new PlanError(`cluster ${ctx.name} cannot be restored from this snapshot; nothing was changed:\n  ${problems.sort().join('\n  ')}`);
  return statuses;
}

export async function restoreCluster(opts: ClusterRestoreOptions): Promise<ClusterRestoreResult> {
  const { ctx, progress } = opts;
  const startedAt = Date.now();
  if (ctx.agents.length === 0) throw new PlanError(`context ${ctx.name} has no agents: nothing to restore`);
  const snapshot = await inspectSnapshot(opts.snapshotPath, opts.skipHashCheck);
  progress(describeSnapshot(snapshot));
  const agents = await contextAgents(ctx);
  const done: string[] = [];
  const members = ctx.agents.map((a) => a.member);
  const steps = ['members stopped', ...members.map((m) => `${m} restored`), 'members started', 'members healthy'];
  try {
    const statuses = await checkMembers(ctx, agents, snapshot.format);
    const kept = (m: string) => `${statuses.get(m)?.dataDir ?? '<data dir>'}.before-restore`;
    if (!opts.yes) {
      throw new RestoreNotConfirmed(
        `cluster restore replaces the data of every member of cluster ${ctx.name} (${members.join(', ')}); nothing was changed: rerun with --yes to do it`,
        [
          `cluster restore replaces the data of EVERY member of cluster ${ctx.name} with ${opts.snapshotPath}:`,
          ...members.map((m) => `  ${m}: its data dir ${statuses.get(m)?.dataDir ?? ''} is moved to ${kept(m)} (an older one there is deleted)`),
          'The members are stopped, restored and started as a NEW cluster (new member and cluster ids): every write since the snapshot is gone.',
          `To do it: kvctl cluster restore ${opts.snapshotPath} --yes`,
        ],
      );
    }
    const token = await restoreToken(ctx, snapshot);
    const initialCluster = ctx.agents.flatMap((a) => (statuses.get(a.member) as AgentStatus).peerUrls.map((u) => `${a.member}=${u}`)).join(',');
    const specs = new Map<string, NodeSpec>();
    for (const a of ctx.agents) specs.set(a.member, await restoreSpec(ctx, a, statuses.get(a.member) as AgentStatus, token, initialCluster));
    progress(`new cluster: --initial-cluster ${initialCluster} --initial-cluster-token ${token}`);

    await allOrStep(members, async (m) => {
      await (agents.get(m) as AgentConnection).stop();
      progress(`member ${m} stopped`);
    });
    done.push('members stopped');

    const sha256 = Buffer.from(snapshot.sha256, 'hex');
    await allOrStep(members, async (m) => {
      const t0 = Date.now();
      const header = { spec: specs.get(m) as NodeSpec, size: BigInt(snapshot.size), sha256, skipHashCheck: opts.skipHashCheck };
      await (agents.get(m) as AgentConnection).restore(header, opts.snapshotPath);
      done.push(`${m} restored`);
      progress(`member ${m}: snapshot sent and restored in ${Date.now() - t0} ms; its data from before is kept in ${kept(m)}`);
    });

    await allOrStep(members, async (m) => {
      await (agents.get(m) as AgentConnection).start();
    });
    done.push('members started');
    progress(`${members.length} members started; waiting until all are healthy`);
    const healthy = await waitHealthy(agents, opts.timeoutMs, progress);
    done.push('members healthy');

    const { ids, clusterId } = await newIds(ctx);
    return {
      cluster: ctx.name,
      snapshot,
      initialClusterToken: token,
      clusterId,
      members: ctx.agents.map((a) => {
        const s = statuses.get(a.member) as AgentStatus;
        return {
          member: a.member,
          agent: a.address,
          id: ids.get(a.member) ?? '',
          peerUrls: s.peerUrls,
          dataDir: s.dataDir,
          keptAs: kept(a.member),
          health: healthy.find((h) => h.memberName === a.member)?.health ?? '',
        };
      }),
      tookMs: Date.now() - startedAt,
    };
  } catch (err) {
    if (err instanceof PlanError || err instanceof SnapshotFileError) throw err;
    const left = steps.filter((s) => !done.includes(s));
    const rerun = `kvctl cluster restore ${opts.snapshotPath} --yes`;
    const hint = done.length === 0
      ? `no data was replaced: rerun ${rerun} once the cause is fixed, or start the members as they were with kvctl cluster up`
      : `rerun ${rerun} once the cause is fixed: it stops and restores every member again (the data from before the first run stays in each member's .before-restore)`;
    throw new StepError(`${(err as Error).message}\n(${hint})`, [...done], left, { cause: err });
  } finally {
    for (const c of agents.values()) c.close();
  }
}

/** Runs `step` for every member at once; fails after all ended, naming every member that failed. */
async function allOrStep(members: readonly string[], step: (member: string) => Promise<void>): Promise<void> {
  const results = await Promise.allSettled(members.map(async (m) => await step(m)));
  const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${members[i]}: ${(r.reason as Error).message}`] : []));
  if (failed.length > 0) throw new Error(failed.join('\n'));
}

/** The restored cluster's member ids by name, and its cluster id (hex), as the members report them. */
async function newIds(ctx: ClusterContext): Promise<{ ids: Map<string, string>; clusterId: string }> {
  const client = await clientOf(ctx);
  try {
    const list = await client.memberList();
    return {
      ids: new Map(list.members.map((m) => [m.name, m.ID.toString(16)])),
      clusterId: list.header?.clusterId.toString(16) ?? '',
    };
  } finally {
    client.close();
  }
}
