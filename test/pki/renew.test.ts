// renewCertificate: the same names, profile and CN with a new key, and no crash leaves a mismatched pair.
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { PkiMismatchError, completePendingRenewals, initCa, issueCertificate, listCertificates, renewCertificate } from '../../src/pki/index.js';
import { removeDir, tempDir } from './fixtures.js';

function pairMatches(dir: string, name: string): boolean {
  const cert = new X509Certificate(readFileSync(join(dir, `${name}.crt`)));
  return cert.checkPrivateKey(createPrivateKey(readFileSync(join(dir, `${name}.key`))));
}

describe('renewCertificate', () => {
  const root = tempDir();
  const pki = join(root, 'pki');
  after(() => removeDir(root));
  before(async () => {
    await initCa(pki);
  });

  it('keeps CN, SANs and profile, changes key and serial, keeps the lifetime unless told', async () => {
    const old = await issueCertificate(pki, { profile: 'peer', name: 'm1', ips: ['127.0.0.1', '::1'], dns: ['m1.local'], days: 45, commonName: 'member-1' });
    const oldKey = readFileSync(old.keyFile, 'utf8');
    const renewed = await renewCertificate(pki, 'm1');
    assert.equal(renewed.profile, 'peer');
    assert.equal(renewed.certificate.commonName, 'member-1');
    assert.deepEqual(renewed.certificate.ips, ['127.0.0.1', '::1']);
    assert.deepEqual(renewed.certificate.dns, ['m1.local']);
    assert.deepEqual(renewed.certificate.extKeyUsage, ['serverAuth', 'clientAuth']);
    assert.equal(renewed.certificate.daysLeft, 44);
    assert.notEqual(renewed.certificate.serial, old.certificate.serial);
    assert.equal(renewed.previous.serial, old.certificate.serial);
    assert.notEqual(readFileSync(renewed.keyFile, 'utf8'), oldKey);
    assert.ok(pairMatches(pki, 'm1'));
    assert.equal(statSync(renewed.keyFile).mode & 0o777, 0o600);
    assert.ok(!existsSync(`${renewed.certFile}.renew`) && !existsSync(`${renewed.keyFile}.renew`));
    const longer = await renewCertificate(pki, 'm1', { days: 200 });
    assert.equal(longer.certificate.daysLeft, 199);
  });

  it('refuses what is missing or was signed by another CA', async () => {
    await assert.rejects(renewCertificate(pki, 'nobody'), /nobody\.crt does not exist: nothing to renew; issue it with "kvctl cert issue/);
    const other = join(root, 'other');
    await initCa(other, { commonName: 'other CA' });
    await issueCertificate(other, { profile: 'client', name: 'stranger' });
    copyFileSync(join(other, 'stranger.crt'), join(pki, 'stranger.crt'));
    copyFileSync(join(other, 'stranger.key'), join(pki, 'stranger.key'));
    await assert.rejects(
      renewCertificate(pki, 'stranger'),
      (err: unknown) => err instanceof PkiMismatchError && /was not signed by the CA of .* \(it was issued by CN=other CA, the CA is CN=kvctl CA/.test(err.message),
    );
  });

  /**
   * A crash is simulated by laying the files out as renewCertificate leaves them at each step: a renewal whose new
   * pair sits in `.renew` files is made by renewing a copy of the directory and moving the results back by hand.
   */
  async function stagedRenewal(name: string): Promise<{ newCert: string; newKey: string }> {
    const stage = join(root, `stage-${name}`);
    await initCaCopy(stage);
    await renewCertificate(stage, name);
    return { newCert: join(stage, `${name}.crt`), newKey: join(stage, `${name}.key`) };
  }
  async function initCaCopy(stage: string): Promise<void> {
    const { mkdirSync, readdirSync } = await import('node:fs');
    mkdirSync(stage, { mode: 0o700 });
    for (const f of readdirSync(pki)) copyFileSync(join(pki, f), join(stage, f));
  }

  it('a crash between the two renames is finished by the next command: the pair always matches', async () => {
    await issueCertificate(pki, { profile: 'server', name: 'c1', ips: ['127.0.0.1'] });
    const { newCert, newKey } = await stagedRenewal('c1');
    // The key was moved into place, the certificate still waits in c1.crt.renew.
    copyFileSync(newKey, join(pki, 'c1.key'));
    copyFileSync(newCert, join(pki, 'c1.crt.renew'));
    assert.equal(pairMatches(pki, 'c1'), false, 'the simulated crash state is the mismatched one');
    const entries = await listCertificates(pki);
    assert.equal(entries.find((e) => e.name === 'c1')?.key, 'match');
    assert.ok(pairMatches(pki, 'c1'));
    assert.ok(!existsSync(join(pki, 'c1.crt.renew')));
    assert.equal(readFileSync(join(pki, 'c1.crt'), 'utf8'), readFileSync(newCert, 'utf8'));
  });

  it('a crash before the renames rolls forward a complete new pair, and drops a lone new key', async () => {
    await issueCertificate(pki, { profile: 'client', name: 'c2' });
    await issueCertificate(pki, { profile: 'client', name: 'c3' });
    const two = await stagedRenewal('c2');
    copyFileSync(two.newKey, join(pki, 'c2.key.renew'));
    copyFileSync(two.newCert, join(pki, 'c2.crt.renew'));
    const three = await stagedRenewal('c3');
    const c3Before = readFileSync(join(pki, 'c3.crt'), 'utf8');
    copyFileSync(three.newKey, join(pki, 'c3.key.renew'));
    assert.deepEqual(await completePendingRenewals(pki), ['c2']);
    assert.equal(readFileSync(join(pki, 'c2.crt'), 'utf8'), readFileSync(two.newCert, 'utf8'));
    assert.ok(pairMatches(pki, 'c2'));
    assert.equal(readFileSync(join(pki, 'c3.crt'), 'utf8'), c3Before, 'the old pair of c3 is untouched');
    assert.ok(pairMatches(pki, 'c3'));
    assert.ok(!existsSync(join(pki, 'c3.key.renew')));
  });

  it('a .renew certificate that matches no key is left for a person, with a clear error', async () => {
    await issueCertificate(pki, { profile: 'client', name: 'c4' });
    const four = await stagedRenewal('c4');
    renameSync(four.newCert, join(pki, 'c4.crt.renew'));
    await assert.rejects(renewCertificate(pki, 'c4'), /c4\.crt\.renew is left from an interrupted renewal but does not match .*c4\.key: check both files/);
    assert.ok(existsSync(join(pki, 'c4.crt.renew')), 'nothing is deleted');
    removeDir(join(pki, 'c4.crt.renew'));
  });
});
