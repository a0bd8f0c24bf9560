/**
 * Alarms (etcd's alarm store) and the space quota. An alarm is raised through raft, stored in the
 * backend's `alarm` bucket (key: the encoded AlarmMember, as etcd keys it) and survives restarts.
 * While NOSPACE is raised, committed writes that would grow the store are refused at apply with etcd's
 * "database space exceeded" (puts, txns that put, lease grants); deletes, compaction and defrag still
 * work so an operator can make room, then disarm.
 */
import { EtcdApiError } from '../../proto/errors.js';
import type { InternalRaftRequest } from '../../proto/gen/etcdserverpb/raft_internal.js';
import {
  AlarmMember,
  type AlarmRequest,
  AlarmRequest_AlarmAction,
  type AlarmResponse,
  AlarmType,
  type PutRequest,
  type RequestOp,
  type TxnRequest,
} from '../../proto/gen/etcdserverpb/rpc.js';
import type { ApplyResult } from './apply.js';
import { DEFAULT_QUOTA_BACKEND_BYTES } from './config.js';
import type { Feature, FeatureContext } from './feature.js';

/** etcd's per-key overhead in its quota cost. */
const KV_OVERHEAD_BYTES = 256;

function opsPut(ops: readonly RequestOp[]): boolean {
  return ops.some((op) => op.requestPut !== undefined || (op.requestTxn !== undefined && txnPuts(op.requestTxn)));
}

/** Whether either branch of a txn may put (etcd's quota cost is then positive). */
export function txnPuts(t: TxnRequest): boolean {
  return opsPut(t.success) || opsPut(t.failure);
}

function putCost(p: PutRequest): number {
  return p.key.length + p.value.length + KV_OVERHEAD_BYTES;
}

function opsCost(ops: readonly RequestOp[]): number {
  let cost = 0;
  for (const op of ops) {
    if (op.requestPut !== undefined) cost += putCost(op.requestPut);
    else if (op.requestTxn !== undefined) cost += txnCost(op.requestTxn);
  }
  return cost;
}

function txnCost(t: TxnRequest): number {
  return Math.max(opsCost(t.success), opsCost(t.failure));
}

export class AlarmFeature implements Feature {
  readonly name = 'alarms';
  private readonly alarms = new Map<string, AlarmMember>();
  private readonly quota: number;

  constructor(private readonly ctx: FeatureContext) {
    this.quota = ctx.config.quotaBackendBytes > 0 ? ctx.config.quotaBackendBytes : DEFAULT_QUOTA_BACKEND_BYTES;
    this.load();
  }

  private load(): void {
    for (const [key] of this.ctx.backend.alarm.entries()) {
      const a = AlarmMember.decode(key);
      this.alarms.set(alarmKey(a), a);
    }
  }

  onRestore(): void {
    this.alarms.clear();
    this.load();
  }

  list(filter?: AlarmType): AlarmMember[] {
    return [...this.alarms.values()].filter((a) => filter === undefined || filter === AlarmType.NONE || a.alarm === filter);
  }

  /** Asked for every applied request (gate): no allocation. */
  has(type: AlarmType): boolean {
    if (this.alarms.size === 0) return false;
    for (const a of this.alarms.values()) if (a.alarm === type) return true;
    return false;
  }

  /** etcd's StatusResponse.errors lines. */
  statusErrors(): string[] {
    return this.list().map((a) => `memberID:${a.memberID} alarm:${AlarmType[a.alarm] ?? a.alarm}`);
  }

  /**
   * The quota check made before proposing a write (etcd's quotaKVServer): if the write could push the
   * backend past the quota, raise NOSPACE (through raft) and refuse the write.
   */
  checkQuota(req: { put?: PutRequest; txn?: TxnRequest }): void {
    const cost = req.put !== undefined ? putCost(req.put) : req.txn !== undefined ? txnCost(req.txn) : 0;
    if (cost === 0) return;
    if (this.ctx.backend.sizeBytes() + cost <= this.quota) return;
    if (!this.has(AlarmType.NOSPACE)) {
      this.ctx.logger.warn(`alarm: backend size ${this.ctx.backend.sizeBytes()} + ${cost} exceeds the quota ${this.quota}: raising NOSPACE`);
      this.ctx
        .propose({ alarm: { action: AlarmRequest_AlarmAction.ACTIVATE, memberID: this.ctx.memberId, alarm: AlarmType.NOSPACE } })
        .catch((err: unknown) => this.ctx.logger.warn(`alarm: could not raise NOSPACE: ${(err as Error).message}`));
    }
    throw new EtcdApiError('noSpace');
  }

  gate(req: InternalRaftRequest): Error | undefined {
    if (!this.has(AlarmType.NOSPACE)) return undefined;
    if (req.put !== undefined || req.leaseGrant !== undefined || (req.txn !== undefined && txnPuts(req.txn))) {
      return new EtcdApiError('noSpace');
    }
    return undefined;
  }

  apply(req: InternalRaftRequest): ApplyResult | undefined {
    if (req.alarm === undefined) return undefined;
    return { response: this.applyAlarm(req.alarm), error: undefined };
  }

  private applyAlarm(r: AlarmRequest): AlarmResponse {
    const resp: AlarmResponse = { header: undefined, alarms: [] };
    const member: AlarmMember = { memberID: r.memberID, alarm: r.alarm };
    switch (r.action) {
      case AlarmRequest_AlarmAction.GET:
        resp.alarms = this.list(r.alarm);
        break;
      case AlarmRequest_AlarmAction.ACTIVATE:
        if (r.alarm === AlarmType.NONE) break;
        if (!this.alarms.has(alarmKey(member))) {
          this.alarms.set(alarmKey(member), member);
          this.ctx.backend.alarm.put(Buffer.from(AlarmMember.encode(member).finish()), Buffer.alloc(0));
          this.ctx.logger.warn(`alarm: ${AlarmType[r.alarm]} raised for member ${r.memberID.toString(16)}`);
        }
        resp.alarms = [member];
        break;
      case AlarmRequest_AlarmAction.DEACTIVATE:
        if (this.alarms.delete(alarmKey(member))) {
          this.ctx.backend.alarm.delete(Buffer.from(AlarmMember.encode(member).finish()));
          this.ctx.logger.info(`alarm: ${AlarmType[r.alarm]} disarmed for member ${r.memberID.toString(16)}`);
          resp.alarms = [member];
        }
        break;
    }
    return resp;
  }
}

function alarmKey(a: AlarmMember): string {
  return `${a.memberID}:${a.alarm}`;
}
