/** The etcdserverpb.Maintenance and etcdserverpb.Cluster services. */
import type { status as grpcStatus } from '@grpc/grpc-js';
import type { ServerWritableStream } from '@grpc/grpc-js';

import type { Logger } from '../../base/logger.js';
import { EtcdApiError, GrpcCode } from '../../proto/errors.js';
import type {
  ClusterServer,
  MaintenanceServer,
  SnapshotRequest,
  SnapshotResponse,
} from '../../proto/gen/etcdserverpb/rpc.js';
import { snapshotChunks } from '../kvserver/snapshot-stream.js';
import { SERVER_VERSION, type V3Api } from '../kvserver/v3.js';
import { requireAdmin } from './auth-context.js';
import { toGrpcError } from './errors.js';
import { unary } from './kv.js';

/** Streams the snapshot, waiting for the client to drain each chunk (a slow reader is not buffered). */
async function streamSnapshot(api: V3Api, call: ServerWritableStream<SnapshotRequest, SnapshotResponse>, logger: Logger): Promise<void> {
  let cancelled = false;
  call.on('cancelled', () => (cancelled = true));
  const chunks = snapshotChunks(api.server.backend);
  try {
    let first = true;
    for await (const chunk of chunks) {
      if (cancelled) break;
      const resp: SnapshotResponse = {
        header: first ? api.header() : undefined,
        remainingBytes: BigInt(chunk.remainingBytes),
        blob: chunk.blob,
        version: first ? SERVER_VERSION : '',
      };
      first = false;
      if (!call.write(resp)) await new Promise<void>((resolve) => call.once('drain', () => resolve()));
    }
    call.end();
  } catch (err) {
    call.emit('error', toGrpcError(err, logger));
  } finally {
    await chunks.return(undefined);
  }
}

/** A refusal with UNIMPLEMENTED (what gRPC answers for a method a server does not offer) and the reason. */
function unsupported(details: string): { code: grpcStatus; details: string } {
  return { code: GrpcCode.UNIMPLEMENTED as number as grpcStatus, details };
}

export function maintenanceService(api: V3Api, logger: Logger): MaintenanceServer {
  return {
    status: unary(logger, () => api.status()),
    // Hash, HashKV, Defragment and Snapshot are root's (etcd's authMaintenanceServer); Status and Alarm are anyone's.
    hash: unary(logger, async (_req, call) => {
      await requireAdmin(call, api);
      return api.hash();
    }),
    hashKv: unary(logger, async (req, call) => {
      await requireAdmin(call, api);
      return api.hashKV(Number(req.revision));
    }),
    defragment: unary(logger, async (_req, call) => {
      await requireAdmin(call, api);
      await api.defragment();
      return { header: api.header() };
    }),
    alarm: unary(logger, (req) => api.alarm(req)),
    moveLeader: unary(logger, (req) => {
      const st = api.server.status();
      if (st.leader !== st.memberId) throw new EtcdApiError('notLeader');
      const target = api.server.membership.get(req.targetID);
      if (target === undefined || target.isLearner) throw new EtcdApiError('badLeaderTransferee');
      // The only voter is this member, which already leads.
      return { header: api.header() };
    }),
    snapshot: (call: ServerWritableStream<SnapshotRequest, SnapshotResponse>) => {
      requireAdmin(call, api).then(
        () => streamSnapshot(api, call, logger),
        (err: unknown) => call.emit('error', toGrpcError(err, logger)),
      );
    },
    // Cluster downgrades are an etcd 3.5 operation for mixed-version clusters; a kvctl node has one version.
    downgrade: (_call, callback) => callback(unsupported('kvctl node: cluster downgrade is not supported'), null),
  };
}

export function clusterService(api: V3Api, logger: Logger): ClusterServer {
  // Membership changes need the peer transport: this node runs one-member clusters only, and says so.
  const single = (what: string) =>
    unsupported(`kvctl node: ${what} needs a multi-member cluster; this node runs a one-member cluster (--initial-cluster with one member)`);
  return {
    memberList: unary(logger, () => api.memberList()),
    memberAdd: (_c, cb) => cb(single('MemberAdd'), null),
    memberRemove: (_c, cb) => cb(single('MemberRemove'), null),
    memberUpdate: (_c, cb) => cb(single('MemberUpdate'), null),
    memberPromote: (_c, cb) => cb(single('MemberPromote'), null),
  };
}
