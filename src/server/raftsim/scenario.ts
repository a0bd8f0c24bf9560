/**
 * The randomized fault schedule around a SimCluster: cycles of chaos (random proposals, reads, membership
 * changes, partitions, message loss / duplication / delay, crashes at several points of the Ready cycle,
 * restarts with and without the state machine, leadership transfers), each followed by a healing phase
 * that checks liveness:
 *   - after healing, a leader whose whole configuration follows it emerges within a bounded number of ticks;
 *   - every proposal made to that stable leader is committed and applied by every member, within a bound.
 * Safety is checked continuously by the cluster itself. One seed replays one run exactly.
 */
import { SeededRng } from '../../base/rng.js';
import type { Logger } from '../../base/logger.js';
import {
  type ConfChangeSingle,
  ConfChangeTransition,
  ConfChangeType,
  type ConfChangeV2,
  type NodeId,
  StateType,
  emptyBytes,
  fmtId,
} from '../raft/index.js';
import { SimCluster, type SimStats } from './cluster.js';

/** Per-round probabilities of each kind of event during chaos. */
export interface FaultMix {
  readonly name: string;
  readonly propose: number;
  readonly read: number;
  readonly confChange: number;
  readonly transfer: number;
  readonly partition: number;
  readonly heal: number;
  readonly crash: number;
  readonly restart: number;
  readonly networkChange: number;
}

/** The mixes the seeds rotate through, so that every kind of trouble gets many seeds of its own. */
export const faultMixes: readonly FaultMix[] = [
  { name: 'steady', propose: 0.6, read: 0.1, confChange: 0.01, transfer: 0.01, partition: 0.005, heal: 0.05, crash: 0.003, restart: 0.1, networkChange: 0.005 },
  { name: 'partitions', propose: 0.5, read: 0.1, confChange: 0.01, transfer: 0.01, partition: 0.05, heal: 0.04, crash: 0.005, restart: 0.1, networkChange: 0.02 },
  { name: 'crashes', propose: 0.5, read: 0.05, confChange: 0.01, transfer: 0.01, partition: 0.01, heal: 0.05, crash: 0.04, restart: 0.08, networkChange: 0.01 },
  { name: 'membership', propose: 0.5, read: 0.05, confChange: 0.12, transfer: 0.02, partition: 0.02, heal: 0.05, crash: 0.01, restart: 0.1, networkChange: 0.01 },
  { name: 'lossy', propose: 0.5, read: 0.1, confChange: 0.02, transfer: 0.02, partition: 0.01, heal: 0.05, crash: 0.01, restart: 0.1, networkChange: 0.1 },
  { name: 'transfers', propose: 0.5, read: 0.1, confChange: 0.02, transfer: 0.1, partition: 0.01, heal: 0.05, crash: 0.01, restart: 0.1, networkChange: 0.01 },
  // Short-lived leaders that get their entries onto some nodes only (Figure 8 of the Raft paper): many
  // crashes and isolations (aimed at leaders), quick restarts, one entry per message.
  { name: 'leader-churn', propose: 0.8, read: 0.1, confChange: 0, transfer: 0.02, partition: 0.06, heal: 0.15, crash: 0.08, restart: 0.3, networkChange: 0.03 },
];

export interface SimulationOptions {
  readonly seed: number;
  /** Chaos rounds per cycle. Default 150. */
  readonly chaosRounds?: number;
  /** Chaos + heal cycles. Default 2. */
  readonly cycles?: number;
  /** Override the seed's choice of fault mix. */
  readonly mix?: FaultMix;
  /** Override the seed's choice of group size (initial voters); two more nodes can be added later. */
  readonly voters?: number;
  readonly onTrace?: (line: string) => void;
  readonly logger?: Logger;
}

export interface SimulationReport {
  readonly seed: number;
  readonly mix: string;
  readonly nodes: number;
  readonly initialVoters: number;
  readonly stats: SimStats;
  /** Rounds (ticks) each healing phase took until a stable leader, and until its proposals were applied. */
  readonly electionRounds: number[];
  readonly commitRounds: number[];
  readonly faults: Record<string, number>;
  readonly finalLeader: string;
  readonly finalTerm: number;
  readonly finalConfig: string;
  readonly committedProposals: number;
}

