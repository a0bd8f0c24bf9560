// End-to-end: the built kvctl (bin/run.js over dist/; `npm run build` first) and the real etcdctl 3.4 run the same
// operations against a real etcd, and must print the same bytes and exit with the same codes. Writes move the
// revision, so their outputs are compared with revision numbers masked; reads are compared exactly.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { type EtcdHandle, type ProcessResult, etcdctl, runProcess, startEtcd } from '../support/etcd.js';
import { withoutClientLogs } from '../support/etcdctl.js';
import { freePort } from '../support/ports.js';
import { root } from './kvctl.js';

type Run = ProcessResult & { out: string };

/** The checkout whose build is run; KVCTL_E2E_ROOT points at another build (e.g. one made apart from a busy dist/). */
const cliRoot = process.env.KVCTL_E2E_ROOT ?? root;

/**
 * Runs the built kvctl; stdout is kept as bytes (`stdout`) and as text (`out`). Flags given before the command
 * (`--endpoints=... get k`, as etcdctl allows) are moved after the command's words, where oclif expects them.
 */
async function kvctl(args: readonly string[], input?: string | Buffer): Promise<Run> {
  const leading = args.filter((a, i) => i < args.findIndex((x) => !x.startsWith('-')));
  const rest = args.slice(leading.length);
  const words = rest[0] === 'endpoint' ? 2 : 1;
  const argv = [...rest.slice(0, words), ...leading, ...rest.slice(words)];
  const r = await runProcess(process.execPath, [join(cliRoot, 'bin/run.js'), ...argv], {
    cwd: cliRoot,
    input,
    timeoutMs: 30_000,
    env: { NO_COLOR: '1', NODE_ENV: 'production', ETCDCTL_ENDPOINTS: '', ETCDCTL_WRITE_OUT: '' },
  });
  return { ...r, out: r.stdout.toString('utf8') };
}

async function ctl(args: readonly string[], input?: string | Buffer): Promise<Run> {
  const r = await etcdctl(args, { input });
  return { ...r, out: r.stdout.toString('utf8') };
}

const ctlErr = (r: Run): string => withoutClientLogs(r.stderr);

/** Masks the numbers that depend on when a write happened: revisions, and durations. */
function mask(text: string): string {
  return text
    .replace(/"(revision|create_revision|mod_revision)":\d+/g, '"$1":N')
    .replace(/"((?:Prev)?(?:Revision|CreateRevision|ModRevision))" : \d+/g, '"$1" : N')
    .replace(/took = \S+/g, 'took = D')
    .replace(/"took":"[^"]*"/g, '"took":"D"')
    .replace(/"Took" : \S+/g, '"Took" : D');
}

