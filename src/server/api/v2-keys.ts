/**
 * `/v2/keys` on the client port: the part of etcd's v2 keys API that the v2 discovery protocol uses, so
 * that a kvctl node can serve discovery tokens to kvctl nodes and to real etcd members
 * (`etcd --discovery http://<node>/v2/keys/_etcd/registry/<token>`). Where the keys live (the v3
 * keyspace, etcd 3.6's discovery layout) and which paths are served: v2-registry.ts.
 *
 * Served, with etcd 3.4's answers (status, JSON bodies byte for byte, `X-Etcd-Index`, `X-Etcd-Cluster-Id`,
 * `X-Raft-Index`, `X-Raft-Term`, v2 error bodies `{"errorCode","message","cause","index"}`):
 * - GET of a key, of a token directory or its `_config` (children listed; `_` names hidden, recursive
 *   alike). Reads are linearizable (etcd's quorum=true), whatever `quorum` says.
 * - GET with `wait=true` (long poll): the headers go out at once, the body with the first matching event
 *   at or after `waitIndex` (0: the next one); `recursive=true` for a directory; `stream=true` keeps
 *   sending. Served by a v3 watch from that revision, so a compacted index is 401 "The event in requested
 *   index is outdated and cleared". Like etcd, a recursive wait sees a hidden (`_config`) change that is
 *   already history when it starts, but not one that happens while it waits.
 * - PUT of a key with `value` (form body or query): `set`, `prevExist=false` (`create`, 105 "Key already
 *   exists" when it exists) or `prevExist=true` (`update`, 100 when missing); `noValueOnSuccess`.
 * - DELETE of a key; of a token or `_config` directory with `recursive=true` (102 "Not a file" without,
 *   108 "Directory not empty" with `dir=true` alone).
 * - etcd's request checks and their errors (203 for a bad waitIndex, 209 for a bad boolean, ...).
 *
 * Not served, with a v2 error that says so (209, HTTP 400), never a fake success: other paths, POST
 * (in-order keys), ttl/refresh, prevValue/prevIndex, dir=true on PUT, a non-recursive wait on a
 * directory. With v3 auth enabled every request is refused with 110 (401): v2 requests carry no v3
 * credentials, and the keys are v3 keys. A learner answers 300 (500), as it serves no such requests.
 * Failures of the write path (no leader, timeouts) answer 300 with HTTP 500, which clients retry.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import type { Logger } from '../../base/logger.js';
import { EtcdApiError } from '../../proto/errors.js';
import {
  Compare,
  Compare_CompareResult,
  Compare_CompareTarget,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  TxnRequest,
} from '../../proto/gen/etcdserverpb/rpc.js';
import { type Event, Event_EventType, type KeyValue } from '../../proto/gen/mvccpb/kv.js';
import { AuthFeature } from '../kvserver/auth-feature.js';
import { idHex } from '../kvserver/ids.js';
import type { V3Api } from '../kvserver/v3.js';
import { AUTO_WATCH_ID, WatchFeature } from '../kvserver/watch-feature.js';
import {
  REGISTRY_DIR,
  type V2EventOut,
  type V2NodeOut,
  type V2Path,
  V2Error,
  classify,
  cleanPath,
  eventJson,
  isHiddenBelow,
  tokenPrefix,
  unsupported,
  v2PathOf,
} from './v2-registry.js';

export const KEYS_PREFIX = '/v2/keys';
const ALLOWED_METHODS = ['HEAD', 'GET', 'PUT', 'POST', 'DELETE'];
/** Go's net/http reads at most this much of a form body. */
const MAX_FORM_BYTES = 10 << 20;

/** True for the paths this handler owns (`/v2/keys` and below), as etcd's mux routes them. */
export function isV2KeysPath(path: string): boolean {
  return path === KEYS_PREFIX || path.startsWith(`${KEYS_PREFIX}/`);
}

export function v2KeysHandler(api: V3Api, logger: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    serve(api, req, res).catch((err: unknown) => {
      const e = err instanceof V2Error ? err : internal(err, logger);
      if (res.headersSent) {
        res.end();
        return;
      }
      sendError(res, e);
    });
  };
}

