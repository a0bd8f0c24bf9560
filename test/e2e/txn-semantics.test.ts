// Txn semantics that etcdctl cannot express (nested txns), checked against the real etcd in the same run:
// both servers get the same requests and must answer the same.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { credentials } from '@grpc/grpc-js';

import {
  KVClient,
  PutRequest,
  RangeRequest,
  TxnRequest,
  type TxnResponse,
} from '../../src/proto/gen/etcdserverpb/rpc.js';
import { startEtcd } from '../support/etcd.js';
import { type KvNode, removeDir, startKvNode } from '../support/kvnode.js';

const b = (s: string) => Buffer.from(s);
type Etcd = Awaited<ReturnType<typeof startEtcd>>;

function call<T>(f: (cb: (err: unknown, res: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => f((err, res) => (err ? reject(err as Error) : resolve(res))));
}

/** What a scenario observes: nested outcomes and the values it leaves, revisions left out. */
async function scenario(ep: string, prefix: string): Promise<unknown> {
  const c = new KVClient(ep, credentials.createInsecure());
  try {
    const k = b(`${prefix}k`);
    await call((cb) => c.put(PutRequest.fromPartial({ key: k, value: b('1') }), cb));
    const nested = (value: string) =>
      TxnRequest.fromPartial({
        compare: [{ result: 0, target: 3, key: k, value: b(value) }],
        success: [{ requestPut: { key: b(`${prefix}r${value}`), value: b(`saw-${value}`) } }],
        failure: [{ requestRange: { key: k } }],
      });
    const t = TxnRequest.fromPartial({
      compare: [{ result: 0, target: 3, key: k, value: b('1') }],
      success: [
        { requestPut: { key: k, value: b('2') } },
        // Nested compares are evaluated before any op of the txn runs: this one sees '1', not '2'.
        { requestTxn: nested('1') },
        { requestTxn: nested('2') },
        // A range after a put in the same txn sees the put.
        { requestRange: { key: k } },
      ],
    });
    const resp: TxnResponse = await call((cb) => c.txn(t, cb));
    const after = await call<{ kvs: Array<{ value: Buffer }> }>((cb) => c.range(RangeRequest.fromPartial({ key: b(`${prefix}r`), rangeEnd: b(`${prefix}s`) }), cb));
    return {
      succeeded: resp.succeeded,
      nested: resp.responses.map((r) => r.responseTxn?.succeeded),
      nestedRead: resp.responses[2]?.responseTxn?.responses[0]?.responseRange?.kvs.map((kv) => kv.value.toString()),
      rangeAfterPut: resp.responses[3]?.responseRange?.kvs.map((kv) => kv.value.toString()),
      r: after.kvs.map((kv) => kv.value.toString()),
    };
  } finally {
    c.close();
  }
}

describe('txn semantics match the real etcd', { timeout: 60_000 }, () => {
  let node: KvNode;
  let etcd: Etcd;
  before(async () => {
    [node, etcd] = await Promise.all([startKvNode(), startEtcd()]);
  });
  after(async () => {
    await node?.stop();
    if (node) removeDir(node.dataDir);
    await etcd?.stop();
  });

  test('nested txn compares see the state before the txn; ranges see earlier puts', async () => {
    const want = await scenario(etcd.endpoint, 'n/');
    assert.deepEqual(want, { succeeded: true, nested: [undefined, true, false, undefined], nestedRead: ['2'], rangeAfterPut: ['2'], r: ['saw-1'] });
    assert.deepEqual(await scenario(node.endpoint, 'n/'), want);
  });
});
