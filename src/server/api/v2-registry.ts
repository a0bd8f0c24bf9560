/**
 * The v2 keys the node serves for etcd's discovery protocol, and how they live in the v3 keyspace.
 * Pure data and text: the HTTP side is v2-keys.ts.
 *
 * Storage. A kvctl node has no v2 store. The discovery keys live in the v3 keyspace, replicated by raft
 * like any key, in etcd 3.6's v3 discovery layout, so that one token serves v2 clients (etcd 3.4,
 * kvctl) and is readable with the v3 API:
 *
 *   v2 key                                      v3 key
 *   /_etcd/registry/<token>/_config/<name>      /_etcd/registry/<token>/_config/<name>
 *   /_etcd/registry/<token>/<member>            /_etcd/registry/<token>/members/<member>
 *
 * v2 directories are implied: `/_etcd/registry/<token>` and its `_config` exist while a key below them
 * does, and their createdIndex (= modifiedIndex) is the smallest create revision below them. A node's
 * createdIndex and modifiedIndex are the v3 create and mod revisions, the `X-Etcd-Index` of an answer
 * is the v3 revision it was read or written at, and a long poll's waitIndex is a v3 watch start
 * revision, so indexes keep their v2 meaning (every write increases them, a watch from index+1 misses
 * nothing). v3 keys under a token outside this layout are not part of the v2 view.
 *
 * What the v3 store cannot keep, and so differs from etcd's v2 store: a directory exists only while a
 * key is below it (etcd keeps an emptied directory); a `set` of an existing key keeps its createdIndex (a
 * v3 put keeps the create revision; etcd's v2 set replaces the node and restarts it), while `update` keeps
 * it in both; a watch reports a key's first version as `create` and later ones as `set`, as the v2 action
 * is not stored. Discovery creates each key once (prevExist=false), so none of this touches it.
 *
 * Only paths of this layout are served; any other v2 path, and the v2 features discovery does not use
 * (TTLs, compare-and-swap, in-order keys, explicit directories), answer a v2 error naming the limit,
 * never a success.
 */

/** The directory of discovery tokens (etcd's convention, and 3.6's v3 discovery prefix). */
export const REGISTRY_DIR = '/_etcd/registry';

/** What a cleaned v2 path names in the served subset. */
export type V2Path =
  | { readonly kind: 'token-dir'; readonly path: string; readonly token: string }
  | { readonly kind: 'config-dir'; readonly path: string; readonly token: string }
  | { readonly kind: 'key'; readonly path: string; readonly token: string; readonly v3Key: string; readonly underConfig: boolean }
  | { readonly kind: 'outside'; readonly path: string };

/** The v3 prefix of everything under a token (`/_etcd/registry/<token>/`). */
export function tokenPrefix(token: string): string {
  return `${REGISTRY_DIR}/${token}/`;
}

/** Go's path.Clean of `/` + p: one slash between segments, `.` and `..` resolved, no trailing slash. */
export function cleanPath(p: string): string {
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return `/${out.join('/')}`;
}

/** Classifies a cleaned v2 path. */
export function classify(path: string): V2Path {
  const segs = path.split('/').slice(1);
  if (path === '/' || segs[0] !== '_etcd' || segs[1] !== 'registry' || segs.length < 3) return { kind: 'outside', path };
  const token = segs[2] as string;
  if (segs.length === 3) return { kind: 'token-dir', path, token };
  const child = segs[3] as string;
  if (child === '_config') {
    if (segs.length === 4) return { kind: 'config-dir', path, token };
    if (segs.length === 5) return { kind: 'key', path, token, v3Key: `${tokenPrefix(token)}_config/${segs[4] as string}`, underConfig: true };
    return { kind: 'outside', path };
  }
  if (segs.length === 4) return { kind: 'key', path, token, v3Key: `${tokenPrefix(token)}members/${child}`, underConfig: false };
  return { kind: 'outside', path };
}

/** The v2 path of a v3 key under a token, or undefined when the key is outside the layout. */
export function v2PathOf(token: string, v3Key: string): string | undefined {
  const prefix = tokenPrefix(token);
  if (!v3Key.startsWith(prefix)) return undefined;
  const rest = v3Key.slice(prefix.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || rest.indexOf('/', slash + 1) >= 0 || slash === rest.length - 1) return undefined;
  const dir = rest.slice(0, slash);
  const name = rest.slice(slash + 1);
  if (dir === '_config') return `${REGISTRY_DIR}/${token}/_config/${name}`;
  if (dir === 'members') return `${REGISTRY_DIR}/${token}/${name}`;
  return undefined;
}

