// Watch end to end: the real etcdctl watch (spawned, read as it prints) against `kvctl node`; many watchers on
// one stream through a raw gRPC client; and `kvctl watch` printing byte for byte what etcdctl watch prints,
// against the node and against a real etcd.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { credentials } from '@grpc/grpc-js';

import { EtcdClient, WatchSession } from '../../src/client/index.js';
import { WatchClient, WatchRequest, type WatchResponse } from '../../src/proto/gen/etcdserverpb/rpc.js';
import { type EtcdHandle, startEtcd } from '../support/etcd.js';
import { type KvNode, removeDir, startKvNode } from '../support/kvnode.js';
import { root } from './kvctl.js';

const b = (s: string): Buffer => Buffer.from(s);

/** A spawned watcher: output collected as it comes, waited on with a deadline, killed at the end. */
class Proc {
  private out = '';
  private err = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    child.stdout?.on('data', (d: Buffer) => (this.out += d.toString('utf8')));
    child.stderr?.on('data', (d: Buffer) => (this.err += d.toString('utf8')));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get stdout(): string {
    return this.out;
  }

  get stderr(): string {
    return this.err;
  }

  input(text: string): void {
    this.child.stdin?.write(text);
  }

  endInput(): void {
    this.child.stdin?.end();
  }

  async waitFor(what: string, pred: (out: string) => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.out)) {
      if (Date.now() > deadline) throw new Error(`${this.name}: no ${what} within ${timeoutMs} ms\n--- stdout\n${this.out}\n--- stderr\n${this.err}`);
      await sleep(20);
    }
  }

  async exit(timeoutMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const r = await this.exited;
    clearTimeout(timer);
    return r;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await this.exited;
    clearTimeout(timer);
  }
}

const procs: Proc[] = [];

function etcdctlWatch(ep: string, args: readonly string[]): Proc {
  const child = spawn('etcdctl', ['--endpoints', ep, 'watch', ...args], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['pipe', 'pipe', 'pipe'] });
  const p = new Proc(`etcdctl watch ${args.join(' ')}`, child);
  procs.push(p);
  return p;
}

