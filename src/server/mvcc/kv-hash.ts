/**
 * HashKV's checksum (etcd's kvHasher, server/storage/mvcc/hash.go): CRC-32C over the bucket name "key", then
 * the key and value of every `key` bucket entry, in revision order, that belongs to the state at `revision`:
 *  - revisions after `revision` are left out;
 *  - revisions at or below `compactRevision` count only if they are in `keep` (what compaction keeps, per
 *    etcd's Keep), unless `keep` is empty; so members that did or did not finish the physical compaction
 *    yet hash the same;
 *  - a tombstone exactly at `compactRevision` is left out (etcd <= 3.5.15 deleted it, later versions keep
 *    it; leaving it out keeps hashes equal across both).
 */
import { crc32c } from '../../base/crc32c.js';
import type { RevSet } from './key-index.js';
import { bytesToRev } from './revision.js';

const KEY_BUCKET_NAME = Buffer.from('key');

export interface KeyValueHash {
  readonly hash: number;
  /** The compacted revision the hash was computed against (-1: never compacted). */
  readonly compactRevision: number;
  /** The revision the hash covers. */
  readonly hashRevision: number;
}

export class KvHasher {
  private crc = crc32c(KEY_BUCKET_NAME);

  constructor(
    readonly compactRevision: number,
    readonly revision: number,
    private readonly keep: RevSet,
  ) {}

  /** Feeds one `key` bucket entry (entries must come in key order). */
  write(key: Buffer, value: Buffer): void {
    const r = bytesToRev(key);
    if (r.main > this.revision) return;
    if (r.main <= this.compactRevision && this.keep.size > 0 && !this.keep.has(r.main, r.sub)) return;
    if (r.main === this.compactRevision && r.tombstone) return;
    this.crc = crc32c(key, this.crc);
    this.crc = crc32c(value, this.crc);
  }

  result(): KeyValueHash {
    return { hash: this.crc, compactRevision: this.compactRevision, hashRevision: this.revision };
  }
}
