/**
 * Reading certificates back: what an operator needs to see (subject, SANs, issuer, lifetime, usages) and the
 * warnings that matter before 3 a.m. (expired, not yet valid, under 30 days left). Reads go through Node's
 * X509Certificate (OpenSSL), so any certificate can be inspected, whatever its key type or who made it.
 */
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';

import { PkiFormatError } from './errors.js';
import { readTextFile } from './files.js';
import { hostOf } from './names.js';
import { oneLineName, parseSubjectAltName } from '../base/node-x509.js';

export { type SubjectAltNames, oneLineName, parseSubjectAltName } from '../base/node-x509.js';

const dayMs = 86_400_000;

/** Below this many days left, inspect/list/check warn. */
export const expiryWarningDays = 30;

const oidServerAuth = '1.3.6.1.5.5.7.3.1';
const oidClientAuth = '1.3.6.1.5.5.7.3.2';
const ekuNames: Readonly<Record<string, string>> = {
  [oidServerAuth]: 'serverAuth',
  [oidClientAuth]: 'clientAuth',
  '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.4': 'emailProtection',
  '1.3.6.1.5.5.7.3.8': 'timeStamping',
  '1.3.6.1.5.5.7.3.9': 'OCSPSigning',
  '2.5.29.37.0': 'any',
};

/**
 * What a certificate is for, from its CA flag and extended key usages: `ca` signs certificates; `server`
 * (serverAuth) serves clients; `peer` (serverAuth + clientAuth) serves and dials other members; `client`
 * (clientAuth) dials only; `any` has no extended key usage (Go accepts it for every use); `other` is none of these.
 */
export type CertificateProfile = 'ca' | 'server' | 'peer' | 'client' | 'any' | 'other';

export type CertificateInfo = {
  /** The subject in one line, e.g. `CN=infra0`, attributes in certificate order. */
  readonly subject: string;
  /** The subject's common name (etcd's user name for client certificates), if it has one. */
  readonly commonName: string | undefined;
  readonly issuer: string;
  /** Upper-case hex, as openssl prints it without colons. */
  readonly serial: string;
  /** ISO 8601. */
  readonly notBefore: string;
  readonly notAfter: string;
  /** Whole days until notAfter, rounded down: 0 in the last day, -1 in the first day after expiry. */
  readonly daysLeft: number;
  /** IP address SANs, canonical (IPv6 compressed). */
  readonly ips: readonly string[];
  readonly dns: readonly string[];
  /** SANs of other kinds (email, URI, ...), as OpenSSL prints them. */
  readonly otherNames: readonly string[];
  /** True when the certificate has a subjectAltName extension at all (Go ignores the CN when it does not). */
  readonly hasSanExtension: boolean;
  /** Extended key usages by name (`serverAuth`, `clientAuth`) or OID when unnamed. */
  readonly extKeyUsage: readonly string[];
  readonly profile: CertificateProfile;
  readonly isCa: boolean;
  /** Issuer equals subject and its own key verifies its signature. */
  readonly selfSigned: boolean;
  readonly fingerprintSha256: string;
  /** Why an operator should look at it now: expired, not yet valid, fewer than 30 days left. */
  readonly warnings: readonly string[];
};

