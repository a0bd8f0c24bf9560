/**
 * The client's TLS, as etcdctl and clientv3 3.4 do it, and TLS failures explained.
 *
 * - Which endpoints use TLS (`usesTls`): `https://` always (without settings: the system's roots);
 *   `http://` never; a bare `host:port` when the client has TLS settings (clientv3 dials scheme-less
 *   endpoints with the configured credentials, and etcdctl configures them as soon as --cacert, --cert
 *   or --key is given).
 * - `loadTlsFiles` reads etcdctl's --cacert/--cert/--key with Go's checks and messages
 *   (transport.TLSInfo.ClientConfig): `KeyFile and CertFile must both be present[key: , cert: c.pem]`,
 *   `open ca.pem: no such file or directory`, `tls: private key does not match public key`.
 * - The server's name is checked as Go's crypto/x509 checks it, with its message (`checkServerName`):
 *   an IP endpoint against the certificate's IP SANs only, a host name against its DNS SANs (wildcards
 *   in the leftmost label), never the subject CN: "x509: certificate is valid for 127.0.0.1, not
 *   127.0.0.2".
 * - `explainConnectFailure`: grpc-js reports a connection that the server closed right after the TLS
 *   handshake (what a Node server does to a client certificate it refuses), or a plaintext client's
 *   connection to a TLS port, as a bare "Failed to connect". One extra connection with the same settings
 *   says what happened: the server refused the client certificate (and, from the certificate itself,
 *   whether it is missing, expired, or from a CA the server may not trust), or the server speaks TLS.
 */
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { type PeerCertificate, connect as tlsConnect } from 'node:tls';

import { TlsFileError, checkCaBundle, checkKeyPair, readTlsFile } from '../base/node-tls-files.js';
import { goHostnameError, oneLineName, parseSubjectAltName } from '../base/node-x509.js';
import { goTlsError } from '../base/tls-errors.js';
import { type Endpoint, tlsHostName } from './endpoints.js';
import { ClientError } from './errors.js';

/** PEM material and settings for TLS endpoints. Without `ca`, the system's root certificates are used. */
export type TlsOptions = {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** Name to verify in the server certificate instead of the endpoint's host. */
  serverName?: string;
  /** Accept any server certificate (etcdctl --insecure-skip-tls-verify): encryption without authentication. */
  insecureSkipVerify?: boolean;
};

/** Whether the client speaks TLS to `ep` (see the module comment); `tls` is the client's TLS settings. */
export function usesTls(ep: Endpoint, tls: TlsOptions | undefined): boolean {
  return ep.scheme === 'https' || (ep.scheme === undefined && tls !== undefined);
}

/** etcdctl's TLS flags as file paths (undefined: not given). */
export type TlsFiles = {
  cacert?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  insecureSkipVerify?: boolean | undefined;
};

/**
 * The TLS settings for etcdctl's flags, files read and checked; undefined when no TLS flag was given.
 * Throws a `ClientError` of kind `bad-request` with Go's message (which names the file where Go's does).
 */
export function loadTlsFiles(files: TlsFiles): TlsOptions | undefined {
  const { cacert, cert, key } = files;
  const skip = files.insecureSkipVerify === true;
  if (cacert === undefined && cert === undefined && key === undefined && !skip) return undefined;
  try {
    const tls: TlsOptions = {};
    if (cert !== undefined || key !== undefined) {
      if (cert === undefined || key === undefined) {
        throw new TlsFileError(`KeyFile and CertFile must both be present[key: ${key ?? ''}, cert: ${cert ?? ''}]`);
      }
      tls.cert = readTlsFile(cert);
      tls.key = readTlsFile(key);
      checkKeyPair(tls.cert, tls.key);
    }
    if (cacert !== undefined) {
      tls.ca = readTlsFile(cacert);
      checkCaBundle(tls.ca, `--cacert ${cacert}`);
    }
    if (skip) tls.insecureSkipVerify = true;
    return tls;
  } catch (err) {
    if (err instanceof TlsFileError) throw new ClientError(err.message, { code: 'BAD_TLS_FILE', kind: 'bad-request', cause: err });
    throw err;
  }
}

/**
 * Go's crypto/x509 VerifyHostname with HostnameError's messages: undefined when `cert` is valid for
 * `host`, else the error. Used as grpc-js's checkServerIdentity, so the error reaches the caller.
 */
export function checkServerName(host: string, cert: PeerCertificate): Error | undefined {
  const cn = cert.subject?.CN;
  const problem = goHostnameError({ ...parseSubjectAltName(cert.subjectaltname), commonName: typeof cn === 'string' ? cn : undefined }, host);
  return problem === undefined ? undefined : new Error(problem);
}

