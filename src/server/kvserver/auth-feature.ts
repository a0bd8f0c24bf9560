/**
 * Auth in the node (etcd's authApplierV3, applier auth methods and the Authenticator half of v3_server.go):
 * - `AuthFeature` applies the committed auth requests (user*, role*, auth enable/disable/status and
 *   authenticate) and, through `gate`, refuses committed KV and lease requests that the user named in
 *   their header may not make — before they touch the store, so that a refusal changes nothing;
 * - `AuthApi` is what the Auth gRPC service and the KV API call: it checks passwords and hashes new ones
 *   before proposing (bcrypt is slow and random, apply must be neither), and resolves tokens.
 *
 * Which requests need what (etcd 3.5):
 * - root (`isAdminPermitted`): auth enable/disable/status, user add/delete/passwd/grant/revoke/list, role
 *   add/delete/grant/revoke/list; user get of oneself and role get of a role one has are allowed to anyone;
 * - Range: read on [key, range_end); Put: write on key, plus read when prev_kv is asked for, plus write on
 *   every key of the lease it attaches; DeleteRange: write, plus read with prev_kv; Txn: read for every
 *   compare and range, write for every put and delete, on both branches and in nested txns; LeaseRevoke:
 *   write on every key attached to the lease; Compaction: nothing beyond a valid token.
 */
import { EtcdApiError } from '../../proto/errors.js';
import type { InternalRaftRequest } from '../../proto/gen/etcdserverpb/raft_internal.js';
import type {
  AuthenticateResponse,
  AuthRoleGrantPermissionRequest,
  AuthRoleRevokePermissionRequest,
  AuthUserAddRequest,
  AuthUserChangePasswordRequest,
  RequestOp,
  ResponseHeader,
  TxnRequest,
} from '../../proto/gen/etcdserverpb/rpc.js';
import { randomInt } from 'node:crypto';
import {
  type AuthInfo,
  AuthStore,
  DEFAULT_BCRYPT_COST,
  ROOT_USER,
  SimpleTokens,
  genTokenPrefix,
  hashPassword,
} from '../auth/index.js';
import type { ApplyResult } from './apply.js';
import type { Feature, FeatureContext } from './feature.js';
import type { EtcdServer, ProposalBody } from './server.js';
import type { V3Api } from './v3.js';

export type { AuthInfo } from '../auth/index.js';

export interface AuthFeatureOptions {
  /** --auth-token-ttl in milliseconds (etcd's default 300 s). */
  readonly tokenTtlMs?: number;
  /** The clock simple tokens expire by (Date.now by default). */
  readonly now?: () => number;
}

function ok(response: unknown): ApplyResult {
  return { response, error: undefined };
}


const emptyHeader = (): ResponseHeader => ({ clusterId: 0n, memberId: 0n, revision: 0n, raftTerm: 0n });

/** The requests only root may make (etcd's needAdminPermission). */
function needsAdmin(r: InternalRaftRequest): boolean {
  return (
    r.authEnable !== undefined ||
    r.authDisable !== undefined ||
    r.authStatus !== undefined ||
    r.authUserAdd !== undefined ||
    r.authUserDelete !== undefined ||
    r.authUserChangePassword !== undefined ||
    r.authUserGrantRole !== undefined ||
    r.authUserRevokeRole !== undefined ||
    r.authRoleAdd !== undefined ||
    r.authRoleGrantPermission !== undefined ||
    r.authRoleRevokePermission !== undefined ||
    r.authRoleDelete !== undefined ||
    r.authUserList !== undefined ||
    r.authRoleList !== undefined
  );
}

