/**
 * Issuing and renewing the certificates of a PKI directory (`<name>.crt`, `<name>.key` beside the CA), and the
 * self-signed certificates of etcd's `--auto-tls`.
 *
 * Profiles and what etcd needs of them:
 * - server: serverAuth. A member's client listener (`--cert-file`).
 * - peer: serverAuth + clientAuth. A member's peer listener, which also dials the other members with it
 *   (`--peer-cert-file`).
 * - client: clientAuth; the CN is the user name etcd's CN-based authentication uses.
 * Server and peer certificates need at least one SAN: clients check the address they dial against the SANs only.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readdir, rename, unlink } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';

import { PkiExistsError, PkiFormatError, PkiInputError, PkiMismatchError, PkiNotFoundError } from './errors.js';
import { certFileMode, ensureDir, exists, keyFileMode, readTextFile, replaceFile, writeNewFile } from './files.js';
import { syncDir } from '../base/node-fs.js';
import { loadCa, type LoadedCa } from './ca.js';
import { type CertificateInfo, describeCertificate, hostsNotCovered, oneLineName, opensslDate, parseCertificates } from './inspect.js';
import {
  type Profile,
  canonicalIp,
  checkCommonName,
  checkDays,
  checkDnsName,
  checkName,
  checkProfile,
  hostOf,
  unique,
} from './names.js';
import { backdateMs, buildCertificate, generateRsaKey } from './x509.js';

const dayMs = 86_400_000;

/** A year: the lifetime of an issued certificate unless told otherwise (and of etcd's auto-tls certificates). */
export const defaultCertDays = 365;

/** Suffix of the files a renewal writes before moving them into place (see {@link renewCertificate}). */
const renewSuffix = '.renew';

export type IssueOptions = {
  readonly profile: Profile | string;
  /** File name stem: `<name>.crt`, `<name>.key`. Also the CN unless `commonName` is given. */
  readonly name: string;
  readonly ips?: readonly string[] | undefined;
  readonly dns?: readonly string[] | undefined;
  /** Lifetime in days (default 365). */
  readonly days?: number | undefined;
  /** The subject CN (default: the name). For a client certificate, the etcd user name. */
  readonly commonName?: string | undefined;
};

export type IssuedCertificate = {
  readonly name: string;
  readonly profile: Profile;
  readonly certFile: string;
  readonly keyFile: string;
  readonly certificate: CertificateInfo;
};

export type RenewedCertificate = IssuedCertificate & {
  /** The certificate that was replaced. */
  readonly previous: CertificateInfo;
};

/** The validated content of a certificate to issue. */
type Request = {
  readonly name: string;
  readonly profile: Profile;
  readonly commonName: string;
  readonly ips: readonly string[];
  readonly dns: readonly string[];
  readonly days: number;
};

function usagesOf(profile: Profile): { serverAuth: boolean; clientAuth: boolean } {
  return { serverAuth: profile !== 'client', clientAuth: profile !== 'server' };
}

function checkRequest(opts: IssueOptions): Request {
  const name = checkName(opts.name);
  const profile = checkProfile(opts.profile);
  const ips = unique((opts.ips ?? []).map(canonicalIp));
  const dns = unique((opts.dns ?? []).map(checkDnsName));
  const days = checkDays(opts.days ?? defaultCertDays);
  const commonName = checkCommonName(opts.commonName ?? name);
  if (profile !== 'client' && ips.length + dns.length === 0) {
    throw new PkiInputError(
      `pki: a ${profile} certificate needs at least one --ip or --dns: clients accept it only for the addresses and names it lists (give every address the member is reached at, e.g. --ip 10.0.0.1 --dns infra0.example.com)`,
    );
  }
  return { name, profile, commonName, ips, dns, days };
}

/** Refuses a lifetime that ends after the CA's: the certificate would stop verifying when the CA expires. */
function checkWithinCa(ca: LoadedCa, days: number, now: Date): void {
  const caEnd = new Date(ca.certificate.notAfter);
  if (now.getTime() + days * dayMs > caEnd.getTime()) {
    const left = Math.max(0, Math.floor((caEnd.getTime() - now.getTime()) / dayMs));
    throw new PkiInputError(
      `pki: ${days} days would outlive the CA (${ca.certFile} expires on ${ca.certificate.notAfter}, in ${left} days): give --days ${left} or less, or create a new CA`,
    );
  }
}

async function signRequest(ca: LoadedCa, req: Request): Promise<{ certPem: string; keyPem: string }> {
  const key = await generateRsaKey();
  const certPem = buildCertificate(
    { commonName: req.commonName, publicKey: key.publicKey, days: req.days, isCa: false, ...usagesOf(req.profile), ips: req.ips, dns: req.dns },
    { kind: 'ca', cert: ca.forgeCert, key: ca.key.privateKey },
  );
  return { certPem, keyPem: key.keyPem };
}

