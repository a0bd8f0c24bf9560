/**
 * etcd's KV semantics on top of the MVCC store: Range (sorting, min/max revision filters, limit/more),
 * Put (prev_kv, ignore_value, ignore_lease), DeleteRange (prev_kv) and Txn (compares over keys and ranges,
 * nested transactions, one revision for all writes). The same code serves serializable reads directly and
 * applies committed requests; apply must be deterministic, so nothing here reads clocks or randomness.
 */
import type { KeyValue } from '../../proto/gen/mvccpb/kv.js';
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  type Compare,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  type PutRequest,
  type PutResponse,
  type RangeRequest,
  type RangeResponse,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  type RequestOp,
  type ResponseHeader,
  type ResponseOp,
  type TxnRequest,
  type TxnResponse,
} from '../../proto/gen/etcdserverpb/rpc.js';
import { EtcdApiError } from '../../proto/errors.js';

export interface RangeOptions {
  readonly rev?: number;
  readonly limit?: number;
  readonly countOnly?: boolean;
  readonly keysOnly?: boolean;
}

/** The read side of the MVCC store (committed state, or a write txn that sees its own writes). */
export interface KvReader {
  range(key: Buffer, end: Buffer | undefined, opts: RangeOptions): { kvs: KeyValue[]; count: number; rev: number };
}

/** One MVCC write transaction: every change gets the same main revision. */
export interface KvWriter extends KvReader {
  put(key: Buffer, value: Buffer, lease: bigint): void;
  deleteRange(key: Buffer, end: Buffer | undefined): number;
}

/** What apply needs to know about leases to accept a put (none exist until the lessor lands). */
export interface LeaseLookup {
  exists(id: bigint): boolean;
}

const noLeases: LeaseLookup = { exists: () => false };

function header(rev: number): ResponseHeader {
  return { clusterId: 0n, memberId: 0n, revision: BigInt(rev), raftTerm: 0n };
}

function rangeEnd(end: Buffer): Buffer | undefined {
  return end.length === 0 ? undefined : end;
}

function toNumber(v: bigint): number {
  // Revisions beyond 2^53 cannot occur (one per write); clamp what a client sends so comparisons stay sane.
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : v < 0n ? -1 : Number(v);
}

export function range(kv: KvReader, r: RangeRequest): RangeResponse {
  const sortOrder = r.sortOrder;
  const filtered =
    r.minModRevision !== 0n || r.maxModRevision !== 0n || r.minCreateRevision !== 0n || r.maxCreateRevision !== 0n;
  const limit = toNumber(r.limit);
  // Sorting and filtering need the whole range; otherwise fetch one more than asked to learn `more`.
  let fetchLimit = sortOrder !== RangeRequest_SortOrder.NONE || filtered ? 0 : limit;
  if (fetchLimit > 0) fetchLimit += 1;
  const res = kv.range(r.key, rangeEnd(r.rangeEnd), {
    rev: toNumber(r.revision) > 0 ? toNumber(r.revision) : 0,
    limit: fetchLimit,
    countOnly: r.countOnly,
    keysOnly: r.keysOnly,
  });
  let kvs = res.kvs;
  if (r.maxModRevision !== 0n) kvs = kvs.filter((k) => k.modRevision <= r.maxModRevision);
  if (r.minModRevision !== 0n) kvs = kvs.filter((k) => k.modRevision >= r.minModRevision);
  if (r.maxCreateRevision !== 0n) kvs = kvs.filter((k) => k.createRevision <= r.maxCreateRevision);
  if (r.minCreateRevision !== 0n) kvs = kvs.filter((k) => k.createRevision >= r.minCreateRevision);

  // Results come sorted by key ascending; any other target defaults to ascending order (as in etcd).
  let order = sortOrder;
  if (r.sortTarget !== RangeRequest_SortTarget.KEY && order === RangeRequest_SortOrder.NONE) {
    order = RangeRequest_SortOrder.ASCEND;
  }
  if (order !== RangeRequest_SortOrder.NONE && !(order === RangeRequest_SortOrder.ASCEND && r.sortTarget === RangeRequest_SortTarget.KEY)) {
    const cmp = comparator(r.sortTarget);
    kvs = [...kvs].sort(order === RangeRequest_SortOrder.DESCEND ? (a, b) => cmp(b, a) : cmp);
  }
  let more = false;
  if (limit > 0 && kvs.length > limit) {
    kvs = kvs.slice(0, limit);
    more = true;
  }
  return { header: header(res.rev), kvs, more, count: BigInt(res.count) };
}

function cmpBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function comparator(target: RangeRequest_SortTarget): (a: KeyValue, b: KeyValue) => number {
  switch (target) {
    case RangeRequest_SortTarget.VERSION:
      return (a, b) => cmpBig(a.version, b.version);
    case RangeRequest_SortTarget.CREATE:
      return (a, b) => cmpBig(a.createRevision, b.createRevision);
    case RangeRequest_SortTarget.MOD:
      return (a, b) => cmpBig(a.modRevision, b.modRevision);
    case RangeRequest_SortTarget.VALUE:
      return (a, b) => Buffer.compare(a.value, b.value);
    default:
      return (a, b) => Buffer.compare(a.key, b.key);
  }
}

/** Checks a put can apply (the key exists for ignore_*, the lease exists); throws etcd's error if not. */
function checkPut(kv: KvReader, p: PutRequest, leases: LeaseLookup): void {
  if (p.ignoreValue || p.ignoreLease) {
    if (kv.range(p.key, undefined, {}).kvs.length === 0) throw new EtcdApiError('keyNotFound');
  }
  if (!p.ignoreLease && p.lease !== 0n && !leases.exists(p.lease)) throw new EtcdApiError('leaseNotFound');
}

export function put(kv: KvWriter, p: PutRequest, leases: LeaseLookup = noLeases): PutResponse {
  checkPut(kv, p, leases);
  return doPut(kv, p);
}

function doPut(kv: KvWriter, p: PutRequest): PutResponse {
  let prev: KeyValue | undefined;
  if (p.prevKv || p.ignoreValue || p.ignoreLease) prev = kv.range(p.key, undefined, {}).kvs[0];
  const value = p.ignoreValue ? (prev?.value ?? Buffer.alloc(0)) : p.value;
  const lease = p.ignoreLease ? (prev?.lease ?? 0n) : p.lease;
  kv.put(p.key, value, lease);
  return { header: header(0), prevKv: p.prevKv ? prev : undefined };
}

export function deleteRange(kv: KvWriter, d: DeleteRangeRequest): DeleteRangeResponse {
  const end = rangeEnd(d.rangeEnd);
  const prevKvs = d.prevKv ? kv.range(d.key, end, {}).kvs : [];
  const deleted = kv.deleteRange(d.key, end);
  return { header: header(0), deleted: BigInt(deleted), prevKvs };
}

function compareOne(c: Compare, kv: KeyValue | undefined): boolean {
  let result: number;
  switch (c.target) {
    case Compare_CompareTarget.VALUE:
      if (kv === undefined) return false;
      result = Buffer.compare(kv.value, c.value ?? Buffer.alloc(0));
      break;
    case Compare_CompareTarget.CREATE:
      result = cmpBig(kv?.createRevision ?? 0n, c.createRevision ?? 0n);
      break;
    case Compare_CompareTarget.MOD:
      result = cmpBig(kv?.modRevision ?? 0n, c.modRevision ?? 0n);
      break;
    case Compare_CompareTarget.LEASE:
      result = cmpBig(kv?.lease ?? 0n, c.lease ?? 0n);
      break;
    default:
      result = cmpBig(kv?.version ?? 0n, c.version ?? 0n);
  }
  switch (c.result) {
    case Compare_CompareResult.EQUAL:
      return result === 0;
    case Compare_CompareResult.NOT_EQUAL:
      return result !== 0;
    case Compare_CompareResult.GREATER:
      return result > 0;
    case Compare_CompareResult.LESS:
      return result < 0;
    default:
      return false;
  }
}

