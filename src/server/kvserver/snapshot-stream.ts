/**
 * Maintenance.Snapshot: a consistent copy of the backend streamed in 32 KiB chunks, followed by the
 * SHA-256 of everything sent, as etcd streams it (etcdctl's `snapshot restore` checks that trailer).
 * The copy is made into a temporary file beside the db, so the stream does not hold the backend while
 * a slow client reads.
 */
import { createHash, randomBytes } from 'node:crypto';
import { open, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import type { Backend } from '../mvcc/backend.js';

/** etcd's snapshotSendBufferSize. */
export const SNAPSHOT_CHUNK_BYTES = 32 * 1024;

export interface SnapshotChunk {
  /** Bytes still to come after this chunk (0 on the last data chunk and on the trailer). */
  readonly remainingBytes: number;
  readonly blob: Buffer;
}

/** Yields the db's bytes, then one chunk holding their SHA-256. Cleans up its copy even if abandoned. */
export async function* snapshotChunks(backend: Backend): AsyncGenerator<SnapshotChunk> {
  const tmp = join(dirname(backend.path), `db.snapshot-${randomBytes(6).toString('hex')}.tmp`);
  try {
    await backend.copyTo(tmp);
    const size = (await stat(tmp)).size;
    const fh = await open(tmp, 'r');
    try {
      const hash = createHash('sha256');
      let sent = 0;
      while (sent < size) {
        const buf = Buffer.allocUnsafe(Math.min(SNAPSHOT_CHUNK_BYTES, size - sent));
        const { bytesRead } = await fh.read(buf, 0, buf.length, sent);
        if (bytesRead === 0) throw new Error(`snapshot: ${tmp} ended at ${sent} of ${size} bytes`);
        const blob = buf.subarray(0, bytesRead);
        sent += bytesRead;
        hash.update(blob);
        yield { remainingBytes: size - sent, blob };
      }
      yield { remainingBytes: 0, blob: hash.digest() };
    } finally {
      await fh.close();
    }
  } finally {
    await rm(tmp, { force: true });
  }
}
