/**
 * The node's settings, named and defaulted as etcd names and defaults them (etcd 3.4's `etcd --help`),
 * and the checks etcd makes before it starts. The command layer maps flags and ETCD_* variables onto
 * `ServerConfig`; everything here is plain data so tests can build configs directly.
 */
import { KvError } from '../../base/errors.js';
import { parseDnsServer } from '../../base/node-dns.js';

export type ClusterState = 'new' | 'existing';
/** What a member does when the discovery token is full (etcd's --discovery-fallback). */
export type DiscoveryFallback = 'exit' | 'proxy';
export type AutoCompactionMode = 'periodic' | 'revision';
export type NodeLogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface ServerConfig {
  readonly name: string;
  /** Defaults to `${name}.etcd`, as in etcd. */
  readonly dataDir: string;
  /** Empty: `<dataDir>/member/wal`. */
  readonly walDir: string;
  readonly listenClientUrls: readonly URL[];
  readonly advertiseClientUrls: readonly URL[];
  readonly listenPeerUrls: readonly URL[];
  readonly initialAdvertisePeerUrls: readonly URL[];
  /** name → peer URLs, in the order given. */
  readonly initialCluster: ReadonlyMap<string, readonly URL[]>;
  readonly initialClusterState: ClusterState;
  readonly initialClusterToken: string;
  /** --discovery: a v2 discovery token URL to learn the initial cluster from ('' when not used; see discovery.ts). */
  readonly discovery: string;
  /** --discovery-fallback; kvctl has no proxy mode, so 'proxy' only changes what a full cluster's refusal says. */
  readonly discoveryFallback: DiscoveryFallback;
  /** --discovery-proxy ('' when not given); refused when discovery runs. */
  readonly discoveryProxy: string;
  /**
   * --discovery-srv: the domain whose SRV records give the initial cluster ('' = none); --initial-cluster is
   * then empty (see srv-discovery.ts). --discovery-srv-name: the suffix of the SRV service names.
   */
  readonly discoverySrv: string;
  readonly discoverySrvName: string;
  /** kvctl's --dns-server (ip:port): the DNS server for SRV discovery and peer host names; '' = the system's resolver. */
  readonly dnsServer: string;
  readonly snapshotCount: number;
  /** Entries kept in the raft log behind a snapshot for slow followers (etcd's --experimental-snapshot-catchup-entries). */
  readonly snapshotCatchUpEntries: number;
  readonly heartbeatMs: number;
  readonly electionMs: number;
  /** 0 means etcd's default quota (2 GiB). */
  readonly quotaBackendBytes: number;
  readonly maxRequestBytes: number;
  readonly autoCompactionMode: AutoCompactionMode;
  /** As etcd takes it: a duration ("1h", "30m") or a number of hours for periodic, a revision count for revision. */
  readonly autoCompactionRetention: string;
  readonly maxSnapshots: number;
  readonly maxWals: number;
  readonly logLevel: NodeLogLevel;
  /** TLS of the client listeners (--cert-file, --key-file, --trusted-ca-file, --client-cert-auth, --client-crl-file). */
  readonly clientTls: TlsInfo;
  /** TLS between members (--peer-cert-file, --peer-key-file, --peer-trusted-ca-file, --peer-client-cert-auth). */
  readonly peerTls: TlsInfo;
  /** --auto-tls / --peer-auto-tls: self-signed certificates under <data-dir>/fixtures when no files are given. */
  readonly autoTls: boolean;
  readonly peerAutoTls: boolean;
}

/**
 * One side's TLS files and settings, as etcd's transport.TLSInfo holds them: paths exactly as given (''
 * when not given). The files are read where the listener is made (server/api/tls.ts), not here.
 */