/** A compare over a range holds when it holds for every key in it; an absent key compares as zero values. */
function evaluate(kv: KvReader, c: Compare): boolean {
  const kvs = kv.range(c.key, rangeEnd(c.rangeEnd), {}).kvs;
  if (kvs.length === 0) return compareOne(c, undefined);
  return kvs.every((k) => compareOne(c, k));
}

export function txnSucceeds(kv: KvReader, t: TxnRequest): boolean {
  return t.compare.every((c) => evaluate(kv, c));
}

/**
 * etcd's compareToPath: the outcome of the txn's compares and of every nested txn on the branches taken,
 * in pre-order, all evaluated on the state BEFORE any op runs. A nested txn's compares therefore do not
 * see the writes of the ops before it (checked against etcd), and each compare is evaluated once.
 */
function txnPath(kv: KvReader, t: TxnRequest, path: boolean[] = []): boolean[] {
  const succeeded = txnSucceeds(kv, t);
  path.push(succeeded);
  for (const op of succeeded ? t.success : t.failure) if (op.requestTxn !== undefined) txnPath(kv, op.requestTxn, path);
  return path;
}

/** A cursor over a txn path, consumed in the same pre-order it was built in. */
class PathCursor {
  private i = 0;
  constructor(private readonly path: readonly boolean[]) {}
  next(): boolean {
    return this.path[this.i++] ?? false;
  }
}

/** Checks every put on the branches the txn will take, before anything is written (all or nothing). */
function checkTxn(kv: KvReader, t: TxnRequest, leases: LeaseLookup, at: PathCursor): void {
  for (const op of at.next() ? t.success : t.failure) {
    if (op.requestPut !== undefined) checkPut(kv, op.requestPut, leases);
    else if (op.requestTxn !== undefined) checkTxn(kv, op.requestTxn, leases, at);
  }
}

export function txn(kv: KvWriter, t: TxnRequest, leases: LeaseLookup = noLeases): TxnResponse {
  const path = txnPath(kv, t);
  checkTxn(kv, t, leases, new PathCursor(path));
  return doTxn(kv, t, new PathCursor(path));
}

/** A txn whose ops only read: served on the committed state without a write transaction. */
export function readOnlyTxn(kv: KvReader, t: TxnRequest): TxnResponse {
  return doTxn(kv, t, new PathCursor(txnPath(kv, t)));
}

/** Runs the ops of the branches the path chose; a read-only txn never reaches the write calls. */
function doTxn(kv: KvReader | KvWriter, t: TxnRequest, at: PathCursor): TxnResponse {
  const succeeded = at.next();
  const responses: ResponseOp[] = [];
  for (const op of succeeded ? t.success : t.failure) responses.push(applyOp(kv, op, at));
  return { header: header(0), succeeded, responses };
}

function applyOp(kv: KvReader | KvWriter, op: RequestOp, at: PathCursor): ResponseOp {
  if (op.requestRange !== undefined) return { responseRange: range(kv, op.requestRange) };
  if (op.requestPut !== undefined) return { responsePut: doPut(kv as KvWriter, op.requestPut) };
  if (op.requestDeleteRange !== undefined) return { responseDeleteRange: deleteRange(kv as KvWriter, op.requestDeleteRange) };
  if (op.requestTxn !== undefined) return { responseTxn: doTxn(kv, op.requestTxn, at) };
  return {};
}

/** Sets the revision in every nested response header once the txn's revision is known. */
export function stampRevision(resp: TxnResponse, rev: number): void {
  const r = BigInt(rev);
  if (resp.header) resp.header.revision = r;
  for (const op of resp.responses) {
    // A range keeps the revision it read at; writes carry the txn's revision.
    const inner = op.responsePut ?? op.responseDeleteRange;
    if (inner?.header) inner.header.revision = r;
    if (op.responseTxn) stampRevision(op.responseTxn, rev);
  }
}
