// Runs the built CLI (bin/run.js over dist/) as a user would. `npm test` builds first.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));

export type Run = { code: number; stdout: string; stderr: string };

/** Runs `node bin/run.js ...args` with a hard timeout; never rejects, the exit code is in the result. */
export function kvctl(args: readonly string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(root, 'bin/run.js'), ...args],
      { cwd: root, timeout: opts.timeoutMs ?? 30_000, env: { ...process.env, NO_COLOR: '1', ...opts.env } },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
