/**
 * etcdctl 3.4's output writers (`-w simple|json|fields|table`), byte for byte, for the key-value and endpoint
 * commands. Each `print*` function returns the bytes etcdctl would write; commands write them unchanged.
 *
 * - simple: keys and values as raw bytes, one per line (`--hex`: `\x66\x6f\x6f`); `OK` for put, the count for del,
 *   `SUCCESS`/`FAILURE` for txn, comma-separated rows for endpoint status.
 * - json: Go's encoding/json of the protobuf structs: snake_case names from the proto, zero values omitted, 64-bit
 *   integers as bare numbers (exact, never through a float), bytes as base64.
 * - fields: one `"Name" : value` line per field, strings with Go's `%q`.
 * - table: olekukonko/tablewriter's box layout, every cell right aligned and headers centred (endpoint commands
 *   only; etcdctl refuses table for key-value responses).
 */
import type {
  DeleteRangeResponse,
  KeyValue,
  PutResponse,
  RangeResponse,
  ResponseHeader,
  ResponseOp,
  StatusResponse,
  TxnResponse,
} from '../client/index.js';
import { goDuration, goJsonString, goQuote, humanizeBytes } from '../base/go-format.js';

export const writeOutFormats = ['simple', 'json', 'fields', 'table'] as const;
export type WriteOut = (typeof writeOutFormats)[number];

/** The message etcdctl 3.4 exits with (code 4) for `-w table` on a key-value response. */
export const tableNotSupported = 'table not supported as output format';

/** Collects output: text lines and raw byte lines, each ended by `\n`. */
class Lines {
  private readonly chunks: Buffer[] = [];

