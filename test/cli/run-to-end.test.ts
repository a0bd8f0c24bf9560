// runToEnd: a command that node ends half way (nothing left to settle it) is reported, never silent.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Runs `body` (an ES module's text) under node with tsx; its exit code and stderr. */
function run(body: string): Promise<{ code: number; stderr: string }> {
  const script = `import { runToEnd } from './src/cli/run-to-end.ts';\n${body}`;
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', script], { cwd: root, timeout: 30_000 }, (error, _stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stderr });
    });
  });
}

describe('runToEnd', () => {
  it('says so on stderr when the process exits before the command settles (exit code 13)', async () => {
    // A promise only an unref'd timer could settle: node exits while it is pending.
    const r = await run(`await runToEnd(new Promise((resolve) => setTimeout(resolve, 60_000).unref()));`);
    assert.equal(r.code, 13);
    assert.match(r.stderr, /^kvctl: the command stopped before it finished \(exit code 13: nothing was left for it to wait on\)\. This is a bug in kvctl/m);
  });

  it('is silent for a command that ends, whether it succeeds or fails', async () => {
    const ok = await run(`await runToEnd(new Promise((resolve) => setTimeout(resolve, 10)));`);
    assert.deepEqual(ok, { code: 0, stderr: '' });
    const failed = await run(`try { await runToEnd(Promise.reject(new Error('boom'))); } catch { process.exitCode = 2; }`);
    assert.deepEqual(failed, { code: 2, stderr: '' });
  });
});
