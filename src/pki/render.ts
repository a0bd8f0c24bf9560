/**
 * Human-readable text for what this module reports, shared by the `kvctl cert` commands (and anything else that
 * shows certificates to an operator). Plain strings, no colours: the CLI decides where they go.
 */
import type { EndpointCheck } from './check.js';
import type { CertificateInfo } from './inspect.js';
import type { CertificateListEntry } from './list.js';

/** An ISO time without milliseconds: `2027-11-21T17:29:05Z`. */
export function shortTime(iso: string): string {
  return iso.replace(/\.\d{3}Z$/, 'Z');
}

/** `IP:127.0.0.1, DNS:localhost`, or `none`. */
export function sanText(info: CertificateInfo): string {
  const all = [...info.ips.map((ip) => `IP:${ip}`), ...info.dns.map((d) => `DNS:${d}`), ...info.otherNames];
  return all.length === 0 ? 'none' : all.join(', ');
}

/** `364 days left`, `expires within a day`, `expired 3 days ago`. */
export function daysLeftText(info: CertificateInfo): string {
  if (info.daysLeft >= 0) return info.daysLeft === 0 ? 'expires within a day' : `${info.daysLeft} day${info.daysLeft === 1 ? '' : 's'} left`;
  // daysLeft is rounded down: -1 is the first day after expiry.
  const ago = -info.daysLeft - 1;
  return ago === 0 ? 'expired less than a day ago' : `expired ${ago} day${ago === 1 ? '' : 's'} ago`;
}

/** `server (serverAuth)`, `ca`, `client (clientAuth)`. */
export function profileText(info: CertificateInfo): string {
  return info.extKeyUsage.length === 0 ? info.profile : `${info.profile} (${info.extKeyUsage.join(', ')})`;
}

/** The lines of `kvctl cert inspect`: one `label: value` per line, labels aligned. */
export function certificateLines(info: CertificateInfo, file?: string): string[] {
  const rows: Array<[string, string]> = [
    ...(file === undefined ? [] : ([['file', file]] as Array<[string, string]>)),
    ['subject', info.subject],
    ['issuer', info.issuer + (info.selfSigned ? ' (self-signed)' : '')],
    ['serial', info.serial],
    ['profile', profileText(info)],
    ['CA', info.isCa ? 'yes' : 'no'],
    ['SANs', sanText(info)],
    ['not before', shortTime(info.notBefore)],
    ['not after', `${shortTime(info.notAfter)} (${daysLeftText(info)})`],
    ['sha256', info.fingerprintSha256],
  ];
  const width = Math.max(...rows.map(([label]) => label.length)) + 1;
  return rows.map(([label, value]) => `${`${label}:`.padEnd(width)} ${value}`);
}

/** The row of `kvctl cert list -w table` for one file. */
export function listRow(e: CertificateListEntry): string[] {
  const c = e.certificate;
  if (c === undefined) return [e.name, '-', e.error ?? 'unreadable', '-', '-', '-', e.key, '-'];
  const signed = e.signedByCa === undefined ? 'no CA' : e.signedByCa ? 'yes' : 'NO';
  return [e.name, c.profile, c.subject, sanText(c), shortTime(c.notAfter), String(c.daysLeft), e.key, signed];
}

export const listHeader = ['NAME', 'PROFILE', 'SUBJECT', 'SANS', 'NOT AFTER', 'DAYS LEFT', 'KEY', 'SIGNED BY CA'];

/** One line per certificate of a chain: `CN=infra0 (IP:127.0.0.1), 364 days left`. */
function chainText(result: EndpointCheck): string[] {
  return result.chain.map((c, i) => `${i === 0 ? 'server' : c.isCa ? 'CA' : 'intermediate'} ${c.subject}${c.isCa ? '' : ` (${sanText(c)})`}, ${daysLeftText(c)}`);
}

/** The lines of `kvctl cert check` for one endpoint: a verdict line, then indented details. */
export function checkLines(result: EndpointCheck): string[] {
  const lines: string[] = [];
  if (result.ok) {
    const client =
      result.clientCertificate === undefined
        ? ''
        : result.clientAccepted
          ? `, client certificate ${result.clientCertificate} accepted`
          : `, client certificate ${result.clientCertificate} offered`;
    lines.push(`${result.endpoint}: ok (${result.protocol ?? 'TLS'}, verified for ${result.serverName}${client})`);
  } else {
    lines.push(`${result.endpoint}: FAILED`);
    for (const p of result.problems) lines.push(`  ${p.message}`);
  }
  for (const c of chainText(result)) lines.push(`  ${c}`);
  for (const w of result.warnings) lines.push(`  warning: ${w}`);
  return lines;
}
