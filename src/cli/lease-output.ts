/**
 * etcdctl 3.4's output for the lease commands (`-w simple|json|fields`; `table` is refused, as etcdctl does),
 * byte for byte, and its parsing of lease IDs.
 *
 * - simple: `lease 694d7b4a6d1d6a0b granted with TTL(60s)` and the like; IDs as Go's `%016x` (a negative ID
 *   keeps its sign: `-000000000000005`).
 * - json: Go's encoding/json of clientv3's structs. Most embed the response header, so its fields come first at
 *   the top level (`cluster_id`, ... omitted when zero), followed by the struct's own fields, which are never
 *   omitted (`"Error":""`, `"keys":null`). Revoke prints etcd's LeaseRevokeResponse (`{"header":{...}}`).
 * - fields: the header's four lines, then one `"Name" : value` line per field (`"Key" : %q` per key).
 */
import type {
  LeaseGrantResponse,
  LeaseKeepAliveResponse,
  LeaseLeasesResponse,
  LeaseRevokeResponse,
  LeaseTimeToLiveResponse,
  ResponseHeader,
} from '../client/index.js';
import { CtlError } from './ctl-error.js';
import { ExitCode } from './exit-codes.js';
import { GoParseError, goJsonString, goParseInt, goQuote } from '../base/go-format.js';
import { type WriteOut, jsonHeaderOnly } from './output.js';

/** The formats the lease commands print (etcdctl refuses `table` for them). */
export type LeaseWriteOut = Exclude<WriteOut, 'table'>;

/** Go's `%016x` of an int64. */
export function leaseIdHex(id: bigint): string {
  return id < 0n ? `-${(-id).toString(16).padStart(15, '0')}` : id.toString(16).padStart(16, '0');
}

/** A lease ID argument as etcdctl parses it (`strconv.ParseInt(arg, 16, 64)`), with its message and exit code. */
export function parseLeaseIdArg(arg: string): bigint {
  try {
    return goParseInt(arg, 16);
  } catch (err) {
    if (err instanceof GoParseError) throw new CtlError(`bad lease ID arg (${err.message}), expecting ID in Hex`, ExitCode.ExitBadArgs);
    throw err;
  }
}

const text = (s: string): Buffer => Buffer.from(s, 'utf8');

/** The header's fields as the start of a JSON object (clientv3 embeds *pb.ResponseHeader; zero fields omitted). */
function headerFields(h: ResponseHeader | undefined): string[] {
  if (h === undefined) return [];
  const out: string[] = [];
  if (h.clusterId !== 0n) out.push(`"cluster_id":${h.clusterId}`);
  if (h.memberId !== 0n) out.push(`"member_id":${h.memberId}`);
  if (h.revision !== 0n) out.push(`"revision":${h.revision}`);
  if (h.raftTerm !== 0n) out.push(`"raft_term":${h.raftTerm}`);
  return out;
}

function withHeader(h: ResponseHeader | undefined, own: readonly string[]): string {
  return `{${[...headerFields(h), ...own].join(',')}}`;
}

function fieldsHeader(h: ResponseHeader | undefined): string {
  return [
    `"ClusterID" : ${h?.clusterId ?? 0n}`,
    `"MemberID" : ${h?.memberId ?? 0n}`,
    `"Revision" : ${h?.revision ?? 0n}`,
    `"RaftTerm" : ${h?.raftTerm ?? 0n}`,
  ]
    .map((l) => `${l}\n`)
    .join('');
}

// ---------------------------------------------------------------- grant

export function jsonGrant(r: LeaseGrantResponse): string {
  return withHeader(r.header, [`"ID":${r.ID}`, `"TTL":${r.TTL}`, `"Error":${goJsonString(r.error)}`]);
}

export function printGrant(w: LeaseWriteOut, r: LeaseGrantResponse): Buffer {
  if (w === 'json') return text(`${jsonGrant(r)}\n`);
  if (w === 'fields') return text(`${fieldsHeader(r.header)}"ID" : ${r.ID}\n"TTL" : ${r.TTL}\n`);
  return text(`lease ${leaseIdHex(r.ID)} granted with TTL(${r.TTL}s)\n`);
}

