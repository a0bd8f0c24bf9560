/**
 * etcdctl 3.4's output for the user, role and auth commands, byte for byte:
 * - simple: `User foo created`, `Role r updated`, the role's `KV Read:`/`KV Write:` lists (ranges as
 *   `[key, end)`, `[key, <open ended>`, with ` (prefix key)` when end is key's prefix end), names one per line;
 * - json: the response as Go's encoding/json writes it (zero values omitted, bytes base64);
 * - fields: the header's `"Name" : value` lines, and for role get one block per permission; etcdctl has no
 *   fields output for user get/list (it fails with "fields not supported as output format");
 * - table: not supported for any of them. etcdctl makes the request first and then fails (exit code 4), and so
 *   does kvctl.
 */
import { type Permission, Permission_Type, type ResponseHeader, prefixEnd } from '../client/index.js';
import { CtlError } from './ctl-error.js';
import { ExitCode } from './exit-codes.js';
import { goJsonString, goQuote } from '../base/go-format.js';
import type { WriteOut } from './output.js';
import { askPassword } from './password.js';

/** A JSON value, or undefined for a field Go's omitempty leaves out. */
export type JsonValue = string | undefined;

const int = (n: bigint): JsonValue => (n === 0n ? undefined : n.toString());

export const json = {
  int,
  bool: (b: boolean): JsonValue => (b ? 'true' : undefined),
  bytes: (b: Uint8Array): JsonValue => (b.length === 0 ? undefined : `"${Buffer.from(b).toString('base64')}"`),
  strings: (items: readonly string[]): JsonValue => (items.length === 0 ? undefined : `[${items.map(goJsonString).join(',')}]`),
};

/** A JSON object of the fields that are present. */
export function jsonObject(fields: ReadonlyArray<readonly [string, JsonValue]>): string {
  const present = fields.filter((f): f is readonly [string, string] => f[1] !== undefined);
  return `{${present.map(([k, v]) => `${goJsonString(k)}:${v}`).join(',')}}`;
}

export function jsonHeader(h: ResponseHeader | undefined): JsonValue {
  if (h === undefined) return undefined;
  return jsonObject([
    ['cluster_id', int(h.clusterId)],
    ['member_id', int(h.memberId)],
    ['revision', int(h.revision)],
    ['raft_term', int(h.raftTerm)],
  ]);
}

/** `{"header":...}` plus the response's own fields. */
export function jsonResponse(header: ResponseHeader | undefined, fields: ReadonlyArray<readonly [string, JsonValue]> = []): string {
  return jsonObject([['header', jsonHeader(header)], ...fields]);
}

export function fieldsHeader(h: ResponseHeader | undefined): string {
  return [
    `"ClusterID" : ${h?.clusterId ?? 0n}`,
    `"MemberID" : ${h?.memberId ?? 0n}`,
    `"Revision" : ${h?.revision ?? 0n}`,
    `"RaftTerm" : ${h?.raftTerm ?? 0n}`,
    '',
  ].join('\n');
}

export const fieldsNotSupported = 'fields not supported as output format';
export const tableNotSupported = 'table not supported as output format';

/**
 * The bytes to print for a response in format `w`, from its renderings; a format without one fails the way
 * etcdctl's printer does (the request has been made by then).
 */
export function render(w: WriteOut, out: { simple: Buffer | string; json: string; fields?: string }): Buffer {
  switch (w) {
    case 'simple':
      return Buffer.isBuffer(out.simple) ? out.simple : Buffer.from(out.simple, 'utf8');
    case 'json':
      return Buffer.from(`${out.json}\n`, 'utf8');
    case 'fields':
      if (out.fields === undefined) throw new CtlError(fieldsNotSupported, ExitCode.ExitBadFeature);
      return Buffer.from(out.fields, 'utf8');
    default:
      throw new CtlError(tableNotSupported, ExitCode.ExitBadFeature);
  }
}

// ---------------------------------------------------------------- role get

const ZERO = Buffer.from([0]);

function simpleRange(p: Permission): Buffer {
  const key = Buffer.from(p.key);
  const end = Buffer.from(p.rangeEnd);
  const parts: Buffer[] = [Buffer.from('\t['), key];
  parts.push(end.equals(ZERO) ? Buffer.from(', <open ended>') : Buffer.concat([Buffer.from(', '), end, Buffer.from(')')]));
  // clientv3's GetPrefixRangeEnd: the key with its last byte below 0xff incremented, or "\0" when there is none.
  if (prefixEnd(key).equals(end)) parts.push(Buffer.from(' (prefix '), key, Buffer.from(')'));
  parts.push(Buffer.from('\n'));
  return Buffer.concat(parts);
}

