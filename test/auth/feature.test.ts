// The auth feature's apply-time checks (etcd's authApplierV3) on in-memory buckets: who may make which committed
// request, judged from the user name and auth revision in the entry header.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { noopLogger } from '../../src/base/logger.js';
import { EtcdApiError, type EtcdErrorName } from '../../src/proto/errors.js';
import { Permission_Type } from '../../src/proto/gen/authpb/auth.js';
import { InternalRaftRequest } from '../../src/proto/gen/etcdserverpb/raft_internal.js';
import { MemoryAuthBucket, hashPassword } from '../../src/server/auth/index.js';
import { AuthFeature } from '../../src/server/kvserver/auth-feature.js';
import type { FeatureContext } from '../../src/server/kvserver/feature.js';

const b = (s: string) => Buffer.from(s);

function feature(): AuthFeature {
  const backend = {
    auth: new MemoryAuthBucket(),
    authUsers: new MemoryAuthBucket(),
    authRoles: new MemoryAuthBucket(),
    batch: <T>(fn: () => T): T => fn(),
    onRollback: () => {},
  };
  return new AuthFeature({ backend, logger: noopLogger } as unknown as FeatureContext);
}

function is(err: Error | undefined, name: EtcdErrorName | undefined): void {
  if (name === undefined) assert.equal(err, undefined);
  else assert.ok(err instanceof EtcdApiError && err.errorName === name, `expected ${name}, got ${err?.message ?? 'nothing'}`);
}

describe('auth feature: apply-time checks', () => {
  test('the header names the sender; leases, prev_kv, admin requests, self reads', async () => {
    const f = feature();
    const s = f.store;
    assert.equal(s.revision, 1, 'a new store starts at auth revision 1');
    s.userAdd({ name: 'root', password: '', hashedPassword: await hashPassword('r', 4), options: undefined });
    s.userGrantRole('root', 'root');
    s.userAdd({ name: 'u', password: '', hashedPassword: await hashPassword('u', 4), options: undefined });
    s.roleAdd('w');
    s.roleGrantPermission({ name: 'w', perm: { permType: Permission_Type.WRITE, key: b('k/'), rangeEnd: b('k0') } });
    s.userGrantRole('u', 'w');
    s.authEnable();
    f.leaseKeys = (id) => (id === 7n ? [b('k/1'), b('other')] : id === 8n ? [b('k/2')] : []);
    // No user: no token came, so the API layer put auth revision 0 in the header.
    const as = (user: string, body: Parameters<typeof InternalRaftRequest.fromPartial>[0]) =>
      f.gate(InternalRaftRequest.fromPartial({ ...body, header: { ID: 1n, username: user, authRevision: user === '' ? 0n : BigInt(s.revision) } }));

    is(as('u', { put: { key: b('k/1') } }), undefined);
    is(as('u', { put: { key: b('k/1'), prevKv: true } }), 'permissionDenied');
    is(as('u', { put: { key: b('k/1'), lease: 8n } }), undefined);
    is(as('u', { put: { key: b('k/1'), lease: 7n } }), 'permissionDenied');
    is(as('u', { leaseRevoke: { ID: 7n } }), 'permissionDenied');
    is(as('u', { leaseRevoke: { ID: 8n } }), undefined);
    is(as('u', { deleteRange: { key: b('k/'), rangeEnd: b('k0') } }), undefined);
    is(as('u', { deleteRange: { key: b('k/'), rangeEnd: b('k0'), prevKv: true } }), 'permissionDenied');
    is(as('', { put: { key: b('k/1') } }), 'userEmpty');
    is(as('u', { compaction: { revision: 1n } }), undefined);
    is(as('u', { authUserList: {} }), 'permissionDenied');
    is(as('', { authEnable: {} }), 'userEmpty');
    is(as('u', { authUserGet: { name: 'u' } }), undefined);
    is(as('u', { authUserGet: { name: 'root' } }), 'permissionDenied');
    is(as('u', { authRoleGet: { role: 'w' } }), undefined);
    is(as('u', { authRoleGet: { role: 'root' } }), 'permissionDenied');
    is(as('root', { authUserList: {} }), undefined);
    // The node's own requests go as root (etcd's WithRoot).
    const internal = f.internalAuth();
    is(f.gate(InternalRaftRequest.fromPartial({ header: { ID: 2n, username: internal.username, authRevision: BigInt(internal.authRevision) }, leaseRevoke: { ID: 7n } })), undefined);
  });

  test('authenticate answers `<prefix>.<index>`; a request error is thrown as etcd\'s error (the Applier makes it the answer)', async () => {
    const f = feature();
    f.store.userAdd({ name: 'root', password: '', hashedPassword: await hashPassword('r', 4), options: undefined });
    f.store.userGrantRole('root', 'root');
    const refused = (fn: () => unknown, name: EtcdErrorName) =>
      assert.throws(fn, (err: unknown) => err instanceof EtcdApiError && err.errorName === name);
    refused(() => f.apply(InternalRaftRequest.fromPartial({ authenticate: { name: 'root', simpleToken: 'abcdefghijklmnop' } }), 5), 'authNotEnabled');
    f.apply(InternalRaftRequest.fromPartial({ authEnable: {} }), 6);
    const r = f.apply(InternalRaftRequest.fromPartial({ authenticate: { name: 'root', simpleToken: 'abcdefghijklmnop' } }), 7);
    assert.equal((r?.response as { token: string }).token, 'abcdefghijklmnop.7');
    refused(() => f.apply(InternalRaftRequest.fromPartial({ authRoleGrantPermission: { name: 'root' } }), 8), 'permissionNotGiven');
    assert.equal(f.apply(InternalRaftRequest.fromPartial({ put: { key: b('x') } }), 9), undefined, 'not an auth request');
  });
});
