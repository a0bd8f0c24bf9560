// The output writers, proven against the real etcdctl: the same read is done by etcdctl (which prints it) and by
// EtcdClient (whose response our writers print), and the bytes must be identical. Reads do not move the revision,
// so the headers match too. Fixed inputs cover what a live etcd cannot show (tables with several rows, errors).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { EtcdClient, txnRequest } from '../../src/client/index.js';
import {
  type EndpointStatus,
  type KvWriteOut,
  type WriteOut,
  printDelete,
  printHealth,
  printRange,
  printStatus,
  printTxn,
  renderEtcdTable,
} from '../../src/cli/output.js';
import { parseTxn } from '../../src/cli/txn-parser.js';
import { type EtcdHandle, etcdctl, startEtcd } from '../support/etcd.js';

const b = (...bytes: number[]): Buffer => Buffer.from(bytes);

/** Shows both outputs readably when they differ. */
function sameBytes(ours: Buffer, theirs: Buffer, what: string): void {
  if (!ours.equals(theirs)) {
    assert.equal(JSON.stringify(ours.toString('latin1')), JSON.stringify(theirs.toString('latin1')), what);
    assert.fail(`${what}: bytes differ`);
  }
}

describe('output writers compared with the real etcdctl', () => {
  let etcd: EtcdHandle;
  let client: EtcdClient;
  let ep: string;

  async function theirs(args: string[], input?: string): Promise<Buffer> {
    const withEndpoint = args.some((a) => a.startsWith('--endpoints=')) ? args : [`--endpoints=${ep}`, ...args];
    const r = await etcdctl(withEndpoint, { input });
    assert.equal(r.code, 0, `etcdctl ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  }

  before(async () => {
    etcd = await startEtcd({ name: 'output-test' });
    ep = etcd.endpoint;
    client = await EtcdClient.connect({ endpoints: ep });
    await client.put('o/plain', 'value');
    await client.put('o/quote"\\', 'a"b\\c');
    await client.put('o/uni€日本', '😀\u00a0\u200b');
    await client.put('o/nl', 'line1\nline2\n');
    await client.put(Buffer.concat([Buffer.from('o/bin'), b(0x00, 0xff)]), b(0x00, 0xff, 0x7f, 0x1b, 0x09));
    await client.put('o/empty', '');
    await client.put('o/html<&>', '<&>');
    // A key with a lease, so that `lease` shows in every format.
    const grant = (await theirs(['lease', 'grant', '600'])).toString();
    const lease = /lease ([0-9a-f]+) granted/.exec(grant)?.[1];
    assert.ok(lease, grant);
    await theirs(['put', 'o/leased', 'x', `--lease=${lease}`]);
  });

  after(async () => {
    client?.close();
    await etcd?.stop();
  });

  const formats: KvWriteOut[] = ['simple', 'json', 'fields'];

  it('get: single keys, prefixes, ranges, missing keys', async () => {
    const queries: [string[], Parameters<EtcdClient['range']>][] = [
      [['get', 'o/plain'], ['o/plain']],
      [['get', 'o/', '--prefix'], ['o/', { prefix: true }]],
      [['get', 'o/n', 'o/q'], ['o/n', { rangeEnd: 'o/q' }]],
      [['get', 'missing'], ['missing']],
      [['get', 'o/', '--prefix', '--keys-only'], ['o/', { prefix: true, keysOnly: true }]],
      [['get', 'o/', '--prefix', '--limit=2', '--order=DESCEND', '--sort-by=VALUE'], ['o/', { prefix: true, limit: 2, sortOrder: 'DESCEND', sortTarget: 'VALUE' }]],
      [['get', 'o/l', '--from-key', '--consistency=s'], ['o/l', { fromKey: true, serializable: true }]],
    ];
    for (const [args, call] of queries) {
      const resp = await client.range(...call);
      for (const w of formats) sameBytes(printRange(w, resp), await theirs([...args, `-w=${w}`]), `${args.join(' ')} -w ${w}`);
      sameBytes(printRange('simple', resp, { hex: true }), await theirs([...args, '--hex']), `${args.join(' ')} --hex`);
    }
    const all = await client.range('o/', { prefix: true });
    sameBytes(printRange('simple', all, { valueOnly: true }), await theirs(['get', 'o/', '--prefix', '--print-value-only']), '--print-value-only');
  });

  it('txn: responses of reads in both branches', async () => {
    const texts = [
      'value("o/plain") = "value"\nmod("o/nl") > "0"\n\nget o/plain\nget o/ --prefix --keys-only\n\nget o/nl\n\n',
      'value("o/plain") = "other"\n\nget o/plain\n\nget o/ --prefix --limit=1\nget "o/uni€日本"\n\n',
      '\n\n\n',
    ];
    for (const text of texts) {
      const spec = await parseTxn(text);
      const resp = await client.txn(txnRequest(spec.compares, spec.success, spec.failure));
      for (const w of formats) sameBytes(printTxn(w, resp), await theirs(['txn', `-w=${w}`], text), `txn -w ${w}: ${JSON.stringify(text)}`);
    }
  });

  it('del: a range with nothing in it (which leaves the revision alone)', async () => {
    const resp = await client.deleteRange('nothing/', { prefix: true, prevKv: true });
    for (const w of formats) sameBytes(printDelete(w, resp), await theirs(['del', 'nothing/', '--prefix', '--prev-kv', `-w=${w}`]), `del -w ${w}`);
  });

  it('endpoint status in every format', async () => {
    for (const w of ['simple', 'json', 'fields', 'table'] as WriteOut[]) {
      for (const name of [ep, etcd.clientUrl]) {
        const list: EndpointStatus[] = [{ endpoint: name, status: await client.status(name) }];
        sameBytes(printStatus(w, list), await theirs(['endpoint', 'status', `--endpoints=${name}`, `-w=${w}`]), `status ${name} -w ${w}`);
      }
    }
  });

  it('endpoint health in every format (the durations aside)', async () => {
    const took = (s: string): string => s.replace(/took = \S+/g, 'took = D').replace(/"took":"[^"]*"/g, '"took":"D"').replace(/"Took" : \S+/g, '"Took" : D');
    for (const w of ['simple', 'json', 'fields'] as WriteOut[]) {
      const r = await etcdctl(['endpoint', 'health', `--endpoints=${ep}`, `-w=${w}`]);
      assert.equal(r.code, 0, r.stderr);
      const ours = printHealth(w, [{ endpoint: ep, health: true, tookNs: 1_234_567n, error: '' }]);
      assert.equal(took(ours.stdout.toString()), took(r.stdout.toString()), `health -w ${w} stdout`);
      assert.equal(took(ours.stderr.toString()), took(r.stderr), `health -w ${w} stderr`);
    }
    // Table columns are as wide as the duration, so compare the layout with the same duration put in.
    const r = await etcdctl(['endpoint', 'health', `--endpoints=${ep}`, '-w=table']);
    const theirTook = /\| +true \| +(\S+) \|/.exec(r.stdout.toString())?.[1] ?? '';
    const ns = parseGoDurationNs(theirTook);
    assert.equal(printHealth('table', [{ endpoint: ep, health: true, tookNs: ns, error: '' }]).stdout.toString(), r.stdout.toString());
  });
});

/** Nanoseconds of a Go duration as etcdctl prints `took` (`1.2ms`, `850.3µs`, `1.5s`). */
function parseGoDurationNs(text: string): bigint {
  const m = /^(\d+)(?:\.(\d+))?(ns|µs|ms|s)$/.exec(text);
  assert.ok(m, `unexpected duration ${text}`);
  const digits = { ns: 0, µs: 3, ms: 6, s: 9 }[m[3] as 'ns' | 'µs' | 'ms' | 's'];
  return BigInt(m[1] ?? '0') * 10n ** BigInt(digits) + BigInt((m[2] ?? '').padEnd(digits, '0').slice(0, digits) || '0');
}

describe('output writers with fixed inputs', () => {
  it('draws tablewriter boxes: right-aligned cells, centred headers, empty tables', () => {
    assert.equal(
      renderEtcdTable(['ENDPOINT', 'HEALTH'], [
        ['127.0.0.1:2379', 'true'],
        ['http://127.0.0.1:22379', 'false'],
      ]),
      [
        '+------------------------+--------+',
        '|        ENDPOINT        | HEALTH |',
        '+------------------------+--------+',
        '|         127.0.0.1:2379 |   true |',
        '| http://127.0.0.1:22379 |  false |',
        '+------------------------+--------+',
        '',
      ].join('\n'),
    );
    assert.equal(renderEtcdTable(['A', 'BB'], []), ['+---+----+', '| A | BB |', '+---+----+', '+---+----+', ''].join('\n'));
  });

  it('prints unhealthy endpoints as etcdctl does', () => {
    const list = [
      { endpoint: '127.0.0.1:2379', health: true, tookNs: 946_217n, error: '' },
      { endpoint: '127.0.0.1:1', health: false, tookNs: 1_500_000n, error: 'failed to connect to 127.0.0.1:1: connection refused' },
    ];
    assert.equal(
      printHealth('simple', list).stderr.toString(),
      '127.0.0.1:2379 is healthy: successfully committed proposal: took = 946.217µs\n' +
        '127.0.0.1:1 is unhealthy: failed to commit proposal: failed to connect to 127.0.0.1:1: connection refused\n',
    );
    assert.equal(
      printHealth('json', list).stdout.toString(),
      '[{"endpoint":"127.0.0.1:2379","health":true,"took":"946.217µs"},' +
        '{"endpoint":"127.0.0.1:1","health":false,"took":"1.5ms","error":"failed to connect to 127.0.0.1:1: connection refused"}]\n',
    );
    assert.equal(
      printHealth('fields', list.slice(0, 1)).stdout.toString(),
      '"Endpoint" : "127.0.0.1:2379"\n"Health" : true\n"Took" : 946.217µs\n"Error" : \n\n',
    );
  });

  it('prints status errors and learners', () => {
    const status = {
      header: { clusterId: 1n, memberId: 0xabcn, revision: 5n, raftTerm: 2n },
      version: '3.4.23',
      dbSize: 2_500_000n,
      leader: 0xdefn,
      raftIndex: 9n,
      raftTerm: 2n,
      raftAppliedIndex: 9n,
      errors: ['NOSPACE', 'x<y'],
      dbSizeInUse: 0n,
      isLearner: true,
      storageVersion: '',
      dbSizeQuota: 0n,
    };
    const list = [{ endpoint: 'e', status }];
    assert.equal(printStatus('simple', list).toString(), 'e, abc, 3.4.23, 2.5 MB, false, true, 2, 9, 9, NOSPACE, x<y\n');
    assert.equal(
      printStatus('json', list).toString(),
      '[{"Endpoint":"e","Status":{"header":{"cluster_id":1,"member_id":2748,"revision":5,"raft_term":2},"version":"3.4.23",' +
        '"dbSize":2500000,"leader":3567,"raftIndex":9,"raftTerm":2,"raftAppliedIndex":9,"errors":["NOSPACE","x\\u003cy"],"isLearner":true}}]\n',
    );
    assert.match(printStatus('fields', list).toString(), /"Errors" : \[NOSPACE x<y\]\n"Endpoint" : "e"\n\n$/);
  });
});
