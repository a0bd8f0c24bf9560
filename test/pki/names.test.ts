import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { PkiInputError } from '../../src/pki/errors.js';
import { canonicalIp, checkCommonName, checkDays, checkDnsName, checkName, checkProfile } from '../../src/pki/names.js';

describe('pki input checks', () => {
  it('accepts file-safe names and refuses paths, dot files and the CA name', () => {
    for (const ok of ['infra0', 'infra0-peer', 'a.b_c', 'A9']) assert.equal(checkName(ok), ok);
    for (const bad of ['', '../x', 'a/b', '.hidden', '-x', 'x'.repeat(65), 'a b']) {
      assert.throws(() => checkName(bad), (err: unknown) => err instanceof PkiInputError && /invalid certificate name/.test(err.message), bad);
    }
    assert.throws(() => checkName('ca'), /taken by the CA's own ca\.crt/);
  });

  it('canonicalises IP addresses as Go prints them and refuses what is not one', () => {
    assert.equal(canonicalIp('127.0.0.1'), '127.0.0.1');
    assert.equal(canonicalIp('0:0:0:0:0:0:0:1'), '::1');
    assert.equal(canonicalIp('[FE80:0:0:0:0:0:0:1]'), 'fe80::1');
    for (const bad of ['1.2.3', 'localhost', '1.2.3.4.5', '']) assert.throws(() => canonicalIp(bad), /invalid IP address/, bad);
  });

  it('accepts host names (lower-cased, one leading wildcard) and refuses the rest', () => {
    assert.equal(checkDnsName('Infra0.Example.COM'), 'infra0.example.com');
    assert.equal(checkDnsName('*.example.com'), '*.example.com');
    assert.equal(checkDnsName('localhost'), 'localhost');
    for (const bad of ['', '-a.com', 'a..b', 'a_b.com', '*.com', 'a.*.com', 'x'.repeat(64)]) {
      assert.throws(() => checkDnsName(bad), /invalid DNS name/, bad);
    }
    assert.throws(() => checkDnsName('10.0.0.1'), /for an address use --ip/);
  });

  it('checks days, common names and profiles', () => {
    assert.equal(checkDays(1), 1);
    for (const bad of [0, -1, 1.5, 36_501, Number.NaN]) assert.throws(() => checkDays(bad), /invalid --days/, String(bad));
    assert.equal(checkCommonName('alice@example'), 'alice@example');
    assert.throws(() => checkCommonName(''), /invalid common name/);
    assert.throws(() => checkCommonName('a\nb'), /invalid common name/);
    assert.throws(() => checkCommonName('x'.repeat(65)), /invalid common name/);
    assert.equal(checkProfile('peer'), 'peer');
    assert.throws(() => checkProfile('admin'), /choose one of server, peer, client/);
  });
});
