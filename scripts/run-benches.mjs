#!/usr/bin/env node
// Runs every bench/*.ts in turn (sorted) with tsx; stops at the first one that fails.
// Arguments are passed to each bench, e.g. `npm run bench -- --quick`.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const dir = join(root, 'bench');
const benches = existsSync(dir) ? readdirSync(dir).filter((name) => name.endsWith('.ts')).sort() : [];
if (benches.length === 0) {
  console.error('run-benches: no bench/*.ts files');
  process.exit(1);
}

for (const name of benches) {
  console.log(`== bench/${name}`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', join('bench', name), ...process.argv.slice(2)], {
    cwd: root,
    stdio: 'inherit',
  });
  if (result.status !== 0) {
    console.error(`run-benches: bench/${name} failed (${result.signal ?? `exit ${result.status}`})`);
    process.exit(result.status || 1);
  }
}
