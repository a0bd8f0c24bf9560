/**
 * `kvctl discovery new`: a fresh etcd v2 discovery token on a running cluster, for members started with
 * `--discovery <url>` (kvctl nodes, or etcd 3.4's v2 discovery).
 *
 * A token is the v2 directory `/_etcd/registry/<token>` holding the expected cluster size at
 * `_config/size` (etcd's discovery-protocol convention). It is created with `prevExist=false`, so an
 * existing token is never reused or resized: a token bootstraps exactly one cluster. Works against a
 * kvctl node (which serves this part of the v2 API, keeping it in its v3 keyspace) and against etcd 3.4
 * started with --enable-v2; an etcd without it answers 404 in plain text, reported as such.
 *
 * The endpoints are tried in order until one answers; the URL names the one that did (a discovery URL
 * holds one endpoint, as etcd's does).
 */
import { randomBytes } from 'node:crypto';

import { V2InvalidJsonError, V2KeysClient, V2KeysError, V2UnavailableError } from '../base/node-v2-keys.js';
import type { TlsOptions } from './client.js';
import type { Endpoint } from './endpoints.js';
import { ClientError } from './errors.js';
import { usesTls } from './tls.js';

/** The v2 directory of discovery tokens, by convention. */
export const DISCOVERY_REGISTRY = '/_etcd/registry';

export interface NewDiscoveryOptions {
  readonly endpoints: readonly Endpoint[];
  /** The expected number of members (at least 1). */
  readonly size: number;
  /** The token (a URL path segment); default 32 random hex characters, like discovery.etcd.io's. */
  readonly token?: string;
  readonly tls?: TlsOptions;
  /** Per request (default 5 s). */
  readonly timeoutMs?: number;
}

export interface NewDiscoveryResult {
  /** What members take as --discovery: `http://<endpoint>/v2/keys/_etcd/registry/<token>`. */
  readonly url: string;
  readonly token: string;
  readonly size: number;
  /** The endpoint that created the token (as written in --endpoints). */
  readonly endpoint: string;
  /** The store index (v3 revision on a kvctl node) at which `_config/size` was created. */
  readonly index: number;
}

/** A token is one path segment of URL-safe characters, so that the URL needs no escaping. */
const TOKEN_RE = /^[A-Za-z0-9._~-]+$/;

export function newToken(): string {
  return randomBytes(16).toString('hex');
}

export async function createDiscoveryToken(opts: NewDiscoveryOptions): Promise<NewDiscoveryResult> {
  const token = opts.token ?? newToken();
  if (!TOKEN_RE.test(token) || token === '.' || token === '..') {
    throw new ClientError(`invalid token "${token}": use letters, digits and . _ ~ - only (one URL path segment)`, { code: 'BAD_REQUEST', kind: 'bad-request' });
  }
  if (!Number.isSafeInteger(opts.size) || opts.size < 1) {
    throw new ClientError(`invalid size ${opts.size}: a cluster has at least 1 member`, { code: 'BAD_REQUEST', kind: 'bad-request' });
  }
  const dir = `${DISCOVERY_REGISTRY}/${token}`;
  const failures: string[] = [];
  for (const ep of opts.endpoints) {
    const origin = new URL(`${usesTls(ep, opts.tls) ? 'https' : 'http'}://${ep.target}`);
    const tls = opts.tls === undefined ? undefined : { ca: opts.tls.ca, cert: opts.tls.cert, key: opts.tls.key, rejectUnauthorized: opts.tls.insecureSkipVerify !== true };
    const client = new V2KeysClient(origin, { requestTimeoutMs: opts.timeoutMs ?? 5000, ...(tls !== undefined ? { tls } : {}) });
    try {
      const resp = await client.create(`/v2/keys${dir}/_config/size`, String(opts.size));
      return { url: `${origin.origin}/v2/keys${dir}`, token, size: opts.size, endpoint: ep.raw, index: resp.node.createdIndex };
    } catch (err) {
      if (err instanceof V2UnavailableError) {
        failures.push(`${ep.raw}: ${err.message}`);
        continue;
      }
      if (err instanceof V2KeysError && err.errorCode === 105) {
        throw new ClientError(`discovery token "${token}" already exists on ${ep.raw} (a token bootstraps one cluster): choose another --token`, {
          code: 'DISCOVERY_TOKEN_EXISTS',
          kind: 'server',
          endpoint: ep.raw,
          cause: err,
        });
      }
      if (err instanceof V2InvalidJsonError) {
        throw new ClientError(
          `${ep.raw} does not serve the etcd v2 keys API (HTTP ${err.status}, not v2 JSON): a kvctl node serves it, etcd 3.4 needs --enable-v2`,
          { code: 'DISCOVERY_NO_V2', kind: 'server', endpoint: ep.raw, cause: err },
        );
      }
      if (err instanceof V2KeysError) throw new ClientError(err.message, { code: 'DISCOVERY_V2_ERROR', kind: 'server', endpoint: ep.raw, cause: err });
      throw err;
    }
  }
  throw new ClientError(`no endpoint could create the discovery token: ${failures.join('; ')}`, { code: 'ENDPOINTS_UNREACHABLE', kind: 'unreachable' });
}

export interface DiscoveryTokenState {
  /** `_config/size`; undefined when the token has none (etcd's members would fail). */
  readonly size: number | undefined;
  /** The registrations so far (`name=peerURL` values), in the order they were made. */
  readonly registered: readonly string[];
}

/** What a discovery URL holds now: its size and who registered (a preflight before members start). */
export async function inspectDiscoveryToken(url: string, timeoutMs = 5000): Promise<DiscoveryTokenState> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ClientError(`discovery URL ${JSON.stringify(url)} is not a URL`, { code: 'BAD_REQUEST', kind: 'bad-request' });
  }
  const client = new V2KeysClient(new URL(u.origin), { requestTimeoutMs: timeoutMs });
  try {
    // v2 hides keys starting with "_" from directory listings: the size is read by its own name.
    const sizeValue = await client.get(`${u.pathname}/_config/size`).then(
      (r) => r.node.value,
      (err: unknown) => {
        if (err instanceof V2KeysError && err.errorCode === 100) return undefined;
        throw err;
      },
    );
    const size = sizeValue !== undefined && /^\d+$/.test(sizeValue) ? Number(sizeValue) : undefined;
    const resp = await client.get(u.pathname, { recursive: true });
    const registered = (resp.node.nodes ?? [])
      .filter((n) => n.value !== undefined)
      .sort((a, b) => a.createdIndex - b.createdIndex)
      .map((n) => n.value as string);
    return { size, registered };
  } catch (err) {
    if (err instanceof V2UnavailableError) throw new ClientError(`discovery service ${u.origin} is unreachable: ${err.message}`, { code: 'ENDPOINTS_UNREACHABLE', kind: 'unreachable', cause: err });
    if (err instanceof V2KeysError && err.errorCode === 100) return { size: undefined, registered: [] };
    if (err instanceof V2KeysError || err instanceof V2InvalidJsonError) throw new ClientError(`discovery URL ${url}: ${err.message}`, { code: 'DISCOVERY_V2_ERROR', kind: 'server', cause: err });
    throw err;
  }
}
