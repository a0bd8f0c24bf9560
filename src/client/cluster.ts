/**
 * etcd's Cluster service (membership) and the Maintenance calls that act on one member (HashKV, MoveLeader), on
 * top of `EtcdClient`, shaped after clientv3's Cluster and Maintenance interfaces.
 *
 * - Member IDs are uint64, as bigint. Membership changes are never replayed on another endpoint after a lost
 *   connection (they may have been applied); the member list is a read and may be.
 * - Peer URLs are checked before anything is sent, as clientv3 does ("fail-fast before panic in rafthttp"), with
 *   the error texts of etcd's `types.NewURLs` and Go's `url.Parse` (`URL scheme must be http, https, unix, or
 *   unixs: ftp://a:1`, `parse "127.0.0.1:2380": first path segment in URL cannot contain colon`). A bad URL is a
 *   `ClientError` with code `BAD_PEER_URL`.
 * - HashKV and MoveLeader go to the one endpoint named (clientv3 sends MoveLeader through a client whose only
 *   endpoint is the leader; a member that is not the leader refuses it with "etcdserver: not leader").
 */
import {
  ClusterService,
  type HashKVResponse,
  MaintenanceService,
  MemberAddRequest,
  type MemberAddResponse,
  type MemberListResponse,
  MemberPromoteRequest,
  type MemberPromoteResponse,
  MemberRemoveRequest,
  type MemberRemoveResponse,
  MemberUpdateRequest,
  type MemberUpdateResponse,
  MoveLeaderRequest,
  type MoveLeaderResponse,
} from '../proto/gen/etcdserverpb/rpc.js';
import type { CallOptions, EtcdClient } from './client.js';
import { ClientError } from './errors.js';
import type { Int64Input } from './ops.js';

/** A member ID: uint64. */
function memberId(id: bigint, what: string): bigint {
  if (BigInt.asUintN(64, id) !== id) {
    throw new ClientError(`${what} ${id} is not a 64-bit unsigned integer`, { code: 'BAD_REQUEST', kind: 'bad-request' });
  }
  return id;
}

function badPeerUrl(message: string): ClientError {
  return new ClientError(message, { code: 'BAD_PEER_URL', kind: 'bad-request' });
}

/** Go's `%q` for the ASCII-and-UTF-8 text of a URL (enough for the error texts below). */
function quote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** What `types.NewURLs` looks at in a URL that Go's `url.Parse` accepted. */
type GoUrl = { scheme: string; host: string; path: string };

const isHex = (c: string): boolean => /^[0-9a-fA-F]$/.test(c);

