// The lessor as pure logic: a fake clock, an in-memory store.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { EtcdApiError } from '../../src/proto/errors.js';
import {
  EXPIRED_LEASE_RETRY_MS,
  LeaseIdGenerator,
  type LeaseRecord,
  type LeaseStore,
  Lessor,
  bucketLeaseStore,
  decodeLeaseRecord,
  encodeLeaseRecord,
  leaseKey,
  minLeaseTtlSeconds,
} from '../../src/server/lease/index.js';

class MemStore implements LeaseStore {
  readonly records = new Map<bigint, LeaseRecord>();
  list(): Iterable<LeaseRecord> {
    return [...this.records.values()];
  }
  put(r: LeaseRecord): void {
    this.records.set(r.id, r);
  }
  delete(id: bigint): void {
    this.records.delete(id);
  }
}

function setup(minTtlSeconds = 2) {
  const clock = { t: 1_000 };
  const store = new MemStore();
  const make = () => new Lessor({ store, now: () => clock.t, minTtlSeconds });
  return { clock, store, lessor: make(), make };
}

const b = (s: string) => Buffer.from(s);

function apiError(name: string) {
  return (err: unknown) => err instanceof EtcdApiError && err.errorName === name;
}

describe('grant', () => {
  it('raises a short TTL to the minimum, persists the record, refuses what etcd refuses', () => {
    const { lessor, store } = setup(2);
    assert.deepEqual(lessor.grant(1n, 1n), { id: 1n, ttl: 2, remainingMs: Infinity });
    assert.equal(lessor.grant(2n, -5n).ttl, 2);
    assert.equal(lessor.grant(3n, 60n).ttl, 60);
    assert.deepEqual(store.records.get(1n), { id: 1n, ttl: 2n, remainingTtl: 0n });
    assert.throws(() => lessor.grant(0n, 10n), apiError('leaseNotFound'));
    assert.throws(() => lessor.grant(4n, 9_000_000_001n), apiError('leaseTTLTooLarge'));
    assert.equal(lessor.grant(4n, 9_000_000_000n).ttl, 9_000_000_000);
    assert.throws(() => lessor.grant(3n, 10n), apiError('leaseExist'));
    assert.equal(lessor.size, 4);
  });

  it('gives a deadline only on the primary', () => {
    const { lessor, clock } = setup();
    lessor.grant(1n, 10n);
    assert.equal(lessor.lookup(1n)?.remainingMs, Infinity);
    lessor.promote(0);
    clock.t += 500;
    lessor.grant(2n, 10n);
    assert.equal(lessor.lookup(2n)?.remainingMs, 10_000);
    assert.equal(lessor.lookup(1n)?.remainingMs, 9_500);
  });
});

describe('renew', () => {
  it('only the primary renews; the deadline becomes now + TTL', () => {
    const { lessor, clock } = setup();
    lessor.grant(1n, 10n);
    assert.deepEqual(lessor.renew(1n), { kind: 'not-primary' });
    lessor.promote(0);
    clock.t += 9_000;
    assert.equal(lessor.lookup(1n)?.remainingMs, 1_000);
    assert.deepEqual(lessor.renew(1n), { kind: 'renewed', ttl: 10 });
    assert.equal(lessor.lookup(1n)?.remainingMs, 10_000);
    assert.deepEqual(lessor.renew(99n), { kind: 'not-found' });
  });

  it('an expired lease is not renewed: its revocation is on the way', () => {
    const { lessor, clock } = setup();
    lessor.promote(0);
    lessor.grant(1n, 3n);
    clock.t += 3_000;
    assert.deepEqual(lessor.renew(1n), { kind: 'expired' });
    // A renewed lease is not expired any more.
    lessor.grant(2n, 3n);
    clock.t += 2_999;
    assert.equal(lessor.renew(2n).kind, 'renewed');
    clock.t += 2_999;
    assert.deepEqual(lessor.findExpired(10), [1n]);
  });
});