/** Checks every compare and op of a txn, both branches, nested txns included (etcd's checkTxnAuth). */
export function checkTxnAuth(store: AuthStore, ai: AuthInfo | undefined, t: TxnRequest): void {
  for (const c of t.compare) store.isRangePermitted(ai, c.key, c.rangeEnd);
  const ops = (list: readonly RequestOp[]) => {
    for (const op of list) {
      if (op.requestRange !== undefined) store.isRangePermitted(ai, op.requestRange.key, op.requestRange.rangeEnd);
      else if (op.requestPut !== undefined) store.isPutPermitted(ai, op.requestPut.key);
      else if (op.requestDeleteRange !== undefined) {
        const d = op.requestDeleteRange;
        if (d.prevKv) store.isRangePermitted(ai, d.key, d.rangeEnd);
        store.isDeleteRangePermitted(ai, d.key, d.rangeEnd);
      } else if (op.requestTxn !== undefined) checkTxnAuth(store, ai, op.requestTxn);
    }
  };
  ops(t.success);
  ops(t.failure);
}

export class AuthFeature implements Feature {
  readonly name = 'auth';
  readonly store: AuthStore;
  /**
   * The keys attached to a lease, for etcd's checkLeasePuts (a put that attaches a lease, and a lease
   * revoke, need write permission on every key of the lease). The lease feature sets it; until then no
   * lease has keys as far as auth can tell.
   */
  leaseKeys: (id: bigint) => readonly Uint8Array[] = () => [];

  constructor(
    private readonly ctx: FeatureContext,
    opts: AuthFeatureOptions = {},
  ) {
    const b = ctx.backend;
    const tokens = new SimpleTokens({ ttlMs: opts.tokenTtlMs, now: opts.now });
    this.store = new AuthStore({ auth: b.auth, users: b.authUsers, roles: b.authRoles }, { logger: ctx.logger, tokens });
    // A new store starts at auth revision 1 (etcd's NewAuthStore), so that a token's revision is never 0.
    if (this.store.revision === 0) b.batch(() => this.store.initRevision());
  }

  onRestore(): void {
    this.store.recover();
  }

  /**
   * The identity for requests the node makes on its own (etcd's WithRoot), e.g. the leader revoking an
   * expired lease while auth is on: pass it as `propose(body, feature.internalAuth())`.
   */
  internalAuth(): { username: string; authRevision: number } {
    return { username: ROOT_USER, authRevision: this.store.revision };
  }

  /** Refuses a committed request its sender may not make; the error becomes the request's answer. */
  gate(req: InternalRaftRequest): Error | undefined {
    const store = this.store;
    if (!store.enabled) return undefined;
    const ai: AuthInfo = { username: req.header?.username ?? '', revision: Number(req.header?.authRevision ?? 0n) };
    try {
      if (needsAdmin(req)) {
        store.isAdminPermitted(ai);
      } else if (req.authUserGet !== undefined) {
        if (req.authUserGet.name !== ai.username) store.isAdminPermitted(ai);
      } else if (req.authRoleGet !== undefined) {
        if (!store.hasRole(ai.username, req.authRoleGet.role)) store.isAdminPermitted(ai);
      } else if (req.put !== undefined) {
        const p = req.put;
        store.isPutPermitted(ai, p.key);
        this.checkLeasePuts(ai, p.lease);
        if (p.prevKv) store.isRangePermitted(ai, p.key, Buffer.alloc(0));
      } else if (req.deleteRange !== undefined) {
        const d = req.deleteRange;
        store.isDeleteRangePermitted(ai, d.key, d.rangeEnd);
        if (d.prevKv) store.isRangePermitted(ai, d.key, d.rangeEnd);
      } else if (req.txn !== undefined) {
        checkTxnAuth(store, ai, req.txn);
      } else if (req.range !== undefined) {
        store.isRangePermitted(ai, req.range.key, req.range.rangeEnd);
      } else if (req.leaseRevoke !== undefined) {
        this.checkLeasePuts(ai, req.leaseRevoke.ID);
      }
    } catch (err) {
      if (err instanceof EtcdApiError) return err;
      throw err;
    }
    return undefined;
  }