function kvctlWatch(ep: string, args: readonly string[]): Proc {
  const child = spawn(process.execPath, [join(root, 'bin/run.js'), 'watch', '--endpoints', ep, ...args], {
    cwd: root,
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const p = new Proc(`kvctl watch ${args.join(' ')}`, child);
  procs.push(p);
  return p;
}

async function stopAll(): Promise<void> {
  await Promise.all(procs.splice(0).map((p) => p.stop()));
}

/** A raw Watch stream: every response kept, in order. */
function rawStream(ep: string): { got: WatchResponse[]; send(r: Parameters<typeof WatchRequest.fromPartial>[0]): void; until(what: string, pred: (got: WatchResponse[]) => boolean): Promise<void>; close(): void } {
  const client = new WatchClient(ep, credentials.createInsecure());
  const call = client.watch();
  const got: WatchResponse[] = [];
  call.on('data', (r: WatchResponse) => got.push(r));
  call.on('error', () => {});
  return {
    got,
    send: (r) => call.write(WatchRequest.fromPartial(r)),
    async until(what, pred) {
      const deadline = Date.now() + 10_000;
      while (!pred(got)) {
        if (Date.now() > deadline) throw new Error(`no ${what}: got ${got.length} responses`);
        await sleep(10);
      }
    },
    close() {
      call.cancel();
      client.close();
    },
  };
}

const revOf = (r: { header?: { revision: bigint } | undefined }): number => Number(r.header?.revision ?? 0n);

describe('watch end to end', { timeout: 120_000 }, () => {
  let node: KvNode;
  let ep: string;
  let kv: EtcdClient;
  // The real etcd starts while the node's tests run.
  let etcdStarting: Promise<EtcdHandle> | undefined;

  before(async () => {
    etcdStarting = startEtcd();
    etcdStarting.catch(() => {}); // reported by the test that awaits it
    node = await startKvNode({ name: 'w1', env: { KVCTL_WATCH_PROGRESS_NOTIFY_INTERVAL: '200ms' } });
    ep = node.endpoint;
    kv = EtcdClient.create({ endpoints: ep });
  });
  after(async () => {
    await stopAll();
    await (await etcdStarting?.catch(() => undefined))?.stop();
    kv?.close();
    await node?.stop();
    if (node) removeDir(node.dataDir);
  });

  describe('the real etcdctl watch against kvctl node', () => {
    after(stopAll);

    test('live events, as they happen', async () => {
      const w = etcdctlWatch(ep, ['live']);
      // The watch exists once a ping comes back.
      for (let i = 0; i < 100 && !w.stdout.includes('ping'); i++) {
        await kv.put('live', 'ping');
        await sleep(50);
      }
      await w.waitFor('ping', (o) => o.includes('ping'));
      const before = w.stdout.length;
      await kv.put('live', 'bar');
      await kv.put('other', 'x');
      await kv.put('live', 'baz');
      await kv.deleteRange('live');
      await w.waitFor('the delete', (o) => o.endsWith('DELETE\nlive\n\n'));
      assert.equal(w.stdout.slice(before), 'PUT\nlive\nbar\nPUT\nlive\nbaz\nDELETE\nlive\n\n');
      await w.stop();
    });

    test('--rev replays history; --prefix; --prev-kv', async () => {
      const first = revOf(await kv.put('h/a', '1'));
      await kv.put('h/a', '2');
      await kv.put('hx', 'outside');
      await kv.put('h/b', '3');
      await kv.deleteRange('h/a');
      const hist = etcdctlWatch(ep, ['h/a', '--rev', String(first)]);
      const prefix = etcdctlWatch(ep, ['h/', '--prefix', '--prev-kv', '--rev', String(first)]);
      const want1 = 'PUT\nh/a\n1\nPUT\nh/a\n2\nDELETE\nh/a\n\n';
      const want2 = 'PUT\nh/a\n1\nPUT\nh/a\n1\nh/a\n2\nPUT\nh/b\n3\nDELETE\nh/a\n2\nh/a\n\n';
      await hist.waitFor('history', (o) => o === want1);
      await prefix.waitFor('history with prev', (o) => o === want2);
      await kv.put('h/c', 'live');
      await prefix.waitFor('a live event after the history', (o) => o === `${want2}PUT\nh/c\nlive\n`);
      assert.equal(hist.stdout, want1);
      await stopAll();
    });

    test('a compacted --rev: canceled, exit code 5', async () => {
      await kv.put('c', '1');
      const rev = revOf(await kv.put('c', '2'));
      await kv.compact(rev);
      const w = etcdctlWatch(ep, ['c', '--rev', String(rev - 1)]);
      const { code } = await w.exit();
      assert.equal(code, 5);
      assert.equal(w.stderr, 'watch was canceled (etcdserver: mvcc: required revision has been compacted)\nError: watch is canceled by the server\n');
      const j = etcdctlWatch(ep, ['c', '--rev', String(rev - 1), '-w', 'json']);
      assert.equal((await j.exit()).code, 5);
      const parsed = JSON.parse(j.stdout) as { Header: Record<string, unknown>; CompactRevision: number; Canceled: boolean; Events: unknown[] };
      assert.equal(parsed.CompactRevision, rev);
      assert.equal(parsed.Canceled, true);
      assert.deepEqual(parsed.Events, []);
      assert.equal(parsed.Header.revision, undefined); // etcd sends this response with header revision 0
      assert.ok(typeof parsed.Header.member_id === 'number');
    });
  });

  describe('many watchers on one stream (raw gRPC)', () => {
    test('explicit and assigned ids, ranges, prev_kv, cancel, progress, refusals', async () => {
      const s = rawStream(ep);
      try {
        const base = revOf(await kv.put('m/seed', 'x'));
        for (let i = 0; i < 30; i++) s.send({ createRequest: { key: b(`m/${i}`), watchId: BigInt(100 + i) } });
        for (let i = 0; i < 30; i++) s.send({ createRequest: { key: b('m/'), rangeEnd: b('m0'), prevKv: i % 2 === 0 } });
        s.send({ createRequest: { key: b('m/0'), watchId: 100n } }); // in use
        s.send({ createRequest: { key: b('m/9'), rangeEnd: b('m/1') } }); // empty range
        await s.until('62 created answers', (g) => g.filter((r) => r.created).length === 62);
        const created = s.got.filter((r) => r.created);
        assert.deepEqual(created.slice(0, 30).map((r) => r.watchId), Array.from({ length: 30 }, (_, i) => BigInt(100 + i)));
        assert.deepEqual(created.slice(30, 60).map((r) => r.watchId), Array.from({ length: 30 }, (_, i) => BigInt(i)));
        assert.deepEqual(
          created.slice(60).map((r) => [r.watchId, r.canceled, r.cancelReason]),
          [
            [-1n, true, 'mvcc: duplicate watch ID provided on the WatchStream'],
            [-1n, true, 'mvcc: watcher range is empty'],
          ],
        );
        for (const r of created) {
          assert.equal(revOf(r), base);
          assert.equal(r.header?.memberId, created[0]?.header?.memberId);
          assert.notEqual(r.header?.clusterId, 0n);
          assert.ok((r.header?.raftTerm ?? 0n) > 0n);
        }
        for (let i = 0; i < 30; i++) await kv.put(`m/${i}`, `v${i}`);
        await kv.put('m/0', 'again');
        const events = (id: bigint) => s.got.filter((r) => r.watchId === id && !r.created).flatMap((r) => r.events);
        await s.until('every event', () => events(29n).length === 31 && events(100n).length === 2);
        for (let i = 0; i < 30; i++) {
          const evs = events(BigInt(100 + i));
          assert.deepEqual(evs.map((e) => e.kv?.value.toString()), i === 0 ? ['v0', 'again'] : [`v${i}`]);
        }
        for (let id = 0n; id < 30n; id++) {
          const evs = events(id);
          assert.deepEqual(evs.map((e) => e.kv?.key.toString()), [...Array.from({ length: 30 }, (_, i) => `m/${i}`), 'm/0']);
          assert.deepEqual(evs.map((e) => Number(e.kv?.modRevision)), Array.from({ length: 31 }, (_, i) => base + 1 + i));
          assert.equal(evs.at(-1)?.prevKv?.value.toString(), id % 2n === 0n ? 'v0' : undefined);
        }
        // Each live response carries its event's revision.
        for (const r of s.got.filter((x) => x.events.length > 0)) assert.equal(revOf(r), Number(r.events[0]?.kv?.modRevision));

        s.send({ cancelRequest: { watchId: 100n } });
        s.send({ progressRequest: {} });
        await s.until('the cancel and the progress', (g) => g.some((r) => r.canceled && r.watchId === 100n) && g.some((r) => r.watchId === -1n && !r.created));
        const progress = s.got.find((r) => r.watchId === -1n && !r.created);
        assert.equal(revOf(progress ?? {}), base + 31);
        const n = s.got.length;
        await kv.put('m/0', 'after cancel');
        await s.until('the prefix watchers', (g) => g.length >= n + 30);
        await sleep(100);
        assert.equal(s.got.slice(n).filter((r) => r.watchId === 100n).length, 0);
      } finally {
        s.close();
      }
    });

    test('progress_notify (interval shortened for the test) and fragments', async () => {
      const s = rawStream(ep);
      try {
        s.send({ createRequest: { key: b('pn'), progressNotify: true } });
        await s.until('two progress notifications', (g) => g.filter((r) => !r.created && r.events.length === 0 && r.watchId === 0n).length >= 2);
        const mb = Buffer.alloc(1024 * 1024, 'x');
        const first = revOf(await kv.put('big/1', mb));
        await kv.put('big/2', mb);
        await kv.put('big/3', mb);
        // etcd splits at --max-request-bytes (1.5 MiB by default) + 512 KiB: one 1 MiB event per message here.
        s.send({ createRequest: { key: b('big/'), rangeEnd: b('big0'), startRevision: BigInt(first), fragment: true, watchId: 7n } });
        s.send({ createRequest: { key: b('big/'), rangeEnd: b('big0'), startRevision: BigInt(first), watchId: 8n } });
        await s.until('the fragments', (g) => g.filter((r) => r.watchId === 7n && !r.created).length === 3);
        const frags = s.got.filter((r) => r.watchId === 7n && !r.created);
        assert.deepEqual(frags.map((r) => [r.fragment, r.events.length]), [
          [true, 1],
          [true, 1],
          [false, 1],
        ]);
        // Without fragments, a catch-up response stops at a revision boundary past --max-request-bytes (1.5 MiB).
        await s.until('the rest', (g) => g.filter((r) => r.watchId === 8n).flatMap((r) => r.events).length === 3);
        const whole = s.got.filter((r) => r.watchId === 8n && !r.created);
        assert.deepEqual(whole.map((r) => [r.fragment, r.events.length]), [
          [false, 2],
          [false, 1],
        ]);
        // kvctl's client puts fragments back together.
        const client = EtcdClient.create({ endpoints: ep });
        const session = await WatchSession.open(client);
        try {
          const w = session.watch('big/', { prefix: true, startRevision: first, fragment: true });
          const it = w[Symbol.asyncIterator]();
          const r = await it.next();
          assert.equal(r.done, false);
          assert.deepEqual(r.value?.events.map((e) => e.kv?.key.toString()), ['big/1', 'big/2', 'big/3']);
        } finally {
          session.close();
          client.close();
        }
      } finally {
        s.close();
      }
    });
  });

  /**
   * etcdctl and kvctl watch the same backend from the same revision; history is written first so both get
   * it in one response, then one live event; their stdout must be the same bytes.
   */
  async function sameAsEtcdctl(target: string, label: string): Promise<void> {
    const c = EtcdClient.create({ endpoints: target });
    try {
      const p = `cmp-${label}/`;
      const start = revOf(await c.put(`${p}a`, '1'));
      await c.put(`${p}a`, '2');
      await c.put(`${p}b`, 'two words');
      await c.put(`${p}c`, Buffer.from([0xff, 0x00, 0x41]));
      await c.deleteRange(`${p}a`);
      await c.put(`${p}end`, 'history');
      const cases: Array<{ args: string[]; history: string; live: string }> = [
        { args: [p, '--prefix', '--prev-kv'], history: 'history\n', live: 'live\n' },
        { args: [p, '--prefix', '-w', 'json'], history: Buffer.from('history').toString('base64'), live: Buffer.from('live').toString('base64') },
        { args: [`${p}b`, `${p}z`, '-w', 'fields'], history: '"history"', live: '"live"' },
        { args: [`${p}c`, '--hex'], history: '\\xff\\x00\\x41', live: '\\x6c' },
      ];
      const runs = cases.map((k) => {
        const args = [...k.args, '--rev', String(start)];
        return { k, ours: kvctlWatch(target, args), theirs: etcdctlWatch(target, args) };
      });
      // Interactive mode on the side: a watch line, a bad line, later a progress request, then end of input.
      const interactive = [kvctlWatch(target, ['-i', '-w', 'json']), etcdctlWatch(target, ['-i', '-w', 'json'])];
      for (const x of interactive) x.input(`watch --prefix ${p}c --rev ${start}\nbogus\n`);
      for (const r of runs) {
        await r.theirs.waitFor('history', (o) => o.includes(r.k.history));
        await r.ours.waitFor('history', (o) => o.includes(r.k.history));
      }
      for (const x of interactive) await x.waitFor('history', (o) => o.includes(Buffer.from([0xff, 0x00, 0x41]).toString('base64')));
      // c first: every watch sees it, and the ones that see `end` too print it before, so waiting for each
      // case's marker waits for all its live events.
      await c.put(`${p}c`, 'l');
      await c.put(`${p}end`, 'live');
      for (const r of runs) {
        await r.theirs.waitFor('the live event', (o) => o.includes(r.k.live));
        await r.ours.waitFor('the live event', (o) => o.includes(r.k.live));
      }
      for (const x of interactive) await x.waitFor('the live event', (o) => o.includes(Buffer.from('l').toString('base64')));
      for (const x of interactive) x.input('progress\n');
      for (const x of interactive) await x.waitFor('progress', (o) => o.includes('progress notify'));
      for (const x of interactive) x.endInput();
      const [io, ti] = interactive as [Proc, Proc];
      const [oi, tt] = await Promise.all([io.exit(), ti.exit()]);
      assert.deepEqual([oi.code, io.stdout, io.stderr], [tt.code, ti.stdout, ti.stderr], `${label}: interactive`);
      assert.equal(oi.code, 3);
      await sleep(100);
      for (const r of runs) assert.equal(r.ours.stdout, r.theirs.stdout, `${label}: watch ${r.k.args.join(' ')}`);

      // A compacted start revision.
      const now = revOf(await c.put(`${p}z`, 'z'));
      await c.compact(now);
      const ours = kvctlWatch(target, [`${p}a`, '--rev', String(start)]);
      const theirs = etcdctlWatch(target, [`${p}a`, '--rev', String(start)]);
      const [o, t] = await Promise.all([ours.exit(), theirs.exit()]);
      assert.deepEqual([o.code, ours.stdout, ours.stderr], [t.code, theirs.stdout, theirs.stderr]);
      assert.equal(o.code, 5);
    } finally {
      c.close();
      await stopAll();
    }
  }

  describe('kvctl watch prints what etcdctl watch prints', () => {
    after(stopAll);

    test('against kvctl node', async () => {
      await sameAsEtcdctl(ep, 'node');
    });

    test('against a real etcd', async () => {
      const etcd = await (etcdStarting as Promise<EtcdHandle>);
      await sameAsEtcdctl(etcd.endpoint, 'etcd');
    });

    test('usage errors, as etcdctl', async () => {
      for (const args of [[], ['a', 'b', '--prefix']]) {
        const ours = kvctlWatch(ep, args);
        const theirs = etcdctlWatch(ep, args);
        const [o, t] = await Promise.all([ours.exit(), theirs.exit()]);
        assert.deepEqual([o.code, ours.stderr], [t.code, theirs.stderr], `watch ${args.join(' ')}`);
      }
    });
  });

  describe('kvctl\'s client resumes after the member restarts', () => {
    test('no event missed or repeated across the restart', async () => {
      const client = EtcdClient.create({ endpoints: ep });
      const session = await WatchSession.open(client);
      try {
        const w = session.watch('rs', { prefix: true });
        const quiet = session.watch('rq');
        const it = w[Symbol.asyncIterator]();
        const qit = quiet[Symbol.asyncIterator]();
        const values = async (i: AsyncIterator<WatchResponse>): Promise<string[]> => {
          const r = await i.next();
          assert.equal(r.done, false);
          return (r.value as WatchResponse).events.map((e) => e.kv?.value.toString() ?? '');
        };
        // Both created before the first put (a watch "from now" would miss it otherwise).
        for (let i = 0; i < 100 && (w.id === undefined || quiet.id === undefined); i++) await sleep(50);
        assert.ok(w.id !== undefined && quiet.id !== undefined, 'both watches created within 5 s');
        await kv.put('rs/1', 'before');
        assert.deepEqual(await values(it), ['before']);
        await node.stop();
        node = await startKvNode({ name: 'w1', dataDir: node.dataDir, clientPort: node.clientPort, env: { KVCTL_WATCH_PROGRESS_NOTIFY_INTERVAL: '200ms' } });
        await kv.put('rq', 'after');
        await kv.put('rs/2', 'after');
        assert.deepEqual(await values(it), ['after']);
        assert.deepEqual(await values(qit), ['after']);
      } finally {
        session.close();
        client.close();
      }
    });
  });
});
