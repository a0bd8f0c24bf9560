/**
 * Endpoints as etcdctl takes them: `host:port`, `http://host:port` or `https://host:port` (a trailing `/` is
 * tolerated). The endpoint keeps the text the user wrote, because etcdctl names endpoints exactly as given in
 * its output (`127.0.0.1:2379 is healthy: ...`).
 */
import { ClientError } from './errors.js';

export type Endpoint = {
  /** As given (trimmed): how output and errors name this endpoint. */
  readonly raw: string;
  /** The scheme as written (lower case), or undefined for a bare `host:port`. */
  readonly scheme: 'http' | 'https' | undefined;
  /** True for `https://`: the channel must use TLS (a bare `host:port` uses TLS when the client has TLS settings). */
  readonly secure: boolean;
  /** Host name or IP address, IPv6 without brackets. */
  readonly host: string;
  readonly port: number;
  /** The grpc-js target, `host:port` with IPv6 in brackets. Also the key of the endpoint's shared channel. */
  readonly target: string;
  /**
   * The IP address to dial when kvctl resolved `host` itself (`--dns-server`, SRV discovery); `host` stays
   * the name for TLS checks and output. Without it, grpc-js resolves `host` with the system's resolver.
   */
  readonly address?: string;
};

/** `ep` dialled at the address `addresses` gives for its host name, if any (an IP host needs none). */
export function withResolvedAddress(ep: Endpoint, addresses: ReadonlyMap<string, string> | undefined): Endpoint {
  const address = addresses?.get(ep.host);
  return address === undefined || address === ep.host ? ep : { ...ep, address };
}

/** What grpc-js and the TLS probe connect to: the resolved address when there is one, else the target. */
export function dialTarget(ep: Endpoint): string {
  if (ep.address === undefined) return ep.target;
  return ep.address.includes(':') ? `[${ep.address}]:${ep.port}` : `${ep.address}:${ep.port}`;
}

/** The name a TLS server certificate must hold for `ep`: its host, without a DNS name's trailing dot. */
export function tlsHostName(ep: Endpoint): string {
  return ep.host.endsWith('.') ? ep.host.slice(0, -1) : ep.host;
}

/** The endpoint etcdctl uses when `--endpoints` is not given. */
export const defaultEndpoint = '127.0.0.1:2379';

function bad(raw: string, why: string): ClientError {
  return new ClientError(`invalid endpoint "${raw}": ${why}`, { code: 'BAD_ENDPOINT', kind: 'bad-request' });
}

/** Parses one endpoint; throws a `ClientError` (code `BAD_ENDPOINT`) that says what is wrong with it. */
export function parseEndpoint(input: string): Endpoint {
  const raw = input.trim();
  if (raw === '') throw bad(input, 'empty');
  let scheme: Endpoint['scheme'];
  let hostPort = raw;
  const prefix = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(raw);
  if (prefix) {
    const name = (prefix[1] ?? '').toLowerCase();
    if (name !== 'http' && name !== 'https') throw bad(raw, `unsupported scheme "${name}" (use http:// or https://)`);
    scheme = name;
    hostPort = raw.slice(prefix[0].length).replace(/\/$/, '');
    if (hostPort.includes('/') || hostPort.includes('?') || hostPort.includes('#')) throw bad(raw, 'a path is not allowed');
  }
  // `[v6addr]:port` or `host:port`; etcd endpoints always carry an explicit port.
  const m = /^\[([0-9a-fA-F:.%a-zA-Z]+)\]:(\d+)$/.exec(hostPort) ?? /^([^:[\]\s]+):(\d+)$/.exec(hostPort);
  if (!m) throw bad(raw, 'expected host:port');
  const host = m[1] ?? '';
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad(raw, `port ${m[2]} out of range`);
  const target = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return { raw, scheme, secure: scheme === 'https', host, port, target };
}

/**
 * Parses a list of endpoints: each entry may itself be comma separated (`--endpoints a,b`, or the value of
 * `ETCDCTL_ENDPOINTS`). Empty entries are skipped; at least one endpoint must remain.
 */
export function parseEndpoints(list: string | readonly string[]): Endpoint[] {
  const parts = (typeof list === 'string' ? [list] : list).flatMap((s) => s.split(',')).filter((s) => s.trim() !== '');
  if (parts.length === 0) {
    throw new ClientError('no endpoints given', { code: 'BAD_ENDPOINT', kind: 'bad-request' });
  }
  return parts.map(parseEndpoint);
}