  private checkLeasePuts(ai: AuthInfo, lease: bigint): void {
    if (lease === 0n) return;
    for (const key of this.leaseKeys(lease)) this.store.isPutPermitted(ai, key);
  }

  apply(req: InternalRaftRequest, index: number): ApplyResult | undefined {
    const s = this.store;
    const header = emptyHeader;
    const mutate = (fn: () => void): ApplyResult => {
      // The in-memory flag, revision and caches mirror the buckets: reload them if the batch rolls back.
      this.ctx.backend.onRollback(() => s.recover());
      fn();
      return ok({ header: header() });
    };
    // An EtcdApiError thrown here is the request's answer: Applier.apply turns it into one.
    if (req.authenticate !== undefined) {
      const a = req.authenticate;
      const resp: AuthenticateResponse = { header: header(), token: s.authenticate(a.name, a.simpleToken, index) };
      return ok(resp);
    }
    if (req.authEnable !== undefined) return mutate(() => s.authEnable());
    if (req.authDisable !== undefined) return mutate(() => s.authDisable());
    if (req.authStatus !== undefined) return ok({ header: header(), enabled: s.enabled, authRevision: BigInt(s.revision) });
    if (req.authUserAdd !== undefined) return mutate(() => s.userAdd(req.authUserAdd as AuthUserAddRequest));
    if (req.authUserDelete !== undefined) return mutate(() => s.userDelete(req.authUserDelete?.name ?? ''));
    if (req.authUserChangePassword !== undefined) {
      return mutate(() => s.userChangePassword(req.authUserChangePassword as AuthUserChangePasswordRequest));
    }
    if (req.authUserGrantRole !== undefined) {
      const g = req.authUserGrantRole;
      return mutate(() => s.userGrantRole(g.user, g.role));
    }
    if (req.authUserRevokeRole !== undefined) {
      const g = req.authUserRevokeRole;
      return mutate(() => s.userRevokeRole(g.name, g.role));
    }
    if (req.authUserGet !== undefined) return ok({ header: header(), roles: s.userGet(req.authUserGet.name) });
    if (req.authUserList !== undefined) return ok({ header: header(), users: s.userList() });
    if (req.authRoleAdd !== undefined) return mutate(() => s.roleAdd(req.authRoleAdd?.name ?? ''));
    if (req.authRoleDelete !== undefined) return mutate(() => s.roleDelete(req.authRoleDelete?.role ?? ''));
    if (req.authRoleGet !== undefined) return ok({ header: header(), perm: s.roleGet(req.authRoleGet.role) });
    if (req.authRoleList !== undefined) return ok({ header: header(), roles: s.roleList() });
    if (req.authRoleGrantPermission !== undefined) {
      return mutate(() => s.roleGrantPermission(req.authRoleGrantPermission as AuthRoleGrantPermissionRequest));
    }
    if (req.authRoleRevokePermission !== undefined) {
      return mutate(() => s.roleRevokePermission(req.authRoleRevokePermission as AuthRoleRevokePermissionRequest));
    }
    return undefined;
  }

  close(): void {
    this.store.tokens.disable();
  }
}

export interface AuthApiOptions {
  /** Uniform integer in [0, n), for token prefixes (crypto.randomInt by default). */
  readonly randomInt?: (n: number) => number;
  /** --bcrypt-cost (etcd's default 10). */
  readonly bcryptCost?: number;
}

/** How many times Authenticate retries when the auth store changed while the password was being checked. */
const AUTHENTICATE_ATTEMPTS = 5;

/** The auth half of the v3 API (etcd's Authenticator), called by the gRPC handlers in api/. */
export class AuthApi {
  private readonly randomInt: (n: number) => number;
  private readonly bcryptCost: number;

  constructor(
    private readonly api: V3Api,
    readonly feature: AuthFeature,
    opts: AuthApiOptions = {},
  ) {
    this.randomInt = opts.randomInt ?? ((n) => randomInt(n));
    this.bcryptCost = opts.bcryptCost ?? DEFAULT_BCRYPT_COST;
  }

