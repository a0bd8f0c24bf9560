/** Reading a member's log file: its last lines, then what is appended, for the agent's Logs stream. */
import { open, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** The byte offset where the last `lines` lines of the file begin (reads at most 4 MiB back). */
export async function tailOffset(path: string, lines: number): Promise<number> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    return 0;
  }
  if (lines <= 0) return size;
  const back = Math.min(size, 4 * 1024 * 1024);
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(back);
    await fh.read(buf, 0, back, size - back);
    let seen = 0;
    // A final newline ends the last line; it does not start another.
    for (let i = buf.length - (buf.at(-1) === 0x0a ? 2 : 1); i >= 0; i--) {
      if (buf[i] === 0x0a && ++seen === lines) return size - back + i + 1;
    }
    return size - back;
  } finally {
    await fh.close();
  }
}

/**
 * Yields the file's bytes from `offset`, then (follow) new bytes as they are appended, until `cancelled()`.
 * A file that shrinks (rotated or truncated) is read again from its start.
 */
export async function* readLog(path: string, offset: number, follow: boolean, cancelled: () => boolean): AsyncGenerator<Buffer> {
  let pos = offset;
  while (!cancelled()) {
    const size = await stat(path).then((s) => s.size, () => 0);
    if (size < pos) pos = 0;
    if (size > pos) {
      const fh = await open(path, 'r');
      try {
        while (pos < size && !cancelled()) {
          const buf = Buffer.alloc(Math.min(64 * 1024, size - pos));
          const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
          if (bytesRead === 0) break;
          pos += bytesRead;
          yield buf.subarray(0, bytesRead);
        }
      } finally {
        await fh.close();
      }
    }
    if (!follow) return;
    await sleep(200);
  }
}
