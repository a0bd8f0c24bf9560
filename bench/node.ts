// The node against the real etcd (Debian etcd-server), one member each, on loopback, same load, same run.
// Prints put ops/s and p99 at 1, 64 and 256 concurrent clients (256-byte values over 10k keys),
// serializable and linearizable range ops/s, and RSS after 100k keys; then kvctl/etcd ratios.
//   node --import tsx bench/node.ts [--quick]
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { credentials } from '@grpc/grpc-js';

import { KVClient, PutRequest, RangeRequest } from '../src/proto/gen/etcdserverpb/rpc.js';
import { freePort } from '../test/support/ports.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const quick = process.argv.includes('--quick');
const SECONDS = quick ? 2 : 5;
const KEYS = 10_000;
const VALUE = Buffer.alloc(256, 'v');
const CONNS = 8;

interface Target {
  name: string;
  proc: ChildProcess;
  endpoint: string;
  dir: string;
}

async function start(kind: 'etcd' | 'kvctl'): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), `bench-${kind}-`));
  const cp = await freePort();
  const pp = await freePort();
  const c = `http://127.0.0.1:${cp}`;
  const p = `http://127.0.0.1:${pp}`;
  const flags = ['--name', 'b', '--data-dir', join(dir, 'data'), '--listen-client-urls', c, '--advertise-client-urls', c,
    '--listen-peer-urls', p, '--initial-advertise-peer-urls', p, '--initial-cluster', `b=${p}`];
  const proc =
    kind === 'etcd'
      ? spawn('etcd', flags, { stdio: 'ignore' })
      : spawn(process.execPath, [join(root, 'bin/run.js'), 'node', ...flags, '--log-level', 'warn'], { stdio: 'ignore' });
  const t: Target = { name: kind, proc, endpoint: `127.0.0.1:${cp}`, dir };
  const client = new KVClient(t.endpoint, credentials.createInsecure());
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((r) => client.put(PutRequest.fromPartial({ key: Buffer.from('warm'), value: VALUE }), (e) => r(!e)));
    if (ok) break;
    await sleep(100);
  }
  client.close();
  return t;
}

function stop(t: Target): void {
  t.proc.kill('SIGKILL');
  rmSync(t.dir, { recursive: true, force: true });
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

type Op = (client: KVClient, i: number) => Promise<void>;

/** Runs `concurrency` loops of `op` for SECONDS over CONNS connections; ops/s and p99 latency (ms). */
async function load(t: Target, concurrency: number, op: Op, seconds = SECONDS): Promise<{ ops: number; p99: number }> {
  const clients = Array.from({ length: Math.min(CONNS, concurrency) }, (_, i) =>
    new KVClient(t.endpoint, credentials.createInsecure(), { 'kvctl.bench.conn': i }),
  );
  const lat: number[] = [];
  const end = performance.now() + seconds * 1000;
  let n = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      const c = clients[w % clients.length] as KVClient;
      while (performance.now() < end) {
        const t0 = performance.now();
        await op(c, n++);
        lat.push(performance.now() - t0);
      }
    }),
  );
  for (const c of clients) c.close();
  lat.sort((a, b) => a - b);
  return { ops: lat.length / seconds, p99: lat[Math.floor(lat.length * 0.99)] ?? NaN };
}

const put: Op = (c, i) =>
  new Promise((resolve, reject) =>
    c.put(PutRequest.fromPartial({ key: Buffer.from(`key${(i * 7919) % KEYS}`), value: VALUE }), (e) => (e ? reject(e) : resolve())),
  );
const get = (serializable: boolean): Op => (c, i) =>
  new Promise((resolve, reject) =>
    c.range(RangeRequest.fromPartial({ key: Buffer.from(`key${(i * 7919) % KEYS}`), serializable }), (e) => (e ? reject(e) : resolve())),
  );

interface Result {
  [metric: string]: number;
}

async function measure(kind: 'etcd' | 'kvctl'): Promise<Result> {
  const t = await start(kind);
  const r: Result = {};
  try {
    for (const c of [1, 64, 256]) {
      const x = await load(t, c, put);
      r[`put ops/s @${c}`] = x.ops;
      r[`put p99 ms @${c}`] = x.p99;
    }
    r['range serializable ops/s @64'] = (await load(t, 64, get(true))).ops;
    r['range linearizable ops/s @64'] = (await load(t, 64, get(false))).ops;
    // 100k distinct keys of 256 B, then RSS.
    const c = new KVClient(t.endpoint, credentials.createInsecure());
    let next = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < 100_000) {
          const i = next++;
          await new Promise<void>((resolve, reject) =>
            c.put(PutRequest.fromPartial({ key: Buffer.from(`rss/${i}`), value: VALUE }), (e) => (e ? reject(e) : resolve())),
          );
        }
      }),
    );
    c.close();
    r['RSS MiB after 100k keys'] = rssMiB(t.proc.pid ?? 0);
  } finally {
    stop(t);
  }
  return r;
}

if (spawnSync('etcd', ['--version']).status !== 0) {
  console.error('bench/node: the real etcd is not installed (apt-get install etcd-server); nothing to compare with');
  process.exit(1);
}
console.log(`node vs etcd, one member each, ${SECONDS}s per point, ${CONNS} connections, 256 B values over ${KEYS} keys`);
const etcd = await measure('etcd');
const kv = await measure('kvctl');
const rows = Object.keys(etcd).map((k) => {
  const a = kv[k] ?? NaN;
  const b = etcd[k] ?? NaN;
  return { metric: k, etcd: b.toFixed(k.includes('ms') ? 2 : 0), kvctl: a.toFixed(k.includes('ms') ? 2 : 0), 'kvctl/etcd': (a / b).toFixed(2) };
});
console.table(rows);
