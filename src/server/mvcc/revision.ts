/**
 * Revisions and their on-disk form (etcd's revision.go / bucket key).
 *
 * A revision is `{main, sub}`: `main` is the store revision of a write txn, `sub` the position of the change
 * inside that txn (0, 1, ...). In the `key` bucket a revision is the key: 8-byte big-endian main, the byte
 * '_' (0x5f), 8-byte big-endian sub (17 bytes), plus a trailing 't' (0x74) when the entry is a tombstone
 * (18 bytes). Big-endian makes lmdb's byte order the revision order, and a tombstone key sorts right after
 * the same revision without the mark, which never exists beside it.
 *
 * Both halves must be non-negative safe integers (2^53 - 1 is far beyond any reachable revision); the
 * decoder refuses anything else rather than lose precision.
 */
import { CorruptError } from './errors.js';

export const REV_BYTES_LEN = 17;
export const MARKED_REV_BYTES_LEN = 18;
const SEPARATOR = 0x5f; // '_'
const TOMBSTONE_MARK = 0x74; // 't'
const TWO_32 = 0x1_0000_0000;

export interface Revision {
  readonly main: number;
  readonly sub: number;
}

function writeU64(buf: Buffer, offset: number, n: number): void {
  buf.writeUInt32BE(Math.floor(n / TWO_32), offset);
  buf.writeUInt32BE(n >>> 0, offset + 4);
}

function readU64(buf: Buffer, offset: number): number {
  const hi = buf.readUInt32BE(offset);
  if (hi >= 0x20_0000) throw new CorruptError(`revision ${buf.toString('hex')} exceeds 2^53`);
  return hi * TWO_32 + buf.readUInt32BE(offset + 4);
}

/** The `key` bucket key of revision {main, sub}, with the tombstone mark when `tombstone`. */
export function revToBytes(main: number, sub: number, tombstone = false): Buffer {
  const buf = Buffer.allocUnsafe(tombstone ? MARKED_REV_BYTES_LEN : REV_BYTES_LEN);
  writeU64(buf, 0, main);
  buf[8] = SEPARATOR;
  writeU64(buf, 9, sub);
  if (tombstone) buf[17] = TOMBSTONE_MARK;
  return buf;
}

/** An 8-byte big-endian main revision alone: a range bound that sorts before every key of that revision. */
export function mainRevPrefix(main: number): Buffer {
  const buf = Buffer.allocUnsafe(8);
  writeU64(buf, 0, main);
  return buf;
}

export interface DecodedRev extends Revision {
  readonly tombstone: boolean;
}

/** Decodes a `key` bucket key; throws `CorruptError` on anything that is not a (marked) revision. */
export function bytesToRev(buf: Uint8Array): DecodedRev {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if ((b.length !== REV_BYTES_LEN && b.length !== MARKED_REV_BYTES_LEN) || b[8] !== SEPARATOR) {
    throw new CorruptError(`malformed revision key ${b.toString('hex')}`);
  }
  const tombstone = b.length === MARKED_REV_BYTES_LEN;
  if (tombstone && b[17] !== TOMBSTONE_MARK) throw new CorruptError(`unknown revision mark in ${b.toString('hex')}`);
  return { main: readU64(b, 0), sub: readU64(b, 9), tombstone };
}

/** Is this `key` bucket key a tombstone? */
export function isTombstoneKey(buf: Uint8Array): boolean {
  return buf.length === MARKED_REV_BYTES_LEN && buf[17] === TOMBSTONE_MARK;
}
