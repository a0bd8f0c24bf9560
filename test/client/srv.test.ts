// The client side of DNS SRV discovery: the plan checker (pure), and the lookups against a real dnsmasq.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { orderSrv } from '../../src/base/node-dns.js';
import {
  type SrvClusterRecord,
  checkSrvPlan,
  discoverClientEndpoints,
  dnsServerResolver,
  lookupSrvCluster,
  parseDnsServer,
} from '../../src/client/index.js';
import { type Dnsmasq, dnsmasqAvailable, startDnsmasq } from '../support/dnsmasq.js';

const D = 'plan.kvctl.test';

function record(scheme: 'https' | 'http', host: string, address: string | undefined, port = 2380): SrvClusterRecord {
  return {
    name: `_etcd-server${scheme === 'https' ? '-ssl' : ''}._tcp.${D}`,
    scheme,
    target: `${host}.${D}.`,
    port,
    addresses: address !== undefined ? [address] : [],
    ...(address === undefined ? { resolveError: `lookup ${host}.${D}. on 127.0.0.1:53: no such host` } : {}),
    peerUrl: `${scheme}://${host}.${D}:${port}`,
  };
}

describe('checkSrvPlan', () => {
  const three = [record('http', 'm1', '10.0.0.1'), record('http', 'm2', '10.0.0.2'), record('http', 'm3', '10.0.0.3')];

  test('every member finds its record by address and port; the plan is ok', () => {
    const check = checkSrvPlan(three, [
      { name: 'm1', peerUrl: 'http://10.0.0.1:2380' },
      { name: 'm2', peerUrl: 'http://10.0.0.2:2380' },
      { name: 'm3', peerUrl: 'http://10.0.0.3:2380' },
    ]);
    assert.equal(check.ok, true);
    assert.deepEqual(check.members.map((m) => m.record?.peerUrl), three.map((r) => r.peerUrl));
    assert.deepEqual(check.unmatchedRecords, []);
  });

  test('a peer URL with a host name matches the record of that target', () => {
    const check = checkSrvPlan([record('https', 'm1', '10.0.0.1')], [{ name: 'm1', peerUrl: `https://M1.${D}:2380` }]);
    assert.equal(check.ok, true);
    assert.equal(check.members[0]?.record?.target, `m1.${D}.`);
  });

  test("a member at no record's address, or on another port: etcd's message; its record is left unmatched", () => {
    const check = checkSrvPlan(three, [
      { name: 'm1', peerUrl: 'http://10.0.0.1:2380' },
      { name: 'm2', peerUrl: 'http://10.0.0.2:2390' },
      { name: 'm4', peerUrl: 'http://10.0.0.4:2380' },
    ]);
    assert.equal(check.ok, false);
    assert.equal(check.members[0]?.problem, undefined);
    assert.equal(check.members[1]?.problem, 'cannot find local etcd member "m2" in SRV records');
    assert.equal(check.members[2]?.problem, 'cannot find local etcd member "m4" in SRV records');
    assert.deepEqual(check.unmatchedRecords.map((r) => r.target), [`m2.${D}.`, `m3.${D}.`]);
  });

  test('a record of the other scheme at the address: scheme mismatch, in etcd words', () => {
    const check = checkSrvPlan([record('https', 'm1', '10.0.0.1')], [{ name: 'm1', peerUrl: 'http://10.0.0.1:2380' }]);
    assert.equal(check.ok, false);
    assert.equal(
      check.members[0]?.problem,
      `bootstrap at https://m1.${D}:2380 from DNS for etcd-server-ssl has scheme mismatch with expected peer http://10.0.0.1:2380`,
    );
  });

  test('two records at one address, or one record for two members, are refused', () => {
    const twice = checkSrvPlan([record('http', 'm1', '10.0.0.1'), record('http', 'm1b', '10.0.0.1')], [{ name: 'm1', peerUrl: 'http://10.0.0.1:2380' }]);
    assert.equal(twice.ok, false);
    assert.match(twice.members[0]?.problem ?? '', /^2 SRV records point at 10\.0\.0\.1:2380/);
    const shared = checkSrvPlan([record('http', 'm1', '10.0.0.1')], [
      { name: 'a', peerUrl: 'http://10.0.0.1:2380' },
      { name: 'b', peerUrl: `http://m1.${D}:2380` },
    ]);
    assert.equal(shared.ok, false);
    assert.equal(shared.members[0]?.problem, `http://m1.${D}:2380 is also the record of b`);
    assert.equal(shared.members[1]?.problem, `http://m1.${D}:2380 is also the record of a`);
  });

  test('a record whose target does not resolve matches no IP peer URL and is reported', () => {
    const check = checkSrvPlan([record('http', 'm1', '10.0.0.1'), record('http', 'gone', undefined)], [{ name: 'm1', peerUrl: 'http://10.0.0.1:2380' }]);
    assert.equal(check.ok, false);
    assert.equal(check.members[0]?.problem, undefined);
    assert.equal(check.unmatchedRecords[0]?.resolveError, `lookup gone.${D}. on 127.0.0.1:53: no such host`);
  });

  test('a peer URL that is not a URL', () => {
    assert.equal(checkSrvPlan(three, [{ name: 'x', peerUrl: 'not a url' }]).members[0]?.problem, 'invalid peer URL "not a url"');
  });
});

