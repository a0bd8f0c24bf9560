/**
 * A small client of etcd's v2 keys API (`/v2/keys/...` over HTTP/1.1), as far as the discovery protocol
 * uses it: get (optionally recursive), create (`prevExist=false`), set, and the long-poll watch
 * (`wait=true&waitIndex=N`). Shared by the node's discovery client (server/kvserver/discovery.ts) and
 * `kvctl discovery new` (client/discovery.ts); it speaks to a kvctl node and to a real etcd alike.
 *
 * It behaves as etcd's Go v2 client (client/keys.go) does where callers can tell:
 * - requests: the key is the URL path as given (etcd's discovery client uses no `/v2/keys` prefix of its
 *   own: the discovery URL's path is the key); a PUT sends the value as an
 *   `application/x-www-form-urlencoded` body and `prevExist` in the query; a GET sends `recursive`,
 *   `sorted` and `quorum`; a watch sends `wait=true&waitIndex=<after+1>&recursive=`.
 * - answers: 200/201 with a JSON body is a response, its index read from `X-Etcd-Index`; any 5xx, or no
 *   answer at all, is `V2UnavailableError` (Go's ClusterError: the caller may retry); another status with a
 *   v2 error body is `V2KeysError` ("100: Key not found (/foo) [14]", Go's client.Error text); a body
 *   that is not JSON is `V2InvalidJsonError` (e.g. an etcd started without --enable-v2 answers 404 text).
 * - timeouts: requests other than watches give up after `requestTimeoutMs` (Go's DefaultRequestTimeout,
 *   5 s) as unavailable; a watch waits as long as it takes (until `signal` aborts it).
 */
import { type IncomingMessage, type OutgoingHttpHeaders, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

import { KvError } from './errors.js';

/** A node of a v2 answer (etcd's NodeExtern, as far as discovery reads it). */
export interface V2Node {
  readonly key: string;
  readonly value?: string;
  readonly dir?: boolean;
  readonly nodes?: readonly V2Node[];
  readonly createdIndex: number;
  readonly modifiedIndex: number;
}

/** A successful v2 answer: the event, and the store index of the `X-Etcd-Index` header. */
export interface V2Response {
  readonly action: string;
  readonly node: V2Node;
  readonly prevNode?: V2Node;
  readonly index: number;
}

/** The server answered with a v2 error (etcd's client.Error): e.g. 100 Key not found, 105 Key already exists. */
export class V2KeysError extends KvError {
  readonly code = 'V2_KEYS_ERROR';
  constructor(
    readonly errorCode: number,
    readonly errorMessage: string,
    readonly errorCause: string,
    readonly index: number,
  ) {
    super(`${errorCode}: ${errorMessage} (${errorCause}) [${index}]`);
  }
}

/** No usable answer: the connection failed or timed out, or the server answered 5xx (etcd's ClusterError). */
export class V2UnavailableError extends KvError {
  readonly code = 'V2_UNAVAILABLE';
}

/** The answer was not v2 JSON: the URL is probably not an etcd v2 keys endpoint. */
export class V2InvalidJsonError extends KvError {
  readonly code = 'V2_INVALID_JSON';
  constructor(readonly status: number) {
    super('client: response is invalid json. The endpoint is probably not valid etcd cluster endpoint.');
  }
}

/** etcd v2 error codes a caller tests for. */
export const V2ErrorCode = { keyNotFound: 100, nodeExist: 105 } as const;

export interface V2KeysClientOptions {
  /** For https endpoints: CA bundle and client certificate (PEM); without `ca`, the system's roots. */
  readonly tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean };
  /** Requests other than watches fail as unavailable after this long (default 5 s, etcd's client default). */
  readonly requestTimeoutMs?: number;
}

/** A header or JSON index as a number (0 when absent or malformed, as Go leaves it). */
function toIndex(v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : Number.NaN;
  return Number.isSafeInteger(n) ? n : 0;
}

function isNode(v: unknown): v is V2Node {
  return typeof v === 'object' && v !== null && typeof (v as { key?: unknown }).key === 'string';
}

/** The path as a URL path: each segment escaped, slashes kept. */
function escapePath(path: string): string {
  return path.split('/').map((s) => encodeURIComponent(s)).join('/');
}

export class V2KeysClient {
  private readonly timeoutMs: number;

  /** `endpoint`: scheme, host and port of the server (any path is ignored). */
  constructor(
    readonly endpoint: URL,
    private readonly opts: V2KeysClientOptions = {},
  ) {
    this.timeoutMs = opts.requestTimeoutMs ?? 5000;
  }

  /** GET `path` (a key or a directory). */
  async get(path: string, opts: { recursive?: boolean } = {}): Promise<V2Response> {
    const q = new URLSearchParams({ quorum: 'false', recursive: String(opts.recursive ?? false), sorted: 'false' });
    return await this.call('GET', path, q, undefined, this.timeoutMs);
  }

