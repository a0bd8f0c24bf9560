/**
 * The TLS material of the client listener (and, read once at start, of the peer transport): the files of
 * --cert-file, --key-file, --trusted-ca-file and --client-crl-file (or their --peer-* twins) read, checked,
 * and read again when they change.
 *
 * - `ServerTlsFiles.load(info)` reads every file and checks it the way Go's crypto/tls does before etcd
 *   serves: a certificate and a key that parse and belong together, a CA bundle with at least one
 *   certificate. Errors are ConfigErrors with Go's text where Go has one (`open ca.crt: no such file or
 *   directory`, `tls: private key does not match public key`), otherwise naming the flag and file.
 * - `current()` is what a TLS server is built from; `refresh()` re-reads the files when the content of
 *   any of them changed on disk, so that renewed certificates (and a new CRL) are used by new
 *   connections without a restart, as etcd does (it loads the pair and the CRL on every handshake).
 *   A change that does not load (a half-written file, a new key without its certificate yet) keeps the
 *   old material and is reported once per change through `onReloadError`.
 * - `revocation(serials)`: etcd's --client-crl-file check of a client's certificate chain.
 * - Client certificates are required when --trusted-ca-file or --client-cert-auth is given: etcd 3.4
 *   sets RequireAndVerifyClientCert for either. Only --client-cert-auth makes the certificate's CN the
 *   user of token-less requests (see auth-context.ts).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';

import { TlsFileError, checkCaBundle, checkKeyPair, normalizeSerial, readTlsFile, revokedSerials } from '../../base/node-tls-files.js';
import { ConfigError, type TlsInfo } from '../kvserver/config.js';

/** What the files give a listener: the secure context's options, and the serials --client-crl-file revokes. */
interface TlsMaterial {
  readonly options: PemOptions;
  readonly revoked: ReadonlySet<string>;
}

/** The PEM files of one side, read: what a TLS server (or a peer's TLS client) is built from. */
export type PemOptions = { cert: Buffer; key: Buffer; ca?: Buffer };

/** Which flags a TlsInfo came from (for messages). */
export type TlsSide = 'client' | 'peer';

/** The TLS material of one listener, checked (ConfigError with Go's message, or one naming flag and file). */
function loadMaterial(info: TlsInfo, side: TlsSide): TlsMaterial {
  const flag = (name: string) => `--${side === 'peer' ? 'peer-' : ''}${name}`;
  try {
    const cert = readTlsFile(info.certFile);
    const key = readTlsFile(info.keyFile);
    checkKeyPair(cert, key);
    const options: PemOptions = { cert, key };
    if (info.trustedCaFile !== '') {
      const ca = readTlsFile(info.trustedCaFile);
      checkCaBundle(ca, `${flag('trusted-ca-file')} ${info.trustedCaFile}`);
      options.ca = ca;
    }
    // The CRL is checked by the listener against each client's chain, as etcd's checkCRL does (serials
    // only), rather than by OpenSSL, which would also refuse every client once the CRL's nextUpdate passed.
    const revoked = info.crlFile !== '' ? revokedSerials(readTlsFile(info.crlFile), `${flag(side === 'peer' ? 'crl-file' : 'client-crl-file')} ${info.crlFile}`) : new Set<string>();
    // OpenSSL has the last word (a key type it does not take): build one context now so that such files
    // fail at startup, not on the first handshake.
    try {
      createSecureContext(options);
    } catch (err) {
      const files = [info.certFile, info.keyFile, info.trustedCaFile].filter((f) => f !== '').join(', ');
      throw new ConfigError(`${side} TLS files (${files}) cannot be used: ${(err as Error).message}`, { cause: err });
    }
    return { options, revoked };
  } catch (err) {
    if (err instanceof TlsFileError) throw new ConfigError(err.message, { cause: err });
    throw err;
  }
}

/**
 * A file's content, as a digest: any change of it means the file must be loaded again. The content, not
 * the mtime: a file rewritten within the clock's resolution, or copied with its times kept, still counts.
 * (Reading a few small files per new connection is what etcd does too, loading the pair per handshake.)
 */
function fileStamp(path: string): string {
  try {
    return createHash('sha256').update(readFileSync(path)).digest('hex');
  } catch {
    return 'unreadable';
  }
}

export class ServerTlsFiles {
  private material: TlsMaterial;
  private stamps: string;
  /** The stamps of a change that failed to load (reported once, retried when the files change again). */
  private failedStamps: string | undefined;

  private constructor(
    readonly info: TlsInfo,
    private readonly side: TlsSide,
    material: TlsMaterial,
    stamps: string,
  ) {
    this.material = material;
    this.stamps = stamps;
  }

  /** Reads and checks the files (ConfigError on the first problem); `side` names the flags in messages. */
  static load(info: TlsInfo, side: TlsSide = 'client'): ServerTlsFiles {
    const stamps = ServerTlsFiles.stampsOf(info);
    return new ServerTlsFiles(info, side, loadMaterial(info, side), stamps);
  }

  /** Whether connections must present a certificate that chains to the trusted CA (etcd: RequireAndVerifyClientCert). */
  get requireClientCert(): boolean {
    return this.info.trustedCaFile !== '' || this.info.clientCertAuth;
  }

  /** Whether a verified client certificate's CN names the user of token-less requests. */
  get clientCertAuth(): boolean {
    return this.info.clientCertAuth;
  }

  current(): PemOptions {
    return this.material.options;
  }

  /**
   * etcd's refusal of a client whose certificate chain holds a serial number that --client-crl-file
   * revokes (`transport: certificate serial <hex> revoked`), or undefined. `serials` as
   * X509Certificate.serialNumber gives them (hex).
   */
  revocation(serials: readonly string[]): string | undefined {
    for (const serial of serials) {
      const s = normalizeSerial(serial);
      // etcd prints the serial's big-endian bytes in hex: whole bytes, so an even number of digits.
      if (this.material.revoked.has(s)) return `transport: certificate serial ${(s.length % 2 === 1 ? `0${s}` : s).toLowerCase()} revoked`;
    }
    return undefined;
  }

  /**
   * True when a file changed since the last load and the new files loaded (they are in use from now on).
   * A change that fails to load is passed to `onReloadError` once and the old material stays in use.
   */
  refresh(onReloadError: (err: Error) => void): boolean {
    const stamps = ServerTlsFiles.stampsOf(this.info);
    if (stamps === this.stamps || stamps === this.failedStamps) return false;
    try {
      this.material = loadMaterial(this.info, this.side);
      this.stamps = stamps;
      this.failedStamps = undefined;
      return true;
    } catch (err) {
      this.failedStamps = stamps;
      onReloadError(err instanceof Error ? err : new Error(String(err)));
      return false;
    }
  }

  private static stampsOf(info: TlsInfo): string {
    return [info.certFile, info.keyFile, info.trustedCaFile, info.crlFile].map((f) => (f === '' ? '' : fileStamp(f))).join('|');
  }
}