/** Every PEM certificate block in a text (a CA bundle may hold several), in order. */
export function splitPemCertificates(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

/** Parses every certificate in a PEM text; `where` names the source in errors. */
export function parseCertificates(text: string, where: string): X509Certificate[] {
  const blocks = splitPemCertificates(text);
  if (blocks.length === 0) throw new PkiFormatError(`pki: ${where} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      throw new PkiFormatError(`pki: certificate ${i + 1} in ${where} cannot be parsed: ${(err as Error).message}`, { cause: err });
    }
  });
}

/** Reads a PEM file (or takes a PEM text: anything containing `-----BEGIN`) and parses its certificates. */
export async function loadCertificates(pemOrPath: string): Promise<{ certs: X509Certificate[]; where: string }> {
  if (pemOrPath.includes('-----BEGIN')) return { certs: parseCertificates(pemOrPath, 'the PEM text'), where: 'the PEM text' };
  const text = await readTextFile(pemOrPath, 'certificate file');
  return { certs: parseCertificates(text, pemOrPath), where: pemOrPath };
}

/** The first value of a subject attribute, from Node's parsed form. */
function attribute(cert: X509Certificate, key: string): string | undefined {
  const subject = cert.toLegacyObject().subject as unknown as Record<string, string | string[] | undefined> | undefined;
  const value = subject?.[key];
  return Array.isArray(value) ? value[0] : value;
}

function profileOf(isCa: boolean, eku: readonly string[] | undefined): CertificateProfile {
  if (isCa) return 'ca';
  if (eku === undefined) return 'any';
  const server = eku.includes(oidServerAuth);
  const client = eku.includes(oidClientAuth);
  if (server && client) return 'peer';
  if (server) return 'server';
  if (client) return 'client';
  return 'other';
}

/** Date of an OpenSSL time text (`Nov 21 17:21:11 2026 GMT`). */
export function opensslDate(text: string): Date {
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) throw new PkiFormatError(`pki: cannot read the certificate date ${JSON.stringify(text)}`);
  return d;
}

/** Whole days from `now` until `until`, rounded down (negative once past). */
export function daysUntil(until: Date, now: Date): number {
  return Math.floor((until.getTime() - now.getTime()) / dayMs);
}

/** The expiry warnings for a lifetime, as of `now`. */
export function lifetimeWarnings(notBefore: Date, notAfter: Date, now: Date): string[] {
  if (now.getTime() > notAfter.getTime()) {
    const ago = Math.floor((now.getTime() - notAfter.getTime()) / dayMs);
    return [`expired on ${notAfter.toISOString()} (${ago === 0 ? 'less than a day ago' : `${ago} day${ago === 1 ? '' : 's'} ago`})`];
  }
  if (now.getTime() < notBefore.getTime()) return [`not valid yet: valid from ${notBefore.toISOString()}`];
  const left = daysUntil(notAfter, now);
  if (left < expiryWarningDays) return [`expires in ${left} day${left === 1 ? '' : 's'} (${notAfter.toISOString()}), under ${expiryWarningDays} days`];
  return [];
}

/** Everything {@link CertificateInfo} says about one parsed certificate, as of `now`. */
export function describeCertificate(cert: X509Certificate, now: Date = new Date()): CertificateInfo {
  const notBefore = opensslDate(cert.validFrom);
  const notAfter = opensslDate(cert.validTo);
  const sans = parseSubjectAltName(cert.subjectAltName);
  const eku = cert.keyUsage as string[] | undefined;
  // Not checkIssued: OpenSSL refuses a leaf as its own issuer when it lacks keyCertSign (etcd's auto-tls ones).
  const selfSigned = cert.subject === cert.issuer && cert.verify(cert.publicKey);
  return {
    subject: oneLineName(cert.subject),
    commonName: attribute(cert, 'CN'),
    issuer: oneLineName(cert.issuer),
    serial: cert.serialNumber.toUpperCase(),
    notBefore: notBefore.toISOString(),
    notAfter: notAfter.toISOString(),
    daysLeft: daysUntil(notAfter, now),
    ips: sans.ips,
    dns: sans.dns,
    otherNames: sans.other,
    hasSanExtension: cert.subjectAltName !== undefined,
    extKeyUsage: (eku ?? []).map((oid) => ekuNames[oid] ?? oid),
    profile: profileOf(cert.ca, eku),
    isCa: cert.ca,
    selfSigned,
    fingerprintSha256: cert.fingerprint256,
    warnings: lifetimeWarnings(notBefore, notAfter, now),
  };
}

/**
 * Inspects the first certificate in a PEM file or PEM text (the leaf, in a file that also holds its chain).
 * `now` is for tests and for asking "what will this look like in N days".
 */
export async function inspectCertificate(pemOrPath: string, now: Date = new Date()): Promise<CertificateInfo> {
  const { certs } = await loadCertificates(pemOrPath);
  const [first] = certs;
  if (first === undefined) throw new PkiFormatError('pki: no certificate to inspect');
  return describeCertificate(first, now);
}

/**
 * The hosts among `hostsOrUrls` (`host`, `host:port`, URLs) that the certificate does not cover, checked as Go
 * checks them: IP SANs for addresses, DNS SANs (with wildcards) for names, never the CN. Empty when all are
 * covered: what `kvctl member add --pki` needs to know before it adds a member with that certificate.
 */
export async function hostsNotCovered(pemOrPath: string, hostsOrUrls: readonly string[]): Promise<string[]> {
  const { certs } = await loadCertificates(pemOrPath);
  const [cert] = certs;
  if (cert === undefined) throw new PkiFormatError('pki: no certificate to check');
  return hostsOrUrls.map(hostOf).filter((host) => !(isIP(host) !== 0 ? cert.checkIP(host) !== undefined : cert.checkHost(host, { subject: 'never' }) !== undefined));
}
