/**
 * `kvctl cert check`: connect to an endpoint over TLS the way etcdctl would, and when anything is wrong say
 * exactly what: the SAN that is missing, the two CAs that differ, the dates, or what the server said about our
 * client certificate.
 *
 * How: the connection is made with verification off (`rejectUnauthorized: false`) so that the server's
 * certificate is in hand even when it would not verify; it is then checked here, in the order Go's
 * crypto/x509 checks (lifetime, host name, authority, key usage), and each failure is reported with Go's own
 * text first (what etcdctl and etcd print) followed by the explanation. OpenSSL's own verdict is kept as a
 * safety net: if it refuses a chain these checks accept, that is reported too, so "ok" is never claimed when a
 * standard client would refuse.
 *
 * In TLS 1.3 the server judges the client certificate after the client has finished its handshake, so a
 * refusal arrives as an alert after `secureConnect`. The check therefore waits for proof that the server
 * carried on: any bytes (it is sent the HTTP/2 preface when it negotiated h2, and answers with its SETTINGS)
 * or a session ticket. A refusal arrives as an alert, which is mapped to what it means.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { isIP } from 'node:net';
import { type ConnectionOptions, type DetailedPeerCertificate, type TLSSocket, connect } from 'node:tls';

import { PkiInputError, PkiMismatchError } from './errors.js';
import { readTextFile } from './files.js';
import {
  type CertificateInfo,
  describeCertificate,
  expiryWarningDays,
  oneLineName,
  opensslDate,
  parseCertificates,
} from './inspect.js';
import { canonicalIp } from './names.js';
import { goHostnameError } from '../base/node-x509.js';

export type CheckOptions = {
  /** The CA bundle to verify the server with: a path or PEM text (etcdctl's --cacert). */
  readonly ca: string;
  /** Client certificate and key, path or PEM (etcdctl's --cert / --key); both or neither. */
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
  /** The name to verify the server certificate against (default: the endpoint's host). */
  readonly serverName?: string | undefined;
  /** For the whole check of one endpoint (default 5 s). */
  readonly timeoutMs?: number | undefined;
  /** How long to wait after the handshake for the server to accept or refuse the client (default 2 s). */
  readonly settleMs?: number | undefined;
};

export type CheckProblemKind =
  | 'unreachable'
  | 'timeout'
  | 'not-tls'
  | 'expired'
  | 'not-yet-valid'
  | 'hostname'
  | 'unknown-authority'
  | 'incompatible-usage'
  | 'verify-failed'
  | 'client-certificate-required'
  | 'client-certificate-rejected'
  | 'handshake-failed';

export type CheckProblem = {
  readonly kind: CheckProblemKind;
  /** One line: Go's message where Go has one, then what is wrong and what to do. */
  readonly message: string;
};

export type EndpointCheck = {
  /** As given. */
  readonly endpoint: string;
  /** `host:port` dialled. */
  readonly address: string;
  /** The name the server certificate was checked against. */
  readonly serverName: string;
  readonly ok: boolean;
  readonly problems: readonly CheckProblem[];
  /** Worth knowing but not failing: certificates close to expiry, doubts about the client certificate. */
  readonly warnings: readonly string[];
  /** The TLS version negotiated, when the handshake completed. */
  readonly protocol: string | undefined;
  /** The server's certificate chain as presented (leaf first), plus the CA it verified against, if any. */
  readonly chain: readonly CertificateInfo[];
  /** The subject of the client certificate offered, if any. */
  readonly clientCertificate: string | undefined;
  /** True when the server is known to have accepted the connection (and the client certificate, if offered). */
  readonly clientAccepted: boolean;
};

/** The host and port of `host:port`, `[v6]:port` or a URL (`https://host:port`). */
export function parseEndpoint(endpoint: string): { host: string; port: number } {
  const rest = endpoint.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/\/.*$/, '');
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(rest);
  const port = Number(m?.[3]);
  if (m === null || !(port > 0 && port < 65_536)) {
    throw new PkiInputError(`pki: invalid endpoint ${JSON.stringify(endpoint)}: give host:port or https://host:port`);
  }
  return { host: m[1] ?? m[2] ?? '', port };
}

/** Go's time.RFC3339 in UTC, as Go's x509 errors print times. */
function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function sanList(info: CertificateInfo): string {
  const all = [...info.ips.map((ip) => `IP:${ip}`), ...info.dns.map((d) => `DNS:${d}`)];
  return all.length === 0 ? 'no SANs' : all.join(', ');
}

