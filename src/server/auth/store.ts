/**
 * The auth store (etcd's server/auth/store.go): users, roles and their key permissions in the backend's
 * auth buckets, the enabled flag, the auth revision, a per-user permission cache and the simple tokens.
 *
 * Two sides:
 * - apply (deterministic, inside the apply batch): every `user*`/`role*`/`auth*` mutation and `authenticate`,
 *   and the permission checks of committed requests (`isPutPermitted`, ...), which read the request header's
 *   user name and auth revision;
 * - API (before proposing): `checkPassword` (bcrypt, too slow and too random for apply) and
 *   `authInfoFromToken`.
 * Every mutation but enable bumps the auth revision (persisted). A request whose header carries a revision
 * older than the store's fails with "revision of auth store is old": its permissions were checked against
 * a store that has changed since. Errors are etcd's (EtcdApiError), raised as exceptions.
 */
import { type Logger, noopLogger } from '../../base/logger.js';
import { EtcdApiError } from '../../proto/errors.js';
import { type Permission, Permission_Type, Role, User } from '../../proto/gen/authpb/auth.js';
import type {
  AuthRoleGrantPermissionRequest,
  AuthRoleRevokePermissionRequest,
  AuthUserAddRequest,
  AuthUserChangePasswordRequest,
} from '../../proto/gen/etcdserverpb/rpc.js';
import type { AuthBuckets } from './backend.js';
import { hashPasswordSync, passwordMatches } from './password.js';
import { UnifiedPermissions } from './perms.js';
import { SimpleTokens } from './simple-token.js';

export const ROOT_USER = 'root';
export const ROOT_ROLE = 'root';

/** Keys of the `auth` bucket (etcd's schema). */
const AUTH_ENABLED_KEY = Buffer.from('authEnabled');
const AUTH_REVISION_KEY = Buffer.from('authRevision');

/** What the root role grants, as RoleGet reports it (etcd 3.5): read and write on every key. */
const ROOT_PERMISSION: Permission = { permType: Permission_Type.READWRITE, key: Buffer.alloc(0), rangeEnd: Buffer.from([0]) };

/** Who made a request: the user its token named, and the auth revision when the token was checked. */
export interface AuthInfo {
  readonly username: string;
  readonly revision: number;
}

const NO_RANGE_END = Buffer.alloc(0);
const NOBODY: AuthInfo = { username: '', revision: 0 };

export interface AuthStoreOptions {
  readonly logger?: Logger;
  readonly tokens?: SimpleTokens;
}

