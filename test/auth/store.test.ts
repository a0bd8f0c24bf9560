// The auth store on in-memory buckets: etcd's permission merge and range checks, the root rules, the auth
// revision, password checks and simple tokens on an injected clock.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { EtcdApiError, type EtcdErrorName } from '../../src/proto/errors.js';
import { Permission_Type, User } from '../../src/proto/gen/authpb/auth.js';
import { RequestOp, TxnRequest } from '../../src/proto/gen/etcdserverpb/rpc.js';
import {
  type AuthBuckets,
  type AuthInfo,
  AuthStore,
  SimpleTokens,
  UnifiedPermissions,
  genTokenPrefix,
  hashPassword,
  memoryAuthBuckets,
} from '../../src/server/auth/index.js';
import { checkTxnAuth } from '../../src/server/kvserver/auth-feature.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const NONE = Buffer.alloc(0);
const OPEN = Buffer.from([0]);
const { READ, WRITE, READWRITE } = Permission_Type;

function refuses(fn: () => unknown, name: EtcdErrorName): void {
  assert.throws(fn, (err: unknown) => err instanceof EtcdApiError && err.errorName === name, `expected ${name}`);
}

async function rejects(p: Promise<unknown>, name: EtcdErrorName): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof EtcdApiError && err.errorName === name, `expected ${name}`);
}

function perms(...list: Array<[Permission_Type, string, string | Buffer]>): UnifiedPermissions {
  return UnifiedPermissions.merge(list.map(([permType, key, end]) => ({ permType, key: b(key), rangeEnd: typeof end === 'string' ? b(end) : end })));
}

/** A store with an injected clock, at revision 1 like a node's. */
function newStore(buckets: AuthBuckets = memoryAuthBuckets(), clock = { now: 0 }): { store: AuthStore; clock: { now: number } } {
  const store = new AuthStore(buckets, { tokens: new SimpleTokens({ ttlMs: 300_000, now: () => clock.now }) });
  store.initRevision();
  return { store, clock };
}

/** Users root (root role) and alice, a role `reader`; cheap bcrypt (cost 4) hashes. */
async function populated(): Promise<{ store: AuthStore; clock: { now: number }; buckets: AuthBuckets }> {
  const buckets = memoryAuthBuckets();
  const { store, clock } = newStore(buckets);
  store.userAdd({ name: 'root', password: '', hashedPassword: await hashPassword('rootpw', 4), options: undefined });
  store.userAdd({ name: 'alice', password: '', hashedPassword: await hashPassword('apw', 4), options: undefined });
  store.roleAdd('reader');
  store.userGrantRole('alice', 'reader');
  store.userGrantRole('root', 'root');
  return { store, clock, buckets };
}

const as = (store: AuthStore, username: string): AuthInfo => ({ username, revision: store.revision });

describe('permissions merged over roles (range_perm_cache)', () => {
  test('a single key, a range, a prefix, from-key', () => {
    const p = perms([READ, 'a', ''], [READ, 'c', 'f'], [READ, 'p/', 'p0'], [READ, 'x', OPEN]);
    assert.ok(p.allows(READ, b('a'), NONE));
    assert.ok(!p.allows(READ, b('a0'), NONE));
    assert.ok(!p.allows(READ, b('a'), b('b')), 'a key permission does not cover a range beyond it');
    assert.ok(p.allows(READ, b('a'), b('a\0')), 'the range of exactly that key');
    assert.ok(p.allows(READ, b('c'), NONE) && p.allows(READ, b('e\xff'), NONE) && !p.allows(READ, b('f'), NONE));
    assert.ok(p.allows(READ, b('c'), b('f')) && p.allows(READ, b('d'), b('e')) && !p.allows(READ, b('c'), b('g')));
    assert.ok(p.allows(READ, b('p/1'), NONE) && p.allows(READ, b('p/'), b('p0')) && !p.allows(READ, b('p'), b('p0')));
    assert.ok(p.allows(READ, b('zzz'), NONE) && p.allows(READ, b('x'), OPEN) && p.allows(READ, b('y'), b('z')));
    assert.ok(!p.allows(READ, b('w'), OPEN), 'from w on is not all covered');
    assert.ok(!p.allows(WRITE, b('a'), NONE), 'read is not write');
  });

  test('adjacent and overlapping intervals join; a gap does not', () => {
    const p = perms([READ, 'a', 'c'], [READ, 'c', 'e'], [READ, 'd', 'g'], [READ, 'h', 'k']);
    assert.ok(p.allows(READ, b('a'), b('g')));
    assert.ok(p.allows(READ, b('b'), b('f')));
    assert.ok(!p.allows(READ, b('a'), b('i')), 'gap [g, h)');
    assert.ok(p.allows(READ, b('h'), b('k')));
  });

  test('READWRITE counts for both; the whole keyspace is key "\\0" to "\\0"', () => {
    const p = perms([READWRITE, '\0', OPEN], [WRITE, 'w', '']);
    assert.ok(p.allows(READ, b('anything'), NONE) && p.allows(WRITE, b('\0'), OPEN));
    assert.ok(perms([WRITE, 'w', '']).allows(WRITE, b('w'), NONE));
    assert.ok(!perms([WRITE, 'w', '']).allows(READ, b('w'), NONE));
  });
});

