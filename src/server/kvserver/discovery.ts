/**
 * etcd 3.4's v2 discovery protocol (etcdserver/api/v2discovery), run by a member that starts with an
 * empty data dir, --initial-cluster-state=new and --discovery=<url>: it learns the initial cluster from
 * a discovery token instead of --initial-cluster. A member restarted on its data dir never gets here
 * (bootstrap.ts restarts it from its WAL and ignores --discovery, as etcd does).
 *
 * The protocol, against any etcd v2 keys endpoint (a kvctl node, or etcd 3.4 with --enable-v2):
 * 1. The discovery URL's path is the token directory, e.g. `/v2/keys/_etcd/registry/<token>`; the
 *    expected cluster size is the integer at `<token>/_config/size`.
 * 2. The member's id is derived as for --initial-cluster, with the discovery URL as the cluster token
 *    (so kvctl and etcd derive the same ids), and the registration is `PUT <token>/<id hex>`
 *    (prevExist=false) with the value `name=peerURL[,name=peerURL2]` (sorted). Before registering, a
 *    member checks that the first `size` registrations (by createdIndex) are not already taken by others
 *    ("discovery: cluster is full"), so a member too many never touches the token; an existing
 *    registration of its own id is "discovery: found duplicate id" (it registered before but has no
 *    data dir: a previous bootstrap failed half way).
 * 3. It waits (long poll, `wait=true&waitIndex=N&recursive=true`) until `size` members registered, and
 *    bootstraps a new cluster of the first `size` registrations ordered by createdIndex.
 * 4. A discovery service that cannot be reached (or answers 5xx) is retried with etcd's backoff: 2 s, 4 s,
 *    ... up to 256 s between tries, without a limit in practice.
 *
 * Errors carry etcd's texts: "failed to join discovery cluster (discovery: cluster is full)",
 * "discovery: found duplicate id", "discovery: found duplicate name", "discovery: size key is bad",
 * "discovery: bad discovery endpoint" (the URL does not answer v2 JSON: e.g. an etcd without
 * --enable-v2), "discovery: invalid URL" (a registration that is not name=url), and etcd 3.4's own text for
 * a token without a size: its check for "size key not found" never matches (it tests for a pointer to
 * the client's error where the client returns a value), so 3.4 reports the v2 error itself,
 * "100: Key not found (/_etcd/registry/<token>) [14]"; kvctl reports the same.
 *
 * Where kvctl differs, deliberately:
 * - --discovery-fallback=proxy (etcd's default): when the cluster is full, etcd 3.4 starts as a v2 proxy
 *   of the discovered cluster. kvctl has no proxy mode; it says so and exits non-zero, as with exit.
 * - --discovery-proxy (an HTTP proxy for the discovery requests) is refused rather than ignored.
 * - A size of 0 or less is "size key is bad" (3.4 would go on with an empty or odd cluster; 3.6 refuses).
 * - While waiting, a change under `_config` is not counted as a member (3.4 counts every event it sees,
 *   which makes a size changed mid-way fail later with "invalid URL").
 * - A request that times out (5 s) is retried like an unreachable service (3.4 gives up on a timeout).
 */
import { posix } from 'node:path';
import { setTimeout as sleepMs } from 'node:timers/promises';

import { KvError } from '../../base/errors.js';
import type { Logger } from '../../base/logger.js';
import {
  V2ErrorCode,
  V2InvalidJsonError,
  V2KeysClient,
  V2KeysError,
  type V2Node,
  type V2Response,
  V2UnavailableError,
} from '../../base/node-v2-keys.js';
import { ConfigError, type ServerConfig, urlString } from './config.js';
import { idHex, memberIdFor } from './ids.js';

/** etcd's discovery errors (v2discovery's Err* values), by name. */
export const DISCOVERY_ERRORS = {
  invalidUrl: 'discovery: invalid URL',
  badSizeKey: 'discovery: size key is bad',
  duplicateId: 'discovery: found duplicate id',
  duplicateName: 'discovery: found duplicate name',
  fullCluster: 'discovery: cluster is full',
  tooManyRetries: 'discovery: too many retries',
  badEndpoint: 'discovery: bad discovery endpoint',
} as const;

export type DiscoveryFailure = keyof typeof DISCOVERY_ERRORS;

/** The discovery protocol failed; the message is etcd's DiscoveryError text. */
export class DiscoveryError extends KvError {
  readonly code = 'DISCOVERY_FAILED';
  /** The underlying reason, as etcd's v2discovery error reads ("discovery: cluster is full", or a v2 error's text). */
  readonly reason: string;

