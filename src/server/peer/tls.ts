/**
 * TLS between members, as etcd's --peer-cert-file, --peer-key-file, --peer-trusted-ca-file,
 * --peer-client-cert-auth and --peer-auto-tls set it up: an `https://` peer URL is served and dialled with
 * TLS (ALPN h2); the HTTP/2 gRPC of the peer protocol runs inside unchanged.
 *
 * What is checked, and by whom:
 * - The dialling member verifies the listener's certificate against the CA and the URL's host (an IP URL
 *   needs that IP among the certificate's IP SANs), unless `skipVerify` (auto-TLS: self-signed
 *   certificates, which etcd does not verify either).
 * - With `clientCertAuth` the listener demands a certificate signed by the CA from every peer, and, as
 *   etcd's TLS listener does for peers, checks that the connection's source address is one the certificate
 *   names: one of its IP SANs, or an address one of its DNS SANs resolves to (a certificate with no SANs is
 *   not checked). A member whose certificate was made for another host is refused at the handshake, before
 *   a byte of raft reaches the node.
 */
import { lookup } from 'node:dns/promises';
import { type LookupFunction, isIP } from 'node:net';
import * as tls from 'node:tls';

import type { Logger } from '../../base/logger.js';
import { canonicalIp, oneLineName, parseSubjectAltName } from '../../base/node-x509.js';

export interface PeerTls {
  /** PEM certificate (chain) this member presents, as server and as client. */
  readonly cert: Buffer;
  readonly key: Buffer;
  /** PEM CA bundle the other members' certificates must chain to; the system's roots when absent. */
  readonly ca?: Buffer;
  /** Require a client certificate signed by `ca` from every connecting peer (--peer-client-cert-auth). */
  readonly clientCertAuth: boolean;
  /** Accept any server certificate (--peer-auto-tls: self-signed, as etcd's InsecureSkipVerify). */
  readonly skipVerify?: boolean;
}

/** How outgoing peer connections are made. */
export interface PeerDial {
  /** Source IP every outgoing connection binds to. */
  readonly localAddress?: string | undefined;
  /** Required for https:// peer URLs. */
  readonly tls?: PeerTls | undefined;
  /** Resolves host names in peer URLs (kvctl's --dns-server); the system's resolver when absent. */
  readonly lookup?: LookupFunction | undefined;
}

const SAN_LOOKUP_TIMEOUT_MS = 2000;
const REFUSAL_LOG_INTERVAL_MS = 30_000;

/** Dials an https:// peer: TLS to host:port, ALPN h2, the server certificate verified against the URL's host. */
export function dialPeerTls(host: string, port: number, hostname: string, dial: PeerDial): tls.TLSSocket {
  const t = dial.tls;
  if (t === undefined) throw new Error('https peer URL without peer TLS settings');
  return tls.connect({
    host,
    port,
    ...(dial.localAddress !== undefined ? { localAddress: dial.localAddress } : {}),
    ...(dial.lookup !== undefined ? { lookup: dial.lookup } : {}),
    // SNI only for names (an IP there is refused by RFC 6066 and warned about by Node).
    ...(isIP(hostname) === 0 ? { servername: hostname } : {}),
    cert: t.cert,
    key: t.key,
    ...(t.ca !== undefined ? { ca: t.ca } : {}),
    rejectUnauthorized: t.skipVerify !== true,
    // Verified against the URL's host as written (`localhost` stays a name, not 127.0.0.1).
    checkServerIdentity: (_host, cert) => tls.checkServerIdentity(hostname, cert),
    ALPNProtocols: ['h2'],
    noDelay: true,
  } as tls.ConnectionOptions);
}

/**
 * A TLS server for the peer listener: `onSecure` gets each connection once its handshake succeeded (and,
 * with client-cert-auth, once the certificate's SANs matched the source address).
 */
export function peerTlsServer(t: PeerTls, logger: Logger, onSecure: (socket: tls.TLSSocket) => void): tls.Server {
  // A refused member retries every few seconds: the same refusal is logged once per REFUSAL_LOG_INTERVAL_MS.
  const logged = new Map<string, number>();
  const refuse = (remote: string | undefined, problem: string) => {
    const line = `rejected connection from ${remote ?? 'an unknown address'}: ${problem}`;
    const now = Date.now();
    const last = logged.get(line);
    if (last !== undefined && now - last < REFUSAL_LOG_INTERVAL_MS) return;
    if (logged.size > 1000) logged.clear();
    logged.set(line, now);
    logger.warn(line);
  };
  const server = tls.createServer(
    {
      cert: t.cert,
      key: t.key,
      ...(t.ca !== undefined ? { ca: t.ca } : {}),
      requestCert: t.clientCertAuth,
      // Verified below instead of by OpenSSL during the handshake, which would only report "socket hang up".
      rejectUnauthorized: false,
      ALPNProtocols: ['h2'],
      noDelay: true,
    },
    (socket) => {
      socket.on('error', () => socket.destroy());
      if (!t.clientCertAuth) {
        onSecure(socket);
        return;
      }
      socket.pause();
      void certificateProblem(socket).then((problem) => {
        if (problem === undefined) {
          onSecure(socket);
          socket.resume();
          return;
        }
        refuse(socket.remoteAddress, problem);
        socket.destroy();
      });
    },
  );
  server.on('tlsClientError', (err, socket) => refuse(socket.remoteAddress, `TLS handshake failed: ${err.message}`));
  return server;
}

/**
 * Why the connecting peer's certificate is refused (none, not signed by the CA, expired, or not naming the
 * address it connects from); undefined when it is accepted.
 */
async function certificateProblem(socket: tls.TLSSocket): Promise<string | undefined> {
  const raw = socket.getPeerX509Certificate();
  if (raw === undefined) return 'the peer sent no client certificate (--peer-client-cert-auth requires one)';
  if (!socket.authorized) {
    const why = socket.authorizationError;
    const code = typeof why === 'string' ? why : why.message;
    return `the peer's certificate (${oneLineName(raw.subject)}, issued by ${oneLineName(raw.issuer)}) is not accepted: ${code}`;
  }
  const remote = normalizeIp(socket.remoteAddress ?? '');
  const { ips, dns } = parseSubjectAltName(raw.subjectAltName);
  if (ips.length === 0 && dns.length === 0) return undefined;
  if (ips.includes(remote)) return undefined;
  for (const name of dns) {
    if (name.includes('*')) continue;
    if ((await resolve(name)).includes(remote)) return undefined;
  }
  const names = [...ips, ...dns].join(', ');
  return `the peer's certificate (${oneLineName(raw.subject)}) is valid for ${names}, not ${remote}`;
}

async function resolve(name: string): Promise<string[]> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const found = await Promise.race([
      lookup(name, { all: true }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), SAN_LOOKUP_TIMEOUT_MS);
      }),
    ]);
    return found.map((a) => normalizeIp(a.address));
  } catch {
    return [];
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/** A socket address in canonicalIp's form (an IPv4-mapped IPv6 address as the IPv4 one). */
function normalizeIp(ip: string): string {
  const v4 = ip.startsWith('::ffff:') ? ip.slice('::ffff:'.length) : ip;
  return canonicalIp(v4) ?? v4;
}
