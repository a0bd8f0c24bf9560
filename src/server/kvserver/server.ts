/**
 * The node's core (etcd's etcdserver): it owns the raft node, the WAL, the snapshots, the backend and
 * the MVCC store, and runs the loop that moves requests through them.
 *
 * The raft loop, in the order raft's Ready contract requires (src/server/raft/README.md):
 *   1. persist: wal.save(hardState, entries) with one fdatasync for the whole batch (group commit), then
 *      the raft log in memory;
 *   2. send the Ready's messages through the peer transport (after the WAL write: a vote or an append
 *      acknowledged to a peer must survive a crash); a MsgSnap goes with a copy of the backend;
 *   3. apply committed entries in ONE backend transaction that also records the applied index, so a replay
 *      after a crash skips what the backend already has; then answer the waiting requests;
 *   4. advance, and take a snapshot every --snapshot-count applied entries (backend synced first, .snap
 *      file before the WAL's snapshot record, old WAL segments and .snap files purged).
 * Proposals made while a Ready is being persisted are batched by raft into the next one, which is what
 * makes one fsync serve many clients.
 */
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

import type { Logger } from '../../base/logger.js';
import { SeededRng } from '../../base/rng.js';
import { EtcdApiError, etcdErrorOf } from '../../proto/errors.js';
import {
  InternalRaftRequest,
  type InternalRaftRequest as InternalRaftRequestT,
} from '../../proto/gen/etcdserverpb/raft_internal.js';
import {
  type ConfChange,
  ConfChangeType,
  type ConfState,
  type Entry,
  EntryType,
  ErrProposalDropped,
  MemoryStorage,
  type Message,
  MessageType,
  None,
  type RawNode,
  type Snapshot,
  StateType,
  decodeConfChange,
  isEmptySnap,
} from '../raft/index.js';
import type { DeliveryReports, PeerHandler, SnapshotPayload } from '../peer/types.js';
import { Backend } from '../mvcc/backend.js';
import { KvStore } from '../mvcc/kvstore.js';
import { syncDir } from '../../base/node-fs.js';
import { Snapshotter } from '../snap/index.js';
import { Wal } from '../wal/index.js';
import { type ServerConfig, urlString } from './config.js';
import { DataDirError, ServerStoppedError } from './errors.js';
import { resolveInitialCluster } from './discovery.js';
import { idHex, memberIdFor } from './ids.js';
import {
  type Boot,
  type BootParts,
  bootstrapNewMember,
  joinExistingCluster,
  restartMember,
  writeConfState,
} from './bootstrap.js';
import { type Member, Membership, encodeMemberContext } from './membership.js';
import { type ClusterInfo, PeerMethod } from './peer-methods.js';
import { checkAdd, checkPromote, checkRemove } from './member-checks.js';
import { Metrics } from './metrics.js';
import { type ApplyResult, Applier } from './apply.js';
import type { Feature } from './feature.js';
import { installFeatures } from './features.js';
/** How long a removed member keeps its loop running before it stops (etcd stops 10 ticks later). */
const REMOVED_STOP_DELAY_TICKS = 10;

/** Ticks a late timer may catch up in one go (see startLoop). */
const MAX_CATCH_UP_TICKS = 2;

interface Waiter {
  resolve(result: ApplyResult): void;
  reject(err: Error): void;
}

interface ReadWaiter {
  resolve(): void;
  reject(err: Error): void;
}

/** One request to propose: exactly one of InternalRaftRequest's request fields. */
export type ProposalBody = Partial<Omit<InternalRaftRequestT, 'header' | 'ID'>>;

export interface ServerStatus {
  readonly memberId: bigint;
  readonly clusterId: bigint;
  readonly leader: bigint;
  readonly term: number;
  readonly committedIndex: number;
  readonly appliedIndex: number;
  readonly isLearner: boolean;
}

