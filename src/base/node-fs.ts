/**
 * fsync of a directory: makes the entries created or renamed in it durable (a file's own fsync does not cover
 * its name). Needed after every rename that must survive a crash: snapshots, restored or received data dirs,
 * certificates and keys.
 */
import { open } from 'node:fs/promises';

export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
