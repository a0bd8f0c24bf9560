/**
 * Request checks made before anything is proposed, with etcd's errors (its v3rpc key.go rules):
 * empty keys, ignore_* combined with a value or lease, unknown sort options, too many txn ops, and a txn
 * that writes one key twice (two puts, or a put inside a deleted range) on the same branch.
 */
import {
  type DeleteRangeRequest,
  type PutRequest,
  type RangeRequest,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  type RequestOp,
  type TxnRequest,
} from '../../proto/gen/etcdserverpb/rpc.js';
import { EtcdApiError } from '../../proto/errors.js';

/** etcd's default --max-txn-ops. */
export const MAX_TXN_OPS = 128;

const sortOrders = new Set<number>([RangeRequest_SortOrder.NONE, RangeRequest_SortOrder.ASCEND, RangeRequest_SortOrder.DESCEND]);
const sortTargets = new Set<number>([
  RangeRequest_SortTarget.KEY,
  RangeRequest_SortTarget.VERSION,
  RangeRequest_SortTarget.CREATE,
  RangeRequest_SortTarget.MOD,
  RangeRequest_SortTarget.VALUE,
]);

export function checkRange(r: RangeRequest): void {
  if (r.key.length === 0) throw new EtcdApiError('emptyKey');
  if (!sortOrders.has(r.sortOrder) || !sortTargets.has(r.sortTarget)) throw new EtcdApiError('invalidSortOption');
}

export function checkPut(p: PutRequest): void {
  if (p.key.length === 0) throw new EtcdApiError('emptyKey');
  if (p.ignoreValue && p.value.length !== 0) throw new EtcdApiError('valueProvided');
  if (p.ignoreLease && p.lease !== 0n) throw new EtcdApiError('leaseProvided');
}

export function checkDelete(d: DeleteRangeRequest): void {
  if (d.key.length === 0) throw new EtcdApiError('emptyKey');
}

export function checkTxn(t: TxnRequest, maxOps = MAX_TXN_OPS): void {
  checkTxnOps(t, maxOps);
  branchWrites(t.success);
  branchWrites(t.failure);
}

function checkTxnOps(t: TxnRequest, maxOps: number): void {
  if (t.compare.length > maxOps || t.success.length > maxOps || t.failure.length > maxOps) {
    throw new EtcdApiError('tooManyOps');
  }
  for (const op of [...t.success, ...t.failure]) checkOp(op, maxOps);
}

function checkOp(op: RequestOp, maxOps: number): void {
  if (op.requestRange !== undefined) checkRange(op.requestRange);
  else if (op.requestPut !== undefined) checkPut(op.requestPut);
  else if (op.requestDeleteRange !== undefined) checkDelete(op.requestDeleteRange);
  else if (op.requestTxn !== undefined) checkTxnOps(op.requestTxn, maxOps);
}

interface Writes {
  /** Put keys as latin1 strings (byte order preserved). */
  readonly puts: Set<string>;
  /** Deleted ranges [start, end); end '' means the single key start, '\0' means to the end of the keyspace. */
  readonly dels: Array<{ start: string; end: string }>;
}

/** The keys one branch writes, refusing a key put twice or put inside a range the branch deletes. */
function branchWrites(ops: readonly RequestOp[]): Writes {
  const w: Writes = { puts: new Set(), dels: [] };
  for (const op of ops) {
    if (op.requestPut !== undefined) {
      const k = op.requestPut.key.toString('latin1');
      if (w.puts.has(k)) throw new EtcdApiError('duplicateKey');
      w.puts.add(k);
    } else if (op.requestDeleteRange !== undefined) {
      w.dels.push({ start: op.requestDeleteRange.key.toString('latin1'), end: op.requestDeleteRange.rangeEnd.toString('latin1') });
    } else if (op.requestTxn !== undefined) {
      // Either nested branch may run: each must be consistent on its own and with the outer writes.
      const s = branchWrites(op.requestTxn.success);
      const f = branchWrites(op.requestTxn.failure);
      const nestedPuts = new Set([...s.puts, ...f.puts]);
      for (const k of nestedPuts) {
        if (w.puts.has(k)) throw new EtcdApiError('duplicateKey');
      }
      for (const k of nestedPuts) w.puts.add(k);
      w.dels.push(...s.dels, ...f.dels);
    }
  }
  for (const k of w.puts) {
    for (const d of w.dels) if (inRange(k, d.start, d.end)) throw new EtcdApiError('duplicateKey');
  }
  return w;
}

function inRange(key: string, start: string, end: string): boolean {
  if (end === '') return key === start;
  if (end === '\0') return key >= start;
  return key >= start && key < end;
}
