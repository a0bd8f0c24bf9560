/**
 * etcdctl's output for the membership commands (`member add|remove|update|promote|list`), `endpoint hashkv` and
 * `move-leader`, byte for byte, and its parsing of member IDs.
 *
 * - simple: `Member %16x added to cluster %16x` (Go pads the hex with spaces to 16 columns), followed for `member
 *   add` by the `ETCD_*` settings the new member must start with; member list rows `id, started|unstarted, name,
 *   peer URLs, client URLs, isLearner`; `<endpoint>, <hash>`; `Leadership transferred from <hex> to <hex>`.
 * - json: Go's encoding/json of the response structs (`ID`, `name`, `peerURLs`, `clientURLs`, `isLearner`; zero
 *   values omitted; uint64 as bare numbers). `member list --hex` prints etcdctl 3.5's hand-written form (IDs as
 *   hex strings, the raft term decimal, `clientURLS`, no `isLearner`); etcdctl 3.4 ignores `--hex` there.
 * - fields: member list and hashkv only (etcdctl refuses fields for the other commands, as it refuses table).
 * - table: member list (`ID | STATUS | NAME | PEER ADDRS | CLIENT ADDRS | IS LEARNER`) and hashkv
 *   (`ENDPOINT | HASH`).
 */
import {
  ClientError,
  type HashKVResponse,
  type Member,
  type MemberAddResponse,
  type MemberListResponse,
  type MemberPromoteResponse,
  type MemberRemoveResponse,
  type MemberUpdateResponse,
  type MoveLeaderResponse,
  type ResponseHeader,
  checkPeerUrls,
} from '../client/index.js';
import { CtlError } from './ctl-error.js';
import { ExitCode } from './exit-codes.js';
import { GoParseError, goJsonString, goQuote } from '../base/go-format.js';
import { type WriteOut, int, jsonHeader, obj, renderEtcdTable } from './output.js';

const text = (lines: readonly string[]): Buffer => Buffer.from(lines.map((l) => `${l}\n`).join(''), 'utf8');

// ---------------------------------------------------------------- member IDs

/** Go's `strconv.ParseUint(s, 16, 64)`, with its error texts. */
export function goParseUint16(s: string): bigint {
  const fail = (why: string): GoParseError => new GoParseError(`strconv.ParseUint: parsing ${goQuote(s)}: ${why}`);
  if (!/^[0-9a-fA-F]+$/.test(s)) throw fail('invalid syntax');
  const v = BigInt(`0x${s}`);
  if (v > 0xffffffffffffffffn) throw fail('value out of range');
  return v;
}

/** A member ID argument as the member commands parse it, with etcdctl's message and exit code (128). */
export function parseMemberIdArg(arg: string): bigint {
  try {
    return goParseUint16(arg);
  } catch (err) {
    if (err instanceof GoParseError) throw new CtlError(`bad member ID arg (${err.message}), expecting ID in Hex`, ExitCode.ExitBadArgs);
    throw err;
  }
}

/**
 * `--peer-urls` as the member commands take it: required ("member peer urls not provided", exit 128), split at
 * commas, each checked as clientv3 checks it before sending (a bad URL fails with etcd's text and exit 1, as the
 * client call fails in etcdctl).
 */
export function peerUrlsOf(flag: string): string[] {
  if (flag === '') throw new CtlError('member peer urls not provided', ExitCode.ExitBadArgs);
  const urls = flag.split(',');
  try {
    checkPeerUrls(urls);
  } catch (err) {
    if (err instanceof ClientError) throw new CtlError(err.message, ExitCode.ExitError, { cause: err });
    throw err;
  }
  return urls;
}

/** Go's `%16x`: lowercase hex, padded with spaces (not zeros) to 16 columns. */
export function hex16(id: bigint): string {
  return id.toString(16).padStart(16, ' ');
}

/** Go's `types.ID(id).String()`: lowercase hex, unpadded. */
const idString = (id: bigint): string => id.toString(16);

// ---------------------------------------------------------------- formats

/** The message etcdctl exits with (code 4) for a format its printer does not have for a command. */
export const notSupported = (w: WriteOut): string => `${w} not supported as output format`;

/**
 * The formats of member add/remove/update/promote and move-leader: simple and json. etcdctl refuses the others
 * only after the change was made; kvctl refuses them before sending anything (same message and exit code).
 */
export function checkChangeWriteOut(w: WriteOut): 'simple' | 'json' {
  if (w === 'simple' || w === 'json') return w;
  throw new CtlError(notSupported(w), ExitCode.ExitBadFeature);
}

// ---------------------------------------------------------------- json