/** A failure that is not the client's: etcd's 300 "Raft Internal Error" (HTTP 500, which clients retry). */
function internal(err: unknown, logger: Logger): V2Error {
  if (!(err instanceof EtcdApiError)) logger.warn(`v2 keys: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  return new V2Error(300, err instanceof Error ? err.message : String(err), 0);
}

/** One parsed request (etcd's parseKeyRequest result, as far as this subset needs it). */
interface KeyRequest {
  readonly method: string;
  readonly path: string;
  readonly value: string;
  readonly dir: boolean;
  readonly prevValue: string | undefined;
  readonly prevIndex: number;
  readonly prevExist: boolean | undefined;
  readonly wait: boolean;
  readonly waitIndex: number;
  readonly recursive: boolean;
  readonly stream: boolean;
  readonly ttl: number | undefined;
  readonly refresh: boolean | undefined;
  readonly noValueOnSuccess: boolean;
}

async function serve(api: V3Api, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = req.method ?? 'GET';
  if (!ALLOWED_METHODS.includes(method)) {
    const text = 'Method Not Allowed\n';
    res.writeHead(405, { Allow: ALLOWED_METHODS.join(','), 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff', 'Content-Length': text.length });
    res.end(text);
    return;
  }
  const url = new URL(req.url ?? '/', 'http://localhost');
  let rawPath: string;
  try {
    rawPath = decodeURIComponent(url.pathname);
  } catch {
    res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
    res.end('400 Bad Request');
    return;
  }
  res.setHeader('X-Etcd-Cluster-Id', idHex(api.server.clusterId));
  const form = await readForm(req, url.searchParams);
  const rr = parseKeyRequest(method, cleanPath(rawPath.slice(KEYS_PREFIX.length)), form);
  if (api.server.feature(AuthFeature)?.store.enabled === true) throw new V2Error(110, 'Insufficient credentials', 0);
  if (api.server.isLearner) throw new V2Error(300, 'etcdserver: rpc not supported for learner', 0);
  const p = checkServed(rr);
  if (method === 'GET' || method === 'HEAD') {
    if (rr.wait) await waitFor(api, res, p, rr);
    else send(api, res, await get(api, p));
  } else if (method === 'PUT') {
    send(api, res, await put(api, p, rr));
  } else {
    send(api, res, await del(api, p, rr));
  }
}

/** Query values, then (for PUT and POST with a form body) the body's values first, as Go's ParseForm orders them. */
async function readForm(req: IncomingMessage, query: URLSearchParams): Promise<Map<string, string[]>> {
  const form = new Map<string, string[]>();
  const add = (params: URLSearchParams) => {
    for (const [k, v] of params) form.set(k, [...(form.get(k) ?? []), v]);
  };
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if ((req.method === 'PUT' || req.method === 'POST') && type === 'application/x-www-form-urlencoded') {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_FORM_BYTES) throw new V2Error(210, 'http: request body too large', 0);
      chunks.push(chunk);
    }
    add(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
  } else {
    req.resume();
  }
  add(query);
  return form;
}

/** Go's strconv.ParseBool. */
function parseGoBool(text: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  return undefined;
}

/** etcd's parseKeyRequest checks, in its order, with its errors (index 0: no store was read). */
export function parseKeyRequest(method: string, path: string, form: ReadonlyMap<string, readonly string[]>): KeyRequest {
  const first = (k: string) => form.get(k)?.[0];
  const uint = (k: string, code: 203 | 202, cause: string): number => {
    const v = first(k);
    if (v === undefined) return 0;
    if (!/^\d+$/.test(v) || BigInt(v) >= 1n << 64n) throw new V2Error(code, cause, 0);
    return Math.min(Number(v), Number.MAX_SAFE_INTEGER);
  };
  const bool = (k: string, cause = `invalid value for "${k}"`): boolean => {
    const v = first(k);
    if (v === undefined) return false;
    const b = parseGoBool(v);
    if (b === undefined) throw new V2Error(209, cause, 0);
    return b;
  };
  const prevIndex = uint('prevIndex', 203, 'invalid value for "prevIndex"');
  const waitIndex = uint('waitIndex', 203, 'invalid value for "waitIndex"');
  const recursive = bool('recursive');
  bool('sorted');
  const wait = bool('wait');
  const dir = bool('dir');
  bool('quorum');
  const stream = bool('stream');
  if (wait && method !== 'GET') throw new V2Error(209, '"wait" can only be used with GET requests', 0);
  const prevValue = first('prevValue');
  if (prevValue === '') throw new V2Error(201, '"prevValue" cannot be empty', 0);
  const noValueOnSuccess = bool('noValueOnSuccess');
  const ttlText = first('ttl') ?? '';
  const ttl = ttlText === '' ? undefined : uint('ttl', 202, 'invalid value for "ttl"');
  const prevExist = form.has('prevExist') ? bool('prevExist', 'invalid value for prevExist') : undefined;
  let refresh: boolean | undefined;
  if (form.has('refresh')) {
    refresh = bool('refresh', 'invalid value for refresh');
    if (refresh && (first('value') ?? '') !== '') throw new V2Error(211, 'A value was provided on a refresh', 0);
    if (refresh && ttl === undefined) throw new V2Error(212, 'No TTL value set', 0);
  }
  return { method, path, value: first('value') ?? '', dir, prevValue, prevIndex, prevExist, wait, waitIndex, recursive, stream, ttl, refresh, noValueOnSuccess };
}

/** The request's path in the served subset, or the refusal of what this node does not serve. */
function checkServed(rr: KeyRequest): V2Path {
  if (rr.method === 'POST') throw unsupported('POST (in-order keys)');
  if (rr.ttl !== undefined) throw unsupported('ttl');
  if (rr.refresh !== undefined) throw unsupported('refresh');
  if (rr.prevValue !== undefined) throw unsupported('prevValue (compare-and-swap)');
  if (rr.prevIndex !== 0) throw unsupported('prevIndex (compare-and-swap)');
  if (rr.method === 'PUT' && rr.dir) throw unsupported('dir=true (explicit directories)');
  const p = classify(rr.path);
  if (p.kind === 'outside') throw unsupported(`the path ${p.path}`);
  if (rr.wait && p.kind !== 'key' && !rr.recursive) throw unsupported('waiting on a directory without recursive=true');
  return p;
}

// ---- reads -------------------------------------------------------------------------------------------

/** The v2 keys of one token at one revision. */
interface TokenView {
  readonly rev: number;
  readonly token: string;
  readonly keys: ReadonlyArray<{ readonly path: string; readonly kv: KeyValue; readonly underConfig: boolean }>;
}

function prefixRange(prefix: string): { key: Buffer; rangeEnd: Buffer } {
  // Every prefix here ends with '/', so the end of its range is the same text ending in '0'.
  return { key: Buffer.from(prefix), rangeEnd: Buffer.from(`${prefix.slice(0, -1)}0`) };
}

async function readToken(api: V3Api, token: string, revision?: number): Promise<TokenView> {
  const resp = await api.range(
    RangeRequest.fromPartial({ ...prefixRange(tokenPrefix(token)), ...(revision !== undefined ? { revision: BigInt(revision), serializable: true } : {}) }),
  );
  const keys = resp.kvs.flatMap((kv) => {
    const path = v2PathOf(token, kv.key.toString('utf8'));
    return path === undefined ? [] : [{ path, kv, underConfig: path.startsWith(`${REGISTRY_DIR}/${token}/_config/`) }];
  });
  return { rev: Number(resp.header?.revision ?? 0n), token, keys };
}

function keyNode(path: string, kv: KeyValue): V2NodeOut {
  return { key: path, value: kv.value.toString('utf8'), modifiedIndex: Number(kv.modRevision), createdIndex: Number(kv.createRevision) };
}

function minCreate(kvs: ReadonlyArray<{ kv: KeyValue }>): number {
  return kvs.reduce((m, k) => Math.min(m, Number(k.kv.createRevision)), Number.MAX_SAFE_INTEGER);
}

/** The keys of a directory of the view (every key below it), or none when it does not exist. */
function below(view: TokenView, p: V2Path): TokenView['keys'] {
  return p.kind === 'config-dir' ? view.keys.filter((k) => k.underConfig) : view.keys;
}

/** 100 "Key not found" naming the first missing part of the path, as etcd's store walks it. */
async function notFound(api: V3Api, view: TokenView, p: V2Path): Promise<V2Error> {
  let cause = p.path;
  if (view.keys.length === 0) {
    const registry = await api.range(RangeRequest.fromPartial({ ...prefixRange(`${REGISTRY_DIR}/`), revision: BigInt(view.rev), serializable: true, countOnly: true }));
    cause = registry.count === 0n ? '/_etcd' : `${REGISTRY_DIR}/${view.token}`;
  } else if (p.kind === 'key' && p.underConfig && !view.keys.some((k) => k.underConfig)) {
    cause = `${REGISTRY_DIR}/${view.token}/_config`;
  }
  return new V2Error(100, cause, view.rev);
}

interface Answer {
  readonly status: number;
  readonly event: V2EventOut;
  readonly index: number;
}

async function get(api: V3Api, p: V2Path): Promise<Answer> {
  if (p.kind === 'outside') throw unsupported(`the path ${p.path}`);
  const view = await readToken(api, p.token);
  if (p.kind === 'key') {
    const k = view.keys.find((x) => x.path === p.path);
    if (k === undefined) throw await notFound(api, view, p);
    return { status: 200, event: { action: 'get', node: keyNode(p.path, k.kv) }, index: view.rev };
  }
  const keys = below(view, p);
  if (keys.length === 0) throw await notFound(api, view, p);
  // Children: the keys directly below (hidden names left out, as etcd lists them); in this layout no
  // visible directory lies below a token or its _config, so a recursive listing is the same.
  const children = keys
    .filter((k) => k.path.lastIndexOf('/') === p.path.length && !isHiddenBelow(p.path, k.path))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((k) => keyNode(k.path, k.kv));
  const created = minCreate(keys);
  return { status: 200, event: { action: 'get', node: { key: p.path, dir: true, nodes: children, modifiedIndex: created, createdIndex: created } }, index: view.rev };
}

// ---- writes ------------------------------------------------------------------------------------------

function compareCreate(key: Buffer, result: Compare_CompareResult): Compare {
  return Compare.fromPartial({ result, target: Compare_CompareTarget.CREATE, key, createRevision: 0n });
}

async function put(api: V3Api, p: V2Path, rr: KeyRequest): Promise<Answer> {
  if (p.kind !== 'key') {
    // The token and _config paths are always directories here.
    throw new V2Error(102, p.path, api.server.kv.currentRevision);
  }
  const key = Buffer.from(p.v3Key);
  const value = Buffer.from(rr.value, 'utf8');
  const putOp = RequestOp.fromPartial({ requestPut: { key, value, prevKv: true } });
  let action: string;
  let rev: number;
  let prev: KeyValue | undefined;
  if (rr.prevExist === undefined) {
    const resp = await api.put(PutRequest.fromPartial({ key, value, prevKv: true }));
    action = 'set';
    rev = Number(resp.header?.revision ?? 0n);
    prev = resp.prevKv;
  } else {
    // create: the key must not exist (create revision 0); update: it must.
    const cmp = compareCreate(key, rr.prevExist ? Compare_CompareResult.GREATER : Compare_CompareResult.EQUAL);
    const resp = await api.txn(TxnRequest.fromPartial({ compare: [cmp], success: [putOp] }));
    rev = Number(resp.header?.revision ?? 0n);
    if (!resp.succeeded) {
      if (!rr.prevExist) throw new V2Error(105, p.path, rev);
      throw await notFound(api, await readToken(api, p.token, rev), p);
    }
    action = rr.prevExist ? 'update' : 'create';
    prev = resp.responses[0]?.responsePut?.prevKv;
  }
  const node: V2NodeOut = { key: p.path, value: rr.value, modifiedIndex: rev, createdIndex: prev !== undefined ? Number(prev.createRevision) : rev };
  const event: V2EventOut = rr.noValueOnSuccess
    ? { action }
    : { action, node, ...(prev !== undefined ? { prevNode: keyNode(p.path, prev) } : {}) };
  return { status: prev === undefined ? 201 : 200, event, index: rev };
}

async function del(api: V3Api, p: V2Path, rr: KeyRequest): Promise<Answer> {
  if (p.kind === 'outside') throw unsupported(`the path ${p.path}`);
  if (p.kind === 'key') {
    const resp = await api.deleteRange(DeleteRangeRequest.fromPartial({ key: Buffer.from(p.v3Key), prevKv: true }));
    const rev = Number(resp.header?.revision ?? 0n);
    const prev = resp.prevKvs[0];
    if (prev === undefined) throw await notFound(api, await readToken(api, p.token, rev), p);
    const node: V2NodeOut = { key: p.path, modifiedIndex: rev, createdIndex: Number(prev.createRevision) };
    return { status: 200, event: { action: 'delete', node, prevNode: keyNode(p.path, prev) }, index: rev };
  }
  if (!rr.recursive) {
    const view = await readToken(api, p.token);
    if (below(view, p).length === 0) throw await notFound(api, view, p);
    // A directory needs dir=true (and is never empty here: it exists while keys are below it).
    throw new V2Error(rr.dir ? 108 : 102, p.path, view.rev);
  }
  const prefix = p.kind === 'config-dir' ? `${tokenPrefix(p.token)}_config/` : tokenPrefix(p.token);
  const range = prefixRange(prefix);
  // One txn reads what it deletes: the directory's createdIndex comes from the keys that were there.
  const resp = await api.txn(TxnRequest.fromPartial({ success: [{ requestRange: range }, { requestDeleteRange: range }] }));
  const rev = Number(resp.header?.revision ?? 0n);
  const kvs = resp.responses[0]?.responseRange?.kvs ?? [];
  if (kvs.length === 0) throw await notFound(api, await readToken(api, p.token, rev), p);
  const created = minCreate(kvs.map((kv) => ({ kv })));
  return {
    status: 200,
    event: {
      action: 'delete',
      node: { key: p.path, dir: true, modifiedIndex: rev, createdIndex: created },
      prevNode: { key: p.path, dir: true, modifiedIndex: created, createdIndex: created },
    },
    index: rev,
  };
}

// ---- the long poll -----------------------------------------------------------------------------------

/** A v3 event as the v2 event a watcher on `p` gets, or undefined when it is not one. */
export function toV2Event(p: V2Path, e: Event, startIndex: number): V2EventOut | undefined {
  if (p.kind === 'outside' || e.kv === undefined) return undefined;
  const path = v2PathOf(p.token, e.kv.key.toString('utf8'));
  if (path === undefined) return undefined;
  if (p.kind === 'key' && path !== p.path) return undefined;
  const rev = Number(e.kv.modRevision);
  // etcd's history scan does not hide `_` names below the watched directory, its live notification does.
  if (p.kind !== 'key' && rev > startIndex && isHiddenBelow(p.path, path)) return undefined;
  const prevNode = e.prevKv !== undefined ? keyNode(path, e.prevKv) : undefined;
  if (e.type === Event_EventType.DELETE) {
    const node: V2NodeOut = { key: path, modifiedIndex: rev, createdIndex: Number(e.prevKv?.createRevision ?? 0n) };
    return { action: 'delete', node, ...(prevNode !== undefined ? { prevNode } : {}) };
  }
  // The v3 store keeps no v2 action: a key's first version reads as `create`, later ones as `set`.
  const action = e.kv.version === 1n ? 'create' : 'set';
  return { action, node: keyNode(path, e.kv), ...(prevNode !== undefined && action !== 'create' ? { prevNode } : {}) };
}

async function waitFor(api: V3Api, res: ServerResponse, p: V2Path, rr: KeyRequest): Promise<void> {
  if (p.kind === 'outside') throw unsupported(`the path ${p.path}`);
  const store = api.server.feature(WatchFeature)?.store;
  if (store === undefined) throw new V2Error(300, 'kvctl node: the watch feature is not installed', 0);
  const kv = api.server.kv;
  const startIndex = kv.currentRevision;
  if (rr.waitIndex !== 0 && rr.waitIndex <= kv.compactRevision) {
    throw new V2Error(401, `the requested history has been cleared [${kv.compactRevision + 1}/${rr.waitIndex}]`, startIndex);
  }
  const { key, rangeEnd } =
    p.kind === 'key'
      ? { key: Buffer.from(p.v3Key), rangeEnd: Buffer.alloc(0) }
      : prefixRange(p.kind === 'config-dir' ? `${tokenPrefix(p.token)}_config/` : tokenPrefix(p.token));
  // Headers first, so that a client knows its watch started (etcd flushes them at once).
  res.writeHead(200, { 'Content-Type': 'application/json', ...raftHeaders(api, startIndex) });
  res.flushHeaders();
  let done = false;
  const stream = store.openStream({
    write: (out) => {
      if (done) return true;
      if (out.canceled) {
        finish();
        return true;
      }
      let writable = true;
      for (const e of out.events) {
        const ev = toV2Event(p, e, startIndex);
        if (ev === undefined) continue;
        writable = res.write(eventJson(ev));
        if (!rr.stream) {
          finish();
          return true;
        }
      }
      return writable;
    },
  });
  const finish = () => {
    if (done) return;
    done = true;
    res.end();
    // Not from inside the store's delivery: close the watch stream once it has returned.
    setImmediate(() => stream.close());
  };
  res.on('close', finish);
  res.on('drain', () => stream.resume());
  stream.watch({
    key,
    rangeEnd,
    startRevision: rr.waitIndex,
    watchId: AUTO_WATCH_ID,
    noPut: false,
    noDelete: false,
    prevKv: true,
    progressNotify: false,
    fragment: false,
  });
}

// ---- answers -----------------------------------------------------------------------------------------

function raftHeaders(api: V3Api, etcdIndex: number): Record<string, string> {
  const st = api.server.status();
  return { 'X-Etcd-Index': String(etcdIndex), 'X-Raft-Index': String(st.committedIndex), 'X-Raft-Term': String(st.term) };
}

function send(api: V3Api, res: ServerResponse, a: Answer): void {
  const body = eventJson(a.event);
  res.writeHead(a.status, { 'Content-Type': 'application/json', ...raftHeaders(api, a.index), 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function sendError(res: ServerResponse, e: V2Error): void {
  const body = e.body();
  res.writeHead(e.status, { 'Content-Type': 'application/json', 'X-Etcd-Index': String(e.index), 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