describe('expiry', () => {
  it('finds expired leases in expiry order, up to the limit, and offers each again only after the retry interval', () => {
    const { lessor, clock } = setup();
    lessor.promote(0);
    lessor.grant(30n, 30n);
    lessor.grant(10n, 10n);
    lessor.grant(20n, 20n);
    lessor.grant(5n, 5n);
    assert.deepEqual(lessor.findExpired(10), []);
    clock.t += 20_000;
    assert.deepEqual(lessor.findExpired(2), [5n, 10n]);
    assert.deepEqual(lessor.findExpired(10), [20n]);
    // Their revocations are in flight: not offered again before the retry interval.
    assert.deepEqual(lessor.findExpired(10), []);
    clock.t += EXPIRED_LEASE_RETRY_MS;
    assert.deepEqual(lessor.findExpired(10), [5n, 10n, 20n]);
    // Revoked leases leave the queue.
    lessor.revoke(5n);
    lessor.revoke(10n);
    clock.t += 20_000;
    assert.deepEqual(lessor.findExpired(10), [20n, 30n]);
  });

  it('a renewal moves the lease back in the queue', () => {
    const { lessor, clock } = setup();
    lessor.promote(0);
    lessor.grant(1n, 5n);
    lessor.grant(2n, 6n);
    clock.t += 4_000;
    lessor.renew(1n);
    clock.t += 2_000;
    assert.deepEqual(lessor.findExpired(10), [2n]);
    clock.t += 2_999;
    assert.deepEqual(lessor.findExpired(10), []);
    clock.t += 1;
    // Lease 2 (not revoked yet) comes back after the retry interval, at the same time lease 1 expires.
    assert.deepEqual(lessor.findExpired(10), [1n, 2n]);
  });

  it('a lessor that is not primary finds nothing expired', () => {
    const { lessor, clock } = setup();
    lessor.grant(1n, 5n);
    clock.t += 1e9;
    assert.deepEqual(lessor.findExpired(10), []);
  });
});

describe('promote and demote', () => {
  it('promote resets every deadline to now + extend + TTL; demote forgets them', () => {
    const { lessor, clock } = setup();
    lessor.grant(1n, 10n);
    lessor.grant(2n, 20n);
    lessor.promote(1_000);
    assert.equal(lessor.lookup(1n)?.remainingMs, 11_000);
    assert.equal(lessor.lookup(2n)?.remainingMs, 21_000);
    clock.t += 8_000;
    lessor.demote();
    assert.equal(lessor.isPrimary, false);
    assert.equal(lessor.lookup(1n)?.remainingMs, Infinity);
    clock.t += 100_000;
    assert.deepEqual(lessor.findExpired(10), []);
    lessor.promote(1_000);
    assert.equal(lessor.lookup(1n)?.remainingMs, 11_000);
    clock.t += 11_000;
    assert.deepEqual(lessor.findExpired(10), [1n]);
  });

  it('promote counts from a checkpointed remaining TTL; a renewal goes back to the full TTL', () => {
    const { lessor } = setup();
    lessor.grant(1n, 100n);
    lessor.checkpoint(1n, 7n);
    lessor.checkpoint(99n, 7n);
    lessor.promote(0);
    assert.equal(lessor.lookup(1n)?.remainingMs, 7_000);
    lessor.renew(1n);
    assert.equal(lessor.lookup(1n)?.remainingMs, 100_000);
  });

  it('spreads out deadlines that would pile up beyond the revoke rate', () => {
    const { lessor, clock } = setup();
    for (let i = 1n; i <= 3000n; i++) lessor.grant(i, 10n);
    lessor.promote(0);
    // Without spreading all 3000 would expire in the same millisecond.
    const perSecond = new Map<number, number>();
    for (const l of lessor.list()) {
      const s = Math.floor(l.remainingMs / 1000);
      perSecond.set(s, (perSecond.get(s) ?? 0) + 1);
    }
    for (const [, n] of perSecond) assert.ok(n <= 1000, `${n} leases expire within one second`);
    assert.ok(perSecond.size >= 3);
    clock.t += 10_000;
    assert.ok(lessor.findExpired(5000).length <= 751);
  });
});

describe('keys and revoke', () => {
  it('attach, detach, and revoke returns the keys in byte order', () => {
    const { lessor } = setup();
    lessor.grant(1n, 10n);
    lessor.grant(2n, 10n);
    assert.equal(lessor.attach(1n, b('zeta')), true);
    lessor.attach(1n, b('alpha'));
    lessor.attach(1n, Buffer.from([0xff, 0x01]));
    lessor.attach(1n, b('mid'));
    assert.equal(lessor.attach(3n, b('x')), false);
    lessor.detach(1n, b('mid'));
    assert.equal(lessor.leaseOf(b('alpha')), 1n);
    assert.equal(lessor.leaseOf(b('mid')), 0n);
    assert.deepEqual(lessor.keys(1n), [b('alpha'), b('zeta'), Buffer.from([0xff, 0x01])]);
    assert.deepEqual(lessor.revoke(1n), [b('alpha'), b('zeta'), Buffer.from([0xff, 0x01])]);
    assert.equal(lessor.leaseOf(b('alpha')), 0n);
    assert.equal(lessor.exists(1n), false);
    assert.throws(() => lessor.revoke(1n), apiError('leaseNotFound'));
    assert.deepEqual(lessor.keys(2n), []);
  });

  it('lists leases soonest expiry first, then by ID', () => {
    const { lessor } = setup();
    lessor.promote(0);
    lessor.grant(3n, 30n);
    lessor.grant(2n, 10n);
    lessor.grant(1n, 10n);
    assert.deepEqual(
      lessor.list().map((l) => l.id),
      [1n, 2n, 3n],
    );
  });
});

