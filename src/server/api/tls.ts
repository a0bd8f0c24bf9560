/**
 * The client listener's TLS material: the files of --cert-file, --key-file, --trusted-ca-file and
 * --client-crl-file read, checked, and read again when they change.
 *
 * - `ServerTlsFiles.load(info)` reads every file and checks it the way Go's crypto/tls does before etcd
 *   serves: a certificate and a key that parse and belong together, a CA bundle with at least one
 *   certificate. Errors are ConfigErrors with Go's text where Go has one (`open ca.crt: no such file or
 *   directory`, `tls: private key does not match public key`), otherwise naming the flag and file.
 * - `current()` is what a TLS server is built from; `refreshed()` re-reads the files when any of them
 *   changed on disk (size, mtime or inode) and returns the new options, so that renewed certificates are
 *   used by new connections without a restart, as etcd does (it loads the pair on every handshake).
 *   A change that does not load (a half-written file, a new key without its certificate yet) keeps the
 *   old material and is reported once per change through `onReloadError`.
 * - Client certificates are required when --trusted-ca-file or --client-cert-auth is given: etcd 3.4
 *   sets RequireAndVerifyClientCert for either. Only --client-cert-auth makes the certificate's CN the
 *   user of token-less requests (see auth-context.ts).
 */
import { statSync } from 'node:fs';
import { type SecureContextOptions, createSecureContext } from 'node:tls';

import { TlsFileError, checkCaBundle, checkKeyPair, readTlsFile } from '../../base/node-tls-files.js';
import { ConfigError, type TlsInfo } from '../kvserver/config.js';

/** The TLS options of one listener, checked (ConfigError with Go's message, or one naming flag and file). */
function loadOptions(info: TlsInfo): SecureContextOptions {
  try {
    const cert = readTlsFile(info.certFile);
    const key = readTlsFile(info.keyFile);
    checkKeyPair(cert, key);
    const options: SecureContextOptions = { cert, key };
    if (info.trustedCaFile !== '') {
      const ca = readTlsFile(info.trustedCaFile);
      checkCaBundle(ca, `--trusted-ca-file ${info.trustedCaFile}`);
      options.ca = ca;
    }
    if (info.crlFile !== '') {
      const crl = readTlsFile(info.crlFile);
      if (!/-----BEGIN X509 CRL-----/.test(crl.toString('latin1'))) {
        throw new ConfigError(`--client-crl-file ${info.crlFile}: no PEM CRL found`);
      }
      options.crl = crl;
    }
    // OpenSSL has the last word (a key type it does not take, a CRL it cannot parse): build one context
    // now so that such files fail at startup, not on the first handshake.
    try {
      createSecureContext(options);
    } catch (err) {
      const files = [info.certFile, info.keyFile, info.trustedCaFile, info.crlFile].filter((f) => f !== '').join(', ');
      throw new ConfigError(`client TLS files (${files}) cannot be used: ${(err as Error).message}`, { cause: err });
    }
    return options;
  } catch (err) {
    if (err instanceof TlsFileError) throw new ConfigError(err.message, { cause: err });
    throw err;
  }
}

/** A file's identity on disk: any change of it means the file must be read again. */
function fileStamp(path: string): string {
  try {
    const s = statSync(path);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

export class ServerTlsFiles {
  private options: SecureContextOptions;
  private stamps: string;
  /** The stamps of a change that failed to load (reported once, retried when the files change again). */
  private failedStamps: string | undefined;

  private constructor(
    readonly info: TlsInfo,
    options: SecureContextOptions,
    stamps: string,
  ) {
    this.options = options;
    this.stamps = stamps;
  }

  /** Reads and checks the files (ConfigError on the first problem). */
  static load(info: TlsInfo): ServerTlsFiles {
    const stamps = ServerTlsFiles.stampsOf(info);
    return new ServerTlsFiles(info, loadOptions(info), stamps);
  }

  /** Whether connections must present a certificate that chains to the trusted CA (etcd: RequireAndVerifyClientCert). */
  get requireClientCert(): boolean {
    return this.info.trustedCaFile !== '' || this.info.clientCertAuth;
  }

  /** Whether a verified client certificate's CN names the user of token-less requests. */
  get clientCertAuth(): boolean {
    return this.info.clientCertAuth;
  }

  current(): SecureContextOptions {
    return this.options;
  }

  /**
   * New options when a file changed since the last load and the new files load; undefined otherwise.
   * A change that fails to load is passed to `onReloadError` once and the old options stay in use.
   */
  refreshed(onReloadError: (err: Error) => void): SecureContextOptions | undefined {
    const stamps = ServerTlsFiles.stampsOf(this.info);
    if (stamps === this.stamps || stamps === this.failedStamps) return undefined;
    try {
      this.options = loadOptions(this.info);
      this.stamps = stamps;
      this.failedStamps = undefined;
      return this.options;
    } catch (err) {
      this.failedStamps = stamps;
      onReloadError(err instanceof Error ? err : new Error(String(err)));
      return undefined;
    }
  }

  private static stampsOf(info: TlsInfo): string {
    return [info.certFile, info.keyFile, info.trustedCaFile, info.crlFile].map((f) => (f === '' ? '' : fileStamp(f))).join('|');
  }
}
