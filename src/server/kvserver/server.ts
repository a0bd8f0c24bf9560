/**
 * The node's core (etcd's etcdserver): it owns the raft node, the WAL, the snapshots, the backend and
 * the MVCC store, and runs the loop that moves requests through them.
 *
 * The raft loop, in the order raft's Ready contract requires (src/server/raft/README.md):
 *   1. persist: wal.save(hardState, entries) with one fdatasync for the whole batch (group commit), then
 *      the raft log in memory;
 *   2. send messages (none while the cluster has one member; the peer transport comes with clusters);
 *   3. apply committed entries in ONE backend transaction that also records the applied index, so a replay
 *      after a crash skips what the backend already has; then answer the waiting requests;
 *   4. advance, and take a snapshot every --snapshot-count applied entries (backend synced first, .snap
 *      file before the WAL's snapshot record, old WAL segments and .snap files purged).
 * Proposals made while a Ready is being persisted are batched by raft into the next one, which is what
 * makes one fsync serve many clients.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import type { Logger } from '../../base/logger.js';
import { SeededRng } from '../../base/rng.js';
import { EtcdApiError } from '../../proto/errors.js';
import {
  InternalRaftRequest,
  type InternalRaftRequest as InternalRaftRequestT,
} from '../../proto/gen/etcdserverpb/raft_internal.js';
import {
  type ConfState,
  type Entry,
  EntryType,
  ErrProposalDropped,
  MemoryStorage,
  None,
  RawNode,
  type Snapshot,
  StateType,
  decodeConfChange,
  emptyConfState,
} from '../raft/index.js';
import { Backend } from '../mvcc/backend.js';
import { KvStore } from '../mvcc/kvstore.js';
import { Snapshotter } from '../snap/index.js';
import { Wal, decodeWalMetadata, encodeWalMetadata } from '../wal/index.js';
import { type ServerConfig, urlString } from './config.js';
import { DataDirError, ServerStoppedError } from './errors.js';
import { clusterIdFor, idHex, memberIdFor } from './ids.js';
import { Membership, encodeMemberContext } from './membership.js';
import { Metrics } from './metrics.js';
import { type ApplyResult, Applier } from './apply.js';
import type { Feature } from './feature.js';
import { installFeatures } from './features.js';

/** How many entries a snapshot leaves in the raft log so that slow followers catch up without it (etcd's). */
const SNAPSHOT_CATCH_UP_ENTRIES = 5000;

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
  private stopped = false;
  private appliedIndex: number;
  private snapshotIndex: number;
  private confState: ConfState;
  private leader: bigint = None;
  private published = false;
  private campaigned = false;
  private fatal: Error | undefined;

  private constructor(
    readonly config: ServerConfig,
    readonly memberId: bigint,
    readonly clusterId: bigint,
    private readonly logger: Logger,
    private readonly rawNode: RawNode,
    private readonly storage: MemoryStorage,
    private readonly wal: Wal,
    private readonly snapshotter: Snapshotter,
    readonly backend: Backend,
    readonly kv: KvStore,
    readonly membership: Membership,
    private readonly applier: Applier,
    appliedIndex: number,
    snapshotIndex: number,
    confState: ConfState,
  ) {
    this.appliedIndex = appliedIndex;
    this.snapshotIndex = snapshotIndex;
    this.confState = confState;
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
    });
    applier.features = this.features;
  }

  readonly features: readonly Feature[];

  /** The installed feature of this type, for the API layer (e.g. the lessor for LeaseKeepAlive). */
  feature<T extends Feature>(type: abstract new (...args: never[]) => T): T | undefined {
    return this.features.find((f): f is T => f instanceof type);
  }

  /** Opens (or creates) the data dir and starts the raft loop. */
  static async start(config: ServerConfig, logger: Logger): Promise<EtcdServer> {
    const memberDir = join(config.dataDir, 'member');
    const walDir = config.walDir !== '' ? config.walDir : join(memberDir, 'wal');
    const snapDir = join(memberDir, 'snap');
    mkdirSync(snapDir, { recursive: true, mode: 0o700 });
    const backend = Backend.open({ path: join(snapDir, 'db'), logger });
    try {
      const kv = KvStore.open(backend, { logger });
      const membership = new Membership(backend.members, logger);
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

      if (!Wal.exists(walDir)) {
        if (config.initialClusterState !== 'new') {
          throw new DataDirError(
            `no data in ${config.dataDir} and --initial-cluster-state=existing: joining an existing cluster needs the peer transport, which this node does not have yet`,
          );
        }
        return await EtcdServer.bootstrapNew(config, logger, { walDir, backend, kv, membership, snapshotter, storage, raftConfig });
      }

      // Restart: the newest snapshot that the WAL knows, then the WAL after it.
      const walSnaps = await Wal.listSnapshots(walDir);
      const snap = await snapshotter.loadNewestAvailable(walSnaps);
      const at = snap ? { index: snap.metadata.index, term: snap.metadata.term } : { index: 0, term: 0 };
      const wal = await Wal.open(walDir, at, { logger });
      const { metadata, hardState, entries } = await wal.readAll();
      const { nodeId, clusterId } = decodeWalMetadata(metadata);
      if (snap) storage.applySnapshot(snap);
      storage.setHardState(hardState);
      storage.append(entries);
      const ci = backend.consistentIndex().index;
      if (snap && ci < snap.metadata.index) {
        throw new DataDirError(
          `${join(snapDir, 'db')} is older (applied index ${ci}) than the snapshot at ${snap.metadata.index}: the backend file was replaced or lost`,
        );
      }
      // Raft replays from the snapshot: data entries the backend already holds are skipped by index, but
      // conf changes are re-applied to raft so that it rebuilds its configuration.
      const snapIndex = snap?.metadata.index ?? 0;
      const rawNode = new RawNode(raftConfig(nodeId, snapIndex));
      const applier = new Applier(kv, membership, logger);
      const server = new EtcdServer(
        config, nodeId, clusterId, logger, rawNode, storage, wal, snapshotter, backend, kv, membership, applier,
        snapIndex, snapIndex, snap?.metadata.confState ?? emptyConfState,
      );
      server.skipDataUpTo = ci;
      logger.info(
        `restarted member ${idHex(nodeId)} in cluster ${idHex(clusterId)} at commit index ${hardState.commit} (backend applied ${ci}, snapshot ${snapIndex})`,
      );
      server.startLoop();
      return server;
    } catch (err) {
      await backend.close();
      throw err;
    }
  }

  private static async bootstrapNew(
    config: ServerConfig,
    logger: Logger,
    p: {
      walDir: string;
      backend: Backend;
      kv: KvStore;
      membership: Membership;
      snapshotter: Snapshotter;
      storage: MemoryStorage;
      raftConfig: (id: bigint, applied: number) => ConstructorParameters<typeof RawNode>[0];
    },
  ): Promise<EtcdServer> {
    const peers = [...config.initialCluster.entries()].map(([name, urls]) => ({
      name,
      peerUrls: urls.map(urlString),
      id: memberIdFor(urls.map(urlString), config.initialClusterToken),
    }));
    const self = peers.find((m) => m.name === config.name);
    if (self === undefined) throw new DataDirError(`--initial-cluster has no member named ${config.name}`);
    if (peers.length > 1) {
      throw new DataDirError(
        `--initial-cluster lists ${peers.length} members: clusters of more than one member need the peer transport, which this node does not have yet`,
      );
    }
    const clusterId = clusterIdFor(peers.map((m) => m.id));
    const wal = await Wal.create(p.walDir, encodeWalMetadata({ nodeId: self.id, clusterId }), { logger });
    const rawNode = new RawNode(p.raftConfig(self.id, 0));
    rawNode.bootstrap(peers.map((m) => ({ id: m.id, context: encodeMemberContext({ id: m.id, peerUrls: m.peerUrls, isLearner: false }) })));
    const applier = new Applier(p.kv, p.membership, logger);
    const server = new EtcdServer(
      config, self.id, clusterId, logger, rawNode, p.storage, wal, p.snapshotter, p.backend, p.kv, p.membership, applier,
      0, 0, emptyConfState,
    );
    logger.info(`started new member ${idHex(self.id)} in new cluster ${idHex(clusterId)}`);
    server.startLoop();
    return server;
  }

  /** The backend already holds the effects of entries up to here (set on restart). */
  private skipDataUpTo = 0;

  private startLoop(): void {
    this.ticker = setInterval(() => {
      this.rawNode.tick();
      this.schedule();
    }, this.config.heartbeatMs);
    this.schedule();
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
   * error apply raised). The caller has validated the request.
   */
  propose(req: ProposalBody, opts: { username?: string; authRevision?: number } = {}): Promise<ApplyResult> {
    if (this.stopped) return Promise.reject(new ServerStoppedError());
    if (this.leader === None) return Promise.reject(new EtcdApiError('noLeader'));
    const id = this.nextRequestId++;
    // encode() reads only the fields present; every top-level field but ID is an optional message.
    const full = { ...req, ID: 0n, header: { ID: id, username: opts.username ?? '', authRevision: BigInt(opts.authRevision ?? 0) } } as InternalRaftRequestT;
    const data = InternalRaftRequest.encode(full).finish();
    if (data.length > this.config.maxRequestBytes) return Promise.reject(new EtcdApiError('requestTooLarge'));
    return new Promise<ApplyResult>((resolve, reject) => {
      try {
        this.rawNode.propose(data);
      } catch (err) {
        this.metrics.proposalsFailed.inc();
        reject(err instanceof ErrProposalDropped ? new EtcdApiError('noLeader') : (err as Error));
        return;
      }
      const timer = setTimeout(() => {
        if (this.waiters.delete(id)) {
          this.metrics.proposalsFailed.inc();
          reject(new EtcdApiError('timeout'));
        }
      }, this.requestTimeoutMs());
      this.waiters.set(id, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.schedule();
    });
  }

  /** etcd's request timeout: 5 s plus two election timeouts. */
  private requestTimeoutMs(): number {
    return 5000 + 2 * this.config.electionMs;
  }

  /**
   * Resolves once this member has applied everything committed before the call (raft's ReadIndex): after
   * that, a read of the local store is linearizable. Concurrent callers share one ReadIndex round.
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

  // ---- the raft loop ---------------------------------------------------------------------------------------

  private schedule(): void {
    if (this.loopRunning) {
      this.loopAgain = true;
      return;
    }
    this.loopRunning = true;
    setImmediate(() => {
      void this.runLoop();
    });
  }

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
    const ctx = Buffer.alloc(8);
    ctx.writeBigUInt64BE(++this.readSeq);
    this.readsInFlight.set(ctx.toString('hex'), waiters);
    this.rawNode.readIndex(ctx);
  }

  private async handleReady(): Promise<void> {
    const rd = this.rawNode.ready();
    if (rd.softState !== undefined && rd.softState.lead !== this.leader) {
      const was = this.leader;
      this.leader = rd.softState.lead;
      if (this.leader !== None) this.metrics.leaderChanges.inc();
      this.logger.info(
        `raft: ${this.leader === None ? 'lost leader' : `leader is ${idHex(this.leader)}`}${was !== None ? ` (was ${idHex(was)})` : ''} at term ${this.rawNode.basicStatus().hardState.term}`,
      );
      if (this.leader === None) this.failReadsInFlight(new EtcdApiError('leaderChanged'));
      const leads = this.leader === this.memberId;
      if (leads !== (was === this.memberId)) for (const f of this.features) f.onLeaderChange?.(leads);
    }

    // 1. persist
    if (rd.hardState !== undefined || rd.entries.length > 0) {
      const t0 = performance.now();
      await this.wal.save(rd.hardState, rd.entries);
      if (rd.mustSync) this.metrics.walFsync.observe((performance.now() - t0) / 1000);
    }
    if (rd.snapshot !== undefined) throw new Error('kvserver: received a raft snapshot: not possible in a one-member cluster');
    if (rd.hardState !== undefined) this.storage.setHardState(rd.hardState);
    if (rd.entries.length > 0) this.storage.append(rd.entries);

    // 2. messages: a one-member cluster has nobody to send to.

    // 3. apply
    for (const rs of rd.readStates) {
      const key = Buffer.from(rs.requestCtx).toString('hex');
      const waiters = this.readsInFlight.get(key);
      if (waiters === undefined) continue;
      this.readsInFlight.delete(key);
      this.readsAwaitingApply.push({ index: rs.index, waiters });
    }
    if (rd.committedEntries.length > 0) {
      // A defragmentation swaps the backend file: applies wait for it (etcd blocks writes during defrag too).
      await this.backend.whenWritable();
      this.apply(rd.committedEntries);
    }
    this.releaseReads();

    this.rawNode.advance();
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

  private apply(entries: readonly Entry[]): void {
    const answers: Array<[bigint, ApplyResult]> = [];
    const t0 = performance.now();
    try {
      this.applyBatch(entries, answers);
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
    for (const [id, result] of answers) {
      const w = this.waiters.get(id);
      this.waiters.delete(id);
      w?.resolve(result);
    }
  }

  private applyBatch(entries: readonly Entry[], answers: Array<[bigint, ApplyResult]>): void {
    let last: Entry | undefined;
    this.backend.batch(() => {
      for (const e of entries) {
        if (e.type === EntryType.ConfChange) {
          const cc = decodeConfChange(e.data);
          this.confState = this.rawNode.applyConfChange(cc);
          this.membership.applyConfChange(cc);
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
    const keep = SNAPSHOT_CATCH_UP_ENTRIES;
    if (this.appliedIndex - this.storage.firstIndex() < 2 * keep) return;
    this.storage.createSnapshot(this.appliedIndex, this.confState, this.snapshotData());
    this.storage.compact(this.appliedIndex - keep);
  }

  /** What a raft snapshot carries besides the backend: the members (the backend file travels apart). */
  private snapshotData(): Uint8Array {
    return Buffer.from(JSON.stringify({ members: this.membership.list().map((m) => ({ ...m, id: idHex(m.id) })) }), 'utf8');
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
        : this.storage.createSnapshot(index, this.confState, this.snapshotData());
    await this.snapshotter.save(snap);
    await this.wal.saveSnapshot({ index, term: snap.metadata.term, confState: snap.metadata.confState });
    this.snapshotIndex = index;
    const compactTo = index - SNAPSHOT_CATCH_UP_ENTRIES;
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

  get fatalError(): Error | undefined {
    return this.fatal;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    const stopped = new ServerStoppedError();
    for (const w of this.waiters.values()) w.reject(stopped);
    this.waiters.clear();
    for (const w of this.pendingReads) w.reject(stopped);
    this.pendingReads = [];
    this.failReadsInFlight(stopped);
    for (const r of this.readsAwaitingApply) for (const w of r.waiters) w.reject(stopped);
    this.readsAwaitingApply = [];
    // Let an in-flight Ready finish its WAL write before closing files under it.
    for (let i = 0; i < 200 && this.loopRunning; i++) await new Promise((r) => setTimeout(r, 5));
    for (const f of this.features) await f.close?.();
    await this.wal.close();
    await this.kv.close();
    await this.backend.close();
    this.onStopped?.();
  }

  onStopped: (() => void) | undefined;

  get isLeader(): boolean {
    return this.leader === this.memberId && this.rawNode.basicStatus().softState.raftState === StateType.Leader;
  }
}