  get store(): AuthStore {
    return this.feature.store;
  }

  /**
   * etcd's AuthInfoFromCtx: who sent a request carrying `token`. Undefined when auth is off or no token
   * came (the permission checks then answer "user name is empty"); a token that is unknown or expired is
   * refused at once with "invalid auth token".
   */
  authInfo(token: string | undefined): AuthInfo | undefined {
    if (!this.store.enabled || token === undefined) return undefined;
    const ai = this.store.authInfoFromToken(token);
    if (ai === undefined) throw new EtcdApiError('invalidAuthToken');
    return ai;
  }

  /** Proposes an auth request in the name of `ai` and answers its response with the header filled. */
  async propose<T extends { header?: ResponseHeader | undefined }>(body: ProposalBody, ai: AuthInfo | undefined): Promise<T> {
    const result = await this.api.server.propose(body, { username: ai?.username ?? '', authRevision: ai?.revision ?? 0 });
    if (result.error) throw result.error;
    const resp = result.response as T;
    resp.header = this.api.header();
    return resp;
  }

  /**
   * Checks the password on this member's linearizable view of the store, then proposes the token
   * (`<random prefix>.<raft index>`); if the store changed while bcrypt ran, the check is repeated.
   */
  async authenticate(name: string, password: string): Promise<AuthenticateResponse> {
    await this.api.server.readBarrier();
    for (let attempt = 1; ; attempt++) {
      const checked = await this.store.checkPassword(name, password);
      const simpleToken = genTokenPrefix(this.randomInt);
      // The password stays out of the entry (and so out of the WAL): the check above already happened.
      const resp = await this.propose<AuthenticateResponse>({ authenticate: { name, password: '', simpleToken } }, undefined);
      if (checked === this.store.revision || attempt >= AUTHENTICATE_ATTEMPTS) return resp;
    }
  }

  async userAdd(r: AuthUserAddRequest, ai: AuthInfo | undefined): Promise<{ header: ResponseHeader | undefined }> {
    const req = r.options?.noPassword === true ? r : { ...r, hashedPassword: await hashPassword(r.password, this.bcryptCost), password: '' };
    return this.propose({ authUserAdd: req }, ai);
  }

  async userChangePassword(r: AuthUserChangePasswordRequest, ai: AuthInfo | undefined): Promise<{ header: ResponseHeader | undefined }> {
    const req = { ...r, hashedPassword: await hashPassword(r.password, this.bcryptCost), password: '' };
    return this.propose({ authUserChangePassword: req }, ai);
  }
}

/** The AuthApi of a node, made once per V3Api; undefined if the auth feature is not installed. */
const apis = new WeakMap<V3Api, AuthApi>();
export function authApiOf(api: V3Api): AuthApi | undefined {
  let a = apis.get(api);
  if (a === undefined) {
    const feature = api.server.feature(AuthFeature);
    if (feature === undefined) return undefined;
    a = new AuthApi(api, feature);
    apis.set(api, a);
  }
  return a;
}

/** The propose options that carry a request's sender into its raft entry header. */
export function proposeAs(ai: AuthInfo | undefined): { username: string; authRevision: number } {
  return { username: ai?.username ?? '', authRevision: ai?.revision ?? 0 };
}

/**
 * A read served without raft (etcd's doSerialize): check the sender's permission, read, then refuse the
 * answer if the auth store changed while reading (the check may no longer hold).
 */
export function authorizedRead<T>(server: EtcdServer, ai: AuthInfo | undefined, check: (store: AuthStore) => void, read: () => T): T {
  const store = server.feature(AuthFeature)?.store;
  if (store !== undefined) check(store);
  const result = read();
  if (store !== undefined && ai !== undefined && ai.revision !== 0 && ai.revision !== store.revision) {
    throw new EtcdApiError('authOldRevision');
  }
  return result;
}
