// Auth end to end: the real etcdctl 3.4 and kvctl against a `kvctl node`: users, roles, permissions, auth
// enable/disable, access allowed and refused with etcd's exact messages, `--user`, and users that survive a restart.
// The expected texts are what etcdctl prints against a real etcd 3.4 for the same commands. (Token expiry is
// unit-tested with an injected clock in test/auth.)
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ClientError, EtcdClient } from '../../src/client/index.js';
import { etcdctl } from '../support/etcdctl.js';
import { type KvNode, removeDir, startKvNode } from '../support/kvnode.js';
import { type Run, kvctl, root } from './kvctl.js';

/** kvctl with `input` on its stdin (the shared helper leaves stdin open). */
function kvctlWithInput(args: readonly string[], input: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [join(root, 'bin/run.js'), ...args], { cwd: root, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
    child.stdin?.end(input);
  });
}

describe('auth: users, roles, RBAC with etcdctl and kvctl', { timeout: 120_000 }, () => {
  let node: KvNode;
  const ctl = (...args: string[]) => etcdctl(node.endpoint, args);
  const kv = (...args: string[]) => kvctl(['--endpoints', node.endpoint, ...args]);
  const ok = async (p: Promise<{ code: number; stdout: string; stderr: string }>, stdout: string) => {
    const r = await p;
    assert.equal(r.stderr.replace(/^\{"level":"warn".*\n/gm, ''), '', r.stderr);
    assert.equal(r.stdout, stdout);
    assert.equal(r.code, 0);
  };
  const fails = async (p: Promise<{ code: number; stdout: string; stderr: string }>, message: string, code = 1) => {
    const r = await p;
    assert.equal(r.stderr.replace(/^\{"level":"warn".*\n/gm, ''), `Error: ${message}\n`);
    assert.equal(r.code, code, r.stderr);
  };

  before(async () => {
    node = await startKvNode({ name: 'auth0' });
  });
  after(async () => {
    await node?.stop();
    if (node) removeDir(node.dataDir);
  });

  test('users and roles: etcdctl and kvctl print the same', async () => {
    await Promise.all([
      ok(ctl('user', 'add', 'root:rootpw'), 'User root created\n'),
      ok(kv('user', 'add', 'alice:apw'), 'User alice created\n'),
      ok(ctl('user', 'add', '--no-password', 'cn'), 'User cn created\n'),
      ok(etcdctl(node.endpoint, ['user', 'add', 'bob', '--interactive=false'], { input: 'bobpw ignored\n' }), 'User bob created\n'),
      ok(ctl('role', 'add', 'reader'), 'Role reader created\n'),
      ok(kv('role', 'add', 'writer'), 'Role writer created\n'),
    ]);
    // Each group's commands are independent of each other (kvctl starts in ~0.4 s: run them side by side).
    await Promise.all([
      fails(ctl('user', 'add', 'alice:x'), 'etcdserver: user name already exists'),
      fails(kv('user', 'add', ':x'), 'empty user name is not allowed', 128),
      fails(ctl('role', 'add', ''), 'etcdserver: role name is empty'),
      ok(ctl('role', 'grant-permission', 'reader', 'read', '/a'), 'Role reader updated\n'),
      ok(kv('role', 'grant-permission', 'reader', 'read', '/b', '/c'), 'Role reader updated\n'),
      ok(ctl('role', 'grant-permission', 'reader', 'read', '/p/', '--prefix'), 'Role reader updated\n'),
      ok(kv('role', 'grant-permission', 'reader', 'readwrite', '/z', '--from-key'), 'Role reader updated\n'),
      ok(ctl('role', 'grant-permission', 'writer', 'write', '/w/', '--prefix'), 'Role writer updated\n'),
      ok(ctl('role', 'grant-permission', 'writer', 'read', '/w/x'), 'Role writer updated\n'),
      fails(kv('role', 'grant-permission', 'writer', 'bogus', '/w/'), 'invalid permission type: bogus', 128),
      fails(kv('role', 'grant-permission', 'writer', 'read', '/x', '/y', '--prefix'), 'unexpected endkey argument with --prefix flag', 128),
      fails(ctl('role', 'grant-permission', 'nosuch', 'read', 'x'), 'etcdserver: role name not found'),
      ok(kv('user', 'grant-role', 'alice', 'reader'), 'Role reader is granted to user alice\n'),
      ok(ctl('user', 'grant-role', 'alice', 'writer'), 'Role writer is granted to user alice\n'),
      ok(ctl('user', 'grant-role', 'bob', 'writer'), 'Role writer is granted to user bob\n'),
      fails(ctl('user', 'grant-role', 'nosuch', 'reader'), 'etcdserver: user name not found'),
    ]);

    const readerText = 'Role reader\nKV Read:\n\t/a\n\t[/b, /c) (prefix /b)\n\t[/p/, /p0) (prefix /p/)\n\t[/z, <open ended>\nKV Write:\n\t[/z, <open ended>\n';
    await ok(ctl('role', 'get', 'reader'), readerText);
    const reads: string[][] = [
      ['role', 'get', 'reader', '-w', 'json'],
      ['role', 'get', 'writer', '-w', 'fields'],
      ['user', 'list', '-w', 'json'],
      ['user', 'get', 'alice', '--detail'],
      ['user', 'get', 'cn', '-w', 'json'],
    ];
    const [etcdctlOut, kvctlOut] = await Promise.all([Promise.all(reads.map((r) => ctl(...r))), Promise.all(reads.map((r) => kv(...r)))]);
    for (const [i, r] of reads.entries()) {
      assert.equal(kvctlOut[i]?.stdout, etcdctlOut[i]?.stdout, `kvctl ${r.join(' ')}`);
      assert.equal(kvctlOut[i]?.code, 0, kvctlOut[i]?.stderr);
    }
    await Promise.all([
      ok(kv('role', 'get', 'reader'), readerText),
      ok(kv('user', 'get', 'alice'), 'User: alice\nRoles: reader writer\n'),
      fails(kv('user', 'list', '-w', 'table'), 'table not supported as output format', 4),
    ]);
  });

  test('auth enable: root must exist with role root; then every request needs a valid token', async () => {
    await ok(kv('auth', 'status'), 'Authentication Status: false\nAuthRevision: 16\n');
    // etcdctl (and kvctl) create the root role and grant it when root lacks it, then enable.
    await ok(kv('auth', 'enable'), 'Authentication Enabled\n');
    await Promise.all([
      fails(ctl('get', 'foo'), 'etcdserver: user name is empty'),
      fails(kv('get', 'foo'), 'etcdserver: user name is empty'),
      fails(ctl('user', 'list'), 'etcdserver: user name is empty'),
      fails(ctl('--user', 'alice:bad', 'get', '/a'), 'etcdserver: authentication failed, invalid user ID or password', 2),
      fails(kv('--user', 'alice:bad', 'get', '/a'), 'etcdserver: authentication failed, invalid user ID or password', 2),
      fails(ctl('--user', 'nobody:x', 'get', '/a'), 'etcdserver: authentication failed, invalid user ID or password', 2),
      // An empty password means no authentication at all (clientv3), so no token.
      fails(kv('--user', 'cn:', 'get', '/a'), 'etcdserver: user name is empty'),
      ok(kv('auth', 'status', '--user', 'root:rootpw'), 'Authentication Status: true\nAuthRevision: 18\n'),
    ]);
  });

  test('access allowed and denied as the roles say', async () => {
    await Promise.all([
      ok(ctl('--user', 'root:rootpw', 'put', '/a', 'A'), 'OK\n'),
      ok(ctl('--user', 'root', '--password', 'rootpw', 'put', '/w/1', 'W'), 'OK\n'),
    ]);
    await Promise.all([
      ok(ctl('--user', 'alice:apw', 'get', '/a'), '/a\nA\n'),
      ok(kv('get', '/a', '--user', 'alice', '--password', 'apw'), '/a\nA\n'),
      ok(ctl('--user', 'alice:apw', 'get', '/p/', '--prefix'), ''),
      fails(ctl('--user', 'alice:apw', 'get', '/a', '/c'), 'etcdserver: permission denied'),
      fails(kv('--user', 'alice:apw', 'put', '/a', 'x'), 'etcdserver: permission denied'),
      ok(kv('--user', 'alice:apw', 'put', '/w/2', 'x'), 'OK\n'),
      ok(ctl('--user', 'bob:bobpw', 'put', '/w/3', 'x'), 'OK\n'),
      // prev_kv needs read too: bob may write /w/ but read only /w/x.
      fails(ctl('--user', 'bob:bobpw', 'put', '/w/1', 'y', '--prev-kv'), 'etcdserver: permission denied'),
      fails(ctl('--user', 'bob:bobpw', 'del', '/w/1', '--prev-kv'), 'etcdserver: permission denied'),
    ]);
    await ok(ctl('--user', 'bob:bobpw', 'del', '/w/1'), '1\n');
    const txn = await etcdctl(node.endpoint, ['--user', 'alice:apw', 'txn'], { input: 'value("/a") = "A"\n\nput /w/t 1\n\nput /a no\n\n' });
    assert.equal(txn.stderr.replace(/^\{"level".*\n/gm, ''), 'Error: etcdserver: permission denied\n', 'the failure branch writes /a');
    const txnOk = await etcdctl(node.endpoint, ['--user', 'alice:apw', 'txn'], { input: 'value("/a") = "A"\n\nput /w/t 1\n\nget /z\n\n' });
    assert.equal(txnOk.stdout, 'SUCCESS\n\nOK\n');
    // Users may read themselves and the roles they have; the rest of auth management is root's.
    await Promise.all([
      ok(ctl('--user', 'alice:apw', 'user', 'get', 'alice'), 'User: alice\nRoles: reader writer\n'),
      fails(ctl('--user', 'alice:apw', 'user', 'get', 'root'), 'etcdserver: permission denied'),
      ok(kv('--user', 'alice:apw', 'role', 'get', 'writer'), 'Role writer\nKV Read:\n\t/w/x\nKV Write:\n\t[/w/, /w0) (prefix /w/)\n'),
      fails(ctl('--user', 'alice:apw', 'user', 'list'), 'etcdserver: permission denied'),
      fails(ctl('--user', 'alice:apw', 'auth', 'disable'), 'etcdserver: permission denied'),
      fails(ctl('--user', 'root:rootpw', 'user', 'delete', 'root'), 'etcdserver: invalid auth management'),
      fails(ctl('--user', 'root:rootpw', 'user', 'revoke-role', 'root', 'root'), 'etcdserver: invalid auth management'),
    ]);
    // A revoked role takes effect at once.
    await ok(kv('--user', 'root:rootpw', 'user', 'revoke-role', 'alice', 'writer'), 'Role writer is revoked from user alice\n');
    await fails(ctl('--user', 'alice:apw', 'put', '/w/4', 'x'), 'etcdserver: permission denied');
    await Promise.all([
      ok(ctl('--user', 'root:rootpw', 'role', 'revoke-permission', 'reader', '/z', '--from-key'), 'Permission of range [/z, <open ended> is revoked from role reader\n'),
      ok(kv('--user', 'root:rootpw', 'role', 'revoke-permission', 'reader', '/b', '/c'), 'Permission of range [/b, /c) is revoked from role reader\n'),
    ]);
    await fails(kv('--user', 'root:rootpw', 'role', 'revoke-permission', 'reader', '/b', '/c'), 'etcdserver: permission is not granted to the role');
    await ok(kvctlWithInput(['--endpoints', node.endpoint, '--user', 'root:rootpw', 'user', 'passwd', 'bob', '--interactive=false'], 'bob2\n'), 'Password updated\n');
    await ok(ctl('--user', 'bob:bob2', 'get', '/w/x'), '');
  });

  test('the client sends its token on every call and authenticates again when the token dies', async () => {
    const client = EtcdClient.create({ endpoints: node.endpoint, username: 'root', password: 'rootpw' });
    const anonymous = EtcdClient.create({ endpoints: node.endpoint });
    const bob = EtcdClient.create({ endpoints: node.endpoint, username: 'bob', password: 'bob2' });
    try {
      assert.equal((await client.range('/a')).kvs[0]?.value.toString(), 'A');
      await assert.rejects(anonymous.range('/a'), (err: unknown) => err instanceof ClientError && err.etcdError === 'userEmpty');
      // Disable and enable again: every token is void; the next call gets "invalid auth token" and re-authenticates.
      await client.auth.authDisable();
      await client.auth.authEnable();
      assert.equal((await client.range('/a')).kvs[0]?.value.toString(), 'A');
      assert.deepEqual((await client.auth.userGet('root')).roles, ['root']);
      // Maintenance: Status is anyone's, HashKV and Defragment are root's.
      await bob.status(node.endpoint);
      const denied = (err: unknown) => err instanceof ClientError && err.etcdError === 'permissionDenied';
      await assert.rejects(bob.hashKV(node.endpoint), denied);
      await assert.rejects(bob.defragment(node.endpoint), denied);
      await client.hashKV(node.endpoint);
    } finally {
      client.close();
      anonymous.close();
      bob.close();
    }
  });

  test('users, roles and the enabled flag survive a restart; auth disable', async () => {
    await node.stop();
    node = await startKvNode({ name: 'auth0', dataDir: node.dataDir, clientPort: node.clientPort });
    await fails(ctl('get', '/a'), 'etcdserver: user name is empty');
    await ok(ctl('--user', 'alice:apw', 'get', '/a'), '/a\nA\n');
    await ok(ctl('--user', 'root:rootpw', 'user', 'list'), 'alice\nbob\ncn\nroot\n');
    await ok(kv('--user', 'root:rootpw', 'auth', 'disable'), 'Authentication Disabled\n');
    await Promise.all([ok(ctl('get', '/a'), '/a\nA\n'), ok(kv('user', 'delete', 'alice'), 'User alice deleted\n'), ok(ctl('role', 'delete', 'writer'), 'Role writer deleted\n')]);
    await ok(ctl('user', 'get', 'bob'), 'User: bob\nRoles:\n');
  });
});