test('parseDnsServer takes ip:port only', () => {
  assert.deepEqual(parseDnsServer('127.0.0.1:5353'), { host: '127.0.0.1', port: 5353, server: '127.0.0.1:5353' });
  assert.deepEqual(parseDnsServer('[::1]:53'), { host: '::1', port: 53, server: '[::1]:53' });
  for (const bad of ['127.0.0.1', 'localhost:53', '127.0.0.1:0', '127.0.0.1:65536', '']) {
    assert.throws(() => parseDnsServer(bad), { message: `--dns-server: expected an IP address and a port (e.g. 127.0.0.1:53), got "${bad}"` });
  }
});

test('SRV answers come in RFC 2782 order: priority first, then weighted', () => {
  const a = (target: string, priority: number, weight: number) => ({ target, port: 1, priority, weight });
  const answers = [a('late', 20, 100), a('heavy', 10, 90), a('light', 10, 10), a('zero', 10, 0)];
  // random() = 0 picks the first of the weight-sorted rest each time.
  assert.deepEqual(orderSrv(answers, () => 0).map((x) => x.target), ['heavy', 'light', 'zero', 'late']);
  // random() just under 1 picks the last weighted one first.
  assert.deepEqual(orderSrv(answers, () => 0.999).map((x) => x.target), ['light', 'heavy', 'zero', 'late']);
  // Over many draws the heavy record comes first about 90 % of the time.
  let seed = 1;
  const random = () => ((seed = (seed * 48271) % 2147483647) / 2147483647);
  let heavyFirst = 0;
  for (let i = 0; i < 2000; i++) if (orderSrv(answers, random)[0]?.target === 'heavy') heavyFirst += 1;
  assert.ok(heavyFirst > 1700 && heavyFirst < 1900, `heavy first ${heavyFirst} of 2000`);
});

