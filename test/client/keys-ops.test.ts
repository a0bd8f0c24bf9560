// Range ends and request builders: the same keys as clientv3's WithPrefix / WithFromKey / WithSort would select.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { compare, deleteRangeRequest, fromKeyEnd, op, prefixEnd, putRequest, rangeRequest, toBytes, txnRequest } from '../../src/client/index.js';
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
} from '../../src/proto/gen/etcdserverpb/rpc.js';

const b = (...bytes: number[]): Buffer => Buffer.from(bytes);

describe('prefixEnd', () => {
  it('increments the last byte', () => {
    assert.deepEqual(prefixEnd(toBytes('foo')), toBytes('fop'));
    assert.deepEqual(prefixEnd(toBytes('/app/')), toBytes('/app0'));
  });

  it('drops trailing 0xff bytes and increments the one before', () => {
    assert.deepEqual(prefixEnd(b(0x61, 0xff)), b(0x62));
    assert.deepEqual(prefixEnd(b(0x01, 0xfe, 0xff, 0xff)), b(0x01, 0xff));
  });

  it('is [0] (to the end of the keyspace) when every byte is 0xff or the prefix is empty', () => {
    assert.deepEqual(prefixEnd(b(0xff, 0xff)), b(0));
    assert.deepEqual(prefixEnd(b()), b(0));
    assert.deepEqual(fromKeyEnd(), b(0));
  });

  it('does not modify its input', () => {
    const key = toBytes('ab');
    prefixEnd(key);
    assert.deepEqual(key, toBytes('ab'));
  });
});

describe('rangeRequest', () => {
  it('reads one key by default', () => {
    const r = rangeRequest('k');
    assert.deepEqual(r.key, toBytes('k'));
    assert.equal(r.rangeEnd.length, 0);
    assert.equal(r.serializable, false);
  });

  it('prefix, fromKey and the empty key behave as in clientv3', () => {
    assert.deepEqual(rangeRequest('foo', { prefix: true }).rangeEnd, toBytes('fop'));
    assert.deepEqual(rangeRequest('foo', { fromKey: true }).rangeEnd, b(0));
    const all = rangeRequest('', { prefix: true });
    assert.deepEqual([all.key, all.rangeEnd], [b(0), b(0)]);
    const from = rangeRequest('', { fromKey: true });
    assert.deepEqual([from.key, from.rangeEnd], [b(0), b(0)]);
    assert.throws(() => rangeRequest('a', { prefix: true, fromKey: true }), /choose one/);
  });

  it('sends sorting by key ascending as no sort, like clientv3', () => {
    const asc = rangeRequest('a', { sortTarget: 'KEY', sortOrder: 'ASCEND' });
    assert.equal(asc.sortOrder, RangeRequest_SortOrder.NONE);
    const desc = rangeRequest('a', { sortTarget: 'MOD', sortOrder: 'DESCEND' });
    assert.deepEqual([desc.sortTarget, desc.sortOrder], [RangeRequest_SortTarget.MOD, RangeRequest_SortOrder.DESCEND]);
  });

  it('takes 64-bit numbers as bigint or safe integers', () => {
    assert.equal(rangeRequest('a', { revision: 5, limit: 9_007_199_254_740_993n }).limit, 9_007_199_254_740_993n);
    assert.throws(() => rangeRequest('a', { revision: 1.5 }), /integer/);
    assert.throws(() => rangeRequest('a', { limit: 1n << 64n }), /64 bits/);
  });
});

describe('put, delete, compare, txn builders', () => {
  it('build what they say', () => {
    const put = putRequest('k', b(0, 0xff), { lease: 0x694d77aa9e38260fn, prevKv: true });
    assert.deepEqual([put.value, put.lease, put.prevKv], [b(0, 0xff), 0x694d77aa9e38260fn, true]);
    const del = deleteRangeRequest('a', { rangeEnd: 'c', prevKv: true });
    assert.deepEqual([del.key, del.rangeEnd, del.prevKv], [toBytes('a'), toBytes('c'), true]);
    const c = compare('MOD', 'k', '>', 0);
    assert.deepEqual([c.target, c.result, c.modRevision], [Compare_CompareTarget.MOD, Compare_CompareResult.GREATER, 0n]);
    const v = compare('VALUE', 'k', '!=', 'v');
    assert.deepEqual([v.target, v.result, v.value], [Compare_CompareTarget.VALUE, Compare_CompareResult.NOT_EQUAL, toBytes('v')]);
    const t = txnRequest([c], [op.put('k', 'v')], [op.range('k'), op.delete('k', { prefix: true })]);
    assert.equal(t.success[0]?.requestPut?.value.toString(), 'v');
    assert.deepEqual(t.failure[1]?.requestDeleteRange?.rangeEnd, toBytes('l'));
  });
});
