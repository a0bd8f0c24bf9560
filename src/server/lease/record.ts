/**
 * How a lease sits in the backend's `lease` bucket, as etcd stores it: the key is the lease ID as 8 bytes
 * big-endian (etcd's int64ToBytes, i.e. the two's-complement uint64), the value a leasepb.Lease message
 * { int64 ID = 1; int64 TTL = 2; int64 RemainingTTL = 3; }. A db written by one can be read by the other.
 */
import { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';

import { CorruptLeaseRecordError } from './errors.js';

export interface LeaseRecord {
  readonly id: bigint;
  /** Granted TTL in seconds. */
  readonly ttl: bigint;
  /** Last checkpointed remaining TTL in seconds; 0 = not set (the full TTL applies). */
  readonly remainingTtl: bigint;
}

export function leaseKey(id: bigint): Buffer {
  const key = Buffer.allocUnsafe(8);
  key.writeBigUInt64BE(BigInt.asUintN(64, id));
  return key;
}

export function encodeLeaseRecord(r: LeaseRecord): Uint8Array {
  const w = new BinaryWriter();
  // proto3: zero values are not written.
  if (r.id !== 0n) w.uint32(8).int64(r.id);
  if (r.ttl !== 0n) w.uint32(16).int64(r.ttl);
  if (r.remainingTtl !== 0n) w.uint32(24).int64(r.remainingTtl);
  return w.finish();
}

export function decodeLeaseRecord(key: Uint8Array, value: Uint8Array): LeaseRecord {
  let id = 0n;
  let ttl = 0n;
  let remainingTtl = 0n;
  try {
    const r = new BinaryReader(value);
    while (r.pos < r.len) {
      const tag = r.uint32();
      const field = tag >>> 3;
      const wire = tag & 7;
      if (wire === 0 && field >= 1 && field <= 3) {
        const v = BigInt(r.int64());
        if (field === 1) id = v;
        else if (field === 2) ttl = v;
        else remainingTtl = v;
      } else {
        r.skip(wire);
      }
    }
  } catch (err) {
    throw new CorruptLeaseRecordError(`lease: cannot decode the record under key ${Buffer.from(key).toString('hex')}: ${(err as Error).message}`, { cause: err });
  }
  if (key.length !== 8 || !Buffer.from(key).equals(leaseKey(id))) {
    throw new CorruptLeaseRecordError(`lease: record for lease ${id} is stored under key ${Buffer.from(key).toString('hex')}`);
  }
  return { id, ttl, remainingTtl };
}
