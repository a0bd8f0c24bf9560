#!/usr/bin/env node
// `npm start`: the README's main job. Starts a local three-member kvctl cluster with embedded defaults:
// members m1, m2, m3, each on its own loopback address with etcd's default ports (client 2379, peer
// 2380 on 127.0.0.1, 127.0.0.2 and 127.0.0.3), data in ./m1.etcd, ./m2.etcd, ./m3.etcd (a second run
// restarts the same cluster from them). It shows a write through one member read from another, the member
// list and every member's status, then keeps the cluster in the foreground until Ctrl-C. `--once` stops it
// after the demo.
import { spawn, spawnSync } from 'node:child_process';
import { clearTimeout, setTimeout } from 'node:timers';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const kvctl = join(root, 'bin', 'run.js');
const once = process.argv.includes('--once');

const members = ['m1', 'm2', 'm3'].map((name, i) => ({ name, host: `127.0.0.${i + 1}` }));
const peerUrl = (m) => `http://${m.host}:2380`;
const clientUrl = (m) => `http://${m.host}:2379`;
const initialCluster = members.map((m) => `${m.name}=${peerUrl(m)}`).join(',');
const endpoints = members.map((m) => `${m.host}:2379`).join(',');

const procs = members.map((m) => {
  const args = [
    kvctl, 'node',
    '--name', m.name,
    '--data-dir', join(root, `${m.name}.etcd`),
    '--listen-client-urls', clientUrl(m),
    '--advertise-client-urls', clientUrl(m),
    '--listen-peer-urls', peerUrl(m),
    '--initial-advertise-peer-urls', peerUrl(m),
    '--initial-cluster', initialCluster,
    '--initial-cluster-token', 'kvctl-local',
  ];
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'inherit', 'pipe'] });
  const p = { ...m, child, log: '', exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
  child.stderr.on('data', (d) => {
    p.log += d.toString();
    for (const line of d.toString().split('\n')) if (line !== '') process.stderr.write(`[${m.name}] ${line}\n`);
  });
  return p;
});

// SIGTERM each member, SIGKILL whatever has not exited 10 s later; never leave a member holding the ports.
const stopAll = async () => {
  for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGTERM');
  const killer = setTimeout(() => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  }, 10_000);
  await Promise.all(procs.map((p) => p.exited));
  clearTimeout(killer);
};
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => void stopAll().then(() => process.exit(0)));
process.on('exit', () => {
  for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
});

const deadline = Date.now() + 30_000;
while (!procs.every((p) => p.log.includes('ready to serve client requests'))) {
  const dead = procs.find((p) => p.child.exitCode !== null);
  if (dead) {
    console.error(`\n${dead.name} exited before the cluster was ready (is something else using ${dead.host}:2379 or :2380?)`);
    await stopAll();
    process.exit(1);
  }
  if (Date.now() > deadline) {
    console.error('\nthe cluster did not become ready in 30 s');
    await stopAll();
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
failed |= run(['--endpoints', `${members[0].host}:2379`, 'put', 'greeting', 'hello from kvctl']);
failed |= run(['--endpoints', `${members[2].host}:2379`, 'get', 'greeting']);
failed |= run(['--endpoints', endpoints, 'member', 'list', '-w', 'table']);
failed |= run(['--endpoints', endpoints, 'endpoint', 'status', '-w', 'table']);

if (once || failed) {
  await stopAll();
  process.exit(failed ? 1 : 0);
}
console.log(`\nThe cluster keeps serving on ${endpoints} (etcdctl works against it too). Ctrl-C stops it.`);
await Promise.all(procs.map((p) => p.exited));
