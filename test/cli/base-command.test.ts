// BaseCommand's contract: one line on stderr (or small JSON on stdout with --json) and etcdctl exit codes.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

type Run = { code: number; stdout: string; stderr: string };

function demo(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'test/cli/fixtures/demo-command.ts', ...args],
      { cwd: root, timeout: 30_000, env: { ...process.env, NO_COLOR: '1', NODE_ENV: 'production' } },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
      },
    );
  });
}

function oneLine(r: Run): string {
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${r.stderr}`);
  return lines[0] ?? '';
}

describe('BaseCommand', () => {
  it('prints the result of run() with --json', async () => {
    const r = await demo('--count', '3', '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { ok: true, count: 3 });
  });

  it('prints human output without --json', async () => {
    const r = await demo();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'ok 1\n');
  });

  it('renders a KvError with its code on one line and exits 1', async () => {
    const r = await demo('--fail', 'kv');
    assert.equal(r.code, 1);
    assert.equal(oneLine(r), 'Error [DEMO_FAILURE]: demo: something broke second line');
    assert.equal(r.stdout, '');
  });

  it('renders a KvError as small JSON with --json', async () => {
    const r = await demo('--fail', 'kv', '--json');
    assert.equal(r.code, 1);
    assert.deepEqual(JSON.parse(r.stdout), {
      error: { name: 'DemoError', message: 'demo: something broke second line', code: 'DEMO_FAILURE' },
    });
    assert.equal(r.stderr, '');
  });

  it('maps a refused connection to ExitBadConnection (2)', async () => {
    const r = await demo('--fail', 'errno');
    assert.equal(r.code, 2);
    assert.equal(oneLine(r), 'Error: connect ECONNREFUSED 127.0.0.1:2379');
  });

  it('maps any other error to ExitError (1)', async () => {
    const r = await demo('--fail', 'plain', '--json');
    assert.equal(r.code, 1);
    assert.deepEqual(JSON.parse(r.stdout), { error: { name: 'Error', message: 'plain failure', code: 'UNKNOWN' } });
  });

  it('keeps the exit code of this.exit() and this.error({exit})', async () => {
    assert.equal((await demo('--fail', 'exit')).code, 5);
    const r = await demo('--fail', 'cli');
    assert.equal(r.code, 3);
    assert.equal(oneLine(r), 'Error: bad input');
  });

  for (const [what, args] of [
    ['an unknown flag', ['--nope']],
    ['a value outside the options', ['--fail', 'bogus']],
    ['a value that does not parse', ['--count', 'abc']],
    ['an unexpected argument', ['extra']],
  ] as const) {
    it(`exits 2 with one short line for ${what}`, async () => {
      const r = await demo(...args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(oneLine(r), /^Error: .*\(see --help\)$/);
    });

    it(`exits 2 with small JSON for ${what} under --json`, async () => {
      const r = await demo(...args, '--json');
      assert.equal(r.code, 2, r.stderr);
      assert.ok(r.stdout.length < 500, `JSON error too long (${r.stdout.length} bytes)`);
      const body = JSON.parse(r.stdout) as { error: { name: string; message: string; code: string } };
      assert.equal(body.error.code, 'BAD_ARGS');
      assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'name']);
    });
  }
});
