/**
 * fsync of a directory: makes the entries created or renamed in it durable (a file's own fsync does not cover
 * its name). Needed after every rename that must survive a crash: snapshots, restored or received data dirs,
 * certificates and keys.
 */
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Where `file` is: itself when it is a path, else the first PATH directory that has it; undefined when none. */
export function findOnPath(file: string): string | undefined {
  if (file.includes('/')) return existsSync(file) ? file : undefined;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && existsSync(join(dir, file))) return join(dir, file);
  }
  return undefined;
}
