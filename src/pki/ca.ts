/**
 * The certificate authority of a PKI directory: `ca.crt` (public) and `ca.key` (mode 0600) in a directory
 * created owner-only. kvctl never overwrites an existing CA: every certificate issued from it would stop
 * verifying.
 */
import { X509Certificate, createPrivateKey, randomBytes } from 'node:crypto';
import { join } from 'node:path';

import type forge from 'node-forge';

import { PkiExistsError, PkiFormatError, PkiMismatchError, PkiNotFoundError } from './errors.js';
import { certFileMode, ensureDir, exists, keyFileMode, readTextFile, writeNewFile } from './files.js';
import { type CertificateInfo, describeCertificate, parseCertificates } from './inspect.js';
import { caCertFile, caKeyFile, checkCommonName, checkDays } from './names.js';
import { type KeyMaterial, buildCertificate, forgeCertificateFromPem, generateRsaKey, keyFromPem } from './x509.js';

/** Ten years: a CA outlives many rotations of the certificates it signs. */
export const defaultCaDays = 3650;

export type InitCaOptions = {
  /** The CA's common name (default `kvctl CA <8 hex digits>`, unique so that two CAs are never confused). */
  readonly commonName?: string | undefined;
  readonly days?: number | undefined;
};

export type CaFiles = {
  readonly dir: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly certificate: CertificateInfo;
};

/** A loaded CA, ready to sign. */
export type LoadedCa = CaFiles & {
  readonly cert: X509Certificate;
  readonly forgeCert: forge.pki.Certificate;
  readonly key: KeyMaterial;
};

/** Creates `ca.crt` and `ca.key` in `dir` (created 0700 if missing); refuses when either exists. */
export async function initCa(dir: string, opts: InitCaOptions = {}): Promise<CaFiles> {
  const commonName = checkCommonName(opts.commonName ?? `kvctl CA ${randomBytes(4).toString('hex')}`);
  const days = checkDays(opts.days ?? defaultCaDays);
  const certFile = join(dir, caCertFile);
  const keyFile = join(dir, caKeyFile);
  const present = [];
  for (const file of [certFile, keyFile]) if (await exists(file)) present.push(file);
  if (present.length > 0) {
    throw new PkiExistsError(
      `pki: ${dir} already holds a CA (${present.join(' and ')} exist${present.length === 1 ? 's' : ''}); kvctl will not overwrite it, because every certificate it signed would stop verifying. Issue certificates from it with "kvctl cert issue --dir ${dir} ...", or give another --dir for a new CA${present.length === 1 ? ` (a lone ${present[0]} is left over from an interrupted init: remove it to start over)` : ''}`,
    );
  }
  await ensureDir(dir);
  const key = await generateRsaKey();
  const certPem = buildCertificate(
    { commonName, publicKey: key.publicKey, days, isCa: true, serverAuth: false, clientAuth: false, ips: [], dns: [] },
    { kind: 'self', key: key.privateKey },
  );
  // The key first: a ca.crt on disk always has its key beside it.
  await writeNewFile(keyFile, key.keyPem, keyFileMode);
  await writeNewFile(certFile, certPem, certFileMode);
  return { dir, certFile, keyFile, certificate: describeCertificate(new X509Certificate(certPem)) };
}

/** Loads the CA of `dir` and checks that its key belongs to its certificate and that it is a CA. */
export async function loadCa(dir: string): Promise<LoadedCa> {
  const certFile = join(dir, caCertFile);
  const keyFile = join(dir, caKeyFile);
  if (!(await exists(certFile))) {
    throw new PkiNotFoundError(`pki: no CA in ${dir} (${certFile} does not exist): create one with "kvctl cert ca init --dir ${dir}"`);
  }
  const certPem = await readTextFile(certFile, 'CA certificate');
  const [cert] = parseCertificates(certPem, certFile);
  if (cert === undefined) throw new PkiFormatError(`pki: ${certFile} holds no certificate`);
  if (!cert.ca) throw new PkiFormatError(`pki: ${certFile} is not a CA certificate (basicConstraints CA:FALSE)`);
  if (!(await exists(keyFile))) {
    throw new PkiNotFoundError(
      `pki: the CA key ${keyFile} does not exist: kvctl needs it to sign; copy it back, or create a new CA in another --dir with "kvctl cert ca init"`,
    );
  }
  const keyPem = await readTextFile(keyFile, 'CA key');
  const key = keyFromPem(keyPem, keyFile);
  if (!cert.checkPrivateKey(createPrivateKey(key.keyPem))) {
    throw new PkiMismatchError(`pki: ${keyFile} is not the key of ${certFile}: restore the matching pair`);
  }
  return { dir, certFile, keyFile, certificate: describeCertificate(cert), cert, forgeCert: forgeCertificateFromPem(certPem, certFile), key };
}
