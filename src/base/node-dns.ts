/**
 * Name resolution for DNS SRV discovery (the node's `--discovery-srv`, the CLI's `--discovery-srv`, the
 * agent's plan checks), and for dialling the host names that SRV records name.
 *
 * Two resolvers with one interface:
 * - `systemResolver()`: what etcd uses, the machine's resolver. SRV queries go to the name servers of
 *   /etc/resolv.conf (c-ares, as Go's resolver reads that file); host names go through getaddrinfo
 *   (/etc/hosts, then DNS), as Go's ResolveTCPAddr does.
 * - `dnsServerResolver('host:port')`: kvctl's extension (`--dns-server`, `ETCD_DNS_SERVER`,
 *   `KVCTL_DNS_SERVER`): every query, SRV and A/AAAA, goes to that one server, on any port. Real etcd has
 *   no such setting (Go's resolver only reads /etc/resolv.conf, port 53). With it, /etc/hosts is not read:
 *   a name means what that server says it means.
 *
 * Answers and failures are shaped as Go's resolver shapes them, because etcd's messages embed them:
 * SRV targets are absolute names with the trailing dot (`m1.example.com.`), records come in RFC 2782
 * order (priority, then a weighted random order), and a failure reads `lookup <name> on <server>: no such
 * host` (or `server misbehaving`, `i/o timeout`).
 */
import { promises as dnsPromises, getServers } from 'node:dns';
import { type LookupFunction, isIP } from 'node:net';

import { KvError } from './errors.js';

/** One SRV answer, as Go's net.SRV holds it. */
export interface SrvAnswer {
  /** The target host, absolute (with the trailing dot), as Go returns it. */
  readonly target: string;
  readonly port: number;
  readonly priority: number;
  readonly weight: number;
}

export interface NameResolver {
  /** The server named in errors (`127.0.0.1:53`), as Go names the one it asked. */
  readonly server: string;
  /** The SRV records of `name` (e.g. `_etcd-server._tcp.example.com`), in RFC 2782 order. */
  resolveSrv(name: string): Promise<SrvAnswer[]>;
  /** The addresses of a host name, IPv4 first (an IP address is returned as it is). */
  resolveHost(host: string): Promise<string[]>;
  /** The same resolution for `net.connect({ lookup })`, so that connections to these names agree with it. */
  readonly lookup: LookupFunction;
}

/** A failed lookup, with Go's message (`lookup m1.example.com on 127.0.0.1:53: no such host`). */
export class DnsLookupError extends KvError {
  readonly code = 'DNS_LOOKUP';
}

/** A `--dns-server` value that is not `ip:port`. */
export class DnsServerFormatError extends KvError {
  readonly code = 'DNS_SERVER_INVALID';
}

const QUERY_TIMEOUT_MS = 2000;
const QUERY_TRIES = 2;

/** Go's words for what went wrong, from c-ares' and getaddrinfo's error codes. */
function goReason(code: string | undefined): string {
  switch (code) {
    case 'ENOTFOUND':
    case 'ENODATA':
    case 'EAI_NONAME':
      return 'no such host';
    case 'ETIMEOUT':
    case 'EAI_AGAIN':
      return 'i/o timeout';
    case 'ECONNREFUSED':
      return 'read: connection refused';
    case 'ESERVFAIL':
    case 'EREFUSED':
    case 'EFORMERR':
    case 'EBADRESP':
      return 'server misbehaving';
    default:
      return code ?? 'unknown error';
  }
}

function lookupError(name: string, server: string, err: unknown): DnsLookupError {
  const code = (err as { code?: unknown }).code;
  return new DnsLookupError(`lookup ${name} on ${server}: ${goReason(typeof code === 'string' ? code : undefined)}`, { cause: err });
}

/** `host:port` for a server as Node lists it (`1.2.3.4`, `1.2.3.4:5353`, `[::1]:53`, `::1`): always with a port. */
function withPort(server: string): string {
  if (server.startsWith('[')) return server;
  if (isIP(server) === 6) return `[${server}]:53`;
  return server.includes(':') ? server : `${server}:53`;
}

/**
 * Parses `--dns-server`: an IP address and a port (`127.0.0.1:5353`, `[::1]:53`). A name is refused: the
 * server that resolves names cannot itself be found by name.
 */
