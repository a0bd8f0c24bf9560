/**
 * The initial cluster from DNS SRV records (etcd's `--discovery-srv`, `--discovery-srv-name`), as etcd's
 * embed config (PeerURLsMapAndToken, GetDNSClusterNames) and pkg/srv (GetCluster) build it:
 *
 * - `_etcd-server-ssl[-name]._tcp.<domain>` gives https members, `_etcd-server[-name]._tcp.<domain>` http
 *   members; both sets are used together. A set that cannot be looked up is only a warning while the other
 *   gives members (etcd 3.5; etcd 3.4 also refuses to start when the `-ssl` records are missing, a bug fixed
 *   in 3.5, see the README).
 * - Every target is resolved to one TCP address and compared with this member's
 *   --initial-advertise-peer-urls (resolved the same way): the record that matches is this member, named
 *   --name; the others are named `0`, `1`, ... until they publish their names. Peer URLs are written
 *   `scheme://<target without the trailing dot>:<port>`, so every member derives the same member ids.
 * - A record at this member's address with the other scheme is refused ("scheme mismatch"), and a member
 *   that no record names does not start: `cannot find local etcd member "m4" in SRV records`.
 * - Only a member that is not yet initialized looks the records up (an existing WAL restarts the member
 *   from its own data, as etcd does); the token is --initial-cluster-token, unchanged.
 *
 * Which resolver: the system's, as etcd; `--dns-server ip:port` (ETCD_DNS_SERVER) is kvctl's extension
 * for tests and for operators whose records live elsewhere (base/node-dns.ts).
 */
import { join } from 'node:path';

import type { Logger } from '../../base/logger.js';
import { type NameResolver, resolverFor } from '../../base/node-dns.js';
import { type SrvScheme, lookupSrvTargets, srvService, srvUrlHost, tcpAddress } from '../../base/srv-records.js';
import { Wal } from '../wal/wal.js';
import { ConfigError, type ServerConfig, urlString } from './config.js';

/** What one member asks of the records: its domain, optional service name suffix, name and advertised peer URLs. */
export interface SrvClusterQuery {
  readonly domain: string;
  readonly serviceName: string;
  readonly name: string;
  readonly advertisePeerUrls: readonly URL[];
}

/** One set of records (https or http) turned into `name=url` entries, or etcd's error for it. */
type ClusterPart = { readonly entries: string[] } | { readonly error: string };

/** The address etcd compares a URL by (Go's ResolveTCPAddr of its host:port). */
async function tcpAddressOfUrl(resolver: NameResolver, url: URL): Promise<string> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const found = tcpAddress(await resolver.resolveHost(host), Number(url.port));
  if (found === undefined) throw new Error(`lookup ${host} on ${resolver.server}: no such host`);
  return found;
}

/** etcd's srv.GetCluster for one scheme: the entries of the records of `service`, or why there are none. */
async function clusterPart(resolver: NameResolver, scheme: SrvScheme, q: SrvClusterQuery, self: ReadonlyMap<string, URL>): Promise<ClusterPart> {
  const lookup = await lookupSrvTargets(resolver, 'etcd-server', scheme, q.domain, q.serviceName);
  const service = srvService('etcd-server', scheme, q.serviceName);
  const failed = (why: string): ClusterPart => ({ error: `error querying DNS SRV records for _${service} ${why}` });
  if (!lookup.ok) return failed(lookup.error);
  const entries: string[] = [];
  let lastProblem: string | undefined;
  let others = 0;
  for (const t of lookup.targets) {
    const address = tcpAddress(t.addresses, t.port);
    if (address === undefined) {
      lastProblem = t.resolveError ?? `lookup ${t.target} on ${resolver.server}: no such host`;
      continue;
    }
    const mine = self.get(address);
    const urlHost = srvUrlHost(t.target, t.port);
    if (mine !== undefined && mine.protocol !== `${scheme}:`) {
      lastProblem = `bootstrap at ${scheme}://${urlHost} from DNS for ${service} has scheme mismatch with expected peer ${urlString(mine)}`;
      continue;
    }
    entries.push(`${mine !== undefined ? q.name : String(others++)}=${scheme}://${urlHost}`);
  }
  if (entries.length === 0) return failed(lastProblem ?? 'no records');
  return { entries };
}