export interface TlsInfo {
  readonly certFile: string;
  readonly keyFile: string;
  /** CA bundle that client certificates must chain to; when set, a client certificate is required, as in etcd. */
  readonly trustedCaFile: string;
  /** Require a verified client certificate; with auth enabled its CN names the user of token-less requests. */
  readonly clientCertAuth: boolean;
  /** Revoked client certificates (a PEM CRL); connections presenting one are refused. */
  readonly crlFile: string;
}

export const NO_TLS: TlsInfo = { certFile: '', keyFile: '', trustedCaFile: '', clientCertAuth: false, crlFile: '' };

/** etcd's TLSInfo.Empty(): neither a certificate nor a key was given. */
export function tlsInfoEmpty(info: TlsInfo): boolean {
  return info.certFile === '' && info.keyFile === '';
}

export const DEFAULT_QUOTA_BACKEND_BYTES = 2 * 1024 * 1024 * 1024;
export const MAX_QUOTA_BACKEND_BYTES = 8 * 1024 * 1024 * 1024;

export class ConfigError extends KvError {
  readonly code = 'CONFIG_INVALID';
}

/** etcd's defaults; `name` changes the default data dir and initial cluster. */
export function defaultConfig(name = 'default'): ServerConfig {
  const peer = [new URL('http://localhost:2380')];
  return {
    name,
    dataDir: `${name}.etcd`,
    walDir: '',
    listenClientUrls: [new URL('http://localhost:2379')],
    advertiseClientUrls: [new URL('http://localhost:2379')],
    listenPeerUrls: peer,
    initialAdvertisePeerUrls: peer,
    initialCluster: new Map([[name, peer]]),
    initialClusterState: 'new',
    initialClusterToken: 'etcd-cluster',
    discovery: '',
    discoveryFallback: 'proxy',
    discoveryProxy: '',
    discoverySrv: '',
    discoverySrvName: '',
    dnsServer: '',
    snapshotCount: 100_000,
    snapshotCatchUpEntries: 5000,
    heartbeatMs: 100,
    electionMs: 1000,
    quotaBackendBytes: 0,
    maxRequestBytes: 1.5 * 1024 * 1024,
    autoCompactionMode: 'periodic',
    autoCompactionRetention: '0',
    maxSnapshots: 5,
    maxWals: 5,
    logLevel: 'info',
    clientTls: NO_TLS,
    peerTls: NO_TLS,
    autoTls: false,
    peerAutoTls: false,
  };
}

/** Parses etcd's comma-separated URL list, as `--listen-client-urls` takes it. */
export function parseUrlList(flag: string, value: string): URL[] {
  const parts = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (parts.length === 0) throw new ConfigError(`--${flag}: expected at least one URL`);
  return parts.map((raw) => parseUrl(flag, raw));
}

function parseUrl(flag: string, raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`--${flag}: "${raw}" is not a URL (expected e.g. http://127.0.0.1:2379)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`--${flag}: URL scheme must be http or https: "${raw}"`);
  }
  if (url.port === '') throw new ConfigError(`--${flag}: URL must include a port: "${raw}"`);
  if (url.pathname !== '/' && url.pathname !== '') {
    throw new ConfigError(`--${flag}: URL must not contain a path: "${raw}"`);
  }
  return url;
}

/** Parses etcd's `--initial-cluster` (`name1=url1,name1=url2,name2=url3`). */
export function parseInitialCluster(value: string): Map<string, URL[]> {
  const cluster = new Map<string, URL[]>();
  for (const part of value.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--initial-cluster: expected name=url, got "${part}"`);
    const name = part.slice(0, eq);
    const url = parseUrl('initial-cluster', part.slice(eq + 1));
    const urls = cluster.get(name) ?? [];
    urls.push(url);
    cluster.set(name, urls);
  }
  if (cluster.size === 0) throw new ConfigError('--initial-cluster: expected at least one name=url');
  return cluster;
}

/** A canonical text form of a URL as etcd prints it (no trailing slash). */
export function urlString(url: URL): string {
  return `${url.protocol}//${url.host}`;
}

