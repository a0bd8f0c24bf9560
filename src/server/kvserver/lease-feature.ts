/**
 * Leases in the node (etcd's lessor wiring in etcdserver): the Feature that applies lease requests, keeps
 * the lessor's key attachments in step with the KV store, revokes expired leases on the leader, and the
 * operations the Lease gRPC service calls.
 *
 * - Apply (deterministic, inside the apply batch): LeaseGrant creates the lease with the ID chosen before
 *   proposing; LeaseRevoke removes it and deletes all its keys in ONE write txn through ctx.writeKv (one
 *   revision; watchers see the deletes); LeaseCheckpoint records remaining TTLs.
 * - onKvChanges: a put attaches its key to the event's kv.lease and detaches it from prevKv.lease when that
 *   differs; a delete detaches it from prevKv.lease.
 * - At start the leases come back from the `lease` bucket and the keys are re-attached by scanning the KV
 *   store's current keys; no lease has a deadline until this member leads.
 * - Expiry (leader only): on becoming leader every lease gets now + election timeout + its TTL (etcd's
 *   Promote(electionTimeout)); every 500 ms up to 500 expired leases are taken (etcd's revoke rate of 1000/s)
 *   and each is revoked by proposing a LeaseRevoke, at most 16 in flight (etcd's maxPendingRevokes).
 * - Renewals (LeaseKeepAlive) change only the leader's deadline, without raft, as in etcd.
 *
 * A rolled-back apply batch stops the node (see server.ts), so the lessor's in-memory state never has to
 * be unwound here: the next start rebuilds it from the bucket and the KV store.
 */
import { EtcdApiError } from '../../proto/errors.js';
import type { InternalRaftRequest } from '../../proto/gen/etcdserverpb/raft_internal.js';
import type {
  LeaseCheckpointResponse,
  LeaseGrantRequest,
  LeaseGrantResponse,
  LeaseLeasesResponse,
  LeaseRevokeRequest,
  LeaseRevokeResponse,
  ResponseHeader,
} from '../../proto/gen/etcdserverpb/rpc.js';
import { LeaseTimeToLiveRequest, LeaseTimeToLiveResponse } from '../../proto/gen/etcdserverpb/rpc.js';
import { type Event, Event_EventType } from '../../proto/gen/mvccpb/kv.js';
import { LeaseIdGenerator, Lessor, bucketLeaseStore, minLeaseTtlSeconds } from '../lease/index.js';
import type { ApplyResult } from './apply.js';
import type { Feature, FeatureContext } from './feature.js';
import { idHex } from './ids.js';

/** How often the leader looks for expired leases (etcd's lessor runLoop). */
const EXPIRY_CHECK_MS = 500;
/** Expired leases taken per check: etcd's leaseRevokeRate / 2 per 500 ms. */
const REVOKE_BATCH = 500;
/** Revocations in flight at once (etcd's maxPendingRevokes). */
const MAX_PENDING_REVOKES = 16;
/** Keys read per page when re-attaching keys at start. */
const SCAN_PAGE = 1000;

export interface LeaseFeatureOptions {
  /** Monotonic milliseconds for deadlines (default performance.now). */
  readonly now?: () => number;
  /** Wall-clock milliseconds for the lease ID generator (default Date.now). */
  readonly wallNow?: () => number;
  /** Expiry check period (default 500 ms). */
  readonly checkIntervalMs?: number;
}

function header(rev: number): ResponseHeader {
  return { clusterId: 0n, memberId: 0n, revision: BigInt(rev), raftTerm: 0n };
}

function ok(response: unknown): ApplyResult {
  return { response, error: undefined };
}

/** Who a proposal is made as (see FeatureContext.propose). */
type ProposeAs = { username: string; authRevision: number };

export class LeaseFeature implements Feature {
  /**
   * The identity of the node's own revokes of expired leases: root while auth is on (etcd's WithRoot),
   * so that a revoke is never refused for the permissions of the keys it deletes. Set by installFeatures.
   */
  internalAuth: () => ProposeAs | undefined = () => undefined;

