/**
 * TLS between members (src/server/peer/tls.ts): https peer URLs with client-certificate authentication,
 * certificates made by openssl (test/support/tls-fixtures.ts), members on 127.0.0.1 / .2 / .3.
 * Who is refused, and what each side says: a certificate from another CA, a client certificate made for
 * another host than the one it connects from, a server certificate without the URL's IP.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import type { PeerTls } from '../../src/server/peer/index.js';
import { type CertPair, type TlsFixtures, makeTlsFixtures } from '../support/tls-fixtures.js';
import { connectAll, logText, msgApp, startMember, waitFor } from './helpers.js';

const A = 0xa1n;
const B = 0xb2n;

describe('peer TLS', { timeout: 60_000 }, () => {
  let pki: TlsFixtures;
  before(() => {
    pki = makeTlsFixtures();
  });
  after(() => pki.remove());

  const tlsWith = (pair: CertPair, ca = pki.ca.cert): PeerTls => ({
    cert: readFileSync(pair.cert),
    key: readFileSync(pair.key),
    ca: readFileSync(ca),
    clientCertAuth: true,
  });
  const forHost = (ip: string): PeerTls => tlsWith(pki.serverFor(`peer-${ip}`, { ips: [ip] }));

  test('members with certificates for their own addresses exchange messages and calls over https', async (t) => {
    const a = await startMember(t, { id: A, host: '127.0.0.1', localAddress: '127.0.0.1', tls: forHost('127.0.0.1') });
    const b = await startMember(t, { id: B, host: '127.0.0.2', localAddress: '127.0.0.2', tls: forHost('127.0.0.2') });
    assert.match(a.url, /^https:\/\//);
    await connectAll([a, b]);
    a.transport.send([msgApp(A, B, 1)]);
    b.transport.send([msgApp(B, A, 7)]);
    await waitFor(() => b.rec.received.length === 1 && a.rec.received.length === 1, 'a message each way');
    assert.equal(b.rec.received[0]!.index, 1);
    assert.equal(new TextDecoder().decode(await a.transport.call(B, 'who', new Uint8Array(), 2000)), 'who::a1');
  });

  test('a peer whose certificate comes from another CA is refused at the handshake; the cluster side stays up', async (t) => {
    const a = await startMember(t, { id: A, host: '127.0.0.1', localAddress: '127.0.0.1', tls: forHost('127.0.0.1') });
    const b = await startMember(t, { id: B, host: '127.0.0.2', localAddress: '127.0.0.2', tls: tlsWith(pki.foreignClient, pki.ca.cert) });
    b.transport.setPeer(A, [a.url]);
    const refusal = /^rejected connection from 127\.0\.0\.2: the peer's certificate \(CN=root, issued by CN=some other CA\) is not accepted: UNABLE_TO_VERIFY_LEAF_SIGNATURE$/;
    await waitFor(() => a.logs.some((l) => refusal.test(l.message)), 'the refusal in the listener log');
    await waitFor(
      () => b.logs.some((l) => /cannot stream to remote peer a1 at https:\/\/127\.0\.0\.1:\d+: the peer closed the TLS connection before HTTP\/2 started: it probably refused this member's certificate/.test(l.message)),
      "the dialler's guess at the cause",
    );
    assert.equal(b.transport.activeSince(A), undefined);
    // B retries (100, 200, 400 ms ...): the listener says it once.
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(a.logs.filter((l) => refusal.test(l.message)).length, 1, logText(a));
    assert.equal(a.rec.received.length, 0);
  });

  test('a client certificate made for another host than the one it connects from is refused, naming the SANs', async (t) => {
    const a = await startMember(t, { id: A, host: '127.0.0.1', localAddress: '127.0.0.1', tls: forHost('127.0.0.1') });
    // B listens and dials from 127.0.0.2 with a certificate for 127.0.0.3 (a member moved without new certificates).
    const b = await startMember(t, { id: B, host: '127.0.0.2', localAddress: '127.0.0.2', tls: forHost('127.0.0.3') });
    b.transport.setPeer(A, [a.url]);
    await waitFor(
      () => a.logs.some((l) => /^rejected connection from 127\.0\.0\.2: the peer's certificate \(.*\) is valid for 127\.0\.0\.3, not 127\.0\.0\.2$/.test(l.message)),
      'the SAN refusal in the listener log',
    );
    b.transport.send([msgApp(B, A, 1)]);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(a.rec.received.length, 0, 'nothing reaches the node');
    assert.equal(b.transport.activeSince(A), undefined);
  });

  test("a server certificate without the peer URL's IP is refused by the dialling member", async (t) => {
    // A serves on 127.0.0.1 with a certificate for 127.0.0.9 only.
    const a = await startMember(t, { id: A, host: '127.0.0.1', localAddress: '127.0.0.1', tls: forHost('127.0.0.9') });
    const b = await startMember(t, { id: B, host: '127.0.0.2', localAddress: '127.0.0.2', tls: forHost('127.0.0.2') });
    b.transport.setPeer(A, [a.url]);
    await waitFor(
      () => b.logs.some((l) => /cannot stream to remote peer a1 at https:\/\/127\.0\.0\.1:\d+: .*127\.0\.0\.1.*127\.0\.0\.9/.test(l.message)),
      "the dialler's complaint naming both addresses",
    );
    assert.equal(b.transport.activeSince(A), undefined);
  });
});
