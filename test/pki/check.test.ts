// checkEndpoint against real TLS servers on loopback (Node's tls, OpenSSL underneath): every way a handshake or
// verification fails is named precisely, and success is only claimed when the server took the connection.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { PkiMismatchError, checkEndpoint, initCa, issueCertificate, selfSignedCertificate } from '../../src/pki/index.js';
import { loadCa } from '../../src/pki/ca.js';
import { buildCertificate, generateRsaKey } from '../../src/pki/x509.js';
import { type Listening, removeDir, tcpServer, tempDir, tlsServer } from './fixtures.js';

const dayMs = 86_400_000;

describe('checkEndpoint', { timeout: 60_000 }, () => {
  const root = tempDir();
  const pki = join(root, 'pki');
  const foreign = join(root, 'foreign');
  const twin = join(root, 'twin');
  const read = (dir: string, file: string): Buffer => readFileSync(join(dir, file));
  const servers: Listening[] = [];
  after(async () => {
    for (const s of servers) await s.close();
    removeDir(root);
  });
  const serve = async (p: Promise<Listening>): Promise<Listening> => {
    const l = await p;
    servers.push(l);
    return l;
  };

  /** A server certificate signed by the pki CA with a lifetime starting at `start` (for expired / future ones). */
  async function datedServerCert(start: Date, days: number): Promise<{ cert: string; key: string }> {
    const ca = await loadCa(pki);
    const key = await generateRsaKey();
    const cert = buildCertificate(
      { commonName: 'dated', publicKey: key.publicKey, days, isCa: false, serverAuth: true, clientAuth: false, ips: ['127.0.0.1'], dns: [], now: start },
      { kind: 'ca', cert: ca.forgeCert, key: ca.key.privateKey },
    );
    return { cert, key: key.keyPem };
  }

  let mtls13: Listening;
  let mtls12: Listening;
  const caFile = (): string => join(pki, 'ca.crt');
  const client = () => ({ cert: join(pki, 'root.crt'), key: join(pki, 'root.key') });

  before(async () => {
    await initCa(pki, { commonName: 'check CA' });
    await initCa(foreign, { commonName: 'foreign CA' });
    await initCa(twin, { commonName: 'check CA' });
    await issueCertificate(pki, { profile: 'server', name: 'srv', ips: ['127.0.0.1'], dns: ['localhost'] });
    await issueCertificate(pki, { profile: 'server', name: 'srv2', ips: ['127.0.0.2'] });
    await issueCertificate(pki, { profile: 'client', name: 'root' });
    await issueCertificate(pki, { profile: 'client', name: 'usage', ips: ['127.0.0.1'] });
    await issueCertificate(foreign, { profile: 'client', name: 'root' });
    const mtls = { cert: read(pki, 'srv.crt'), key: read(pki, 'srv.key'), ca: read(pki, 'ca.crt'), requestCert: true, rejectUnauthorized: true };
    mtls13 = await serve(tlsServer(mtls));
    mtls12 = await serve(tlsServer({ ...mtls, maxVersion: 'TLSv1.2' }));
  });

  it('succeeds with the right CA and client certificate, and reports the chain (TLS 1.3 and 1.2)', async () => {
    for (const [server, protocol] of [[mtls13, 'TLSv1.3'], [mtls12, 'TLSv1.2']] as const) {
      const r = await checkEndpoint(`https://${server.endpoint}`, { ca: caFile(), ...client() });
      assert.deepEqual(r.problems, [], protocol);
      assert.equal(r.ok, true);
      assert.equal(r.protocol, protocol);
      assert.equal(r.clientAccepted, true);
      assert.equal(r.clientCertificate, 'CN=root');
      assert.deepEqual(r.chain.map((c) => c.subject), ['CN=srv', 'CN=check CA']);
      assert.deepEqual(r.warnings, []);
    }
  });

  it('says the server requires a client certificate when none is given', async () => {
    const r = await checkEndpoint(mtls13.endpoint, { ca: caFile() });
    assert.equal(r.ok, false);
    assert.deepEqual(r.problems.map((p) => p.kind), ['client-certificate-required']);
    assert.match(r.problems[0]?.message ?? '', /^remote error: tls: certificate required: the server requires a client certificate/);
    assert.deepEqual(r.chain.map((c) => c.subject), ['CN=srv', 'CN=check CA'], 'the server certificate is still checked');
    // TLS 1.2 servers refuse inside the handshake, with a generic alert: the hint says what to try.
    const r12 = await checkEndpoint(mtls12.endpoint, { ca: caFile() });
    assert.equal(r12.ok, false);
    assert.match(r12.problems[0]?.message ?? '', /remote error: tls: handshake failure: .*try --cert and --key/);
  });

  it('says the server refused a client certificate from another CA, and warns about it beforehand', async () => {
    const r = await checkEndpoint(mtls13.endpoint, { ca: caFile(), cert: join(foreign, 'root.crt'), key: join(foreign, 'root.key') });
    assert.equal(r.ok, false);
    assert.equal(r.problems[0]?.kind, 'client-certificate-rejected');
    assert.match(r.problems[0]?.message ?? '', /refused the client certificate CN=root/);
    assert.match(r.warnings.join('\n'), /client certificate CN=root is not signed by a CA in --cacert \(issuer CN=foreign CA\)/);
  });

  it('names the missing SAN, for an address and for a name', async () => {
    const only2 = await serve(tlsServer({ cert: read(pki, 'srv2.crt'), key: read(pki, 'srv2.key') }));
    const r = await checkEndpoint(only2.endpoint, { ca: caFile() });
    assert.deepEqual(r.problems.map((p) => p.kind), ['hostname']);
    assert.equal(
      r.problems[0]?.message,
      'x509: certificate is valid for 127.0.0.2, not 127.0.0.1: the server certificate CN=srv2 lacks the SAN IP:127.0.0.1 (it has IP:127.0.0.2); re-issue it with --ip 127.0.0.1 added to its names, or connect through a name it lists',
    );
    assert.equal(r.clientAccepted, true, 'the server answered the HTTP/2 preface');
    const byName = await checkEndpoint(mtls13.endpoint, { ca: caFile(), ...client(), serverName: 'infra0.example.com' });
    assert.match(byName.problems[0]?.message ?? '', /^x509: certificate is valid for localhost, not infra0\.example\.com: .* lacks the SAN DNS:infra0\.example\.com/);
    const good = await checkEndpoint(mtls13.endpoint, { ca: caFile(), ...client(), serverName: 'localhost' });
    assert.equal(good.ok, true);
  });

  it('names both CAs when the CA file holds another CA, or one of the same name with another key', async () => {
    const r = await checkEndpoint(mtls13.endpoint, { ca: join(foreign, 'ca.crt'), ...client() });
    assert.equal(r.problems[0]?.kind, 'unknown-authority');
    assert.match(r.problems[0]?.message ?? '', /^x509: certificate signed by unknown authority: the server certificate CN=srv was issued by CN=check CA, but the CA file holds CN=foreign CA;/);
    const same = await checkEndpoint(mtls13.endpoint, { ca: join(twin, 'ca.crt'), ...client() });
    assert.match(same.problems[0]?.message ?? '', /holds a CA of that name but with a different key/);
  });

  it("reports an expired or not yet valid server certificate with Go's dates", async () => {
    const old = await datedServerCert(new Date(Date.now() - 400 * dayMs), 30);
    const expired = await serve(tlsServer({ cert: old.cert, key: old.key }));
    const r = await checkEndpoint(expired.endpoint, { ca: caFile() });
    assert.deepEqual(r.problems.map((p) => p.kind), ['expired']);
    assert.match(
      r.problems[0]?.message ?? '',
      /^x509: certificate has expired or is not yet valid: current time \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ is after \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: the server certificate CN=dated expired on /,
    );
    const early = await datedServerCert(new Date(Date.now() + 3 * dayMs), 30);
    const future = await serve(tlsServer({ cert: early.cert, key: early.key }));
    const f = await checkEndpoint(future.endpoint, { ca: caFile() });
    assert.equal(f.problems[0]?.kind, 'not-yet-valid');
    assert.match(f.problems[0]?.message ?? '', /is before .*check this host's clock/);
  });

  it('warns when the server certificate has fewer than 30 days left', async () => {
    const soon = await datedServerCert(new Date(Date.now() - 20 * dayMs), 30);
    const server = await serve(tlsServer({ cert: soon.cert, key: soon.key }));
    const r = await checkEndpoint(server.endpoint, { ca: caFile() });
    assert.equal(r.ok, true);
    assert.match(r.warnings.join('\n'), /server certificate CN=dated expires in 9 days/);
  });

  it('refuses a server that presents a client certificate (no serverAuth)', async () => {
    const server = await serve(tlsServer({ cert: read(pki, 'usage.crt'), key: read(pki, 'usage.key') }));
    const r = await checkEndpoint(server.endpoint, { ca: caFile() });
    assert.deepEqual(r.problems.map((p) => p.kind), ['incompatible-usage']);
    assert.match(r.problems[0]?.message ?? '', /^x509: certificate specifies an incompatible key usage: .* has extended key usage clientAuth but not serverAuth/);
  });

  it('tells refused connections, plain-text servers and silent servers apart', async () => {
    const closed = await tcpServer(undefined);
    const port = closed.port;
    await closed.close();
    const refused = await checkEndpoint(`127.0.0.1:${port}`, { ca: caFile() });
    assert.equal(refused.problems[0]?.kind, 'unreachable');
    assert.match(refused.problems[0]?.message ?? '', new RegExp(`^dial tcp 127\\.0\\.0\\.1:${port}: connect: connection refused`));

    const plain = await serve(tcpServer('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'));
    const p = await checkEndpoint(plain.endpoint, { ca: caFile() });
    assert.equal(p.problems[0]?.kind, 'not-tls');
    assert.match(p.problems[0]?.message ?? '', /does not speak TLS/);

    const silent = await serve(tcpServer(undefined));
    const started = Date.now();
    const s = await checkEndpoint(silent.endpoint, { ca: caFile(), timeoutMs: 400 });
    assert.equal(s.problems[0]?.kind, 'timeout');
    assert.match(s.problems[0]?.message ?? '', /no TLS handshake with 127\.0\.0\.1:\d+ within 400 ms/);
    assert.ok(Date.now() - started < 3000);
  });

  it('refuses a key that is not the client certificate’s, and a bad endpoint', async () => {
    await assert.rejects(
      checkEndpoint(mtls13.endpoint, { ca: caFile(), cert: join(pki, 'root.crt'), key: join(pki, 'srv.key') }),
      (err: unknown) => err instanceof PkiMismatchError && /is not the key of the client certificate CN=root/.test(err.message),
    );
    await assert.rejects(checkEndpoint('127.0.0.1', { ca: caFile() }), /invalid endpoint "127\.0\.0\.1": give host:port/);
    await assert.rejects(checkEndpoint(mtls13.endpoint, { ca: caFile(), cert: join(pki, 'root.crt') }), /give both --cert and --key/);
  });

  it('accepts an --auto-tls style self-signed certificate when it is the CA file itself', async () => {
    const self = await selfSignedCertificate({ hosts: ['127.0.0.1', 'localhost:2380', 'https://[::1]:2379'] });
    const server = await serve(tlsServer({ cert: self.certPem, key: self.keyPem }));
    const pinned = await checkEndpoint(server.endpoint, { ca: self.certPem });
    assert.deepEqual(pinned.problems, []);
    assert.deepEqual(pinned.chain.map((c) => c.subject), ['O=kvctl, CN=kvctl auto-tls']);
    const other = await checkEndpoint(server.endpoint, { ca: caFile() });
    assert.equal(other.problems[0]?.kind, 'unknown-authority');
  });
});