  readonly name = 'lease';
  readonly lessor: Lessor;
  private readonly ids: LeaseIdGenerator;
  private readonly checkIntervalMs: number;
  private timer: NodeJS.Timeout | undefined;
  /** Expired leases waiting for a revoke proposal slot. */
  private pending: bigint[] = [];
  private inFlight = 0;
  private closed = false;
  /** Renewals of expired leases, waiting for the revoke to apply (or this member to stop leading). */
  private readonly expiryWaiters = new Map<bigint, Set<() => void>>();

  constructor(
    private readonly ctx: FeatureContext,
    opts: LeaseFeatureOptions = {},
  ) {
    const now = opts.now ?? (() => performance.now());
    this.checkIntervalMs = opts.checkIntervalMs ?? EXPIRY_CHECK_MS;
    this.ids = new LeaseIdGenerator(ctx.memberId, (opts.wallNow ?? Date.now)());
    this.lessor = new Lessor({
      store: bucketLeaseStore(ctx.backend.buckets.lease),
      now,
      minTtlSeconds: minLeaseTtlSeconds(ctx.config.electionMs, ctx.config.heartbeatMs),
    });
    const attached = this.reattachKeys();
    if (this.lessor.size > 0) ctx.logger.info(`lease: restored ${this.lessor.size} leases with ${attached} attached keys`);
    ctx.setLeaseLookup({ exists: (id) => this.lessor.exists(id) });
  }

  /** Re-attaches every current key that names a lease (etcd's mvcc restore does the same). */
  private reattachKeys(): number {
    let attached = 0;
    let start = Buffer.from([0]);
    const toEnd = Buffer.from([0]);
    for (;;) {
      const { kvs } = this.ctx.kv.range(start, toEnd, { keysOnly: true, limit: SCAN_PAGE });
      for (const kv of kvs) {
        if (kv.lease === 0n) continue;
        if (this.lessor.attach(kv.lease, kv.key)) attached++;
        else this.ctx.logger.warn(`lease: key ${JSON.stringify(kv.key.toString('latin1'))} names lease ${idHex(kv.lease)}, which does not exist`);
      }
      const last = kvs[kvs.length - 1];
      if (kvs.length < SCAN_PAGE || last === undefined) return attached;
      start = Buffer.concat([last.key, Buffer.from([0])]);
    }
  }

  // ---- the apply path (deterministic) ---------------------------------------------------------------------

  apply(req: InternalRaftRequest): ApplyResult | undefined {
    if (req.leaseGrant !== undefined) {
      const l = this.lessor.grant(req.leaseGrant.ID, req.leaseGrant.TTL);
      const resp: LeaseGrantResponse = { header: header(this.ctx.kv.currentRevision), ID: l.id, TTL: BigInt(l.ttl), error: '' };
      return ok(resp);
    }
    if (req.leaseRevoke !== undefined) {
      const id = req.leaseRevoke.ID;
      const keys = this.lessor.revoke(id);
      // One txn for all the keys: one revision, and the watchers see every delete.
      const rev =
        keys.length > 0
          ? this.ctx.writeKv((w) => {
              for (const k of keys) w.deleteRange(k, undefined);
            }).rev
          : this.ctx.kv.currentRevision;
      this.wake(id);
      const resp: LeaseRevokeResponse = { header: header(rev) };
      return ok(resp);
    }
    if (req.leaseCheckpoint !== undefined) {
      for (const c of req.leaseCheckpoint.checkpoints) this.lessor.checkpoint(c.ID, c.remainingTTL);
      const resp: LeaseCheckpointResponse = { header: header(this.ctx.kv.currentRevision) };
      return ok(resp);
    }
    return undefined;
  }

