/**
 * Downloads a member's snapshot (Maintenance.Snapshot) into a file, as `etcdctl snapshot save` does:
 * the stream goes to `<path>.part`, the SHA-256 trailer etcd appends is checked against the bytes
 * received, the file is fsynced and renamed into place. The file keeps the trailer (etcdctl's format),
 * so `snapshot restore` can check it again.
 */
import { createHash } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';

import type * as grpc from '@grpc/grpc-js';

import { MaintenanceService, type SnapshotRequest, type SnapshotResponse } from '../proto/gen/etcdserverpb/rpc.js';
import type { EtcdClient } from './client.js';
import { ClientError, fromServiceError } from './errors.js';

export interface SnapshotDownload {
  readonly path: string;
  /** Bytes written, the trailer included. */
  readonly size: number;
  /** The revision of the member when the snapshot was taken (from the first response's header). */
  readonly revision: bigint | undefined;
}

const SHA256_BYTES = 32;

/**
 * Streams the snapshot of the endpoint `client` connects to (the caller gives the client one endpoint),
 * over the client's channel, with its TLS settings and token.
 */
export async function downloadSnapshot(
  client: EtcdClient,
  path: string,
  opts: { onProgress?: (received: number, remaining: bigint) => void } = {},
): Promise<SnapshotDownload> {
  const ep = await client.dial();
  const metadata = await client.streamMetadata();
  const part = `${path}.part`;
  const fh = await open(part, 'w', 0o600);
  let ok = false;
  try {
    const m = MaintenanceService.snapshot;
    const stream = client
      .channel(ep)
      .makeServerStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, {} as SnapshotRequest, metadata, {});
    let received = 0;
    let revision: bigint | undefined;
    let tail = Buffer.alloc(0);
    const hash = createHash('sha256');
    for await (const msg of readStream(stream, ep.raw)) {
      if (revision === undefined && msg.header) revision = msg.header.revision;
      await fh.write(msg.blob);
      received += msg.blob.length;
      // Everything but the last 32 bytes is content; keep a sliding tail to find the trailer at the end.
      const joined = Buffer.concat([tail, msg.blob]);
      const content = joined.subarray(0, Math.max(0, joined.length - SHA256_BYTES));
      hash.update(content);
      tail = Buffer.from(joined.subarray(content.length));
      opts.onProgress?.(received, msg.remainingBytes);
    }
    if (tail.length !== SHA256_BYTES || !hash.digest().equals(tail)) {
      throw new ClientError(`snapshot from ${ep.raw} failed its SHA-256 check (${received} bytes received)`, {
        code: 'SNAPSHOT_CORRUPT',
        kind: 'server',
      });
    }
    await fh.sync();
    await fh.close();
    await rename(part, path);
    ok = true;
    return { path, size: received, revision };
  } finally {
    if (!ok) {
      await fh.close().catch(() => {});
      await rm(part, { force: true });
    }
  }
}

/** The stream's messages; a gRPC error becomes the client's ClientError (etcd's message, its exit code). */
async function* readStream(stream: grpc.ClientReadableStream<SnapshotResponse>, endpoint: string): AsyncGenerator<SnapshotResponse> {
  try {
    for await (const msg of stream as AsyncIterable<SnapshotResponse>) yield msg;
  } catch (err) {
    if (err instanceof Error && typeof (err as grpc.ServiceError).code === 'number') throw fromServiceError(err as grpc.ServiceError, endpoint);
    throw err;
  }
}
