#!/usr/bin/env node
// Runs every bench/*.ts in turn (sorted) with tsx; stops at the first one that fails.
// Arguments are passed to each bench, e.g. `npm run bench -- --quick`; `--only=cluster,node` runs just those
// (by file name without .ts). bench/node.ts and bench/cluster.ts run kvctl from dist/: `npm run build` first.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const dir = join(root, 'bench');
const onlyArg = process.argv.slice(2).find((a) => a.startsWith('--only='));
const only = onlyArg === undefined ? undefined : onlyArg.slice('--only='.length).split(',').filter((n) => n !== '');
const args = process.argv.slice(2).filter((a) => a !== onlyArg);
const all = existsSync(dir) ? readdirSync(dir).filter((name) => name.endsWith('.ts')).sort() : [];
const benches = only === undefined ? all : all.filter((name) => only.includes(name.slice(0, -'.ts'.length)));
if (only !== undefined) {
  const unknown = only.filter((n) => !all.includes(`${n}.ts`));
  if (unknown.length > 0) {
    console.error(`run-benches: no bench/${unknown.join('.ts, bench/')}.ts (have ${all.join(', ')})`);
    process.exit(1);
  }
}
if (benches.length === 0) {
  console.error('run-benches: no bench/*.ts files');
  process.exit(1);
}

for (const name of benches) {
  console.log(`== bench/${name}`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', join('bench', name), ...args], {
    cwd: root,
    stdio: 'inherit',
  });
  if (result.status !== 0) {
    console.error(`run-benches: bench/${name} failed (${result.signal ?? `exit ${result.status}`})`);
    process.exit(result.status || 1);
  }
}
