// The lease feature against a real backend, KvStore and Applier (no raft: "proposing" applies at once).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';

import { noopLogger } from '../../src/base/logger.js';
import { EtcdApiError } from '../../src/proto/errors.js';
import { InternalRaftRequest } from '../../src/proto/gen/etcdserverpb/raft_internal.js';
import type { LeaseGrantResponse, PutResponse } from '../../src/proto/gen/etcdserverpb/rpc.js';
import { type Event, Event_EventType } from '../../src/proto/gen/mvccpb/kv.js';
import { Applier, type ApplyResult } from '../../src/server/kvserver/apply.js';
import { defaultConfig } from '../../src/server/kvserver/config.js';
import type { Feature, FeatureContext } from '../../src/server/kvserver/feature.js';
import { LeaseFeature } from '../../src/server/kvserver/lease-feature.js';
import type { ProposalBody } from '../../src/server/kvserver/server.js';
import { Membership } from '../../src/server/kvserver/membership.js';
import { Backend } from '../../src/server/mvcc/backend.js';
import { KvStore } from '../../src/server/mvcc/kvstore.js';

const b = (s: string) => Buffer.from(s);

/** Records what watchers would be told (afterCommit), to check revoke's deletes. */
class Recorder implements Feature {
  readonly name = 'recorder';
  readonly batches: Array<{ rev: number; events: readonly Event[] }> = [];
  afterCommit(events: readonly Event[], rev: number): void {
    this.batches.push({ rev, events });
  }
}

interface Node {
  backend: Backend;
  kv: KvStore;
  applier: Applier;
  lease: LeaseFeature;
  recorder: Recorder;
  clock: { t: number };
  proposed: ProposalBody[];
  leader: boolean;
  apply(body: ProposalBody): ApplyResult;
  close(): Promise<void>;
}

let dir: string;
let index = 0;

function open(): Node {
  const backend = Backend.open({ path: join(dir, 'db') });
  const kv = KvStore.open(backend);
  const applier = new Applier(kv, new Membership(backend.members, backend.membersRemoved, noopLogger), noopLogger);
  const clock = { t: 10_000 };
  const recorder = new Recorder();
  const node = {} as Node;
  const apply = (body: ProposalBody): ApplyResult => {
    const req = InternalRaftRequest.fromPartial({ ...body, header: { ID: BigInt(++index) } });
    const r = backend.batch(() => applier.apply(req, index));
    applier.afterCommit();
    return r;
  };
  const ctx: FeatureContext = {
    config: defaultConfig('n1'),
    logger: noopLogger,
    backend,
    kv,
    memberId: 0x8e9e05c52164694dn,
    writeKv: (fn) => applier.writeKv(fn),
    propose: async (body) => {
      node.proposed.push(body);
      return apply(body);
    },
    isLeader: () => node.leader,
    callLeader: () => Promise.reject(new EtcdApiError('noLeader')),
    setLeaseLookup: (l) => {
      applier.leases = l;
    },
  };
  const lease = new LeaseFeature(ctx, { now: () => clock.t, wallNow: () => 1_700_000_000_000, checkIntervalMs: 3_600_000 });
  applier.features = [lease, recorder];
  Object.assign(node, {
    backend,
    kv,
    applier,
    lease,
    recorder,
    clock,
    proposed: [],
    leader: false,
    apply,
    async close() {
      lease.close();
      await kv.close();
      await backend.close();
    },
  });
  return node;
}

function grant(n: Node, ttl: bigint, id = 0n): bigint {
  const r = n.apply({ leaseGrant: { TTL: ttl, ID: id } });
  if (r.error) throw r.error;
  return (r.response as LeaseGrantResponse).ID;
}

function put(n: Node, key: string, lease: bigint): ApplyResult {
  return n.apply({ put: { key: b(key), value: b('v'), lease, prevKv: false, ignoreValue: false, ignoreLease: false } });
}

function keysOf(n: Node, id: bigint): string[] {
  return n.lease.lessor.keys(id).map((k) => k.toString());
}

