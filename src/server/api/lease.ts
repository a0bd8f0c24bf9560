/**
 * The etcdserverpb.Lease service: delegate to the node's lease feature, fill the header, map errors.
 *
 * LeaseKeepAlive is a bidi stream (etcd's v3rpc/lease.go): requests are answered one at a time and in
 * order; each answer's header is taken before the renewal (so its revision is never newer than a revoke
 * the client could miss), and an unknown or revoked lease is answered with TTL 0, not an error. An error
 * (no leader, timeout) ends the stream with its status. The client half-closing ends it with OK.
 */
import type { ServerDuplexStream } from '@grpc/grpc-js';

import type { Logger } from '../../base/logger.js';
import type { LeaseKeepAliveRequest, LeaseKeepAliveResponse, LeaseServer, ResponseHeader } from '../../proto/gen/etcdserverpb/rpc.js';
import { authApiOf, proposeAs } from '../kvserver/auth-feature.js';
import { LeaseFeature } from '../kvserver/lease-feature.js';
import type { V3Api } from '../kvserver/v3.js';
import { authInfoOf } from './auth-context.js';
import { toGrpcError } from './errors.js';
import { unary } from './kv.js';

const EMPTY = Buffer.alloc(0);

export function leaseService(api: V3Api, logger: Logger): LeaseServer {
  const leases = (): LeaseFeature => {
    const f = api.server.feature(LeaseFeature);
    if (f === undefined) throw new Error('the lease feature is not installed');
    return f;
  };
  const fill = <T extends { header?: ResponseHeader | undefined }>(resp: T): T => {
    resp.header = api.header(resp.header?.revision);
    return resp;
  };
  return {
    // A bad or expired token is refused first (etcd's order); grant and revoke are checked again at apply.
    leaseGrant: unary(logger, async (req, call) => fill(await leases().grant(req, proposeAs(authInfoOf(call, api))))),
    leaseRevoke: unary(logger, async (req, call) => fill(await leases().revoke(req, proposeAs(authInfoOf(call, api))))),
    leaseTimeToLive: unary(logger, async (req, call) => {
      // A lease's keys are data: with auth on, the caller must be allowed to read every one of them
      // (etcd's checkLeaseTimeToLive, the fix for CVE-2023-32082), or the answer is permission denied.
      const store = authApiOf(api)?.store;
      if (store?.enabled) {
        const ai = authInfoOf(call, api);
        for (const key of leases().lessor.keys(req.ID)) store.isRangePermitted(ai, key, EMPTY);
      }
      return fill(await leases().timeToLive(req));
    }),
    leaseLeases: unary(logger, (_req, call) => {
      authInfoOf(call, api);
      return fill(leases().leases());
    }),
    leaseKeepAlive: (call) => {
      try {
        authInfoOf(call, api);
        keepAlive(call, api, leases(), logger);
      } catch (err) {
        call.emit('error', toGrpcError(err, logger));
      }
    },
  };
}

function keepAlive(
  call: ServerDuplexStream<LeaseKeepAliveRequest, LeaseKeepAliveResponse>,
  api: V3Api,
  leases: LeaseFeature,
  logger: Logger,
): void {
  let done = false;
  let chain = Promise.resolve();
  const finish = (err?: unknown): void => {
    if (done) return;
    done = true;
    if (err === undefined) call.end();
    else call.emit('error', toGrpcError(err, logger));
  };
  call.on('data', (req: LeaseKeepAliveRequest) => {
    chain = chain.then(async () => {
      if (done) return;
      const header = api.header();
      try {
        const TTL = await leases.renew(req.ID);
        if (!done) call.write({ header, ID: req.ID, TTL });
      } catch (err) {
        finish(err);
      }
    });
  });
  call.on('end', () => {
    void chain.then(() => finish());
  });
  // The client went away: nothing more to answer.
  call.on('cancelled', () => {
    done = true;
  });
}
