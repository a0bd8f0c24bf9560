/**
 * The v3 API as the node implements it, one method per RPC, called by the thin gRPC handlers in api/:
 * writes go through raft; linearizable reads wait for a ReadIndex barrier, serializable ones read the
 * local store at once. Every response leaves here with its header filled as etcd fills it.
 */
import {
  type AlarmRequest,
  AlarmRequest_AlarmAction,
  type AlarmResponse,
  type CompactionRequest,
  type CompactionResponse,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  type HashKVResponse,
  type HashResponse,
  type MemberListResponse,
  type PutRequest,
  type PutResponse,
  type RangeRequest,
  type RangeResponse,
  type RequestOp,
  type ResponseHeader,
  type StatusResponse,
  type TxnRequest,
  type TxnResponse,
} from '../../proto/gen/etcdserverpb/rpc.js';
import { AlarmFeature } from './alarm-feature.js';
import { type AuthInfo, authorizedRead, checkTxnAuth, proposeAs } from './auth-feature.js';
import { DEFAULT_QUOTA_BACKEND_BYTES } from './config.js';
import { range, readOnlyTxn, stampRevision } from './kv-ops.js';
import type { EtcdServer } from './server.js';

/** The version this node reports (StatusResponse.version, /version): the etcd API level it speaks. */
export const SERVER_VERSION = '3.5.0';
export const CLUSTER_VERSION = '3.5.0';

function isReadOnlyOps(ops: readonly RequestOp[]): boolean {
  return ops.every((op) =>
    op.requestRange !== undefined ? true : op.requestTxn !== undefined ? isReadOnlyTxn(op.requestTxn) : false,
  );
}

/** A txn that cannot write whichever branch runs (etcd serves it without raft). */
export function isReadOnlyTxn(t: TxnRequest): boolean {
  return isReadOnlyOps(t.success) && isReadOnlyOps(t.failure);
}

function isSerializableTxn(t: TxnRequest): boolean {
  return [...t.success, ...t.failure].every((op) =>
    op.requestRange !== undefined ? op.requestRange.serializable : op.requestTxn !== undefined ? isSerializableTxn(op.requestTxn) : true,
  );
}

export class V3Api {
  constructor(readonly server: EtcdServer) {}

  header(revision: number | bigint = this.server.kv.currentRevision): ResponseHeader {
    const s = this.server;
    return { clusterId: s.clusterId, memberId: s.memberId, revision: BigInt(revision), raftTerm: BigInt(s.term) };
  }

  /** The Cluster service's header: etcd's cluster server fills cluster id, member id and term, no revision. */
  clusterHeader(): ResponseHeader {
    return { clusterId: this.server.clusterId, memberId: this.server.memberId, revision: 0n, raftTerm: BigInt(this.server.term) };
  }

  private fill<T extends { header?: ResponseHeader | undefined }>(resp: T): T {
    const rev = resp.header?.revision ?? BigInt(this.server.kv.currentRevision);
    resp.header = this.header(rev);
    return resp;
  }

  /** `ai`: who sent the request (api/auth-context.ts), undefined without a token; the same for every method. */
  async range(req: RangeRequest, ai?: AuthInfo): Promise<RangeResponse> {
    if (!req.serializable) await this.server.readBarrier();
    const resp = authorizedRead(this.server, ai, (s) => s.isRangePermitted(ai, req.key, req.rangeEnd), () => range(this.server.kv, req));
    return this.fill(resp);
  }

  get alarms(): AlarmFeature {
    const a = this.server.feature(AlarmFeature);
    if (a === undefined) throw new Error('kvserver: the alarm feature is not installed');
    return a;
  }

  async put(req: PutRequest, ai?: AuthInfo): Promise<PutResponse> {
    this.alarms.checkQuota({ put: req });
    return this.fill((await this.write({ put: req }, ai)) as PutResponse);
  }

  async deleteRange(req: DeleteRangeRequest, ai?: AuthInfo): Promise<DeleteRangeResponse> {
    return this.fill((await this.write({ deleteRange: req }, ai)) as DeleteRangeResponse);
  }

  async txn(req: TxnRequest, ai?: AuthInfo): Promise<TxnResponse> {
    if (isReadOnlyTxn(req)) {
      if (!isSerializableTxn(req)) await this.server.readBarrier();
      const resp = authorizedRead(this.server, ai, (s) => checkTxnAuth(s, ai, req), () => readOnlyTxn(this.server.kv, req));
      stampRevision(resp, this.server.kv.currentRevision);
      return this.fill(resp);
    }
    this.alarms.checkQuota({ txn: req });
    return this.fill((await this.write({ txn: req }, ai)) as TxnResponse);
  }

  async compact(req: CompactionRequest, ai?: AuthInfo): Promise<CompactionResponse> {
    const result = await this.server.propose({ compaction: req }, proposeAs(ai));
    if (result.error) throw result.error;
    if (req.physical && result.physicalDone) await result.physicalDone;
    return this.fill(result.response as CompactionResponse);
  }

  private async write(req: Parameters<EtcdServer['propose']>[0], ai?: AuthInfo): Promise<unknown> {
    const result = await this.server.propose(req, proposeAs(ai));
    if (result.error) throw result.error;
    return result.response;
  }

  status(): StatusResponse {
    const st = this.server.status();
    const backend = this.server.backend;
    return {
      header: this.header(),
      version: SERVER_VERSION,
      dbSize: BigInt(backend.sizeBytes()),
      leader: st.leader,
      raftIndex: BigInt(st.committedIndex),
      raftTerm: BigInt(st.term),
      raftAppliedIndex: BigInt(st.appliedIndex),
      errors: this.alarms.statusErrors(),
      dbSizeInUse: BigInt(backend.sizeInUseBytes()),
      isLearner: st.isLearner,
      storageVersion: '',
      dbSizeQuota: BigInt(this.server.config.quotaBackendBytes || DEFAULT_QUOTA_BACKEND_BYTES),
    };
  }

  memberList(): MemberListResponse {
    return { header: this.clusterHeader(), members: this.server.membership.toProto() };
  }

  hashKV(revision: number): HashKVResponse {
    const h = this.server.kv.hashKV(revision);
    return {
      header: this.header(),
      hash: h.hash,
      compactRevision: BigInt(h.compactRevision),
      hashRevision: BigInt(h.hashRevision),
    };
  }

  hash(): HashResponse {
    return { header: this.header(), hash: this.server.backend.hash() };
  }

  /** Alarm GET answers from this member's state; ACTIVATE and DEACTIVATE go through raft. */
  async alarm(req: AlarmRequest): Promise<AlarmResponse> {
    if (req.action === AlarmRequest_AlarmAction.GET) return { header: this.header(), alarms: this.alarms.list(req.alarm) };
    const result = await this.server.propose({ alarm: req });
    if (result.error) throw result.error;
    return this.fill(result.response as AlarmResponse);
  }

  async defragment(): Promise<void> {
    await this.server.backend.defragment();
  }
}
