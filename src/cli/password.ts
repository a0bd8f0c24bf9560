/**
 * Passwords from the user, as etcdctl reads them:
 * - `askPassword(prompt)` is speakeasy.Ask: the prompt on stdout, then a line typed with echo off on a terminal
 *   (or a line of piped stdin), then a newline;
 * - `scanWord()` is `fmt.Scanf("%s")` (`--interactive=false`): the first whitespace-delimited word of stdin, or ''
 *   when there is none.
 */
import { readStdin, stdinLines } from './stdin.js';

let lines: ReturnType<typeof stdinLines> | undefined;

/** A line typed on the terminal without echo; Ctrl-C exits as an interrupted command (130, as a shell would). */
function readHidden(input: NodeJS.ReadStream): Promise<string> {
  return new Promise((resolve) => {
    let typed = '';
    input.setRawMode(true);
    input.resume();
    const done = (value: string) => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      resolve(value);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done(typed);
        if (ch === '\u0003') {
          input.setRawMode(false);
          process.exit(130);
        }
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else typed += ch;
      }
    };
    input.on('data', onData);
  });
}

export async function askPassword(prompt: string): Promise<string> {
  process.stdout.write(prompt);
  let password: string;
  if (process.stdin.isTTY) {
    password = await readHidden(process.stdin);
  } else {
    lines ??= stdinLines();
    password = (await lines.next()) ?? '';
  }
  process.stdout.write('\n');
  return password;
}

export async function scanWord(): Promise<string> {
  const text = (await readStdin()).toString('utf8');
  return text.trimStart().split(/\s+/)[0] ?? '';
}

/** Stops reading stdin so that the process can exit. */
export function closePasswordInput(): void {
  lines?.close();
  lines = undefined;
}
