/**
 * Who sent a call: the `token` metadata (etcd's rpctypes.TokenFieldNameGRPC; `authorization` is the
 * gRPC-gateway's name for it) resolved to a user by the auth store. For every service:
 *
 * - `authInfoOf(call, api)` → the caller's AuthInfo, or undefined when auth is off or no token came; a
 *   token that is unknown or expired is refused at once with etcd's "invalid auth token" (UNAUTHENTICATED),
 *   which clients answer by authenticating again. Pass the result down to V3Api (range, put, ...) or, for
 *   requests that go through raft, into `server.propose(body, proposeAs(ai))` so that apply checks it.
 * - `requireAdmin(call, api)` → refuses non-root callers (etcd's IsAdminPermitted) with "user name is
 *   empty", "user name not found" or "permission denied"; nothing when auth is off.
 * - `isRangePermitted(call, api, key, rangeEnd)` → whether the caller may read the range (etcd's watch
 *   create check: a refused watch is answered canceled with "etcdserver: permission denied").
 *
 * A call without a token, on a TLS connection whose client certificate was verified while
 * --client-cert-auth is on, is made as the user named by the certificate's CN (etcd's AuthInfoFromTLS,
 * tried by EtcdServer.AuthInfoFromCtx only when no token came). The listener tells this module which
 * calls those are through `bindCertificateUser` (see there for how).
 */
import type { Metadata } from '@grpc/grpc-js';

import { EtcdApiError } from '../../proto/errors.js';
import { type AuthApi, type AuthInfo, authApiOf } from '../kvserver/auth-feature.js';
import type { V3Api } from '../kvserver/v3.js';

export type { AuthInfo } from '../kvserver/auth-feature.js';

/** The part of a grpc-js call (unary or stream) this module reads. */
export interface CallWithMetadata {
  readonly metadata: Metadata;
}

/** The token a call carries, if any. */
export function tokenOf(call: CallWithMetadata): string | undefined {
  for (const key of ['token', 'authorization']) {
    const v = call.metadata.get(key)[0];
    if (v !== undefined) return typeof v === 'string' ? v : v.toString('utf8');
  }
  return undefined;
}

/**
 * The user named by the verified client certificate of each call's connection, keyed by the call's
 * Metadata object. grpc-js serves the connections the listener injects into it as plaintext HTTP/2 (TLS
 * is below, in the listener's socket), so its own getAuthContext() never sees a certificate. Instead the
 * listener keeps the CN of every verified TLS connection, and a server interceptor, which can trace a
 * call back to its connection (listener.ts), binds that CN to the Metadata object it receives: the very
 * object the handler then reads as call.metadata. Nothing is added to the headers, so a client cannot
 * forge it, and the entry goes with the call.
 */
const certificateUsers = new WeakMap<Metadata, string>();

/** Marks the call that carries `metadata` as made by `user` (a verified certificate's CN). */
export function bindCertificateUser(metadata: Metadata, user: string): void {
  certificateUsers.set(metadata, user);
}

/** The caller of a call on a node whose auth feature is `a`. */
function callerOf(call: CallWithMetadata, a: AuthApi): AuthInfo | undefined {
  const token = tokenOf(call);
  if (token !== undefined) return a.authInfo(token);
  const user = certificateUsers.get(call.metadata);
  if (user === undefined || !a.store.enabled) return undefined;
  // etcd: a request relayed by its gRPC gateway carries the gateway's certificate, never a user's.
  if (call.metadata.get('grpcgateway-accept').length > 0) return undefined;
  return { username: user, revision: a.store.revision };
}

/** The caller's identity, synchronously (see the module comment). */
export function authInfoOf(call: CallWithMetadata, api: V3Api): AuthInfo | undefined {
  const a = authApiOf(api);
  return a === undefined ? undefined : callerOf(call, a);
}

/** Refuses a caller that is not root while auth is on. */
export async function requireAdmin(call: CallWithMetadata, api: V3Api): Promise<AuthInfo | undefined> {
  const a = authApiOf(api);
  if (a === undefined) return undefined;
  const ai = callerOf(call, a);
  a.store.isAdminPermitted(ai);
  return ai;
}

/** Whether the caller may read [key, rangeEnd) (false for a bad token too). */
export function isRangePermitted(call: CallWithMetadata, api: V3Api, key: Uint8Array, rangeEnd: Uint8Array): boolean {
  const a = authApiOf(api);
  if (a === undefined) return true;
  try {
    a.store.isRangePermitted(callerOf(call, a), key, rangeEnd);
    return true;
  } catch (err) {
    if (err instanceof EtcdApiError) return false;
    throw err;
  }
}

/** The node's AuthApi (for the Auth service). */
export function authApi(api: V3Api): AuthApi {
  const a = authApiOf(api);
  if (a === undefined) throw new Error('kvserver: the auth feature is not installed');
  return a;
}