/**
 * Issues `<name>.crt` and `<name>.key` in `dir`, signed by its CA. Refuses to replace an existing certificate or
 * key (renew it instead). The key is written first, so that a certificate on disk always has its key.
 */
export async function issueCertificate(dir: string, opts: IssueOptions): Promise<IssuedCertificate> {
  const req = checkRequest(opts);
  await completePendingRenewals(dir);
  const ca = await loadCa(dir);
  checkWithinCa(ca, req.days, new Date());
  const certFile = join(dir, `${req.name}.crt`);
  const keyFile = join(dir, `${req.name}.key`);
  if (await exists(certFile)) {
    throw new PkiExistsError(
      `pki: ${certFile} already exists: renew it with "kvctl cert renew --dir ${dir} --name ${req.name}", or remove ${certFile} and ${keyFile} to issue it anew`,
    );
  }
  if (await exists(keyFile)) {
    throw new PkiExistsError(
      `pki: ${keyFile} already exists without ${certFile} (left over from an interrupted issue?): remove it, or choose another --name`,
    );
  }
  const { certPem, keyPem } = await signRequest(ca, req);
  await writeNewFile(keyFile, keyPem, keyFileMode);
  try {
    await writeNewFile(certFile, certPem, certFileMode);
  } catch (err) {
    await unlink(keyFile).catch(() => {});
    throw err;
  }
  return { name: req.name, profile: req.profile, certFile, keyFile, certificate: describeCertificate(new X509Certificate(certPem)) };
}

export type MemberCertificateOptions = {
  /** The member name: `<name>.crt` (server) and `<name>-peer.crt` (peer). */
  readonly name: string;
  readonly ips?: readonly string[] | undefined;
  readonly dns?: readonly string[] | undefined;
  readonly days?: number | undefined;
};

export type MemberCertificates = { readonly server: IssuedCertificate; readonly peer: IssuedCertificate };

/** The file stem of a member's peer certificate. */
export function peerCertificateName(member: string): string {
  return `${member}-peer`;
}

/**
 * The two certificates a member needs, in one step, with the same SANs: `<name>` (server profile, for its client
 * listener: --cert-file/--key-file) and `<name>-peer` (peer profile: --peer-cert-file/--peer-key-file). Both names
 * are checked free before anything is written, and if the second cannot be issued the first is removed again, so
 * a member never gets half its certificates.
 */
export async function issueMemberCertificates(dir: string, opts: MemberCertificateOptions): Promise<MemberCertificates> {
  const peerName = peerCertificateName(checkName(opts.name));
  const common = { ips: opts.ips, dns: opts.dns, days: opts.days };
  // Validate both requests (and the CA) before the first key is generated.
  checkRequest({ profile: 'server', name: opts.name, ...common });
  checkRequest({ profile: 'peer', name: peerName, ...common });
  for (const stem of [opts.name, peerName]) {
    for (const ext of ['crt', 'key']) {
      const path = join(dir, `${stem}.${ext}`);
      if (await exists(path)) {
        throw new PkiExistsError(`pki: ${path} already exists: member ${opts.name} already has certificates; renew them with "kvctl cert renew --dir ${dir} --name ${stem}"`);
      }
    }
  }
  const server = await issueCertificate(dir, { profile: 'server', name: opts.name, ...common });
  try {
    const peer = await issueCertificate(dir, { profile: 'peer', name: peerName, ...common });
    return { server, peer };
  } catch (err) {
    await unlink(server.certFile).catch(() => {});
    await unlink(server.keyFile).catch(() => {});
    throw err;
  }
}

/** The profile a certificate was issued with, from its extended key usages; only kvctl's three can be renewed. */
function renewableProfile(info: CertificateInfo, certFile: string): Profile {
  if (info.profile === 'server' || info.profile === 'peer' || info.profile === 'client') return info.profile;
  throw new PkiFormatError(
    `pki: ${certFile} is a${info.profile === 'ca' ? ' CA' : info.profile === 'any' ? ' certificate without extended key usages' : 'n unrecognised'} certificate, not a server, peer or client one: kvctl renews only those`,
  );
}

/**
 * Re-issues `<name>.crt` with the same subject CN, SANs (unless `hosts` gives new ones) and profile, a new key
 * and serial, signed by the dir's CA; `days` defaults to the old certificate's lifetime.
 *
 * Crash safety: the new key and certificate are first written complete to `<name>.key.renew` and
 * `<name>.crt.renew` (each synced, in that order), then renamed over the old ones (key, then certificate). Until
 * the first rename the old pair is untouched. A crash between the two renames leaves the new key beside
 * `<name>.crt.renew`; the next kvctl cert command on the directory (issue, renew, list) finishes the renewal
 * ({@link completePendingRenewals}) before doing anything else, so the pair it sees always matches.
 */
