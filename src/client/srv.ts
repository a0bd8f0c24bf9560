/**
 * DNS SRV discovery on the client side, for the CLI and the agent:
 *
 * - `discoverClientEndpoints`: etcdctl's `--discovery-srv` (etcd's srv.GetClient): the endpoints of
 *   `_etcd-client-ssl[-name]._tcp.<domain>` (https) and `_etcd-client[-name]._tcp.<domain>` (http), written
 *   as etcdctl writes them (`https://m1.example.com.:2379`, the target's trailing dot kept). One set
 *   missing is fine; both missing fails with etcdctl's "dns lookup errors: ... and ...". Without
 *   `insecure`, http endpoints are dropped (etcdctl's `--insecure-discovery=false`).
 * - `lookupSrvCluster` + `checkSrvPlan`: the server records (`_etcd-server-ssl`, `_etcd-server`) a node
 *   bootstraps from with `--discovery-srv`, and whether a planned cluster (names and advertised peer URLs)
 *   will find itself in them the way etcd matches a member to a record (by address and port, then scheme).
 *   A plan is refused before anything starts instead of members failing one by one with "cannot find
 *   local etcd member".
 *
 * Resolution: the system's resolver unless a `NameResolver` is given (kvctl's `--dns-server`).
 */
import { KvError } from '../base/errors.js';
import { type NameResolver, resolverFor } from '../base/node-dns.js';
import { type SrvScheme, type SrvTarget, lookupSrvTargets, srvUrlHost, tcpAddress } from '../base/srv-records.js';

export type { NameResolver } from '../base/node-dns.js';
export { dnsServerResolver, parseDnsServer, resolverFor, systemResolver } from '../base/node-dns.js';

/** A discovery that found nothing to use, with etcdctl's message. */
export class SrvDiscoveryError extends KvError {
  readonly code = 'DNS_SRV';
}

export type SrvLookupOptions = {
  /** etcd's --discovery-srv-name: the suffix of the service names (`_etcd-client-<name>._tcp`). */
  serviceName?: string;
  /** Where names are resolved; the system's resolver when absent. */
  resolver?: NameResolver;
};

export type ClientEndpoints = {
  /** The endpoints, https ones first, as etcdctl builds them. */
  readonly endpoints: readonly string[];
  /** http endpoints dropped because `insecure` was false (etcdctl says "ignoring discovered insecure endpoint"). */
  readonly ignored: readonly string[];
  /** The address each endpoint host resolved to, for dialling without asking the system resolver again. */
  readonly addresses: ReadonlyMap<string, string>;
};

/** etcdctl's endpoints from `--discovery-srv` (see the module comment). */
export async function discoverClientEndpoints(domain: string, opts: SrvLookupOptions & { insecure?: boolean } = {}): Promise<ClientEndpoints> {
  const resolver = opts.resolver ?? resolverFor(undefined);
  const lookups = await Promise.all(
    (['https', 'http'] as const).map((scheme) => lookupSrvTargets(resolver, 'etcd-client', scheme, domain, opts.serviceName ?? '')),
  );
  const errors = lookups.flatMap((l) => (l.ok ? [] : [l.error]));
  if (errors.length === lookups.length) throw new SrvDiscoveryError(`dns lookup errors: ${errors.join(' and ')}`);
  const endpoints: string[] = [];
  const ignored: string[] = [];
  const addresses = new Map<string, string>();
  for (const t of lookups.flatMap((l) => (l.ok ? l.targets : []))) {
    const endpoint = `${t.scheme}://${t.target}:${t.port}`;
    if (t.scheme === 'http' && opts.insecure === false) {
      ignored.push(endpoint);
      continue;
    }
    endpoints.push(endpoint);
    const address = t.addresses[0];
    if (address !== undefined) addresses.set(t.target, address);
  }
  return { endpoints, ignored, addresses };
}

/** One server record, as a planned member is matched against it. */
export interface SrvClusterRecord {
  /** The SRV name that holds the record (`_etcd-server-ssl._tcp.example.com`). */
  readonly name: string;
  /** https for `_etcd-server-ssl`, http for `_etcd-server`. */
  readonly scheme: SrvScheme;
  /** The target as DNS names it (`m1.example.com.`) and the port. */
  readonly target: string;
  readonly port: number;
  /** What the target resolved to, IPv4 first; empty when it did not resolve (see `resolveError`). */
  readonly addresses: readonly string[];
  readonly resolveError?: string;
  /** The peer URL etcd gives the member of this record: `https://m1.example.com:2380`. */
  readonly peerUrl: string;
}

export interface SrvCluster {
  readonly domain: string;
  readonly records: readonly SrvClusterRecord[];
  /** The lookups that failed, in Go's words (one set of records missing is normal). */
  readonly errors: readonly string[];
}

function clusterRecord(t: SrvTarget): SrvClusterRecord {
  return {
    name: t.query,
    scheme: t.scheme,
    target: t.target,
    port: t.port,
    addresses: t.addresses,
    ...(t.resolveError !== undefined ? { resolveError: t.resolveError } : {}),
    peerUrl: `${t.scheme}://${srvUrlHost(t.target, t.port)}`,
  };
}