export const ELECTION_TICK = 10;
export const HEARTBEAT_TICK = 1;
/** Bound on ticks from healing to a stable leader: enough for many rounds of randomized timeouts. */
export const ELECTION_BOUND = 40 * ELECTION_TICK;
/** Bound on ticks from proposing to a stable leader to every member applying. */
export const COMMIT_BOUND = 30 * ELECTION_TICK;

export function runSimulation(opts: SimulationOptions): SimulationReport {
  const seed = opts.seed;
  const rng = new SeededRng(seed);
  const mix = opts.mix ?? (faultMixes[seed % faultMixes.length] as FaultMix);
  const voters = opts.voters ?? [3, 5, 3, 1, 3, 5, 4][Math.floor(seed / faultMixes.length) % 7] as number;
  const nodes = voters + 2;
  // Small messages and windows split a leader's entries (an old term's, then its no-op) over several
  // messages, which is what lets Figure 8-like histories happen.
  const churn = mix.name === 'leader-churn';
  const maxSizePerMsg = churn ? 0 : ([0, 300, 4096][rng.int(3)] as number);
  const maxInflightMsgs = churn ? 1 : ([1, 4, 64][rng.int(3)] as number);
  const cluster = new SimCluster({
    seed,
    rng,
    nodes,
    voters,
    maxSizePerMsg,
    maxInflightMsgs,
    electionTick: ELECTION_TICK,
    heartbeatTick: HEARTBEAT_TICK,
    onTrace: opts.onTrace,
    logger: opts.logger,
  });
  const faults: Record<string, number> = {};
  const count = (k: string) => {
    faults[k] = (faults[k] ?? 0) + 1;
  };
  const electionRounds: number[] = [];
  const commitRounds: number[] = [];
  let payloadCounter = 0;
  const nextPayload = (): Uint8Array => {
    const pad = rng.int(3) === 0 ? 'x'.repeat(rng.int(200)) : '';
    return new TextEncoder().encode(`p${++payloadCounter}${pad}`);
  };
  const pick = <T>(xs: readonly T[]): T | undefined => (xs.length === 0 ? undefined : xs[rng.int(xs.length)]);

  if (churn) {
    // Slow, lossy links keep a crashing leader's last messages from arriving before it is gone.
    cluster.dropRate = 0.1;
    cluster.maxDelay = 3;
  }
  cluster.trace(
    `seed ${seed}: ${voters} voters of ${nodes} nodes, fault mix '${mix.name}', maxSizePerMsg ${maxSizePerMsg}, maxInflightMsgs ${maxInflightMsgs}`,
  );
  const cycles = opts.cycles ?? 2;
  for (let cycle = 0; cycle < cycles; cycle++) {
    for (let i = 0; i < (opts.chaosRounds ?? 150); i++) {
      chaos(cluster, mix, rng, count, nextPayload, pick);
      cluster.runRound();
    }
    const { elected, committed } = heal(cluster, rng, nextPayload);
    electionRounds.push(elected);
    commitRounds.push(committed);
  }

  const leader = cluster.leader();
  const raw = leader === undefined ? undefined : cluster.raw(leader);
  return {
    seed,
    mix: mix.name,
    nodes,
    initialVoters: voters,
    stats: cluster.stats,
    electionRounds,
    commitRounds,
    faults,
    finalLeader: leader === undefined ? 'none' : fmtId(leader),
    finalTerm: raw?.raft.term ?? 0,
    finalConfig: raw?.raft.trk.config.toString() ?? '',
    committedProposals: cluster.committedPayloads.size,
  };
}

