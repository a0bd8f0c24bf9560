// The discovery protocol's pure parts and its refusals before any request (the protocol against real
// discovery services, kvctl's and etcd's, is in test/e2e/discovery.test.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { noopLogger } from '../../src/base/logger.js';
import { ConfigError, defaultConfig } from '../../src/server/kvserver/config.js';
import { DiscoveryError, joinCluster, nodesToCluster, registrationValue, resolveInitialCluster } from '../../src/server/kvserver/discovery.js';
import { configFromFlags } from '../../src/commands/node.js';

describe('discovery protocol', () => {
  test("a registration is etcd's URLsMap text of the member alone", () => {
    assert.equal(registrationValue('m1', ['http://127.0.0.1:2380']), 'm1=http://127.0.0.1:2380');
    assert.equal(registrationValue('m1', ['https://b:2', 'http://a:1']), 'm1=http://a:1,m1=https://b:2');
  });

  test("registrations become the initial cluster, with etcd's errors", () => {
    const c = nodesToCluster(['m2=http://127.0.0.2:2380', 'm1=http://127.0.0.1:2380,m1=http://10.0.0.1:2380'], 2);
    assert.deepEqual([...c], [['m2', ['http://127.0.0.2:2380']], ['m1', ['http://127.0.0.1:2380', 'http://10.0.0.1:2380']]]);
    const fails = (values: string[], size: number) => {
      try {
        nodesToCluster(values, size);
      } catch (err) {
        assert.ok(err instanceof DiscoveryError);
        return [err.failure, err.message];
      }
      return undefined;
    };
    assert.deepEqual(fails(['m1=http://a:1', 'm1=http://b:2'], 2), ['duplicateName', 'failed to join discovery cluster (discovery: found duplicate name)']);
    for (const bad of ['m1=127.0.0.1:2380', 'm1=http://a', 'm1=http://a:1/path', 'm1=ftp://a:1', '3']) {
      assert.deepEqual(fails([bad], 1), ['invalidUrl', 'failed to join discovery cluster (discovery: invalid URL)'], bad);
    }
  });

  test('refusals before any request: existing cluster state, a proxy, a bad URL', async () => {
    const base = { ...defaultConfig('m1'), discovery: 'http://127.0.0.1:9/v2/keys/_etcd/registry/t' };
    const plain = defaultConfig('m1');
    assert.equal(await resolveInitialCluster(plain, noopLogger), plain, 'without --discovery the flags decide');
    await assert.rejects(resolveInitialCluster({ ...base, initialClusterState: 'existing' }, noopLogger), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.message, 'discovery URL should not be set when joining existing initial cluster');
      return true;
    });
    await assert.rejects(resolveInitialCluster({ ...base, discoveryProxy: 'http://127.0.0.1:3128' }, noopLogger), /--discovery-proxy=http:\/\/127.0.0.1:3128: kvctl node cannot reach the discovery service through a proxy/);
    await assert.rejects(joinCluster({ url: 'not a url', name: 'm1', peerUrls: ['http://127.0.0.1:2380'], logger: noopLogger }), /failed to join discovery cluster \(parse "not a url": invalid URL\)/);
    await assert.rejects(joinCluster({ url: 'ftp://127.0.0.1:9/x', name: 'm1', peerUrls: ['http://127.0.0.1:2380'], logger: noopLogger }), /unsupported protocol scheme "ftp"/);
  });

  test('an unreachable service is retried with backoff (2 s, 4 s, ...) until the limit', async () => {
    const waits: number[] = [];
    await assert.rejects(
      joinCluster(
        { url: 'http://127.0.0.1:9/v2/keys/_etcd/registry/t', name: 'm1', peerUrls: ['http://127.0.0.1:2380'], logger: noopLogger },
        { sleep: async (ms) => void waits.push(ms), maxRetries: 10 },
      ),
      /failed to join discovery cluster \(discovery: too many retries\)/,
    );
    assert.deepEqual(waits, [2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 256000, 256000]);
  });

  test("flags: --discovery excludes --initial-cluster, with etcd's message", () => {
    assert.throws(
      () => configFromFlags({ name: 'm1', discovery: 'http://127.0.0.1:9/v2/keys/x', 'initial-cluster': 'm1=http://127.0.0.1:2380' }),
      /^ConfigError: multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", "discovery" or "discovery-srv"$/,
    );
    const cfg = configFromFlags({ name: 'm1', discovery: 'http://127.0.0.1:9/v2/keys/x', 'initial-advertise-peer-urls': 'http://127.0.0.1:2380' });
    assert.equal(cfg.discovery, 'http://127.0.0.1:9/v2/keys/x');
    assert.equal(cfg.discoveryFallback, 'proxy');
    assert.deepEqual([...cfg.initialCluster.keys()], ['m1']);
  });
});
