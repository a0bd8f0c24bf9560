/**
 * Reading the PEM files of a TLS configuration (certificate, key, CA bundle) with Go's checks and Go's
 * messages, as etcd and etcdctl report them (crypto/tls X509KeyPair, os.Open), so that a wrong file fails
 * before any connection is made and says which file and what is wrong with it:
 *
 *   open ca.crt: no such file or directory
 *   tls: private key does not match public key
 *   tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched
 *
 * Shared by the client (etcdctl's --cacert/--cert/--key) and the node (--cert-file/--key-file/--trusted-ca-file).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { KvError } from './errors.js';

export class TlsFileError extends KvError {
  readonly code = 'TLS_FILE_INVALID';
}

/** What Go's os package says for an errno (the tail of `open <path>: ...`). */
const ERRNO_TEXT: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'not a directory',
  ELOOP: 'too many levels of symbolic links',
};

/** Reads a TLS file; a failure reads as Go's `open <path>: <reason>` (`read <path>: is a directory`). */
export function readTlsFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EISDIR') throw new TlsFileError(`read ${path}: is a directory`, { cause: err });
    throw new TlsFileError(`open ${path}: ${ERRNO_TEXT[e.code ?? ''] ?? e.message}`, { cause: err });
  }
}

/** The types of the PEM blocks in `pem`, in order (`CERTIFICATE`, `PRIVATE KEY`, `EC PRIVATE KEY`, ...). */
function pemBlockTypes(pem: Buffer): string[] {
  return [...pem.toString('latin1').matchAll(/-----BEGIN ([A-Z0-9 ]+)-----/g)].map((m) => m[1] as string);
}

/** The PEM blocks of type `type`, each with its armour. */
function pemBlocks(pem: Buffer, type: string): string[] {
  const re = new RegExp(`-----BEGIN ${type}-----[\\s\\S]*?-----END ${type}-----`, 'g');
  return pem.toString('latin1').match(re) ?? [];
}

/**
 * Go's tls.X509KeyPair checks on a certificate (chain) and its key, with its messages. Returns the
 * leaf certificate.
 */
export function checkKeyPair(certPem: Buffer, keyPem: Buffer): X509Certificate {
  const certTypes = pemBlockTypes(certPem);
  if (!certTypes.includes('CERTIFICATE')) {
    if (certTypes.some((t) => t.endsWith('PRIVATE KEY'))) {
      throw new TlsFileError(
        'tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched',
      );
    }
    throw new TlsFileError('tls: failed to find any PEM data in certificate input');
  }
  const keyTypes = pemBlockTypes(keyPem);
  const keyType = keyTypes.find((t) => t.endsWith('PRIVATE KEY'));
  if (keyType === undefined) {
    if (keyTypes.length === 0) throw new TlsFileError('tls: failed to find any PEM data in key input');
    if (keyTypes.includes('CERTIFICATE')) throw new TlsFileError('tls: found a certificate rather than a key in the PEM for the private key');
    throw new TlsFileError(
      `tls: failed to find PEM block with type ending in "PRIVATE KEY" in key input after skipping PEM blocks of the following types: [${keyTypes.join(' ')}]`,
    );
  }
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(pemBlocks(certPem, 'CERTIFICATE')[0] as string);
  } catch (err) {
    throw new TlsFileError(`x509: malformed certificate (${(err as Error).message})`, { cause: err });
  }
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(pemBlocks(keyPem, keyType)[0] as string);
  } catch (err) {
    throw new TlsFileError('tls: failed to parse private key', { cause: err });
  }
  if (!leaf.checkPrivateKey(key)) throw new TlsFileError('tls: private key does not match public key');
  return leaf;
}

/**
 * Checks a CA bundle: at least one certificate, each one parseable. `what` names the file in the message
 * (e.g. `--cacert ca.pem`): Go would take an empty bundle silently and then trust nothing.
 */
export function checkCaBundle(pem: Buffer, what: string): X509Certificate[] {
  const blocks = pemBlocks(pem, 'CERTIFICATE');
  if (blocks.length === 0) throw new TlsFileError(`${what}: no PEM certificate found`);
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      throw new TlsFileError(`${what}: certificate ${i + 1} is malformed (${(err as Error).message})`, { cause: err });
    }
  });
}
