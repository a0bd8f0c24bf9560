/**
 * Snapshot streaming, both ends. A MsgSnap travels with the backend file it stands for: a header chunk
 * (the encoded MsgSnap and the file size), the file in ~1 MiB chunks, and the file's SHA-256 last.
 *
 * The receiver writes a temporary file in its receive directory, checks size and checksum, syncs it and
 * renames it to `<index as %016x>.snap.db` (etcd's name for a received backend), and only then hands it to
 * the node. Whatever goes wrong, the temporary file is deleted.
 */
import { createHash } from 'node:crypto';
import { type FileHandle, open, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';

import { decodeMessage } from '../raft/codec.js';
import { type Message, MessageType } from '../raft/raftpb.js';
import type { SnapshotPayload } from './types.js';
import { GrpcCall, type GrpcStatus, connectPeer, errorText, keepAlive, parsePeerUrl, writeFrame } from './grpc-client.js';
import type { PeerDial } from './tls.js';
import {
  FrameWriter,
  GrpcCode,
  SNAPSHOT_FIELD_DATA,
  SNAPSHOT_PATH,
  decodeSnapshotChunk,
  lenFieldSize,
  snapshotHeaderFrame,
  snapshotSha256Frame,
} from './wire.js';

/** File bytes per Snapshot chunk. */
export const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;

/** The receiver's name for a received backend file. */
export function receivedSnapshotName(index: number): string {
  return `${index.toString(16).padStart(16, '0')}.snap.db`;
}

// ---- sending -----------------------------------------------------------------------------------------------

/** Why a snapshot did not arrive: the peer's refusal, or a local or transport failure. */
export class SnapshotSendFailure extends Error {
  constructor(
    message: string,
    readonly status: GrpcStatus | undefined,
  ) {
    super(message);
  }
}

export interface SnapshotSendOptions {
  url: string;
  dial: PeerDial;
  metadata: Readonly<Record<string, string>>;
  /** The encoded MsgSnap. */
  message: Uint8Array;
  payload: SnapshotPayload;
  signal: AbortSignal;
  keepaliveIntervalMs: number;
  keepaliveTimeoutMs: number;
}

/**
 * Streams the snapshot on a connection of its own (a large file must not hold up the raft stream's
 * messages behind HTTP/2 connection flow control). Resolves when the peer answered OK, i.e. its node has
 * taken the file; rejects with a SnapshotSendFailure otherwise. Does not release the payload.
 */
export async function sendSnapshotStream(o: SnapshotSendOptions): Promise<void> {
  const session = connectPeer(parsePeerUrl(o.url), o.dial);
  keepAlive(session, o.keepaliveIntervalMs, o.keepaliveTimeoutMs);
  const call = new GrpcCall(session, SNAPSHOT_PATH, o.metadata);
  const onAbort = () => call.cancel(GrpcCode.CANCELLED, 'snapshot send stopped');
  o.signal.addEventListener('abort', onAbort);
  let file: FileHandle | undefined;
  try {
    if (o.signal.aborted) onAbort();
    let failure: string | undefined;
    try {
      file = await open(o.payload.path, 'r');
      await writeFrame(call, snapshotHeaderFrame(o.message, o.payload.size));
      const hash = createHash('sha256');
      let sent = 0;
      while (sent < o.payload.size && !call.finished) {
        const n = Math.min(SNAPSHOT_CHUNK_BYTES, o.payload.size - sent);
        const w = new FrameWriter(lenFieldSize(n));
        w.lenPrefix(SNAPSHOT_FIELD_DATA, n);
        // Read straight into the frame: the chunk is copied once, from the page cache.
        let got = 0;
        while (got < n) {
          const { bytesRead } = await file.read(w.buf, w.pos + got, n - got, sent + got);
          if (bytesRead === 0) {
            throw new Error(`snapshot file ${o.payload.path} ends at ${sent + got} bytes, before its announced ${o.payload.size}`);
          }
          got += bytesRead;
        }
        hash.update(w.buf.subarray(w.pos, w.pos + n));
        w.pos += n;
        await writeFrame(call, w.finish());
        sent += n;
      }
      if (!call.finished) {
        await writeFrame(call, snapshotSha256Frame(hash.digest()));
        call.end();
      }
    } catch (err) {
      failure = errorText(err);
      call.cancel(GrpcCode.CANCELLED, failure);
    }
    const status = await call.done;
    if (status.code === GrpcCode.OK && failure === undefined) return;
    // A peer's refusal explains more than the write error it caused on our side.
    const why = status.fromPeer ? `peer answered ${status.message || `status ${status.code}`}` : (failure ?? status.message);
    throw new SnapshotSendFailure(why, status);
  } finally {
    o.signal.removeEventListener('abort', onAbort);
    await file?.close().catch(() => {});
    session.destroy();
  }
}

// ---- receiving ---------------------------------------------------------------------------------------------

/** A snapshot stream that cannot be accepted; `grpcCode` and the message go back to the sender. */
export class SnapshotReceiveError extends Error {
  constructor(
    readonly grpcCode: number,
    message: string,
  ) {
    super(message);
  }
}

export interface ReceivedSnapshot {
  readonly message: Message;
  readonly path: string;
  readonly size: number;
}

let tempCounter = 0;
const TEMP_MARK = '.snap.db.part-';

/** Deletes temporary files a crashed receiver left in `dir` (ours only: `*.snap.db.part-*`). */
export async function removeStaleTempFiles(dir: string): Promise<string[]> {
  const stale = (await readdir(dir)).filter((name) => name.includes(TEMP_MARK));
  for (const name of stale) await unlink(join(dir, name)).catch(() => {});
  return stale;
}

/**
 * Reads a Snapshot stream into `dir`. Resolves with the MsgSnap and the final path once the file is whole,
 * verified, synced and renamed; rejects (temporary file deleted) on anything else, including the stream
 * ending early or being cancelled.
 */
export async function receiveSnapshotFile(chunks: AsyncIterable<Buffer>, dir: string): Promise<ReceivedSnapshot> {
  let file: FileHandle | undefined;
  let tmp: string | undefined;
  try {
    let message: Message | undefined;
    let size = 0;
    let received = 0;
    let digest: Uint8Array | undefined;
    const hash = createHash('sha256');
    for await (const raw of chunks) {
      let chunk;
      try {
        chunk = decodeSnapshotChunk(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength));
      } catch (err) {
        throw new SnapshotReceiveError(GrpcCode.INVALID_ARGUMENT, `failed to decode snapshot chunk (${errorText(err)})`);
      }
      if (digest !== undefined) throw new SnapshotReceiveError(GrpcCode.INVALID_ARGUMENT, 'snapshot chunk after the checksum');
      if (chunk.kind === 'header') {
        if (message !== undefined) throw new SnapshotReceiveError(GrpcCode.INVALID_ARGUMENT, 'second snapshot header');
        let m: Message;
        try {
          m = decodeMessage(chunk.message);
        } catch (err) {
          throw new SnapshotReceiveError(GrpcCode.INVALID_ARGUMENT, `failed to decode raft message (${errorText(err)})`);
        }
        // etcd's snapshot handler answers a non-MsgSnap the same way.
        if (m.type !== MessageType.MsgSnap) throw new SnapshotReceiveError(GrpcCode.INVALID_ARGUMENT, 'wrong raft message type');
        if (m.snapshot === undefined) throw new SnapshotReceiveError(GrpcCode.INVALID_ARGUMENT, 'MsgSnap without a snapshot');
        message = m;
        size = chunk.size;
        const final = join(dir, receivedSnapshotName(m.snapshot.metadata.index));
        tmp = `${final.slice(0, -'.snap.db'.length)}${TEMP_MARK}${process.pid}-${++tempCounter}`;
        file = await open(tmp, 'wx');
        continue;
      }
      if (message === undefined || file === undefined) {
        throw new SnapshotReceiveError(GrpcCode.INVALID_ARGUMENT, 'snapshot stream does not start with its header');
      }
      if (chunk.kind === 'sha256') {
        digest = chunk.digest;
        continue;
      }
      received += chunk.data.length;
      if (received > size) {
        throw new SnapshotReceiveError(GrpcCode.DATA_LOSS, `snapshot is larger than its announced ${size} bytes`);
      }
      hash.update(chunk.data);
      await file.write(chunk.data);
    }
    if (message === undefined || file === undefined || tmp === undefined) {
      throw new SnapshotReceiveError(GrpcCode.INVALID_ARGUMENT, 'snapshot stream ended before its header');
    }
    if (received !== size) {
      throw new SnapshotReceiveError(GrpcCode.DATA_LOSS, `snapshot size mismatch: received ${received} bytes, announced ${size}`);
    }
    if (digest === undefined) throw new SnapshotReceiveError(GrpcCode.DATA_LOSS, 'snapshot stream ended without its checksum');
    if (!hash.digest().equals(digest)) throw new SnapshotReceiveError(GrpcCode.DATA_LOSS, 'snapshot checksum mismatch');
    await file.sync();
    await file.close();
    file = undefined;
    const final = join(dir, receivedSnapshotName(message.snapshot?.metadata.index ?? 0));
    await rename(tmp, final);
    tmp = undefined;
    return { message, path: final, size };
  } catch (err) {
    if (err instanceof SnapshotReceiveError) throw err;
    // A cancelled or broken stream, or a disk error.
    throw new SnapshotReceiveError(GrpcCode.INTERNAL, `failed to save KV snapshot (${errorText(err)})`);
  } finally {
    await file?.close().catch(() => {});
    if (tmp !== undefined) await unlink(tmp).catch(() => {});
  }
}
