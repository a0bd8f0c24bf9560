/**
 * Keys are bytes. These helpers turn strings into bytes (UTF-8) and compute the range ends that clientv3's
 * `WithPrefix` / `WithFromKey` use, so that a range means the same thing here as with etcd's own client.
 */

/** Bytes of a key or value: strings are UTF-8, byte arrays are copied into a Buffer view as is. */
export function toBytes(input: string | Uint8Array): Buffer {
  if (typeof input === 'string') return Buffer.from(input, 'utf8');
  return Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
}

/**
 * The range end that selects every key starting with `prefix` (clientv3's `GetPrefixRangeEnd`): the prefix with
 * its last byte below 0xff incremented and everything after it dropped. When every byte is 0xff (or the prefix is
 * empty) no such key exists and the answer is `[0]`, which etcd reads as "to the end of the keyspace".
 */
export function prefixEnd(prefix: Uint8Array): Buffer {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const b = prefix[i] ?? 0xff;
    if (b < 0xff) {
      const end = Buffer.from(prefix.subarray(0, i + 1));
      end[i] = b + 1;
      return end;
    }
  }
  return fromKeyEnd();
}

/** The range end `[0]`: "every key greater than or equal to the key" (clientv3's `WithFromKey`). */
export function fromKeyEnd(): Buffer {
  return Buffer.from([0]);
}