export function parseDnsServer(text: string, flag = '--dns-server'): { host: string; port: number; server: string } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]]+):(\d+)$/.exec(text);
  const host = m?.[1] ?? '';
  const port = Number(m?.[2]);
  if (m === null || isIP(host) === 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new DnsServerFormatError(`${flag}: expected an IP address and a port (e.g. 127.0.0.1:53), got "${text}"`);
  }
  return { host, port, server: isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}` };
}

/**
 * RFC 2782's order, as Go's LookupSRV returns it: by priority (lowest first); within one priority, a
 * weighted random order (a record of weight 0 comes after the weighted ones, as a rule).
 */
export function orderSrv(answers: readonly SrvAnswer[], random: () => number = Math.random): SrvAnswer[] {
  const byPriority = new Map<number, SrvAnswer[]>();
  for (const a of answers) byPriority.set(a.priority, [...(byPriority.get(a.priority) ?? []), a]);
  const ordered: SrvAnswer[] = [];
  for (const priority of [...byPriority.keys()].sort((x, y) => x - y)) {
    const left = [...(byPriority.get(priority) ?? [])].sort((x, y) => y.weight - x.weight);
    let total = left.reduce((sum, a) => sum + a.weight, 0);
    while (left.length > 1 && total > 0) {
      const pick = Math.floor(random() * total);
      let running = 0;
      const at = left.findIndex((a) => (running += a.weight) > pick);
      const [chosen] = left.splice(at, 1) as [SrvAnswer];
      ordered.push(chosen);
      total -= chosen.weight;
    }
    ordered.push(...left);
  }
  return ordered;
}

function absolute(name: string): string {
  return name.endsWith('.') ? name : `${name}.`;
}

/** Go's ResolveTCPAddr order: IPv4 addresses before IPv6 ones. */
function ipv4First(addresses: readonly string[]): string[] {
  return [...addresses.filter((a) => isIP(a) === 4), ...addresses.filter((a) => isIP(a) !== 4)];
}

/** A `lookup` for net.connect built on `resolveHost`. */
function lookupFrom(resolveHost: (host: string) => Promise<string[]>): LookupFunction {
  return ((hostname: string, options: { all?: boolean; family?: number | string }, callback: (...args: unknown[]) => void) => {
    resolveHost(hostname).then(
      (found) => {
        const family = options.family === 6 || options.family === 'IPv6' ? 6 : options.family === 4 || options.family === 'IPv4' ? 4 : 0;
        const usable = family === 0 ? found : found.filter((a) => isIP(a) === family);
        if (usable.length === 0) {
          callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname }));
          return;
        }
        if (options.all === true) callback(null, usable.map((address) => ({ address, family: isIP(address) })));
        else callback(null, usable[0], isIP(usable[0] ?? ''));
      },
      (err: unknown) => callback(err),
    );
  }) as LookupFunction;
}

/** The machine's resolver (see the module comment). */
export function systemResolver(): NameResolver {
  const server = withPort(getServers()[0] ?? '127.0.0.1');
  const resolveHost = async (host: string): Promise<string[]> => {
    if (isIP(host) !== 0) return [host];
    try {
      const found = await dnsPromises.lookup(host, { all: true });
      return ipv4First(found.map((a) => a.address));
    } catch (err) {
      throw lookupError(host, server, err);
    }
  };
  return {
    server,
    async resolveSrv(name) {
      try {
        const answers = await dnsPromises.resolveSrv(name);
        return orderSrv(answers.map((a) => ({ target: absolute(a.name), port: a.port, priority: a.priority, weight: a.weight })));
      } catch (err) {
        throw lookupError(name, server, err);
      }
    },
    resolveHost,
    lookup: lookupFrom(resolveHost),
  };
}

/** Every query to one DNS server, `ip:port` (see the module comment). */
export function dnsServerResolver(hostPort: string, flag = '--dns-server'): NameResolver {
  const { server } = parseDnsServer(hostPort, flag);
  const resolver = new dnsPromises.Resolver({ timeout: QUERY_TIMEOUT_MS, tries: QUERY_TRIES });
  resolver.setServers([server]);
  const resolveHost = async (host: string): Promise<string[]> => {
    const bare = host.replace(/^\[|\]$/g, '');
    if (isIP(bare) !== 0) return [bare];
    // A and AAAA asked together; the name is unknown only when neither has an answer.
    const [v4, v6] = await Promise.allSettled([resolver.resolve4(bare), resolver.resolve6(bare)]);
    const found = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
    if (found.length > 0) return found;
    throw lookupError(bare, server, v4.status === 'rejected' ? v4.reason : undefined);
  };
  return {
    server,
    async resolveSrv(name) {
      try {
        const answers = await resolver.resolveSrv(name);
        return orderSrv(answers.map((a) => ({ target: absolute(a.name), port: a.port, priority: a.priority, weight: a.weight })));
      } catch (err) {
        throw lookupError(name, server, err);
      }
    },
    resolveHost,
    lookup: lookupFrom(resolveHost),
  };
}

/** The resolver for a `--dns-server` setting: that server, or the system's when it is empty or absent. */
export function resolverFor(dnsServer: string | undefined, flag = '--dns-server'): NameResolver {
  return dnsServer === undefined || dnsServer === '' ? systemResolver() : dnsServerResolver(dnsServer, flag);
}