  line(...parts: (string | Uint8Array)[]): this {
    for (const p of parts) this.chunks.push(typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p));
    this.chunks.push(Buffer.from('\n'));
    return this;
  }

  append(bytes: Buffer): this {
    this.chunks.push(bytes);
    return this;
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

export type SimpleOptions = {
  /** `--hex`: print keys and values as `\xNN` escapes. */
  hex?: boolean;
  /** `--print-value-only`: values only. */
  valueOnly?: boolean;
};

// ---------------------------------------------------------------- simple

function hexBytes(b: Uint8Array): string {
  return Array.from(b, (x) => `\\x${x.toString(16).padStart(2, '0')}`).join('');
}

function simpleKv(out: Lines, kv: KeyValue, opts: SimpleOptions): void {
  const k = opts.hex ? hexBytes(kv.key) : kv.key;
  const v = opts.hex ? hexBytes(kv.value) : kv.value;
  if (!opts.valueOnly) out.line(k);
  out.line(v);
}

function simpleRange(out: Lines, r: RangeResponse, opts: SimpleOptions): void {
  for (const kv of r.kvs) simpleKv(out, kv, opts);
}

function simplePut(out: Lines, r: PutResponse, opts: SimpleOptions): void {
  out.line('OK');
  if (r.prevKv !== undefined) simpleKv(out, r.prevKv, opts);
}

function simpleDelete(out: Lines, r: DeleteRangeResponse, opts: SimpleOptions): void {
  out.line(r.deleted.toString());
  for (const kv of r.prevKvs) simpleKv(out, kv, opts);
}

function simpleTxn(out: Lines, r: TxnResponse, opts: SimpleOptions): void {
  out.line(r.succeeded ? 'SUCCESS' : 'FAILURE');
  for (const resp of r.responses) {
    out.line('');
    if (resp.responseDeleteRange) simpleDelete(out, resp.responseDeleteRange, opts);
    else if (resp.responsePut) simplePut(out, resp.responsePut, opts);
    else if (resp.responseRange) simpleRange(out, resp.responseRange, opts);
    else out.line(`unexpected response ${JSON.stringify(Object.keys(resp))}`);
  }
}

// ---------------------------------------------------------------- json

export type JsonField = readonly [name: string, json: string | undefined];

/** A JSON object of the fields that are present (`undefined`: omitted, Go's `omitempty`). */
export function obj(fields: readonly JsonField[]): string {
  return `{${fields
    .filter((f): f is readonly [string, string] => f[1] !== undefined)
    .map(([name, json]) => `${goJsonString(name)}:${json}`)
    .join(',')}}`;
}

export const int = (n: bigint): string | undefined => (n === 0n ? undefined : n.toString());
const bool = (b: boolean): string | undefined => (b ? 'true' : undefined);
export const bytes = (b: Uint8Array): string | undefined => (b.length === 0 ? undefined : `"${Buffer.from(b).toString('base64')}"`);
const str = (s: string): string | undefined => (s === '' ? undefined : goJsonString(s));
const arr = (items: readonly string[]): string | undefined => (items.length === 0 ? undefined : `[${items.join(',')}]`);

export function jsonHeader(h: ResponseHeader | undefined): string | undefined {
  if (h === undefined) return undefined;
  return obj([
    ['cluster_id', int(h.clusterId)],
    ['member_id', int(h.memberId)],
    ['revision', int(h.revision)],
    ['raft_term', int(h.raftTerm)],
  ]);
}

export function jsonKv(kv: KeyValue | undefined): string | undefined {
  if (kv === undefined) return undefined;
  return obj([
    ['key', bytes(kv.key)],
    ['create_revision', int(kv.createRevision)],
    ['mod_revision', int(kv.modRevision)],
    ['version', int(kv.version)],
    ['value', bytes(kv.value)],
    ['lease', int(kv.lease)],
  ]);
}

export function jsonRange(r: RangeResponse): string {
  return obj([
    ['header', jsonHeader(r.header)],
    ['kvs', arr(r.kvs.map((kv) => jsonKv(kv) ?? '{}'))],
    ['more', bool(r.more)],
    ['count', int(r.count)],
  ]);
}

export function jsonPut(r: PutResponse): string {
  return obj([
    ['header', jsonHeader(r.header)],
    ['prev_kv', jsonKv(r.prevKv)],
  ]);
}

export function jsonDelete(r: DeleteRangeResponse): string {
  return obj([
    ['header', jsonHeader(r.header)],
    ['deleted', int(r.deleted)],
    ['prev_kvs', arr(r.prevKvs.map((kv) => jsonKv(kv) ?? '{}'))],
  ]);
}

function jsonResponseOp(op: ResponseOp): string {
  // Go marshals the oneof as its wrapper struct: {"Response":{"ResponsePut":{...}}}.
  const inner: JsonField = op.responseRange
    ? ['ResponseRange', jsonRange(op.responseRange)]
    : op.responsePut
      ? ['ResponsePut', jsonPut(op.responsePut)]
      : op.responseDeleteRange
        ? ['ResponseDeleteRange', jsonDelete(op.responseDeleteRange)]
        : op.responseTxn
          ? ['ResponseTxn', jsonTxn(op.responseTxn)]
          : ['Response', undefined];
  return obj([['Response', inner[1] === undefined ? undefined : obj([inner])]]);
}

export function jsonTxn(r: TxnResponse): string {
  return obj([
    ['header', jsonHeader(r.header)],
    ['succeeded', bool(r.succeeded)],
    ['responses', arr(r.responses.map(jsonResponseOp))],
  ]);
}

/** An AlarmResponse as etcdctl prints it with -w json (enum values as numbers, as Go's encoding/json does). */
export function jsonAlarm(r: { header: ResponseHeader | undefined; alarms: ReadonlyArray<{ memberID: bigint; alarm: number }> }): string {
  return obj([
    ['header', jsonHeader(r.header)],
    ['alarms', arr(r.alarms.map((a) => obj([['memberID', int(a.memberID)], ['alarm', a.alarm === 0 ? undefined : String(a.alarm)]])))],
  ]);
}

/** etcdctl's simple alarm lines: `memberID:<decimal id> alarm:<NAME> ` (etcdctl prints that trailing space). */
export function simpleAlarms(alarms: ReadonlyArray<{ memberID: bigint; alarm: number }>): string {
  const names = ['NONE', 'NOSPACE', 'CORRUPT'];
  return alarms.map((a) => `memberID:${a.memberID} alarm:${names[a.alarm] ?? String(a.alarm)} \n`).join('');
}

/** A response that carries only a header (compaction, defragment). */
export function jsonHeaderOnly(r: { header: ResponseHeader | undefined }): string {
  return obj([['header', jsonHeader(r.header)]]);
}

// ---------------------------------------------------------------- fields

function fieldsHeader(out: Lines, h: ResponseHeader | undefined): void {
  out.line(`"ClusterID" : ${h?.clusterId ?? 0n}`);
  out.line(`"MemberID" : ${h?.memberId ?? 0n}`);
  out.line(`"Revision" : ${h?.revision ?? 0n}`);
  out.line(`"RaftTerm" : ${h?.raftTerm ?? 0n}`);
}

function fieldsKv(out: Lines, prefix: string, kv: KeyValue): void {
  out.line(`"${prefix}Key" : ${goQuote(kv.key)}`);
  out.line(`"${prefix}CreateRevision" : ${kv.createRevision}`);
  out.line(`"${prefix}ModRevision" : ${kv.modRevision}`);
  out.line(`"${prefix}Version" : ${kv.version}`);
  out.line(`"${prefix}Value" : ${goQuote(kv.value)}`);
  out.line(`"${prefix}Lease" : ${kv.lease}`);
}

function fieldsRange(out: Lines, r: RangeResponse): void {
  fieldsHeader(out, r.header);
  for (const kv of r.kvs) fieldsKv(out, '', kv);
  out.line(`"More" : ${r.more}`);
  out.line(`"Count" : ${r.count}`);
}

function fieldsPut(out: Lines, r: PutResponse): void {
  fieldsHeader(out, r.header);
  if (r.prevKv !== undefined) fieldsKv(out, 'Prev', r.prevKv);
}

function fieldsDelete(out: Lines, r: DeleteRangeResponse): void {
  fieldsHeader(out, r.header);
  out.line(`"Deleted" : ${r.deleted}`);
  for (const kv of r.prevKvs) fieldsKv(out, 'Prev', kv);
}

function fieldsTxn(out: Lines, r: TxnResponse): void {
  fieldsHeader(out, r.header);
  out.line(`"Succeeded" : ${r.succeeded}`);
  for (const resp of r.responses) {
    if (resp.responseDeleteRange) fieldsDelete(out, resp.responseDeleteRange);
    else if (resp.responsePut) fieldsPut(out, resp.responsePut);
    else if (resp.responseRange) fieldsRange(out, resp.responseRange);
    else out.line(`"Unknown" : ${goQuote(JSON.stringify(Object.keys(resp)))}`);
  }
}

// ---------------------------------------------------------------- key-value entry points

/** Writers for key-value responses; `table` is refused by the commands before they send anything. */
export type KvWriteOut = Exclude<WriteOut, 'table'>;

export function printRange(w: KvWriteOut, r: RangeResponse, opts: SimpleOptions = {}): Buffer {
  const out = new Lines();
  if (w === 'simple') simpleRange(out, r, opts);
  else if (w === 'json') out.line(jsonRange(r));
  else fieldsRange(out, r);
  return out.bytes();
}

export function printPut(w: KvWriteOut, r: PutResponse, opts: SimpleOptions = {}): Buffer {
  const out = new Lines();
  if (w === 'simple') simplePut(out, r, opts);
  else if (w === 'json') out.line(jsonPut(r));
  else fieldsPut(out, r);
  return out.bytes();
}

export function printDelete(w: KvWriteOut, r: DeleteRangeResponse, opts: SimpleOptions = {}): Buffer {
  const out = new Lines();
  if (w === 'simple') simpleDelete(out, r, opts);
  else if (w === 'json') out.line(jsonDelete(r));
  else fieldsDelete(out, r);
  return out.bytes();
}

export function printTxn(w: KvWriteOut, r: TxnResponse, opts: SimpleOptions = {}): Buffer {
  const out = new Lines();
  if (w === 'simple') simpleTxn(out, r, opts);
  else if (w === 'json') out.line(jsonTxn(r));
  else fieldsTxn(out, r);
  return out.bytes();
}

// ---------------------------------------------------------------- table

/** Display width of a cell: East Asian wide and full-width characters take two columns, as in go-runewidth. */
function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) w += /[\p{Script=Han}\p{Script=Hangul}\p{Script=Hiragana}\p{Script=Katakana}\uff01-\uff60\uffe0-\uffe6]/u.test(ch) ? 2 : 1;
  return w;
}

