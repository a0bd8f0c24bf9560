/**
 * The lessor (etcd's server/lease/lessor.go): owns the leases, the keys attached to each, and when each
 * expires. Pure logic: time comes from the injected clock, persistence through the injected store, and
 * nothing here proposes or deletes keys itself; the node's lease feature drives it.
 *
 * What must hold:
 * - The persisted state (which leases exist, their TTLs) changes only through `grant`, `revoke` and
 *   `checkpoint`, which the node calls while applying committed entries, inside the apply batch; they
 *   read no clock for anything persisted, so every member and every replay reaches the same state.
 * - Expiry is the primary's business (the raft leader). A lessor that is not primary keeps every lease
 *   "forever"; `promote` gives each lease a fresh deadline of now + extend + its (remaining) TTL, so a new
 *   leader never revokes a lease whose holder kept it alive with the old leader. `demote` forgets deadlines.
 * - After a restart the leases come back from the store with no deadline (etcd persists no expiry in 3.4,
 *   and a checkpoint is not persisted either); the keys attached to them are re-attached from the KV store
 *   by the caller (`attach` for every key that names a lease).
 * - Renewals do not go through raft (as in etcd): only the primary renews, and only the deadline changes.
 */
import { EtcdApiError } from '../../proto/errors.js';
import { ExpiryQueue } from './expiry-queue.js';
import { type LeaseRecord, decodeLeaseRecord, encodeLeaseRecord, leaseKey } from './record.js';

/** etcd's MaxLeaseTTL: a grant above this many seconds fails with "too large lease TTL". */
export const MAX_LEASE_TTL = 9_000_000_000n;

/** etcd's leaseRevokeRate: at most this many expired leases are revoked per second. */
export const LEASE_REVOKE_RATE = 1000;

/** etcd's defaultExpiredleaseRetryInterval: an expired lease is offered for revocation again after this. */
export const EXPIRED_LEASE_RETRY_MS = 3000;

/** Where leases persist: the backend's `lease` bucket (see record.ts), written inside the apply batch. */
export interface LeaseStore {
  list(): Iterable<LeaseRecord>;
  put(record: LeaseRecord): void;
  delete(id: bigint): void;
}

/** The part of a backend bucket the lessor uses (the `lease` bucket of mvcc's Backend has this shape). */
export interface LeaseBucket {
  entries(): Iterable<[Uint8Array, Uint8Array]>;
  put(key: Uint8Array, value: Uint8Array): void;
  delete(key: Uint8Array): boolean;
}

export function bucketLeaseStore(bucket: LeaseBucket): LeaseStore {
  return {
    *list() {
      for (const [k, v] of bucket.entries()) yield decodeLeaseRecord(k, v);
    },
    put(r) {
      bucket.put(leaseKey(r.id), encodeLeaseRecord(r));
    },
    delete(id) {
      bucket.delete(leaseKey(id));
    },
  };
}

export interface LessorOptions {
  readonly store: LeaseStore;
  /** Milliseconds on a clock that never goes back (performance.now() in the node, a counter in tests). */
  readonly now: () => number;
  /** Shorter grants are raised to this (etcd's minLeaseTTL: 1.5 election timeouts, in whole seconds). */
  readonly minTtlSeconds: number;
  /** How long an expired lease waits before it is offered for revocation again (etcd: 3 s). */
  readonly expiredRetryMs?: number;
}

/** A lease as callers see it. */
export interface LeaseInfo {
  readonly id: bigint;
  /** The granted TTL in seconds (after raising to the minimum). */
  readonly ttl: number;
  /** Milliseconds until expiry; Infinity while this lessor is not primary. May be negative once expired. */
  readonly remainingMs: number;
}

export type RenewResult =
  | { readonly kind: 'renewed'; readonly ttl: number }
  | { readonly kind: 'not-primary' }
  | { readonly kind: 'not-found' }
  /** Past its deadline: its revocation is on the way; the caller waits for it (etcd does too). */
  | { readonly kind: 'expired' };

class Lease {
  /** Deadline on the lessor's clock; Infinity = none (not primary, or just restored). */
  expiry = Infinity;
  /** Attached keys, as latin1 strings (one char per byte, so string order is byte order). */
  readonly keys = new Set<string>();

  constructor(
    readonly id: bigint,
    readonly ttl: number,
    /** Last checkpointed remaining TTL in seconds; 0 = unset. */
    public remainingTtl: number,
  ) {}

  /** The TTL a refresh counts from: the checkpointed remainder if there is one (etcd's RemainingTTL()). */
  refreshTtl(): number {
    return this.remainingTtl > 0 ? this.remainingTtl : this.ttl;
  }
}

