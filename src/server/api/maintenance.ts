/** The etcdserverpb.Maintenance and etcdserverpb.Cluster services. */
import type { status as grpcStatus } from '@grpc/grpc-js';
import type { ServerWritableStream } from '@grpc/grpc-js';

import type { Logger } from '../../base/logger.js';
import { EtcdApiError, GrpcCode } from '../../proto/errors.js';
import type {
  ClusterServer,
  MaintenanceServer,
  Member as PbMember,
  SnapshotRequest,
  SnapshotResponse,
} from '../../proto/gen/etcdserverpb/rpc.js';
import type { Member } from '../kvserver/membership.js';
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
    moveLeader: unary(logger, async (req, call) => {
      await requireAdmin(call, api);
      await api.server.moveLeader(req.targetID);
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

/** The members as the Cluster service answers them. */
function membersProto(members: readonly Member[]): PbMember[] {
  return members.map(memberProto);
}

function memberProto(m: Member): PbMember {
  return { ID: m.id, name: m.name, peerURLs: [...m.peerUrls], clientURLs: [...m.clientUrls], isLearner: m.isLearner };
}

/** etcd's types.NewURLs check on member peer URLs: absolute http(s) URLs with a host and port, no path. */
function peerUrls(raw: readonly string[]): string[] {
  if (raw.length === 0) throw new EtcdApiError('memberBadURLs');
  return raw.map((u) => {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      throw new EtcdApiError('memberBadURLs');
    }
    const pathless = url.pathname === '' || url.pathname === '/';
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.port === '' || !pathless || u.endsWith('/')) {
      throw new EtcdApiError('memberBadURLs');
    }
    return u;
  });
}

export function clusterService(api: V3Api, logger: Logger): ClusterServer {
  // Membership changes are root's when auth is on (etcd's checkMembershipOperationPermission).
  return {
    memberList: unary(logger, () => api.memberList()),
    memberAdd: unary(logger, async (req, call) => {
      await requireAdmin(call, api);
      const { member, members } = await api.server.addMember(peerUrls(req.peerURLs), req.isLearner);
      return { header: api.clusterHeader(), member: memberProto(member), members: membersProto(members) };
    }),
    memberRemove: unary(logger, async (req, call) => {
      await requireAdmin(call, api);
      return { header: api.clusterHeader(), members: membersProto(await api.server.removeMember(req.ID)) };
    }),
    memberUpdate: unary(logger, async (req, call) => {
      await requireAdmin(call, api);
      return { header: api.clusterHeader(), members: membersProto(await api.server.updateMember(req.ID, peerUrls(req.peerURLs))) };
    }),
    memberPromote: unary(logger, async (req, call) => {
      await requireAdmin(call, api);
      return { header: api.clusterHeader(), members: membersProto(await api.server.promoteMember(req.ID)) };
    }),
  };
}