/** The checks etcd makes on the whole configuration; throws ConfigError naming the flag. */
export function validateConfig(cfg: ServerConfig): void {
  if (cfg.name === '') throw new ConfigError('--name: must not be empty');
  if (cfg.heartbeatMs <= 0) throw new ConfigError('--heartbeat-interval: must be a positive number of milliseconds');
  if (cfg.electionMs < 5 * cfg.heartbeatMs) {
    throw new ConfigError(
      `--election-timeout[${cfg.electionMs}ms] should be at least as 5 times as --heartbeat-interval[${cfg.heartbeatMs}ms]`,
    );
  }
  if (cfg.electionMs > 50_000) {
    throw new ConfigError(`--election-timeout[${cfg.electionMs}ms] is too long, and should be set less than 50000ms`);
  }
  if (cfg.snapshotCount <= 0) throw new ConfigError('--snapshot-count: must be positive');
  if (cfg.snapshotCatchUpEntries <= 0) throw new ConfigError('--experimental-snapshot-catchup-entries: must be positive');
  if (cfg.maxRequestBytes <= 0) throw new ConfigError('--max-request-bytes: must be positive');
  if (cfg.quotaBackendBytes < 0) throw new ConfigError('--quota-backend-bytes: must not be negative');
  if (cfg.quotaBackendBytes > MAX_QUOTA_BACKEND_BYTES) {
    throw new ConfigError(`--quota-backend-bytes: ${cfg.quotaBackendBytes} exceeds the maximum (${MAX_QUOTA_BACKEND_BYTES})`);
  }
  if (cfg.maxSnapshots < 0) throw new ConfigError('--max-snapshots: must not be negative');
  if (cfg.maxWals < 0) throw new ConfigError('--max-wals: must not be negative');
  parseRetention(cfg.autoCompactionMode, cfg.autoCompactionRetention);
  validateClientTls(cfg);
  validatePeerTls(cfg);

  validateBootstrapSource(cfg);
  // With --discovery-srv the initial cluster comes from DNS, where this member is found by address.
  if (cfg.discoverySrv !== '') return;
  const own = cfg.initialCluster.get(cfg.name);
  if (cfg.initialClusterState === 'new' && own === undefined) {
    throw new ConfigError(
      `--initial-cluster has no entry for --name=${cfg.name}: add "${cfg.name}=${cfg.initialAdvertisePeerUrls.map(urlString).join(',')}"`,
    );
  }
  if (own !== undefined) {
    const want = [...cfg.initialAdvertisePeerUrls].map(urlString).sort().join(',');
    const have = [...own].map(urlString).sort().join(',');
    if (want !== have) {
      throw new ConfigError(
        `--initial-cluster has ${cfg.name}=${have} but --initial-advertise-peer-urls is ${want}: they must match`,
      );
    }
  }
}

/**
 * One way to learn the initial cluster: --initial-cluster, --discovery or --discovery-srv (etcd's
 * ErrConflictBootstrapFlags). --initial-cluster is empty when --discovery-srv is given without it.
 */
function validateBootstrapSource(cfg: ServerConfig): void {
  // With --discovery the initial cluster holds this member alone (etcd derives ids from it), so it counts
  // only beside --discovery-srv; --discovery beside an explicit --initial-cluster is refused in the flag layer.
  const sources = [cfg.initialCluster.size > 0 && cfg.discovery === '', cfg.discoverySrv !== '', cfg.discovery !== ''].filter(Boolean).length;
  if (sources > 1) {
    throw new ConfigError('multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", "discovery" or "discovery-srv"');
  }
  if (cfg.dnsServer !== '') {
    try {
      parseDnsServer(cfg.dnsServer);
    } catch (err) {
      throw new ConfigError((err as Error).message, { cause: err });
    }
  }
}

