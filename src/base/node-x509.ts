/**
 * Reading names out of X.509 certificates the way Go's crypto/x509 judges them, shared by the client
 * (server name checks), the peer transport (a peer's certificate against its address) and the CA (`kvctl
 * cert check`), so that all three say the same thing in Go's words:
 *
 *   x509: certificate is valid for 127.0.0.1, not 127.0.0.2
 *
 * - `canonicalIp`: one text form per address (IPv6 compressed, lower case), or undefined for a non-IP.
 * - `parseSubjectAltName`: Node's SAN text (`DNS:a, IP Address:127.0.0.1`) split into its kinds.
 * - `goHostnameError`: Go's VerifyHostname for a host against those names: undefined when they cover it.
 * - `oneLineName`: OpenSSL's multi-line distinguished name on one line (`O=kvctl, CN=m1`).
 */
import { isIP } from 'node:net';

/** An IP address in its canonical text form (IPv6 compressed, lower case; brackets dropped), or undefined. */
export function canonicalIp(text: string): string | undefined {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const family = isIP(bare);
  if (family === 4) return bare;
  if (family === 6) return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  return undefined;
}

export type SubjectAltNames = { ips: string[]; dns: string[]; other: string[] };

/**
 * Splits Node's SAN text (`DNS:localhost, IP Address:127.0.0.1`) into its kinds, IPs canonical. Node quotes
 * an entry that contains a comma or quote as a JSON string, so entries are split only at `, ` followed by
 * a known kind.
 */
export function parseSubjectAltName(text: string | undefined): SubjectAltNames {
  const out: SubjectAltNames = { ips: [], dns: [], other: [] };
  if (text === undefined || text === '') return out;
  const entry = /(DNS|IP Address|email|URI|DirName|othername|Registered ID):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g;
  for (const m of text.matchAll(entry)) {
    const kind = m[1] ?? '';
    const raw = m[2] ?? '';
    const value = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
    if (kind === 'DNS') out.dns.push(value);
    else if (kind === 'IP Address') out.ips.push(canonicalIp(value) ?? value);
    else out.other.push(`${kind}:${value}`);
  }
  return out;
}

/** Go's matchHostnames: labels compared case-insensitively, `*` only as the whole leftmost label. */
function matchesHostname(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase().replace(/\.$/, '').split('.');
  const h = host.toLowerCase().replace(/\.$/, '').split('.');
  if (p.length !== h.length || p.some((l) => l === '')) return false;
  return p.every((label, i) => (i === 0 && label === '*') || label === h[i]);
}

/**
 * Go's crypto/x509 VerifyHostname with HostnameError's messages: undefined when the names cover `host`
 * (an IP against the IP SANs only, a name against the DNS SANs, never the CN), else Go's text.
 */
export function goHostnameError(names: { ips: readonly string[]; dns: readonly string[]; commonName?: string | undefined }, host: string): string | undefined {
  const ip = canonicalIp(host);
  if (ip !== undefined) {
    if (names.ips.includes(ip)) return undefined;
    if (names.ips.length === 0) return `x509: cannot validate certificate for ${ip} because it doesn't contain any IP SANs`;
    return `x509: certificate is valid for ${names.ips.join(', ')}, not ${ip}`;
  }
  if (names.dns.some((pattern) => matchesHostname(pattern, host))) return undefined;
  const cn = names.commonName;
  if (names.dns.length === 0 && names.ips.length === 0 && cn !== undefined && matchesHostname(cn, host)) {
    return 'x509: certificate relies on legacy Common Name field, use SANs instead';
  }
  if (names.dns.length === 0) return `x509: certificate is not valid for any names, but wanted to match ${host}`;
  return `x509: certificate is valid for ${names.dns.join(', ')}, not ${host}`;
}

/** OpenSSL's multi-line distinguished name (`O=kvctl\nCN=x`) on one line, in certificate order. */
export function oneLineName(name: string): string {
  return name.split('\n').filter((l) => l !== '').join(', ');
}