// ---------------------------------------------------------------- revoke

export function jsonRevoke(r: LeaseRevokeResponse): string {
  return jsonHeaderOnly(r);
}

export function printRevoke(w: LeaseWriteOut, id: bigint, r: LeaseRevokeResponse): Buffer {
  if (w === 'json') return text(`${jsonRevoke(r)}\n`);
  if (w === 'fields') return text(fieldsHeader(r.header));
  return text(`lease ${leaseIdHex(id)} revoked\n`);
}

// ---------------------------------------------------------------- timetolive

export function jsonTimeToLive(r: LeaseTimeToLiveResponse): string {
  const keys = r.keys.length === 0 ? 'null' : `[${r.keys.map((k) => `"${Buffer.from(k).toString('base64')}"`).join(',')}]`;
  return withHeader(r.header, [`"id":${r.ID}`, `"ttl":${r.TTL}`, `"granted-ttl":${r.grantedTTL}`, `"keys":${keys}`]);
}

export function printTimeToLive(w: LeaseWriteOut, r: LeaseTimeToLiveResponse, withKeys: boolean): Buffer {
  if (w === 'json') return text(`${jsonTimeToLive(r)}\n`);
  if (w === 'fields') {
    const keys = r.keys.map((k) => `"Key" : ${goQuote(k)}\n`).join('');
    return text(`${fieldsHeader(r.header)}"ID" : ${r.ID}\n"TTL" : ${r.TTL}\n"GrantedTTL" : ${r.grantedTTL}\n${keys}`);
  }
  if (r.grantedTTL === 0n && r.TTL === -1n) return text(`lease ${leaseIdHex(r.ID)} already expired\n`);
  const line = `lease ${leaseIdHex(r.ID)} granted with TTL(${r.grantedTTL}s), remaining(${r.TTL}s)`;
  if (!withKeys) return text(`${line}\n`);
  // Go's %v of a []string: the raw bytes of each key, space separated, in brackets.
  const parts: Buffer[] = [text(`${line}, attached keys([`)];
  r.keys.forEach((k, i) => parts.push(i === 0 ? Buffer.from(k) : Buffer.concat([text(' '), Buffer.from(k)])));
  parts.push(text('])\n'));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------- list

export function jsonLeases(r: LeaseLeasesResponse): string {
  return withHeader(r.header, [`"leases":[${r.leases.map((l) => `{"id":${l.ID}}`).join(',')}]`]);
}

export function printLeases(w: LeaseWriteOut, r: LeaseLeasesResponse): Buffer {
  if (w === 'json') return text(`${jsonLeases(r)}\n`);
  if (w === 'fields') return text(`${fieldsHeader(r.header)}${r.leases.map((l) => `"ID" : ${l.ID}\n`).join('')}`);
  return text(`found ${r.leases.length} leases\n${r.leases.map((l) => `${leaseIdHex(l.ID)}\n`).join('')}`);
}

// ---------------------------------------------------------------- keep-alive

export function jsonKeepAlive(r: LeaseKeepAliveResponse): string {
  return withHeader(r.header, [`"ID":${r.ID}`, `"TTL":${r.TTL}`]);
}

export function printKeepAlive(w: LeaseWriteOut, r: LeaseKeepAliveResponse): Buffer {
  if (w === 'json') return text(`${jsonKeepAlive(r)}\n`);
  if (w === 'fields') return text(`${fieldsHeader(r.header)}"ID" : ${r.ID}\n"TTL" : ${r.TTL}\n`);
  return text(`lease ${leaseIdHex(r.ID)} keepalived with TTL(${r.TTL})\n`);
}

/** What etcdctl prints (simple format only) when a keep-alive ends because the lease is gone. */
export function keepAliveEnded(id: bigint): Buffer {
  return text(`lease ${leaseIdHex(id)} expired or revoked.\n`);
}
