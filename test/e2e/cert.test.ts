// End-to-end: `kvctl cert` (the built CLI) makes a CA and certificates that the real etcd (Debian etcd-server)
// serves with client-certificate authentication, that the real etcdctl and openssl accept, and `kvctl cert check`
// says exactly what is wrong when a client would be refused. Everything on loopback: 127.0.0.1 and 127.0.0.2.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { runProcess } from '../support/etcd.js';
import { type TlsEtcdHandle, startTlsEtcd } from '../support/etcd-tls.js';
import { kvctl } from './kvctl.js';

const work = mkdtempSync(join(tmpdir(), 'kvctl-cert-e2e-'));
const pki = join(work, 'pki');
const foreign = join(work, 'foreign');
const file = (dir: string, name: string): string => join(dir, name);

/** Runs the built CLI and fails the test with its output when the exit code is not the expected one. */
async function ok(args: string[], expectCode = 0): Promise<{ stdout: string; stderr: string }> {
  const r = await kvctl(args, { timeoutMs: 30_000 });
  assert.equal(r.code, expectCode, `kvctl ${args.join(' ')} exited ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  return r;
}

function etcdctlTls(endpoint: string, tls: string[], args: string[]) {
  return runProcess('etcdctl', ['--endpoints', endpoint, '--dial-timeout', '2s', '--command-timeout', '5s', ...tls, ...args], {
    env: { ETCDCTL_API: '3' },
    timeoutMs: 20_000,
  });
}

describe('kvctl cert with the real etcd, etcdctl and openssl', { timeout: 120_000 }, () => {
  let etcd: TlsEtcdHandle | undefined;
  after(async () => {
    await etcd?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  before(async () => {
    await ok(['cert', 'ca', 'init', '--dir', pki, '--cn', 'kvctl e2e CA']);
    await ok(['cert', 'ca', 'init', '--dir', foreign, '--cn', 'foreign CA']);
    // The member's client certificate covers 127.0.0.1 and localhost only: 127.0.0.2 is the SAN mismatch.
    await ok(['cert', 'issue', '--dir', pki, '--profile', 'server', '--name', 'etcd0', '--ip', '127.0.0.1', '--dns', 'localhost']);
    await ok(['cert', 'issue', '--dir', pki, '--profile', 'peer', '--name', 'etcd0-peer', '--ip', '127.0.0.1']);
    await ok(['cert', 'issue', '--dir', pki, '--profile', 'client', '--name', 'root']);
    await ok(['cert', 'issue', '--dir', foreign, '--profile', 'client', '--name', 'root']);
    etcd = await startTlsEtcd({
      client: { certFile: file(pki, 'etcd0.crt'), keyFile: file(pki, 'etcd0.key'), trustedCaFile: file(pki, 'ca.crt'), clientCertAuth: true },
      peer: { certFile: file(pki, 'etcd0-peer.crt'), keyFile: file(pki, 'etcd0-peer.key'), trustedCaFile: file(pki, 'ca.crt'), clientCertAuth: true },
      clientHosts: ['127.0.0.1', '127.0.0.2'],
      probe: { caFile: file(pki, 'ca.crt'), certFile: file(pki, 'root.crt'), keyFile: file(pki, 'root.key') },
    });
  });

  const tlsFlags = (): string[] => ['--cacert', file(pki, 'ca.crt'), '--cert', file(pki, 'root.crt'), '--key', file(pki, 'root.key')];
  const at = (i: number): string => etcd?.endpoints[i] ?? assert.fail('etcd not started');

  it('writes keys with mode 0600 in a 0700 directory, and refuses to overwrite the CA', async () => {
    assert.equal(statSync(pki).mode & 0o777, 0o700);
    for (const key of ['ca.key', 'etcd0.key', 'root.key']) assert.equal(statSync(file(pki, key)).mode & 0o777, 0o600, key);
    const again = await kvctl(['cert', 'ca', 'init', '--dir', pki]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already holds a CA .*will not overwrite/);
  });

  it('openssl verifies the certificates against the CA, shows the usages, and refuses them against another CA', async () => {
    const verify = await runProcess('openssl', ['verify', '-CAfile', file(pki, 'ca.crt'), file(pki, 'etcd0.crt'), file(pki, 'etcd0-peer.crt'), file(pki, 'root.crt')]);
    assert.equal(verify.code, 0, verify.stderr);
    assert.match(verify.stdout.toString(), /etcd0\.crt: OK/);
    assert.match(verify.stdout.toString(), /root\.crt: OK/);
    const text = (await runProcess('openssl', ['x509', '-in', file(pki, 'etcd0-peer.crt'), '-noout', '-text'])).stdout.toString();
    assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
    assert.match(text, /IP Address:127\.0\.0\.1/);
    assert.match(text, /CA:FALSE/);
    const wrong = await runProcess('openssl', ['verify', '-CAfile', file(foreign, 'ca.crt'), file(pki, 'etcd0.crt')]);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stdout.toString() + wrong.stderr, /unable to get local issuer certificate/);
  });

  it('the real etcdctl puts and gets through the real etcd with the client certificate', async () => {
    const put = await etcdctlTls(at(0), tlsFlags(), ['put', 'tls-key', 'tls-value']);
    assert.equal(put.code, 0, put.stderr);
    const get = await etcdctlTls(at(0), tlsFlags(), ['get', 'tls-key', '--print-value-only']);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(get.stdout.toString().trim(), 'tls-value');
  });

  it('the real etcdctl without a client certificate is refused', async () => {
    const r = await etcdctlTls(at(0), ['--cacert', file(pki, 'ca.crt')], ['get', 'tls-key']);
    assert.notEqual(r.code, 0, r.stdout.toString());
  });

  it('cert check succeeds with the client certificate and reports the chain', async () => {
    const r = await ok(['cert', 'check', '--endpoints', etcd?.clientUrls[0] ?? '', ...tlsFlags()]);
    assert.match(r.stdout, /: ok \(TLSv1\.3, verified for 127\.0\.0\.1, client certificate CN=root accepted\)/);
    assert.match(r.stdout, /server CN=etcd0 \(IP:127\.0\.0\.1, DNS:localhost\), 364 days left/);
    assert.match(r.stdout, /CA CN=kvctl e2e CA, 3649 days left/);
  });

  it('cert check of the peer listener with the peer certificate as client succeeds', async () => {
    await ok(['cert', 'check', '--endpoints', etcd?.peerEndpoint ?? '', '--cacert', file(pki, 'ca.crt'), '--cert', file(pki, 'etcd0-peer.crt'), '--key', file(pki, 'etcd0-peer.key')]);
  });

  it('cert check names the missing SAN, as Go (etcdctl) does', async () => {
    const r = await ok(['cert', 'check', '--endpoints', at(1), ...tlsFlags()], 1);
    assert.match(r.stdout, /FAILED/);
    assert.match(r.stdout, /x509: certificate is valid for 127\.0\.0\.1, not 127\.0\.0\.2: the server certificate CN=etcd0 lacks the SAN IP:127\.0\.0\.2/);
    // The real etcdctl reports the same Go message for the same endpoint (endpoint status shows the dial error).
    const real = await etcdctlTls(at(1), tlsFlags(), ['endpoint', 'status']);
    assert.notEqual(real.code, 0);
    assert.match(real.stderr, /certificate is valid for 127\.0\.0\.1, not 127\.0\.0\.2/);

    const byName = await ok(['cert', 'check', '--endpoints', at(0), '--server-name', 'infra0.example.com', ...tlsFlags()], 1);
    assert.match(byName.stdout, /x509: certificate is valid for localhost, not infra0\.example\.com: .*lacks the SAN DNS:infra0\.example\.com/);
  });

  it('cert check names both CAs when --cacert holds another CA', async () => {
    const r = await ok(['cert', 'check', '--endpoints', at(0), '--cacert', file(foreign, 'ca.crt'), '--cert', file(pki, 'root.crt'), '--key', file(pki, 'root.key')], 1);
    assert.match(r.stdout, /x509: certificate signed by unknown authority: the server certificate CN=etcd0 was issued by CN=kvctl e2e CA, but the CA file holds CN=foreign CA/);
  });

  it('cert check says the server requires a client certificate when none is given', async () => {
    const r = await ok(['cert', 'check', '--endpoints', at(0), '--cacert', file(pki, 'ca.crt')], 1);
    // etcd 3.4 is built with Go 1.19, which answers a missing certificate with "bad certificate" even in TLS 1.3.
    assert.match(r.stdout, /remote error: tls: (?:bad certificate|certificate required): the server requires a client certificate/);
  });

  it('cert check says the server refused a client certificate from another CA', async () => {
    const r = await ok(['cert', 'check', '--endpoints', at(0), '--cacert', file(pki, 'ca.crt'), '--cert', file(foreign, 'root.crt'), '--key', file(foreign, 'root.key')], 1);
    assert.match(r.stdout, /remote error: tls: bad certificate: the server refused the client certificate CN=root/);
  });

  it('cert check reports a refused connection and prints JSON with --json', async () => {
    const r = await ok(['cert', 'check', '--endpoints', '127.0.0.1:1', '--cacert', file(pki, 'ca.crt'), '--json'], 1);
    const parsed = JSON.parse(r.stdout) as Array<{ ok: boolean; problems: Array<{ kind: string; message: string }> }>;
    assert.equal(parsed[0]?.ok, false);
    assert.equal(parsed[0]?.problems[0]?.kind, 'unreachable');
    assert.match(parsed[0]?.problems[0]?.message ?? '', /connection refused/);
  });

  it('cert list, inspect and renew; the renewed client certificate works against the running etcd', async () => {
    const list = await ok(['cert', 'list', '--dir', pki]);
    assert.match(list.stdout, /^NAME\s+PROFILE\s+SUBJECT/m);
    assert.match(list.stdout, /^etcd0-peer\s+peer\s+CN=etcd0-peer\s+IP:127\.0\.0\.1\s/m);
    assert.match(list.stdout, /^root\s+client\s+CN=root\s+none\s/m);
    assert.equal(list.stderr, '');

    const inspect = await ok(['cert', 'inspect', file(pki, 'etcd0.crt')]);
    assert.match(inspect.stdout, /^subject: +CN=etcd0$/m);
    assert.match(inspect.stdout, /^profile: +server \(serverAuth\)$/m);
    assert.match(inspect.stdout, /^SANs: +IP:127\.0\.0\.1, DNS:localhost$/m);

    const before = JSON.parse((await ok(['cert', 'inspect', file(pki, 'root.crt'), '--json'])).stdout) as { serial: string };
    const renewed = await ok(['cert', 'renew', '--dir', pki, '--name', 'root', '--days', '20']);
    assert.match(renewed.stdout, /Renewed .*root\.crt/);
    const afterRenew = await ok(['cert', 'inspect', file(pki, 'root.crt')]);
    assert.doesNotMatch(afterRenew.stdout, new RegExp(before.serial));
    assert.match(afterRenew.stderr, /^warning: expires in 19 days .*under 30 days$/m);
    const listed = await ok(['cert', 'list', '--dir', pki]);
    assert.match(listed.stderr, /warning: root: expires in 19 days .*renew it with "kvctl cert renew --dir .* --name root"/);
    // The renewed client certificate (new key, same CN) still works against the running etcd.
    const get = await etcdctlTls(at(0), tlsFlags(), ['get', 'tls-key', '--print-value-only']);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(get.stdout.toString().trim(), 'tls-value');
  });
});
