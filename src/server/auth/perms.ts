/**
 * A user's key permissions merged over all its roles (etcd's range_perm_cache.go), and the two questions
 * apply asks of them: may the user touch this key, may it touch every key of this range.
 *
 * A permission is an interval of keys in byte order:
 * - an empty range_end means the single key `key`, i.e. [key, key + "\0");
 * - range_end "\0" means every key from `key` on (open ended);
 * - otherwise [key, range_end).
 * A single-key request is allowed when some permitted interval contains the key. A range request is allowed
 * only when the union of the permitted intervals covers all of it, with no gap (adjacent intervals join, as
 * etcd's interval tree `Contains` does: [a, b) and [b, c) cover [a, c)).
 */
import { type Permission, Permission_Type } from '../../proto/gen/authpb/auth.js';

/** A key interval [begin, end); `end` undefined is +infinity. */
export interface KeyInterval {
  readonly begin: Buffer;
  readonly end: Buffer | undefined;
}

const ZERO = Buffer.from([0]);

function isOpenEnd(end: Uint8Array): boolean {
  return end.length === 1 && end[0] === 0;
}

/** The interval a stored permission grants. */
export function permissionInterval(key: Uint8Array, rangeEnd: Uint8Array): KeyInterval {
  const begin = Buffer.from(key);
  if (rangeEnd.length === 0) return { begin, end: Buffer.concat([begin, ZERO]) };
  return { begin, end: isOpenEnd(rangeEnd) ? undefined : Buffer.from(rangeEnd) };
}

/** end1 < end2, with undefined as +infinity. */
function endLess(a: Buffer | undefined, b: Buffer | undefined): boolean {
  if (a === undefined) return false;
  if (b === undefined) return true;
  return Buffer.compare(a, b) < 0;
}

/** The intervals a user may read and write, sorted by begin. */
export class UnifiedPermissions {
  readonly read: readonly KeyInterval[];
  readonly write: readonly KeyInterval[];

  constructor(read: KeyInterval[], write: KeyInterval[]) {
    const byBegin = (a: KeyInterval, b: KeyInterval) => Buffer.compare(a.begin, b.begin);
    this.read = read.sort(byBegin);
    this.write = write.sort(byBegin);
  }

  /** Merges the permissions of every role (roles that no longer exist are skipped by the caller). */
  static merge(perms: Iterable<Permission>): UnifiedPermissions {
    const read: KeyInterval[] = [];
    const write: KeyInterval[] = [];
    for (const p of perms) {
      const ivl = permissionInterval(p.key, p.rangeEnd);
      if (p.permType === Permission_Type.READ || p.permType === Permission_Type.READWRITE) read.push(ivl);
      if (p.permType === Permission_Type.WRITE || p.permType === Permission_Type.READWRITE) write.push(ivl);
    }
    return new UnifiedPermissions(read, write);
  }

  /**
   * Whether the user holds `type` (READ or WRITE) on the key (empty rangeEnd) or on all of [key, rangeEnd)
   * (rangeEnd "\0": every key from `key` on).
   */
  allows(type: Permission_Type.READ | Permission_Type.WRITE, key: Uint8Array, rangeEnd: Uint8Array): boolean {
    const ivls = type === Permission_Type.READ ? this.read : this.write;
    const k = Buffer.from(key);
    if (rangeEnd.length === 0) return ivls.some((i) => Buffer.compare(i.begin, k) <= 0 && endLess(k, i.end));
    return covers(ivls, { begin: k, end: isOpenEnd(rangeEnd) ? undefined : Buffer.from(rangeEnd) });
  }
}

/** Whether the sorted intervals cover all of `want`. */
function covers(sorted: readonly KeyInterval[], want: KeyInterval): boolean {
  // An empty or inverted range selects no key; etcd still wants some permitted interval to reach it.
  if (want.end !== undefined && Buffer.compare(want.begin, want.end) >= 0) {
    return sorted.some((i) => Buffer.compare(i.begin, want.begin) <= 0 && endLess(want.begin, i.end));
  }
  // Sweep the intervals in begin order, extending the covered prefix [want.begin, reach) while they touch it.
  let reach: Buffer | undefined = want.begin;
  for (const i of sorted) {
    if (reach === undefined) return true;
    if (Buffer.compare(i.begin, reach) > 0) break;
    if (endLess(reach, i.end)) reach = i.end;
  }
  return reach === undefined || !endLess(reach, want.end);
}