let n: Node;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kvctl-lease-'));
  n = open();
});
afterEach(async () => {
  await n.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('apply', () => {
  it('grants with the proposed ID, answers with the current revision, refuses a taken ID', () => {
    put(n, 'x', 0n);
    const r = n.apply({ leaseGrant: { TTL: 1n, ID: 7n } });
    assert.deepEqual(r.response, { header: { clusterId: 0n, memberId: 0n, revision: 2n, raftTerm: 0n }, ID: 7n, TTL: 2n, error: '' });
    const again = n.apply({ leaseGrant: { TTL: 10n, ID: 7n } });
    assert.ok(again.error instanceof EtcdApiError && again.error.errorName === 'leaseExist');
    const big = n.apply({ leaseGrant: { TTL: 9_000_000_001n, ID: 8n } });
    assert.ok(big.error instanceof EtcdApiError && big.error.errorName === 'leaseTTLTooLarge');
  });

  it('a put with a lease that does not exist fails with "requested lease not found"', () => {
    const r = put(n, 'k', 0x1234n);
    assert.ok(r.error instanceof EtcdApiError && r.error.errorName === 'leaseNotFound');
    assert.equal(n.kv.range(b('k'), undefined).kvs.length, 0);
  });

  it('revoking an unknown lease fails with "requested lease not found"', () => {
    const r = n.apply({ leaseRevoke: { ID: 42n } });
    assert.ok(r.error instanceof EtcdApiError && r.error.errorName === 'leaseNotFound');
  });
});

describe('attach and detach follow the key changes', () => {
  it('put attaches, overwrite moves, put without lease detaches, delete detaches, txn too', () => {
    const a = grant(n, 60n, 1n);
    const c = grant(n, 60n, 2n);
    put(n, 'k1', a);
    put(n, 'k2', a);
    put(n, 'k3', a);
    assert.deepEqual(keysOf(n, a), ['k1', 'k2', 'k3']);
    put(n, 'k1', c); // moved to another lease
    put(n, 'k2', 0n); // no lease any more
    put(n, 'k3', a); // same lease: stays
    assert.deepEqual(keysOf(n, a), ['k3']);
    assert.deepEqual(keysOf(n, c), ['k1']);
    n.apply({ deleteRange: { key: b('k3'), rangeEnd: Buffer.alloc(0), prevKv: false } });
    assert.deepEqual(keysOf(n, a), []);
    // ignore_lease keeps the key's lease.
    n.apply({ put: { key: b('k1'), value: b('w'), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: true } });
    assert.deepEqual(keysOf(n, c), ['k1']);
    // A txn that puts a key twice ends attached to the last lease.
    n.apply({
      txn: {
        compare: [],
        success: [
          { requestPut: { key: b('t'), value: b('1'), lease: a, prevKv: false, ignoreValue: false, ignoreLease: false } },
          { requestPut: { key: b('t'), value: b('2'), lease: c, prevKv: false, ignoreValue: false, ignoreLease: false } },
        ],
        failure: [],
      },
    });
    assert.deepEqual(keysOf(n, a), []);
    assert.deepEqual(keysOf(n, c), ['k1', 't']);
  });
});

describe('revoke', () => {
  it('deletes every attached key in one revision that watchers see, and removes the lease', () => {
    const a = grant(n, 60n, 1n);
    for (const k of ['c', 'a', 'b']) put(n, k, a);
    put(n, 'other', 0n);
    const before = n.kv.currentRevision;
    n.recorder.batches.length = 0;
    const r = n.apply({ leaseRevoke: { ID: a } });
    assert.equal(r.error, undefined);
    assert.equal(n.kv.currentRevision, before + 1);
    assert.deepEqual((r.response as PutResponse).header?.revision, BigInt(before + 1));
    assert.equal(n.recorder.batches.length, 1);
    const batch = n.recorder.batches[0];
    assert.equal(batch?.rev, before + 1);
    assert.deepEqual(
      batch?.events.map((e) => [e.type, e.kv?.key.toString(), e.prevKv?.lease]),
      [
        [Event_EventType.DELETE, 'a', a],
        [Event_EventType.DELETE, 'b', a],
        [Event_EventType.DELETE, 'c', a],
      ],
    );
    assert.deepEqual(
      n.kv.range(b('a'), Buffer.from([0])).kvs.map((kv) => kv.key.toString()),
      ['other'],
    );
    assert.equal(n.lease.lessor.exists(a), false);
    assert.equal(n.backend.buckets.lease.count(), 0);
  });

  it('a lease without keys is revoked without a new revision', () => {
    const a = grant(n, 60n, 1n);
    const rev = n.kv.currentRevision;
    n.apply({ leaseRevoke: { ID: a } });
    assert.equal(n.kv.currentRevision, rev);
  });
});

describe('expiry on the leader', () => {
  it('proposes a revoke for each expired lease; their keys go', async () => {
    const a = grant(n, 5n, 1n);
    const c = grant(n, 30n, 2n);
    put(n, 'ka', a);
    put(n, 'kc', c);
    n.leader = true;
    n.lease.onLeaderChange(true);
    // Promote: now + election timeout (1 s) + TTL.
    n.clock.t += 5_999;
    n.lease.checkExpired();
    assert.deepEqual(n.proposed, []);
    n.clock.t += 1;
    n.lease.checkExpired();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(n.proposed, [{ leaseRevoke: { ID: a } }]);
    assert.equal(n.kv.range(b('ka'), undefined).kvs.length, 0);
    assert.equal(n.kv.range(b('kc'), undefined).kvs.length, 1);
    assert.equal(n.lease.lessor.exists(a), false);
  });

  it('a follower revokes nothing; losing leadership stops expiry', async () => {
    grant(n, 5n, 1n);
    n.clock.t += 1e6;
    n.lease.checkExpired();
    n.lease.onLeaderChange(true);
    n.lease.onLeaderChange(false);
    n.clock.t += 1e6;
    n.lease.checkExpired();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(n.proposed, []);
  });

  it('revokes at most 16 at once and at most 500 per round (etcd\'s rates)', async () => {
    for (let i = 1n; i <= 600n; i++) grant(n, 2n, i);
    n.leader = true;
    n.lease.onLeaderChange(true);
    n.clock.t += 10_000;
    // Proposals that never settle, to count what is in flight.
    const hold: Array<() => void> = [];
    const lease = n.lease as unknown as { ctx: FeatureContext };
    const original = lease.ctx.propose;
    const proposed: bigint[] = [];
    (lease.ctx as { propose: FeatureContext['propose'] }).propose = (body) => {
      proposed.push(body.leaseRevoke?.ID ?? 0n);
      return new Promise((resolve) => hold.push(() => resolve({ response: {}, error: undefined })));
    };
    n.lease.checkExpired();
    assert.equal(proposed.length, 16);
    for (let round = 0; round < 100 && hold.length > 0; round++) {
      const batch = hold.splice(0);
      for (const h of batch) h();
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(proposed.length, 500);
    n.lease.checkExpired();
    for (let round = 0; round < 100 && hold.length > 0; round++) {
      for (const h of hold.splice(0)) h();
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(proposed.length, 600);
    (lease.ctx as { propose: FeatureContext['propose'] }).propose = original;
  });
});

describe('the Lease service operations', () => {
  it('grant picks a positive ID before proposing; timeToLive and leases answer on the leader', async () => {
    await assert.rejects(Promise.resolve().then(() => n.lease.timeToLive({ ID: 1n, keys: false })), /no leader/);
    n.leader = true;
    n.lease.onLeaderChange(true);
    const g = await n.lease.grant({ TTL: 60n, ID: 0n });
    assert.ok(g.ID > 0n);
    assert.equal(n.proposed[0]?.leaseGrant?.ID, g.ID);
    put(n, 'b', g.ID);
    put(n, 'a', g.ID);
    n.clock.t += 1_500;
    assert.deepEqual(await n.lease.timeToLive({ ID: g.ID, keys: true }), {
      header: { clusterId: 0n, memberId: 0n, revision: BigInt(n.kv.currentRevision), raftTerm: 0n },
      ID: g.ID,
      TTL: 58n,
      grantedTTL: 60n,
      keys: [b('a'), b('b')],
    });
    assert.deepEqual((await n.lease.timeToLive({ ID: 5n, keys: true })).TTL, -1n);
    assert.deepEqual(n.lease.leases().leases, [{ ID: g.ID }]);
  });

  it('renew: the TTL for a live lease, 0 for a missing one, 0 once an expired one is revoked', async () => {
    const a = grant(n, 5n, 1n);
    await assert.rejects(n.lease.renew(a), /no leader/);
    n.leader = true;
    n.lease.onLeaderChange(true);
    assert.equal(await n.lease.renew(a), 5n);
    assert.equal(await n.lease.renew(99n), 0n);
    n.clock.t += 5_000;
    const waiting = n.lease.renew(a);
    n.lease.checkExpired();
    assert.equal(await waiting, 0n);
  });
});

describe('restart', () => {
  it('restores leases from the bucket and re-attaches keys from the KV store; expiry starts fresh', async () => {
    const a = grant(n, 10n, 1n);
    const c = grant(n, 20n, 2n);
    put(n, 'k1', a);
    put(n, 'k2', a);
    put(n, 'k3', c);
    put(n, 'k4', 0n);
    await n.close();
    n = open();
    assert.deepEqual(keysOf(n, a), ['k1', 'k2']);
    assert.deepEqual(keysOf(n, c), ['k3']);
    assert.equal(n.lease.lessor.lookup(a)?.remainingMs, Infinity);
    n.lease.onLeaderChange(true);
    assert.equal(n.lease.lessor.lookup(a)?.remainingMs, 11_000);
    // The lookup for puts works again.
    assert.equal(put(n, 'k5', c).error, undefined);
    assert.deepEqual(keysOf(n, c), ['k3', 'k5']);
  });

  it('re-attaches keys across scan pages', async () => {
    const a = grant(n, 10n, 1n);
    for (let i = 0; i < 2500; i++) put(n, `key/${String(i).padStart(5, '0')}`, i % 2 === 0 ? a : 0n);
    await n.close();
    n = open();
    assert.equal(keysOf(n, a).length, 1250);
  });
});