/**
 * tablewriter's default box with etcdctl's settings (all cells right aligned): `+---+` borders, a centred header
 * (a tie puts the extra space on the right), one space of padding on each side of every cell.
 */
export function renderEtcdTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(displayWidth(h), ...rows.map((r) => displayWidth(r[i] ?? ''))));
  const border = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const center = (s: string, w: number): string => {
    const gap = w - displayWidth(s);
    const left = Math.floor(gap / 2);
    return ' '.repeat(left) + s + ' '.repeat(gap - left);
  };
  const right = (s: string, w: number): string => ' '.repeat(w - displayWidth(s)) + s;
  const line = (cells: readonly string[], pad: (s: string, w: number) => string): string =>
    `|${widths.map((w, i) => ` ${pad(cells[i] ?? '', w)} `).join('|')}|`;
  return [border, line(header, center), border, ...rows.map((r) => line(r, right)), border].map((l) => `${l}\n`).join('');
}

// ---------------------------------------------------------------- endpoint status

/** The status of one endpoint (etcdctl's `epStatus`). */
export type EndpointStatus = { readonly endpoint: string; readonly status: StatusResponse };

const statusHeader = ['ENDPOINT', 'ID', 'VERSION', 'DB SIZE', 'IS LEADER', 'IS LEARNER', 'RAFT TERM', 'RAFT INDEX', 'RAFT APPLIED INDEX', 'ERRORS'];

