/**
 * The Auth service, shaped after clientv3's Auth interface: `client.auth.userAdd(...)`, `.roleGrantPermission(...)`,
 * `.authEnable()`, ... Every call goes through the client's endpoint handling and carries its token. Failures are
 * `ClientError`s with etcd's messages ("etcdserver: user name already exists", "etcdserver: permission denied").
 */
import { Permission_Type } from '../proto/gen/authpb/auth.js';
import {
  AuthService,
  type AuthDisableResponse,
  type AuthEnableResponse,
  type AuthRoleAddResponse,
  type AuthRoleDeleteResponse,
  type AuthRoleGetResponse,
  type AuthRoleGrantPermissionResponse,
  type AuthRoleListResponse,
  type AuthRoleRevokePermissionResponse,
  type AuthStatusResponse,
  type AuthUserAddResponse,
  type AuthUserChangePasswordResponse,
  type AuthUserDeleteResponse,
  type AuthUserGetResponse,
  type AuthUserGrantRoleResponse,
  type AuthUserListResponse,
  type AuthUserRevokeRoleResponse,
  type AuthenticateResponse,
} from '../proto/gen/etcdserverpb/rpc.js';
import { ClientError } from './errors.js';
import { toBytes } from './keys.js';
import type { KeyInput } from './ops.js';

/** What the auth API needs of the client: one unary call through its endpoint and token handling. */
export type AuthCaller = <Req, Res>(
  method: { readonly path: string; readonly requestSerialize: (value: Req) => Buffer; readonly responseDeserialize: (value: Buffer) => Res },
  request: Req,
  idempotent: boolean,
) => Promise<Res>;

/** etcd's permission types, by etcdctl's names. */
export type PermissionType = 'read' | 'write' | 'readwrite';

const permTypes: Readonly<Record<PermissionType, Permission_Type>> = {
  read: Permission_Type.READ,
  write: Permission_Type.WRITE,
  readwrite: Permission_Type.READWRITE,
};

/** clientv3's StrToPermissionType: case-insensitive `read`, `write`, `readwrite`. */
export function parsePermissionType(s: string): Permission_Type {
  const t = permTypes[s.toLowerCase() as PermissionType];
  if (t === undefined) throw new ClientError(`invalid permission type: ${s}`, { code: 'BAD_REQUEST', kind: 'bad-request' });
  return t;
}

export class AuthApi {
  constructor(private readonly call: AuthCaller) {}

  authEnable(): Promise<AuthEnableResponse> {
    return this.call(AuthService.authEnable, {}, false);
  }

  authDisable(): Promise<AuthDisableResponse> {
    return this.call(AuthService.authDisable, {}, false);
  }

  authStatus(): Promise<AuthStatusResponse> {
    return this.call(AuthService.authStatus, {}, true);
  }

  /** A token for the user (the client does this itself when built with credentials). */
  authenticate(name: string, password: string): Promise<AuthenticateResponse> {
    return this.call(AuthService.authenticate, { name, password }, false);
  }

  /** Adds a user; with `noPassword` it can only authenticate by TLS common name, never by password. */
  userAdd(name: string, password: string, opts: { noPassword?: boolean } = {}): Promise<AuthUserAddResponse> {
    const noPassword = opts.noPassword ?? false;
    return this.call(AuthService.userAdd, { name, password: noPassword ? '' : password, options: { noPassword }, hashedPassword: '' }, false);
  }

  userGet(name: string): Promise<AuthUserGetResponse> {
    return this.call(AuthService.userGet, { name }, true);
  }

  userList(): Promise<AuthUserListResponse> {
    return this.call(AuthService.userList, {}, true);
  }

  userDelete(name: string): Promise<AuthUserDeleteResponse> {
    return this.call(AuthService.userDelete, { name }, false);
  }

  userChangePassword(name: string, password: string): Promise<AuthUserChangePasswordResponse> {
    return this.call(AuthService.userChangePassword, { name, password, hashedPassword: '' }, false);
  }

  userGrantRole(user: string, role: string): Promise<AuthUserGrantRoleResponse> {
    return this.call(AuthService.userGrantRole, { user, role }, false);
  }

  userRevokeRole(name: string, role: string): Promise<AuthUserRevokeRoleResponse> {
    return this.call(AuthService.userRevokeRole, { name, role }, false);
  }

  roleAdd(name: string): Promise<AuthRoleAddResponse> {
    return this.call(AuthService.roleAdd, { name }, false);
  }

  roleGet(role: string): Promise<AuthRoleGetResponse> {
    return this.call(AuthService.roleGet, { role }, true);
  }

  roleList(): Promise<AuthRoleListResponse> {
    return this.call(AuthService.roleList, {}, true);
  }

  roleDelete(role: string): Promise<AuthRoleDeleteResponse> {
    return this.call(AuthService.roleDelete, { role }, false);
  }

  /**
   * Grants `type` on a key (empty `rangeEnd`), on [key, rangeEnd), or from key on (`rangeEnd` "\0"); an existing
   * permission on the same key and range end changes type.
   */
  roleGrantPermission(name: string, key: KeyInput, rangeEnd: KeyInput, type: Permission_Type): Promise<AuthRoleGrantPermissionResponse> {
    const perm = { permType: type, key: toBytes(key), rangeEnd: toBytes(rangeEnd) };
    return this.call(AuthService.roleGrantPermission, { name, perm }, false);
  }

  roleRevokePermission(role: string, key: KeyInput, rangeEnd: KeyInput): Promise<AuthRoleRevokePermissionResponse> {
    return this.call(AuthService.roleRevokePermission, { role, key: toBytes(key), rangeEnd: toBytes(rangeEnd) }, false);
  }
}
