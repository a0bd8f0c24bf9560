/**
 * Downloads a member's snapshot (Maintenance.Snapshot) into a file, as `etcdctl snapshot save` does:
 * the stream goes to `<path>.part`, the SHA-256 trailer etcd appends is checked against the bytes
 * received, the file is fsynced and renamed into place. The file keeps the trailer (etcdctl's format),
 * so `snapshot restore` can check it again.
 */
import { createHash } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';

import { credentials } from '@grpc/grpc-js';

import { MaintenanceClient, type SnapshotResponse } from '../proto/gen/etcdserverpb/rpc.js';
import { parseEndpoint } from './endpoints.js';
import { ClientError } from './errors.js';

export interface SnapshotDownload {
  readonly path: string;
  /** Bytes written, the trailer included. */
  readonly size: number;
  /** The revision of the member when the snapshot was taken (from the first response's header). */
  readonly revision: bigint | undefined;
}

const SHA256_BYTES = 32;

export async function downloadSnapshot(
  endpoint: string,
  path: string,
  opts: { dialTimeoutMs?: number; onProgress?: (received: number, remaining: bigint) => void } = {},
): Promise<SnapshotDownload> {
  const ep = parseEndpoint(endpoint);
  if (ep.secure) throw new ClientError('snapshot save over https is not supported yet', { code: 'BAD_REQUEST', kind: 'bad-request' });
  const client = new MaintenanceClient(ep.target, credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 });
  const part = `${path}.part`;
  const fh = await open(part, 'w', 0o600);
  let ok = false;
  try {
    await new Promise<void>((resolve, reject) => {
      client.waitForReady(Date.now() + (opts.dialTimeoutMs ?? 2000), (err) =>
        err ? reject(new ClientError(`failed to connect to ${endpoint}: ${err.message}`, { code: 'UNAVAILABLE', kind: 'unreachable' })) : resolve(),
      );
    });
    const stream = client.snapshot({});
    let received = 0;
    let revision: bigint | undefined;
    let tail = Buffer.alloc(0);
    const hash = createHash('sha256');
    for await (const msg of stream as AsyncIterable<SnapshotResponse>) {
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
      throw new ClientError(`snapshot from ${endpoint} failed its SHA-256 check (${received} bytes received)`, {
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
    client.close();
  }
}