describe('SRV lookups against dnsmasq', { skip: dnsmasqAvailable() ? false : 'dnsmasq is not installed (apt-get install dnsmasq-base)' }, () => {
  let dns: Dnsmasq;
  before(async () => {
    dns = await startDnsmasq({
      domain: D,
      srv: [
        { name: `_etcd-server-ssl._tcp.${D}`, target: `m1.${D}`, port: 2380 },
        { name: `_etcd-server._tcp.${D}`, target: `m2.${D}`, port: 2380 },
        { name: `_etcd-server._tcp.${D}`, target: `gone.${D}`, port: 2380 },
        { name: `_etcd-client-ssl._tcp.${D}`, target: `m1.${D}`, port: 2379 },
        { name: `_etcd-client._tcp.${D}`, target: `m2.${D}`, port: 2379 },
      ],
      hosts: [
        { name: `m1.${D}`, address: '127.0.0.1' },
        { name: `m2.${D}`, address: '127.0.0.2' },
      ],
    });
  });
  after(() => dns?.stop());

  test('lookupSrvCluster: both record sets, targets resolved, then checked against a plan', async () => {
    const cluster = await lookupSrvCluster(D, { resolver: dnsServerResolver(dns.server) });
    assert.deepEqual(cluster.errors, []);
    const byTarget = new Map(cluster.records.map((r) => [r.target, r]));
    assert.deepEqual(byTarget.get(`m1.${D}.`), {
      name: `_etcd-server-ssl._tcp.${D}`,
      scheme: 'https',
      target: `m1.${D}.`,
      port: 2380,
      addresses: ['127.0.0.1'],
      peerUrl: `https://m1.${D}:2380`,
    });
    assert.deepEqual(byTarget.get(`m2.${D}.`)?.addresses, ['127.0.0.2']);
    assert.equal(byTarget.get(`gone.${D}.`)?.resolveError, `lookup gone.${D}. on ${dns.server}: no such host`);
    const check = checkSrvPlan(cluster.records, [
      { name: 'm1', peerUrl: 'https://127.0.0.1:2380' },
      { name: 'm2', peerUrl: 'http://127.0.0.2:2380' },
    ]);
    assert.equal(check.ok, false);
    assert.deepEqual(check.unmatchedRecords.map((r) => r.target), [`gone.${D}.`]);
    assert.deepEqual(check.members.map((m) => m.problem), [undefined, undefined]);
  });

  test('lookupSrvCluster with a service name that has no records: the two errors', async () => {
    const cluster = await lookupSrvCluster(D, { serviceName: 'x', resolver: dnsServerResolver(dns.server) });
    assert.deepEqual(cluster.records, []);
    assert.deepEqual(cluster.errors, [
      `error querying DNS SRV records for _etcd-server-ssl-x lookup _etcd-server-ssl-x._tcp.${D} on ${dns.server}: no such host`,
      `error querying DNS SRV records for _etcd-server-x lookup _etcd-server-x._tcp.${D} on ${dns.server}: no such host`,
    ]);
  });

  test("discoverClientEndpoints: etcdctl's endpoints, and what --insecure-discovery=false drops", async () => {
    const resolver = dnsServerResolver(dns.server);
    const found = await discoverClientEndpoints(D, { resolver });
    assert.deepEqual(found.endpoints, [`https://m1.${D}.:2379`, `http://m2.${D}.:2379`]);
    assert.deepEqual([...found.addresses], [[`m1.${D}.`, '127.0.0.1'], [`m2.${D}.`, '127.0.0.2']]);
    const secure = await discoverClientEndpoints(D, { resolver, insecure: false });
    assert.deepEqual(secure.endpoints, [`https://m1.${D}.:2379`]);
    assert.deepEqual(secure.ignored, [`http://m2.${D}.:2379`]);
    await assert.rejects(discoverClientEndpoints(`none.${D}`, { resolver }), {
      message: `dns lookup errors: lookup _etcd-client-ssl._tcp.none.${D} on ${dns.server}: no such host and lookup _etcd-client._tcp.none.${D} on ${dns.server}: no such host`,
    });
  });

  test('a DNS server that does not answer: Go-style errors, within the resolver timeout', async () => {
    // A port where nothing listens on loopback: ICMP port unreachable, refused at once.
    const resolver = dnsServerResolver('127.0.0.1:9');
    const started = Date.now();
    await assert.rejects(resolver.resolveSrv(`_etcd-server._tcp.${D}`), { message: `lookup _etcd-server._tcp.${D} on 127.0.0.1:9: read: connection refused` });
    assert.ok(Date.now() - started < 5000);
  });
});