/** etcdctl's `role get` text: keys and range ends as raw bytes. */
export function simpleRoleGet(role: string, perms: readonly Permission[]): Buffer {
  const out: Buffer[] = [Buffer.from(`Role ${role}\nKV Read:\n`)];
  const list = (types: readonly Permission_Type[]) => {
    for (const p of perms) {
      if (!types.includes(p.permType)) continue;
      if (p.rangeEnd.length === 0) out.push(Buffer.from('\t'), Buffer.from(p.key), Buffer.from('\n'));
      else out.push(simpleRange(p));
    }
  };
  list([Permission_Type.READ, Permission_Type.READWRITE]);
  out.push(Buffer.from('KV Write:\n'));
  list([Permission_Type.WRITE, Permission_Type.READWRITE]);
  return Buffer.concat(out);
}

const permTypeNames = ['READ', 'WRITE', 'READWRITE'];

export function jsonPermission(p: Permission): string {
  return jsonObject([
    ['permType', p.permType === Permission_Type.READ ? undefined : String(p.permType)],
    ['key', json.bytes(p.key)],
    ['range_end', json.bytes(p.rangeEnd)],
  ]);
}

export function fieldsPermissions(perms: readonly Permission[]): string {
  return perms
    .map((p) => `"PermType" :  ${permTypeNames[p.permType] ?? String(p.permType)}\n"Key" : ${goQuote(p.key)}\n"RangeEnd" : ${goQuote(p.rangeEnd)}\n`)
    .join('');
}

/**
 * pflag's `--name=false` / `--name=true` for oclif boolean flags (etcdctl's `--interactive=false`): rewritten to
 * `--no-name` / `--name` before parsing. Arguments after `--` are left alone.
 */
export function withGoBools(argv: readonly string[], names: readonly string[]): string[] {
  const out: string[] = [];
  let rest = false;
  for (const a of argv) {
    if (a === '--') rest = true;
    const m = rest ? null : /^--([a-z-]+)=(true|false|1|0|t|f|TRUE|FALSE|True|False)$/.exec(a);
    const name = m?.[1];
    if (m === null || name === undefined || !names.includes(name)) {
      out.push(a);
      continue;
    }
    out.push(/^(true|1|t)$/i.test(m[2] ?? '') ? `--${name}` : `--no-${name}`);
  }
  return out;
}

/** etcdctl's readPasswordInteractive: the password twice, which must match and not be empty. */
export async function readNewPassword(name: string): Promise<string> {
  const first = await askPassword(`Password of ${name}: `);
  if (first === '') throw new CtlError('empty password', ExitCode.ExitBadArgs);
  const second = await askPassword(`Type password of ${name} again for confirmation: `);
  if (first !== second) throw new CtlError('given passwords are different', ExitCode.ExitBadArgs);
  return first;
}

/**
 * etcdctl's permRange for role grant/revoke-permission: the key and range end from `<key> [endkey]` and
 * --prefix/--from-key. An empty key means the whole keyspace: key "\0", and range end "\0" with either flag.
 */
export function permRange(args: readonly string[], flags: { prefix: boolean; 'from-key': boolean }): { key: Buffer; rangeEnd: Buffer } {
  const key = args[0] ?? '';
  const both = () => new CtlError('--from-key and --prefix flags are mutually exclusive', ExitCode.ExitBadArgs);
  if (key === '') {
    if (flags.prefix && flags['from-key']) throw both();
    return { key: Buffer.from([0]), rangeEnd: flags.prefix || flags['from-key'] ? Buffer.from([0]) : Buffer.alloc(0) };
  }
  const k = Buffer.from(key, 'utf8');
  if (args.length === 1) {
    if (flags.prefix) {
      if (flags['from-key']) throw both();
      return { key: k, rangeEnd: prefixEnd(k) };
    }
    return { key: k, rangeEnd: flags['from-key'] ? Buffer.from([0]) : Buffer.alloc(0) };
  }
  if (flags.prefix) throw new CtlError('unexpected endkey argument with --prefix flag', ExitCode.ExitBadArgs);
  if (flags['from-key']) throw new CtlError('unexpected endkey argument with --from-key flag', ExitCode.ExitBadArgs);
  return { key: k, rangeEnd: Buffer.from(args[1] ?? '', 'utf8') };
}

/** The `perm` field of a role get response. */
export function jsonPermissions(perms: readonly Permission[]): JsonValue {
  return perms.length === 0 ? undefined : `[${perms.map(jsonPermission).join(',')}]`;
}

/** A role get response in every format. */
export function renderRoleGet(w: WriteOut, role: string, r: { header: ResponseHeader | undefined; perm: readonly Permission[] }): Buffer {
  return render(w, {
    simple: simpleRoleGet(role, r.perm),
    json: jsonResponse(r.header, [['perm', jsonPermissions(r.perm)]]),
    fields: fieldsHeader(r.header) + fieldsPermissions(r.perm),
  });
}
