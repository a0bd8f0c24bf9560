// inspectCertificate and listCertificates: what an operator sees, and the warnings that matter.
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { inspectCertificate, initCa, issueCertificate, listCertificates } from '../../src/pki/index.js';
import { parseSubjectAltName } from '../../src/pki/inspect.js';
import { runProcess } from '../support/etcd.js';
import { removeDir, tempDir } from './fixtures.js';

const dayMs = 86_400_000;

describe('inspectCertificate', () => {
  const root = tempDir();
  const pki = join(root, 'pki');
  after(() => removeDir(root));
  before(async () => {
    await initCa(pki, { commonName: 'inspect CA' });
    await issueCertificate(pki, { profile: 'peer', name: 'm1', ips: ['127.0.0.1'], dns: ['m1.local'], days: 100 });
  });

  it('reads subject, SANs, issuer, dates, usages from a file or PEM text', async () => {
    const file = join(pki, 'm1.crt');
    const info = await inspectCertificate(file);
    assert.equal(info.subject, 'CN=m1');
    assert.equal(info.issuer, 'CN=inspect CA');
    assert.deepEqual(info.ips, ['127.0.0.1']);
    assert.deepEqual(info.dns, ['m1.local']);
    assert.equal(info.profile, 'peer');
    assert.equal(info.isCa, false);
    assert.equal(info.daysLeft, 99);
    assert.deepEqual(info.warnings, []);
    assert.ok(Date.parse(info.notAfter) - Date.parse(info.notBefore) === 100 * dayMs + 5 * 60_000, 'notBefore is backdated 5 minutes');
    assert.deepEqual(await inspectCertificate(readFileSync(file, 'utf8')), info);
  });

  it('warns under 30 days, once expired, and before the certificate is valid', async () => {
    const file = join(pki, 'm1.crt');
    const notAfter = Date.parse((await inspectCertificate(file)).notAfter);
    const soon = await inspectCertificate(file, new Date(notAfter - 12.5 * dayMs));
    assert.equal(soon.daysLeft, 12);
    assert.deepEqual(soon.warnings, [`expires in 12 days (${new Date(notAfter).toISOString()}), under 30 days`]);
    const at30 = await inspectCertificate(file, new Date(notAfter - 30.5 * dayMs));
    assert.deepEqual(at30.warnings, []);
    const expired = await inspectCertificate(file, new Date(notAfter + 3.5 * dayMs));
    assert.equal(expired.daysLeft, -4);
    assert.deepEqual(expired.warnings, [`expired on ${new Date(notAfter).toISOString()} (3 days ago)`]);
    const justExpired = await inspectCertificate(file, new Date(notAfter + 60_000));
    assert.equal(justExpired.daysLeft, -1);
    assert.deepEqual(justExpired.warnings, [`expired on ${new Date(notAfter).toISOString()} (less than a day ago)`]);
    const early = await inspectCertificate(file, new Date(Date.now() - 2 * dayMs));
    assert.match(early.warnings[0] ?? '', /^not valid yet: valid from /);
  });

  it('inspects certificates kvctl did not make (an EC key made by openssl)', async () => {
    const key = join(root, 'ec.key');
    const crt = join(root, 'ec.crt');
    const r = await runProcess('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', crt,
      '-days', '10', '-subj', '/O=elsewhere/CN=ec.example', '-addext', 'subjectAltName=DNS:ec.example,IP:10.1.2.3',
      '-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'extendedKeyUsage=serverAuth',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const info = await inspectCertificate(crt);
    assert.equal(info.subject, 'O=elsewhere, CN=ec.example');
    assert.equal(info.commonName, 'ec.example');
    assert.deepEqual(info.dns, ['ec.example']);
    assert.deepEqual(info.ips, ['10.1.2.3']);
    assert.equal(info.profile, 'server');
    assert.equal(info.selfSigned, true);
    assert.match(info.warnings[0] ?? '', /^expires in 9 days/);
  });

  it('refuses a file without a certificate, naming it', async () => {
    const junk = join(root, 'junk.crt');
    writeFileSync(junk, 'not a certificate');
    await assert.rejects(inspectCertificate(junk), /junk\.crt holds no PEM certificate/);
    await assert.rejects(inspectCertificate(join(root, 'missing.crt')), /certificate file .*missing\.crt does not exist/);
  });

  it('splits SAN text, including entries Node quotes', () => {
    assert.deepEqual(parseSubjectAltName('DNS:a.example, IP Address:0:0:0:0:0:0:0:1, email:x@y, DNS:"weird, name"'), {
      dns: ['a.example', 'weird, name'],
      ips: ['::1'],
      other: ['email:x@y'],
    });
    assert.deepEqual(parseSubjectAltName(undefined), { dns: [], ips: [], other: [] });
  });
});

describe('listCertificates', () => {
  const root = tempDir();
  const pki = join(root, 'pki');
  const other = join(root, 'other');
  after(() => removeDir(root));

  it('lists every certificate with its key state, its CA verdict and warnings', async () => {
    await initCa(pki, { commonName: 'list CA' });
    await initCa(other);
    await issueCertificate(pki, { profile: 'server', name: 'good', ips: ['127.0.0.1'] });
    await issueCertificate(pki, { profile: 'client', name: 'nokey' });
    await issueCertificate(pki, { profile: 'client', name: 'swapped' });
    await issueCertificate(pki, { profile: 'client', name: 'loose', days: 10 });
    await issueCertificate(other, { profile: 'client', name: 'stranger' });
    removeDir(join(pki, 'nokey.key'));
    copyFileSync(join(pki, 'good.key'), join(pki, 'swapped.key'));
    chmodSync(join(pki, 'loose.key'), 0o644);
    copyFileSync(join(other, 'stranger.crt'), join(pki, 'stranger.crt'));
    copyFileSync(join(other, 'stranger.key'), join(pki, 'stranger.key'));
    writeFileSync(join(pki, 'broken.crt'), 'garbage');

    const entries = await listCertificates(pki);
    assert.deepEqual(entries.map((e) => e.name), ['ca', 'broken', 'good', 'loose', 'nokey', 'stranger', 'swapped']);
    const by = (name: string) => entries.find((e) => e.name === name) ?? assert.fail(name);
    assert.equal(by('ca').signedByCa, true);
    assert.equal(by('ca').key, 'match');
    assert.deepEqual(by('good').warnings, []);
    assert.equal(by('good').key, 'match');
    assert.equal(by('good').signedByCa, true);
    assert.match(by('broken').error ?? '', /broken\.crt holds no PEM certificate/);
    assert.equal(by('nokey').key, 'missing');
    assert.match(by('nokey').warnings.join('\n'), /no key file .*nokey\.key/);
    assert.equal(by('swapped').key, 'mismatch');
    assert.match(by('swapped').warnings.join('\n'), /swapped\.key is not the key of this certificate/);
    assert.match(by('loose').warnings.join('\n'), /expires in 9 days/);
    assert.match(by('loose').warnings.join('\n'), /has mode 0644: make it 0600/);
    assert.equal(by('stranger').signedByCa, false);
    assert.match(by('stranger').warnings.join('\n'), /not signed by this directory's CA \(issuer CN=kvctl CA [0-9a-f]{8}\)/);
  });

  it('says how to start when the directory does not exist', async () => {
    await assert.rejects(listCertificates(join(root, 'none')), /the directory .*none does not exist: create a CA there with "kvctl cert ca init --dir/);
  });
});