export class Lessor {
  private readonly leases = new Map<bigint, Lease>();
  /** key (latin1) → the lease it is attached to. */
  private readonly items = new Map<string, bigint>();
  private readonly queue = new ExpiryQueue();
  private primary = false;
  private readonly store: LeaseStore;
  private readonly now: () => number;
  private readonly retryMs: number;
  readonly minTtlSeconds: number;

  constructor(opts: LessorOptions) {
    this.store = opts.store;
    this.now = opts.now;
    this.minTtlSeconds = opts.minTtlSeconds;
    this.retryMs = opts.expiredRetryMs ?? EXPIRED_LEASE_RETRY_MS;
    this.load();
  }

  private load(): void {
    for (const r of this.store.list()) {
      const ttl = Math.max(Number(r.ttl), this.minTtlSeconds);
      this.leases.set(r.id, new Lease(r.id, ttl, Number(r.remainingTtl)));
    }
  }

  /**
   * Forgets every lease and attachment and reloads the leases from the store (its backend was replaced by
   * a snapshot from the leader); the caller re-attaches keys. A primary lessor stays primary, its leases
   * getting fresh deadlines as at promote.
   */
  reload(extendMs: number): void {
    this.leases.clear();
    this.items.clear();
    this.queue.clear();
    this.load();
    if (this.primary) this.promote(extendMs);
  }

  get isPrimary(): boolean {
    return this.primary;
  }

  get size(): number {
    return this.leases.size;
  }

  exists(id: bigint): boolean {
    return this.leases.has(id);
  }

  /**
   * Creates a lease (applying a committed LeaseGrant). A TTL under the minimum is raised to it; the ID was
   * chosen before proposing. Errors as etcd's: ID 0 → lease not found, TTL > 9e9 → too large, taken ID →
   * lease already exists.
   */
  grant(id: bigint, ttl: bigint): LeaseInfo {
    if (id === 0n) throw new EtcdApiError('leaseNotFound');
    if (ttl > MAX_LEASE_TTL) throw new EtcdApiError('leaseTTLTooLarge');
    if (this.leases.has(id)) throw new EtcdApiError('leaseExist');
    const seconds = ttl < BigInt(this.minTtlSeconds) ? this.minTtlSeconds : Number(ttl);
    const l = new Lease(id, seconds, 0);
    if (this.primary) this.refresh(l, 0);
    this.leases.set(id, l);
    this.store.put({ id, ttl: BigInt(seconds), remainingTtl: 0n });
    return this.info(l);
  }

  /**
   * Removes a lease (applying a committed LeaseRevoke) and returns its keys in byte order: the caller
   * deletes them in the same apply batch (in one write txn, sorted so that every member writes the same
   * revisions). Throws etcd's "requested lease not found" for an unknown lease.
   */
  revoke(id: bigint): Buffer[] {
    const l = this.leases.get(id);
    if (l === undefined) throw new EtcdApiError('leaseNotFound');
    this.leases.delete(id);
    this.queue.delete(id);
    const keys = [...l.keys].sort();
    for (const k of keys) if (this.items.get(k) === id) this.items.delete(k);
    this.store.delete(id);
    return keys.map((k) => Buffer.from(k, 'latin1'));
  }

  /**
   * Records a lease's remaining TTL (applying a committed LeaseCheckpoint). As in etcd 3.4 it only changes
   * what the next `promote` counts from; it is not persisted. Unknown leases are ignored.
   */
  checkpoint(id: bigint, remainingTtl: bigint): void {
    const l = this.leases.get(id);
    if (l !== undefined) l.remainingTtl = Number(remainingTtl);
  }

  /**
   * Renews a lease on the primary: its deadline becomes now + TTL. Not through raft (etcd's LeaseRenew).
   * This node never proposes checkpoints, so a renewal also drops a checkpointed remainder locally (etcd
   * clears it through raft when checkpointing is on).
   */
  renew(id: bigint): RenewResult {
    if (!this.primary) return { kind: 'not-primary' };
    const l = this.leases.get(id);
    if (l === undefined) return { kind: 'not-found' };
    if (this.remainingMs(l) <= 0) return { kind: 'expired' };
    l.remainingTtl = 0;
    this.refresh(l, 0);
    return { kind: 'renewed', ttl: l.ttl };
  }

  lookup(id: bigint): LeaseInfo | undefined {
    const l = this.leases.get(id);
    return l === undefined ? undefined : this.info(l);
  }

  /** The keys attached to a lease, in byte order ([] for an unknown lease). */
  keys(id: bigint): Buffer[] {
    const l = this.leases.get(id);
    return l === undefined ? [] : [...l.keys].sort().map((k) => Buffer.from(k, 'latin1'));
  }

