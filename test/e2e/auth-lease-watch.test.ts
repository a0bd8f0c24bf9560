// Auth across features: leases expire (the node revokes as root) and watches are checked, with auth on.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { etcdctl } from '../support/etcdctl.js';
import { type KvNode, removeDir, startKvNode } from '../support/kvnode.js';
import { kvctl } from './kvctl.js';

describe('auth with leases and watches', { timeout: 60_000 }, () => {
  let node: KvNode;
  const as = (user: string, ...args: string[]) => etcdctl(node.endpoint, ['--user', user, ...args]);

  before(async () => {
    node = await startKvNode({ args: ['--heartbeat-interval', '50', '--election-timeout', '500'] });
    const ep = node.endpoint;
    for (const args of [
      ['user', 'add', 'root:rootpw'],
      ['user', 'add', 'alice:alicepw'],
      ['role', 'add', 'a-writer'],
      ['role', 'grant-permission', 'a-writer', 'readwrite', 'a/', '--prefix'],
      ['user', 'grant-role', 'alice', 'a-writer'],
      ['auth', 'enable'],
    ]) {
      const r = await etcdctl(ep, args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    }
  });
  after(async () => {
    await node?.stop();
    if (node) removeDir(node.dataDir);
  });

  test('an expired lease is revoked by the node even with auth on, deleting keys no user could write', async () => {
    const grant = await as('root:rootpw', 'lease', 'grant', '1');
    const id = /lease ([0-9a-f]+) granted/.exec(grant.stdout)?.[1];
    assert.ok(id, grant.stdout + grant.stderr);
    assert.equal((await as('root:rootpw', 'put', 'root-only', 'v', '--lease', id)).stdout, 'OK\n');
    let gone = false;
    for (let i = 0; i < 40 && !gone; i++) {
      await new Promise((r) => setTimeout(r, 200));
      gone = (await as('root:rootpw', 'get', 'root-only')).stdout === '';
    }
    assert.ok(gone, `the key outlived its lease:\n${node.log().slice(-1500)}`);
  });

  test('lease revoke needs write permission on every attached key', async () => {
    const grant = await as('alice:alicepw', 'lease', 'grant', '60');
    const id = /lease ([0-9a-f]+) granted/.exec(grant.stdout)?.[1];
    assert.ok(id, grant.stdout + grant.stderr);
    assert.equal((await as('root:rootpw', 'put', 'b/secret', 'v', '--lease', id)).stdout, 'OK\n');
    // Nor may alice list the keys of a lease she cannot read (etcd's fix for CVE-2023-32082).
    const ttl = await as('alice:alicepw', 'lease', 'timetolive', id, '--keys');
    assert.match(ttl.stderr, /etcdserver: permission denied/);
    assert.doesNotMatch(ttl.stdout, /b\/secret/);
    const refused = await as('alice:alicepw', 'lease', 'revoke', id);
    assert.match(refused.stderr, /etcdserver: permission denied/);
    assert.equal((await as('root:rootpw', 'lease', 'revoke', id)).code, 0);
  });

  test('a watch needs read permission on its range; a permitted one sees events', async () => {
    const denied = await as('alice:alicepw', 'watch', 'b/', '--prefix');
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /permission denied/);

    const child = spawn('etcdctl', ['--endpoints', node.endpoint, '--user', 'alice:alicepw', 'watch', 'a/', '--prefix'], {
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      for (let i = 0; i < 50 && !out.includes('a/k'); i++) {
        await as('alice:alicepw', 'put', 'a/k', `v${i}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(out, /^PUT\na\/k\nv\d+\n/);
    } finally {
      child.kill('SIGKILL');
    }
  });

  test("kvctl's streams carry the token: snapshot needs root, keep-alive works as a user", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvctl-auth-snap-'));
    try {
      // Snapshot is root-only with auth on: refused without credentials, served with root's token.
      const anon = await kvctl(['snapshot', 'save', join(dir, 'a.db'), '--endpoints', node.endpoint]);
      assert.notEqual(anon.code, 0);
      assert.match(anon.stderr, /etcdserver: user name is empty/);
      const root = await kvctl(['snapshot', 'save', join(dir, 'r.db'), '--endpoints', node.endpoint, '--user', 'root:rootpw']);
      assert.equal(root.code, 0, root.stderr);
      const alice = await kvctl(['snapshot', 'save', join(dir, 'u.db'), '--endpoints', node.endpoint, '--user', 'alice:alicepw']);
      assert.match(alice.stderr, /etcdserver: permission denied/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const grant = await as('alice:alicepw', 'lease', 'grant', '30');
    const id = /lease ([0-9a-f]+) granted/.exec(grant.stdout)?.[1];
    assert.ok(id);
    const ka = await kvctl(['lease', 'keep-alive', '--once', id, '--endpoints', node.endpoint, '--user', 'alice:alicepw']);
    assert.equal(ka.code, 0, ka.stderr);
    assert.match(ka.stdout, new RegExp(`lease ${id} keepalived with TTL\\(\\d+\\)`));
  });
});