/**
 * etcd's checks of the client TLS settings (embed.configureClientListeners, transport.TLSInfo), with its
 * messages: an https client URL needs --cert-file and --key-file; one without the other is refused. Like
 * etcd, nothing is checked when every client URL is http (the files are then ignored, see
 * clientTlsWarnings). Whether the files can be read and hold a matching pair is checked when the
 * listener loads them.
 */
function validateClientTls(cfg: ServerConfig): void {
  const https = cfg.listenClientUrls.filter((u) => u.protocol === 'https:');
  const first = https[0];
  if (first === undefined) return;
  const tls = cfg.clientTls;
  if (tlsInfoEmpty(tls)) {
    if (cfg.autoTls) return; // self-signed files are made at start (see auto-tls.ts)
    throw new ConfigError(`TLS key/cert (--cert-file, --key-file) must be provided for client url ${urlString(first)} with HTTPS scheme`);
  }
  if (tls.certFile === '' || tls.keyFile === '') {
    throw new ConfigError(`KeyFile and CertFile must both be present[key: ${tls.keyFile}, cert: ${tls.certFile}]`);
  }
}

/** The same checks for https peer URLs (etcd's configurePeerListeners), with --peer-auto-tls in place of files. */
function validatePeerTls(cfg: ServerConfig): void {
  const first = cfg.listenPeerUrls.find((u) => u.protocol === 'https:');
  if (first === undefined) return;
  const tls = cfg.peerTls;
  if (tlsInfoEmpty(tls)) {
    if (cfg.peerAutoTls) return;
    throw new ConfigError(`TLS key/cert (--peer-cert-file, --peer-key-file) must be provided for peer url ${urlString(first)} with HTTPS scheme`);
  }
  if (tls.certFile === '' || tls.keyFile === '') {
    throw new ConfigError(`KeyFile and CertFile must both be present[key: ${tls.keyFile}, cert: ${tls.certFile}]`);
  }
}

/** etcd's warnings for client TLS settings that an http client URL ignores (one line per URL and setting). */
export function clientTlsWarnings(cfg: ServerConfig): string[] {
  const warnings: string[] = [];
  for (const u of cfg.listenClientUrls) {
    if (u.protocol !== 'http:') continue;
    if (!tlsInfoEmpty(cfg.clientTls)) {
      warnings.push(`scheme is HTTP while key and cert files are present; ignoring key and cert files (client-url ${urlString(u)})`);
    }
    if (cfg.clientTls.clientCertAuth) {
      warnings.push(`scheme is HTTP while --client-cert-auth is enabled; ignoring client cert auth for this URL (client-url ${urlString(u)})`);
    }
  }
  return warnings;
}

/**
 * etcd's auto-compaction retention: in periodic mode a duration ("5m", "1h30m") or a bare number of hours;
 * in revision mode a number of revisions. Returns milliseconds (periodic) or revisions; 0 disables it.
 */
export function parseRetention(mode: AutoCompactionMode, value: string): number {
  const v = value.trim();
  if (mode === 'revision') {
    if (!/^\d+$/.test(v)) throw new ConfigError(`--auto-compaction-retention: "${value}" is not a revision count`);
    return Number(v);
  }
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 3_600_000);
  const ms = parseDurationMs(v);
  if (ms === undefined) {
    throw new ConfigError(`--auto-compaction-retention: "${value}" is not a duration (e.g. 1h, 30m) or a number of hours`);
  }
  return ms;
}

/** Go's duration syntax (h, m, s, ms), which etcd's flags use. */
export function parseDurationMs(value: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/y;
  let total = 0;
  let pos = 0;
  if (value === '') return undefined;
  while (pos < value.length) {
    re.lastIndex = pos;
    const m = re.exec(value);
    if (m === null) return undefined;
    const n = Number(m[1]);
    const unit = m[2];
    total += unit === 'h' ? n * 3_600_000 : unit === 'm' ? n * 60_000 : unit === 's' ? n * 1000 : n;
    pos = re.lastIndex;
  }
  return Math.round(total);
}