const str = (s: string): string | undefined => (s === '' ? undefined : goJsonString(s));
const bool = (b: boolean): string | undefined => (b ? 'true' : undefined);
const strings = (items: readonly string[]): string | undefined => (items.length === 0 ? undefined : `[${items.map(goJsonString).join(',')}]`);

export function jsonMember(m: Member | undefined): string | undefined {
  if (m === undefined) return undefined;
  return obj([
    ['ID', int(m.ID)],
    ['name', str(m.name)],
    ['peerURLs', strings(m.peerURLs)],
    ['clientURLs', strings(m.clientURLs)],
    ['isLearner', bool(m.isLearner)],
  ]);
}

const jsonMembers = (ms: readonly Member[]): string | undefined => (ms.length === 0 ? undefined : `[${ms.map((m) => jsonMember(m) ?? '{}').join(',')}]`);

/** MemberRemove/Update/Promote/List responses: a header and the members. */
export function jsonMembersResponse(r: { header: ResponseHeader | undefined; members: readonly Member[] }): string {
  return obj([
    ['header', jsonHeader(r.header)],
    ['members', jsonMembers(r.members)],
  ]);
}

export function jsonMemberAdd(r: MemberAddResponse): string {
  return obj([
    ['header', jsonHeader(r.header)],
    ['member', jsonMember(r.member)],
    ['members', jsonMembers(r.members)],
  ]);
}

/** A JSON string as Go builds it by concatenation in etcdctl 3.5's hex printer, but kept valid JSON. */
function rawJsonString(s: string): string {
  // eslint-disable-next-line no-control-regex
  return `"${s.replace(/["\\\u0000-\u001f]/g, (c) => (c === '"' || c === '\\' ? `\\${c}` : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`))}"`;
}

/** Go's json.Marshal of a `[]string` decoded from protobuf: `null` when empty (a nil slice). */
const stringSlice = (items: readonly string[]): string => (items.length === 0 ? 'null' : `[${items.map(goJsonString).join(',')}]`);

/** etcdctl 3.5's `member list -w json --hex`. */
export function jsonMemberListHex(r: MemberListResponse): string {
  const h = r.header;
  let out = `{"header":{"cluster_id":"${idString(h?.clusterId ?? 0n)}","member_id":"${idString(h?.memberId ?? 0n)}","raft_term":${h?.raftTerm ?? 0n}}`;
  r.members.forEach((m, i) => {
    out += i === 0 ? ',"members":[' : ',';
    out += `{"ID":"${idString(m.ID)}","name":${rawJsonString(m.name)},"peerURLs":${stringSlice(m.peerURLs)},"clientURLS":${stringSlice(m.clientURLs)}}`;
  });
  if (r.members.length > 0) out += ']';
  return `${out}}`;
}

// ---------------------------------------------------------------- fields

function fieldsHeader(h: ResponseHeader | undefined): string[] {
  return [
    `"ClusterID" : ${h?.clusterId ?? 0n}`,
    `"MemberID" : ${h?.memberId ?? 0n}`,
    `"Revision" : ${h?.revision ?? 0n}`,
    `"RaftTerm" : ${h?.raftTerm ?? 0n}`,
  ];
}

// ---------------------------------------------------------------- member add / remove / update / promote

/** What `member add` was given: the new member's name and `--peer-urls` as typed. */
export type MemberAddInput = { readonly name: string; readonly peerUrls: string };

/**
 * The settings the new member must start with: its name; `name=peerURL` for every peer URL of every member, the
 * new member under its new name (another member that has not started yet has no name: `=peerURL`, as etcdctl
 * prints it); `--peer-urls` as typed; and the state "existing".
 */
function initialClusterLines(r: MemberAddResponse, input: MemberAddInput): string[] {
  const newId = r.member?.ID;
  const conf = r.members.flatMap((m) => m.peerURLs.map((u) => `${m.ID === newId ? input.name : m.name}=${u}`));
  return [
    `ETCD_NAME=${goQuote(input.name)}`,
    `ETCD_INITIAL_CLUSTER=${goQuote(conf.join(','))}`,
    `ETCD_INITIAL_ADVERTISE_PEER_URLS=${goQuote(input.peerUrls)}`,
    'ETCD_INITIAL_CLUSTER_STATE="existing"',
  ];
}

export function printMemberAdd(w: 'simple' | 'json', r: MemberAddResponse, input: MemberAddInput): Buffer {
  if (w === 'json') return text([jsonMemberAdd(r)]);
  const head = `Member ${hex16(r.member?.ID ?? 0n)} added to cluster ${hex16(r.header?.clusterId ?? 0n)}`;
  return text([head, '', ...initialClusterLines(r, input)]);
}