/** One round's worth of random events. */
function chaos(
  c: SimCluster,
  mix: FaultMix,
  rng: SeededRng,
  count: (k: string) => void,
  nextPayload: () => Uint8Array,
  pick: <T>(xs: readonly T[]) => T | undefined,
): void {
  const live = c.ids.filter((id) => c.isAlive(id));
  const dead = c.ids.filter((id) => !c.isAlive(id));

  if (rng.float() < mix.propose) {
    // Clients write to any member; followers forward to the leader.
    const n = 1 + rng.int(4);
    const at = pick(live);
    if (at !== undefined) for (let i = 0; i < n; i++) c.propose(at, nextPayload());
  }
  if (rng.float() < mix.read) {
    // Half of the reads go to a node that believes it leads: a deposed leader that has not noticed yet
    // must not answer from its stale state.
    const leaders = live.filter((id) => c.raw(id)?.raft.state === StateType.Leader);
    const at = rng.int(2) === 0 ? pick(leaders) ?? pick(live) : pick(live);
    if (at !== undefined) c.readIndex(at);
  }
  if (rng.float() < mix.confChange) {
    const cc = randomConfChange(c, rng, pick);
    if (cc !== undefined) {
      count('confChange');
      c.trace(`propose conf change ${describeChange(cc)} at ${fmtId(cc.at)}`);
      c.proposeConfChange(cc.at, cc.change);
    }
  }
  if (rng.float() < mix.transfer) {
    const leader = c.leader();
    const to = pick(c.ids);
    if (leader !== undefined && to !== undefined) {
      count('transfer');
      c.trace(`transfer leadership ${fmtId(leader)} -> ${fmtId(to)}`);
      c.raw(leader)?.transferLeader(to);
    }
  }
  if (rng.float() < mix.partition) {
    count('partition');
    partition(c, rng, pick);
  }
  if (rng.float() < mix.heal && c.blocked.size > 0) {
    count('heal');
    c.blocked.clear();
    c.trace('partitions healed');
  }
  if (rng.float() < mix.crash && live.length > 0) {
    // Leaders are the interesting victims: half of the crashes hit one.
    const leader = c.leader();
    const id = leader !== undefined && rng.int(2) === 0 ? leader : (pick(live) as NodeId);
    const how = rng.int(4);
    // Crash now, or in the middle of the node's next Ready (after its disk write, or after its sends); an
    // armed crash that has not fired when the network heals is cancelled.
    count(how < 2 ? 'crashArmed' : 'crash');
    c.crash(id, how === 0 ? 'after-persist' : how === 1 ? 'after-send' : undefined);
  }
  if (rng.float() < mix.restart && dead.length > 0) {
    count('restart');
    c.restart(pick(dead) as NodeId, rng.int(3) === 0);
  }
  if (rng.float() < mix.networkChange) {
    count('network');
    c.dropRate = [0, 0, 0.05, 0.2][rng.int(4)] as number;
    c.duplicateRate = [0, 0.02][rng.int(2)] as number;
    c.maxDelay = [0, 2, 5][rng.int(3)] as number;
    c.trace(`network: drop ${c.dropRate}, duplicate ${c.duplicateRate}, delay up to ${c.maxDelay} rounds`);
    // A connection reset while both ends live (a proxy or NAT dropping it): a false alarm for the
    // follower's reportConnectionLost, which must never cost a term change or a lost write.
    const a = pick(live);
    const b = pick(c.ids.filter((x) => x !== a));
    if (a !== undefined && b !== undefined) {
      count('reset');
      c.trace(`connection ${fmtId(a)} <-> ${fmtId(b)} reset`);
      c.raw(a)?.reportConnectionLost(b);
      c.raw(b)?.reportConnectionLost(a);
    }
  }
}

