// The node's client TLS settings: etcd's checks and messages on the configuration, the files read with Go's
// messages, re-read when they change, and --client-crl-file's serials. Certificates from the openssl CLI.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { revokedSerials } from '../../src/base/node-tls-files.js';
import { ServerTlsFiles } from '../../src/server/api/tls.js';
import { NO_TLS, type TlsInfo, clientTlsWarnings, defaultConfig, parseUrlList, validateConfig } from '../../src/server/kvserver/config.js';
import { type TlsFixtures, makeTlsFixtures } from '../support/tls-fixtures.js';

describe('client TLS configuration (etcd 3.4 checks and messages)', () => {
  const https = [new URL('https://127.0.0.1:2379')];

  test('https client and peer URLs are taken', () => {
    assert.equal(parseUrlList('listen-client-urls', 'https://127.0.0.1:2379')[0]?.protocol, 'https:');
    assert.equal(parseUrlList('advertise-client-urls', 'https://127.0.0.1:2379')[0]?.protocol, 'https:');
    assert.equal(parseUrlList('listen-peer-urls', 'https://127.0.0.1:2380')[0]?.protocol, 'https:');
  });

  test('an https peer URL needs --peer-cert-file and --peer-key-file, or --peer-auto-tls; an https client URL accepts --auto-tls', () => {
    const peer = [new URL('https://127.0.0.1:2380')];
    const d = { ...defaultConfig('n1'), listenPeerUrls: peer, initialAdvertisePeerUrls: peer, initialCluster: new Map([['n1', peer]]) };
    assert.throws(
      () => validateConfig(d),
      (err: Error) => err.message === 'TLS key/cert (--peer-cert-file, --peer-key-file) must be provided for peer url https://127.0.0.1:2380 with HTTPS scheme',
    );
    assert.throws(
      () => validateConfig({ ...d, peerTls: { ...NO_TLS, keyFile: 'peer.key' } }),
      (err: Error) => err.message === 'KeyFile and CertFile must both be present[key: peer.key, cert: ]',
    );
    validateConfig({ ...d, peerTls: { ...NO_TLS, certFile: 'peer.crt', keyFile: 'peer.key' } });
    validateConfig({ ...d, peerAutoTls: true });
    validateConfig({ ...defaultConfig('n1'), listenClientUrls: https, advertiseClientUrls: https, autoTls: true });
  });

  test('an https client URL needs both --cert-file and --key-file', () => {
    const d = { ...defaultConfig('n1'), listenClientUrls: https, advertiseClientUrls: https };
    assert.throws(
      () => validateConfig(d),
      (err: Error) => err.message === 'TLS key/cert (--cert-file, --key-file) must be provided for client url https://127.0.0.1:2379 with HTTPS scheme',
    );
    assert.throws(
      () => validateConfig({ ...d, clientTls: { ...NO_TLS, certFile: 'server.crt' } }),
      (err: Error) => err.message === 'KeyFile and CertFile must both be present[key: , cert: server.crt]',
    );
    validateConfig({ ...d, clientTls: { ...NO_TLS, certFile: 'server.crt', keyFile: 'server.key' } });
  });

  test('http client URLs ignore the TLS settings, with etcd warnings', () => {
    const d = { ...defaultConfig('n1'), clientTls: { ...NO_TLS, certFile: 'a.crt', keyFile: 'a.key', clientCertAuth: true } };
    validateConfig(d);
    assert.deepEqual(clientTlsWarnings(d), [
      'scheme is HTTP while key and cert files are present; ignoring key and cert files (client-url http://localhost:2379)',
      'scheme is HTTP while --client-cert-auth is enabled; ignoring client cert auth for this URL (client-url http://localhost:2379)',
    ]);
    assert.deepEqual(clientTlsWarnings(defaultConfig('n1')), []);
  });
});

