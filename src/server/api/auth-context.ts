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

/** The caller's identity, synchronously (see the module comment). */
export function authInfoOf(call: CallWithMetadata, api: V3Api): AuthInfo | undefined {
  return authApiOf(api)?.authInfo(tokenOf(call));
}

/** Refuses a caller that is not root while auth is on. */
export async function requireAdmin(call: CallWithMetadata, api: V3Api): Promise<AuthInfo | undefined> {
  const a = authApiOf(api);
  if (a === undefined) return undefined;
  const ai = a.authInfo(tokenOf(call));
  a.store.isAdminPermitted(ai);
  return ai;
}

/** Whether the caller may read [key, rangeEnd) (false for a bad token too). */
export function isRangePermitted(call: CallWithMetadata, api: V3Api, key: Uint8Array, rangeEnd: Uint8Array): boolean {
  const a = authApiOf(api);
  if (a === undefined) return true;
  try {
    a.store.isRangePermitted(a.authInfo(tokenOf(call)), key, rangeEnd);
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