/**
 * The initial cluster (name → peer URLs) that the SRV records of `q.domain` describe for member `q.name`,
 * with etcd's errors; `logger` gets etcd's lines ("got bootstrap from DNS for etcd-server at ...").
 */
export async function discoverSrvCluster(q: SrvClusterQuery, resolver: NameResolver, logger: Logger): Promise<Map<string, URL[]>> {
  const self = new Map<string, URL>();
  const problems: string[] = [];
  let parts: ClusterPart[];
  try {
    for (const url of q.advertisePeerUrls) self.set(await tcpAddressOfUrl(resolver, url), url);
    parts = [await clusterPart(resolver, 'https', q, self), await clusterPart(resolver, 'http', q, self)];
  } catch (err) {
    // An advertised peer URL that does not resolve fails both lookups alike, unwrapped (as in etcd).
    const why = (err as Error).message;
    throw new ConfigError(`${why}; ${why}`, { cause: err });
  }
  const entries: string[] = [];
  for (const part of parts) {
    if ('error' in part) problems.push(part.error);
    else entries.push(...part.entries);
  }
  if (problems.length > 0) logger.warn(`failed to resolve during SRV discovery: ${problems.join('; ')}`);
  if (entries.length === 0) throw new ConfigError(problems.join('; '));
  for (const entry of entries) logger.info(`got bootstrap from DNS for etcd-server at ${entry}`);

  const cluster = new Map<string, URL[]>();
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    const name = entry.slice(0, eq);
    cluster.set(name, [...(cluster.get(name) ?? []), new URL(entry.slice(eq + 1))]);
  }
  const own = cluster.get(q.name);
  if (own === undefined) throw new ConfigError(`cannot find local etcd member "${q.name}" in SRV records`);
  await checkAdvertisedMatch(q, own, resolver);
  return cluster;
}

/**
 * etcd's later check that this member's entry and --initial-advertise-peer-urls name the same addresses
 * (netutil.URLStringsEqual): it fails here only when some advertised URLs have a record and others not.
 */
async function checkAdvertisedMatch(q: SrvClusterQuery, own: readonly URL[], resolver: NameResolver): Promise<void> {
  const listed = own.map(urlString);
  const advertised = q.advertisePeerUrls.map(urlString);
  const mismatch = (why: string) =>
    new ConfigError(`--initial-cluster has ${q.name}=${listed.join(',')} but missing from --initial-advertise-peer-urls=${advertised.join(',')} (${why})`);
  if (listed.length !== advertised.length) {
    throw mismatch(`len(${JSON.stringify(advertised)}) != len(${JSON.stringify(listed)})`);
  }
  const resolve = async (urls: readonly URL[]) =>
    (await Promise.all(urls.map(async (u) => ({ from: urlString(u), to: `${u.protocol}//${await tcpAddressOfUrl(resolver, u)}` })))).sort((a, b) =>
      a.to.localeCompare(b.to),
    );
  const a = await resolve(q.advertisePeerUrls);
  const b = await resolve(own);
  a.forEach((x, i) => {
    const y = b[i];
    if (y !== undefined && x.to !== y.to) {
      throw mismatch(`${JSON.stringify(x.to)}(resolved from ${JSON.stringify(x.from)}) != ${JSON.stringify(y.to)}(resolved from ${JSON.stringify(y.from)})`);
    }
  });
}

/**
 * The configuration the node starts with: with --discovery-srv and an uninitialized member, its initial
 * cluster from DNS (errors as etcd prints them: "error setting up initial cluster: ..."); otherwise `config`
 * as it is.
 */
export async function withSrvCluster(config: ServerConfig, logger: Logger): Promise<ServerConfig> {
  if (config.discoverySrv === '') return config;
  const walDir = config.walDir !== '' ? config.walDir : join(config.dataDir, 'member', 'wal');
  if (Wal.exists(walDir)) return config;
  const query = { domain: config.discoverySrv, serviceName: config.discoverySrvName, name: config.name, advertisePeerUrls: config.initialAdvertisePeerUrls };
  try {
    const initialCluster = await discoverSrvCluster(query, resolverFor(config.dnsServer, '--dns-server'), logger);
    return { ...config, initialCluster };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new ConfigError(`error setting up initial cluster: ${err.message}`, { cause: err });
  }
}