describe('auth store', () => {
  test('auth enable needs user root with role root; root may do anything', async () => {
    const { store } = newStore();
    refuses(() => store.authEnable(), 'rootUserNotExist');
    store.userAdd({ name: 'root', password: '', hashedPassword: await hashPassword('x', 4), options: undefined });
    refuses(() => store.authEnable(), 'rootRoleNotExist');
    // The root role need not exist to be granted (etcdctl creates it afterwards).
    store.userGrantRole('root', 'root');
    store.authEnable();
    assert.equal(store.enabled, true);
    store.isPutPermitted(as(store, 'root'), b('any'));
    store.isRangePermitted(as(store, 'root'), b('\0'), OPEN);
    store.isAdminPermitted(as(store, 'root'));
  });

  test('with auth on: no token, an old revision, an unknown user, a missing permission', async () => {
    const { store } = await populated();
    store.isPutPermitted(undefined, b('k')); // auth off: anything goes
    store.authEnable();
    refuses(() => store.isRangePermitted(undefined, b('k'), NONE), 'userEmpty');
    refuses(() => store.isAdminPermitted(undefined), 'userEmpty');
    refuses(() => store.isRangePermitted({ username: 'ghost', revision: store.revision }, b('k'), NONE), 'permissionDenied');
    refuses(() => store.isAdminPermitted({ username: 'ghost', revision: store.revision }), 'userNotFound');
    refuses(() => store.isAdminPermitted(as(store, 'alice')), 'permissionDenied');
    refuses(() => store.isRangePermitted(as(store, 'alice'), b('k'), NONE), 'permissionDenied');
    const before = as(store, 'alice');
    store.roleGrantPermission({ name: 'reader', perm: { permType: READ, key: b('k'), rangeEnd: NONE } });
    refuses(() => store.isRangePermitted(before, b('k'), NONE), 'authOldRevision');
    store.isRangePermitted(as(store, 'alice'), b('k'), NONE);
    refuses(() => store.isPutPermitted(as(store, 'alice'), b('k')), 'permissionDenied');
  });

  test('permissions follow role changes (the cache is invalidated)', async () => {
    const { store } = await populated();
    store.authEnable();
    store.roleGrantPermission({ name: 'reader', perm: { permType: READ, key: b('k/'), rangeEnd: b('k0') } });
    store.isRangePermitted(as(store, 'alice'), b('k/'), b('k0'));
    // Same key and range end: the type changes in place.
    store.roleGrantPermission({ name: 'reader', perm: { permType: WRITE, key: b('k/'), rangeEnd: b('k0') } });
    assert.deepEqual(store.roleGet('reader').map((p) => p.permType), [WRITE]);
    refuses(() => store.isRangePermitted(as(store, 'alice'), b('k/x'), NONE), 'permissionDenied');
    store.isPutPermitted(as(store, 'alice'), b('k/x'));
    store.userRevokeRole('alice', 'reader');
    refuses(() => store.isPutPermitted(as(store, 'alice'), b('k/x')), 'permissionDenied');
    store.userGrantRole('alice', 'reader');
    store.roleDelete('reader');
    assert.deepEqual(store.userGet('alice'), []);
    refuses(() => store.isPutPermitted(as(store, 'alice'), b('k/x')), 'permissionDenied');
  });

  test('a txn needs read on compares and ranges, write on puts and deletes, nested txns included', async () => {
    const { store } = await populated();
    store.authEnable();
    store.roleGrantPermission({ name: 'reader', perm: { permType: READ, key: b('r'), rangeEnd: NONE } });
    store.roleGrantPermission({ name: 'reader', perm: { permType: WRITE, key: b('w'), rangeEnd: NONE } });
    const alice = as(store, 'alice');
    const put = (k: string) => RequestOp.fromPartial({ requestPut: { key: b(k) } });
    const get = (k: string) => RequestOp.fromPartial({ requestRange: { key: b(k) } });
    checkTxnAuth(store, alice, TxnRequest.fromPartial({ compare: [{ key: b('r') }], success: [put('w')], failure: [get('r')] }));
    refuses(() => checkTxnAuth(store, alice, TxnRequest.fromPartial({ compare: [{ key: b('w') }] })), 'permissionDenied');
    refuses(() => checkTxnAuth(store, alice, TxnRequest.fromPartial({ failure: [put('r')] })), 'permissionDenied');
    const nested = RequestOp.fromPartial({ requestTxn: { success: [put('x')] } });
    refuses(() => checkTxnAuth(store, alice, TxnRequest.fromPartial({ success: [nested] })), 'permissionDenied');
  });

  test('root cannot lose its role, be deleted, nor the root role be deleted while auth is on', async () => {
    const { store } = await populated();
    store.roleAdd('root');
    store.authEnable();
    refuses(() => store.userDelete('root'), 'invalidAuthMgmt');
    refuses(() => store.userRevokeRole('root', 'root'), 'invalidAuthMgmt');
    refuses(() => store.roleDelete('root'), 'invalidAuthMgmt');
    assert.deepEqual(store.roleGet('root'), [{ permType: READWRITE, key: NONE, rangeEnd: OPEN }]);
    store.authDisable();
    store.userRevokeRole('root', 'root');
  });

  test("etcd's errors for names that exist, do not exist or are empty", async () => {
    const { store } = await populated();
    refuses(() => store.userAdd({ name: 'alice', password: 'x', hashedPassword: '', options: undefined }), 'userAlreadyExist');
    refuses(() => store.userAdd({ name: '', password: 'x', hashedPassword: '', options: undefined }), 'userEmpty');
    refuses(() => store.roleAdd('reader'), 'roleAlreadyExist');
    refuses(() => store.roleAdd(''), 'roleEmpty');
    refuses(() => store.userGet('nobody'), 'userNotFound');
    refuses(() => store.userGrantRole('alice', 'nothing'), 'roleNotFound');
    refuses(() => store.userGrantRole('nobody', 'reader'), 'userNotFound');
    refuses(() => store.userRevokeRole('alice', 'root'), 'roleNotGranted');
    refuses(() => store.roleRevokePermission({ role: 'reader', key: b('a'), rangeEnd: NONE }), 'permissionNotGranted');
    refuses(() => store.roleGet('nothing'), 'roleNotFound');
    assert.deepEqual(store.userList(), ['alice', 'root']);
    assert.deepEqual(store.roleList(), ['reader']);
  });

  test('every change but enable bumps the auth revision; enabled flag and revision persist as etcd stores them', async () => {
    const { store, buckets } = await populated();
    // initRevision (1) + 2 user adds + role add + 2 grants.
    assert.equal(store.revision, 6);
    store.userGrantRole('alice', 'reader'); // already granted: no change
    assert.equal(store.revision, 6);
    store.authEnable();
    assert.equal(store.revision, 6);
    store.roleGrantPermission({ name: 'reader', perm: { permType: READ, key: b('a'), rangeEnd: NONE } });
    store.authDisable();
    assert.equal(store.revision, 8);
    assert.deepEqual(buckets.auth.get(b('authEnabled')), Buffer.from([0]));
    assert.equal(buckets.auth.get(b('authRevision'))?.readBigUInt64BE(0), 8n);
    store.authEnable();
    const again = new AuthStore(buckets);
    assert.equal(again.enabled, true);
    assert.equal(again.revision, 8);
    const alice = User.decode(buckets.users.get(b('alice')) ?? Buffer.alloc(0));
    assert.equal(alice.name.toString(), 'alice');
    assert.deepEqual(alice.roles, ['reader']);
    assert.match(alice.password.toString(), /^\$2a\$04\$/);
    assert.deepEqual(alice.options, { noPassword: false });
  });

  test('passwords are checked with bcrypt; a --no-password user cannot authenticate', async () => {
    const { store } = await populated();
    await rejects(store.checkPassword('alice', 'apw'), 'authNotEnabled');
    store.userAdd({ name: 'cn', password: '', hashedPassword: '', options: { noPassword: true } });
    store.authEnable();
    assert.equal(await store.checkPassword('alice', 'apw'), store.revision);
    await rejects(store.checkPassword('alice', 'wrong'), 'authFailed');
    await rejects(store.checkPassword('nobody', 'apw'), 'authFailed');
    await rejects(store.checkPassword('cn', ''), 'authFailed');
    refuses(() => store.authenticate('cn', 'abcdefghijklmnop', 9), 'authFailed');
    store.userChangePassword({ name: 'alice', password: '', hashedPassword: await hashPassword('new', 4) });
    await rejects(store.checkPassword('alice', 'apw'), 'authFailed');
    assert.equal(await store.checkPassword('alice', 'new'), store.revision);
  });
});