  /** Every lease, soonest expiry first (etcd's Leases(): sorted by remaining time), then by ID. */
  list(): LeaseInfo[] {
    return [...this.leases.values()]
      .map((l) => this.info(l))
      .sort((a, b) => (a.remainingMs !== b.remainingMs ? (a.remainingMs < b.remainingMs ? -1 : 1) : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Attaches a key to a lease (a put with that lease was applied). False when the lease does not exist. */
  attach(id: bigint, key: Uint8Array): boolean {
    const l = this.leases.get(id);
    if (l === undefined) return false;
    const k = Buffer.from(key).toString('latin1');
    l.keys.add(k);
    this.items.set(k, id);
    return true;
  }

  /** Detaches a key from a lease (the key was deleted or put with another lease). */
  detach(id: bigint, key: Uint8Array): void {
    const k = Buffer.from(key).toString('latin1');
    this.leases.get(id)?.keys.delete(k);
    if (this.items.get(k) === id) this.items.delete(k);
  }

  /** The lease a key is attached to, 0n for none. */
  leaseOf(key: Uint8Array): bigint {
    return this.items.get(Buffer.from(key).toString('latin1')) ?? 0n;
  }

  /**
   * Becomes primary: every lease expires at now + extend + its (remaining) TTL. With many leases, deadlines
   * that would pile up beyond the revoke rate are spread out as etcd does (at most 3/4 of the rate per second).
   */
  promote(extendMs: number): void {
    this.primary = true;
    this.queue.clear();
    for (const l of this.leases.values()) this.refresh(l, extendMs);
    if (this.leases.size < LEASE_REVOKE_RATE) return;

    const sorted = [...this.leases.values()].sort((a, b) => a.expiry - b.expiry || (a.id < b.id ? -1 : 1));
    const first = sorted[0];
    if (first === undefined) return;
    let baseWindow = this.remainingMs(first);
    let nextWindow = baseWindow + 1000;
    let expires = 0;
    const targetPerSecond = Math.floor((3 * LEASE_REVOKE_RATE) / 4);
    for (const l of sorted) {
      const remaining = this.remainingMs(l);
      if (remaining > nextWindow) {
        baseWindow = remaining;
        nextWindow = baseWindow + 1000;
        expires = 1;
        continue;
      }
      expires++;
      if (expires <= targetPerSecond) continue;
      // Leases already `remaining - baseWindow` ahead of the window need that much less delay.
      const delay = (1000 * expires) / targetPerSecond - (remaining - baseWindow);
      nextWindow = baseWindow + delay;
      this.refresh(l, delay + extendMs);
    }
  }

  /** Stops being primary: no lease has a deadline until the next promote. */
  demote(): void {
    this.primary = false;
    this.queue.clear();
    for (const l of this.leases.values()) l.expiry = Infinity;
  }

  /**
   * Expired leases to revoke, at most `limit` (etcd's findExpiredLeases). Each one returned is offered
   * again only after the retry interval, so a revocation in flight is not proposed twice meanwhile.
   */
  findExpired(limit: number): bigint[] {
    const out: bigint[] = [];
    if (!this.primary) return out;
    while (out.length < limit) {
      const top = this.queue.peek();
      if (top === undefined) break;
      const l = this.leases.get(top.id);
      if (l === undefined) {
        this.queue.delete(top.id);
        continue;
      }
      const now = this.now();
      if (now < top.time) break;
      this.queue.set(top.id, now + this.retryMs);
      if (this.remainingMs(l) <= 0) out.push(l.id);
    }
    return out;
  }

  private remainingMs(l: Lease): number {
    return l.expiry === Infinity ? Infinity : l.expiry - this.now();
  }

  private refresh(l: Lease, extendMs: number): void {
    l.expiry = this.now() + extendMs + l.refreshTtl() * 1000;
    this.queue.set(l.id, l.expiry);
  }

  private info(l: Lease): LeaseInfo {
    return { id: l.id, ttl: l.ttl, remainingMs: this.remainingMs(l) };
  }
}

/**
 * etcd's minimum lease TTL for an election timeout and heartbeat: 1.5 election timeouts, counted in whole
 * heartbeat ticks as etcd counts them, rounded up to whole seconds (2 s for etcd's defaults of 1000/100 ms).
 */
export function minLeaseTtlSeconds(electionMs: number, heartbeatMs: number): number {
  const electionTicks = Math.max(2, Math.round(electionMs / heartbeatMs));
  const minMs = Math.floor((3 * electionTicks) / 2) * heartbeatMs;
  return Math.ceil(minMs / 1000);
}