function partition(c: SimCluster, rng: SeededRng, pick: <T>(xs: readonly T[]) => T | undefined): void {
  const cut = (a: NodeId, b: NodeId) => {
    c.blocked.add(`${a}->${b}`);
    c.blocked.add(`${b}->${a}`);
  };
  const kind = rng.int(3);
  if (kind === 0) {
    const leader = c.leader();
    const id = leader !== undefined && rng.int(2) === 0 ? leader : (pick(c.ids) as NodeId);
    for (const o of c.ids) if (o !== id) cut(id, o);
    c.trace(`isolate ${fmtId(id)}`);
  } else if (kind === 1) {
    const side = c.ids.filter(() => rng.int(2) === 0);
    for (const a of side) for (const b of c.ids) if (!side.includes(b)) cut(a, b);
    c.trace(`split (${side.map(fmtId).join(' ')}) | (${c.ids.filter((x) => !side.includes(x)).map(fmtId).join(' ')})`);
  } else {
    const a = pick(c.ids) as NodeId;
    const b = pick(c.ids.filter((x) => x !== a)) as NodeId;
    c.blocked.add(`${a}->${b}`);
    c.trace(`cut ${fmtId(a)} -> ${fmtId(b)} (one way)`);
  }
}

interface ProposedChange {
  readonly at: NodeId;
  readonly change: ConfChangeV2;
}

/**
 * A membership change that is valid for the current leader's configuration: add or remove a voter or
 * learner, promote or demote, or replace a voter through joint consensus. Changes that would remove every
 * voter are never proposed (raft refuses them at apply time, which stops a node, as in etcd); whether one
 * is already pending is left to raft, which must refuse it.
 */
function randomConfChange(c: SimCluster, rng: SeededRng, pick: <T>(xs: readonly T[]) => T | undefined): ProposedChange | undefined {
  const leader = c.leader();
  if (leader === undefined) return undefined;
  const raft = c.raw(leader)?.raft;
  if (raft === undefined) return undefined;
  const cfg = raft.trk.config;
  if (cfg.voters.isJoint) {
    // Leave a joint config that the application must leave itself.
    return cfg.autoLeave ? undefined : { at: leader, change: { transition: ConfChangeTransition.Auto, changes: [], context: emptyBytes } };
  }
  const voters = [...cfg.voters.incoming.voters];
  const learners = [...cfg.learners];
  const outside = c.ids.filter((id) => !voters.includes(id) && !learners.includes(id));
  const single = (type: ConfChangeType, nodeId: NodeId): ConfChangeSingle => ({ type, nodeId });
  const options: ConfChangeSingle[][] = [];
  const o = pick(outside);
  if (o !== undefined) options.push([single(ConfChangeType.AddNode, o)], [single(ConfChangeType.AddLearnerNode, o)]);
  const l = pick(learners);
  if (l !== undefined) options.push([single(ConfChangeType.AddNode, l)], [single(ConfChangeType.RemoveNode, l)]);
  const v = pick(voters);
  if (v !== undefined && voters.length > 1) {
    options.push([single(ConfChangeType.RemoveNode, v)], [single(ConfChangeType.AddLearnerNode, v)]);
    if (o !== undefined) options.push([single(ConfChangeType.AddNode, o), single(ConfChangeType.RemoveNode, v)]);
  }
  const changes = pick(options);
  if (changes === undefined) return undefined;
  const transition = changes.length > 1 || rng.int(4) === 0 ? ([0, 1, 2][rng.int(3)] as ConfChangeTransition) : ConfChangeTransition.Auto;
  return { at: leader, change: { transition, changes, context: emptyBytes } };
}

const changeNames: Record<number, string> = { 0: 'add', 1: 'remove', 2: 'update', 3: 'add-learner' };

function describeChange(cc: ProposedChange): string {
  const parts = cc.change.changes.map((s) => `${changeNames[s.type]} ${fmtId(s.nodeId)}`);
  const t = ['', ' (joint, auto-leave)', ' (joint, explicit leave)'][cc.change.transition];
  return parts.length === 0 ? 'leave-joint' : `${parts.join(', ')}${t}`;
}

/**
 * Heals every fault and checks liveness. Returns the rounds until a stable leader and until the proposals
 * made to it were applied everywhere.
 */
