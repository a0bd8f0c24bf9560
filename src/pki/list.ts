/**
 * The inventory of a PKI directory: every `*.crt`, whether its key is there and belongs to it, whether the
 * directory's CA signed it, and what needs attention.
 */
import { type X509Certificate, createPrivateKey } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { PkiNotFoundError } from './errors.js';
import { exists, keyFileMode, readTextFile } from './files.js';
import { type CertificateInfo, describeCertificate, parseCertificates } from './inspect.js';
import { completePendingRenewals } from './issue.js';
import { caCertFile } from './names.js';

/** `match`: the key file holds this certificate's key; `mismatch`: another key (or unreadable); `missing`: no file. */
export type KeyState = 'match' | 'mismatch' | 'missing';

export type CertificateListEntry = {
  /** The stem: `infra0` for `infra0.crt`. */
  readonly name: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** Undefined when the file cannot be parsed (then `error` says why). */
  readonly certificate: CertificateInfo | undefined;
  readonly error: string | undefined;
  readonly key: KeyState;
  /**
   * Verifies against the directory's `ca.crt` (for `ca.crt` itself: it is self-signed); undefined when the
   * directory has no CA.
   */
  readonly signedByCa: boolean | undefined;
  /** The certificate's own warnings, plus key and CA problems. */
  readonly warnings: readonly string[];
};

async function keyState(cert: X509Certificate, keyFile: string): Promise<KeyState> {
  if (!(await exists(keyFile))) return 'missing';
  try {
    return cert.checkPrivateKey(createPrivateKey(await readTextFile(keyFile, 'key'))) ? 'match' : 'mismatch';
  } catch {
    return 'mismatch';
  }
}

/** A key readable by group or others deserves a warning: etcd itself does not check. */
async function keyModeWarning(keyFile: string): Promise<string[]> {
  try {
    const mode = (await stat(keyFile)).mode & 0o777;
    return (mode & 0o077) === 0 ? [] : [`key file ${keyFile} has mode 0${mode.toString(8)}: make it 0${keyFileMode.toString(8)} (chmod 600)`];
  } catch {
    return [];
  }
}

/** Lists every `*.crt` in `dir` (sorted by name, `ca` first), finishing interrupted renewals first. */
export async function listCertificates(dir: string, now: Date = new Date()): Promise<CertificateListEntry[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new PkiNotFoundError(`pki: the directory ${dir} does not exist: create a CA there with "kvctl cert ca init --dir ${dir}"`, { cause: err });
    }
    throw err;
  }
  if ((await completePendingRenewals(dir)).length > 0) names = await readdir(dir);
  const files = names.filter((f) => f.endsWith('.crt')).sort((a, b) => (a === caCertFile ? -1 : b === caCertFile ? 1 : a.localeCompare(b)));
  let ca: X509Certificate | undefined;
  if (files.includes(caCertFile)) {
    try {
      ca = parseCertificates(await readTextFile(join(dir, caCertFile), 'CA certificate'), join(dir, caCertFile))[0];
    } catch {
      ca = undefined;
    }
  }
  const entries: CertificateListEntry[] = [];
  for (const file of files) {
    const name = file.slice(0, -'.crt'.length);
    const certFile = join(dir, file);
    const keyFile = join(dir, `${name}.key`);
    let cert: X509Certificate | undefined;
    let error: string | undefined;
    try {
      cert = parseCertificates(await readTextFile(certFile, 'certificate'), certFile)[0];
    } catch (err) {
      error = (err as Error).message;
    }
    if (cert === undefined) {
      entries.push({ name, certFile, keyFile, certificate: undefined, error: error ?? `${certFile} holds no certificate`, key: 'missing', signedByCa: undefined, warnings: [] });
      continue;
    }
    const certificate = describeCertificate(cert, now);
    const key = await keyState(cert, keyFile);
    const signedByCa = ca === undefined ? undefined : cert.checkIssued(ca) && cert.verify(ca.publicKey);
    const warnings = [...certificate.warnings];
    if (key === 'missing') warnings.push(`no key file ${keyFile}`);
    if (key === 'mismatch') warnings.push(`${keyFile} is not the key of this certificate`);
    if (key !== 'missing') warnings.push(...(await keyModeWarning(keyFile)));
    if (signedByCa === false) warnings.push(`not signed by this directory's CA (issuer ${certificate.issuer})`);
    entries.push({ name, certFile, keyFile, certificate, error: undefined, key, signedByCa, warnings });
  }
  return entries;
}
