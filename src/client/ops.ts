/**
 * Builders for etcd's KV requests with clientv3's option semantics (op.go): `prefix` and `fromKey` compute the
 * range end (an empty key with either means "the whole keyspace", key `[0]`), sorting by key ascending is sent as
 * "no sort" because that is the server's natural order, and unset options are left at the protobuf defaults.
 */
import {
  Compare,
  Compare_CompareResult,
  Compare_CompareTarget,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  type RequestOp,
  TxnRequest,
} from '../proto/gen/etcdserverpb/rpc.js';
import { ClientError } from './errors.js';
import { fromKeyEnd, prefixEnd, toBytes } from './keys.js';

export type KeyInput = string | Uint8Array;
/** A 64-bit integer: a safe-integer `number` or a `bigint`. */
export type Int64Input = number | bigint;

export type SortOrder = 'NONE' | 'ASCEND' | 'DESCEND';
export type SortTarget = 'KEY' | 'VERSION' | 'CREATE' | 'MOD' | 'VALUE';

/** Which keys: one of `rangeEnd`, `prefix`, `fromKey` (none: the single key). */
export type KeyRangeOptions = {
  /** Exclusive end of the range `[key, rangeEnd)`. */
  rangeEnd?: KeyInput;
  /** Every key that starts with `key`. */
  prefix?: boolean;
  /** Every key greater than or equal to `key`. */
  fromKey?: boolean;
};

export type RangeOptions = KeyRangeOptions & {
  /** At most this many keys (0 or less: no limit). */
  limit?: Int64Input;
  /** Read at this revision (0 or less: the current one). */
  revision?: Int64Input;
  sortOrder?: SortOrder;
  sortTarget?: SortTarget;
  /** Serve from the local member without a quorum round (etcdctl `--consistency s`). */
  serializable?: boolean;
  keysOnly?: boolean;
  countOnly?: boolean;
  minModRevision?: Int64Input;
  maxModRevision?: Int64Input;
  minCreateRevision?: Int64Input;
  maxCreateRevision?: Int64Input;
};

export type PutOptions = {
  /** Lease to attach (0: none). */
  lease?: Int64Input;
  prevKv?: boolean;
  /** Keep the current value (the key must exist). */
  ignoreValue?: boolean;
  /** Keep the current lease (the key must exist). */
  ignoreLease?: boolean;
};

export type DeleteOptions = KeyRangeOptions & { prevKv?: boolean };

export type CompareTarget = 'VERSION' | 'CREATE' | 'MOD' | 'VALUE' | 'LEASE';
/** etcdctl's operators: `=` (or `==`), `!=`, `<`, `>`. */
export type CompareOp = '=' | '==' | '!=' | '<' | '>';

export function int64(value: Int64Input | undefined, what: string): bigint {
  if (value === undefined) return 0n;
  if (typeof value === 'bigint') {
    if (BigInt.asIntN(64, value) !== value) throw badRequest(`${what} ${value} does not fit in 64 bits`);
    return value;
  }
  if (!Number.isSafeInteger(value)) throw badRequest(`${what} must be an integer, got ${value}`);
  return BigInt(value);
}

function badRequest(message: string): ClientError {
  return new ClientError(message, { code: 'BAD_REQUEST', kind: 'bad-request' });
}

/** The `[key, rangeEnd)` pair for the options, with clientv3's handling of the empty key. */
export function keyRange(key: KeyInput, opts: KeyRangeOptions): { key: Buffer; rangeEnd: Buffer } {
  const k = toBytes(key);
  const chosen = [opts.rangeEnd !== undefined, opts.prefix === true, opts.fromKey === true].filter(Boolean).length;
  if (chosen > 1) throw badRequest('choose one of rangeEnd, prefix and fromKey');
  if (opts.prefix === true) {
    return k.length === 0 ? { key: fromKeyEnd(), rangeEnd: fromKeyEnd() } : { key: k, rangeEnd: prefixEnd(k) };
  }
  if (opts.fromKey === true) return { key: k.length === 0 ? fromKeyEnd() : k, rangeEnd: fromKeyEnd() };
  return { key: k, rangeEnd: opts.rangeEnd === undefined ? Buffer.alloc(0) : toBytes(opts.rangeEnd) };
}

const sortOrders: Readonly<Record<SortOrder, RangeRequest_SortOrder>> = {
  NONE: RangeRequest_SortOrder.NONE,
  ASCEND: RangeRequest_SortOrder.ASCEND,
  DESCEND: RangeRequest_SortOrder.DESCEND,
};

const sortTargets: Readonly<Record<SortTarget, RangeRequest_SortTarget>> = {
  KEY: RangeRequest_SortTarget.KEY,
  VERSION: RangeRequest_SortTarget.VERSION,
  CREATE: RangeRequest_SortTarget.CREATE,
  MOD: RangeRequest_SortTarget.MOD,
  VALUE: RangeRequest_SortTarget.VALUE,
};

