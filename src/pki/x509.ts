/**
 * Building and signing X.509 certificates. node-forge encodes and signs them; Node's native crypto generates the
 * RSA keys (several times faster than forge, see shared/design/toolchain-probe.md section 5) and reads
 * certificates back (inspect.ts), so that kvctl can inspect any certificate, not only the RSA ones forge parses.
 *
 * What every certificate made here holds, and why:
 * - a random positive 128-bit serial (RFC 5280 asks for unpredictable serials of at most 20 bytes);
 * - a validity starting 5 minutes in the past, so that a member whose clock lags a little accepts it at once;
 * - subjectKeyIdentifier, and authorityKeyIdentifier naming the signer's key, so that chains build by key id;
 * - basicConstraints (critical): CA:true with pathlen 0 for the CA (it signs leaves only), CA:false for leaves;
 * - keyUsage (critical): keyCertSign + cRLSign for the CA, digitalSignature + keyEncipherment for leaves;
 * - extendedKeyUsage for leaves: serverAuth and/or clientAuth, which Go (etcd, etcdctl) checks.
 */
import { type KeyObject, createPrivateKey, generateKeyPair, randomBytes } from 'node:crypto';

import forge from 'node-forge';

import { PkiFormatError } from './errors.js';

export const rsaKeyBits = 2048;
const dayMs = 86_400_000;
/** How far notBefore is set in the past: tolerance for members whose clocks lag. */
export const backdateMs = 5 * 60_000;

/** A private key as written to `<name>.key` (PKCS#8 PEM) and in the form forge signs with. */
export type KeyMaterial = {
  readonly keyPem: string;
  readonly privateKey: forge.pki.rsa.PrivateKey;
  readonly publicKey: forge.pki.rsa.PublicKey;
};

/** A fresh RSA-2048 key from Node's native generator (it runs off the event loop). */
export function generateRsaKey(): Promise<KeyMaterial> {
  return new Promise((resolve, reject) => {
    generateKeyPair(
      'rsa',
      {
        modulusLength: rsaKeyBits,
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      },
      (err, _publicKey, privateKey) => {
        if (err) reject(err);
        else resolve(keyFromPem(privateKey, 'the generated key'));
      },
    );
  });
}

/** Reads a PEM private key for signing; forge signs with RSA keys only. */
export function keyFromPem(keyPem: string, where: string): KeyMaterial {
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new PkiFormatError(`pki: ${where} does not hold a PEM private key`, { cause: err });
  }
  if (key.asymmetricKeyType !== 'rsa') {
    throw new PkiFormatError(`pki: ${where} holds a ${key.asymmetricKeyType ?? 'unknown'} key; kvctl signs with RSA keys only`);
  }
  // Re-export as PKCS#8 so that forge reads PKCS#1 and PKCS#8 inputs alike.
  const pkcs8 = key.export({ type: 'pkcs8', format: 'pem' }).toString();
  const privateKey = forge.pki.privateKeyFromPem(pkcs8) as forge.pki.rsa.PrivateKey;
  return { keyPem: pkcs8, privateKey, publicKey: forge.pki.setRsaPublicKey(privateKey.n, privateKey.e) };
}

/** Who signs: a CA (its certificate and key), or the certificate's own key (self-signed). */
export type Signer =
  | { readonly kind: 'ca'; readonly cert: forge.pki.Certificate; readonly key: forge.pki.rsa.PrivateKey }
  | { readonly kind: 'self'; readonly key: forge.pki.rsa.PrivateKey };

export type CertificateTemplate = {
  readonly commonName: string;
  readonly organization?: string | undefined;
  readonly publicKey: forge.pki.rsa.PublicKey;
  readonly days: number;
  readonly isCa: boolean;
  readonly serverAuth: boolean;
  readonly clientAuth: boolean;
  /** Canonical IP address texts (names.ts). */
  readonly ips: readonly string[];
  readonly dns: readonly string[];
  /** The time the lifetime counts from (default now). */
  readonly now?: Date | undefined;
};

/** A random positive 128-bit serial as hex: the top bit clear (positive in DER), the top byte non-zero (16 bytes). */
export function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) || 0x01;
  return bytes.toString('hex');
}

/**
 * Subject attributes as UTF8String (forge's default, PrintableString, cannot hold a user name such as
 * `alice@example` or `zoë`); forge UTF-8-encodes the value itself.
 */
function subjectOf(t: CertificateTemplate): forge.pki.CertificateField[] {
  const attr = (name: string, value: string): forge.pki.CertificateField => ({
    name,
    value,
    // @types/node-forge declares this field as an asn1.Class; forge reads it as the universal tag (asn1.Type).
    valueTagClass: forge.asn1.Type.UTF8 as unknown as forge.asn1.Class,
  });
  return [...(t.organization === undefined ? [] : [attr('organizationName', t.organization)]), attr('commonName', t.commonName)];
}

/** The signer's key id, for authorityKeyIdentifier: its own subjectKeyIdentifier when it has one. */
function signerKeyId(cert: forge.pki.Certificate): string {
  const ext = cert.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | undefined;
  if (ext?.subjectKeyIdentifier !== undefined) return forge.util.hexToBytes(ext.subjectKeyIdentifier);
  return cert.generateSubjectKeyIdentifier().getBytes();
}

/** Builds and signs a certificate; returns it as PEM. */
export function buildCertificate(t: CertificateTemplate, signer: Signer): string {
  const cert = forge.pki.createCertificate();
  const now = (t.now ?? new Date()).getTime();
  cert.serialNumber = randomSerialHex();
  cert.validity.notBefore = new Date(now - backdateMs);
  cert.validity.notAfter = new Date(now + t.days * dayMs);
  cert.publicKey = t.publicKey;
  const subject = subjectOf(t);
  cert.setSubject(subject);
  cert.setIssuer(signer.kind === 'ca' ? signer.cert.subject.attributes : subject);

  const extensions: object[] = [
    t.isCa
      ? { name: 'basicConstraints', critical: true, cA: true, pathLenConstraint: 0 }
      : { name: 'basicConstraints', critical: true, cA: false },
    t.isCa
      ? { name: 'keyUsage', critical: true, keyCertSign: true, cRLSign: true, digitalSignature: true }
      : { name: 'keyUsage', critical: true, digitalSignature: true, keyEncipherment: true },
  ];
  if (t.serverAuth || t.clientAuth) {
    extensions.push({ name: 'extKeyUsage', ...(t.serverAuth ? { serverAuth: true } : {}), ...(t.clientAuth ? { clientAuth: true } : {}) });
  }
  if (t.ips.length + t.dns.length > 0) {
    extensions.push({
      name: 'subjectAltName',
      altNames: [...t.dns.map((value) => ({ type: 2, value })), ...t.ips.map((ip) => ({ type: 7, ip }))],
    });
  }
  extensions.push({ name: 'subjectKeyIdentifier' });
  const authorityKeyId = signer.kind === 'ca' ? signerKeyId(signer.cert) : cert.generateSubjectKeyIdentifier().getBytes();
  extensions.push({ name: 'authorityKeyIdentifier', keyIdentifier: authorityKeyId });
  cert.setExtensions(extensions);

  cert.sign(signer.key, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

/** A CA certificate in the form forge signs with; forge reads RSA certificates only. */
export function forgeCertificateFromPem(pem: string, where: string): forge.pki.Certificate {
  try {
    return forge.pki.certificateFromPem(pem);
  } catch (err) {
    throw new PkiFormatError(`pki: ${where} is not an RSA certificate kvctl can sign with (${(err as Error).message})`, { cause: err });
  }
}