/** etcd v2 hides names that start with `_` from directory listings and recursive watches. */
export function isHiddenBelow(dir: string, path: string): boolean {
  if (!path.startsWith(`${dir === '/' ? '' : dir}/`)) return false;
  return path
    .slice(dir === '/' ? 1 : dir.length + 1)
    .split('/')
    .some((seg) => seg.startsWith('_'));
}

// ---- JSON, as etcd's encoding/json writes it ---------------------------------------------------------

/** A node of an answer (etcd's NodeExtern), fields in etcd's order. */
export interface V2NodeOut {
  readonly key: string;
  readonly value?: string;
  readonly dir?: boolean;
  readonly nodes?: readonly V2NodeOut[];
  readonly modifiedIndex: number;
  readonly createdIndex: number;
}

export interface V2EventOut {
  readonly action: string;
  readonly node?: V2NodeOut;
  readonly prevNode?: V2NodeOut;
}

/** Go's JSON string: HTML characters and U+2028/2029 escaped as \u00XX, control characters as Go writes them. */
export function goJsonString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || ch === '<' || ch === '>' || ch === '&' || c === 0x2028 || c === 0x2029) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

export function nodeJson(n: V2NodeOut): string {
  const parts = [`"key":${goJsonString(n.key)}`];
  if (n.value !== undefined) parts.push(`"value":${goJsonString(n.value)}`);
  if (n.dir === true) parts.push('"dir":true');
  if (n.nodes !== undefined && n.nodes.length > 0) parts.push(`"nodes":[${n.nodes.map(nodeJson).join(',')}]`);
  parts.push(`"modifiedIndex":${n.modifiedIndex}`, `"createdIndex":${n.createdIndex}`);
  return `{${parts.join(',')}}`;
}

/** An event's body line, as etcd's json.Encoder writes it (with the trailing newline). */
export function eventJson(ev: V2EventOut): string {
  const parts = [`"action":${goJsonString(ev.action)}`];
  if (ev.node !== undefined) parts.push(`"node":${nodeJson(ev.node)}`);
  if (ev.prevNode !== undefined) parts.push(`"prevNode":${nodeJson(ev.prevNode)}`);
  return `{${parts.join(',')}}\n`;
}

// ---- errors ------------------------------------------------------------------------------------------

/** etcd's v2 error codes and messages (etcdserver/api/v2error), the ones this subset answers. */
export const V2_ERRORS = {
  100: 'Key not found',
  102: 'Not a file',
  104: 'Not a directory',
  105: 'Key already exists',
  108: 'Directory not empty',
  110: 'The request requires user authentication',
  201: 'PrevValue is Required in POST form',
  202: 'The given TTL in POST form is not a number',
  203: 'The given index in POST form is not a number',
  209: 'Invalid field',
  210: 'Invalid POST form',
  211: 'Value provided on refresh',
  212: 'A TTL must be provided on refresh',
  300: 'Raft Internal Error',
  401: 'The event in requested index is outdated and cleared',
} as const;

export type V2ErrorCode = keyof typeof V2_ERRORS;

/** The HTTP status of each code (400 for the rest), as etcd maps them. */
const STATUS: Partial<Record<V2ErrorCode, number>> = { 100: 404, 102: 403, 108: 403, 110: 401, 105: 412, 300: 500 };

/** A v2 error answer: `{"errorCode":..,"message":..,"cause":..,"index":..}` with its status. */
export class V2Error extends Error {
  constructor(
    readonly errorCode: V2ErrorCode,
    readonly errorCause: string,
    readonly index: number,
  ) {
    super(`${V2_ERRORS[errorCode]} (${errorCause})`);
  }

  get status(): number {
    return STATUS[this.errorCode] ?? 400;
  }

  body(): string {
    const cause = this.errorCause === '' ? '' : `,"cause":${goJsonString(this.errorCause)}`;
    return `{"errorCode":${this.errorCode},"message":${goJsonString(V2_ERRORS[this.errorCode])}${cause},"index":${this.index}}\n`;
  }
}

/** A request for something this node does not serve: 209 with a cause that says what and why. */
export function unsupported(what: string): V2Error {
  return new V2Error(209, `kvctl: ${what} is not supported: this node serves only the part of the v2 keys API that etcd's discovery protocol uses (keys under ${REGISTRY_DIR}/<token>/)`, 0);
}
