import assert from 'node:assert/strict';
import { test } from 'node:test';

import { moveLeadingGlobalFlags as m } from '../../src/cli/argv.js';

test('etcdctl-style global flags before the command move behind the command words', () => {
  assert.deepEqual(m(['--endpoints=a:1', 'get', 'k']), ['get', 'k', '--endpoints=a:1']);
  assert.deepEqual(m(['--endpoints', 'a:1', '-w', 'json', 'endpoint', 'status']), ['endpoint', 'status', '--endpoints', 'a:1', '-w', 'json']);
  assert.deepEqual(m(['--hex', 'put', 'k', 'v']), ['put', 'k', '--hex', 'v']);
  // etcdctl's TLS flags, as runbooks write them: `etcdctl --cacert ca.pem --cert c.pem --key c.key member list`.
  assert.deepEqual(
    m(['--cacert', 'ca.pem', '--cert=c.pem', '--key', 'c.key', '--insecure-skip-tls-verify', 'member', 'list']),
    ['member', 'list', '--cacert', 'ca.pem', '--cert=c.pem', '--key', 'c.key', '--insecure-skip-tls-verify'],
  );
  // The command first, or nothing to move: unchanged.
  assert.deepEqual(m(['get', 'k', '--endpoints=a:1']), ['get', 'k', '--endpoints=a:1']);
  assert.deepEqual(m(['--version']), ['--version']);
  assert.deepEqual(m(['--endpoints=a:1']), ['--endpoints=a:1']);
});

test('the discovery flags move too, and a bare --insecure-discovery means true', () => {
  assert.deepEqual(m(['-d', 'example.com', '--discovery-srv-name=blue', '--dns-server', '127.0.0.1:53', 'member', 'list']), [
    'member', 'list', '-d', 'example.com', '--discovery-srv-name=blue', '--dns-server', '127.0.0.1:53',
  ]);
  assert.deepEqual(m(['--insecure-discovery=false', 'get', 'k']), ['get', 'k', '--insecure-discovery=false']);
  assert.deepEqual(m(['get', 'k', '--insecure-discovery']), ['get', 'k', '--insecure-discovery=true']);
});