  constructor(
    reason: string,
    readonly failure?: DiscoveryFailure,
    options?: { cause?: unknown; extra?: string },
  ) {
    super(`failed to join discovery cluster (${reason})${options?.extra ?? ''}`, options);
    this.reason = reason;
  }
}

/** What the protocol needs besides the URL; tests shorten the waits. */
export interface DiscoveryOptions {
  /** Waits between retries (default: really sleeps). */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Gives up after this many retries (default: etcd's, which is 2^32 - 1: never in practice). */
  readonly maxRetries?: number;
}

/** etcd's backoff stops growing after 2^8 s. */
const MAX_EXPONENTIAL_RETRIES = 8;

/**
 * The configuration a member bootstraps a new cluster with: unchanged without --discovery; with it, the
 * initial cluster found through the discovery service and the discovery URL as the cluster token (etcd's
 * PeerURLsMapAndToken). Call only when the member has no data dir yet.
 */
export async function resolveInitialCluster(config: ServerConfig, logger: Logger, opts: DiscoveryOptions = {}): Promise<ServerConfig> {
  if (config.discovery === '') return config;
  if (config.initialClusterState === 'existing') {
    throw new ConfigError('discovery URL should not be set when joining existing initial cluster');
  }
  if (config.discoveryProxy !== '') {
    throw new ConfigError(
      `--discovery-proxy=${config.discoveryProxy}: kvctl node cannot reach the discovery service through a proxy; give it a --discovery URL it can reach directly`,
    );
  }
  const peerUrls = config.initialAdvertisePeerUrls.map(urlString);
  try {
    const cluster = await joinCluster({ url: config.discovery, name: config.name, peerUrls, logger }, opts);
    const dup = duplicateUrl(cluster);
    if (dup !== undefined) throw new ConfigError(`discovery cluster ${urlsMapString(cluster)} has duplicate url`);
    logger.info(`discovery: initial cluster ${urlsMapString(cluster)}`);
    const initialCluster = new Map([...cluster].map(([name, urls]) => [name, urls.map((u) => new URL(u))]));
    return { ...config, initialCluster, initialClusterToken: config.discovery };
  } catch (err) {
    if (!(err instanceof DiscoveryError)) throw err;
    const final = err.failure === 'fullCluster' && config.discoveryFallback === 'proxy'
      ? new DiscoveryError(err.reason, err.failure, {
          cause: err,
          extra: ': etcd would now start as a v2 proxy (--discovery-fallback=proxy, its default); kvctl node has no proxy mode, so it does not start',
        })
      : err;
    for (const line of failureHints(final, config)) logger.error(line);
    throw final;
  }
}

/** What etcd 3.4 logs after a discovery failure (etcdmain), to tell the operator what to do next. */
function failureHints(err: DiscoveryError, config: ServerConfig): string[] {
  switch (err.failure) {
    case 'duplicateId':
      return [
        `member "${config.name}" has previously registered with discovery service token (${config.discovery}).`,
        `But etcd could not find valid cluster configuration in the given data dir (${config.dataDir}).`,
        'Please check the given data dir path if the previous bootstrap succeeded',
        'or use a new discovery token if the previous bootstrap failed.',
      ];
    case 'duplicateName':
      return [
        `member with duplicated name has registered with discovery service token(${config.discovery}).`,
        'please check (cURL) the discovery token for more information.',
        'please do not reuse the discovery token and generate a new one to bootstrap the cluster.',
      ];
    default:
      return [
        err.message,
        `discovery token ${config.discovery} was used, but failed to bootstrap the cluster.`,
        'please generate a new discovery token and try to bootstrap again.',
      ];
  }
}

/**
 * Registers this member under the token and waits for the cluster to fill; returns the initial cluster
 * (name -> peer URLs) of the first `size` registrations.
 */
export async function joinCluster(
  self: { url: string; name: string; peerUrls: readonly string[]; logger: Logger },
  opts: DiscoveryOptions = {},
): Promise<Map<string, string[]>> {
  let url: URL;
  try {
    url = new URL(self.url);
  } catch {
    throw new DiscoveryError(`parse "${self.url}": invalid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new DiscoveryError(`unsupported protocol scheme "${url.protocol.replace(/:$/, '')}"`);
  }
  const id = memberIdFor(self.peerUrls, self.url);
  const d = new Discovery(url, idHex(id), self.logger, opts);
  return await d.join(registrationValue(self.name, self.peerUrls));
}

/** The registration's value: etcd's URLsMap.String() of this member alone (`name=url` pairs, sorted). */
export function registrationValue(name: string, peerUrls: readonly string[]): string {
  return peerUrls.map((u) => `${name}=${u}`).sort().join(',');
}

interface ClusterState {
  readonly nodes: V2Node[];
  readonly size: number;
  readonly index: number;
}

class Discovery {
  private readonly client: V2KeysClient;
  /** The token directory as a key path (the URL's path), e.g. /v2/keys/_etcd/registry/<token>. */
  private readonly cluster: string;
  private readonly selfKey: string;
  private readonly where: string;
  private retries = 0;

  constructor(
    url: URL,
    private readonly id: string,
    private readonly logger: Logger,
    private readonly opts: DiscoveryOptions,
  ) {
    this.client = new V2KeysClient(url);
    this.cluster = decodeURIComponent(url.pathname);
    this.selfKey = posix.join('/', this.cluster, id);
    this.where = url.origin;
  }

  async join(value: string): Promise<Map<string, string[]>> {
    // Fast path: a full cluster is refused before this member registers.
    await this.checkCluster();
    const created = await this.createSelf(value);
    this.logger.info(`discovery: registered ${this.selfKey} (index ${created})`);
    const { nodes, size, index } = await this.checkCluster();
    const all = await this.waitNodes(nodes, size, index);
    return nodesToCluster(all.map((n) => n.value ?? ''), size);
  }

  private async createSelf(value: string): Promise<number> {
    let resp: V2Response;
    try {
      resp = await this.client.create(this.selfKey, value);
    } catch (err) {
      if (err instanceof V2KeysError && err.errorCode === V2ErrorCode.nodeExist) throw new DiscoveryError(DISCOVERY_ERRORS.duplicateId, 'duplicateId', { cause: err });
      throw asDiscoveryError(err);
    }
    // The registration must be visible on the server asked (etcd waits for its own event).
    try {
      await this.client.waitNext(this.selfKey, { afterIndex: resp.node.createdIndex - 1 });
    } catch (err) {
      throw asDiscoveryError(err);
    }
    return resp.node.createdIndex;
  }

  private async checkCluster(): Promise<ClusterState> {
    for (;;) {
      try {
        return await this.checkClusterOnce();
      } catch (err) {
        if (!(err instanceof V2UnavailableError)) throw asDiscoveryError(err);
        this.logger.error(err.message);
        await this.backoff('cluster status check');
      }
    }
  }

  private async checkClusterOnce(): Promise<ClusterState> {
    const sizeKey = posix.join('/', this.cluster, '_config', 'size');
    let sizeResp: V2Response;
    try {
      sizeResp = await this.client.get(sizeKey);
    } catch (err) {
      if (err instanceof V2InvalidJsonError) throw new DiscoveryError(DISCOVERY_ERRORS.badEndpoint, 'badEndpoint', { cause: err });
      throw err;
    }
    const size = goAtoi(sizeResp.node.value ?? '');
    if (size === undefined || size <= 0) throw new DiscoveryError(DISCOVERY_ERRORS.badSizeKey, 'badSizeKey');
    const resp = await this.client.get(this.cluster);
    const nodes = (resp.node.nodes ?? []).filter((n) => posix.basename(n.key) !== '_config');
    nodes.sort((a, b) => a.createdIndex - b.createdIndex);
    // Full when the first `size` registrations are others'.
    for (let i = 0; i < nodes.length; i++) {
      if (posix.basename((nodes[i] as V2Node).key) === this.id) break;
      if (i >= size - 1) throw new DiscoveryError(DISCOVERY_ERRORS.fullCluster, 'fullCluster');
    }
    return { nodes, size, index: resp.index };
  }

  private async waitNodes(found: readonly V2Node[], size: number, index: number): Promise<V2Node[]> {
    const all = found.slice(0, size);
    for (const n of all) {
      const base = posix.basename(n.key);
      this.logger.info(base === this.id ? `discovery: found self ${base} in the cluster` : `discovery: found peer ${base} in the cluster`);
    }
    let after = index;
    while (all.length < size) {
      this.logger.info(`discovery: found ${all.length} peer(s), waiting for ${size - all.length} more`);
      let resp: V2Response;
      try {
        resp = await this.client.waitNext(this.cluster, { afterIndex: after, recursive: true });
      } catch (err) {
        if (!(err instanceof V2UnavailableError)) throw asDiscoveryError(err);
        this.logger.error(err.message);
        await this.backoff('waiting for other nodes');
        const again = await this.checkCluster();
        return await this.waitNodes(again.nodes, again.size, again.index);
      }
      after = resp.node.modifiedIndex;
      if (isUnderConfig(this.cluster, resp.node.key)) continue;
      this.logger.info(`discovery: found peer ${posix.basename(resp.node.key)} in the cluster`);
      all.push(resp.node);
    }
    this.logger.info(`discovery: found ${all.length} needed peer(s)`);
    return all;
  }

  private async backoff(step: string): Promise<void> {
    this.retries += 1;
    if (this.retries > (this.opts.maxRetries ?? 2 ** 32 - 1)) throw new DiscoveryError(DISCOVERY_ERRORS.tooManyRetries, 'tooManyRetries');
    const seconds = 2 ** Math.min(this.retries, MAX_EXPONENTIAL_RETRIES);
    this.logger.info(`discovery: ${step}: error connecting to ${this.where}, retrying in ${goSeconds(seconds)}`);
    await (this.opts.sleep ?? ((ms: number) => sleepMs(ms)))(seconds * 1000);
  }
}

/**
 * A key under the token's `_config` directory (the size). The server names keys by their path below
 * `/v2/keys`, so the token directory it knows is the URL path without that prefix.
 */
function isUnderConfig(cluster: string, key: string): boolean {
  const dir = cluster.replace(/^\/v2\/keys(?=\/|$)/, '');
  if (!key.startsWith(`${dir}/`)) return false;
  const rest = key.slice(dir.length + 1);
  return rest === '_config' || rest.startsWith('_config/');
}

/** Anything from the v2 client, as etcd reports it: v2 errors and connection failures by their own text. */
function asDiscoveryError(err: unknown): DiscoveryError {
  if (err instanceof DiscoveryError) return err;
  if (err instanceof V2KeysError || err instanceof V2UnavailableError || err instanceof V2InvalidJsonError) {
    return new DiscoveryError(err.message, undefined, { cause: err });
  }
  return new DiscoveryError(err instanceof Error ? err.message : String(err), undefined, { cause: err });
}

/** Go's strconv.Atoi (optional sign, decimal digits), or undefined. */
function goAtoi(text: string): number | undefined {
  if (!/^[+-]?\d+$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Go's Duration text for whole seconds: 2s, 1m4s, 4m16s. */
function goSeconds(total: number): string {
  const m = Math.floor(total / 60);
  const s = total % 60;
  return m === 0 ? `${s}s` : `${m}m${s}s`;
}

/**
 * The initial cluster of the registrations' values (etcd's nodesToCluster): each value is
 * `name=url[,name=url]`; a URL that is not http(s)://host:port is "discovery: invalid URL", and fewer
 * names than `size` (one name registered twice) "discovery: found duplicate name".
 */
export function nodesToCluster(values: readonly string[], size: number): Map<string, string[]> {
  const joined = values.join(',');
  const cluster = new Map<string, string[]>();
  for (const pair of joined.split(',')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = eq >= 0 ? pair.slice(0, eq) : pair;
    const raw = eq >= 0 ? pair.slice(eq + 1) : '';
    if (!isPeerUrl(raw)) throw new DiscoveryError(DISCOVERY_ERRORS.invalidUrl, 'invalidUrl');
    cluster.set(name, [...(cluster.get(name) ?? []), raw]);
  }
  if (cluster.size !== size) throw new DiscoveryError(DISCOVERY_ERRORS.duplicateName, 'duplicateName');
  return cluster;
}

/** etcd's types.NewURLs check: http or https, host:port, no path. */
function isPeerUrl(raw: string): boolean {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return false;
  }
  return (u.protocol === 'http:' || u.protocol === 'https:') && u.port !== '' && (u.pathname === '/' || u.pathname === '') && !raw.endsWith('/');
}

/** A peer URL that two members share (etcd's checkDuplicateURL), if any. */
function duplicateUrl(cluster: ReadonlyMap<string, readonly string[]>): string | undefined {
  const seen = new Set<string>();
  for (const urls of cluster.values()) {
    for (const u of urls) {
      if (seen.has(u)) return u;
      seen.add(u);
    }
  }
  return undefined;
}

/** etcd's URLsMap.String(): `name=url` pairs, sorted, comma-separated. */
function urlsMapString(cluster: ReadonlyMap<string, readonly string[]>): string {
  return [...cluster].flatMap(([name, urls]) => urls.map((u) => `${name}=${u}`)).sort().join(',');
}