describe('restart', () => {
  it('restores leases from the store with no deadline (no checkpoint is persisted), TTLs raised to the minimum', () => {
    const { lessor, store, clock } = setup(2);
    lessor.promote(0);
    lessor.grant(1n, 10n);
    lessor.grant(2n, 60n);
    lessor.checkpoint(2n, 5n);
    lessor.attach(1n, b('k'));
    store.put({ id: 3n, ttl: 1n, remainingTtl: 0n });
    clock.t += 9_000;

    const again = new Lessor({ store, now: () => clock.t, minTtlSeconds: 2 });
    assert.equal(again.size, 3);
    assert.deepEqual(again.lookup(1n), { id: 1n, ttl: 10, remainingMs: Infinity });
    assert.equal(again.lookup(3n)?.ttl, 2);
    // Keys come back from the KV store, through attach.
    assert.deepEqual(again.keys(1n), []);
    clock.t += 1e6;
    assert.deepEqual(again.findExpired(10), []);
    again.promote(1_000);
    assert.equal(again.lookup(1n)?.remainingMs, 11_000);
    assert.equal(again.lookup(2n)?.remainingMs, 61_000);
  });
});

describe('persistence format (etcd leasepb.Lease under an 8-byte big-endian ID)', () => {
  it('encodes and decodes as etcd does', () => {
    assert.equal(Buffer.from(encodeLeaseRecord({ id: 1n, ttl: 60n, remainingTtl: 0n })).toString('hex'), '0801103c');
    assert.equal(leaseKey(0x694d7b4a6d1d6a0bn).toString('hex'), '694d7b4a6d1d6a0b');
    const rec = { id: 0x694d7b4a6d1d6a0bn, ttl: 9_000_000_000n, remainingTtl: 42n };
    assert.deepEqual(decodeLeaseRecord(leaseKey(rec.id), encodeLeaseRecord(rec)), rec);
    const neg = { id: -5n, ttl: 2n, remainingTtl: 0n };
    assert.equal(leaseKey(-5n).toString('hex'), 'fffffffffffffffb');
    assert.deepEqual(decodeLeaseRecord(leaseKey(-5n), encodeLeaseRecord(neg)), neg);
    assert.throws(() => decodeLeaseRecord(leaseKey(2n), encodeLeaseRecord(rec)), /stored under key/);
    assert.throws(() => decodeLeaseRecord(leaseKey(2n), Buffer.from([0x08])), /cannot decode/);
  });

  it('round-trips through a bucket-shaped store', () => {
    const m = new Map<string, Uint8Array>();
    const store = bucketLeaseStore({
      entries: () => [...m.entries()].sort(([a], [c]) => a.localeCompare(c)).map(([k, v]) => [Buffer.from(k, 'hex'), v] as [Uint8Array, Uint8Array]),
      put: (k, v) => void m.set(Buffer.from(k).toString('hex'), v),
      delete: (k) => m.delete(Buffer.from(k).toString('hex')),
    });
    const l = new Lessor({ store, now: () => 0, minTtlSeconds: 2 });
    l.grant(7n, 30n);
    l.grant(8n, 40n);
    l.revoke(7n);
    assert.deepEqual([...m.keys()], ['0000000000000008']);
    assert.deepEqual([...store.list()], [{ id: 8n, ttl: 40n, remainingTtl: 0n }]);
  });
});

describe('minimum TTL and IDs', () => {
  it("minLeaseTtlSeconds is etcd's 1.5 election timeouts in whole seconds", () => {
    assert.equal(minLeaseTtlSeconds(1000, 100), 2);
    assert.equal(minLeaseTtlSeconds(5000, 500), 8);
    assert.equal(minLeaseTtlSeconds(500, 100), 1);
    assert.equal(minLeaseTtlSeconds(3000, 100), 5);
  });

  it("IDs are positive, distinct, and carry the member ID's low bits", () => {
    const g = new LeaseIdGenerator(0xabcd_1234_5678_9ef0n, 1_700_000_000_123);
    const ids = Array.from({ length: 1000 }, () => g.next());
    assert.equal(new Set(ids).size, 1000);
    for (const id of ids) {
      assert.ok(id > 0n && id < 1n << 63n);
      assert.equal(id >> 48n, 0x1ef0n);
    }
    assert.equal(ids[0], (0x1ef0n << 48n) | ((1_700_000_000_123n & ((1n << 40n) - 1n)) << 8n) | 1n);
  });
});