export function printMemberRemove(w: 'simple' | 'json', id: bigint, r: MemberRemoveResponse): Buffer {
  if (w === 'json') return text([jsonMembersResponse(r)]);
  return text([`Member ${hex16(id)} removed from cluster ${hex16(r.header?.clusterId ?? 0n)}`]);
}

export function printMemberUpdate(w: 'simple' | 'json', id: bigint, r: MemberUpdateResponse): Buffer {
  if (w === 'json') return text([jsonMembersResponse(r)]);
  return text([`Member ${hex16(id)} updated in cluster ${hex16(r.header?.clusterId ?? 0n)}`]);
}

export function printMemberPromote(w: 'simple' | 'json', id: bigint, r: MemberPromoteResponse): Buffer {
  if (w === 'json') return text([jsonMembersResponse(r)]);
  return text([`Member ${hex16(id)} promoted in cluster ${hex16(r.header?.clusterId ?? 0n)}`]);
}

// ---------------------------------------------------------------- member list

const memberListHeader = ['ID', 'STATUS', 'NAME', 'PEER ADDRS', 'CLIENT ADDRS', 'IS LEARNER'];

/** etcdctl's member row: a member without a name has not started yet (it has never joined). */
function memberRow(m: Member): string[] {
  return [idString(m.ID), m.name === '' ? 'unstarted' : 'started', m.name, m.peerURLs.join(','), m.clientURLs.join(','), String(m.isLearner)];
}

export function printMemberList(w: WriteOut, r: MemberListResponse, opts: { hex?: boolean } = {}): Buffer {
  switch (w) {
    case 'simple':
      return text(r.members.map((m) => memberRow(m).join(', ')));
    case 'json':
      return text([opts.hex ? jsonMemberListHex(r) : jsonMembersResponse(r)]);
    case 'table':
      return Buffer.from(renderEtcdTable(memberListHeader, r.members.map(memberRow)), 'utf8');
    case 'fields':
      return text([
        ...fieldsHeader(r.header),
        ...r.members.flatMap((m) => [
          `"ID" : ${m.ID}`,
          `"Name" : ${goQuote(m.name)}`,
          ...m.peerURLs.map((u) => `"PeerURL" : ${goQuote(u)}`),
          ...m.clientURLs.map((u) => `"ClientURL" : ${goQuote(u)}`),
          `"IsLearner" : ${m.isLearner}`,
          '',
        ]),
      ]);
  }
}

// ---------------------------------------------------------------- endpoint hashkv

/** The hash of one endpoint (etcdctl's `epHashKV`). */
export type EndpointHashKV = { readonly endpoint: string; readonly hashKV: HashKVResponse };

/** etcdctl's JSON list; `hash_revision` (etcd 3.5's) only when the server sent it, as etcdctl 3.5 prints it. */
export function jsonHashKVList(list: readonly EndpointHashKV[]): string {
  const one = ({ endpoint, hashKV: r }: EndpointHashKV): string =>
    obj([
      ['Endpoint', goJsonString(endpoint)],
      [
        'HashKV',
        obj([
          ['header', jsonHeader(r.header)],
          ['hash', r.hash === 0 ? undefined : String(r.hash)],
          ['compact_revision', int(r.compactRevision)],
          ['hash_revision', int(r.hashRevision)],
        ]),
      ],
    ]);
  return `[${list.map(one).join(',')}]`;
}

export function printHashKV(w: WriteOut, list: readonly EndpointHashKV[]): Buffer {
  const rows = list.map(({ endpoint, hashKV }) => [endpoint, String(hashKV.hash)]);
  switch (w) {
    case 'simple':
      return text(rows.map((r) => r.join(', ')));
    case 'json':
      return text([jsonHashKVList(list)]);
    case 'table':
      return Buffer.from(renderEtcdTable(['ENDPOINT', 'HASH'], rows), 'utf8');
    case 'fields':
      return text(
        list.flatMap(({ endpoint, hashKV: r }) => [
          ...fieldsHeader(r.header),
          `"Endpoint" : ${goQuote(endpoint)}`,
          `"Hash" : ${r.hash}`,
          ...(r.hashRevision === 0n ? [] : [`"HashRevision" : ${r.hashRevision}`]),
          '',
        ]),
      );
  }
}

// ---------------------------------------------------------------- move-leader

export function jsonMoveLeader(r: MoveLeaderResponse): string {
  return obj([['header', jsonHeader(r.header)]]);
}

export function printMoveLeader(w: 'simple' | 'json', leader: bigint, target: bigint, r: MoveLeaderResponse): Buffer {
  if (w === 'json') return text([jsonMoveLeader(r)]);
  return text([`Leadership transferred from ${idString(leader)} to ${idString(target)}`]);
}
