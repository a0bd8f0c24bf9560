// DNS SRV discovery end to end, on a real DNS server (dnsmasq) on loopback: kvctl nodes bootstrap from
// `--discovery-srv` (and `--discovery-srv-name`), a member the records do not name refuses to start with
// etcd's message, the CLI finds its endpoints from `_etcd-client` records, and the real etcd 3.4
// bootstraps from the same kind of records (through /etc/resolv.conf, in a mount namespace of its own)
// into the same member ids as kvctl.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { EtcdClient } from '../../src/client/index.js';
import { type Dnsmasq, type SrvRecordSpec, dnsmasqAvailable, startDnsmasq } from '../support/dnsmasq.js';
import { etcdctl } from '../support/etcdctl.js';
import { freePort } from '../support/ports.js';
import { reapDir, reapProcess, releaseDir, releaseProcess } from '../support/reaper.js';
import { waitExit, waitFor } from '../support/wait.js';
import { kvctl, root } from './kvctl.js';

const skipAll = dnsmasqAvailable() ? false : 'dnsmasq is not installed (apt-get install dnsmasq-base)';

/** One planned member: host 127.0.0.<i>, its ports, and its name in DNS. */
type Slot = { name: string; host: string; clientPort: number; peerPort: number; dnsName: string };

async function slots(domain: string, hosts: readonly number[]): Promise<Slot[]> {
  const out: Slot[] = [];
  for (const i of hosts) {
    const host = `127.0.0.${i}`;
    const clientPort = await freePort(host);
    let peerPort = await freePort(host);
    while (peerPort === clientPort) peerPort = await freePort(host);
    out.push({ name: `m${i}`, host, clientPort, peerPort, dnsName: `m${i}.${domain}` });
  }
  return out;
}

/** SRV + A records for the slots: `_etcd-server[-ssl][-name]` on the peer ports, `_etcd-client` on the client ports. */
function records(domain: string, members: readonly Slot[], opts: { ssl?: boolean; serviceName?: string; client?: boolean } = {}): SrvRecordSpec[] {
  const suffix = `${opts.ssl === true ? '-ssl' : ''}${opts.serviceName !== undefined ? `-${opts.serviceName}` : ''}`;
  return [
    ...members.map((m) => ({ name: `_etcd-server${suffix}._tcp.${domain}`, target: m.dnsName, port: m.peerPort })),
    ...(opts.client === true ? members.map((m) => ({ name: `_etcd-client._tcp.${domain}`, target: m.dnsName, port: m.clientPort })) : []),
  ];
}

/** A member process (kvctl node or etcd): waits for its client port to serve, or for its exit. */
type Proc = { slot: Slot; child: ChildProcess; dataDir: string; output: () => string; stop: () => Promise<void> };

function track(slot: Slot, child: ChildProcess, dataDir: string): Proc {
  reapProcess(child);
  reapDir(dataDir);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-65_536)));
  child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-65_536)));
  child.once('exit', () => releaseProcess(child));
  return {
    slot,
    child,
    dataDir,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        if (!(await waitExit(child, 8000))) child.kill('SIGKILL');
        await waitExit(child, 5000);
      }
      releaseProcess(child);
    },
  };
}

function memberFlags(slot: Slot, peerScheme: 'http' | 'https'): string[] {
  const client = `http://${slot.host}:${slot.clientPort}`;
  const peer = `${peerScheme}://${slot.host}:${slot.peerPort}`;
  return [
    '--name', slot.name,
    '--listen-client-urls', client, '--advertise-client-urls', client,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
    '--heartbeat-interval', '100', '--election-timeout', '1000',
  ];
}

function startKvctlMember(slot: Slot, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; dataDir?: string } = {}): Proc {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), `kvctl-srv-${slot.name}-`));
  const child = spawn(process.execPath, [join(root, 'bin/run.js'), 'node', '--data-dir', dataDir, ...args], {
    cwd: root,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return track(slot, child, dataDir);
}

async function serving(p: Proc, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    async () => {
      if (p.child.exitCode !== null || p.child.signalCode !== null) throw new Error(`${p.slot.name} exited (${p.child.exitCode}):\n${p.output()}`);
      try {
        const res = await fetch(`http://${p.slot.host}:${p.slot.clientPort}/health`, { signal: AbortSignal.timeout(1000) });
        return res.ok;
      } catch {
        return false;
      }
    },
    { timeoutMs, intervalMs: 100, what: `${p.slot.name} serving clients` },
  );
}

