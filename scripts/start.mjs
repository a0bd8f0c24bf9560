#!/usr/bin/env node
// `npm start`: the README's main job. Starts a kvctl node with etcd's defaults (client URL
// http://127.0.0.1:2379, data in ./default.etcd), shows a put and a get through kvctl's own etcdctl-like
// commands, then keeps the node in the foreground until Ctrl-C. `--once` stops it after the demo.
import { spawn, spawnSync } from 'node:child_process';
import { setTimeout } from 'node:timers';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const kvctl = join(root, 'bin', 'run.js');
const once = process.argv.includes('--once');

const node = spawn(process.execPath, [kvctl, 'node'], { cwd: root, stdio: ['ignore', 'inherit', 'pipe'] });
let log = '';
node.stderr.on('data', (d) => {
  log += d.toString();
  process.stderr.write(d);
});
const exited = new Promise((resolve) => node.once('exit', (code) => resolve(code)));
const stop = async () => {
  node.kill('SIGTERM');
  return exited;
};
process.on('SIGINT', () => void stop().then((code) => process.exit(code ?? 0)));

const deadline = Date.now() + 20_000;
while (!log.includes('ready to serve client requests')) {
  if (node.exitCode !== null) {
    console.error('\nkvctl node exited before it was ready (is something else using 127.0.0.1:2379?)');
    process.exit(1);
  }
  if (Date.now() > deadline) {
    console.error('\nkvctl node did not become ready in 20 s');
    await stop();
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 50));
}

const run = (args) => {
  console.log(`\n$ kvctl ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [kvctl, ...args], { cwd: root, stdio: 'inherit' });
  return r.status ?? 1;
};
let failed = 0;
failed |= run(['put', 'greeting', 'hello from kvctl']);
failed |= run(['get', 'greeting']);
failed |= run(['endpoint', 'status', '-w', 'table']);

if (once || failed) {
  await stop();
  process.exit(failed ? 1 : 0);
}
console.log('\nThe node keeps serving on 127.0.0.1:2379 (etcdctl works against it too). Ctrl-C stops it.');
await exited;