async function pemOf(pemOrPath: string, what: string): Promise<string> {
  return pemOrPath.includes('-----BEGIN') ? pemOrPath : readTextFile(pemOrPath, what);
}

/** Finds the path from `leaf` to a trust anchor through the presented intermediates; undefined if none. */
function buildPath(leaf: X509Certificate, presented: readonly X509Certificate[], anchors: readonly X509Certificate[]): X509Certificate[] | undefined {
  if (anchors.some((a) => a.fingerprint256 === leaf.fingerprint256)) return [leaf];
  const path = [leaf];
  let current = leaf;
  for (let depth = 0; depth < 8; depth++) {
    const anchor = anchors.find((a) => current.checkIssued(a) && current.verify(a.publicKey));
    if (anchor !== undefined) return [...path, anchor];
    const next = presented.find((p) => p.ca && !path.includes(p) && current.checkIssued(p) && current.verify(p.publicKey));
    if (next === undefined) return undefined;
    path.push(next);
    current = next;
  }
  return undefined;
}

/** The server certificate's problems, in Go's order: lifetime, host name, authority, key usage. */
function verifyServer(
  leaf: X509Certificate,
  presented: readonly X509Certificate[],
  anchors: readonly X509Certificate[],
  host: string,
  now: Date,
): { problems: CheckProblem[]; path: X509Certificate[] | undefined } {
  const problems: CheckProblem[] = [];
  const info = describeCertificate(leaf, now);
  const notBefore = opensslDate(leaf.validFrom);
  const notAfter = opensslDate(leaf.validTo);
  if (now.getTime() > notAfter.getTime()) {
    problems.push({
      kind: 'expired',
      message: `x509: certificate has expired or is not yet valid: current time ${rfc3339(now)} is after ${rfc3339(notAfter)}: the server certificate ${info.subject} expired on ${info.notAfter}; renew it (kvctl cert renew) and restart the member with it`,
    });
  } else if (now.getTime() < notBefore.getTime()) {
    problems.push({
      kind: 'not-yet-valid',
      message: `x509: certificate has expired or is not yet valid: current time ${rfc3339(now)} is before ${rfc3339(notBefore)}: the server certificate ${info.subject} is valid only from ${info.notBefore}; check this host's clock and the clock of the host that issued it`,
    });
  }

  // Go's check, as etcd's clients make it (IP against IP SANs, names against DNS SANs, never the CN).
  const hostnameProblem = goHostnameError(info, host);
  if (hostnameProblem !== undefined) {
    const missing = isIP(host) !== 0 ? `IP:${host}` : `DNS:${host}`;
    const flag = isIP(host) !== 0 ? `--ip ${host}` : `--dns ${host}`;
    problems.push({
      kind: 'hostname',
      message: `${hostnameProblem}: the server certificate ${info.subject} lacks the SAN ${missing} (it has ${sanList(info)}); re-issue it with ${flag} added to its names, or connect through a name it lists`,
    });
  }

  const path = buildPath(leaf, presented, anchors);
  if (path === undefined) {
    const sameName = anchors.filter((a) => a.subject === leaf.issuer);
    const caNames = anchors.map((a) => oneLineName(a.subject)).join('; ');
    const why =
      sameName.length > 0
        ? `the server certificate ${info.subject} was issued by ${info.issuer}, and the CA file holds a CA of that name but with a different key (a CA created anew under the same name?)`
        : `the server certificate ${info.subject} was issued by ${info.issuer}, but the CA file holds ${caNames}`;
    problems.push({
      kind: 'unknown-authority',
      message: `x509: certificate signed by unknown authority: ${why}; verify with the CA that issued the server's certificate (--cacert), or re-issue the server's certificate from this CA`,
    });
  } else {
    for (const ca of path.slice(1)) {
      const caInfo = describeCertificate(ca, now);
      if (now.getTime() > new Date(caInfo.notAfter).getTime()) {
        problems.push({
          kind: 'expired',
          message: `x509: certificate has expired or is not yet valid: current time ${rfc3339(now)} is after ${rfc3339(new Date(caInfo.notAfter))}: the CA ${caInfo.subject} expired on ${caInfo.notAfter}; create a new CA and re-issue every certificate`,
        });
      }
    }
  }

  const eku = leaf.keyUsage as string[] | undefined;
  if (eku !== undefined && !eku.includes('1.3.6.1.5.5.7.3.1') && !eku.includes('2.5.29.37.0')) {
    problems.push({
      kind: 'incompatible-usage',
      message: `x509: certificate specifies an incompatible key usage: the server certificate ${info.subject} has extended key usage ${info.extKeyUsage.join(', ') || 'none'} but not serverAuth; issue it with --profile server (client listener) or --profile peer (peer listener)`,
    });
  }
  return { problems, path };
}

