/**
 * Child process for the kill -9 test (not a test file itself): commits batches forever, each writing key
 * `n` to the lease bucket and consistent index n, and prints `n` on stdout after the batch returned.
 * Usage: node --import tsx test/mvcc/crash-writer.ts <db path>
 */
import { Backend } from '../../src/server/mvcc/backend.js';

const path = process.argv[2];
if (path === undefined) throw new Error('usage: crash-writer.ts <db path>');
const backend = Backend.open({ path });
const start = backend.consistentIndex().index;
const value = Buffer.alloc(1000, 0x61);
// Bounded: the parent kills us long before this ends.
for (let n = start + 1; n < start + 1_000_000; n++) {
  backend.batch(() => {
    const key = Buffer.alloc(8);
    key.writeUInt32BE(n, 4);
    backend.buckets.lease.put(key, value);
    backend.setConsistentIndex(n, 1);
  });
  process.stdout.write(`${n}\n`);
  if (n % 50 === 0) await new Promise((r) => setImmediate(r));
}
