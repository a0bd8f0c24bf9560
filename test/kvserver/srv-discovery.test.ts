// The node's initial cluster from DNS SRV records (srv-discovery.ts), read from a real dnsmasq: naming,
// URLs, which record is this member, and etcd's errors. The end-to-end bootstraps are in test/e2e/dns-srv.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { levelLogger } from '../../src/base/logger.js';
import { dnsServerResolver } from '../../src/base/node-dns.js';
import { discoverSrvCluster } from '../../src/server/kvserver/srv-discovery.js';
import { type Dnsmasq, dnsmasqAvailable, startDnsmasq } from '../support/dnsmasq.js';

const D = 'disc.kvctl.test';
const skip = dnsmasqAvailable() ? false : 'dnsmasq is not installed (apt-get install dnsmasq-base)';

describe('SRV discovery of the initial cluster', { skip }, () => {
  let dns: Dnsmasq;
  before(async () => {
    dns = await startDnsmasq({
      domain: D,
      srv: [
        ...[1, 2, 3].map((i) => ({ name: `_etcd-server._tcp.${D}`, target: `m${i}.${D}`, port: 2380 })),
        // https members under a service name, and a record whose target has no address.
        ...[1, 2].map((i) => ({ name: `_etcd-server-ssl-blue._tcp.${D}`, target: `m${i}.${D}`, port: 2480 })),
        { name: `_etcd-server-blue._tcp.${D}`, target: `m3.${D}`, port: 2480 },
        { name: `_etcd-server-green._tcp.${D}`, target: `gone.${D}`, port: 2380 },
      ],
      hosts: [1, 2, 3].map((i) => ({ name: `m${i}.${D}`, address: `127.0.0.${i}` })),
    });
  });
  after(() => dns?.stop());

  const discover = async (name: string, urls: string[], serviceName = '') => {
    const lines: string[] = [];
    const logger = levelLogger('info', (level, m) => lines.push(`${level} ${m}`));
    const cluster = await discoverSrvCluster(
      { domain: D, serviceName, name, advertisePeerUrls: urls.map((u) => new URL(u)) },
      dnsServerResolver(dns.server),
      logger,
    );
    return { cluster: Object.fromEntries([...cluster].map(([n, us]) => [n, us.map((u) => u.href.replace(/\/$/, ''))])), lines };
  };

  test('this member is the record at its advertised address; the others are numbered; URLs name the targets', async () => {
    const { cluster, lines } = await discover('m2', ['http://127.0.0.2:2380']);
    assert.deepEqual(Object.keys(cluster).sort(), ['0', '1', 'm2']);
    assert.deepEqual(cluster.m2, [`http://m2.${D}:2380`]);
    assert.deepEqual(Object.values(cluster).flat().sort(), [1, 2, 3].map((i) => `http://m${i}.${D}:2380`));
    // The missing _etcd-server-ssl records are a warning only, as in etcd 3.5.
    assert.ok(lines.some((l) => l.startsWith(`warn failed to resolve during SRV discovery: error querying DNS SRV records for _etcd-server-ssl lookup _etcd-server-ssl._tcp.${D} on ${dns.server}: no such host`)), lines.join('\n'));
    assert.ok(lines.includes(`info got bootstrap from DNS for etcd-server at m2=http://m2.${D}:2380`), lines.join('\n'));
  });

  test('--discovery-srv-name: https and http records together, each with its scheme', async () => {
    const { cluster } = await discover('m1', ['https://127.0.0.1:2480'], 'blue');
    assert.deepEqual(cluster.m1, [`https://m1.${D}:2480`]);
    assert.deepEqual(Object.values(cluster).flat().sort(), [`http://m3.${D}:2480`, `https://m1.${D}:2480`, `https://m2.${D}:2480`]);
  });

  test("a member at no record's address: etcd's message", async () => {
    await assert.rejects(discover('m4', ['http://127.0.0.4:2380']), { message: 'cannot find local etcd member "m4" in SRV records' });
    // The same address on another port is another member.
    await assert.rejects(discover('m1', ['http://127.0.0.1:2381']), { message: 'cannot find local etcd member "m1" in SRV records' });
  });

  test('a record at this address with the other scheme is not this member', async () => {
    // m3's record is http; advertising https drops it (etcd keeps the error only when no record is left).
    await assert.rejects(discover('m3', ['https://127.0.0.3:2480'], 'blue'), { message: 'cannot find local etcd member "m3" in SRV records' });
  });

  test("no records at all: both lookups' errors, joined as etcd joins them", async () => {
    await assert.rejects(discover('m1', ['http://127.0.0.1:2380'], 'red'), {
      message:
        `error querying DNS SRV records for _etcd-server-ssl-red lookup _etcd-server-ssl-red._tcp.${D} on ${dns.server}: no such host; ` +
        `error querying DNS SRV records for _etcd-server-red lookup _etcd-server-red._tcp.${D} on ${dns.server}: no such host`,
    });
  });

  test('records whose targets do not resolve: the lookup error of the target', async () => {
    // The target keeps its trailing dot, as Go's message does (checked against etcd 3.4).
    await assert.rejects(discover('m1', ['http://127.0.0.1:2380'], 'green'), {
      message:
        `error querying DNS SRV records for _etcd-server-ssl-green lookup _etcd-server-ssl-green._tcp.${D} on ${dns.server}: no such host; ` +
        `error querying DNS SRV records for _etcd-server-green lookup gone.${D}. on ${dns.server}: no such host`,
    });
  });
});