describe('ServerTlsFiles', () => {
  let pki: TlsFixtures;
  let info: TlsInfo;
  before(() => {
    pki = makeTlsFixtures();
    info = { certFile: pki.server.cert, keyFile: pki.server.key, trustedCaFile: pki.ca.cert, clientCertAuth: true, crlFile: pki.crl };
  });
  after(() => pki?.remove());

  const loadFails = (over: Partial<TlsInfo>, message: string) =>
    assert.throws(() => ServerTlsFiles.load({ ...info, ...over }), (err: Error) => err.name === 'ConfigError' && err.message === message, message);

  test('loads a good set; client certificates required with --trusted-ca-file or --client-cert-auth', () => {
    const files = ServerTlsFiles.load(info);
    assert.ok(files.current().cert);
    assert.equal(files.requireClientCert, true);
    assert.equal(files.clientCertAuth, true);
    const caOnly = ServerTlsFiles.load({ ...info, clientCertAuth: false });
    assert.equal(caOnly.requireClientCert, true);
    assert.equal(caOnly.clientCertAuth, false);
    assert.equal(ServerTlsFiles.load({ ...info, trustedCaFile: '', clientCertAuth: false, crlFile: '' }).requireClientCert, false);
  });

  test("refuses bad files with Go's messages, or one naming the flag and the file", () => {
    const missing = join(pki.dir, 'nosuch.crt');
    loadFails({ certFile: missing }, `open ${missing}: no such file or directory`);
    loadFails({ keyFile: pki.dir }, `read ${pki.dir}: is a directory`);
    loadFails({ keyFile: pki.client('x').key }, 'tls: private key does not match public key');
    loadFails(
      { certFile: pki.server.key, keyFile: pki.server.cert },
      'tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched',
    );
    const empty = join(pki.dir, 'empty.pem');
    writeFileSync(empty, 'nothing here\n');
    loadFails({ keyFile: empty }, 'tls: failed to find any PEM data in key input');
    loadFails({ trustedCaFile: pki.server.key }, `--trusted-ca-file ${pki.server.key}: no PEM certificate found`);
    loadFails({ crlFile: pki.ca.cert }, `--client-crl-file ${pki.ca.cert}: no PEM CRL found`);
  });

  test('--client-crl-file: the revoked serials, in etcd words', () => {
    assert.deepEqual([...revokedSerials(readFileSync(pki.crl), 'crl')], ['1001']);
    const files = ServerTlsFiles.load(info);
    const revoked = new X509Certificate(readFileSync(pki.revokedClient.cert)).serialNumber;
    const good = new X509Certificate(readFileSync(pki.client('root').cert)).serialNumber;
    assert.equal(files.revocation([revoked]), 'transport: certificate serial 1001 revoked');
    assert.equal(files.revocation([good]), undefined);
  });

  test('changed files are re-read; a change that does not load keeps the old ones and is reported once', () => {
    const dir = pki.dir;
    const cert = join(dir, 'live.crt');
    const key = join(dir, 'live.key');
    copyFileSync(pki.server.cert, cert);
    copyFileSync(pki.server.key, key);
    const files = ServerTlsFiles.load({ ...info, certFile: cert, keyFile: key });
    const errors: string[] = [];
    const onError = (err: Error) => errors.push(err.message);
    assert.equal(files.refresh(onError), false, 'nothing changed');

    const next = pki.serverFor('next', { ips: ['127.0.0.1', '127.0.0.2'] });
    copyFileSync(next.key, key); // the key alone: it does not match the certificate yet
    assert.equal(files.refresh(onError), false);
    assert.equal(files.refresh(onError), false);
    assert.deepEqual(errors, ['tls: private key does not match public key']);
    assert.deepEqual(files.current().cert, readFileSync(pki.server.cert));

    copyFileSync(next.cert, cert);
    assert.equal(files.refresh(onError), true);
    assert.deepEqual(files.current().cert, readFileSync(next.cert));
    assert.equal(errors.length, 1);
  });
});