async function exitOf(p: Proc, timeoutMs = 20_000): Promise<number | null> {
  assert.ok(await waitExit(p.child, timeoutMs), `${p.slot.name} did not exit:\n${p.output()}`);
  return p.child.exitCode;
}

async function cleanup(procs: readonly Proc[]): Promise<void> {
  await Promise.all(procs.map((p) => p.stop()));
  for (const p of procs) {
    rmSync(p.dataDir, { recursive: true, force: true });
    releaseDir(p.dataDir);
  }
}

/** `id name peerURL clientURL` of every member, by name, from etcdctl's simple output (ids in hex). */
async function etcdctlMembers(endpoint: string): Promise<Map<string, { id: string; peerUrls: string; clientUrls: string }>> {
  const run = await etcdctl(endpoint, ['member', 'list']);
  assert.equal(run.code, 0, run.stderr);
  const members = new Map<string, { id: string; peerUrls: string; clientUrls: string }>();
  for (const line of run.stdout.trim().split('\n')) {
    const [id, , name, peerUrls, clientUrls] = line.split(', ');
    members.set(name ?? '', { id: id ?? '', peerUrls: peerUrls ?? '', clientUrls: clientUrls ?? '' });
  }
  return members;
}

async function clusterIdOf(endpoint: string): Promise<string> {
  const run = await etcdctl(endpoint, ['member', 'list', '-w', 'json']);
  assert.equal(run.code, 0, run.stderr);
  // 64-bit ids are JSON numbers: read them as text, not through JSON.parse.
  return BigInt(/"cluster_id":(\d+)/.exec(run.stdout)?.[1] ?? '0').toString(16);
}