/** Go's alert text for an OpenSSL alert reason (`tlsv13 alert certificate required` -> `certificate required`). */
const goAlertText: ReadonlyArray<readonly [RegExp, string]> = [
  [/alert certificate required/, 'certificate required'],
  [/alert bad certificate/, 'bad certificate'],
  [/alert unknown ca/, 'unknown certificate authority'],
  [/alert certificate expired/, 'expired certificate'],
  [/alert unsupported certificate/, 'unsupported certificate'],
  [/alert certificate revoked/, 'revoked certificate'],
  [/alert certificate unknown/, 'unknown certificate'],
  [/alert access denied/, 'access denied'],
  [/alert handshake failure/, 'handshake failure'],
  [/alert decrypt error/, 'error decrypting message'],
  [/alert protocol version/, 'protocol version not supported'],
];

function alertOf(err: Error): string | undefined {
  const text = `${(err as { reason?: unknown }).reason ?? ''} ${err.message}`.toLowerCase();
  return goAlertText.find(([re]) => re.test(text))?.[1];
}

/** What a connection error means, given whether the handshake had completed and whether we offered a certificate. */
function problemOfError(err: Error, address: string, handshakeDone: boolean, clientSubject: string | undefined): CheckProblem {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (code === 'ECONNREFUSED') {
    return { kind: 'unreachable', message: `dial tcp ${address}: connect: connection refused: nothing listens there; check the address and that the member runs` };
  }
  if (['EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT'].includes(code)) {
    return { kind: 'unreachable', message: `dial tcp ${address}: ${err.message}` };
  }
  const alert = alertOf(err);
  if (alert === 'certificate required' || (alert === 'bad certificate' && clientSubject === undefined)) {
    return {
      kind: 'client-certificate-required',
      message: `remote error: tls: ${alert}: the server requires a client certificate (it runs with --client-cert-auth); pass --cert and --key of a certificate with clientAuth signed by a CA in the server's --trusted-ca-file`,
    };
  }
  if (alert !== undefined && /certificate|access denied/.test(alert) && clientSubject !== undefined) {
    return {
      kind: 'client-certificate-rejected',
      message: `remote error: tls: ${alert}: the server refused the client certificate ${clientSubject}: it must be signed by a CA in the server's --trusted-ca-file, be within its lifetime and have clientAuth (kvctl cert issue --profile client, or --profile peer)`,
    };
  }
  if (alert !== undefined) {
    const hint = clientSubject === undefined && !handshakeDone ? ' (in TLS 1.2 this is how some servers refuse a client without a certificate: try --cert and --key)' : '';
    return { kind: 'handshake-failed', message: `remote error: tls: ${alert}: the server ended the TLS handshake${hint}` };
  }
  if (/wrong version number|packet length too long|unknown protocol|http request/i.test(err.message)) {
    return {
      kind: 'not-tls',
      message: `${address} does not speak TLS (${err.message}): it serves plain text; use an https:// listener (--listen-client-urls https://..., with --cert-file and --key-file) or check without TLS`,
    };
  }
  if (code === 'ECONNRESET' || code === 'EPIPE') {
    return {
      kind: handshakeDone ? 'client-certificate-rejected' : 'handshake-failed',
      message: `the server closed the connection ${handshakeDone ? 'right after' : 'during'} the TLS handshake (${code})${clientSubject !== undefined ? `: it may have refused the client certificate ${clientSubject}` : ''}`,
    };
  }
  return { kind: 'handshake-failed', message: `TLS handshake with ${address} failed: ${err.message}` };
}

/** The server's chain as OpenSSL handed it over (leaf first), without repeats. */
function presentedChain(socket: TLSSocket): X509Certificate[] {
  const out: X509Certificate[] = [];
  let cert: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  for (let i = 0; i < 10 && cert !== undefined && cert.raw !== undefined; i++) {
    const x = new X509Certificate(cert.raw);
    if (out.some((c) => c.fingerprint256 === x.fingerprint256)) break;
    out.push(x);
    cert = cert.issuerCertificate;
  }
  return out;
}

