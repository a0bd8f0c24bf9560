// The client's TLS: which endpoints use it, etcdctl's file flags with Go's messages, Go's server-name check and
// its messages, OpenSSL's words turned into Go's, and the explanation of a connection a TLS server dropped, tried
// against real TLS servers on loopback. Certificates from the openssl CLI.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { type Server as NetServer, createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type PeerCertificate, type Server as TlsServer, createServer as createTlsServer } from 'node:tls';

import type { ServiceError } from '@grpc/grpc-js';

import { goTlsError } from '../../src/base/tls-errors.js';
import { parseEndpoint } from '../../src/client/endpoints.js';
import { ClientError, connectFailureReason } from '../../src/client/errors.js';
import { checkServerName, clientCertificateProblem, explainConnectFailure, loadTlsFiles, usesTls } from '../../src/client/tls.js';
import { type TlsFixtures, makeTlsFixtures } from '../support/tls-fixtures.js';

/** The fields of a peer certificate that the name check reads. */
const certWith = (subjectaltname: string | undefined, cn = 'server'): PeerCertificate =>
  ({ subjectaltname, subject: { CN: cn } }) as unknown as PeerCertificate;

describe('client TLS', () => {
  let pki: TlsFixtures;
  before(() => {
    pki = makeTlsFixtures();
  });
  after(() => pki?.remove());

  test('which endpoints use TLS: https always, http never, host:port when TLS settings are given', () => {
    const [bare, http, https] = ['127.0.0.1:2379', 'http://127.0.0.1:2379', 'https://127.0.0.1:2379'].map(parseEndpoint);
    assert.ok(bare && http && https);
    assert.equal(usesTls(bare, undefined), false);
    assert.equal(usesTls(bare, {}), true);
    assert.equal(usesTls(http, {}), false);
    assert.equal(usesTls(https, undefined), true);
  });

  test("etcdctl's file flags: read and checked, with Go's messages and exit-code class", () => {
    assert.equal(loadTlsFiles({}), undefined);
    assert.deepEqual(loadTlsFiles({ insecureSkipVerify: true }), { insecureSkipVerify: true });
    const root = pki.client('root');
    const tls = loadTlsFiles({ cacert: pki.ca.cert, cert: root.cert, key: root.key });
    assert.deepEqual(tls?.ca, readFileSync(pki.ca.cert));
    assert.deepEqual(tls?.cert, readFileSync(root.cert));
    const fails = (files: Parameters<typeof loadTlsFiles>[0], message: string) =>
      assert.throws(() => loadTlsFiles(files), (err: unknown) => err instanceof ClientError && err.kind === 'bad-request' && err.message === message, message);
    fails({ cert: root.cert }, `KeyFile and CertFile must both be present[key: , cert: ${root.cert}]`);
    fails({ key: root.key }, `KeyFile and CertFile must both be present[key: ${root.key}, cert: ]`);
    const missing = join(pki.dir, 'nosuch.pem');
    fails({ cacert: missing }, `open ${missing}: no such file or directory`);
    fails({ cert: root.cert, key: pki.client('other').key }, 'tls: private key does not match public key');
    fails({ cert: root.key, key: root.cert }, 'tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched');
    fails({ cacert: root.key }, `--cacert ${root.key}: no PEM certificate found`);
  });

  test("the server's name, checked as Go checks it, in Go's words", () => {
    assert.equal(checkServerName('127.0.0.1', certWith('IP Address:127.0.0.1')), undefined);
    assert.equal(checkServerName('::1', certWith('DNS:localhost, IP Address:0:0:0:0:0:0:0:1')), undefined);
    assert.equal(checkServerName('127.0.0.2', certWith('DNS:a, IP Address:127.0.0.1, IP Address:10.0.0.1'))?.message, 'x509: certificate is valid for 127.0.0.1, 10.0.0.1, not 127.0.0.2');
    assert.equal(checkServerName('127.0.0.1', certWith('DNS:localhost'))?.message, "x509: cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs");
    assert.equal(checkServerName('a.example.test', certWith('DNS:*.example.test')), undefined);
    assert.equal(checkServerName('A.Example.Test.', certWith('DNS:a.example.test')), undefined);
    assert.equal(checkServerName('a.b.example.test', certWith('DNS:*.example.test, DNS:example.test'))?.message, 'x509: certificate is valid for *.example.test, example.test, not a.b.example.test');
    // The subject CN never counts (Go 1.15+): a certificate without SANs fails even when its CN matches.
    assert.equal(checkServerName('etcd.test', certWith(undefined, 'etcd.test'))?.message, 'x509: certificate relies on legacy Common Name field, use SANs instead');
    assert.equal(checkServerName('etcd.test', certWith(undefined, 'other'))?.message, 'x509: certificate is not valid for any names, but wanted to match etcd.test');
  });

  test("OpenSSL's and Node's TLS failures in Go's words", () => {
    const cases: Array<[string, string | undefined]> = [
      ['80EC:error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:rec_layer_s3.c:1601:SSL alert number 42', 'remote error: tls: bad certificate'],
      ['error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required', 'remote error: tls: certificate required'],
      ['error:0A000418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca', 'remote error: tls: unknown certificate authority'],
      ['error:0A000415:SSL routines:ssl3_read_bytes:sslv3 alert certificate expired', 'remote error: tls: expired certificate'],
      ['unable to verify the first certificate', 'x509: certificate signed by unknown authority'],
      ['self-signed certificate in certificate chain', 'x509: certificate signed by unknown authority'],
      ['certificate has expired', 'x509: certificate has expired or is not yet valid'],
      ['error:0A00010B:SSL routines:ssl3_get_record:wrong version number', 'tls: first record does not look like a TLS handshake'],
      ['connect ECONNREFUSED 127.0.0.1:1', undefined],
    ];
    for (const [input, want] of cases) assert.equal(goTlsError(input), want, input);
    const grpcError = (lastError: string) =>
      ({ code: 14, details: `No connection established. Last error: ${lastError}. Resolution note: ` }) as unknown as ServiceError;
    assert.equal(connectFailureReason(grpcError('Error: x509: certificate is valid for 127.0.0.1, not 127.0.0.2')), 'x509: certificate is valid for 127.0.0.1, not 127.0.0.2');
    assert.equal(connectFailureReason(grpcError('unable to verify the first certificate')), 'x509: certificate signed by unknown authority');
    assert.equal(connectFailureReason(grpcError('Failed to connect (2026-01-02T03:04:05.678Z)')), 'Failed to connect');
  });

  test("a refused client certificate, judged from the certificate", () => {
    assert.equal(clientCertificateProblem(undefined), 'the server requires a client certificate, and none was given (--cert, --key)');
    assert.equal(
      clientCertificateProblem({ cert: readFileSync(pki.expiredClient.cert) }),
      'the server refused the client certificate (CN=root): it expired on 2020-01-02T00:00:00.000Z',
    );
    assert.equal(
      clientCertificateProblem({ cert: readFileSync(pki.foreignClient.cert) }),
      'the server refused the client certificate (CN=root, issued by CN=some other CA): it is not signed by a CA the server trusts, or it is revoked',
    );
  });

  describe('explainConnectFailure, against real servers on 127.0.0.1', () => {
    const servers: NetServer[] = [];
    const listen = async (server: NetServer | TlsServer): Promise<number> => {
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
      const addr = server.address();
      return typeof addr === 'object' && addr !== null ? addr.port : 0;
    };
    after(() => {
      for (const s of servers) s.close();
    });
    const serverTls = () => ({ cert: readFileSync(pki.server.cert), key: readFileSync(pki.server.key), ca: readFileSync(pki.ca.cert), requestCert: true, rejectUnauthorized: false });

    test('a server that drops unverified clients after the handshake: why, from the certificate', async () => {
      const port = await listen(
        createTlsServer(serverTls(), (socket) => {
          if (!socket.authorized) socket.destroy();
          else socket.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])); // an HTTP/2 SETTINGS frame
        }),
      );
      const ep = parseEndpoint(`https://127.0.0.1:${port}`);
      const ca = readFileSync(pki.ca.cert);
      const root = pki.client('root');
      assert.equal(
        await explainConnectFailure(ep, { ca }, 'Failed to connect', 3000),
        'the server requires a client certificate, and none was given (--cert, --key)',
      );
      assert.equal(
        await explainConnectFailure(ep, { ca, cert: readFileSync(pki.expiredClient.cert), key: readFileSync(pki.expiredClient.key) }, 'connection reset', 3000),
        'the server refused the client certificate (CN=root): it expired on 2020-01-02T00:00:00.000Z',
      );
      // A certificate the server takes: nothing more to say than grpc-js did.
      assert.equal(await explainConnectFailure(ep, { ca, cert: readFileSync(root.cert), key: readFileSync(root.key) }, 'Failed to connect', 3000), 'Failed to connect');
      // The server's own certificate, checked: the SAN, the CA.
      const wrongHost = parseEndpoint(`https://localhost:${port}`);
      assert.equal(
        await explainConnectFailure(wrongHost, { ca }, 'Failed to connect', 3000),
        'x509: certificate is not valid for any names, but wanted to match localhost',
      );
      assert.equal(
        await explainConnectFailure(ep, { ca: readFileSync(pki.foreignCa.cert) }, 'Failed to connect', 3000),
        'x509: certificate signed by unknown authority',
      );
      // A plaintext client on the TLS port.
      assert.equal(
        await explainConnectFailure(parseEndpoint(`127.0.0.1:${port}`), undefined, 'Failed to connect', 3000),
        `the server speaks TLS: use https://127.0.0.1:${port}, or give --cacert`,
      );
    });

    test('reasons that already say what happened are kept; a plaintext server is not blamed on TLS', async () => {
      const ep = parseEndpoint('https://127.0.0.1:1');
      assert.equal(await explainConnectFailure(ep, {}, 'connection refused', 3000), 'connection refused');
      assert.equal(
        await explainConnectFailure(ep, { cert: readFileSync(pki.expiredClient.cert) }, 'remote error: tls: bad certificate', 3000),
        'remote error: tls: bad certificate: the server refused the client certificate (CN=root): it expired on 2020-01-02T00:00:00.000Z',
      );
      const plainPort = await listen(createNetServer((socket) => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n')));
      assert.equal(await explainConnectFailure(parseEndpoint(`https://127.0.0.1:${plainPort}`), {}, 'Failed to connect', 3000), 'tls: first record does not look like a TLS handshake');
    });
  });
});