export async function renewCertificate(
  dir: string,
  name: string,
  opts: { days?: number | undefined; hosts?: readonly string[] | undefined } = {},
): Promise<RenewedCertificate> {
  checkName(name);
  await completePendingRenewals(dir);
  const ca = await loadCa(dir);
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  if (!(await exists(certFile))) {
    throw new PkiNotFoundError(`pki: ${certFile} does not exist: nothing to renew; issue it with "kvctl cert issue --dir ${dir} --name ${name} ..."`);
  }
  const [old] = parseCertificates(await readTextFile(certFile, 'certificate'), certFile);
  if (old === undefined) throw new PkiFormatError(`pki: ${certFile} holds no certificate`);
  if (!(old.checkIssued(ca.cert) && old.verify(ca.cert.publicKey))) {
    throw new PkiMismatchError(
      `pki: ${certFile} was not signed by the CA of ${dir} (it was issued by ${ca.certificate.subject === oneLineName(old.issuer) ? 'another CA with the same name' : oneLineName(old.issuer)}, the CA is ${ca.certificate.subject}): kvctl renews only what this CA issued; issue a new certificate instead`,
    );
  }
  const previous = describeCertificate(old);
  const profile = renewableProfile(previous, certFile);
  if (previous.otherNames.length > 0) {
    throw new PkiFormatError(`pki: ${certFile} has SANs kvctl does not issue (${previous.otherNames.join(', ')}): renewing would drop them`);
  }
  const lifetimeDays = Math.round(
    (opensslDate(old.validTo).getTime() - opensslDate(old.validFrom).getTime() - backdateMs) / dayMs,
  );
  const days = checkDays(opts.days ?? Math.max(1, lifetimeDays));
  // `hosts` replaces the SANs (a member moved to another host); without it the certificate keeps its own.
  const ips = opts.hosts !== undefined ? opts.hosts.filter((h) => isIP(h) !== 0) : previous.ips;
  const dns = opts.hosts !== undefined ? opts.hosts.filter((h) => isIP(h) === 0) : previous.dns;
  const req: Request = { name, profile, commonName: previous.commonName ?? name, ips, dns, days };
  checkWithinCa(ca, days, new Date());
  const { certPem, keyPem } = await signRequest(ca, req);

  await replaceFile(keyFile + renewSuffix, keyPem, keyFileMode);
  await replaceFile(certFile + renewSuffix, certPem, certFileMode);
  await rename(keyFile + renewSuffix, keyFile);
  await rename(certFile + renewSuffix, certFile);
  await syncDir(dir);
  return { name, profile, certFile, keyFile, certificate: describeCertificate(new X509Certificate(certPem)), previous };
}

/** Does the PEM certificate in `certPath` belong to the PEM key in `keyPath`? False when either is unreadable. */
export async function keyMatchesCertificate(certPath: string, keyPath: string): Promise<boolean> {
  try {
    const [cert] = parseCertificates(await readTextFile(certPath, 'certificate'), certPath);
    return cert !== undefined && cert.checkPrivateKey(createPrivateKey(await readTextFile(keyPath, 'key')));
  } catch {
    return false;
  }
}

/**
 * Finishes or discards renewals a crash interrupted (see {@link renewCertificate}); returns the names whose new
 * pair was moved into place.
 * - `<name>.crt.renew` present: the new key is complete (written first), in `<name>.key.renew` or already in
 *   `<name>.key`; when it matches, the renewal is rolled forward.
 * - only `<name>.key.renew`: the crash came before the new certificate was complete; the old pair is intact and
 *   the orphan key is removed.
 */
export async function completePendingRenewals(dir: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const completed: string[] = [];
  const present = new Set(entries);
  for (const entry of entries) {
    const match = /^(.+)\.crt\.renew$/.exec(entry);
    if (match === null) continue;
    const name = match[1] ?? '';
    const certFile = join(dir, `${name}.crt`);
    const keyFile = join(dir, `${name}.key`);
    const certRenew = certFile + renewSuffix;
    const keyRenew = keyFile + renewSuffix;
    const keyHalf = present.has(`${name}.key${renewSuffix}`) ? keyRenew : keyFile;
    if (await keyMatchesCertificate(certRenew, keyHalf)) {
      if (keyHalf === keyRenew) await rename(keyRenew, keyFile);
      await rename(certRenew, certFile);
      completed.push(name);
    } else {
      // Not a pair kvctl wrote (or unreadable): a person has to look; never guess with key material.
      throw new PkiMismatchError(
        `pki: ${certRenew} is left from an interrupted renewal but does not match ${keyHalf}: check both files, then remove ${certRenew}${keyHalf === keyRenew ? ` and ${keyRenew}` : ''} and renew again`,
      );
    }
    present.delete(`${name}.key${renewSuffix}`);
  }
  for (const entry of present) {
    if (entry.endsWith(`.key${renewSuffix}`) && !present.has(entry.replace(/\.key\.renew$/, `.crt${renewSuffix}`))) {
      await unlink(join(dir, entry)).catch(() => {});
    }
  }
  if (completed.length > 0 || entries.some((e) => e.endsWith(renewSuffix))) await syncDir(dir);
  return completed;
}

