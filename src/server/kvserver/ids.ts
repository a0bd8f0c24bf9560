/**
 * Member and cluster ids, derived exactly as etcd derives them, so that the same `--initial-cluster` and
 * `--initial-cluster-token` give the same ids in kvctl and in etcd (operators compare them across tools):
 * - member id: the first 8 bytes (big-endian) of SHA-1 over the member's sorted peer URLs concatenated,
 *   then the cluster token, then (for a member added at run time) the Unix time in seconds as decimal text;
 * - cluster id: the first 8 bytes of SHA-1 over the sorted member ids, each 8 bytes big-endian.
 */
import { createHash } from 'node:crypto';

export function memberIdFor(peerUrls: readonly string[], clusterToken: string, addedAtUnixSeconds?: number): bigint {
  const sorted = [...peerUrls].sort();
  let text = sorted.join('') + clusterToken;
  if (addedAtUnixSeconds !== undefined) text += String(addedAtUnixSeconds);
  return first8(createHash('sha1').update(text, 'utf8').digest());
}

export function clusterIdFor(memberIds: readonly bigint[]): bigint {
  const sorted = [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const buf = Buffer.alloc(8 * sorted.length);
  sorted.forEach((id, i) => buf.writeBigUInt64BE(id, 8 * i));
  return first8(createHash('sha1').update(buf).digest());
}

function first8(digest: Buffer): bigint {
  return digest.readBigUInt64BE(0);
}

/** etcd prints ids as lower-case hex without padding. */
export function idHex(id: bigint): string {
  return id.toString(16);
}