  /** PUT `path` only if it does not exist yet (`prevExist=false`); 105 "Key already exists" otherwise. */
  async create(path: string, value: string): Promise<V2Response> {
    return await this.call('PUT', path, new URLSearchParams({ prevExist: 'false' }), value, this.timeoutMs);
  }

  /** PUT `path` whether or not it exists. */
  async set(path: string, value: string): Promise<V2Response> {
    return await this.call('PUT', path, new URLSearchParams(), value, this.timeoutMs);
  }

  /** Long poll: the first change of `path` (or below it, when recursive) after index `afterIndex`. */
  async waitNext(path: string, opts: { afterIndex: number; recursive?: boolean; signal?: AbortSignal }): Promise<V2Response> {
    const q = new URLSearchParams({ recursive: String(opts.recursive ?? false), wait: 'true', waitIndex: String(opts.afterIndex + 1) });
    return await this.call('GET', path, q, undefined, 0, opts.signal);
  }

  private call(method: string, path: string, query: URLSearchParams, value: string | undefined, timeoutMs: number, signal?: AbortSignal): Promise<V2Response> {
    const url = new URL(this.endpoint.origin);
    url.pathname = escapePath(path);
    url.search = query.toString();
    const body = value === undefined ? undefined : Buffer.from(new URLSearchParams({ value }).toString(), 'utf8');
    const headers: OutgoingHttpHeaders = body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded', 'content-length': body.length };
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const tls = url.protocol === 'https:' ? (this.opts.tls ?? {}) : {};
    const where = this.endpoint.origin;
    return new Promise<V2Response>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      // A connection per request (agent: false): a pooled keep-alive connection that the server closed while
      // idle would fail the next request, and discovery would back off for seconds over nothing.
      const req = send(url, { method, headers, agent: false, ...tls, ...(signal !== undefined ? { signal } : {}) }, (res) => {
        collect(res).then(
          (text) => {
            if (timer !== undefined) clearTimeout(timer);
            try {
              resolve(parseAnswer(where, res, text));
            } catch (err) {
              reject(err as Error);
            }
          },
          (err: Error) => {
            if (timer !== undefined) clearTimeout(timer);
            reject(unavailable(where, err.message));
          },
        );
      });
      if (timeoutMs > 0) {
        timer = setTimeout(() => req.destroy(new Error(`client: endpoint ${where} exceeded header timeout`)), timeoutMs);
      }
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (timer !== undefined) clearTimeout(timer);
        if (err.name === 'AbortError') reject(err);
        else reject(unavailable(where, dialText(url, err)));
      });
      req.end(body);
    });
  }
}

function collect(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
    res.on('aborted', () => reject(new Error('unexpected EOF')));
  });
}

function unavailable(endpoint: string, detail: string): V2UnavailableError {
  return new V2UnavailableError(`client: etcd cluster is unavailable or misconfigured; error #0: ${detail} (${endpoint})`);
}

/** How Go names a failed dial: `dial tcp 127.0.0.1:9: connect: connection refused`. */
function dialText(url: URL, err: NodeJS.ErrnoException): string {
  const why: Record<string, string> = {
    ECONNREFUSED: 'connect: connection refused',
    ECONNRESET: 'read: connection reset by peer',
    EHOSTUNREACH: 'connect: no route to host',
    ETIMEDOUT: 'i/o timeout',
  };
  const text = err.code !== undefined ? why[err.code] : undefined;
  return text !== undefined ? `dial tcp ${url.host}: ${text}` : err.message;
}

function parseAnswer(endpoint: string, res: IncomingMessage, text: string): V2Response {
  const status = res.statusCode ?? 0;
  if (Math.floor(status / 100) === 5) {
    const why = status === 500 || status === 503 ? 'has no leader' : `returns server error [${res.statusMessage ?? status}]`;
    throw new V2UnavailableError(`client: etcd cluster is unavailable or misconfigured; error #0: client: etcd member ${endpoint} ${why}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new V2InvalidJsonError(status);
  }
  if (typeof json !== 'object' || json === null) throw new V2InvalidJsonError(status);
  if (status === 200 || status === 201) {
    const body = json as { action?: unknown; node?: unknown; prevNode?: unknown };
    if (typeof body.action !== 'string' || !isNode(body.node)) throw new V2InvalidJsonError(status);
    const header = res.headers['x-etcd-index'];
    return {
      action: body.action,
      node: body.node,
      ...(isNode(body.prevNode) ? { prevNode: body.prevNode } : {}),
      index: toIndex(Array.isArray(header) ? header[0] : header),
    };
  }
  const e = json as { errorCode?: unknown; message?: unknown; cause?: unknown; index?: unknown };
  if (typeof e.errorCode !== 'number') throw new V2InvalidJsonError(status);
  throw new V2KeysError(e.errorCode, typeof e.message === 'string' ? e.message : '', typeof e.cause === 'string' ? e.cause : '', toIndex(e.index));
}
