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

/** One DER element: its tag, and where its content starts and ends in the buffer. */
type Der = { tag: number; start: number; end: number };

/** Reads the DER element at `pos` (definite lengths only, as DER requires). */
function derAt(buf: Buffer, pos: number, limit: number): Der {
  if (pos + 2 > limit) throw new TlsFileError('truncated DER');
  const tag = buf[pos] as number;
  let len = buf[pos + 1] as number;
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > limit) throw new TlsFileError('bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[start + i] as number);
    start += n;
  }
  if (start + len > limit) throw new TlsFileError('truncated DER');
  return { tag, start, end: start + len };
}

/** The children of a constructed DER element. */
function derChildren(buf: Buffer, parent: Der): Der[] {
  const out: Der[] = [];
  for (let pos = parent.start; pos < parent.end; ) {
    const el = derAt(buf, pos, parent.end);
    out.push(el);
    pos = el.end;
  }
  return out;
}

/** A certificate serial number as upper-case hex without leading zeros (X509Certificate.serialNumber's form). */
export function normalizeSerial(hex: string): string {
  return hex.toUpperCase().replace(/^0+(?=.)/, '');
}

const DER_INTEGER = 0x02;
const DER_SEQUENCE = 0x30;
const DER_UTC_TIME = 0x17;
const DER_GENERALIZED_TIME = 0x18;

/**
 * The serial numbers a PEM CRL revokes (RFC 5280 5.1), normalized (see normalizeSerial). As etcd's
 * checkCRL, it reads the list only: the CRL's signature and dates are not checked. `what` names the file
 * in errors.
 */
export function revokedSerials(crlPem: Buffer, what: string): Set<string> {
  const blocks = [...crlPem.toString('latin1').matchAll(/-----BEGIN X509 CRL-----([\s\S]*?)-----END X509 CRL-----/g)];
  if (blocks.length === 0) throw new TlsFileError(`${what}: no PEM CRL found`);
  const serials = new Set<string>();
  for (const block of blocks) {
    const der = Buffer.from((block[1] ?? '').replace(/\s+/g, ''), 'base64');
    try {
      const list = derAt(der, 0, der.length);
      const tbs = derChildren(der, list)[0];
      if (list.tag !== DER_SEQUENCE || tbs === undefined || tbs.tag !== DER_SEQUENCE) throw new TlsFileError('not a CertificateList');
      const fields = derChildren(der, tbs);
      let i = 0;
      if (fields[i]?.tag === DER_INTEGER) i++; // version
      i += 2; // signature algorithm, issuer
      const isTime = (el: Der | undefined) => el !== undefined && (el.tag === DER_UTC_TIME || el.tag === DER_GENERALIZED_TIME);
      if (!isTime(fields[i])) throw new TlsFileError('no thisUpdate');
      i++;
      if (isTime(fields[i])) i++; // nextUpdate
      const revoked = fields[i];
      if (revoked === undefined || revoked.tag !== DER_SEQUENCE) continue; // no revoked certificates
      for (const entry of derChildren(der, revoked)) {
        const serial = derChildren(der, entry)[0];
        if (serial === undefined || serial.tag !== DER_INTEGER) throw new TlsFileError('revoked entry without a serial number');
        serials.add(normalizeSerial(der.subarray(serial.start, serial.end).toString('hex')));
      }
    } catch (err) {
      if (err instanceof TlsFileError) throw new TlsFileError(`${what}: malformed CRL (${err.message})`, { cause: err });
      throw err;
    }
  }
  return serials;
}