export function rangeRequest(key: KeyInput, opts: RangeOptions = {}): RangeRequest {
  const target = opts.sortTarget ?? 'KEY';
  // The server returns keys in ascending key order anyway; an explicit sort would make it read everything first.
  const order = target === 'KEY' && opts.sortOrder === 'ASCEND' ? 'NONE' : (opts.sortOrder ?? 'NONE');
  return RangeRequest.fromPartial({
    ...keyRange(key, opts),
    limit: int64(opts.limit, 'limit'),
    revision: int64(opts.revision, 'revision'),
    sortOrder: sortOrders[order],
    sortTarget: sortTargets[target],
    serializable: opts.serializable ?? false,
    keysOnly: opts.keysOnly ?? false,
    countOnly: opts.countOnly ?? false,
    minModRevision: int64(opts.minModRevision, 'minModRevision'),
    maxModRevision: int64(opts.maxModRevision, 'maxModRevision'),
    minCreateRevision: int64(opts.minCreateRevision, 'minCreateRevision'),
    maxCreateRevision: int64(opts.maxCreateRevision, 'maxCreateRevision'),
  });
}

export function putRequest(key: KeyInput, value: KeyInput, opts: PutOptions = {}): PutRequest {
  return PutRequest.fromPartial({
    key: toBytes(key),
    value: toBytes(value),
    lease: int64(opts.lease, 'lease'),
    prevKv: opts.prevKv ?? false,
    ignoreValue: opts.ignoreValue ?? false,
    ignoreLease: opts.ignoreLease ?? false,
  });
}

export function deleteRangeRequest(key: KeyInput, opts: DeleteOptions = {}): DeleteRangeRequest {
  return DeleteRangeRequest.fromPartial({ ...keyRange(key, opts), prevKv: opts.prevKv ?? false });
}

const compareOps: Readonly<Record<CompareOp, Compare_CompareResult>> = {
  '=': Compare_CompareResult.EQUAL,
  '==': Compare_CompareResult.EQUAL,
  '!=': Compare_CompareResult.NOT_EQUAL,
  '<': Compare_CompareResult.LESS,
  '>': Compare_CompareResult.GREATER,
};

export function isCompareOp(op: string): op is CompareOp {
  return Object.hasOwn(compareOps, op);
}

/**
 * A txn condition on one key: `VALUE` compares bytes, the others 64-bit integers (`LEASE` a lease id, `VERSION`,
 * `CREATE` and `MOD` revisions/versions).
 */
export function compare(target: 'VALUE', key: KeyInput, op: CompareOp, value: KeyInput): Compare;
export function compare(target: Exclude<CompareTarget, 'VALUE'>, key: KeyInput, op: CompareOp, value: Int64Input): Compare;
export function compare(target: CompareTarget, key: KeyInput, op: CompareOp, value: KeyInput | Int64Input): Compare {
  const base = { key: toBytes(key), result: compareOps[op] };
  const num = () => {
    if (typeof value !== 'number' && typeof value !== 'bigint') throw badRequest(`${target} compares a number`);
    return int64(value, target.toLowerCase());
  };
  switch (target) {
    case 'VALUE':
      if (typeof value === 'number' || typeof value === 'bigint') throw badRequest('VALUE compares bytes');
      return Compare.fromPartial({ ...base, target: Compare_CompareTarget.VALUE, value: toBytes(value) });
    case 'VERSION':
      return Compare.fromPartial({ ...base, target: Compare_CompareTarget.VERSION, version: num() });
    case 'CREATE':
      return Compare.fromPartial({ ...base, target: Compare_CompareTarget.CREATE, createRevision: num() });
    case 'MOD':
      return Compare.fromPartial({ ...base, target: Compare_CompareTarget.MOD, modRevision: num() });
    case 'LEASE':
      return Compare.fromPartial({ ...base, target: Compare_CompareTarget.LEASE, lease: num() });
  }
}

/** Operations inside a txn. */
export const op = {
  range: (key: KeyInput, opts?: RangeOptions): RequestOp => ({ requestRange: rangeRequest(key, opts) }),
  put: (key: KeyInput, value: KeyInput, opts?: PutOptions): RequestOp => ({ requestPut: putRequest(key, value, opts) }),
  delete: (key: KeyInput, opts?: DeleteOptions): RequestOp => ({ requestDeleteRange: deleteRangeRequest(key, opts) }),
  txn: (req: TxnRequest): RequestOp => ({ requestTxn: req }),
} as const;

export function txnRequest(compares: readonly Compare[], success: readonly RequestOp[], failure: readonly RequestOp[]): TxnRequest {
  return TxnRequest.fromPartial({ compare: [...compares], success: [...success], failure: [...failure] });
}
