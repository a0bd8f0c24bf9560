// Runs the real etcdctl (Debian etcd-client) as an independent client of a node under test.
import { execFile } from 'node:child_process';

export type EtcdctlRun = { code: number; stdout: string; stderr: string };

export function etcdctl(
  endpoint: string,
  args: readonly string[],
  opts: { input?: string; timeoutMs?: number } = {},
): Promise<EtcdctlRun> {
  return new Promise((resolve) => {
    const child = execFile(
      'etcdctl',
      ['--endpoints', endpoint, '--dial-timeout', '3s', '--command-timeout', '10s', ...args],
      { timeout: opts.timeoutMs ?? 20_000, env: { ...process.env, ETCDCTL_API: '3' }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/**
 * etcdctl's stderr without the JSON log lines its client library writes there (`{"level":"warn",...}`: what it
 * retried, not what failed): what etcdctl itself printed.
 */
export function withoutClientLogs(stderr: string): string {
  return stderr
    .split('\n')
    .filter((line) => !line.startsWith('{"level":'))
    .join('\n');
}

/** etcdctl's JSON output, parsed (it prints 64-bit ints as JSON numbers; keys/values base64). */
export function parseJson(run: EtcdctlRun): Record<string, unknown> {
  if (run.code !== 0) throw new Error(`etcdctl failed (${run.code}): ${run.stderr}`);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

export const b64 = (s: string): string => Buffer.from(s).toString('base64');