type Outcome =
  | { kind: 'accepted' | 'settled'; socketInfo: SocketInfo }
  | { kind: 'error'; error: Error; socketInfo: SocketInfo | undefined }
  | { kind: 'closed' | 'timeout'; socketInfo: SocketInfo | undefined };

type SocketInfo = { protocol: string | undefined; chain: X509Certificate[]; authorizationError: string | undefined };

/** The HTTP/2 client preface and an empty SETTINGS frame: an h2 server answers it with its own SETTINGS. */
const h2Preface = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]);

function dial(opts: ConnectionOptions, timeoutMs: number, settleMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    let info: SocketInfo | undefined;
    let settled = false;
    let settleTimer: NodeJS.Timeout | undefined;
    const socket = connect(opts);
    const finish = (outcome: Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(settleTimer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ kind: 'timeout', socketInfo: info }), timeoutMs);
    socket.once('secureConnect', () => {
      const authErr = socket.authorizationError as Error | string | null | undefined;
      try {
        info = {
          protocol: socket.getProtocol() ?? undefined,
          chain: presentedChain(socket),
          authorizationError: authErr === null || authErr === undefined ? undefined : String((authErr as Error).message ?? authErr),
        };
      } catch (err) {
        // A certificate OpenSSL handed over but X509Certificate cannot parse: report it, never throw from here.
        finish({ kind: 'error', error: err instanceof Error ? err : new Error(String(err)), socketInfo: undefined });
        return;
      }
      // TLS 1.2: the server verified our certificate before its Finished, so the handshake is the proof.
      if (info.protocol !== 'TLSv1.3') {
        finish({ kind: 'accepted', socketInfo: info });
        return;
      }
      const current = info;
      if (socket.alpnProtocol === 'h2') socket.write(h2Preface);
      settleTimer = setTimeout(() => finish({ kind: 'settled', socketInfo: current }), settleMs);
    });
    socket.on('data', () => {
      if (info !== undefined) finish({ kind: 'accepted', socketInfo: info });
    });
    socket.on('session', () => {
      if (info !== undefined) finish({ kind: 'accepted', socketInfo: info });
    });
    // on, not once: a second 'error' after finish() must not become an uncaught exception.
    socket.on('error', (error) => finish({ kind: 'error', error, socketInfo: info }));
    socket.once('close', () => finish({ kind: 'closed', socketInfo: info }));
  });
}

/** Local doubts about the client certificate, found before dialling. */
function clientCertificateWarnings(cert: X509Certificate, anchors: readonly X509Certificate[], now: Date): string[] {
  const info = describeCertificate(cert, now);
  const out = info.warnings.map((w) => `client certificate ${info.subject}: ${w}`);
  if (info.extKeyUsage.length > 0 && !info.extKeyUsage.includes('clientAuth') && !info.extKeyUsage.includes('any')) {
    out.push(`client certificate ${info.subject} lacks clientAuth (it has ${info.extKeyUsage.join(', ')}): etcd refuses it; issue one with --profile client`);
  }
  if (buildPath(cert, [], anchors) === undefined) {
    out.push(`client certificate ${info.subject} is not signed by a CA in --cacert (issuer ${info.issuer}): fine only if the server's --trusted-ca-file holds its issuer`);
  }
  return out;
}

/**
 * Connects to `endpoint` over TLS and reports what a client with this CA (and client certificate) would run into.
 * Never throws for what it finds on the wire; throws only for unusable inputs (unreadable CA, mismatched key).
 */
