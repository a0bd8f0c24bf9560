import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { EtcdApiError } from '../../src/proto/errors.js';
import { PutRequest, type RangeRequest_SortOrder, type RangeRequest_SortTarget, RequestOp, TxnRequest } from '../../src/proto/gen/etcdserverpb/rpc.js';
import { checkPut, checkRange, checkTxn } from '../../src/server/api/validate.js';

const b = (s: string) => Buffer.from(s);
const put = (k: string): RequestOp => RequestOp.fromPartial({ requestPut: { key: b(k), value: b('v') } });
const del = (k: string, end = ''): RequestOp => RequestOp.fromPartial({ requestDeleteRange: { key: b(k), rangeEnd: b(end) } });
const get = (k: string): RequestOp => RequestOp.fromPartial({ requestRange: { key: b(k) } });
const nested = (success: RequestOp[], failure: RequestOp[] = []): RequestOp =>
  RequestOp.fromPartial({ requestTxn: { success, failure } });

function refuses(fn: () => void, name: string): void {
  assert.throws(fn, (err: unknown) => err instanceof EtcdApiError && err.errorName === name);
}

describe('request validation (etcd v3rpc rules)', () => {
  test('empty keys, ignore_* conflicts and sort options', () => {
    refuses(() => checkRange({ ...RangeOf(''), key: Buffer.alloc(0) }), 'emptyKey');
    refuses(() => checkRange({ ...RangeOf('a'), sortOrder: 7 as RangeRequest_SortOrder }), 'invalidSortOption');
    refuses(() => checkRange({ ...RangeOf('a'), sortTarget: 9 as RangeRequest_SortTarget }), 'invalidSortOption');
    refuses(() => checkPut(PutRequest.fromPartial({ key: b('k'), value: b('x'), ignoreValue: true })), 'valueProvided');
    refuses(() => checkPut(PutRequest.fromPartial({ key: b('k'), lease: 5n, ignoreLease: true })), 'leaseProvided');
    checkPut(PutRequest.fromPartial({ key: b('k'), ignoreValue: true, ignoreLease: true }));
  });

  test('a txn may not write one key twice on a branch', () => {
    refuses(() => checkTxn(TxnRequest.fromPartial({ success: [put('a'), put('a')] })), 'duplicateKey');
    refuses(() => checkTxn(TxnRequest.fromPartial({ success: [del('a', 'c'), put('b')] })), 'duplicateKey');
    refuses(() => checkTxn(TxnRequest.fromPartial({ failure: [del('a', '\0'), put('zzz')] })), 'duplicateKey');
    refuses(() => checkTxn(TxnRequest.fromPartial({ success: [put('a'), nested([put('a')])] })), 'duplicateKey');
    // Different branches, overlapping deletes, reads and a key just outside a deleted range are fine.
    checkTxn(TxnRequest.fromPartial({ success: [put('a')], failure: [put('a')] }));
    checkTxn(TxnRequest.fromPartial({ success: [del('a', 'c'), del('b', 'd'), get('a'), put('d')] }));
    checkTxn(TxnRequest.fromPartial({ success: [nested([put('x')], [put('x')])] }));
  });

  test('too many operations', () => {
    const ops = Array.from({ length: 129 }, (_, i) => get(`k${i}`));
    refuses(() => checkTxn(TxnRequest.fromPartial({ success: ops })), 'tooManyOps');
    checkTxn(TxnRequest.fromPartial({ success: ops.slice(0, 128) }));
    refuses(() => checkTxn(TxnRequest.fromPartial({ success: [nested(ops)] })), 'tooManyOps');
    refuses(() => checkTxn(TxnRequest.fromPartial({ success: [put('')] })), 'emptyKey');
  });
});

function RangeOf(key: string) {
  return { key: b(key), rangeEnd: Buffer.alloc(0), limit: 0n, revision: 0n, sortOrder: 0, sortTarget: 0, serializable: false, keysOnly: false, countOnly: false, minModRevision: 0n, maxModRevision: 0n, minCreateRevision: 0n, maxCreateRevision: 0n };
}