describe('kvctl nodes and CLI with DNS SRV discovery (dnsmasq on loopback)', { skip: skipAll }, () => {
  const domain = 'a.kvctl.test';
  let dns: Dnsmasq;
  let members: Slot[];
  let blue: Slot;
  let stray: Slot;
  const procs: Proc[] = [];

  before(async () => {
    members = await slots(domain, [1, 2, 3]);
    [blue] = (await slots(domain, [4])).map((s) => ({ ...s, name: 'n1', dnsName: `n1.${domain}` })) as [Slot];
    [stray] = await slots(domain, [5]) as [Slot];
    dns = await startDnsmasq({
      domain,
      srv: [
        ...records(domain, members, { client: true }),
        // Another cluster under the same domain, told apart by --discovery-srv-name.
        ...records(domain, [blue], { serviceName: 'blue' }),
      ],
      hosts: [...members, blue].map((m) => ({ name: m.dnsName, address: m.host })),
    });
  });
  after(async () => {
    await cleanup(procs);
    await dns?.stop();
  });

  test('(a) three nodes bootstrap from _etcd-server records: names, peer URLs from the targets, one cluster', async () => {
    const token = `srv-${process.pid}`;
    const started = members.map((m) =>
      startKvctlMember(m, [...memberFlags(m, 'http'), '--discovery-srv', domain, '--dns-server', dns.server, '--initial-cluster-token', token]),
    );
    procs.push(...started);
    await Promise.all(started.map((p) => serving(p)));

    // The real etcdctl, by IP: every member knows every other by its DNS name.
    const list = await etcdctlMembers(`${members[0]?.host}:${members[0]?.clientPort}`);
    assert.deepEqual([...list.keys()].sort(), ['m1', 'm2', 'm3']);
    for (const m of members) {
      assert.equal(list.get(m.name)?.peerUrls, `http://${m.dnsName}:${m.peerPort}`);
      assert.equal(list.get(m.name)?.clientUrls, `http://${m.host}:${m.clientPort}`);
    }
    // etcd's log lines: this member by its name, the others numbered until they publish.
    assert.match(started[1]?.output() ?? '', new RegExp(`got bootstrap from DNS for etcd-server at m2=http://m2\\.a\\.kvctl\\.test:${members[1]?.peerPort}`));
    assert.match(started[1]?.output() ?? '', /got bootstrap from DNS for etcd-server at 0=http:\/\//);

    // One cluster: a write through m1 is read through m3.
    const client = EtcdClient.create({ endpoints: members.map((m) => `${m.host}:${m.clientPort}`) });
    try {
      await client.put('srv-key', 'srv-value');
      const got = await etcdctl(`${members[2]?.host}:${members[2]?.clientPort}`, ['get', 'srv-key', '--print-value-only']);
      assert.equal(got.stdout.trim(), 'srv-value');
    } finally {
      client.close();
    }
  });

  test('a restarted member starts from its data, without asking DNS again', async () => {
    const p = procs[2] as Proc;
    await p.stop();
    const again = startKvctlMember(p.slot, [...memberFlags(p.slot, 'http'), '--discovery-srv', domain, '--dns-server', dns.server], { dataDir: p.dataDir });
    procs[2] = again;
    await serving(again);
    assert.doesNotMatch(again.output(), /got bootstrap from DNS/);
  });

  test('(d) client commands find the endpoints from _etcd-client records (--discovery-srv, -d, ETCDCTL_DISCOVERY_SRV)', async () => {
    const list = await kvctl(['member', 'list', '--discovery-srv', domain, '--dns-server', dns.server, '--endpoints', '127.0.0.9:1']);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(
      list.stdout.trim().split('\n').map((l) => l.split(', ')[2]).sort(),
      ['m1', 'm2', 'm3'],
    );
    // etcdctl names the discovered endpoints as it built them: scheme, target with its trailing dot, port.
    const health = await kvctl(['endpoint', 'health', '-d', domain, '--dns-server', dns.server]);
    assert.equal(health.code, 0, health.stderr);
    for (const m of members) assert.match(health.stdout + health.stderr, new RegExp(`http://${m.dnsName.replaceAll('.', '\\.')}\\.:${m.clientPort} is healthy`));
    const viaEnv = await kvctl(['get', 'srv-key', '--print-value-only'], { env: { ETCDCTL_DISCOVERY_SRV: domain, KVCTL_DNS_SERVER: dns.server } });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.equal(viaEnv.stdout.trim(), 'srv-value');
  });

  test('(d) discovery errors and --insecure-discovery=false, as etcdctl', async () => {
    const none = await kvctl(['member', 'list', '--discovery-srv', `none.${domain}`, '--dns-server', dns.server]);
    assert.equal(none.code, 1);
    assert.equal(
      none.stderr.trim(),
      `Error: dns lookup errors: lookup _etcd-client-ssl._tcp.none.${domain} on ${dns.server}: no such host and lookup _etcd-client._tcp.none.${domain} on ${dns.server}: no such host`,
    );
    const named = await kvctl(['member', 'list', '--discovery-srv', domain, '--discovery-srv-name', 'blue', '--dns-server', dns.server]);
    assert.equal(named.code, 1);
    assert.match(named.stderr, new RegExp(`lookup _etcd-client-ssl-blue\\._tcp\\.${domain.replaceAll('.', '\\.')} on`));
    // http endpoints dropped: etcdctl falls back to --endpoints.
    const secure = await kvctl([
      'member', 'list', '--discovery-srv', domain, '--dns-server', dns.server, '--insecure-discovery=false',
      '--endpoints', `${members[0]?.host}:${members[0]?.clientPort}`,
    ]);
    assert.equal(secure.code, 0, secure.stderr);
    for (const m of members) assert.match(secure.stderr, new RegExp(`ignoring discovered insecure endpoint "http://${m.dnsName.replaceAll('.', '\\.')}\\.:${m.clientPort}"`));
    const badServer = await kvctl(['member', 'list', '--dns-server', 'localhost:53']);
    assert.equal(badServer.code, 128);
    assert.match(badServer.stderr, /--dns-server: expected an IP address and a port \(e\.g\. 127\.0\.0\.1:53\), got "localhost:53"/);
  });

  test('(b) --discovery-srv-name picks the other records (ETCD_DISCOVERY_SRV* and ETCD_DNS_SERVER variables)', async () => {
    const p = startKvctlMember(blue, memberFlags(blue, 'http'), {
      env: { ETCD_DISCOVERY_SRV: domain, ETCD_DISCOVERY_SRV_NAME: 'blue', ETCD_DNS_SERVER: dns.server },
    });
    procs.push(p);
    await serving(p);
    const list = await etcdctlMembers(`${blue.host}:${blue.clientPort}`);
    assert.deepEqual([...list.keys()], ['n1']);
    assert.equal(list.get('n1')?.peerUrls, `http://${blue.dnsName}:${blue.peerPort}`);
  });

  test("(c) a member whose advertised URL no record names exits with etcd's message", async () => {
    const p = startKvctlMember(stray, [...memberFlags(stray, 'http'), '--discovery-srv', domain, '--dns-server', dns.server]);
    procs.push(p);
    assert.notEqual(await exitOf(p), 0);
    assert.match(p.output(), /error setting up initial cluster: cannot find local etcd member "m5" in SRV records/);
    const bothFlags = startKvctlMember(stray, [
      ...memberFlags(stray, 'http'), '--discovery-srv', domain, '--dns-server', dns.server, '--initial-cluster', `m5=http://${stray.host}:${stray.peerPort}`,
    ]);
    procs.push(bothFlags);
    assert.notEqual(await exitOf(bothFlags), 0);
    assert.match(bothFlags.output(), /multiple discovery or bootstrap flags are set\. Choose one of "initial-cluster", "discovery" or "discovery-srv"/);
  });
});

/**
 * The real etcd reads DNS only through /etc/resolv.conf (port 53): it runs in a mount namespace of its own
 * where a temporary resolv.conf naming the test's dnsmasq is bind-mounted over /etc/resolv.conf.
 */
function namespaceProblem(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (dnsmasq on port 53, mount --bind in a mount namespace)';
  const dir = mkdtempSync(join(tmpdir(), 'kvctl-unshare-'));
  try {
    writeFileSync(join(dir, 'a'), 'a');
    writeFileSync(join(dir, 'b'), 'b');
    const r = spawnSync('unshare', ['-m', 'sh', '-c', 'mount --bind "$0" "$1" && grep -q a "$1"', join(dir, 'a'), join(dir, 'b')], { timeout: 5000 });
    return r.status === 0 ? false : `unshare -m / mount --bind not permitted here (${r.stderr.toString().trim() || `exit ${r.status}`})`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function startEtcdMember(slot: Slot, resolvConf: string, args: readonly string[]): Proc {
  const dataDir = mkdtempSync(join(tmpdir(), `kvctl-srv-etcd-${slot.name}-`));
  const script = 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"';
  const child = spawn('unshare', ['-m', 'sh', '-c', script, 'sh', resolvConf, process.env.ETCD_BIN ?? 'etcd', '--data-dir', dataDir, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return track(slot, child, dataDir);
}

/** Runs the real etcdctl inside such a namespace (so that it, too, resolves through the test's dnsmasq). */
function etcdctlInNamespace(resolvConf: string, args: readonly string[]): { code: number | null; stdout: string; stderr: string } {
  const script = 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"';
  const r = spawnSync('unshare', ['-m', 'sh', '-c', script, 'sh', resolvConf, 'etcdctl', '--dial-timeout', '3s', ...args], {
    env: { ...process.env, ETCDCTL_API: '3' },
    timeout: 20_000,
  });
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

describe('the real etcd 3.4 bootstraps from the same records (its resolver: /etc/resolv.conf, port 53)', { skip: skipAll || namespaceProblem() }, () => {
  const domain = 'e.kvctl.test';
  let dns: Dnsmasq;
  let resolvDir: string;
  let resolvConf: string;
  let members: Slot[];
  let plain: Slot;
  const procs: Proc[] = [];
  const token = `srv-etcd-${process.pid}`;
  let etcdIds: Map<string, string>;
  let etcdClusterId: string;

  before(async () => {
    members = await slots(domain, [1, 2, 3]);
    [plain] = (await slots(domain, [6])).map((s) => ({ ...s, name: 'p1', dnsName: `p1.${domain}` })) as [Slot];
    const srv = [
      ...records(domain, members, { ssl: true, client: true }),
      ...records(domain, [plain], { serviceName: 'plain' }),
    ];
    const hosts = [...members, plain].map((m) => ({ name: m.dnsName, address: m.host }));
    // Port 53 on an unusual loopback address (127.0.0.53 is often taken by a local resolver); another run
    // of this suite elsewhere on the machine may hold one, so a few are tried.
    let lastError: unknown;
    for (const address of [`127.53.${process.pid % 200}.${1 + (process.pid % 250)}`, '127.53.211.17', '127.53.212.29']) {
      try {
        dns = await startDnsmasq({ domain, srv, hosts, address, port: 53 });
        break;
      } catch (err) {
        lastError = err;
      }
    }
    if (dns === undefined) throw lastError;
    resolvDir = mkdtempSync(join(tmpdir(), 'kvctl-resolv-'));
    reapDir(resolvDir);
    resolvConf = join(resolvDir, 'resolv.conf');
    writeFileSync(resolvConf, `nameserver ${dns.address}\noptions timeout:1 attempts:2\n`);
  });
  after(async () => {
    await cleanup(procs);
    await dns?.stop();
    if (resolvDir !== undefined) {
      rmSync(resolvDir, { recursive: true, force: true });
      releaseDir(resolvDir);
    }
  });

  test('(e) three etcd members from _etcd-server-ssl records (https peers, --peer-auto-tls)', async () => {
    const started = members.map((m) =>
      startEtcdMember(m, resolvConf, [...memberFlags(m, 'https'), '--peer-auto-tls', '--discovery-srv', domain, '--initial-cluster-token', token]),
    );
    procs.push(...started);
    await Promise.all(started.map((p) => serving(p)));
    const list = await etcdctlMembers(`${members[0]?.host}:${members[0]?.clientPort}`);
    assert.deepEqual([...list.keys()].sort(), ['m1', 'm2', 'm3']);
    for (const m of members) assert.equal(list.get(m.name)?.peerUrls, `https://${m.dnsName}:${m.peerPort}`);
    etcdIds = new Map([...list].map(([name, m]) => [name, m.id]));
    etcdClusterId = await clusterIdOf(`${members[0]?.host}:${members[0]?.clientPort}`);
    assert.match(started[0]?.output() ?? '', /got bootstrap from DNS for etcd-server at m1=https:\/\/m1\.e\.kvctl\.test:/);

    // The real etcdctl finds it through the _etcd-client records too, as kvctl does.
    const viaSrv = etcdctlInNamespace(resolvConf, ['--discovery-srv', domain, 'member', 'list']);
    assert.equal(viaSrv.code, 0, viaSrv.stderr);
    assert.equal(viaSrv.stdout.trim().split('\n').length, 3);
    const kvctlList = await kvctl(['member', 'list', '--discovery-srv', domain, '--dns-server', dns.server]);
    assert.equal(kvctlList.code, 0, kvctlList.stderr);
    assert.deepEqual(kvctlList.stdout.trim().split('\n').sort(), viaSrv.stdout.trim().split('\n').sort());
    await cleanup(started);
  });

  test('kvctl nodes on the same records and token get the same member ids and cluster id as etcd', async () => {
    assert.ok(etcdIds !== undefined, 'needs the etcd cluster of the test before');
    const started = members.map((m) =>
      startKvctlMember(m, [...memberFlags(m, 'https'), '--peer-auto-tls', '--discovery-srv', domain, '--dns-server', dns.server, '--initial-cluster-token', token]),
    );
    procs.push(...started);
    await Promise.all(started.map((p) => serving(p)));
    const list = await etcdctlMembers(`${members[0]?.host}:${members[0]?.clientPort}`);
    assert.deepEqual(new Map([...list].map(([name, m]) => [name, m.id])), etcdIds);
    assert.equal(await clusterIdOf(`${members[0]?.host}:${members[0]?.clientPort}`), etcdClusterId);
    await cleanup(started);
  });

  test('etcd 3.4 refuses http-only records (_etcd-server-ssl missing); kvctl, like etcd 3.5, bootstraps from them', async () => {
    const etcd = startEtcdMember(plain, resolvConf, [...memberFlags(plain, 'http'), '--discovery-srv', domain, '--discovery-srv-name', 'plain']);
    procs.push(etcd);
    assert.notEqual(await exitOf(etcd), 0);
    assert.match(
      etcd.output(),
      new RegExp(`error setting up initial cluster: error querying DNS SRV records for _etcd-server-ssl-plain lookup _etcd-server-ssl-plain\\._tcp\\.e\\.kvctl\\.test on ${dns.server.replaceAll('.', '\\.')}: no such host`),
    );
    const node = startKvctlMember(plain, [...memberFlags(plain, 'http'), '--discovery-srv', domain, '--discovery-srv-name', 'plain', '--dns-server', dns.server]);
    procs.push(node);
    await serving(node);
  });
});