function statusRow({ endpoint, status: s }: EndpointStatus): string[] {
  const memberId = s.header?.memberId ?? 0n;
  return [
    endpoint,
    memberId.toString(16),
    s.version,
    humanizeBytes(s.dbSize),
    String(s.leader === memberId),
    String(s.isLearner),
    s.raftTerm.toString(),
    s.raftIndex.toString(),
    s.raftAppliedIndex.toString(),
    s.errors.join(', '),
  ];
}

export function jsonStatusList(list: readonly EndpointStatus[]): string {
  const one = ({ endpoint, status: s }: EndpointStatus): string =>
    obj([
      ['Endpoint', goJsonString(endpoint)],
      [
        'Status',
        obj([
          ['header', jsonHeader(s.header)],
          ['version', str(s.version)],
          ['dbSize', int(s.dbSize)],
          ['leader', int(s.leader)],
          ['raftIndex', int(s.raftIndex)],
          ['raftTerm', int(s.raftTerm)],
          ['raftAppliedIndex', int(s.raftAppliedIndex)],
          ['errors', arr(s.errors.map(goJsonString))],
          ['dbSizeInUse', int(s.dbSizeInUse)],
          ['isLearner', bool(s.isLearner)],
        ]),
      ],
    ]);
  return `[${list.map(one).join(',')}]`;
}

export function printStatus(w: WriteOut, list: readonly EndpointStatus[]): Buffer {
  const out = new Lines();
  if (w === 'simple') {
    for (const e of list) out.line(statusRow(e).join(', '));
  } else if (w === 'json') {
    out.line(jsonStatusList(list));
  } else if (w === 'table') {
    out.append(Buffer.from(renderEtcdTable(statusHeader, list.map(statusRow))));
  } else {
    for (const { endpoint, status: s } of list) {
      fieldsHeader(out, s.header);
      out.line(`"Version" : ${goQuote(s.version)}`);
      out.line(`"DBSize" : ${s.dbSize}`);
      out.line(`"Leader" : ${s.leader}`);
      out.line(`"IsLearner" : ${s.isLearner}`);
      out.line(`"RaftIndex" : ${s.raftIndex}`);
      out.line(`"RaftTerm" : ${s.raftTerm}`);
      out.line(`"RaftAppliedIndex" : ${s.raftAppliedIndex}`);
      out.line(`"Errors" : [${s.errors.join(' ')}]`);
      out.line(`"Endpoint" : ${goQuote(endpoint)}`);
      out.line('');
    }
  }
  return out.bytes();
}

// ---------------------------------------------------------------- endpoint health

/** The health of one endpoint (etcdctl's `epHealth`); `tookNs` is the time the check took. */
export type EndpointHealth = {
  readonly endpoint: string;
  readonly health: boolean;
  readonly tookNs: bigint;
  /** Why the endpoint is unhealthy ('' when healthy). */
  readonly error: string;
};

export function jsonHealthList(list: readonly EndpointHealth[]): string {
  const one = (h: EndpointHealth): string =>
    obj([
      ['endpoint', goJsonString(h.endpoint)],
      ['health', String(h.health)],
      ['took', goJsonString(goDuration(h.tookNs))],
      ['error', str(h.error)],
    ]);
  return `[${list.map(one).join(',')}]`;
}

/**
 * etcdctl 3.4 writes the simple health lines to stderr (and only the other formats to stdout), so `simple`
 * returns its text as `stderr`.
 */
export function printHealth(w: WriteOut, list: readonly EndpointHealth[]): { stdout: Buffer; stderr: Buffer } {
  const out = new Lines();
  const err = new Lines();
  if (w === 'simple') {
    for (const h of list) {
      if (h.health) err.line(`${h.endpoint} is healthy: successfully committed proposal: took = ${goDuration(h.tookNs)}`);
      else err.line(`${h.endpoint} is unhealthy: failed to commit proposal: ${h.error}`);
    }
  } else if (w === 'json') {
    out.line(jsonHealthList(list));
  } else if (w === 'table') {
    const rows = list.map((h) => [h.endpoint, String(h.health), goDuration(h.tookNs), h.error]);
    out.append(Buffer.from(renderEtcdTable(['ENDPOINT', 'HEALTH', 'TOOK', 'ERROR'], rows)));
  } else {
    for (const h of list) {
      out.line(`"Endpoint" : ${goQuote(h.endpoint)}`);
      out.line(`"Health" : ${h.health}`);
      out.line(`"Took" : ${goDuration(h.tookNs)}`);
      out.line(`"Error" : ${h.error}`);
      out.line('');
    }
  }
  return { stdout: out.bytes(), stderr: err.bytes() };
}
