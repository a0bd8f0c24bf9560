#!/usr/bin/env node
// Runs the test suite with node's own test runner through tsx.
//
// Node 20's `--test` neither expands globs nor finds .ts files by itself, so the files are listed here:
// every test/**/*.test.ts, or only those under the paths given on the command line. Every other argument
// (anything starting with '-') goes to node, e.g.
//   npm test -- --test-name-pattern=election
//   node scripts/run-tests.mjs test/raft --test-only
// Output is TAP unless --test-reporter is given, ending with node's `# pass N` / `# fail N` lines and then
// a list of the failed tests with their errors (none when all pass).
// The exit code is node's: non-zero when any test fails.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '../..');

/** Every *.test.ts file under dir, depth first, sorted so the order is stable. */
function findTests(dir) {
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...findTests(path));
    else if (entry.isFile() && entry.name.endsWith('.test.ts')) found.push(path);
  }
  return found;
}

const nodeArgs = [];
const selected = [];
for (const arg of process.argv.slice(2)) {
  if (arg.startsWith('-')) nodeArgs.push(arg);
  else selected.push(resolve(arg));
}

const roots = selected.length > 0 ? selected : [join(root, 'test')];
const files = roots.flatMap((path) => (statSync(path).isDirectory() ? findTests(path) : [path]));
if (files.length === 0) {
  console.error(`run-tests: no *.test.ts files under ${roots.map((r) => relative(root, r) || '.').join(', ')}`);
  process.exit(1);
}

// TAP on stdout, then every failure again at the very end (failures-reporter.mjs), where a log tail sees it.
if (!nodeArgs.some((arg) => arg.startsWith('--test-reporter'))) {
  nodeArgs.push(
    '--test-reporter=tap',
    '--test-reporter-destination=stdout',
    `--test-reporter=${join(root, 'scripts/failures-reporter.mjs')}`,
    '--test-reporter-destination=stdout',
  );
}

const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', ...nodeArgs, ...files.map((f) => relative(root, f))],
  { cwd: root, stdio: 'inherit' },
);
child.on('exit', (code, signal) => {
  if (signal) {
    console.error(`run-tests: test runner killed by ${signal}`);
    process.exit(1);
  }
  process.exit(code ?? 1);
});
