// A `kvctl node` serving clients over TLS with client-certificate authentication, driven by the real etcdctl 3.4
// and by kvctl's own CLI: everything works with the right certificates; a missing client certificate, one from
// another CA, an expired one and one revoked by --client-crl-file are refused (and the node logs why, as etcd does); a SAN mismatch is named; the
// certificate's CN is the user when auth is on; /health answers over https; a renewed server certificate is
// used without a restart. Certificates come from the openssl CLI (test/support/tls-fixtures.ts).
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { copyFileSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { after, before, describe, test } from 'node:test';

import { type EtcdctlRun, etcdctl } from '../support/etcdctl.js';
import { type KvNode, removeDir, startKvNode } from '../support/kvnode.js';
import { type CertPair, type TlsFixtures, makeTlsFixtures } from '../support/tls-fixtures.js';
import { kvctl } from './kvctl.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** etcdctl's own retry warnings (JSON lines) are noise here; what is left is what it says to the user. */
const userLines = (stderr: string): string => stderr.replace(/^\{"level":"warn".*\n/gm, '');

/** GET `path` over https from `host:port` with Node's client (HTTP/1.1); the status and body, or the error. */
function httpsGet(host: string, port: number, path: string, tls: { ca: string; cert?: string; key?: string }): Promise<{ status: number; body: string } | Error> {
  return new Promise((resolve) => {
    const req = request(
      {
        host,
        port,
        path,
        ca: readFileSync(tls.ca),
        ...(tls.cert !== undefined && tls.key !== undefined ? { cert: readFileSync(tls.cert), key: readFileSync(tls.key) } : {}),
        timeout: 5000,
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve(err));
    req.end();
  });
}

function run(cmd: string, args: readonly string[]): Promise<EtcdctlRun> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('kvctl node with TLS and client-certificate auth', { timeout: 90_000 }, () => {
  let pki: TlsFixtures;
  let node: KvNode;
  let root: CertPair;
  let alice: CertPair;
  /** 127.0.0.1:port, which the server certificate names, and 127.0.0.2:port, which it does not. */
  let ep: string;
  let ep2: string;
  const children: ChildProcess[] = [];

  /** etcdctl's TLS flags for a client certificate (or none), trusting the test CA. */
  const tlsFlags = (pair: CertPair | undefined): string[] => [
    '--cacert', pki.ca.cert,
    ...(pair !== undefined ? ['--cert', pair.cert, '--key', pair.key] : []),
  ];
  const ctl = (pair: CertPair | undefined, ...args: string[]) => etcdctl(ep, [...tlsFlags(pair), ...args]);
  const kv = (endpoint: string, pair: CertPair | undefined, ...args: string[]) => kvctl(['--endpoints', endpoint, ...tlsFlags(pair), ...args]);
  const ok = (r: EtcdctlRun, stdout: string): void => {
    assert.equal(userLines(r.stderr), '', r.stderr);
    assert.equal(r.stdout, stdout);
    assert.equal(r.code, 0);
  };

  before(async () => {
    pki = makeTlsFixtures({ serverIps: ['127.0.0.1'] });
    root = pki.client('root');
    alice = pki.client('alice');
    node = await startKvNode({
      name: 'tls0',
      clientScheme: 'https',
      extraClientHosts: ['127.0.0.2'],
      args: [
        '--cert-file', pki.server.cert,
        '--key-file', pki.server.key,
        '--trusted-ca-file', pki.ca.cert,
        '--client-cert-auth',
        '--client-crl-file', pki.crl,
      ],
    });
    ep = node.endpoint;
    ep2 = `127.0.0.2:${node.clientPort}`;
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await node?.stop();
    if (node) removeDir(node.dataDir);
    pki?.remove();
  });

  test('etcdctl with --cacert/--cert/--key: put, get, watch, member list, endpoint health', async () => {
    // A bare host:port is TLS once a TLS flag is given, as in etcdctl; https:// is TLS anyway.
    ok(await ctl(root, 'put', 'k1', 'v1'), 'OK\n');
    ok(await etcdctl(`https://${ep}`, [...tlsFlags(root), 'get', 'k1']), 'k1\nv1\n');

    const watch = spawn('etcdctl', ['--endpoints', ep, ...tlsFlags(root), 'watch', 'w', '--prefix'], {
      env: { ...process.env, ETCDCTL_API: '3' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(watch);
    let watched = '';
    watch.stdout.on('data', (d: Buffer) => (watched += d.toString()));
    // The watch is registered once a put made after it shows up; retry the put until it does (bounded).
    for (let i = 0; i < 50 && !watched.includes('w/1'); i++) {
      ok(await ctl(root, 'put', 'w/1', `x${i}`), 'OK\n');
      await sleep(100);
    }
    assert.match(watched, /^PUT\nw\/1\nx\d+\n/);
    watch.kill('SIGTERM');

    const members = await ctl(root, 'member', 'list');
    assert.equal(members.code, 0, members.stderr);
    assert.match(members.stdout, new RegExp(`, started, tls0, http://127\\.0\\.0\\.1:\\d+, https://${ep.replace(/\./g, '\\.')}, false\\n`));
    const health = await ctl(root, 'endpoint', 'health');
    assert.equal(health.code, 0, health.stderr);
    assert.match(health.stderr, new RegExp(`^${ep} is healthy: successfully committed proposal: took = `));
  });

  test('kvctl with the same flags (also before the command, as etcdctl takes them) and ETCDCTL_* variables', async () => {
    ok(await kv(ep, root, 'put', 'k2', 'v2'), 'OK\n');
    ok(await kvctl([...tlsFlags(root), '--endpoints', ep, 'get', 'k2']), 'k2\nv2\n');
    const env = { ETCDCTL_CACERT: pki.ca.cert, ETCDCTL_CERT: root.cert, ETCDCTL_KEY: root.key };
    ok(await kvctl(['--endpoints', ep, 'get', 'k1', '--print-value-only'], { env }), 'v1\n');
    const health = await kv(`https://${ep}`, root, 'endpoint', 'health');
    assert.equal(health.code, 0, health.stderr);
    assert.match(health.stderr, new RegExp(`^https://${ep} is healthy: successfully committed proposal: took = `));
    // Without verifying the server (no --cacert): encrypted, not authenticated.
    ok(await kvctl(['--endpoints', ep, '--insecure-skip-tls-verify', '--cert', root.cert, '--key', root.key, 'get', 'k2', '--print-value-only']), 'v2\n');
  });

  test('refused without a client certificate, with one from another CA, an expired one, a revoked one; the node says why', async () => {
    const cases = [
      { name: 'none', pair: undefined, log: "tls: client didn't provide a certificate", says: 'the server requires a client certificate, and none was given (--cert, --key)' },
      {
        name: 'foreign',
        pair: pki.foreignClient,
        log: 'tls: failed to verify client certificate: x509: certificate signed by unknown authority',
        says: 'the server refused the client certificate (CN=root, issued by CN=some other CA): it is not signed by a CA the server trusts, or it is revoked',
      },
      {
        name: 'expired',
        pair: pki.expiredClient,
        log: 'tls: failed to verify client certificate: x509: certificate has expired or is not yet valid',
        says: 'the server refused the client certificate (CN=root): it expired on 2020-01-02T00:00:00.000Z',
      },
      {
        name: 'revoked',
        pair: pki.revokedClient,
        log: 'transport: certificate serial 1001 revoked',
        says: 'the server refused the client certificate (CN=root, issued by CN=kvctl test CA): it is not signed by a CA the server trusts, or it is revoked',
      },
    ];
    const [etcdctlRuns, kvctlRuns] = await Promise.all([
      // etcdctl retries until its command timeout: a short one keeps the test short.
      Promise.all(cases.map((c) => ctl(c.pair, '--command-timeout', '2s', 'get', 'k1'))),
      Promise.all(cases.map((c) => kv(ep, c.pair, 'get', 'k1'))),
    ]);
    for (const [i, c] of cases.entries()) {
      const e = etcdctlRuns[i] as EtcdctlRun;
      assert.notEqual(e.code, 0, `etcdctl ${c.name}: ${e.stdout}`);
      assert.equal(e.stdout, '', c.name);
      // etcdctl 3.4 says no more than this without --debug (against etcd too).
      assert.equal(userLines(e.stderr), 'Error: context deadline exceeded\n', c.name);
      const k = kvctlRuns[i] as EtcdctlRun;
      assert.equal(k.stderr, `Error: failed to connect to ${ep}: ${c.says}\n`, c.name);
      assert.equal(k.code, 2, c.name);
      assert.equal(k.stdout, '', c.name);
      assert.match(node.log(), new RegExp(`rejected connection from "127\\.0\\.0\\.1:\\d+" \\(error "${c.log.replace(/[()]/g, '\\$&')}", ServerName "`), c.name);
    }
    // Nothing of it reached the server: still healthy, data intact.
    ok(await ctl(root, 'get', 'k1', '--print-value-only'), 'v1\n');
  });

  test('a server certificate without the SAN: etcdctl and kvctl name it', async () => {
    const [e, k] = await Promise.all([etcdctl(ep2, ['--debug', '--command-timeout', '2s', ...tlsFlags(root), 'get', 'k1']), kv(ep2, root, 'get', 'k1')]);
    assert.notEqual(e.code, 0);
    assert.match(e.stderr, /transport: authentication handshake failed: x509: certificate is valid for 127\.0\.0\.1, not 127\.0\.0\.2/);
    assert.equal(k.stderr, `Error: failed to connect to ${ep2}: x509: certificate is valid for 127.0.0.1, not 127.0.0.2\n`);
    assert.equal(k.code, 2);
    // A CA that did not sign the server's certificate.
    const unknown = await kvctl(['--endpoints', ep, '--cacert', pki.foreignCa.cert, '--cert', root.cert, '--key', root.key, 'get', 'k1']);
    assert.equal(unknown.stderr, `Error: failed to connect to ${ep}: x509: certificate signed by unknown authority\n`);
    // Plaintext to the TLS port.
    const plain = await kvctl(['--endpoints', ep, 'get', 'k1']);
    assert.equal(plain.stderr, `Error: failed to connect to ${ep}: the server speaks TLS: use https://${ep}, or give --cacert\n`);
  });

  test('/health over https: Node https and curl with a client certificate, refused without one', async () => {
    const port = node.clientPort;
    const good = await httpsGet('127.0.0.1', port, '/health', { ca: pki.ca.cert, cert: root.cert, key: root.key });
    assert.ok(!(good instanceof Error), String(good));
    assert.equal(good.status, 200);
    assert.equal(JSON.parse(good.body).health, 'true');
    const refused = await httpsGet('127.0.0.1', port, '/health', { ca: pki.ca.cert });
    assert.ok(refused instanceof Error, 'no client certificate must be refused');
    // curl offers h2 and http/1.1 (ALPN); the node picks HTTP/1.1 for it (see listener.ts).
    const curl = await run('curl', ['-sS', '--max-time', '5', '--cacert', pki.ca.cert, '--cert', root.cert, '--key', root.key, `https://${ep}/version`]);
    assert.equal(curl.code, 0, curl.stderr);
    assert.match(curl.stdout, /^\{"etcdserver":"[\d.]+","etcdcluster":"[\d.]+"\}$/);
  });

  test('a renewed server certificate is used by new connections without a restart', async () => {
    const both = pki.serverFor('both', { ips: ['127.0.0.1', '127.0.0.2'] });
    // The key first: until the certificate follows, the pair does not match and the node keeps the old one.
    copyFileSync(both.key, pki.server.key);
    const between = await kv(ep, root, 'get', 'k1', '--print-value-only');
    assert.equal(between.stdout, 'v1\n', between.stderr);
    copyFileSync(both.cert, pki.server.cert);
    ok(await kv(ep2, root, 'get', 'k1', '--print-value-only'), 'v1\n');
    ok(await etcdctl(ep2, [...tlsFlags(root), 'get', 'k1', '--print-value-only']), 'v1\n');
    assert.match(node.log(), /client TLS files changed but cannot be used, keeping the previous ones: tls: private key does not match public key/);
    assert.match(node.log(), /client TLS files changed on disk: new connections use them/);
  });

  test("with auth enabled, a request without a token is made as the certificate's CN", async () => {
    // As root (CN=root: auth is still off, so anything goes), set up a user alice who may use alice/ only.
    for (const args of [
      ['user', 'add', 'root:rootpw'],
      ['user', 'grant-role', 'root', 'root'],
      ['user', 'add', '--no-password', 'alice'],
      ['role', 'add', 'alice-rw'],
      ['role', 'grant-permission', 'alice-rw', 'readwrite', 'alice/', '--prefix'],
      ['user', 'grant-role', 'alice', 'alice-rw'],
      ['put', 'alice/1', 'a1'],
      ['put', 'secret', 's'],
      ['auth', 'enable'],
    ]) {
      const r = await ctl(root, ...args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    }
    // etcdctl and kvctl with alice's certificate and no --user: alice's rights, no more.
    ok(await ctl(alice, 'get', 'alice/1', '--print-value-only'), 'a1\n');
    ok(await ctl(alice, 'put', 'alice/2', 'a2'), 'OK\n');
    const denied = await ctl(alice, 'get', 'secret');
    assert.equal(userLines(denied.stderr), 'Error: etcdserver: permission denied\n');
    ok(await kv(ep, alice, 'get', 'alice/2', '--print-value-only'), 'a2\n');
    const kvDenied = await kv(ep, alice, 'put', 'secret', 'x');
    assert.equal(kvDenied.stderr, 'Error: etcdserver: permission denied\n');
    assert.equal(kvDenied.code, 1);
    // Streams too: alice watches her prefix (the Watch stream is made as alice), and a put shows up.
    const watch = spawn('etcdctl', ['--endpoints', ep, ...tlsFlags(alice), 'watch', 'alice/', '--prefix'], {
      env: { ...process.env, ETCDCTL_API: '3' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(watch);
    let watched = '';
    watch.stdout.on('data', (d: Buffer) => (watched += d.toString()));
    for (let i = 0; i < 50 && !watched.includes('alice/w'); i++) {
      ok(await ctl(alice, 'put', 'alice/w', `${i}`), 'OK\n');
      await sleep(100);
    }
    assert.match(watched, /^PUT\nalice\/w\n\d+\n/);
    watch.kill('SIGTERM');
    // A certificate naming no user gets what an unknown user gets.
    const nobody = await ctl(pki.client('nobody'), 'get', 'alice/1');
    assert.equal(userLines(nobody.stderr), 'Error: etcdserver: permission denied\n');
    // root's certificate is root: it reads everything and administers.
    ok(await kv(ep, root, 'get', 'secret', '--print-value-only'), 's\n');
    const users = await kv(ep, root, 'user', 'list');
    assert.equal(users.stdout, 'alice\nroot\n', users.stderr);
    // A token wins over the certificate (etcd tries the token first): alice's certificate with root's password.
    ok(await kvctl(['--endpoints', ep, ...tlsFlags(alice), '--user', 'root:rootpw', 'get', 'secret', '--print-value-only']), 's\n');
  });
});
