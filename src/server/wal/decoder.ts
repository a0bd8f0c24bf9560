/**
 * Reads the records of one segment, verifies the CRC chain, and decides what a bad record means: the torn
 * tail of the last write (to be cut off) or corruption (the node must not start). The rule and the argument
 * for it are in wal.ts's header comment; this file implements it.
 */
import { crc32c } from '../../base/crc32c.js';
import { WalCorruptError } from './errors.js';
import { type DecodedRecord, RecordType, isKnownRecordType, readFrame } from './record.js';
import { emptyBytes } from '../raft/raftpb.js';

/** The sector size below which a device write is assumed atomic (etcd's minSectorSize). */
export const SECTOR = 512;

const zeros = Buffer.alloc(64 * 1024);

/** True when `buf[from, to)` is all zero bytes (compared natively, 64 KiB at a time). */
export function isAllZero(buf: Buffer, from: number, to: number): boolean {
  for (let p = from; p < to; p += zeros.length) {
    const n = Math.min(zeros.length, to - p);
    if (buf.compare(zeros, 0, n, p, p + n) !== 0) return false;
  }
  return true;
}

export interface SegmentScan {
  /** Offset just past the last good record: where appending resumes. */
  readonly end: number;
  /** The running CRC after the last good record. */
  readonly crc: number;
  /** Set when a torn tail was found (last segment only): where and why decoding stopped. */
  readonly torn: { readonly offset: number; readonly reason: string } | undefined;
  /** Whether any non-zero byte lies at or after `end` (it must be zeroed before appending). */
  readonly dirtyTail: boolean;
}

/**
 * Decodes every record of a segment held in `buf[0, size)`, calling `onRecord` for each good one in order
 * (it may throw, e.g. a WalCorruptError for a record that is intact but makes no sense).
 *
 * @param crcIn the running CRC at the start of the segment: 0 for the first segment read, whose crc record
 *   then seeds the chain; otherwise the previous segment's final value, which its crc record must repeat.
 * @throws WalCorruptError for a bad record that is not a torn tail.
 */
export function scanSegment(
  buf: Buffer,
  size: number,
  name: string,
  isLast: boolean,
  crcIn: number,
  onRecord: (r: DecodedRecord) => void,
): SegmentScan {
  let pos = 0;
  let crc = crcIn;
  // Bounded: every round either returns or advances pos by a whole frame (at least 16 bytes).
  for (;;) {
    if (pos === size) return { end: pos, crc, torn: undefined, dirtyTail: false };
    let reason: string;
    let recordEnd: number | undefined;
    if (isAllZero(buf, pos, Math.min(pos + 8, size))) {
      // A zero length word (or the zero start of one, in a file cut short): the end of the written data,
      // preallocated zeros follow, unless non-zero data follows.
      if (isAllZero(buf, pos, size)) return { end: pos, crc, torn: undefined, dirtyTail: false };
      reason = 'zero length field followed by non-zero data';
      recordEnd = pos + 8;
    } else {
      const f = readFrame(buf, pos, size);
      if (f.ok) {
        const rec = f.record;
        if (rec.type === RecordType.Crc) {
          // A segment's crc record repeats the chain's value at its start. crcIn 0 means "first segment
          // read": nothing to compare with, the record seeds the chain (as etcd's decoder does).
          if (crc !== 0 && rec.crc !== crc) {
            reason = `crc mismatch: crc record carries 0x${rec.crc.toString(16)}, the chain is at 0x${crc.toString(16)}`;
          } else {
            crc = rec.crc;
            onRecord(rec);
            pos = rec.end;
            continue;
          }
        } else {
          const next = crc32c(rec.data ?? emptyBytes, crc);
          if (next === rec.crc) {
            // Intact (the CRC matches), so an unknown type is a format we cannot read, never a torn write.
            if (!isKnownRecordType(rec.type)) throw new WalCorruptError(name, pos, `unknown record type ${rec.type}`);
            crc = next;
            onRecord(rec);
            pos = rec.end;
            continue;
          }
          reason = `crc mismatch (record says 0x${rec.crc.toString(16)}, data gives 0x${next.toString(16)})`;
        }
        recordEnd = rec.recordEnd;
      } else {
        reason = f.reason;
        recordEnd = f.recordEnd;
      }
    }
    // A bad record at pos. Everything before it is good; decide what the rest is.
    if (!isLast) throw new WalCorruptError(name, pos, reason);
    if (!hasLostSector(buf, size, pos, recordEnd ?? Math.min(pos + 8, size)) && hasPlausibleRecordAfter(buf, size, pos)) {
      throw new WalCorruptError(name, pos, `${reason}; intact records follow it, so this is not a torn write`);
    }
    return { end: pos, crc, torn: { offset: pos, reason }, dirtyTail: true };
  }
}

/**
 * Whether a sector overlapping the bad record `[from, to)` is all zero from the record's start (or the
 * sector's start) to the sector's end: the signature of a write that never reached the disk, since the
 * segment was zero-filled before use.
 */
function hasLostSector(buf: Buffer, size: number, from: number, to: number): boolean {
  for (let s = from - (from % SECTOR); s < to; s += SECTOR) {
    if (isAllZero(buf, Math.max(s, from), Math.min(s + SECTOR, size))) return true;
  }
  return false;
}

/**
 * Whether anything after the bad record at `from` decodes as a record: a sane length word at an 8-byte
 * boundary, a frame that fits the file, a walpb.Record with a data-carrying known type. Its CRC cannot be
 * checked (the chain is broken at `from`), so this is deliberately generous: any such record is taken as
 * evidence that data was written (and possibly synced) after the bad one.
 */
function hasPlausibleRecordAfter(buf: Buffer, size: number, from: number): boolean {
  // Bounded by the file size; zero words (the common case: preallocated space) are skipped cheaply.
  for (let p = from + 8 - (from % 8); p + 8 <= size; p += 8) {
    if (buf.readUInt32LE(p) === 0 && buf.readUInt32LE(p + 4) === 0) continue;
    const f = readFrame(buf, p, size);
    if (!f.ok) continue;
    const t = f.record.type;
    if (t !== RecordType.Crc && isKnownRecordType(t) && f.record.data !== undefined) return true;
  }
  return false;
}
