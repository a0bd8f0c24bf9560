/**
 * `snapshot status`: what a snapshot file holds (hash, revision, keys, size), read by opening a copy of
 * its db the way the node opens its own. A file saved by `snapshot save` ends with a SHA-256 of the db
 * bytes (etcd's layout: a db is a whole number of 512-byte sectors, so size % 512 == 32 means a trailer);
 * a trailer that does not match refuses the file.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { KvError } from '../../base/errors.js';
import { noopLogger } from '../../base/logger.js';
import { BBOLT_HEAD_BYTES, BUCKET_NAMES, Backend, isBboltHead } from '../mvcc/backend.js';
import { KvStore } from '../mvcc/kvstore.js';

export interface SnapshotFileStatus {
  readonly hash: number;
  readonly revision: number;
  readonly totalKey: number;
  readonly totalSize: number;
  /** Whether the file carried the SHA-256 trailer (and it matched). */
  readonly hashChecked: boolean;
}

export class SnapshotFileError extends KvError {
  readonly code = 'SNAPSHOT_FILE_INVALID';
}

const SHA256_BYTES = 32;

/** What a snapshot file holds: a real etcd's bbolt db, or kvctl's own (lmdb) store. */
export type SnapshotFormat = 'bbolt' | 'kvctl';

/** How many bytes of a snapshot file's start `snapshotFormatOf` needs. */
export const snapshotHeadBytes = BBOLT_HEAD_BYTES;

/**
 * The format of a snapshot file that starts with `head`. Anything that is not bbolt counts as kvctl's: its
 * restore opens it as lmdb and names the problem when it is neither.
 */
export function snapshotFormatOf(head: Uint8Array): SnapshotFormat {
  return isBboltHead(head) ? 'bbolt' : 'kvctl';
}

export async function snapshotFileStatus(path: string): Promise<SnapshotFileStatus> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    throw new SnapshotFileError(`snapshot: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const hasTrailer = size % 512 === SHA256_BYTES;
  if (hasTrailer) {
    const bytes = await readFile(path);
    const body = bytes.subarray(0, size - SHA256_BYTES);
    if (!createHash('sha256').update(body).digest().equals(bytes.subarray(size - SHA256_BYTES))) {
      throw new SnapshotFileError(`snapshot: ${path}: SHA-256 mismatch (the file is corrupt or truncated)`);
    }
  }
  const dir = await mkdtemp(join(tmpdir(), 'kvctl-snapshot-status-'));
  try {
    const db = join(dir, 'db');
    await copyFile(path, db);
    if (hasTrailer) await truncate(db, size - SHA256_BYTES);
    let backend: Backend;
    try {
      backend = Backend.open({ path: db, logger: noopLogger });
    } catch (err) {
      throw new SnapshotFileError(`snapshot: ${path} is not a kvctl snapshot: ${(err as Error).message}`);
    }
    try {
      const kv = KvStore.open(backend, { logger: noopLogger });
      let totalKey = 0;
      for (const name of BUCKET_NAMES) totalKey += backend.buckets[name].count();
      const status = {
        hash: backend.hash(),
        revision: kv.currentRevision,
        totalKey,
        totalSize: hasTrailer ? size - SHA256_BYTES : size,
        hashChecked: hasTrailer,
      };
      await kv.close();
      return status;
    } finally {
      await backend.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
