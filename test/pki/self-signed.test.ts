// selfSignedCertificate: the certificates of etcd's --auto-tls / --peer-auto-tls.
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { ensureSelfSignedPair, inspectCertificate, selfSignedCertificate } from '../../src/pki/index.js';
import { runProcess } from '../support/etcd.js';
import { removeDir, tempDir } from './fixtures.js';

describe('selfSignedCertificate', () => {
  const root = tempDir();
  after(() => removeDir(root));

  it('makes IP SANs for addresses and DNS SANs for names, from hosts, host:port and URLs', async () => {
    const { certPem, keyPem } = await selfSignedCertificate({ hosts: ['127.0.0.1:2380', 'https://[::1]:2379', 'Infra0.local', 'http://localhost:2379', '127.0.0.1'] });
    const info = await inspectCertificate(certPem);
    assert.deepEqual(info.ips, ['127.0.0.1', '::1']);
    assert.deepEqual(info.dns, ['infra0.local', 'localhost']);
    assert.deepEqual(info.extKeyUsage, ['serverAuth', 'clientAuth']);
    assert.equal(info.selfSigned, true);
    assert.equal(info.isCa, false);
    assert.equal(info.daysLeft, 364);
    assert.ok(new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem)));
    // openssl accepts it when it is its own trust anchor, as a pinned --auto-tls certificate is.
    const file = join(root, 'auto.crt');
    writeFileSync(file, certPem);
    const r = await runProcess('openssl', ['verify', '-CAfile', file, file]);
    assert.equal(r.code, 0, r.stdout.toString() + r.stderr);
  });

  it('takes a lifetime and refuses empty or invalid hosts', async () => {
    const { certPem } = await selfSignedCertificate({ hosts: ['127.0.0.1'], days: 7 });
    assert.equal((await inspectCertificate(certPem)).daysLeft, 6);
    await assert.rejects(selfSignedCertificate({ hosts: [] }), /needs at least one host/);
    await assert.rejects(selfSignedCertificate({ hosts: ['bad_host'] }), /invalid DNS name "bad_host"/);
    await assert.rejects(selfSignedCertificate({ hosts: [':2379'] }), /no host in ":2379"/);
  });

  it('ensureSelfSignedPair makes cert.pem and key.pem once (key 0600), keeps them, and remakes an incomplete pair', async () => {
    const dir = join(root, 'fixtures', 'peer');
    const first = await ensureSelfSignedPair(dir, { hosts: ['127.0.0.1'] });
    assert.deepEqual(first, { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem'), created: true });
    assert.equal(statSync(first.keyFile).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    const cert = readFileSync(first.certFile);
    const again = await ensureSelfSignedPair(dir, { hosts: ['127.0.0.1'] });
    assert.equal(again.created, false);
    assert.deepEqual(readFileSync(again.certFile), cert, 'kept across restarts');
    // A crash after the key and before the certificate: the pair is made anew, and matches.
    rmSync(first.certFile);
    const remade = await ensureSelfSignedPair(dir, { hosts: ['127.0.0.1'] });
    assert.equal(remade.created, true);
    assert.ok(new X509Certificate(readFileSync(remade.certFile)).checkPrivateKey(createPrivateKey(readFileSync(remade.keyFile))));
  });
});
