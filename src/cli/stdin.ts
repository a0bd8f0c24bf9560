/** Reading the command's standard input: all of it as bytes (put's value), or line by line (txn). */
import { createInterface } from 'node:readline';

/** Everything on stdin until end of input, as bytes (unchanged: a trailing newline stays, as with etcdctl). */
export async function readStdin(input: NodeJS.ReadableStream = process.stdin): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/**
 * A line source over stdin: each call resolves to the next line (without its line ending), or undefined at end of
 * input. Lines are read as they arrive, so an interactive user sees each prompt before typing the section.
 */
export function stdinLines(input: NodeJS.ReadableStream = process.stdin): { next: () => Promise<string | undefined>; close: () => void } {
  const rl = createInterface({ input, crlfDelay: Infinity, terminal: false });
  const it = rl[Symbol.asyncIterator]();
  return {
    next: async () => {
      const r = await it.next();
      return r.done ? undefined : r.value;
    },
    close: () => rl.close(),
  };
}
