// End-to-end: runs the built CLI (bin/run.js over dist/) as a user would. `npm test` builds first.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type Run, kvctl as runKvctl, root } from './kvctl.js';

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };

/** Runs the built CLI in production mode (what an installed kvctl does). */
function kvctl(...args: string[]): Promise<Run> {
  return runKvctl(args, { env: { NODE_ENV: 'production' } });
}

/** The topics and top-level commands that dist/commands provides (file and folder names). */
function builtTopics(): string[] {
  const dir = join(root, 'dist/commands');
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() || (e.isFile() && e.name.endsWith('.js')))
    .map((e) => e.name.replace(/\.js$/, ''))
    .filter((name) => name !== 'index');
}

describe('kvctl binary', () => {
  it('needs a build', () => {
    assert.ok(existsSync(join(root, 'dist')), 'dist/ is missing: run `npm run build` (npm test does it)');
  });

  it('--version prints kvctl/<version> and exits 0', async () => {
    const r = await kvctl('--version');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^kvctl/${pkg.version.replaceAll('.', '\\.')} `));
  });

  it('--help shows usage and every topic, and exits 0', async () => {
    const r = await kvctl('--help');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /USAGE/);
    assert.match(r.stdout, /\$ kvctl \[COMMAND\]/);
    for (const topic of builtTopics()) assert.match(r.stdout, new RegExp(`^\\s+${topic}\\s`, 'm'), `topic ${topic} missing`);
  });

  it('an unknown command exits non-zero with a one-line message', async () => {
    const r = await kvctl('no-such-command');
    assert.notEqual(r.code, 0);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `expected one line on stderr, got:\n${r.stderr}`);
    assert.match(lines[0] ?? '', /no-such-command/);
    assert.equal(r.stdout, '');
  });
});