/** What the server needs of the peer transport (src/server/peer: PeerTransport). */
export interface PeerNetwork {
  setPeer(id: bigint, peerUrls: readonly string[]): void;
  removePeer(id: bigint): void;
  send(msgs: readonly Message[]): void;
  sendSnapshot(m: Message, payload: SnapshotPayload): void;
  activeSince(id: bigint): number | undefined;
  call(to: bigint, method: string, payload: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** How the server reaches its peers: node.ts wires the real transport in. */
export interface PeerWiring {
  /** Starts serving this member's peer URLs; calls from peers go to `handler`. */
  listen(ids: { memberId: bigint; clusterId: bigint }, handler: PeerHandler, reports: DeliveryReports): Promise<PeerNetwork>;
  /** One unary call to a peer URL before this member knows its ids (joining an existing cluster). */
  callUrl(url: string, method: string, payload: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
}

export class EtcdServer {
  readonly metrics: Metrics;
  private readonly waiters = new Map<bigint, Waiter>();
  private pendingReads: ReadWaiter[] = [];
  /** ReadIndex requests sent to raft, by context, waiting for their read state. */
  private readonly readsInFlight = new Map<string, ReadWaiter[]>();
  /** Reads whose index is known, waiting for apply to reach it. */
  private readsAwaitingApply: Array<{ index: number; waiters: ReadWaiter[] }> = [];
  private readSeq = 0n;
  private nextRequestId: bigint;
  private loopRunning = false;
  private loopAgain = false;
  private ticker: NodeJS.Timeout | undefined;
  /** Proposals raft dropped, waiting to be submitted again (see waitFor). */
  private parked: Array<() => void> = [];
  private stopped = false;
  private appliedIndex: number;
  private snapshotIndex: number;
  private confState: ConfState;
  private leader: bigint = None;
  /** When this member last saw the leader change (for etcd's "possibly due to previous leader failure"). */
  private leaderChangedAt = 0;
  private published = false;
  private campaigned = false;
  private fatal: Error | undefined;
  private peers: PeerNetwork | undefined;
  /** Received backend files by snapshot index, until their snapshot is installed. */
  private readonly receivedDbs = new Map<number, string>();
  private sentSnapshots = 0;
  /** The backend already holds the effects of entries up to here (set on restart and snapshot install). */
  private skipDataUpTo: number;

  readonly memberId: bigint;
  readonly clusterId: bigint;
  private readonly rawNode: RawNode;
  private readonly wal: Wal;
  private readonly storage: MemoryStorage;
  private readonly snapshotter: Snapshotter;
  private readonly snapDir: string;
  readonly backend: Backend;
  readonly kv: KvStore;
  readonly membership: Membership;
  private readonly applier: Applier;
  /** Peers known before any conf change applies. */
  private readonly initialPeers: Boot['initialPeers'];

  private constructor(
    readonly config: ServerConfig,
    private readonly logger: Logger,
    boot: Boot,
    parts: BootParts,
  ) {
    this.memberId = boot.memberId;
    this.clusterId = boot.clusterId;
    this.rawNode = boot.rawNode;
    this.wal = boot.wal;
    this.appliedIndex = boot.applied;
    this.snapshotIndex = boot.snapshotIndex;
    this.confState = boot.confState;
    this.skipDataUpTo = boot.skipDataUpTo;
    this.initialPeers = boot.initialPeers;
    this.storage = parts.storage;
    this.snapshotter = parts.snapshotter;
    this.snapDir = parts.snapDir;
    this.backend = parts.backend;
    this.kv = parts.kv;
    this.membership = parts.membership;
    const applier = new Applier(parts.kv, parts.membership, logger);
    this.applier = applier;
    const { memberId, backend, kv } = this;
    // Request ids: the member's low 16 bits, then milliseconds, then a counter (etcd's idutil layout),
    // so ids from different members and different runs do not collide.
    this.nextRequestId = ((memberId & 0xffffn) << 48n) | ((BigInt(Date.now()) & 0xffffffffffn) << 8n);
    this.metrics = new Metrics({
      hasLeader: () => this.leader !== None,
      isLeader: () => this.leader === this.memberId,
      dbSize: () => this.backend.sizeBytes(),
      dbSizeInUse: () => this.backend.sizeInUseBytes(),
      keysTotal: () => this.kv.keyCount(),
      pendingProposals: () => this.waiters.size,
      term: () => this.rawNode.basicStatus().hardState.term,
      committedIndex: () => this.rawNode.basicStatus().hardState.commit,
      appliedIndex: () => this.appliedIndex,
    });
    this.features = installFeatures({
      config,
      logger,
      backend,
      kv,
      memberId,
      writeKv: (fn) => applier.writeKv(fn),
      propose: (body, as) => this.propose(body, as),
      isLeader: () => this.isLeader,
      setLeaseLookup: (lookup) => {
        applier.leases = lookup;
      },
      callLeader: (method, payload) => this.callLeader(method, payload),
    });
    applier.features = this.features;
  }

  readonly features: readonly Feature[];

  /** The installed feature of this type, for the API layer (e.g. the lessor for LeaseKeepAlive). */
  feature<T extends Feature>(type: abstract new (...args: never[]) => T): T | undefined {
    return this.features.find((f): f is T => f instanceof type);
  }

  /**
   * Opens (or creates) the data dir, starts the peer transport and the raft loop. A data dir with a WAL
   * restarts that member and ignores the --initial-cluster* flags, as etcd does.
   */
  static async start(config: ServerConfig, logger: Logger, wiring: PeerWiring): Promise<EtcdServer> {
    const memberDir = join(config.dataDir, 'member');
    const walDir = config.walDir !== '' ? config.walDir : join(memberDir, 'wal');
    const snapDir = join(memberDir, 'snap');
    mkdirSync(snapDir, { recursive: true, mode: 0o700 });
    EtcdServer.removeStaleFiles(snapDir, logger);
    const backend = Backend.open({ path: join(snapDir, 'db'), logger });
    let server: EtcdServer | undefined;
    try {
      const kv = KvStore.open(backend, { logger });
      const membership = new Membership(backend.members, backend.membersRemoved, logger);
      const snapshotter = new Snapshotter(snapDir, { logger });
      const storage = new MemoryStorage();
      const rng = new SeededRng(Number(BigInt.asUintN(32, BigInt(Date.now()))));
      const raftConfig = (id: bigint, applied: number) => ({
        id,
        electionTick: Math.max(2, Math.round(config.electionMs / config.heartbeatMs)),
        heartbeatTick: 1,
        storage,
        applied,
        maxSizePerMsg: 1024 * 1024,
        maxInflightMsgs: 512,
        maxUncommittedEntriesSize: 1 << 30,
        checkQuorum: true,
        preVote: true,
        rng,
        logger,
      });
      const parts: BootParts = { walDir, snapDir, backend, kv, membership, snapshotter, storage, raftConfig };

      // An empty data dir learns its initial cluster from the flags or, with --discovery, from a
      // discovery token (discovery.ts); a restart ignores both.
      const fresh = !Wal.exists(walDir);
      const bootConfig = fresh ? await resolveInitialCluster(config, logger) : config;
      const boot = fresh
        ? config.initialClusterState === 'new'
          ? await bootstrapNewMember(bootConfig, logger, parts)
          : await joinExistingCluster(bootConfig, logger, wiring.callUrl, parts)
        : await restartMember(config, logger, parts);
      server = new EtcdServer(config, logger, boot, parts);
      await server.startPeers(wiring);
      server.startLoop();
      return server;
    } catch (err) {
      if (server !== undefined) await server.stop();
      else await backend.close();
      throw err;
    }
  }

  /** Backend copies left by a crash while sending or receiving a snapshot. */
  private static removeStaleFiles(snapDir: string, logger: Logger): void {
    for (const name of readdirSync(snapDir)) {
      // A received backend (`%016x.snap.db`) is kept: restart may need it (see restart).
      if (name.startsWith('send-') && name.endsWith('.tmp')) {
        logger.info(`removing ${join(snapDir, name)} left by an interrupted snapshot transfer`);
        rmSync(join(snapDir, name), { force: true });
      }
    }
  }

  private async startPeers(wiring: PeerWiring): Promise<void> {
    const reports: DeliveryReports = {
      unreachable: (id) => {
        this.rawNode.reportUnreachable(id);
      },
      connectionLost: (id) => {
        this.rawNode.reportConnectionLost(id);
      },
      snapshotStatus: (id, ok) => {
        this.rawNode.reportSnapshot(id, ok ? 'finish' : 'failure');
        this.schedule();
      },
      removedFromCluster: (by) => {
        this.logger.error(`the member has been permanently removed from the cluster (told by ${idHex(by)}): stopping`);
        void this.stop();
      },
    };
    const handler: PeerHandler = {
      process: (m) => this.stepPeerMessage(m),
      receiveSnapshot: (m, dbPath) => this.receiveSnapshot(m, dbPath),
      isRemoved: (id) => this.membership.isRemoved(id),
      call: (method, payload, from) => this.answerPeer(method, payload, from),
    };
    this.peers = await wiring.listen({ memberId: this.memberId, clusterId: this.clusterId }, handler, reports);
    for (const m of this.initialPeers) this.peers.setPeer(m.id, m.peerUrls);
    this.syncPeers();
  }

  /** Points the transport at every member the membership knows (after conf changes and snapshots). */
  private syncPeers(): void {
    const peers = this.peers;
    if (peers === undefined) return;
    for (const m of this.membership.list()) if (m.id !== this.memberId) peers.setPeer(m.id, m.peerUrls);
  }

  /**
   * Ticks raft once per --heartbeat-interval of wall-clock time. Node's setInterval re-arms from when its
   * callback ran, so on a busy event loop every late tick pushes all later ones back and an election
   * timeout of 10-19 ticks stretches by 10-19 delays; counting ticks against the clock keeps timeouts at
   * their configured length (a Go ticker keeps its phase the same way). A long stall is not replayed as a
   * burst: at most MAX_CATCH_UP_TICKS per callback, then the schedule restarts from now.
   */
  private startLoop(): void {
    const interval = this.config.heartbeatMs;
    let due = performance.now() + interval;
    const onTimer = (): void => {
      if (this.stopped) return;
      const now = performance.now();
      let ticks = 0;
      // (A timer may fire a fraction of a millisecond before `due` by this clock: count that as due.)
      while (now >= due - 1 && ticks < MAX_CATCH_UP_TICKS) {
        this.rawNode.tick();
        due += interval;
        ticks++;
      }
      if (now >= due) due = now + interval;
      if (ticks > 0) {
        this.retryParked();
        this.schedule();
      }
      this.ticker = setTimeout(onTimer, Math.max(1, due - performance.now()));
    };
    this.ticker = setTimeout(onTimer, interval);
    this.schedule();
  }

  // ---- what peers send -------------------------------------------------------------------------------------

  private stepPeerMessage(m: Message): void {
    if (this.stopped) return;
    try {
      this.rawNode.step(m);
    } catch (err) {
      // A message raft cannot take (e.g. from a member it no longer knows) is dropped, as etcd drops it.
      this.logger.debug(`raft: dropped ${m.type} from ${idHex(m.from)}: ${(err as Error).message}`);
      return;
    }
    this.schedule();
  }

  /** The transport wrote the file as snap/%016x.snap.db (fsynced); its directory entry is made durable here. */
  private async receiveSnapshot(m: Message, dbPath: string): Promise<void> {
    if (this.stopped) throw new ServerStoppedError();
    const index = m.snapshot?.metadata.index ?? 0;
    // The WAL will record this snapshot: the file must survive a crash from then on.
    await syncDir(this.snapDir);
    this.receivedDbs.set(index, dbPath);
    this.logger.info(`received a snapshot at index ${index} from ${idHex(m.from)} (${statSync(dbPath).size} bytes of backend)`);
    this.stepPeerMessage(m);
  }

  private async answerPeer(method: string, payload: Uint8Array, from: bigint): Promise<Uint8Array> {
    switch (method) {
      case PeerMethod.members: {
        const info: ClusterInfo = {
          clusterId: idHex(this.clusterId),
          members: this.membership.list().map((m) => ({
            id: idHex(m.id),
            name: m.name,
            peerURLs: [...m.peerUrls],
            clientURLs: [...m.clientUrls],
            isLearner: m.isLearner,
          })),
        };
        return Buffer.from(JSON.stringify(info), 'utf8');
      }
      case PeerMethod.leaderHandOver: {
        if (!this.isLeader) throw new EtcdApiError('notLeader');
        return Uint8Array.of((await this.handOverLeadership('before this member is removed')) ? 1 : 0);
      }
      case PeerMethod.memberPromote: {
        if (!this.isLeader) throw new EtcdApiError('notLeader');
        const id = Buffer.from(payload).readBigUInt64BE(0);
        await this.promoteMemberAsLeader(id);
        return new Uint8Array(0);
      }
      default: {
        for (const f of this.features) {
          const answer = f.answerPeer?.(method, payload, from);
          if (answer !== undefined) return await answer;
        }
        throw new Error(`unknown peer method ${method}`);
      }
    }
  }

  /** A request only the leader can answer (lease renewals and TTLs), forwarded over the peer transport. */
  private async callLeader(method: string, payload: Uint8Array): Promise<Uint8Array> {
    const leader = this.leader;
    if (leader === None || this.peers === undefined) throw new EtcdApiError('noLeader');
    if (leader === this.memberId) throw new EtcdApiError('notLeader');
    try {
      return await this.peers.call(leader, method, payload, this.requestTimeoutMs());
    } catch (err) {
      throw asEtcdError(err as Error);
    }
  }

  // ---- requests -------------------------------------------------------------------------------------------

  /** The current raft term, read on every response header (no status snapshot allocated). */
  get term(): number {
    return this.rawNode.raft.term;
  }

  status(): ServerStatus {
    const st = this.rawNode.basicStatus();
    return {
      memberId: this.memberId,
      clusterId: this.clusterId,
      leader: st.softState.lead,
      term: st.hardState.term,
      committedIndex: st.hardState.commit,
      appliedIndex: this.appliedIndex,
      isLearner: this.membership.get(this.memberId)?.isLearner ?? false,
    };
  }

  /**
   * Proposes a request through raft and resolves with what applying it produced (or rejects with the
   * error apply raised). The caller has validated the request. On a follower raft forwards the proposal
   * to the leader; the follower answers once it has applied the entry itself.
   */
  propose(req: ProposalBody, opts: { username?: string; authRevision?: number } = {}): Promise<ApplyResult> {
    if (this.stopped) return Promise.reject(new ServerStoppedError());
    const id = this.nextRequestId++;
    // encode() reads only the fields present; every top-level field but ID is an optional message.
    const full = { ...req, ID: 0n, header: { ID: id, username: opts.username ?? '', authRevision: BigInt(opts.authRevision ?? 0) } } as InternalRaftRequestT;
    const data = InternalRaftRequest.encode(full).finish();
    if (data.length > this.config.maxRequestBytes) return Promise.reject(new EtcdApiError('requestTooLarge'));
    return this.waitFor(id, () => this.rawNode.propose(data));
  }

  /**
   * Registers a waiter for request `id`, runs `submit` (a raft proposal), and times out as etcd does.
   *
   * A proposal raft drops (no leader known during an election, a leadership transfer under way, too many
   * uncommitted bytes) was never appended anywhere, so it is parked and submitted again when a leader
   * appears and at every tick, until the request timeout: like etcd, whose proposals wait for a leader, a
   * client writing during an election or a rolling restart sees a slower write, not an error. One still
   * parked at the timeout fails with "no leader", a definite failure (nothing was proposed).
   */
  private waitFor(id: bigint, submit: () => void): Promise<ApplyResult> {
    return new Promise<ApplyResult>((resolve, reject) => {
      const started = performance.now();
      let state: 'parked' | 'proposed' | 'done' = 'parked';
      const fail = (err: Error) => {
        state = 'done';
        clearTimeout(timer);
        this.metrics.proposalsFailed.inc();
        reject(err);
      };
      const timer = setTimeout(() => {
        if (state === 'parked') fail(new EtcdApiError('noLeader'));
        else if (state === 'proposed' && this.waiters.delete(id)) {
          // etcd's parseProposeCtxErr: a leader change since the request started is the likely cause.
          fail(new EtcdApiError(this.leaderChangedAt > started ? 'timeoutDueToLeaderFail' : 'timeout'));
        }
      }, this.requestTimeoutMs());
      const attempt = () => {
        if (state !== 'parked') return;
        if (this.stopped) return fail(new ServerStoppedError());
        try {
          submit();
        } catch (err) {
          if (err instanceof ErrProposalDropped) this.parked.push(attempt);
          else fail(err as Error);
          return;
        }
        state = 'proposed';
        this.waiters.set(id, {
          resolve: (r) => {
            state = 'done';
            clearTimeout(timer);
            resolve(r);
          },
          reject: (e) => {
            state = 'done';
            clearTimeout(timer);
            reject(e);
          },
        });
        this.schedule();
      };
      attempt();
    });
  }

  /** Submits the parked proposals again (see waitFor); not while no leader is known (raft would drop them). */
  private retryParked(): void {
    if (this.parked.length === 0 || (this.leader === None && !this.stopped)) return;
    const parked = this.parked;
    this.parked = [];
    for (const attempt of parked) attempt();
  }

  /** etcd's request timeout: 5 s plus two election timeouts. */
  private requestTimeoutMs(): number {
    return 5000 + 2 * this.config.electionMs;
  }

  /**
   * Resolves once this member has applied everything committed before the call (raft's ReadIndex, which
   * a follower asks the leader for): after that, a read of the local store is linearizable. Concurrent
   * callers share one ReadIndex round.
   */
  readBarrier(): Promise<void> {
    if (this.stopped) return Promise.reject(new ServerStoppedError());
    if (this.leader === None) return Promise.reject(new EtcdApiError('noLeader'));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new EtcdApiError('timeout')), this.requestTimeoutMs());
      this.pendingReads.push({
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.schedule();
    });
  }

  // ---- membership -----------------------------------------------------------------------------------------

  /** MemberAdd: a new member (voter or learner) with a fresh id; it starts later with state=existing. */
  async addMember(peerUrls: readonly string[], isLearner: boolean): Promise<{ member: Member; members: Member[] }> {
    const urls = [...peerUrls];
    if (this.membership.peerUrlTaken(urls, None)) throw new EtcdApiError('peerURLExist');
    checkAdd(this.memberId, this.membership.list(), isLearner, (id) => this.peers?.activeSince(id), Date.now());
    const id = memberIdFor(urls, '', Math.floor(Date.now() / 1000));
    await this.proposeConfChange({
      type: isLearner ? ConfChangeType.AddLearnerNode : ConfChangeType.AddNode,
      nodeId: id,
      context: encodeMemberContext({ id, peerUrls: urls, isLearner }),
    });
    const member = this.membership.get(id);
    if (member === undefined) throw new EtcdApiError('memberNotFound');
    return { member, members: this.membership.list() };
  }

  /**
   * MemberRemove. Removing the leader hands leadership to another voter first, so the cluster does not
   * wait out an election timeout without a leader.
   */
  async removeMember(id: bigint): Promise<Member[]> {
    if (this.membership.isRemoved(id) || this.membership.get(id) === undefined) throw new EtcdApiError('memberNotFound');
    checkRemove(this.memberId, this.membership.list(), id, (m) => this.peers?.activeSince(m), Date.now());
    // Removing the leader: it hands leadership to another voter first (only a leader can), so the
    // cluster does not sit out an election timeout; the removal is then proposed as any other.
    if (id === this.leader) {
      const handedOver =
        id === this.memberId
          ? await this.handOverLeadership('before this member is removed')
          : (await this.callLeader(PeerMethod.leaderHandOver, new Uint8Array(0)))[0] === 1;
      // This member may learn of the new leader a heartbeat later than the old one did. (Without another
      // voter to hand over to, the removal goes ahead under the current leader.)
      const deadline = performance.now() + this.requestTimeoutMs();
      while (handedOver && (this.leader === None || this.leader === id) && !this.stopped && performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, this.config.heartbeatMs));
      }
    }
    await this.proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: id, context: new Uint8Array(0) });
    return this.membership.list();
  }

  /** MemberUpdate: new peer URLs for a member. */
  async updateMember(id: bigint, peerUrls: readonly string[]): Promise<Member[]> {
    const m = this.membership.get(id);
    if (m === undefined || this.membership.isRemoved(id)) throw new EtcdApiError('memberNotFound');
    if (this.membership.peerUrlTaken(peerUrls, id)) throw new EtcdApiError('peerURLExist');
    await this.proposeConfChange({
      type: ConfChangeType.UpdateNode,
      nodeId: id,
      context: encodeMemberContext({ id, peerUrls: [...peerUrls], isLearner: m.isLearner }),
    });
    return this.membership.list();
  }

  /** MemberPromote: on the leader (which knows the learner's progress); a follower forwards it there. */
  async promoteMember(id: bigint): Promise<Member[]> {
    const m = this.membership.get(id);
    if (m === undefined || this.membership.isRemoved(id)) throw new EtcdApiError('memberNotFound');
    if (!m.isLearner) throw new EtcdApiError('memberNotLearner');
    if (this.isLeader) {
      await this.promoteMemberAsLeader(id);
    } else {
      await this.callLeader(PeerMethod.memberPromote, idBytes(id));
    }
    return this.membership.list();
  }

  private async promoteMemberAsLeader(id: bigint): Promise<void> {
    const m = this.membership.get(id);
    if (m === undefined || this.membership.isRemoved(id)) throw new EtcdApiError('memberNotFound');
    if (!m.isLearner) throw new EtcdApiError('memberNotLearner');
    const progress = this.rawNode.status().progress;
    checkPromote(this.membership.list(), progress.get(id)?.match, progress.get(this.memberId)?.match ?? 0);
    await this.proposeConfChange({
      type: ConfChangeType.AddNode,
      nodeId: id,
      context: encodeMemberContext({ id, peerUrls: m.peerUrls, isLearner: false, isPromote: true }),
    });
  }

  private proposeConfChange(cc: Omit<ConfChange, 'id'>): Promise<void> {
    if (this.stopped) return Promise.reject(new ServerStoppedError());
    const id = this.nextRequestId++;
    return this.waitFor(id, () => this.rawNode.proposeConfChange({ ...cc, id })).then((r) => {
      if (r.error) throw r.error;
    });
  }

  /** Moves leadership to the best other voter, if there is one (this member must lead); false if there is none. */
  private async handOverLeadership(why: string, opts: { whileConnected?: boolean } = {}): Promise<boolean> {
    const transferee = this.bestTransferee();
    if (transferee === undefined) return false;
    this.logger.info(`leadership transfer starting: ${idHex(this.memberId)} -> ${idHex(transferee)} ${why}`);
    await this.moveLeader(transferee, opts);
    return true;
  }

  /**
   * Before a graceful stop (SIGTERM), as etcd's Stop does: a leader with other voters connected hands
   * leadership to the best of them and waits (up to the request timeout) until it leads, so that a rolling
   * restart costs no election and fails no client request. A failure is logged; the stop goes on anyway.
   */
  async transferLeadershipOnShutdown(): Promise<void> {
    if (this.stopped || !this.isLeader) return;
    const t0 = performance.now();
    try {
      if (await this.handOverLeadership('before shutting down', { whileConnected: true })) {
        this.logger.info(`leadership transfer finished in ${Math.round(performance.now() - t0)} ms: ${idHex(this.leader)} leads`);
      }
    } catch (err) {
      this.logger.warn(`leadership transfer failed, stopping anyway: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** The voter (not this member) with the longest log, connected now: the best next leader. */
  private bestTransferee(): bigint | undefined {
    let best: bigint | undefined;
    let bestMatch = -1;
    for (const [id, pr] of this.rawNode.status().progress) {
      if (id === this.memberId || !this.confState.voters.includes(id)) continue;
      if (this.peers?.activeSince(id) === undefined) continue;
      if (pr.match > bestMatch) {
        best = id;
        bestMatch = pr.match;
      }
    }
    return best;
  }

  /**
   * MoveLeader: hands leadership to `transferee` (a voter) and waits until it leads. Only on the leader.
   * `whileConnected` (a shutdown's hand-over): gives up as soon as the transferee's connection is gone (it is
   * stopping too, as in a whole-cluster stop) instead of waiting out the request timeout.
   */
  async moveLeader(transferee: bigint, opts: { whileConnected?: boolean } = {}): Promise<void> {
    if (!this.isLeader) throw new EtcdApiError('notLeader');
    const m = this.membership.get(transferee);
    if (m === undefined || m.isLearner) throw new EtcdApiError('badLeaderTransferee');
    if (transferee === this.memberId) return;
    this.rawNode.transferLeader(transferee);
    this.schedule();
    const deadline = performance.now() + this.requestTimeoutMs();
    while (this.leader !== transferee) {
      if (this.stopped) throw new ServerStoppedError();
      if (performance.now() > deadline) throw new EtcdApiError('timeoutLeaderTransfer');
      if (opts.whileConnected === true && this.peers?.activeSince(transferee) === undefined) {
        throw new Error(`${idHex(transferee)} disconnected during the transfer`);
      }
      await new Promise((r) => setTimeout(r, this.config.heartbeatMs));
    }
  }

  // ---- the raft loop ---------------------------------------------------------------------------------------

  private schedule(): void {
    if (this.loopRunning) {
      this.loopAgain = true;
      return;
    }
    this.loopRunning = true;
    this.loopDone = new Promise<void>((resolve) => {
      setImmediate(() => {
        void this.runLoop().finally(resolve);
      });
    });
  }

  /** Settles when the running (or scheduled) loop pass has finished: stop() waits for it before closing files. */
  private loopDone: Promise<void> = Promise.resolve();

  private async runLoop(): Promise<void> {
    try {
      do {
        this.loopAgain = false;
        this.flushReads();
        while (!this.stopped && this.rawNode.hasReady()) await this.handleReady();
      } while (this.loopAgain && !this.stopped);
    } catch (err) {
      this.die(err as Error);
    } finally {
      this.loopRunning = false;
    }
  }

  /** Sends one ReadIndex for every read that arrived since the last one. */
  private flushReads(): void {
    if (this.pendingReads.length === 0) return;
    const waiters = this.pendingReads;
    this.pendingReads = [];
    // The leader keeps one pending ReadIndex per context: contexts must be unique across members, hence
    // this member's id before the counter.
    const ctx = Buffer.alloc(16);
    ctx.writeBigUInt64BE(this.memberId, 0);
    ctx.writeBigUInt64BE(++this.readSeq, 8);
    this.readsInFlight.set(ctx.toString('hex'), waiters);
    this.rawNode.readIndex(ctx);
  }

  private async handleReady(): Promise<void> {
    const rd = this.rawNode.ready();
    if (rd.softState !== undefined && rd.softState.lead !== this.leader) {
      const was = this.leader;
      this.leader = rd.softState.lead;
      this.leaderChangedAt = performance.now();
      if (this.leader !== None) this.metrics.leaderChanges.inc();
      this.logger.info(
        `raft: ${this.leader === None ? 'lost leader' : `leader is ${idHex(this.leader)}`}${was !== None ? ` (was ${idHex(was)})` : ''} at term ${this.rawNode.basicStatus().hardState.term}`,
      );
      // A ReadIndex in flight may never be answered by a new leader: fail it so the client retries.
      if (was !== None) this.failReadsInFlight(new EtcdApiError('leaderChanged'));
      if (this.leader !== None) queueMicrotask(() => this.retryParked());
      const leads = this.leader === this.memberId;
      if (leads !== (was === this.memberId)) for (const f of this.features) f.onLeaderChange?.(leads);
    }

    // 1. persist: a received snapshot first (the .snap file, then the WAL's record of it), then the entries.
    const snapshot = rd.snapshot !== undefined && !isEmptySnap(rd.snapshot) ? rd.snapshot : undefined;
    if (snapshot !== undefined) {
      await this.snapshotter.save(snapshot);
      await this.wal.saveSnapshot({ index: snapshot.metadata.index, term: snapshot.metadata.term, confState: snapshot.metadata.confState });
    }
    if (rd.hardState !== undefined || rd.entries.length > 0) {
      const t0 = performance.now();
      await this.wal.save(rd.hardState, rd.entries);
      if (rd.mustSync) this.metrics.walFsync.observe((performance.now() - t0) / 1000);
    }
    if (snapshot !== undefined) this.storage.applySnapshot(snapshot);
    if (rd.hardState !== undefined) this.storage.setHardState(rd.hardState);
    if (rd.entries.length > 0) this.storage.append(rd.entries);

    // 2. send
    if (rd.messages.length > 0) await this.send(rd.messages);

    // 3. apply: the snapshot's state, then the committed entries
    if (snapshot !== undefined) await this.installSnapshot(snapshot);
    for (const rs of rd.readStates) {
      const key = Buffer.from(rs.requestCtx).toString('hex');
      const waiters = this.readsInFlight.get(key);
      if (waiters === undefined) continue;
      this.readsInFlight.delete(key);
      this.readsAwaitingApply.push({ index: rs.index, waiters });
    }
    let removedSelf = false;
    if (rd.committedEntries.length > 0) {
      // A defragmentation swaps the backend file: applies wait for it (etcd blocks writes during defrag too).
      await this.backend.whenWritable();
      removedSelf = this.apply(rd.committedEntries);
    }
    this.releaseReads();

    this.rawNode.advance();
    if (removedSelf) {
      // etcd's stopWithDelay: keep the loop running a few heartbeats so that a leader that removed itself
      // still sends the commit of its RemoveNode (and hands over) before it goes.
      this.logger.warn('the member has been permanently removed from the cluster: stopping');
      setTimeout(() => void this.stop(), REMOVED_STOP_DELAY_TICKS * this.config.heartbeatMs).unref();
    }
    // The only voter need not wait out an election timeout to lead (once its configuration is applied).
    if (!this.campaigned && this.leader === None && this.confState.voters.length === 1 && this.confState.voters[0] === this.memberId) {
      this.campaigned = true;
      this.rawNode.campaign();
      this.loopAgain = true;
    }
    if (this.appliedIndex - this.snapshotIndex >= this.config.snapshotCount) await this.snapshot();
    else this.trimRaftLog();
    if (!this.published && this.leader !== None) this.publish();
  }

  /**
   * Hands the Ready's messages to the transport. A MsgSnap is rebuilt at the applied index with a copy of
   * the backend taken in the same instant (nothing applies while the loop awaits the copy), so the
   * follower installs a backend whose applied index is exactly the snapshot's: the entries after it then
   * apply on the follower as they did here, conf changes included.
   */
  private async send(messages: readonly Message[]): Promise<void> {
    const peers = this.peers;
    if (peers === undefined) return;
    if (!messages.some((m) => m.type === MessageType.MsgSnap)) {
      peers.send(messages);
      return;
    }
    const plain: Message[] = [];
    for (const m of messages) {
      if (m.type !== MessageType.MsgSnap) {
        plain.push(m);
        continue;
      }
      await this.sendSnapshot(peers, m);
    }
    if (plain.length > 0) peers.send(plain);
  }

  private async sendSnapshot(peers: PeerNetwork, m: Message): Promise<void> {
    const path = join(this.snapDir, `send-${idHex(m.to)}-${++this.sentSnapshots}.tmp`);
    try {
      rmSync(path, { force: true });
      const index = this.appliedIndex;
      let snap = this.storage.snapshot();
      if (snap.metadata.index < index) snap = this.storage.createSnapshot(index, this.confState, this.membership.snapshotData());
      await this.backend.copyTo(path);
      const size = statSync(path).size;
      this.logger.info(`sending a snapshot at index ${index} to ${idHex(m.to)} (${size} bytes of backend)`);
      let released = false;
      peers.sendSnapshot(
        { ...m, snapshot: snap },
        {
          path,
          size,
          release: () => {
            if (released) return;
            released = true;
            rmSync(path, { force: true });
          },
        },
      );
    } catch (err) {
      rmSync(path, { force: true });
      this.logger.warn(`snapshot for ${idHex(m.to)} not sent: ${(err as Error).message}`);
      this.rawNode.reportSnapshot(m.to, 'failure');
    }
  }

  /**
   * Replaces this member's state with a snapshot received from the leader: the backend file that came with
   * it becomes member/snap/db, and the store, the membership and every feature reload from it.
   */
  private async installSnapshot(snap: Snapshot): Promise<void> {
    const index = snap.metadata.index;
    const db = this.receivedDbs.get(index);
    if (db === undefined) throw new Error(`kvserver: raft handed over a snapshot at ${index} whose backend file did not arrive`);
    this.receivedDbs.delete(index);
    const t0 = performance.now();
    await this.kv.pauseCompactions();
    await this.backend.replaceWith(db);
    await this.kv.reload();
    this.membership.reload();
    for (const f of this.features) f.onRestore?.();
    this.confState = snap.metadata.confState;
    this.appliedIndex = index;
    this.snapshotIndex = index;
    this.skipDataUpTo = this.backend.consistentIndex().index;
    this.syncPeers();
    for (const [i, path] of this.receivedDbs) {
      if (i > index) continue;
      rmSync(path, { force: true });
      this.receivedDbs.delete(i);
    }
    this.logger.info(`installed the snapshot at index ${index} in ${Math.round(performance.now() - t0)} ms (revision ${this.kv.currentRevision})`);
  }

  /** Applies committed entries; returns whether one of them removed this member. */
  private apply(entries: readonly Entry[]): boolean {
    const answers: Array<[bigint, ApplyResult]> = [];
    const t0 = performance.now();
    let confChanged: boolean;
    try {
      confChanged = this.applyBatch(entries, answers);
    } catch (err) {
      this.applier.discard();
      throw err;
    }
    this.applier.afterCommit();
    const last = entries[entries.length - 1];
    this.metrics.backendCommit.observe((performance.now() - t0) / 1000);
    this.metrics.proposalsCommitted.inc(entries.length);
    this.metrics.proposalsApplied.inc(entries.length);
    if (last !== undefined) this.appliedIndex = last.index;
    let removedSelf = false;
    if (confChanged) {
      this.syncPeers();
      for (const id of this.removedPeers.splice(0)) if (id !== this.memberId) this.peers?.removePeer(id);
      removedSelf = this.membership.isRemoved(this.memberId);
    }
    for (const [id, result] of answers) {
      const w = this.waiters.get(id);
      this.waiters.delete(id);
      w?.resolve(result);
    }
    return removedSelf;
  }

  /** Members removed by the conf changes of the current apply: the transport forgets them after it. */
  private readonly removedPeers: bigint[] = [];

  /** Returns whether a conf change applied. */
  private applyBatch(entries: readonly Entry[], answers: Array<[bigint, ApplyResult]>): boolean {
    let last: Entry | undefined;
    let confChanged = false;
    this.backend.batch(() => {
      for (const e of entries) {
        if (e.type === EntryType.ConfChange) {
          const cc = decodeConfChange(e.data);
          const result = this.applyConfChange(cc, e.index);
          if (this.waiters.has(cc.id)) answers.push([cc.id, result]);
          confChanged = true;
        } else if (e.type === EntryType.Normal && e.data.length > 0 && e.index > this.skipDataUpTo) {
          const req = InternalRaftRequest.decode(e.data);
          const result = this.applier.apply(req, e.index);
          const id = req.header?.ID ?? req.ID;
          if (this.waiters.has(id)) answers.push([id, result]);
        }
        last = e;
      }
      if (last !== undefined) this.backend.setConsistentIndex(last.index, last.term);
    });
    return confChanged;
  }

  /**
   * etcd's applyConfChange: validated against the membership first; an invalid change (two proposals
   * raced) is applied to raft as a no-op so every member's configuration stays the same. The resulting
   * configuration is recorded in the backend with the applied index (restart resumes from it).
   */
  private applyConfChange(cc: ConfChange, index: number): ApplyResult {
    const replay = index <= this.skipDataUpTo;
    const err = replay ? undefined : this.membership.validateConfChange(cc);
    if (err !== undefined) {
      this.confState = this.rawNode.applyConfChange({ ...cc, nodeId: None });
      this.logger.warn(`membership: conf change ${cc.type} for ${idHex(cc.nodeId)} refused at apply: ${err.message}`);
      return { response: undefined, error: err };
    }
    this.confState = this.rawNode.applyConfChange(cc);
    this.membership.applyConfChange(cc);
    if (cc.type === ConfChangeType.RemoveNode) this.removedPeers.push(cc.nodeId);
    writeConfState(this.backend, this.confState);
    return { response: undefined, error: undefined };
  }

  private releaseReads(): void {
    if (this.readsAwaitingApply.length === 0) return;
    const still: typeof this.readsAwaitingApply = [];
    for (const r of this.readsAwaitingApply) {
      if (r.index <= this.appliedIndex) for (const w of r.waiters) w.resolve();
      else still.push(r);
    }
    this.readsAwaitingApply = still;
  }

  private failReadsInFlight(err: Error): void {
    for (const waiters of this.readsInFlight.values()) for (const w of waiters) w.reject(err);
    this.readsInFlight.clear();
  }

  /** Publishes this member's name and client URLs through raft, once, as etcd does at start. */
  private publish(): void {
    this.published = true;
    this.propose({
      clusterMemberAttrSet: {
        memberID: this.memberId,
        memberAttributes: { name: this.config.name, clientUrls: this.config.advertiseClientUrls.map(urlString) },
      },
    }).then(
      () => {
        this.logger.info(`published name=${this.config.name} clientURLs=${this.config.advertiseClientUrls.map(urlString).join(',')} to cluster ${idHex(this.clusterId)}`);
        this.markReady();
      },
      (err: unknown) => {
        this.logger.warn(`publish: ${(err as Error).message}; will retry`);
        this.published = false;
      },
    );
  }

  private readyWaiters: Array<() => void> = [];
  private ready = false;

  private markReady(): void {
    this.ready = true;
    for (const w of this.readyWaiters) w();
    this.readyWaiters = [];
  }

  /** Resolves once the member has a leader and has published itself (etcd's ReadyNotify). */
  readyNotify(timeoutMs: number): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new DataDirError(`the member did not become ready within ${timeoutMs} ms (no leader elected?)`)),
        timeoutMs,
      );
      this.readyWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * Keeps the in-memory raft log short between disk snapshots. etcd holds every entry since its last
   * snapshot (up to --snapshot-count, 100,000 by default) in memory; here applied entries older than the
   * catch-up window are dropped behind an in-memory snapshot of the applied state (the WAL still has them
   * all, and a follower that needs older entries gets a snapshot of the backend, as it would after a disk
   * snapshot). This bounds memory by the catch-up window instead of by --snapshot-count.
   */
  private trimRaftLog(): void {
    const keep = this.config.snapshotCatchUpEntries;
    if (this.appliedIndex - this.storage.firstIndex() < 2 * keep) return;
    if (this.appliedIndex <= this.storage.snapshot().metadata.index) return;
    this.storage.createSnapshot(this.appliedIndex, this.confState, this.membership.snapshotData());
    this.storage.compact(this.appliedIndex - keep);
  }

  /** Saves a snapshot at the applied index and releases the WAL and raft log before it. */
  private async snapshot(): Promise<void> {
    const t0 = performance.now();
    const index = this.appliedIndex;
    // The backend must be durable up to `index` before the WAL that could replay it is released.
    await this.backend.sync();
    const snap: Snapshot =
      this.storage.snapshot().metadata.index === index
        ? this.storage.snapshot()
        : this.storage.createSnapshot(index, this.confState, this.membership.snapshotData());
    await this.snapshotter.save(snap);
    await this.wal.saveSnapshot({ index, term: snap.metadata.term, confState: snap.metadata.confState });
    this.snapshotIndex = index;
    const compactTo = index - this.config.snapshotCatchUpEntries;
    if (compactTo > this.storage.firstIndex()) this.storage.compact(compactTo);
    this.wal.releaseLockTo(index);
    const purgedWals = await this.wal.purge(this.config.maxWals);
    const purgedSnaps = await this.snapshotter.purge(this.config.maxSnapshots);
    this.metrics.snapshotSave.observe((performance.now() - t0) / 1000);
    this.logger.info(
      `saved snapshot at index ${index}${purgedWals.length + purgedSnaps.length > 0 ? `; purged ${[...purgedWals, ...purgedSnaps].join(', ')}` : ''}`,
    );
  }

  /** An error in the loop leaves state that cannot be trusted: stop serving rather than guess. */
  private die(err: Error): void {
    this.fatal = err;
    this.logger.error(`kvserver: fatal: ${err.stack ?? err.message}`);
    void this.stop();
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  get fatalError(): Error | undefined {
    return this.fatal;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.ticker) clearTimeout(this.ticker);
    const stopped = new ServerStoppedError();
    for (const w of this.waiters.values()) w.reject(stopped);
    this.waiters.clear();
    this.retryParked(); // each fails with ServerStoppedError
    for (const w of this.pendingReads) w.reject(stopped);
    this.pendingReads = [];
    this.failReadsInFlight(stopped);
    for (const r of this.readsAwaitingApply) for (const w of r.waiters) w.reject(stopped);
    this.readsAwaitingApply = [];
    // Let an in-flight Ready finish (a WAL write, a backend copy or swap) before closing files under it.
    await this.loopDone;
    await this.peers?.close();
    for (const f of this.features) await f.close?.();
    await this.wal.close();
    await this.kv.close();
    await this.backend.close();
    // Received backend files stay: a restart may need one to finish installing its snapshot.
    this.onStopped?.();
  }

  onStopped: (() => void) | undefined;

  /** Whether this member is a learner now (checked on every RPC: a map lookup). */
  get isLearner(): boolean {
    return this.membership.get(this.memberId)?.isLearner ?? false;
  }

  get isLeader(): boolean {
    return this.leader === this.memberId && this.rawNode.basicStatus().softState.raftState === StateType.Leader;
  }

  /** The members this member's transport is connected to now (for endpoint health and the dashboard). */
  activeSince(id: bigint): number | undefined {
    return id === this.memberId ? Date.now() : this.peers?.activeSince(id);
  }
}

/** An error that came back over the peer transport: etcd's own error again when its message is one. */
function asEtcdError(err: Error): Error {
  const name = etcdErrorOf(err.message);
  return name !== undefined ? new EtcdApiError(name) : err;
}

function idBytes(id: bigint): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(id);
  return b;
}