export type SelfSignedOptions = {
  /** Host names or addresses the certificate is for, as etcd's --auto-tls takes them (`host`, `host:port`, URLs). */
  readonly hosts: readonly string[];
  readonly days?: number | undefined;
};

/**
 * A self-signed certificate and key for etcd's `--auto-tls` / `--peer-auto-tls`: IP SANs for the addresses among
 * `hosts`, DNS SANs for the names, serverAuth + clientAuth (a member serves and dials with it). Nothing is written.
 * Peers accept such certificates without verifying them, as etcd does with auto TLS.
 */
export async function selfSignedCertificate(opts: SelfSignedOptions): Promise<{ certPem: string; keyPem: string }> {
  const days = checkDays(opts.days ?? defaultCertDays);
  const ips: string[] = [];
  const dns: string[] = [];
  for (const value of opts.hosts) {
    const host = hostOf(value.trim());
    if (host === '') throw new PkiInputError(`pki: no host in ${JSON.stringify(value)}`);
    if (isIP(host) !== 0) ips.push(canonicalIp(host));
    else dns.push(checkDnsName(host));
  }
  if (ips.length + dns.length === 0) throw new PkiInputError('pki: a self-signed certificate needs at least one host');
  const key = await generateRsaKey();
  const certPem = buildCertificate(
    {
      commonName: 'kvctl auto-tls',
      organization: 'kvctl',
      publicKey: key.publicKey,
      days,
      isCa: false,
      serverAuth: true,
      clientAuth: true,
      ips: unique(ips),
      dns: unique(dns),
    },
    { kind: 'self', key: key.privateKey },
  );
  return { certPem, keyPem: key.keyPem };
}

/**
 * etcd's auto-TLS files: `cert.pem` and `key.pem` in `dir` (created owner-only), made by
 * selfSignedCertificate unless both are there already (then kept: a member keeps its certificate across
 * restarts). Each file is written whole, synced, key first, so that both present means a complete pair.
 */
export async function ensureSelfSignedPair(dir: string, opts: SelfSignedOptions): Promise<{ certFile: string; keyFile: string; created: boolean }> {
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  if ((await exists(certFile)) && (await exists(keyFile))) return { certFile, keyFile, created: false };
  const { certPem, keyPem } = await selfSignedCertificate(opts);
  await ensureDir(dir);
  await replaceFile(keyFile, keyPem, keyFileMode);
  await replaceFile(certFile, certPem, certFileMode);
  return { certFile, keyFile, created: true };
}

export type CertificatePair = { readonly certFile: string; readonly keyFile: string };
export type EnsuredMemberCertificates = { readonly server: CertificatePair; readonly peer: CertificatePair; readonly reused: boolean };

/**
 * A member's server and peer certificates covering `hosts` (IP addresses and names): the ones `dir` already
 * holds for `name` when they cover every host (so a step that failed half way can simply run again), else new
 * ones. Existing certificates that do not cover a host are refused (PkiMismatchError names the hosts and the
 * files to remove), never replaced behind the operator's back.
 */
export async function ensureMemberCertificates(dir: string, name: string, hosts: readonly string[]): Promise<EnsuredMemberCertificates> {
  const peerName = peerCertificateName(name);
  const server = { certFile: join(dir, `${name}.crt`), keyFile: join(dir, `${name}.key`) };
  const peer = { certFile: join(dir, `${peerName}.crt`), keyFile: join(dir, `${peerName}.key`) };
  if ((await exists(server.certFile)) || (await exists(peer.certFile))) {
    const missing = new Set<string>();
    for (const f of [server.certFile, peer.certFile]) {
      if (!(await exists(f))) throw new PkiMismatchError(`pki: ${f} is missing while its pair exists: remove both or issue it with kvctl cert issue`);
      for (const h of await hostsNotCovered(f, hosts)) missing.add(h);
    }
    if (missing.size > 0) {
      throw new PkiMismatchError(
        `pki: certificates for ${name} exist in ${dir} but do not cover ${[...missing].join(', ')}: remove ${server.certFile} and ${peer.certFile} (and their keys) to issue new ones, or use another member name`,
      );
    }
    return { server, peer, reused: true };
  }
  const ips = hosts.filter((h) => isIP(h) !== 0);
  const dns = hosts.filter((h) => isIP(h) === 0);
  const issued = await issueMemberCertificates(dir, { name, ips, dns });
  return { server: issued.server, peer: issued.peer, reused: false };
}