function heal(c: SimCluster, rng: SeededRng, nextPayload: () => Uint8Array): { elected: number; committed: number } {
  c.blocked.clear();
  c.dropRate = 0;
  c.duplicateRate = 0;
  c.maxDelay = 0;
  c.disarmCrashes();
  for (const id of c.ids) if (!c.isAlive(id)) c.restart(id, rng.int(3) === 0);
  c.trace('healed: all nodes up, network clean');
  // Messages delayed during the chaos may still arrive (a late MsgTimeoutNow legitimately moves leadership):
  // let them land before the liveness clock starts.
  const healedAt = c.round + 1;
  for (let i = 0; i < 20 && c.hasInflightSentBefore(healedAt); i++) c.runRound();

  // 1. A stable leader: every member of its config is up and follows it, no transfer is under way, and
  //    it has committed an entry of its term.
  let elected = -1;
  for (let r = 1; r <= ELECTION_BOUND; r++) {
    c.runRound();
    const leader = stableLeader(c);
    if (leader !== undefined) {
      elected = r;
      break;
    }
  }
  if (elected < 0) c.fail(`no stable leader within ${ELECTION_BOUND} ticks of healing`);
  const leader = stableLeader(c) as NodeId;
  const raft = c.raw(leader)?.raft;
  if (raft !== undefined && raft.trk.config.voters.isJoint && !raft.trk.config.autoLeave) {
    c.proposeConfChange(leader, { transition: ConfChangeTransition.Auto, changes: [], context: emptyBytes });
  }

  // 2. Proposals to the stable leader commit and reach every member. Keep writing while waiting, as clients
  //    do: a member added after the last snapshot catches up by a later one.
  const wanted = new Set<string>();
  const proposeBatch = () => {
    for (let i = 0; i < 5; i++) {
      const p = nextPayload();
      if (!c.propose(leader, p)) c.fail(`the stable leader ${fmtId(leader)} dropped a proposal`);
      let k = '0:';
      for (const b of p) k += String.fromCharCode(b);
      wanted.add(k);
    }
  };
  proposeBatch();
  const target = () => {
    const r = c.raw(leader)?.raft;
    return r === undefined ? 0 : r.raftLog.lastIndex();
  };
  let goal = target();
  for (let r = 1; r <= COMMIT_BOUND; r++) {
    c.runRound();
    if (c.leader() !== leader) {
      // Legitimate only if a membership change proposed during the chaos removed or demoted the leader.
      const old = c.raw(leader)?.raft;
      if (old !== undefined && !old.trk.config.voters.incoming.has(leader)) {
        c.trace(`leader ${fmtId(leader)} left the configuration; waiting for the next one`);
        return heal(c, rng, nextPayload);
      }
      c.fail(`leadership moved from ${fmtId(leader)} without any fault`);
    }
    for (const k of wanted) if (c.committedPayloads.has(k)) wanted.delete(k);
    const members = membersOf(c, leader);
    if (wanted.size === 0 && members.every((id) => c.appliedIndex(id) >= goal)) return { elected, committed: r };
    if (r % 20 === 0) {
      proposeBatch();
      goal = target();
    }
  }
  const lag = membersOf(c, leader)
    .map((id) => `${fmtId(id)}@${c.appliedIndex(id)}`)
    .join(' ');
  return c.fail(`proposals to the stable leader ${fmtId(leader)} not applied everywhere within ${COMMIT_BOUND} ticks (goal ${goal}; ${lag}; ${wanted.size} not committed)`);
}

function membersOf(c: SimCluster, leader: NodeId): NodeId[] {
  const raft = c.raw(leader)?.raft;
  if (raft === undefined) return [];
  return [...raft.trk.progress.keys()];
}

function stableLeader(c: SimCluster): NodeId | undefined {
  const leader = c.leader();
  if (leader === undefined) return undefined;
  const raft = c.raw(leader)?.raft;
  if (raft === undefined || raft.leadTransferee !== 0n || !raft.committedEntryInCurrentTerm()) return undefined;
  if (!raft.trk.progress.has(leader)) return undefined;
  for (const id of raft.trk.progress.keys()) {
    const r = c.raw(id)?.raft;
    if (r === undefined || r.lead !== leader || r.term !== raft.term || (id !== leader && r.state !== StateType.Follower)) return undefined;
  }
  return leader;
}