/** Go's sort.Strings order: by UTF-8 bytes. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}

export class AuthStore {
  readonly tokens: SimpleTokens;
  private readonly logger: Logger;
  private enabledFlag = false;
  private rev = 0;
  /** Merged permissions by user name; dropped whenever the user's roles or any role's permissions change. */
  /**
   * What each user may do, by name: root or its merged permissions. Every permission check reads it, so
   * a check costs no backend read or decode; every change to a user or role clears it (below).
   */
  private readonly permCache = new Map<string, { readonly root: boolean; readonly perms: UnifiedPermissions }>();

  constructor(
    private readonly buckets: AuthBuckets,
    opts: AuthStoreOptions = {},
  ) {
    this.logger = opts.logger ?? noopLogger;
    this.tokens = opts.tokens ?? new SimpleTokens();
    this.recover();
  }

  /** Reloads the enabled flag and revision from the buckets (at start, and after a rolled-back batch). */
  recover(): void {
    const enabled = this.buckets.auth.get(AUTH_ENABLED_KEY);
    this.enabledFlag = enabled !== undefined && enabled.length === 1 && enabled[0] === 1;
    const rev = this.buckets.auth.get(AUTH_REVISION_KEY);
    this.rev = rev !== undefined && rev.length === 8 ? Number(rev.readBigUInt64BE(0)) : 0;
    this.permCache.clear();
    if (this.enabledFlag) this.tokens.enable();
    else this.tokens.disable();
  }

  /** A new store starts at revision 1, as etcd's does (call inside a write batch when `revision` is 0). */
  initRevision(): void {
    if (this.rev === 0) this.commitRevision();
  }

  get enabled(): boolean {
    return this.enabledFlag;
  }

  get revision(): number {
    return this.rev;
  }

  // ---- users and roles in the buckets ---------------------------------------------------------------------

  // Empty names are never stored (UserAdd/RoleAdd refuse them), and the backend takes no empty keys.
  getUser(name: string): User | undefined {
    if (name === '') return undefined;
    const v = this.buckets.users.get(Buffer.from(name, 'utf8'));
    return v === undefined ? undefined : User.decode(v);
  }

  getRole(name: string): Role | undefined {
    if (name === '') return undefined;
    const v = this.buckets.roles.get(Buffer.from(name, 'utf8'));
    return v === undefined ? undefined : Role.decode(v);
  }

  private putUser(u: User): void {
    this.buckets.users.put(u.name, User.encode(u).finish());
  }

  private putRole(r: Role): void {
    this.buckets.roles.put(r.name, Role.encode(r).finish());
  }

  private allUsers(): User[] {
    return [...this.buckets.users.entries()].map(([, v]) => User.decode(v));
  }

  private commitRevision(): void {
    this.rev += 1;
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(this.rev));
    this.buckets.auth.put(AUTH_REVISION_KEY, b);
  }

  private invalidateCachedPerm(user: string): void {
    this.permCache.delete(user);
  }

  // ---- apply: enable, disable, authenticate ----------------------------------------------------------------

  authEnable(): void {
    if (this.enabledFlag) {
      this.logger.info('auth: authentication is already enabled; ignored auth enable request');
      return;
    }
    const root = this.getUser(ROOT_USER);
    if (root === undefined) throw new EtcdApiError('rootUserNotExist');
    if (!hasRootRole(root)) throw new EtcdApiError('rootRoleNotExist');
    this.buckets.auth.put(AUTH_ENABLED_KEY, Buffer.from([1]));
    this.enabledFlag = true;
    this.tokens.enable();
    this.permCache.clear();
    this.logger.info('auth: enabled authentication');
  }

  authDisable(): void {
    if (!this.enabledFlag) return;
    this.buckets.auth.put(AUTH_ENABLED_KEY, Buffer.from([0]));
    this.commitRevision();
    this.enabledFlag = false;
    this.tokens.disable();
    this.logger.info('auth: disabled authentication');
  }

  /**
   * Applies an Authenticate whose password the API layer has checked: assigns the token
   * `<prefix>.<index>` (etcd checks the user again here, since it may have changed since).
   */
  authenticate(name: string, prefix: string, index: number): string {
    if (!this.enabledFlag) throw new EtcdApiError('authNotEnabled');
    const user = this.getUser(name);
    if (user === undefined || user.options?.noPassword === true) throw new EtcdApiError('authFailed');
    return this.tokens.assign(prefix, index, name);
  }

  // ---- apply: users ---------------------------------------------------------------------------------------

  /** The stored password: the proposed hash (base64), or for an old-style entry the plain password hashed here. */
  private selectPassword(password: string, hashedPassword: string): Buffer {
    if (password !== '' && hashedPassword === '') return hashPasswordSync(password);
    return Buffer.from(hashedPassword, 'base64');
  }

  userAdd(r: AuthUserAddRequest): void {
    if (r.name === '') throw new EtcdApiError('userEmpty');
    if (this.getUser(r.name) !== undefined) throw new EtcdApiError('userAlreadyExist');
    const options = r.options ?? { noPassword: false };
    const password = options.noPassword ? Buffer.alloc(0) : this.selectPassword(r.password, r.hashedPassword);
    this.putUser({ name: Buffer.from(r.name, 'utf8'), password, roles: [], options });
    this.commitRevision();
    this.logger.info(`auth: added a user ${JSON.stringify(r.name)}`);
  }

  userDelete(name: string): void {
    if (this.enabledFlag && name === ROOT_USER) throw new EtcdApiError('invalidAuthMgmt');
    if (this.getUser(name) === undefined) throw new EtcdApiError('userNotFound');
    this.buckets.users.delete(Buffer.from(name, 'utf8'));
    this.commitRevision();
    this.invalidateCachedPerm(name);
    this.tokens.invalidateUser(name);
    this.logger.info(`auth: deleted a user ${JSON.stringify(name)}`);
  }

  userChangePassword(r: AuthUserChangePasswordRequest): void {
    const user = this.getUser(r.name);
    if (user === undefined) throw new EtcdApiError('userNotFound');
    const password = user.options?.noPassword === true ? Buffer.alloc(0) : this.selectPassword(r.password, r.hashedPassword);
    this.putUser({ ...user, password });
    this.commitRevision();
    this.invalidateCachedPerm(r.name);
    this.tokens.invalidateUser(r.name);
    this.logger.info(`auth: changed the password of user ${JSON.stringify(r.name)}`);
  }

  userGrantRole(userName: string, role: string): void {
    const user = this.getUser(userName);
    if (user === undefined) throw new EtcdApiError('userNotFound');
    // The root role need not exist yet: etcdctl's `auth enable` creates it after granting it.
    if (role !== ROOT_ROLE && this.getRole(role) === undefined) throw new EtcdApiError('roleNotFound');
    if (user.roles.includes(role)) {
      this.logger.warn(`auth: ignored granting role ${JSON.stringify(role)} to user ${JSON.stringify(userName)}, who has it`);
      return;
    }
    this.putUser({ ...user, roles: [...user.roles, role].sort(byteOrder) });
    this.invalidateCachedPerm(userName);
    this.commitRevision();
  }

  userGet(name: string): string[] {
    const user = this.getUser(name);
    if (user === undefined) throw new EtcdApiError('userNotFound');
    return [...user.roles];
  }

  userList(): string[] {
    return this.allUsers().map((u) => u.name.toString('utf8'));
  }

  userRevokeRole(name: string, role: string): void {
    if (this.enabledFlag && name === ROOT_USER && role === ROOT_ROLE) throw new EtcdApiError('invalidAuthMgmt');
    const user = this.getUser(name);
    if (user === undefined) throw new EtcdApiError('userNotFound');
    const roles = user.roles.filter((r) => r !== role);
    if (roles.length === user.roles.length) throw new EtcdApiError('roleNotGranted');
    this.putUser({ ...user, roles });
    this.invalidateCachedPerm(name);
    this.commitRevision();
  }

  // ---- apply: roles ---------------------------------------------------------------------------------------

  roleAdd(name: string): void {
    if (name === '') throw new EtcdApiError('roleEmpty');
    if (this.getRole(name) !== undefined) throw new EtcdApiError('roleAlreadyExist');
    this.putRole({ name: Buffer.from(name, 'utf8'), keyPermission: [] });
    this.commitRevision();
  }

  roleGet(name: string): Permission[] {
    const role = this.getRole(name);
    if (role === undefined) throw new EtcdApiError('roleNotFound');
    return name === ROOT_ROLE ? [{ ...ROOT_PERMISSION }] : role.keyPermission;
  }

  roleList(): string[] {
    return [...this.buckets.roles.entries()].map(([k]) => k.toString('utf8'));
  }

  roleDelete(name: string): void {
    if (this.enabledFlag && name === ROOT_ROLE) throw new EtcdApiError('invalidAuthMgmt');
    if (this.getRole(name) === undefined) throw new EtcdApiError('roleNotFound');
    this.buckets.roles.delete(Buffer.from(name, 'utf8'));
    for (const user of this.allUsers()) {
      const roles = user.roles.filter((r) => r !== name);
      if (roles.length === user.roles.length) continue;
      this.putUser({ ...user, roles });
      this.invalidateCachedPerm(user.name.toString('utf8'));
    }
    this.commitRevision();
  }

  roleGrantPermission(r: AuthRoleGrantPermissionRequest): void {
    const perm = r.perm;
    if (perm === undefined) throw new EtcdApiError('permissionNotGiven');
    const role = this.getRole(r.name);
    if (role === undefined) throw new EtcdApiError('roleNotFound');
    const perms = role.keyPermission;
    // etcd looks at the first permission whose key is >= the new key only (permissions are sorted by key).
    const idx = perms.findIndex((p) => Buffer.compare(p.key, perm.key) >= 0);
    const at = idx === -1 ? undefined : perms[idx];
    if (at !== undefined && sameBytes(at.key, perm.key) && sameBytes(at.rangeEnd, perm.rangeEnd)) {
      at.permType = perm.permType;
    } else {
      perms.push({ permType: perm.permType, key: Buffer.from(perm.key), rangeEnd: Buffer.from(perm.rangeEnd) });
      perms.sort((a, b) => Buffer.compare(a.key, b.key));
    }
    this.putRole(role);
    this.permCache.clear();
    this.commitRevision();
  }

  roleRevokePermission(r: AuthRoleRevokePermissionRequest): void {
    const role = this.getRole(r.role);
    if (role === undefined) throw new EtcdApiError('roleNotFound');
    const kept = role.keyPermission.filter((p) => !sameBytes(p.key, r.key) || !sameBytes(p.rangeEnd, r.rangeEnd));
    if (kept.length === role.keyPermission.length) throw new EtcdApiError('permissionNotGranted');
    this.putRole({ ...role, keyPermission: kept });
    this.permCache.clear();
    this.commitRevision();
  }

  // ---- permission checks ----------------------------------------------------------------------------------

  hasRole(user: string, role: string): boolean {
    return this.getUser(user)?.roles.includes(role) ?? false;
  }

  /** Checks that the user may do anything (root); throws etcd's error if not. */
  isAdminPermitted(ai: AuthInfo | undefined): void {
    if (!this.enabledFlag) return;
    if (ai === undefined || ai.username === '') throw new EtcdApiError('userEmpty');
    const u = this.getUser(ai.username);
    if (u === undefined) throw new EtcdApiError('userNotFound');
    if (!hasRootRole(u)) throw new EtcdApiError('permissionDenied');
  }

  isPutPermitted(ai: AuthInfo | undefined, key: Uint8Array): void {
    this.isOpPermitted(ai ?? NOBODY, key, NO_RANGE_END, Permission_Type.WRITE);
  }

  isRangePermitted(ai: AuthInfo | undefined, key: Uint8Array, rangeEnd: Uint8Array): void {
    this.isOpPermitted(ai ?? NOBODY, key, rangeEnd, Permission_Type.READ);
  }

  isDeleteRangePermitted(ai: AuthInfo | undefined, key: Uint8Array, rangeEnd: Uint8Array): void {
    this.isOpPermitted(ai ?? NOBODY, key, rangeEnd, Permission_Type.WRITE);
  }

  private isOpPermitted(ai: AuthInfo, key: Uint8Array, rangeEnd: Uint8Array, type: Permission_Type.READ | Permission_Type.WRITE): void {
    if (!this.enabledFlag) return;
    // Revision 0: no token came with the request.
    if (ai.revision === 0) throw new EtcdApiError('userEmpty');
    if (ai.revision < this.rev) {
      this.logger.warn(`auth: request auth revision ${ai.revision} is older than the store's ${this.rev}`);
      throw new EtcdApiError('authOldRevision');
    }
    const access = this.accessOf(ai.username);
    if (access === undefined) throw new EtcdApiError('permissionDenied');
    if (access.root) return;
    if (!access.perms.allows(type, key, rangeEnd)) throw new EtcdApiError('permissionDenied');
  }

  private accessOf(name: string): { readonly root: boolean; readonly perms: UnifiedPermissions } | undefined {
    let access = this.permCache.get(name);
    if (access === undefined) {
      const user = this.getUser(name);
      if (user === undefined) return undefined;
      const all: Permission[] = [];
      for (const roleName of user.roles) all.push(...(this.getRole(roleName)?.keyPermission ?? []));
      access = { root: hasRootRole(user), perms: UnifiedPermissions.merge(all) };
      this.permCache.set(name, access);
    }
    return access;
  }

  // ---- API side -------------------------------------------------------------------------------------------

  /**
   * Checks a password before an Authenticate is proposed (etcd's CheckPassword); resolves with the auth
   * revision the check saw, so that the caller can tell whether the store changed meanwhile.
   */
  async checkPassword(name: string, password: string): Promise<number> {
    if (!this.enabledFlag) throw new EtcdApiError('authNotEnabled');
    const user = this.getUser(name);
    const revision = this.rev;
    // etcd answers a password given for a --no-password user with an unmapped error; authFailed says the same.
    if (user === undefined || user.options?.noPassword === true) throw new EtcdApiError('authFailed');
    if (!(await passwordMatches(password, user.password))) {
      this.logger.info(`auth: invalid password for user ${JSON.stringify(name)}`);
      throw new EtcdApiError('authFailed');
    }
    return revision;
  }

  /** Who a token belongs to (its TTL restarts), at the current revision; undefined if the token is not live. */
  authInfoFromToken(token: string): AuthInfo | undefined {
    const username = this.tokens.info(token);
    return username === undefined ? undefined : { username, revision: this.rev };
  }
}

/** Whether the user holds the root role (roles are kept sorted, but a scan is as cheap for a handful). */
export function hasRootRole(u: User): boolean {
  return u.roles.includes(ROOT_ROLE);
}