export async function checkEndpoint(endpoint: string, opts: CheckOptions): Promise<EndpointCheck> {
  const { host, port } = parseEndpoint(endpoint);
  const address = isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
  const serverName = opts.serverName ?? (isIP(host) !== 0 ? canonicalIp(host) : host);
  const timeoutMs = opts.timeoutMs ?? 5000;
  const now = new Date();
  const caPem = await pemOf(opts.ca, 'CA file');
  const anchors = parseCertificates(caPem, opts.ca.includes('-----BEGIN') ? 'the CA PEM' : opts.ca);

  if ((opts.cert === undefined) !== (opts.key === undefined)) {
    throw new PkiInputError('pki: give both --cert and --key, or neither');
  }
  let clientPem: { cert: string; key: string } | undefined;
  let clientSubject: string | undefined;
  const warnings: string[] = [];
  if (opts.cert !== undefined && opts.key !== undefined) {
    clientPem = { cert: await pemOf(opts.cert, 'client certificate'), key: await pemOf(opts.key, 'client key') };
    const [clientCert] = parseCertificates(clientPem.cert, opts.cert.includes('-----BEGIN') ? 'the client certificate PEM' : opts.cert);
    if (clientCert === undefined) throw new PkiInputError('pki: no client certificate');
    if (!clientCert.checkPrivateKey(createPrivateKey(clientPem.key))) {
      throw new PkiMismatchError(`pki: the key ${opts.key.includes('-----BEGIN') ? '' : `${opts.key} `}is not the key of the client certificate ${oneLineName(clientCert.subject)}`);
    }
    clientSubject = oneLineName(clientCert.subject);
    warnings.push(...clientCertificateWarnings(clientCert, anchors, now));
  }

  const outcome = await dial(
    {
      host,
      port,
      ca: caPem,
      ...(clientPem === undefined ? {} : { cert: clientPem.cert, key: clientPem.key }),
      rejectUnauthorized: false,
      // SNI carries host names only; an IP there makes Node warn (DEP0123) and means nothing to the server.
      ...(isIP(serverName) === 0 ? { servername: serverName } : {}),
      ALPNProtocols: ['h2'],
    },
    timeoutMs,
    Math.min(opts.settleMs ?? 2000, timeoutMs),
  );

  const problems: CheckProblem[] = [];
  const info = outcome.socketInfo;
  let chain: CertificateInfo[] = [];
  if (info !== undefined && info.chain[0] !== undefined) {
    const leaf = info.chain[0];
    const verdict = verifyServer(leaf, info.chain.slice(1), anchors, serverName, now);
    problems.push(...verdict.problems);
    const shown = [...info.chain];
    const anchor = verdict.path?.at(-1);
    if (anchor !== undefined && !shown.some((c) => c.fingerprint256 === anchor.fingerprint256)) shown.push(anchor);
    chain = shown.map((c) => describeCertificate(c, now));
    if (verdict.problems.length === 0 && info.authorizationError !== undefined) {
      problems.push({ kind: 'verify-failed', message: `OpenSSL refuses the server's certificate chain: ${info.authorizationError}` });
    }
    for (const c of chain) {
      if (c.daysLeft >= 0 && c.daysLeft < expiryWarningDays) {
        warnings.push(`${c.isCa ? 'CA' : 'server certificate'} ${c.subject} expires in ${c.daysLeft} days (${c.notAfter})`);
      }
    }
  } else if (info !== undefined) {
    problems.push({ kind: 'handshake-failed', message: 'the server sent no certificate' });
  }

  let clientAccepted = false;
  switch (outcome.kind) {
    case 'accepted':
      clientAccepted = true;
      break;
    case 'settled':
      warnings.push(
        `the server neither answered nor refused within ${Math.min(opts.settleMs ?? 2000, timeoutMs)} ms after the TLS 1.3 handshake; it did not refuse ${clientSubject === undefined ? 'the connection' : `the client certificate ${clientSubject}`}`,
      );
      break;
    case 'error':
      problems.push(problemOfError(outcome.error, address, info !== undefined, clientSubject));
      break;
    case 'closed':
      problems.push({
        kind: info === undefined ? 'handshake-failed' : 'client-certificate-rejected',
        message:
          info === undefined
            ? `${address} closed the connection during the TLS handshake`
            : `${address} closed the connection right after the TLS handshake${clientSubject === undefined ? ': it may require a client certificate (--cert, --key)' : `: it may have refused the client certificate ${clientSubject}`}`,
      });
      break;
    case 'timeout':
      problems.push({
        kind: 'timeout',
        message:
          info === undefined
            ? `no TLS handshake with ${address} within ${timeoutMs} ms: is it a TLS listener, and reachable?`
            : `${address} did not answer within ${timeoutMs} ms after the TLS handshake`,
      });
      break;
  }

  return {
    endpoint,
    address,
    serverName,
    ok: problems.length === 0,
    problems,
    warnings,
    protocol: info?.protocol,
    chain,
    clientCertificate: clientSubject,
    clientAccepted,
  };
}
