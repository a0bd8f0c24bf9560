/**
 * What may go into a certificate and its file names, checked before any key is generated so that a typo costs
 * nothing. Every error says which input is wrong and what a valid one looks like.
 */
import { isIP } from 'node:net';

import { canonicalIp as canonicalIpOrUndefined } from '../base/node-x509.js';
import { PkiInputError } from './errors.js';

/** The certificate profiles kvctl issues, with the extended key usages etcd needs of each. */
export const profiles = ['server', 'peer', 'client'] as const;
export type Profile = (typeof profiles)[number];

/** The CA's own files in a PKI directory; no issued certificate may take these names. */
export const caCertFile = 'ca.crt';
export const caKeyFile = 'ca.key';

/** The longest lifetime kvctl issues: a hundred years is already beyond any sensible rotation policy. */
export const maxDays = 36_500;

/** X.509's upper bound for a common name (RFC 5280, ub-common-name). */
const maxCommonNameLength = 64;

/**
 * A certificate name becomes `<name>.crt` and `<name>.key` in the PKI directory: letters, digits, '.', '_' and
 * '-', starting with a letter or digit, so it can never climb out of the directory or hide as a dot file.
 */
export function checkName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) {
    throw new PkiInputError(
      `pki: invalid certificate name ${JSON.stringify(name)}: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit (it becomes <name>.crt and <name>.key)`,
    );
  }
  if (name === 'ca') throw new PkiInputError("pki: the name 'ca' is taken by the CA's own ca.crt and ca.key: choose another --name");
  return name;
}

/** A lifetime in whole days, 1 to {@link maxDays}. */
export function checkDays(days: number, what = '--days'): number {
  if (!Number.isInteger(days) || days < 1 || days > maxDays) {
    throw new PkiInputError(`pki: invalid ${what} ${days}: give a whole number of days from 1 to ${maxDays}`);
  }
  return days;
}

/** A common name: printable, at most 64 characters (etcd reads a client certificate's CN as the user name). */
export function checkCommonName(cn: string): string {
  if (cn === '' || cn.length > maxCommonNameLength || /\p{Cc}/u.test(cn)) {
    throw new PkiInputError(
      `pki: invalid common name ${JSON.stringify(cn)}: give 1 to ${maxCommonNameLength} printable characters`,
    );
  }
  return cn;
}

/**
 * An IP address SAN in its canonical text form (IPv6 compressed and lower-case, as Go prints it), so that the
 * same address always compares equal and error messages match what etcd's clients print.
 */
export function canonicalIp(ip: string): string {
  const canonical = canonicalIpOrUndefined(ip);
  if (canonical !== undefined) return canonical;
  throw new PkiInputError(`pki: invalid IP address ${JSON.stringify(ip)}: give an IPv4 (127.0.0.1) or IPv6 (::1) address, or use --dns for a host name`);
}

/**
 * A DNS SAN: RFC 1123 labels of 1 to 63 letters, digits and hyphens; the leftmost label may be '*' for a
 * wildcard. Lower-cased, because names compare case-insensitively.
 */
export function checkDnsName(name: string): string {
  const lower = name.toLowerCase().replace(/\.$/, '');
  const labels = lower.split('.');
  const label = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
  const ok =
    lower.length > 0 &&
    lower.length <= 253 &&
    labels.every((l, i) => label.test(l) || (i === 0 && l === '*' && labels.length > 2)) &&
    isIP(lower) === 0;
  if (!ok) {
    throw new PkiInputError(
      `pki: invalid DNS name ${JSON.stringify(name)}: give a host name such as infra0.example.com (a wildcard only as the first label: *.example.com)${isIP(lower) !== 0 ? '; for an address use --ip' : ''}`,
    );
  }
  return lower;
}

export function checkProfile(profile: string): Profile {
  if (!(profiles as readonly string[]).includes(profile)) {
    throw new PkiInputError(`pki: invalid profile ${JSON.stringify(profile)}: choose one of ${profiles.join(', ')}`);
  }
  return profile as Profile;
}

/** Each value once, in the order first given. */
export function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/** The host part of `host`, `host:port`, `[v6]:port`, a bare IPv6 address, or a URL (`https://host:port/path`). */
export function hostOf(value: string): string {
  let rest = value.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/\/.*$/, '');
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']');
    return end > 0 ? rest.slice(1, end) : rest.slice(1);
  }
  if (isIP(rest) === 6) return rest;
  const colon = rest.lastIndexOf(':');
  if (colon >= 0) rest = rest.slice(0, colon);
  return rest;
}