function oneLineErr(r: Run): string {
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${r.stderr}`);
  return lines[0] ?? '';
}

describe('kvctl key-value and endpoint commands against a real etcd, compared with etcdctl', () => {
  let etcd: EtcdHandle;
  let ep: string;

  before(async () => {
    assert.ok(existsSync(join(cliRoot, 'dist/commands/get.js')), 'dist/ is missing or stale: run `npm run build`');
    etcd = await startEtcd({ name: 'e2e-kv' });
    ep = `--endpoints=${etcd.endpoint}`;
  });

  after(async () => {
    await etcd?.stop();
  });

  /** Runs the same arguments through both tools (after `setup`, when given) and compares outputs and exit codes. */
  async function both(args: readonly string[], opts: { input?: string; setup?: () => Promise<void>; masked?: boolean } = {}): Promise<[Run, Run]> {
    await opts.setup?.();
    const theirs = await ctl([ep, ...args], opts.input);
    await opts.setup?.();
    const ours = await kvctl([ep, ...args], opts.input);
    const show = (s: string): string => (opts.masked ? mask(s) : s);
    assert.equal(ours.code, theirs.code, `exit code of ${args.join(' ')}: ours ${ours.code} (${ours.stderr}), etcdctl ${theirs.code} (${theirs.stderr})`);
    if (opts.masked) assert.equal(show(ours.out), show(theirs.out), args.join(' '));
    else assert.ok(ours.stdout.equals(theirs.stdout), `${args.join(' ')}\nours:\n${ours.out}\netcdctl:\n${theirs.out}`);
    return [ours, theirs];
  }

  async function reset(prefix: string, pairs: [string, string][]): Promise<void> {
    await ctl([ep, 'del', prefix, '--prefix']);
    for (const [k, v] of pairs) await ctl([ep, 'put', k, v]);
  }

  it('put: OK, --prev-kv in every format, value from stdin', async () => {
    const setup = () => reset('p/', [['p/k', 'old']]);
    await both(['put', 'p/k', 'new'], { setup });
    for (const w of ['simple', 'json', 'fields']) await both(['put', 'p/k', 'new', '--prev-kv', `-w=${w}`], { setup, masked: true });
    await both(['put', 'p/k', '--ignore-value', '--prev-kv', '-w=json'], { setup, masked: true });
    const [ours] = await both(['put', 'p/stdin'], { input: 'line1\nline2\n' });
    assert.equal(ours.out, 'OK\n');
    const stored = await ctl([ep, 'get', 'p/stdin', '--print-value-only']);
    assert.equal(stored.out, 'line1\nline2\n\n', 'the value keeps its trailing newline');
    await both(['put', '--', 'p/dash', '-v']);
    assert.equal((await ctl([ep, 'get', 'p/dash', '--print-value-only'])).out, '-v\n');
  });

  it('get: reads are byte-identical in simple, json and fields, with --hex and the range flags', async () => {
    await reset('g/', [
      ['g/a', 'alpha'],
      ['g/b', 'x"y\\z'],
      ['g/c', 'ünïcödé 日本'],
      ['g/d', 'multi\nline'],
    ]);
    const queries = [
      ['get', 'g/a'],
      ['get', 'g/', '--prefix'],
      ['get', 'g/b', 'g/d'],
      ['get', 'g/b', '--from-key', '--limit=2'],
      ['get', 'g/', '--prefix', '--keys-only'],
      ['get', 'g/', '--prefix', '--sort-by=MODIFY', '--order=descend'],
      ['get', 'g/', '--prefix', '--consistency=s', '--limit=1'],
      ['get', 'missing'],
    ];
    for (const q of queries) {
      for (const w of ['simple', 'json', 'fields']) await both([...q, `-w=${w}`]);
      await both([...q, '--hex']);
    }
    await both(['get', 'g/', '--prefix', '--print-value-only']);
  });

  it('--json prints what -w json prints', async () => {
    const viaFlag = await kvctl([ep, 'get', 'g/', '--prefix', '--json']);
    const viaW = await kvctl([ep, 'get', 'g/', '--prefix', '-w', 'json']);
    assert.equal(viaFlag.code, 0, viaFlag.stderr);
    assert.equal(viaFlag.out, viaW.out);
    assert.match(viaFlag.out, /^\{"header":\{"cluster_id":\d{5,}/);
  });

  it('del: counts and previous pairs in every format', async () => {
    const setup = () => reset('d/', [['d/1', 'one'], ['d/2', 'two'], ['d/3', 'three']]);
    for (const w of ['simple', 'json', 'fields']) {
      await both(['del', 'd/', '--prefix', '--prev-kv', `-w=${w}`], { setup, masked: true });
      await both(['del', 'd/1', 'd/3', `-w=${w}`], { setup, masked: true });
    }
    // --from-key reaches the end of the keyspace: use keys that sort after every other test's.
    const last = () => reset('~d/', [['~d/1', 'one'], ['~d/2', 'two'], ['~d/3', 'three']]);
    await both(['del', '~d/2', '--from-key'], { setup: last });
    await both(['del', 'nothing-here']);
  });

  it('txn: compares, both branches, every format, interactive prompts', async () => {
    const setup = () => reset('t/', [['t/k', 'v1'], ['t/other', 'o']]);
    const ok = 'value("t/k") = "v1"\nmod("t/k") > "0"\n\nput t/k v2 --prev-kv\nget t/ --prefix\ndel t/other\n\nput t/k failed\n\n';
    const fail = 'version("t/k") > "5"\n\nput t/k never\n\nget t/k\nput "t/quoted" "a b"\n\n';
    for (const w of ['simple', 'json', 'fields']) {
      await both(['txn', `-w=${w}`], { input: ok, setup, masked: true });
      await both(['txn', `-w=${w}`], { input: fail, setup, masked: true });
    }
    await both(['txn', '-i'], { input: fail, setup, masked: true });
    assert.equal((await ctl([ep, 'get', 't/quoted', '--print-value-only'])).out, 'a b\n');
  });

  it('txn: malformed input fails like etcdctl (exit 3, same message)', async () => {
    for (const input of ['foo("a") = "b"\n\n\n\n', 'mod(a) = "b"\n\n\n\n', 'mod("a") = "b"\n\n\n\n', '\nbogus k\n\n\n', '\nget\n\n\n']) {
      const [ours, theirs] = await both(['txn'], { input });
      assert.equal(ours.code, 3);
      assert.equal(oneLineErr(ours), ctlErr(theirs).trim(), input);
    }
  });

  it('compaction: prints the revision; compacted and future revisions fail like etcdctl', async () => {
    const rev = async (): Promise<number> => Number(/"revision":(\d+)/.exec((await ctl([ep, 'get', 'x', '-w=json'])).out)?.[1]);
    await ctl([ep, 'put', 'c/k', '1']);
    const r1 = await rev();
    await ctl([ep, 'put', 'c/k', '2']);
    const r2 = await rev();
    const ours = await kvctl([ep, 'compaction', String(r1), '--physical']);
    assert.deepEqual([ours.code, ours.out], [0, `compacted revision ${r1}\n`]);
    const theirs = await ctl([ep, 'compaction', String(r2)]);
    assert.deepEqual([theirs.code, theirs.out], [0, `compacted revision ${r2}\n`]);
    for (const args of [['compaction', String(r1)], ['get', 'c/k', `--rev=${r1}`], ['compaction', '999999'], ['compaction', 'abc']]) {
      const [o, t] = await both(args);
      assert.equal(o.code, 1);
      assert.equal(oneLineErr(o), ctlErr(t).trim(), args.join(' '));
    }
    assert.equal(oneLineErr(await kvctl([ep, 'get', 'c/k', `--rev=${r1}`])), 'Error: etcdserver: mvcc: required revision has been compacted');
  });

  it('endpoint status: identical in every format, with --cluster and with a URL endpoint', async () => {
    for (const w of ['simple', 'json', 'fields', 'table']) {
      await both(['endpoint', 'status', `-w=${w}`]);
      await both(['endpoint', 'status', '--cluster', `-w=${w}`]);
    }
    const ours = await kvctl([`--endpoints=${etcd.clientUrl}`, 'endpoint', 'status', '-w', 'table']);
    const theirs = await ctl([`--endpoints=${etcd.clientUrl}`, 'endpoint', 'status', '-w', 'table']);
    assert.equal(ours.out, theirs.out);
    assert.equal((await kvctl([ep, 'endpoint', 'status', '--json'])).out, (await kvctl([ep, 'endpoint', 'status', '-w=json'])).out);
  });

  it('endpoint health: same lines (durations aside), simple on stderr like etcdctl', async () => {
    for (const w of ['simple', 'json', 'fields']) {
      const [ours, theirs] = await both(['endpoint', 'health', `-w=${w}`], { masked: true });
      assert.equal(mask(ours.stderr), mask(ctlErr(theirs)));
    }
    const [ours] = await both(['endpoint', 'health', '--cluster'], { masked: true });
    assert.match(ours.stderr, new RegExp(`^${etcd.clientUrl} is healthy: successfully committed proposal: took = \\S+\\n$`));
  });

  it('endpoint health/status with an unreachable endpoint: exit 1, the endpoint named, the others still reported', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const eps = `--endpoints=${etcd.endpoint},${dead}`;
    const health = await kvctl([eps, 'endpoint', 'health']);
    assert.equal(health.code, 1);
    assert.match(health.stderr, new RegExp(`^${etcd.endpoint} is healthy: .*\\n${dead} is unhealthy: failed to commit proposal: failed to connect to ${dead}: connection refused\\nError: unhealthy cluster\\n$`));
    const theirs = await ctl([eps, 'endpoint', 'health', '--command-timeout=500ms']);
    assert.equal(theirs.code, health.code);
    assert.match(ctlErr(theirs), /Error: unhealthy cluster\n$/);

    const status = await kvctl([eps, 'endpoint', 'status', '-w', 'table']);
    assert.equal(status.code, 1);
    assert.equal(status.stderr, `Failed to get the status of endpoint ${dead} (failed to connect to ${dead}: connection refused)\n`);
    const theirStatus = await ctl([eps, 'endpoint', 'status', '-w', 'table', '--command-timeout=500ms']);
    assert.equal(status.out, theirStatus.out, 'the reachable endpoint is still in the table');
    assert.equal(theirStatus.code, 1);

    const healthJson = await kvctl([eps, 'endpoint', 'health', '--json']);
    assert.equal(healthJson.code, 1);
    const parsed = JSON.parse(healthJson.out) as { endpoint: string; health: boolean; error?: string }[];
    assert.deepEqual(parsed.map((h) => [h.endpoint, h.health]), [[etcd.endpoint, true], [dead, false]]);
  });

  it('an unreachable endpoint: one clear line naming it, exit 2, fast; --json gives the error shape', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    await ctl([ep, 'put', 'u/k', 'alpha']);
    const start = Date.now();
    const r = await kvctl([`--endpoints=${dead}`, 'get', 'k']);
    assert.equal(r.code, 2);
    assert.equal(oneLineErr(r), `Error: failed to connect to ${dead}: connection refused`);
    assert.equal(r.out, '');
    assert.ok(Date.now() - start < 10_000);
    const j = await kvctl([`--endpoints=${dead}`, 'put', 'k', 'v', '--json']);
    assert.equal(j.code, 2);
    assert.deepEqual(JSON.parse(j.out), { error: { name: 'ClientError', message: `failed to connect to ${dead}: connection refused`, code: 'ENDPOINTS_UNREACHABLE' } });
    const failover = await kvctl([`--endpoints=${dead},${etcd.endpoint}`, 'get', 'u/k', '--print-value-only']);
    assert.deepEqual([failover.code, failover.out], [0, 'alpha\n']);
    const env = await runProcess(process.execPath, [join(cliRoot, 'bin/run.js'), 'get', 'u/k', '--print-value-only'], {
      cwd: cliRoot,
      env: { ETCDCTL_ENDPOINTS: etcd.endpoint },
    });
    assert.equal(env.stdout.toString(), 'alpha\n', 'ETCDCTL_ENDPOINTS is read');
  });

  it('usage errors: etcdctl messages and exit codes', async () => {
    const cases: [string[], number][] = [
      [['get'], 128],
      [['put'], 128],
      [['del', 'a', 'b', 'c'], 128],
      [['get', 'a', '--prefix', '--from-key'], 128],
      [['get', 'a', 'b', '--prefix'], 128],
      [['get', 'a', '--order=BAD'], 4],
      [['get', 'a', '--sort-by=BAD'], 4],
      [['get', 'a', '--consistency=x'], 4],
      [['get', 'a', '-w=table'], 4],
      [['get', 'a', '--print-value-only', '-w=json'], 128],
      [['put', 'a', 'b', '--lease=zz'], 128],
      [['put', 'a', 'b', '--ignore-value'], 128],
      [['compaction'], 128],
    ];
    for (const [args, code] of cases) {
      const ours = await kvctl([ep, ...args]);
      const theirs = await ctl([ep, ...args]);
      assert.equal(ours.code, code, `${args.join(' ')}: ${ours.stderr}`);
      assert.equal(theirs.code, code, `etcdctl ${args.join(' ')}`);
      assert.equal(oneLineErr(ours), ctlErr(theirs).trim(), args.join(' '));
    }
  });

  it('bad flag values: one line naming the flag, exit 2', async () => {
    for (const [args, pattern] of [
      [['get', 'a', '--limit=abc'], /--limit.*strconv\.ParseInt: parsing "abc": invalid syntax/],
      [['get', 'a', '-w', 'protobuf'], /write-out/],
      [['get', 'a', '--dial-timeout=abc'], /time: invalid duration "abc"/],
      [['get', 'a', '--no-such-flag'], /no-such-flag/],
    ] as const) {
      const r = await kvctl([ep, ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(oneLineErr(r), pattern);
    }
  });
});
