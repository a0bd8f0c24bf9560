import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  ConfigError,
  defaultConfig,
  parseDurationMs,
  parseInitialCluster,
  parseRetention,
  parseUrlList,
  validateConfig,
} from '../../src/server/kvserver/config.js';
import { clusterIdFor, idHex, memberIdFor } from '../../src/server/kvserver/ids.js';

describe('node configuration', () => {
  test("etcd's defaults are valid and give etcd's ids", () => {
    const cfg = defaultConfig();
    validateConfig(cfg);
    assert.equal(cfg.dataDir, 'default.etcd');
    const id = memberIdFor(['http://localhost:2380'], 'etcd-cluster');
    assert.equal(idHex(id), '8e9e05c52164694d');
    assert.equal(idHex(clusterIdFor([id])), 'cdf818194e3a8c32');
    // Sorted peer URLs: the order given does not change the id.
    assert.equal(memberIdFor(['http://b:2', 'http://a:1'], 't'), memberIdFor(['http://a:1', 'http://b:2'], 't'));
    assert.notEqual(memberIdFor(['http://a:1'], 't'), memberIdFor(['http://a:1'], 't', 1700000000));
  });

  test('URL lists and --initial-cluster', () => {
    assert.deepEqual(parseUrlList('x', 'http://127.0.0.1:1, http://127.0.0.2:2').map((u) => u.host), ['127.0.0.1:1', '127.0.0.2:2']);
    assert.throws(() => parseUrlList('listen-client-urls', 'localhost:2379'), /--listen-client-urls: URL scheme must be http/);
    assert.throws(() => parseUrlList('x', 'http://127.0.0.1'), /must include a port/);
    assert.throws(() => parseUrlList('x', 'http://127.0.0.1:1/path'), /must not contain a path/);
    const c = parseInitialCluster('a=http://127.0.0.1:2380,b=http://127.0.0.2:2380,a=http://10.0.0.1:2380');
    assert.deepEqual([...c.keys()], ['a', 'b']);
    assert.equal(c.get('a')?.length, 2);
    assert.throws(() => parseInitialCluster('nourl'), ConfigError);
  });

  test("etcd's checks, each naming the flag", () => {
    const d = defaultConfig('n1');
    assert.throws(() => validateConfig({ ...d, electionMs: 400 }), /--election-timeout\[400ms\] should be at least as 5 times as --heartbeat-interval\[100ms\]/);
    assert.throws(() => validateConfig({ ...d, electionMs: 60000 }), /is too long/);
    assert.throws(() => validateConfig({ ...d, initialCluster: new Map() }), /--initial-cluster has no entry for --name=n1/);
    assert.throws(
      () => validateConfig({ ...d, initialAdvertisePeerUrls: [new URL('http://127.0.0.9:2380')] }),
      /--initial-advertise-peer-urls is http:\/\/127.0.0.9:2380: they must match/,
    );
    assert.throws(() => validateConfig({ ...d, autoCompactionMode: 'revision', autoCompactionRetention: '1h' }), /--auto-compaction-retention/);
  });

  test('--discovery-srv: no --initial-cluster beside it, and --dns-server is ip:port', () => {
    const d = defaultConfig('n1');
    // The cluster comes from DNS later: an empty --initial-cluster and other advertised URLs are fine now.
    validateConfig({ ...d, discoverySrv: 'example.com', initialCluster: new Map() });
    assert.throws(() => validateConfig({ ...d, discoverySrv: 'example.com' }), {
      message: 'multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", "discovery" or "discovery-srv"',
    });
    assert.throws(() => validateConfig({ ...d, dnsServer: 'dns.example.com:53' }), {
      message: '--dns-server: expected an IP address and a port (e.g. 127.0.0.1:53), got "dns.example.com:53"',
    });
    validateConfig({ ...d, dnsServer: '127.0.0.1:5353' });
  });

  test('durations and retention as etcd reads them', () => {
    assert.equal(parseDurationMs('1h30m'), 5_400_000);
    assert.equal(parseDurationMs('250ms'), 250);
    assert.equal(parseDurationMs('1x'), undefined);
    assert.equal(parseRetention('periodic', '2'), 7_200_000);
    assert.equal(parseRetention('periodic', '30m'), 1_800_000);
    assert.equal(parseRetention('revision', '1000'), 1000);
  });
});