  onKvChanges(events: readonly Event[]): void {
    for (const e of events) {
      const key = e.kv?.key ?? e.prevKv?.key;
      if (key === undefined) continue;
      const prev = e.prevKv?.lease ?? 0n;
      const next = e.type === Event_EventType.PUT ? (e.kv?.lease ?? 0n) : 0n;
      if (prev !== 0n && prev !== next) this.lessor.detach(prev, key);
      if (next !== 0n) this.lessor.attach(next, key);
    }
  }

  // ---- leadership and expiry ------------------------------------------------------------------------------

  /** What followers forward here (see renew and timeToLive): answered only if this lessor is primary. */
  answerPeer(method: string, payload: Uint8Array): Promise<Uint8Array> | undefined {
    if (method === LEASE_RENEW) return this.renew(Buffer.from(payload).readBigInt64BE(0), false).then(ttlBytes);
    if (method === LEASE_TIME_TO_LIVE) {
      return this.timeToLive(LeaseTimeToLiveRequest.decode(payload), false).then((r) => LeaseTimeToLiveResponse.encode(r).finish());
    }
    return undefined;
  }

  onRestore(): void {
    this.lessor.reload(this.ctx.config.electionMs);
    const attached = this.reattachKeys();
    this.ctx.logger.info(`lease: reloaded ${this.lessor.size} leases with ${attached} attached keys from the received snapshot`);
  }

  onLeaderChange(isLeader: boolean): void {
    if (this.closed) return;
    if (isLeader) {
      this.lessor.promote(this.ctx.config.electionMs);
      this.timer ??= setInterval(() => this.checkExpired(), this.checkIntervalMs);
      this.timer.unref();
    } else {
      this.lessor.demote();
      if (this.timer) clearInterval(this.timer);
      this.timer = undefined;
      this.pending = [];
      // A renewal waiting for an expired lease's revoke retries and finds no primary.
      this.wakeAll();
    }
  }

  /** One expiry round: take the next batch once the previous one is handed out, then fill the slots. */
  checkExpired(): void {
    if (this.closed || !this.lessor.isPrimary) return;
    if (this.pending.length === 0) this.pending = this.lessor.findExpired(REVOKE_BATCH);
    this.pump();
  }

  private pump(): void {
    while (!this.closed && this.inFlight < MAX_PENDING_REVOKES && this.pending.length > 0) {
      const id = this.pending.shift() as bigint;
      this.inFlight++;
      this.ctx
        .propose({ leaseRevoke: { ID: id } }, this.internalAuth())
        .then(
          (r) => {
            if (r.error === undefined) this.ctx.logger.debug(`lease: revoked expired lease ${idHex(id)}`);
            else if (!(r.error instanceof EtcdApiError && r.error.errorName === 'leaseNotFound')) {
              this.ctx.logger.warn(`lease: failed to revoke expired lease ${idHex(id)}: ${r.error.message}`);
            }
          },
          (err: unknown) => {
            if (!this.closed) this.ctx.logger.warn(`lease: failed to revoke expired lease ${idHex(id)}: ${(err as Error).message}`);
          },
        )
        .finally(() => {
          this.inFlight--;
          this.pump();
        });
    }
  }

  private wake(id: bigint): void {
    const ws = this.expiryWaiters.get(id);
    if (ws === undefined) return;
    this.expiryWaiters.delete(id);
    for (const w of ws) w();
  }

  private wakeAll(): void {
    const all = [...this.expiryWaiters.values()];
    this.expiryWaiters.clear();
    for (const ws of all) for (const w of ws) w();
  }

