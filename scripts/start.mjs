#!/usr/bin/env node
// `npm start`: the README's main job, with embedded defaults. It runs
//   kvctl cluster bootstrap --static --local 3
// (three kvctl agents on 127.0.0.1, 127.0.0.2 and 127.0.0.3, each running one member with etcd's ports 2379/2380,
// TLS from a CA kvctl makes, a saved context in ~/.kvctl or $KVCTL_HOME), then shows the cluster the way an
// operator would look at it: a write through one member read from another, `kvctl member list -w table`,
// `kvctl endpoint status -w table` and `kvctl cluster status`. The cluster keeps running in the background;
// `kvctl cluster down` stops it (`--purge` deletes it). `--once` stops it after the demo. A second run finds
// the same cluster and starts whatever is not running.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const kvctlBin = join(root, 'bin', 'run.js');
const once = process.argv.includes('--once');

/** Runs one kvctl command in the foreground, printing it first; stops the demo if it fails. */
function kvctl(...args) {
  process.stdout.write(`\n$ kvctl ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, [kvctlBin, ...args], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`kvctl ${args[0]} ${args[1] ?? ''} failed (exit ${r.status ?? r.signal}); see the messages above.\n`);
    process.exit(r.status ?? 1);
  }
}

kvctl('cluster', 'bootstrap', '--static', '--local', '3');
kvctl('put', 'greeting', 'hello from kvctl', '--endpoints', 'https://127.0.0.1:2379');
kvctl('get', 'greeting', '--endpoints', 'https://127.0.0.3:2379');
kvctl('member', 'list', '-w', 'table');
kvctl('endpoint', 'status', '-w', 'table');
kvctl('cluster', 'status');
if (once) {
  kvctl('cluster', 'down');
} else {
  process.stdout.write('\nThe cluster keeps running in the background. Stop it with: node bin/run.js cluster down (--purge deletes it)\n');
}