describe('simple tokens', () => {
  test('`<16 letters>.<index>`, valid until --auth-token-ttl passes without use', async () => {
    const { store, clock } = await populated();
    refuses(() => store.authenticate('alice', 'x', 1), 'authNotEnabled');
    store.authEnable();
    let seed = 7;
    const prefix = genTokenPrefix((n) => (seed = (seed * 31 + 11) % 1000) % n);
    assert.match(prefix, /^[a-zA-Z]{16}$/);
    const token = store.authenticate('alice', prefix, 42);
    assert.equal(token, `${prefix}.42`);
    assert.deepEqual(store.authInfoFromToken(token), { username: 'alice', revision: store.revision });
    clock.now += 299_000;
    assert.ok(store.authInfoFromToken(token), 'still live, and the use restarts the TTL');
    clock.now += 299_000;
    assert.ok(store.authInfoFromToken(token));
    clock.now += 300_000;
    assert.equal(store.authInfoFromToken(token), undefined, 'expired after 300 s unused');
    assert.equal(store.authInfoFromToken('nonsense.1'), undefined);
  });

  test('deleting a user or changing its password voids its tokens; auth disable voids all', async () => {
    const { store } = await populated();
    store.authEnable();
    const a = store.authenticate('alice', 'aaaaaaaaaaaaaaaa', 10);
    const r = store.authenticate('root', 'bbbbbbbbbbbbbbbb', 11);
    store.userChangePassword({ name: 'alice', password: '', hashedPassword: await hashPassword('x', 4) });
    assert.equal(store.authInfoFromToken(a), undefined);
    assert.ok(store.authInfoFromToken(r));
    const a2 = store.authenticate('alice', 'cccccccccccccccc', 12);
    store.userDelete('alice');
    assert.equal(store.authInfoFromToken(a2), undefined);
    store.authDisable();
    assert.equal(store.authInfoFromToken(r), undefined);
    assert.equal(store.tokens.size, 0);
  });

  test('expired tokens are swept when new ones are assigned', () => {
    const clock = { now: 0 };
    const tokens = new SimpleTokens({ ttlMs: 1000, now: () => clock.now });
    tokens.enable();
    for (let i = 0; i < 5; i++) tokens.assign('p', i, 'u');
    clock.now = 1000;
    tokens.assign('p', 99, 'u');
    assert.equal(tokens.size, 1);
  });
});