  /** Resolves when the lease is revoked, this member stops leading or closes, or after `ms`. */
  private waitExpiry(id: bigint, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let set = this.expiryWaiters.get(id);
      if (set === undefined) {
        set = new Set();
        this.expiryWaiters.set(id, set);
      }
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.expiryWaiters.get(id)?.delete(done);
        resolve();
      }, ms);
      set.add(done);
    });
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.pending = [];
    this.wakeAll();
  }

  // ---- what the Lease service calls -------------------------------------------------------------------------

  /** LeaseGrant: picks the ID now (when the client gave none) so that applying the grant is deterministic. */
  async grant(req: LeaseGrantRequest, as?: ProposeAs): Promise<LeaseGrantResponse> {
    const ID = req.ID !== 0n ? req.ID : this.ids.next();
    const result = await this.ctx.propose({ leaseGrant: { TTL: req.TTL, ID } }, as);
    if (result.error) throw result.error;
    return result.response as LeaseGrantResponse;
  }

  async revoke(req: LeaseRevokeRequest, as?: ProposeAs): Promise<LeaseRevokeResponse> {
    const result = await this.ctx.propose({ leaseRevoke: { ID: req.ID } }, as);
    if (result.error) throw result.error;
    return result.response as LeaseRevokeResponse;
  }

  /**
   * LeaseKeepAlive's renewal: the new TTL, or 0 when the lease does not exist (what etcd answers). An
   * expired lease is answered once its revocation has applied (0), as etcd does, so that a client never
   * sees a successful keep-alive for a lease whose keys are about to go.
   */
  async renew(id: bigint, forward = true): Promise<bigint> {
    const deadline = performance.now() + this.requestTimeoutMs();
    for (;;) {
      const r = this.lessor.renew(id);
      switch (r.kind) {
        case 'renewed':
          return BigInt(r.ttl);
        case 'not-found':
          return 0n;
        case 'not-primary':
          // Only the leader's lessor keeps deadlines: a follower forwards the renewal (etcd's LeaseRenew
          // over the peer transport), and the leader answers from its lessor without forwarding again.
          if (!forward) throw new EtcdApiError('noLeader');
          return readTtl(await this.ctx.callLeader(LEASE_RENEW, idBytes(id)));
        case 'expired': {
          const left = deadline - performance.now();
          if (left <= 0 || this.closed) throw new EtcdApiError('timeout');
          await this.waitExpiry(id, left);
        }
      }
    }
  }

  /**
   * LeaseTimeToLive: the leader answers from its lessor (remaining seconds truncated, etcd's
   * int64(Remaining().Seconds())); a follower asks the leader.
   */
  async timeToLive(req: LeaseTimeToLiveRequest, forward = true): Promise<LeaseTimeToLiveResponse> {
    if (!this.lessor.isPrimary) {
      if (!forward) throw new EtcdApiError('noLeader');
      const answer = await this.ctx.callLeader(LEASE_TIME_TO_LIVE, LeaseTimeToLiveRequest.encode(req).finish());
      return LeaseTimeToLiveResponse.decode(answer);
    }
    const l = this.lessor.lookup(req.ID);
    const rev = header(this.ctx.kv.currentRevision);
    // etcd answers an unknown lease with TTL -1 (v3rpc's LeaseTimeToLive), not an error.
    if (l === undefined) return { header: rev, ID: req.ID, TTL: -1n, grantedTTL: 0n, keys: [] };
    return {
      header: rev,
      ID: l.id,
      TTL: BigInt(Math.trunc(l.remainingMs / 1000)),
      grantedTTL: BigInt(l.ttl),
      keys: req.keys ? this.lessor.keys(l.id) : [],
    };
  }

  leases(): LeaseLeasesResponse {
    return { header: header(this.ctx.kv.currentRevision), leases: this.lessor.list().map((l) => ({ ID: l.id })) };
  }

  private requestTimeoutMs(): number {
    return 5000 + 2 * this.ctx.config.electionMs;
  }
}

/** Peer methods of the lease feature (FeatureContext.callLeader / answerPeer). */
const LEASE_RENEW = 'lease.renew';
const LEASE_TIME_TO_LIVE = 'lease.timeToLive';

function idBytes(id: bigint): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(id);
  return b;
}

function ttlBytes(ttl: bigint): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(ttl);
  return b;
}

function readTtl(b: Uint8Array): bigint {
  return Buffer.from(b).readBigInt64BE(0);
}
