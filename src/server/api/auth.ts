/**
 * The etcdserverpb.Auth service: resolve the caller's token, delegate to the node's AuthApi (passwords are
 * checked and hashed there, before proposing), map errors. Every request but Authenticate goes through
 * raft carrying the caller's name; apply refuses what the caller may not do (root only, except a user
 * reading itself and a role reading one it has).
 */
import type { Logger } from '../../base/logger.js';
import type { AuthServer } from '../../proto/gen/etcdserverpb/rpc.js';
import type { ProposalBody } from '../kvserver/server.js';
import type { V3Api } from '../kvserver/v3.js';
import { authApi, authInfoOf } from './auth-context.js';
import { unary } from './kv.js';

export function authService(api: V3Api, logger: Logger): AuthServer {
  const a = () => authApi(api);
  /** A request that only needs proposing in the caller's name. */
  const proposed = <Req, Res extends { header?: unknown }>(wrap: (req: Req) => ProposalBody) =>
    unary<Req, Res>(logger, (req, call) => a().propose(wrap(req), authInfoOf(call, api)) as Promise<Res>);
  return {
    authEnable: proposed((authEnable) => ({ authEnable })),
    authDisable: proposed((authDisable) => ({ authDisable })),
    authStatus: proposed((authStatus) => ({ authStatus })),
    // etcd resolves the token of an Authenticate call too: a stale one is refused, not ignored.
    authenticate: unary(logger, (req, call) => {
      authInfoOf(call, api);
      return a().authenticate(req.name, req.password);
    }),
    userAdd: unary(logger, (req, call) => a().userAdd(req, authInfoOf(call, api))),
    userGet: proposed((authUserGet) => ({ authUserGet })),
    userList: proposed((authUserList) => ({ authUserList })),
    userDelete: proposed((authUserDelete) => ({ authUserDelete })),
    userChangePassword: unary(logger, (req, call) => a().userChangePassword(req, authInfoOf(call, api))),
    userGrantRole: proposed((authUserGrantRole) => ({ authUserGrantRole })),
    userRevokeRole: proposed((authUserRevokeRole) => ({ authUserRevokeRole })),
    roleAdd: proposed((authRoleAdd) => ({ authRoleAdd })),
    roleGet: proposed((authRoleGet) => ({ authRoleGet })),
    roleList: proposed((authRoleList) => ({ authRoleList })),
    roleDelete: proposed((authRoleDelete) => ({ authRoleDelete })),
    roleGrantPermission: proposed((authRoleGrantPermission) => ({ authRoleGrantPermission })),
    roleRevokePermission: proposed((authRoleRevokePermission) => ({ authRoleRevokePermission })),
  };
}