/** The server records of `domain` that `kvctl node --discovery-srv` (or etcd) bootstraps from, targets resolved. */
export async function lookupSrvCluster(domain: string, opts: SrvLookupOptions = {}): Promise<SrvCluster> {
  const resolver = opts.resolver ?? resolverFor(undefined);
  const lookups = await Promise.all(
    (['https', 'http'] as const).map((scheme) => lookupSrvTargets(resolver, 'etcd-server', scheme, domain, opts.serviceName ?? '')),
  );
  return {
    domain,
    records: lookups.flatMap((l) => (l.ok ? l.targets.map(clusterRecord) : [])),
    errors: lookups.flatMap((l) => (l.ok ? [] : [`error querying DNS SRV records for _${l.service} ${l.error}`])),
  };
}

/** A member of a planned cluster: its name and the peer URL it will advertise (--initial-advertise-peer-urls). */
export interface PlannedMember {
  readonly name: string;
  readonly peerUrl: string;
}

export interface MemberSrvCheck {
  readonly name: string;
  readonly peerUrl: string;
  /** The record this member will take (its address, port and scheme), when exactly one fits. */
  readonly record?: SrvClusterRecord;
  /** Why the member will not find itself, in etcd's words where etcd has them. */
  readonly problem?: string;
}

export interface SrvPlanCheck {
  /** Every member matched exactly one record, and every record matched a member. */
  readonly ok: boolean;
  readonly members: readonly MemberSrvCheck[];
  /** Records no planned member matches: etcd would wait for members that never come (or, unresolved, skip them). */
  readonly unmatchedRecords: readonly SrvClusterRecord[];
}

/** Where a planned peer URL points: `ip:port` for an IP host, `name:port` (lower case, no trailing dot) for a name. */
function plannedKey(peerUrl: string): { key: string; scheme: string } | undefined {
  let u: URL;
  try {
    u = new URL(peerUrl);
  } catch {
    return undefined;
  }
  const host = u.hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
  const port = Number(u.port !== '' ? u.port : u.protocol === 'https:' ? 443 : 80);
  return { key: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`, scheme: u.protocol.slice(0, -1) };
}

/** The keys a record answers to: its resolved TCP address (what etcd compares) and its target name. */
function recordKeys(r: SrvClusterRecord): string[] {
  const keys = [srvUrlHost(r.target, r.port).toLowerCase()];
  const address = tcpAddress(r.addresses, r.port);
  if (address !== undefined) keys.push(address);
  return keys;
}

/**
 * Whether each planned member will find itself in `records` as etcd looks (see the module comment). A
 * peer URL with an IP host is matched by the address its record's target resolves to (the first one, as
 * etcd takes it); one with a host name by the record's target name.
 */
export function checkSrvPlan(records: readonly SrvClusterRecord[], planned: readonly PlannedMember[]): SrvPlanCheck {
  const claimedBy = new Map<SrvClusterRecord, string[]>();
  const members = planned.map((m): MemberSrvCheck => {
    const where = plannedKey(m.peerUrl);
    if (where === undefined) return { name: m.name, peerUrl: m.peerUrl, problem: `invalid peer URL "${m.peerUrl}"` };
    const atAddress = records.filter((r) => recordKeys(r).includes(where.key));
    const fitting = atAddress.filter((r) => r.scheme === where.scheme);
    for (const r of atAddress) claimedBy.set(r, [...(claimedBy.get(r) ?? []), m.name]);
    if (fitting.length === 1) return { name: m.name, peerUrl: m.peerUrl, record: fitting[0] as SrvClusterRecord };
    if (fitting.length > 1) {
      return {
        name: m.name,
        peerUrl: m.peerUrl,
        problem: `${fitting.length} SRV records point at ${where.key} (${fitting.map((r) => r.peerUrl).join(', ')}): the member would get all of them as peer URLs`,
      };
    }
    const other = atAddress[0];
    if (other !== undefined) {
      const service = other.name.split('._tcp.')[0]?.slice(1) ?? other.name;
      return {
        name: m.name,
        peerUrl: m.peerUrl,
        problem: `bootstrap at ${other.peerUrl} from DNS for ${service} has scheme mismatch with expected peer ${m.peerUrl.replace(/\/$/, '')}`,
      };
    }
    return { name: m.name, peerUrl: m.peerUrl, problem: `cannot find local etcd member "${m.name}" in SRV records` };
  });
  // A record two members point at serves neither well: say so on both.
  const checked = members.map((m) => {
    const owners = m.record !== undefined ? (claimedBy.get(m.record) ?? []) : [];
    if (m.record === undefined || owners.length < 2) return m;
    return { name: m.name, peerUrl: m.peerUrl, problem: `${m.record.peerUrl} is also the record of ${owners.filter((o) => o !== m.name).join(', ')}` };
  });
  const unmatchedRecords = records.filter((r) => !claimedBy.has(r));
  return { ok: unmatchedRecords.length === 0 && checked.every((m) => m.problem === undefined), members: checked, unmatchedRecords };
}
