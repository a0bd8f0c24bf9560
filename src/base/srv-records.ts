/**
 * etcd's DNS SRV naming and lookups (etcd's pkg/srv), shared by the node's bootstrap (`--discovery-srv`,
 * server/kvserver/srv-discovery.ts) and the client side (`kvctl --discovery-srv`, the agent's plan checks,
 * client/srv.ts), so that both read the same records the same way.
 *
 * - Services: `etcd-server` (peers) and `etcd-client` (clients); the TLS variant is `<service>-ssl`, and
 *   `--discovery-srv-name foo` appends `-foo`: `_etcd-server-ssl-foo._tcp.example.com`.
 * - A record's target is resolved to one TCP address as Go's net.ResolveTCPAddr picks it (the first IPv4
 *   address, else the first one): that is the address etcd compares with a member's advertised peer URL.
 */
import type { NameResolver } from './node-dns.js';

export type SrvScheme = 'https' | 'http';
export type SrvServiceKind = 'etcd-server' | 'etcd-client';

/** etcd's GetSRVService: `etcd-server`, `etcd-server-ssl`, `etcd-server-ssl-<serviceName>`. */
export function srvService(kind: SrvServiceKind, scheme: SrvScheme, serviceName = ''): string {
  const base = scheme === 'https' ? `${kind}-ssl` : kind;
  return serviceName === '' ? base : `${base}-${serviceName}`;
}

/** The name Go's LookupSRV(service, "tcp", domain) asks for: `_etcd-server._tcp.example.com`. */
export function srvQueryName(service: string, domain: string): string {
  return `_${service}._tcp.${domain}`;
}

/** One SRV record with what its target resolved to. */
export interface SrvTarget {
  /** The service looked up (`etcd-server-ssl`), and the DNS name asked (`_etcd-server-ssl._tcp.example.com`). */
  readonly service: string;
  readonly query: string;
  /** https for the `-ssl` services, http otherwise. */
  readonly scheme: SrvScheme;
  /** As DNS names it, absolute (`m1.example.com.`). */
  readonly target: string;
  readonly port: number;
  readonly priority: number;
  readonly weight: number;
  /** The target's addresses, IPv4 first; empty when it did not resolve. */
  readonly addresses: readonly string[];
  /** Why the target did not resolve (Go's words), when it did not. */
  readonly resolveError?: string;
}

export type SrvLookup =
  | { readonly ok: true; readonly service: string; readonly query: string; readonly targets: readonly SrvTarget[] }
  | { readonly ok: false; readonly service: string; readonly query: string; readonly error: string };

/** Looks up one service's records and resolves every target (a target that does not resolve is kept, with its error). */
export async function lookupSrvTargets(
  resolver: NameResolver,
  kind: SrvServiceKind,
  scheme: SrvScheme,
  domain: string,
  serviceName = '',
): Promise<SrvLookup> {
  const service = srvService(kind, scheme, serviceName);
  const query = srvQueryName(service, domain);
  let answers;
  try {
    answers = await resolver.resolveSrv(query);
  } catch (err) {
    return { ok: false, service, query, error: (err as Error).message };
  }
  const targets = await Promise.all(
    answers.map(async (a): Promise<SrvTarget> => {
      const base = { service, query, scheme, target: a.target, port: a.port, priority: a.priority, weight: a.weight };
      try {
        return { ...base, addresses: await resolver.resolveHost(a.target) };
      } catch (err) {
        return { ...base, addresses: [], resolveError: (err as Error).message };
      }
    }),
  );
  return { ok: true, service, query, targets };
}

/** `ip:port` (`[v6]:port`) of the first address, as Go's TCPAddr.String() prints what ResolveTCPAddr picked. */
export function tcpAddress(addresses: readonly string[], port: number): string | undefined {
  const first = addresses[0];
  if (first === undefined) return undefined;
  return first.includes(':') ? `[${first}]:${port}` : `${first}:${port}`;
}

/** `host:port` of a target without its trailing dot, as etcd writes peer URLs from SRV records. */
export function srvUrlHost(target: string, port: number): string {
  const host = target.endsWith('.') ? target.slice(0, -1) : target;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