/** Why a server would refuse this client's certificate, judged from the certificate itself. */
export function clientCertificateProblem(tls: TlsOptions | undefined, now = Date.now()): string {
  if (tls?.cert === undefined) return 'the server requires a client certificate, and none was given (--cert, --key)';
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(tls.cert);
  } catch {
    return 'the server refused the client certificate';
  }
  const subject = oneLineName(leaf.subject);
  const notAfter = Date.parse(leaf.validTo);
  const notBefore = Date.parse(leaf.validFrom);
  if (notAfter < now) return `the server refused the client certificate (${subject}): it expired on ${new Date(notAfter).toISOString()}`;
  if (notBefore > now) return `the server refused the client certificate (${subject}): it is not valid before ${new Date(notBefore).toISOString()}`;
  return `the server refused the client certificate (${subject}, issued by ${oneLineName(leaf.issuer)}): it is not signed by a CA the server trusts, or it is revoked`;
}

/** The HTTP/2 client preface and an empty SETTINGS frame: an accepting server answers with its SETTINGS. */
const H2_HELLO = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]);

/** The alerts a server sends about the client's certificate (Go's texts, see base/tls-errors.ts). */
const CLIENT_CERT_ALERT = /^remote error: tls: (bad|unsupported|revoked|expired|unknown) certificate|^remote error: tls: (unknown certificate authority|certificate required)$/;

/** Reasons that already say what happened; anything else (a bare "Failed to connect") is worth a look. */
const SPECIFIC_REASON = /^(connection refused|no such host|no route to host|dial timeout|x509:|remote error:|tls:)/;

/**
 * Why connecting to `ep` failed: `reason` (grpc-js's, already in Go's words) when it says, with what the
 * client's own certificate tells when the server refused it; otherwise what one probing connection
 * finds out (see the module comment). Bounded by `timeoutMs`.
 */
export async function explainConnectFailure(ep: Endpoint, tls: TlsOptions | undefined, reason: string, timeoutMs: number): Promise<string> {
  if (usesTls(ep, tls) && CLIENT_CERT_ALERT.test(reason)) return `${reason}: ${clientCertificateProblem(tls)}`;
  if (SPECIFIC_REASON.test(reason)) return reason;
  return (await probe(ep, tls, timeoutMs)) ?? reason;
}

/** One connection with the client's settings; what it learns, or undefined. */
function probe(ep: Endpoint, tls: TlsOptions | undefined, timeoutMs: number): Promise<string | undefined> {
  const secure = usesTls(ep, tls);
  const settings = secure ? (tls ?? {}) : {};
  return new Promise((resolve) => {
    let handshakeDone = false;
    let settled = false;
    const finish = (why: string | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(why);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    const socket = tlsConnect({
      host: ep.address ?? ep.host,
      port: ep.port,
      ...(settings.ca !== undefined ? { ca: settings.ca } : {}),
      ...(settings.cert !== undefined && settings.key !== undefined ? { cert: settings.cert, key: settings.key } : {}),
      // No SNI for an IP address (RFC 6066), as Go's client does.
      ...(isIP(ep.host) === 0 ? { servername: settings.serverName ?? tlsHostName(ep) } : {}),
      ALPNProtocols: ['h2'],
      // Judged below, so that the reason can be told instead of a bare refusal.
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
    });
    socket.once('secureConnect', () => {
      handshakeDone = true;
      if (!secure) return finish(`the server speaks TLS: use https://${ep.target}, or give --cacert`);
      if (settings.insecureSkipVerify !== true) {
        if (!socket.authorized) {
          const code = String(socket.authorizationError);
          return finish(goTlsError(code) ?? code);
        }
        const nameError = checkServerName(settings.serverName ?? tlsHostName(ep), socket.getPeerCertificate());
        if (nameError !== undefined) return finish(nameError.message);
      }
      // In TLS 1.3 the server checks the client certificate after the client's handshake is over: ask
      // for its HTTP/2 SETTINGS to learn whether it kept the connection.
      socket.write(H2_HELLO);
      socket.once('data', () => finish(undefined));
      socket.once('end', () => finish(clientCertificateProblem(tls)));
    });
    socket.once('error', (err: Error) => {
      const go = goTlsError(err.message);
      if (!secure) return finish(undefined);
      if (go !== undefined && CLIENT_CERT_ALERT.test(go)) return finish(`${go}: ${clientCertificateProblem(tls)}`);
      if (go !== undefined) return finish(go);
      if (handshakeDone) return finish(clientCertificateProblem(tls));
      finish(undefined);
    });
    socket.once('close', () => finish(handshakeDone && secure ? clientCertificateProblem(tls) : undefined));
  });
}

/**
 * grpc-js sends the endpoint's host as the TLS server name even when it is an IP address, which Node
 * answers with a one-time DeprecationWarning (DEP0123) on stderr. Go's client sends no server name for an
 * IP address and etcdctl prints nothing; neither does kvctl: this one warning is dropped, every other one
 * goes through.
 */
let ipServerNameWarningQuiet = false;
export function quietIpServerNameWarning(): void {
  if (ipServerNameWarningQuiet) return;
  ipServerNameWarningQuiet = true;
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((...args: unknown[]) => {
    const [, typeOrOptions, code] = args;
    const warningCode = typeof typeOrOptions === 'object' && typeOrOptions !== null ? (typeOrOptions as { code?: unknown }).code : code;
    if (warningCode === 'DEP0123') return;
    emit(...args);
  }) as typeof process.emitWarning;
}