/** Go's `unescape` checks: every `%` starts a two-digit hex escape; in a host, only some ASCII may appear as is. */
function checkEscapes(s: string, host: boolean): string | undefined {
  for (let i = 0; i < s.length; i++) {
    const c = s[i] ?? '';
    if (c === '%') {
      const esc = s.slice(i, i + 3);
      if (esc.length < 3 || !isHex(esc[1] ?? '') || !isHex(esc[2] ?? '')) return `invalid URL escape ${quote(esc)}`;
      i += 2;
    } else if (host && c.charCodeAt(0) < 0x80 && !/[A-Za-z0-9\-_.~!$&'()*+,;=:[\]<>"]/.test(c)) {
      return `invalid character ${quote(c)} in host name`;
    }
  }
  return undefined;
}

/** Go's `validOptionalPort`: empty, or `:` followed by digits only. */
const validOptionalPort = (port: string): boolean => port === '' || /^:[0-9]*$/.test(port);

/** Go's `url.Parse`: the URL's parts, or the reason it refuses the text (the part of its error after `parse "...": `). */
function parseGoUrl(raw: string): GoUrl | string {
  if ([...raw].some((ch) => ch < ' ' || ch === '\x7f')) return 'net/url: invalid control character in URL';
  const hash = raw.indexOf('#');
  let rest = hash >= 0 ? raw.slice(0, hash) : raw;
  if (hash >= 0) {
    const bad = checkEscapes(raw.slice(hash + 1), false);
    if (bad !== undefined) return bad;
  }
  const url: GoUrl = { scheme: '', host: '', path: '' };
  if (rest === '') return url;
  // The scheme: a letter, then letters, digits, `+`, `-`, `.`, up to the first `:`.
  for (let i = 0; i < rest.length; i++) {
    const c = rest[i] ?? '';
    if (/[a-zA-Z]/.test(c)) continue;
    if (/[0-9+\-.]/.test(c)) {
      if (i === 0) break;
      continue;
    }
    if (c === ':') {
      if (i === 0) return 'missing protocol scheme';
      url.scheme = rest.slice(0, i).toLowerCase();
      rest = rest.slice(i + 1);
    }
    break;
  }
  const q = rest.indexOf('?');
  if (q >= 0) rest = rest.slice(0, q);
  if (!rest.startsWith('/')) {
    // `scheme:opaque` (`http:foo`): no host, which types.NewURLs then refuses.
    if (url.scheme !== '') return url;
    const slash = rest.indexOf('/');
    if ((slash < 0 ? rest : rest.slice(0, slash)).includes(':')) return 'first path segment in URL cannot contain colon';
  }
  if ((url.scheme !== '' || !rest.startsWith('///')) && rest.startsWith('//')) {
    const end = rest.indexOf('/', 2);
    const authority = end < 0 ? rest.slice(2) : rest.slice(2, end);
    rest = end < 0 ? '' : rest.slice(end);
    const at = authority.lastIndexOf('@');
    if (at >= 0 && !/^[A-Za-z0-9\-._:~!$&'()*+,;=%@]*$/.test(authority.slice(0, at))) return 'net/url: invalid userinfo';
    const host = at >= 0 ? authority.slice(at + 1) : authority;
    if (host.startsWith('[')) {
      const close = host.lastIndexOf(']');
      if (close < 0) return "missing ']' in host";
      const port = host.slice(close + 1);
      if (!validOptionalPort(port)) return `invalid port ${quote(port)} after host`;
    } else {
      const colon = host.lastIndexOf(':');
      if (colon >= 0 && !validOptionalPort(host.slice(colon))) return `invalid port ${quote(host.slice(colon))} after host`;
    }
    const bad = checkEscapes(host, true);
    if (bad !== undefined) return bad;
    url.host = host;
  }
  const bad = checkEscapes(rest, false);
  if (bad !== undefined) return bad;
  url.path = rest;
  return url;
}

/** Go's `net.SplitHostPort` succeeds: `host:port` or `[host]:port`, one colon outside brackets. */
function splitsHostPort(hostport: string): boolean {
  if (hostport.startsWith('[')) return /^\[[^[\]]*\]:[^[\]:]*$/.test(hostport);
  const colon = hostport.lastIndexOf(':');
  if (colon < 0 || hostport.includes('[') || hostport.includes(']')) return false;
  return !hostport.slice(0, colon).includes(':');
}

/**
 * Checks peer URLs as clientv3 does before MemberAdd and MemberUpdate (etcd's `types.NewURLs`): each, trimmed,
 * must parse, use http, https, unix or unixs, have `host:port`, and no path. Throws a `ClientError` (code
 * `BAD_PEER_URL`) with etcd's text.
 */
export function checkPeerUrls(urls: readonly string[]): void {
  if (urls.length === 0) throw badPeerUrl('no valid URLs given');
  for (const given of urls) {
    const raw = given.trim();
    const u = parseGoUrl(raw);
    if (typeof u === 'string') throw badPeerUrl(`parse ${quote(raw)}: ${u}`);
    if (!['http', 'https', 'unix', 'unixs'].includes(u.scheme)) throw badPeerUrl(`URL scheme must be http, https, unix, or unixs: ${raw}`);
    if (!splitsHostPort(u.host)) throw badPeerUrl(`URL address does not have the form "host:port": ${raw}`);
    if (u.path !== '') throw badPeerUrl(`URL must not contain a path: ${raw}`);
  }
}

export class ClusterApi {
  constructor(private readonly client: EtcdClient) {}

  /** Every member, sorted by ID as etcd keeps them; unstarted members have no name and no client URLs. */
  memberList(opts: { linearizable?: boolean } = {}, call?: CallOptions): Promise<MemberListResponse> {
    return this.client.memberList(opts, call);
  }

  /**
   * Adds a member with these peer URLs (sent as given, after `checkPeerUrls`); `learner` adds it as a non-voting
   * learner. The response has the new member (ID, peer URLs) and the members after the change.
   */
  memberAdd(peerURLs: readonly string[], opts: { learner?: boolean } = {}, call?: CallOptions): Promise<MemberAddResponse> {
    checkPeerUrls(peerURLs);
    const request = MemberAddRequest.fromPartial({ peerURLs: [...peerURLs], isLearner: opts.learner ?? false });
    return this.client.call(ClusterService.memberAdd, request, false, call);
  }

  /** Removes a member; etcd answers "etcdserver: member not found" for an unknown ID. */
  memberRemove(id: bigint, call?: CallOptions): Promise<MemberRemoveResponse> {
    const request = MemberRemoveRequest.fromPartial({ ID: memberId(id, 'member ID') });
    return this.client.call(ClusterService.memberRemove, request, false, call);
  }

  /** Replaces a member's peer URLs (checked by `checkPeerUrls`). */
  memberUpdate(id: bigint, peerURLs: readonly string[], call?: CallOptions): Promise<MemberUpdateResponse> {
    checkPeerUrls(peerURLs);
    const request = MemberUpdateRequest.fromPartial({ ID: memberId(id, 'member ID'), peerURLs: [...peerURLs] });
    return this.client.call(ClusterService.memberUpdate, request, false, call);
  }

  /** Makes a learner a voting member; etcd refuses a learner that has not caught up with the leader. */
  memberPromote(id: bigint, call?: CallOptions): Promise<MemberPromoteResponse> {
    const request = MemberPromoteRequest.fromPartial({ ID: memberId(id, 'member ID') });
    return this.client.call(ClusterService.memberPromote, request, false, call);
  }

  /** Hash of the key-value history up to `revision` (0: all of it) on one endpoint. */
  hashKV(endpoint: string, revision: Int64Input = 0, call?: Omit<CallOptions, 'endpoint'>): Promise<HashKVResponse> {
    return this.client.hashKV(endpoint, revision, call);
  }

  /**
   * Asks the leader, at `endpoint`, to hand leadership to member `targetId`; resolves once the transfer is done
   * (etcd: "etcdserver: not leader" when `endpoint` is not the leader, "etcdserver: bad leader transferee" for an
   * ID that is not a voting member).
   */
  moveLeader(endpoint: string, targetId: bigint, call?: Omit<CallOptions, 'endpoint'>): Promise<MoveLeaderResponse> {
    const request = MoveLeaderRequest.fromPartial({ targetID: memberId(targetId, 'transferee ID') });
    return this.client.call(MaintenanceService.moveLeader, request, false, { ...call, endpoint });
  }
}
