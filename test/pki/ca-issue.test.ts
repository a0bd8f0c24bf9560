// initCa and issueCertificate: files, modes, refusals, and certificates that openssl reads as ordinary X.509.
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  PkiExistsError,
  PkiInputError,
  PkiNotFoundError,
  hostsNotCovered,
  initCa,
  inspectCertificate,
  issueCertificate,
  issueMemberCertificates,
} from '../../src/pki/index.js';
import { runProcess } from '../support/etcd.js';
import { removeDir, tempDir } from './fixtures.js';

const openssl = async (args: string[]) => {
  const r = await runProcess('openssl', args);
  return { code: r.code, out: r.stdout.toString() + r.stderr };
};

describe('initCa and issueCertificate', () => {
  const root = tempDir();
  const pki = join(root, 'pki');
  const foreign = join(root, 'foreign');
  after(() => removeDir(root));
  before(async () => {
    await initCa(pki, { commonName: 'test CA' });
    await initCa(foreign);
  });

  it('creates ca.crt and ca.key (0600) in a new 0700 directory, a self-signed CA with keyCertSign', async () => {
    assert.equal(statSync(pki).mode & 0o777, 0o700);
    assert.equal(statSync(join(pki, 'ca.key')).mode & 0o777, 0o600);
    assert.equal(statSync(join(pki, 'ca.crt')).mode & 0o777, 0o644);
    const info = await inspectCertificate(join(pki, 'ca.crt'));
    assert.equal(info.subject, 'CN=test CA');
    assert.equal(info.isCa, true);
    assert.equal(info.selfSigned, true);
    assert.equal(info.profile, 'ca');
    assert.equal(info.daysLeft, 3649);
    const text = (await openssl(['x509', '-in', join(pki, 'ca.crt'), '-noout', '-text'])).out;
    assert.match(text, /CA:TRUE, pathlen:0/);
    assert.match(text, /Certificate Sign, CRL Sign/);
    const foreignInfo = await inspectCertificate(join(foreign, 'ca.crt'));
    assert.match(foreignInfo.subject, /^CN=kvctl CA [0-9a-f]{8}$/);
  });

  it('refuses to overwrite a CA, and names a lone key left by an interrupted init', async () => {
    await assert.rejects(initCa(pki), (err: unknown) => err instanceof PkiExistsError && /already holds a CA .*ca\.crt and .*ca\.key exist/.test(err.message));
    const half = join(root, 'half');
    await initCa(half);
    removeDir(join(half, 'ca.crt'));
    await assert.rejects(initCa(half), /a lone .*ca\.key is left over from an interrupted init: remove it to start over/);
  });

  it('issues server, peer and client certificates with the usages etcd needs, that openssl verifies', async () => {
    const server = await issueCertificate(pki, { profile: 'server', name: 'infra0', ips: ['127.0.0.1', '0:0:0:0:0:0:0:1', '127.0.0.1'], dns: ['Infra0.Example.com', 'localhost'] });
    const peer = await issueCertificate(pki, { profile: 'peer', name: 'infra0-peer', ips: ['127.0.0.1'], days: 30 });
    const client = await issueCertificate(pki, { profile: 'client', name: 'alice', commonName: 'alice@example' });
    assert.deepEqual(server.certificate.extKeyUsage, ['serverAuth']);
    assert.deepEqual(server.certificate.ips, ['127.0.0.1', '::1']);
    assert.deepEqual(server.certificate.dns, ['infra0.example.com', 'localhost']);
    assert.deepEqual(peer.certificate.extKeyUsage, ['serverAuth', 'clientAuth']);
    assert.equal(peer.certificate.daysLeft, 29);
    assert.deepEqual(client.certificate.extKeyUsage, ['clientAuth']);
    assert.equal(client.certificate.commonName, 'alice@example');
    assert.equal(client.certificate.profile, 'client');
    assert.equal(client.certFile, join(pki, 'alice.crt'));
    for (const c of [server, peer, client]) {
      assert.equal(statSync(c.keyFile).mode & 0o777, 0o600);
      assert.equal(c.certificate.issuer, 'CN=test CA');
      assert.match(c.certificate.serial, /^[0-7][0-9A-F]{31}$/, 'a positive 128-bit serial');
      const cert = new X509Certificate(readFileSync(c.certFile));
      assert.ok(cert.checkPrivateKey(createPrivateKey(readFileSync(c.keyFile))), 'the key belongs to the certificate');
      assert.match(readFileSync(c.keyFile, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
    }

    const verify = await openssl(['verify', '-CAfile', join(pki, 'ca.crt'), server.certFile, peer.certFile, client.certFile]);
    assert.equal(verify.code, 0, verify.out);
    const serverText = (await openssl(['x509', '-in', server.certFile, '-noout', '-text'])).out;
    assert.match(serverText, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
    assert.match(serverText, /X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);
    assert.match(serverText, /X509v3 Extended Key Usage: \s*TLS Web Server Authentication\n/);
    assert.match(serverText, /DNS:infra0\.example\.com, DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/);
    // authorityKeyIdentifier of the leaf is the CA's subjectKeyIdentifier, so chains build by key id.
    const caText = (await openssl(['x509', '-in', join(pki, 'ca.crt'), '-noout', '-text'])).out;
    const caSki = /Subject Key Identifier: *\n\s*([0-9A-F:]+)/.exec(caText)?.[1];
    const leafAki = /Authority Key Identifier: *\n\s*(?:keyid:)?([0-9A-F:]+)/.exec(serverText)?.[1];
    assert.ok(caSki !== undefined && caSki === leafAki, `AKI ${leafAki} should equal the CA's SKI ${caSki}`);
    assert.match((await openssl(['x509', '-in', peer.certFile, '-noout', '-text'])).out, /TLS Web Server Authentication, TLS Web Client Authentication/);
    assert.match((await openssl(['x509', '-in', client.certFile, '-noout', '-subject', '-nameopt', 'utf8'])).out, /subject=CN ?= ?alice@example/);
  });

  it('a certificate from another CA does not verify (openssl and Node)', async () => {
    const stranger = await issueCertificate(foreign, { profile: 'client', name: 'bob' });
    const r = await openssl(['verify', '-CAfile', join(pki, 'ca.crt'), stranger.certFile]);
    assert.notEqual(r.code, 0);
    assert.match(r.out, /unable to get local issuer certificate/);
    const ca = new X509Certificate(readFileSync(join(pki, 'ca.crt')));
    assert.equal(new X509Certificate(readFileSync(stranger.certFile)).verify(ca.publicKey), false);
  });

  it('keeps a UTF-8 common name intact', async () => {
    const c = await issueCertificate(pki, { profile: 'client', name: 'zoe', commonName: 'zoë' });
    assert.equal(c.certificate.commonName, 'zoë');
  });

  it('refuses to replace a certificate or a lone key, and says what to do', async () => {
    await assert.rejects(
      issueCertificate(pki, { profile: 'server', name: 'infra0', ips: ['127.0.0.2'] }),
      (err: unknown) => err instanceof PkiExistsError && /infra0\.crt already exists: renew it with "kvctl cert renew --dir .* --name infra0"/.test(err.message),
    );
    writeFileSync(join(pki, 'orphan.key'), 'x', { mode: 0o600 });
    await assert.rejects(issueCertificate(pki, { profile: 'client', name: 'orphan' }), /orphan\.key already exists without .*orphan\.crt/);
  });

  it('refuses bad input before generating anything', async () => {
    await assert.rejects(issueCertificate(pki, { profile: 'server', name: 'nosan' }), (err: unknown) => err instanceof PkiInputError && /needs at least one --ip or --dns/.test(err.message));
    await assert.rejects(issueCertificate(pki, { profile: 'peer', name: 'p', ips: ['300.1.1.1'] }), /invalid IP address "300\.1\.1\.1"/);
    await assert.rejects(issueCertificate(pki, { profile: 'admin', name: 'p', ips: ['127.0.0.1'] }), /invalid profile "admin"/);
    await assert.rejects(issueCertificate(pki, { profile: 'client', name: 'p', days: 0 }), /invalid --days 0/);
    await assert.rejects(issueCertificate(pki, { profile: 'client', name: 'long', days: 5000 }), /5000 days would outlive the CA .*expires on .*give --days 3649 or less/);
    await assert.rejects(
      issueCertificate(join(root, 'nowhere'), { profile: 'client', name: 'c' }),
      (err: unknown) => err instanceof PkiNotFoundError && /no CA in .*nowhere .*create one with "kvctl cert ca init --dir/.test(err.message),
    );
  });

  it("issues a member's server and peer certificates in one step, or neither", async () => {
    const m = await issueMemberCertificates(pki, { name: 'infra4', ips: ['127.0.0.4'], dns: ['infra4.local'] });
    assert.equal(m.server.certFile, join(pki, 'infra4.crt'));
    assert.equal(m.peer.certFile, join(pki, 'infra4-peer.crt'));
    assert.deepEqual(m.server.certificate.extKeyUsage, ['serverAuth']);
    assert.deepEqual(m.peer.certificate.extKeyUsage, ['serverAuth', 'clientAuth']);
    assert.deepEqual(m.peer.certificate.ips, ['127.0.0.4']);
    assert.deepEqual(await hostsNotCovered(m.peer.certFile, ['https://127.0.0.4:2380', 'infra4.local:2379', '127.0.0.5', 'other.local']), ['127.0.0.5', 'other.local']);
    // A name whose peer half exists already: refused before anything is written.
    writeFileSync(join(pki, 'infra5-peer.key'), 'x', { mode: 0o600 });
    await assert.rejects(issueMemberCertificates(pki, { name: 'infra5', ips: ['127.0.0.5'] }), /infra5-peer\.key already exists: member infra5 already has certificates/);
    assert.equal(existsSync(join(pki, 'infra5.crt')), false);
    await assert.rejects(issueMemberCertificates(pki, { name: 'infra6' }), /needs at least one --ip or --dns/);
  });
});
