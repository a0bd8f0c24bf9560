// End-to-end: kvctl agents on 127.0.0.1/.2/.3 (.4 for a member added later), driven by the CLI.
// - `cluster bootstrap --static` with the agents' bootstrap token: CA and certificates issued, agents enrolled,
//   members started and healthy; the saved context serves `member list` without flags; the real etcdctl talks
//   to the members with the context's certificates;
// - a member killed (-9) is restarted by its agent; an agent killed (-9) leaves its member serving, and the
//   restarted agent adopts it;
// - `member add --host` (learner, certificates for its IP, promoted) and `member remove` (agent wipes it);
// - wrong inputs change nothing: a wrong token, a duplicate member, an unsafe removal;
// - the same with the real etcd as the runtime, and bootstrap from a discovery URL and from DNS SRV records;
// - `cluster down --purge` stops and deletes the members.
// Every agent and member is stopped at the end, even on failure (test/support/agents.ts).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { type Harness, type StatusRow, TOKEN, harness, memberArgs, ok, status } from '../support/agent-harness.js';
import type { TestAgent } from '../support/agents.js';
import { type Dnsmasq, dnsmasqAvailable, startDnsmasq } from '../support/dnsmasq.js';
import { etcdctl } from '../support/etcdctl.js';
import { type KvNode, removeDir, startKvNode } from '../support/kvnode.js';
import { freePort } from '../support/ports.js';
import { reapDir } from '../support/reaper.js';
import { waitFor } from '../support/wait.js';
import { kvctl as runKvctl } from './kvctl.js';

describe('agents: static bootstrap, supervision, membership (kvctl runtime)', { timeout: 400_000 }, () => {
  let h: Harness;
  before(async () => {
    h = await harness(4);
  });
  after(async () => {
    await h?.cleanup();
  });

  test('a wrong token and a bad plan are refused before anything changes', async () => {
    const members = await memberArgs(h.agents.slice(0, 3));
    const dup = await h.run(['cluster', 'bootstrap', '--static', ...members, '--member', members[1] as string, '--token', TOKEN]);
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /member name m1 is given twice/);
    const wrong = await h.run(['cluster', 'bootstrap', '--static', ...members, '--token', 'kvat_not-the-right-token-000000']);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /could not prove it holds the bootstrap token/);
    for (const a of h.agents) assert.equal(existsSync(join(a.dir, 'member')), false, `agent ${a.name} got a member`);
  });

  test('bootstrap --static: healthy cluster, context, etcdctl with the issued certificates', async () => {
    const members = await memberArgs(h.agents.slice(0, 3));
    const r = ok(await h.run(['cluster', 'bootstrap', '--static', ...members, '--token', TOKEN]), 'bootstrap');
    assert.match(r.stdout, /Cluster default is healthy/);
    assert.match(r.stderr, /agent a1 at 127\.0\.0\.1:\d+ enrolled/);
    const list = ok(await h.run(['member', 'list', '-w', 'json']), 'member list');
    const parsed = JSON.parse(list.stdout) as { members: { name: string; clientURLs: string[] }[] };
    assert.deepEqual(parsed.members.map((m) => m.name).sort(), ['m1', 'm2', 'm3']);
    const m1 = parsed.members.find((m) => m.name === 'm1')?.clientURLs[0] as string;
    const m3 = parsed.members.find((m) => m.name === 'm3')?.clientURLs[0] as string;
    assert.match(m1, /^https:\/\/127\.0\.0\.1:\d+$/);
    ok(await h.ctl(m1, ['put', 'greeting', 'hello']), 'etcdctl put');
    assert.equal(ok(await h.ctl(m3, ['get', 'greeting', '--print-value-only']), 'etcdctl get').stdout.trim(), 'hello');
    // Without a client certificate the members refuse.
    const anonymous = await etcdctl(m1, ['--cacert', join(h.home, 'contexts/default/pki/ca.crt'), 'get', 'greeting']);
    assert.notEqual(anonymous.code, 0);
    // The rendered env file and unit are where the agent says.
    const env = readFileSync(join(h.agents[0]?.dir as string, 'member', 'etcd.env'), 'utf8');
    assert.match(env, /^ETCD_NAME=m1$/m);
    assert.match(env, /^ETCD_INITIAL_CLUSTER_STATE=new$/m);
    assert.match(env, /^ETCD_CLIENT_CERT_AUTH=true$/m);
    assert.doesNotMatch(env, /^ETCD_DISCOVERY=/m);
    assert.match(readFileSync(join(h.agents[0]?.dir as string, 'member', 'etcd-member.service'), 'utf8'), /^EnvironmentFile=.*etcd\.env$/m);
    // A rerun finds everything in place.
    ok(await h.run(['cluster', 'bootstrap', '--static', ...members, '--token', TOKEN]), 'bootstrap rerun');
  });

  test('a member killed with -9 is restarted by its agent', async () => {
    const a2 = h.agents[1] as TestAgent;
    const pid = a2.memberPid();
    assert.ok(pid > 0);
    process.kill(pid, 'SIGKILL');
    const row = await waitFor(
      async () => (await status(h)).find((r) => r.member === 'm2' && r.pid !== pid && r.health === 'true'),
      { timeoutMs: 30_000, intervalMs: 500, what: 'm2 restarted and healthy' },
    );
    assert.equal(row.restarts, 1);
    assert.match(a2.log(), /ended on its own: signal SIGKILL; restarting in 1000 ms/);
    // Its log, through the agent: both runs are in it.
    const logs = ok(await h.run(['cluster', 'logs', 'm2', '--tail', '400']), 'cluster logs');
    assert.ok((logs.stdout.match(/ready to serve client requests/g) ?? []).length >= 2, logs.stdout.slice(-2000));
  });

  test('an agent killed with -9 leaves its member serving; the restarted agent adopts it', async () => {
    const a3 = h.agents[2] as TestAgent;
    const pid = a3.memberPid();
    await a3.kill9();
    const rows = await status(h);
    assert.equal(rows.find((r) => r.member === 'm3')?.node, 'unknown');
    const list = ok(await h.run(['member', 'list', '-w', 'json']), 'member list');
    const m3 = (JSON.parse(list.stdout) as { members: { name: string; clientURLs: string[] }[] }).members.find((m) => m.name === 'm3')?.clientURLs[0] as string;
    ok(await h.ctl(m3, ['endpoint', 'health']), 'm3 health without its agent');
    await a3.restart();
    await waitFor(() => a3.log().includes(`adopted the running member (pid ${pid})`), { timeoutMs: 10_000, what: 'the restarted agent to adopt its member' });
    const row = await waitFor(async () => (await status(h)).find((r) => r.member === 'm3' && r.health === 'true'), { timeoutMs: 15_000, intervalMs: 300, what: 'm3 healthy' });
    assert.equal(row.pid, pid);
  });

  test('member add --host: learner, certificates for its address, promoted; member remove wipes it', async () => {
    const a4 = h.agents[3] as TestAgent;
    const add = ok(await h.run(['member', 'add', 'm4', '--host', a4.address, '--token', TOKEN], 180_000), 'member add');
    assert.match(add.stderr, /warning: an even-sized cluster \(4\)/);
    assert.match(add.stderr, /member m4 added as learner [0-9a-f]+/);
    assert.match(add.stderr, /member m4 promoted to voter/);
    const list = JSON.parse(ok(await h.run(['member', 'list', '-w', 'json']), 'member list').stdout) as { members: { name: string; isLearner?: boolean; clientURLs: string[] }[] };
    const m4 = list.members.find((m) => m.name === 'm4');
    assert.ok(m4 !== undefined && m4.isLearner !== true);
    assert.equal(ok(await h.ctl(m4.clientURLs[0] as string, ['get', 'greeting', '--print-value-only']), 'get on m4').stdout.trim(), 'hello');
    const cert = ok(await h.run(['cert', 'inspect', join(h.home, 'contexts/default/pki/m4-peer.crt')]), 'cert inspect');
    assert.match(cert.stdout, /127\.0\.0\.4/);
    // The context knows the new member: endpoint status through it sees 4.
    const st = JSON.parse(ok(await h.run(['endpoint', 'status', '-w', 'json']), 'endpoint status').stdout) as unknown[];
    assert.equal(st.length, 4);

    const rm = ok(await h.run(['member', 'remove', 'm1']), 'member remove');
    assert.match(rm.stderr, /member m1 \([0-9a-f]+\) removed from the cluster/);
    assert.match(rm.stderr, /member m1 stopped; its data, configuration and certificates deleted/);
    assert.equal(existsSync(join(h.agents[0]?.dir as string, 'data')), false);
    const after = JSON.parse(ok(await h.run(['member', 'list', '-w', 'json']), 'member list').stdout) as { members: { name: string }[] };
    assert.deepEqual(after.members.map((m) => m.name).sort(), ['m2', 'm3', 'm4']);
  });

  test('member update --host moves a member with its ID and data; without --host it re-issues its certificates', async () => {
    const [a1, a2, a3] = h.agents as [TestAgent, TestAgent, TestAgent];
    type Listed = { members: { ID: string; name: string; clientURLs: string[]; peerURLs: string[] }[] };
    const before = (JSON.parse(ok(await h.run(['member', 'list', '-w', 'json']), 'member list').stdout) as Listed).members.find((m) => m.name === 'm2');
    assert.ok(before !== undefined);
    // Refused before anything changes: the host of another member.
    const busy = await h.run(['member', 'update', 'm2', '--host', a3.address]);
    assert.notEqual(busy.code, 0);
    assert.match(busy.stderr, /agent 127\.0\.0\.3:\d+ runs member m3: one member per agent/);
    // a1 is free since m1 was removed (still enrolled: no token needed).
    const move = ok(await h.run(['member', 'update', 'm2', '--host', a1.address], 180_000), 'member update --host');
    assert.match(move.stderr, /certificates of m2 re-issued for 127\.0\.0\.1/);
    assert.match(move.stderr, /data dir of m2 copied to 127\.0\.0\.1:\d+/);
    assert.match(move.stderr, /peer URL of m2 changed to https:\/\/127\.0\.0\.1:\d+/);
    assert.match(move.stdout, /Member m2 \([0-9a-f]+\) moved from agent 127\.0\.0\.2:\d+ to 127\.0\.0\.1:\d+/);
    const after = (JSON.parse(ok(await h.run(['member', 'list', '-w', 'json']), 'member list').stdout) as Listed).members.find((m) => m.name === 'm2');
    assert.ok(after !== undefined);
    assert.equal(after.ID, before.ID, 'the moved member keeps its ID');
    assert.match(after.peerURLs[0] ?? '', /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(after.clientURLs[0] ?? '', /^https:\/\/127\.0\.0\.1:\d+$/);
    // Its data came along: it answers from its own copy, and writes go on through it.
    assert.equal(ok(await h.ctl(after.clientURLs[0] as string, ['get', 'greeting', '--print-value-only', '--consistency=s']), 'get on moved m2').stdout.trim(), 'hello');
    ok(await h.ctl(after.clientURLs[0] as string, ['put', 'moved', 'yes']), 'put through moved m2');
    assert.equal(existsSync(join(a2.dir, 'data')), false, 'the old copy is deleted');
    assert.ok(existsSync(join(a1.dir, 'data', 'member', 'wal')));
    const cert = ok(await h.run(['cert', 'inspect', join(h.home, 'contexts/default/pki/m2-peer.crt')]), 'cert inspect').stdout;
    assert.doesNotMatch(cert, /127\.0\.0\.2/);
    const rows = await status(h);
    assert.deepEqual(rows.map((r) => `${r.member}:${r.health}`).sort(), ['m2:true', 'm3:true', 'm4:true']);

    const pem = () => readFileSync(join(h.home, 'contexts/default/pki/m3.crt'), 'utf8');
    const old = pem();
    const renew = ok(await h.run(['member', 'update', 'm3'], 120_000), 'member update in place');
    assert.match(renew.stdout, /Member m3 \([0-9a-f]+\) updated on agent 127\.0\.0\.3:\d+: .* certificates re-issued/);
    assert.notEqual(pem(), old);
    assert.equal(readFileSync(join(a3.dir, 'member', 'pki', 'server.crt'), 'utf8'), pem(), 'the agent installed the new certificate');
    assert.equal(ok(await h.ctl(after.clientURLs[0] as string, ['get', 'moved', '--print-value-only']), 'get').stdout.trim(), 'yes');
  });

  test('a member removed while its agent is down: its host is freed by the same command once the agent is back', async () => {
    const a4 = h.agents[3] as TestAgent;
    await a4.kill9();
    const removed = ok(await h.run(['member', 'remove', 'm4']), 'member remove with its agent down');
    assert.match(removed.stderr, /agent 127\.0\.0\.4:\d+ is unreachable; the member is out of the cluster.*once the agent answers, kvctl member remove m4 again frees it/);
    await a4.restart();
    const freed = ok(await h.run(['member', 'remove', 'm4']), 'member remove again');
    assert.match(freed.stdout, /Member m4 had left cluster default already; its host is freed/);
    assert.equal(existsSync(join(a4.dir, 'data')), false);
    const gone = await h.run(['member', 'remove', 'm4']);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /no member m4 in cluster default/);
  });

  test('cluster down --purge stops and deletes every member', async () => {
    const down = ok(await h.run(['cluster', 'down', '--purge']), 'cluster down');
    assert.match(down.stdout, /2 members stopped and deleted/);
    for (const a of h.agents) {
      assert.equal(existsSync(join(a.dir, 'data')), false);
      const pid = a.memberPid();
      assert.equal(pid, 0);
    }
    const none = await h.run(['cluster', 'status']);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /no current cluster context/);
  });
});

describe('agents with the real etcd as the runtime', { timeout: 300_000 }, () => {
  let h: Harness;
  before(async () => {
    h = await harness(4);
  });
  after(async () => {
    await h?.cleanup();
  });

  test('bootstrap --static --runtime etcd, a killed etcd restarted, a member moved to a new host, one added and removed, down --purge', async () => {
    const members = await memberArgs(h.agents.slice(0, 3));
    ok(await h.run(['cluster', 'bootstrap', '--static', ...members, '--token', TOKEN, '--runtime', 'etcd']), 'bootstrap');
    const rows = await status(h);
    assert.deepEqual(rows.map((r) => r.health), ['true', 'true', 'true']);
    assert.match(readFileSync(join(h.agents[0]?.dir as string, 'logs', 'node.log'), 'utf8'), /etcd/);
    const st = JSON.parse(ok(await h.run(['endpoint', 'status', '-w', 'json']), 'endpoint status').stdout) as { Status: { version: string } }[];
    assert.match(st[0]?.Status.version ?? '', /^3\.4\./);
    const pid = h.agents[0]?.memberPid() ?? 0;
    process.kill(pid, 'SIGKILL');
    await waitFor(async () => (await status(h)).find((r) => r.member === 'm1' && r.pid !== pid && r.health === 'true'), { timeoutMs: 30_000, intervalMs: 500, what: 'etcd m1 back' });

    // etcd's documented migration, done by the agents: a4 is new (enrolled with its token), m3 keeps its ID.
    ok(await h.run(['put', 'before-move', 'kept']), 'put');
    type Listed = { members: { ID: string; name: string; clientURLs: string[] }[] };
    const idOf = async () => (JSON.parse(ok(await h.run(['member', 'list', '-w', 'json']), 'member list').stdout) as Listed).members.find((m) => m.name === 'm3');
    const before = await idOf();
    const a4 = h.agents[3] as TestAgent;
    ok(await h.run(['member', 'update', 'm3', '--host', a4.address, '--token', TOKEN], 180_000), 'member update --host (etcd)');
    const after = await idOf();
    assert.equal(after?.ID, before?.ID);
    assert.match(after?.clientURLs[0] ?? '', /^https:\/\/127\.0\.0\.4:\d+$/);
    assert.equal(ok(await h.ctl(after?.clientURLs[0] as string, ['get', 'before-move', '--print-value-only', '--consistency=s']), 'get on moved etcd m3').stdout.trim(), 'kept');
    assert.equal(existsSync(join(h.agents[2]?.dir as string, 'data')), false);
    const moved = await status(h);
    assert.deepEqual(moved.map((r) => `${r.member}:${r.health}`).sort(), ['m1:true', 'm2:true', 'm3:true']);

    // Membership through agents with etcd members too: a3 (free since the move) gets a learner that is promoted.
    const a3 = h.agents[2] as TestAgent;
    const add = ok(await h.run(['member', 'add', 'm5', '--host', a3.address], 180_000), 'member add (etcd)');
    assert.match(add.stderr, /member m5 promoted to voter/);
    const m5 = (JSON.parse(ok(await h.run(['member', 'list', '-w', 'json']), 'member list').stdout) as Listed).members.find((m) => m.name === 'm5');
    assert.equal(ok(await h.ctl(m5?.clientURLs[0] as string, ['get', 'before-move', '--print-value-only', '--consistency=s']), 'get on etcd m5').stdout.trim(), 'kept');
    ok(await h.run(['member', 'remove', 'm5']), 'member remove (etcd)');
    assert.equal(existsSync(join(a3.dir, 'data')), false);
    ok(await h.run(['cluster', 'down', '--purge']), 'down');
  });
});

describe('agents: bootstrap from a discovery URL and from DNS SRV records', { timeout: 300_000 }, () => {
  let h: Harness;
  let discovery: KvNode | undefined;
  let dns: Dnsmasq | undefined;
  before(async () => {
    h = await harness(3);
  });
  after(async () => {
    await dns?.stop();
    if (discovery !== undefined) {
      await discovery.stop();
      removeDir(discovery.dataDir);
    }
    await h?.cleanup();
  });

  test('--discovery: the size is checked first, then the members register and bootstrap', async () => {
    discovery = await startKvNode({ host: '127.0.0.9' });
    const made = ok(await h.run(['discovery', 'new', '--size', '2', '--endpoints', discovery.endpoint, '--json']), 'discovery new');
    const wrongSize = (JSON.parse(made.stdout) as { url: string }).url;
    const members = await memberArgs(h.agents);
    const refused = await h.run(['cluster', 'bootstrap', '--discovery', wrongSize, ...members, '--token', TOKEN]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /expects 2 members but the plan has 3/);
    const url = (JSON.parse(ok(await h.run(['discovery', 'new', '--size', '3', '--endpoints', discovery.endpoint, '--json']), 'discovery new').stdout) as { url: string }).url;
    ok(await h.run(['cluster', 'bootstrap', '--discovery', url, ...members, '--token', TOKEN]), 'bootstrap --discovery');
    assert.match(readFileSync(join(h.agents[0]?.dir as string, 'member', 'etcd.env'), 'utf8'), new RegExp(`^ETCD_DISCOVERY=${url.replace(/[.]/g, '\\.')}$`, 'm'));
    const list = JSON.parse(ok(await h.run(['member', 'list', '-w', 'json']), 'member list').stdout) as { members: { name: string }[] };
    assert.deepEqual(list.members.map((m) => m.name).sort(), ['m1', 'm2', 'm3']);
    ok(await h.run(['cluster', 'down', '--purge']), 'down');
  });

  test('--dns-srv: records checked against the plan, then the members bootstrap from them', async (t) => {
    if (!dnsmasqAvailable()) {
      t.skip('dnsmasq is not installed (Debian dnsmasq-base; .ci/run installs it)');
      return;
    }
    const domain = 'agents.kvctl.test';
    const ports = await Promise.all(h.agents.map(async (a) => ({ client: await freePort(a.host), peer: await freePort(a.host) })));
    const srv = h.agents.map((a, i) => ({ name: `_etcd-server-ssl._tcp.${domain}`, target: `m${i + 1}.${domain}`, port: ports[i]?.peer as number }));
    const hosts = h.agents.map((a, i) => ({ name: `m${i + 1}.${domain}`, address: a.host }));
    dns = await startDnsmasq({ domain, srv, hosts });
    const members = h.agents.flatMap((a, i) => ['--member', `m${i + 1}=${a.host}:${ports[i]?.client}:${ports[i]?.peer}:${a.port}`]);
    // A plan with a member the records do not have is refused before any agent is touched.
    const extra = await h.run(['cluster', 'bootstrap', '--dns-srv', domain, '--dns-server', dns.server, ...members, '--member', `m9=127.0.0.9:${await freePort('127.0.0.9')}`, '--token', TOKEN]);
    assert.notEqual(extra.code, 0);
    assert.match(extra.stderr, /do not fit the plan/);
    assert.match(extra.stderr, /m9/);
    ok(await h.run(['cluster', 'bootstrap', '--dns-srv', domain, '--dns-server', dns.server, ...members, '--token', TOKEN]), 'bootstrap --dns-srv');
    const list = JSON.parse(ok(await h.run(['member', 'list', '-w', 'json']), 'member list').stdout) as { members: { name: string; peerURLs: string[] }[] };
    assert.deepEqual(list.members.map((m) => m.name).sort(), ['m1', 'm2', 'm3']);
    assert.ok(list.members.every((m) => (m.peerURLs[0] ?? '').includes(domain)), JSON.stringify(list.members));
    ok(await h.run(['cluster', 'down', '--purge']), 'down');
  });
});

describe('--local: agents started and stopped by the CLI', { timeout: 200_000 }, () => {
  const home = mkdtempSync(join(tmpdir(), 'kvctl-home-'));
  reapDir(home);
  const run = (args: readonly string[]) => runKvctl(args, { timeoutMs: 150_000, env: { KVCTL_HOME: home, KVCTL_AGENT_TOKEN: '' } });
  after(async () => {
    // Whatever a failed test left: stop it through the CLI, then make sure no member or agent survives.
    await run(['cluster', 'down', '--purge']);
    rmSync(home, { recursive: true, force: true });
  });

  test('bootstrap --local 2, member add --local, remove, down, up again with the data, down --purge', async () => {
    const ports = ['--client-port', String(await freePort()), '--peer-port', String(await freePort()), '--agent-port', String(await freePort())];
    const dry = ok(await run(['cluster', 'bootstrap', '--static', '--local', '2', ...ports, '--dry-run']), 'dry run');
    assert.match(dry.stdout, /warning: an even-sized cluster \(2\)/);
    assert.match(dry.stdout, /^ETCD_INITIAL_CLUSTER=m1=https:\/\/127\.0\.0\.1:\d+,m2=https:\/\/127\.0\.0\.2:\d+$/m);
    assert.match(dry.stdout, /^ETCD_INITIAL_CLUSTER_TOKEN=kvctl-default-<first 8 hex digits of the SHA-256 of the CA it creates>$/m);
    assert.equal(existsSync(join(home, 'local')), false, 'a dry run starts nothing');
    ok(await run(['cluster', 'bootstrap', '--static', '--local', '2', ...ports]), 'bootstrap --local');
    // Once the CA exists, a dry run shows the token the members were given.
    const token = /^ETCD_INITIAL_CLUSTER_TOKEN=(kvctl-default-[0-9a-f]{8})$/m.exec(readFileSync(join(home, 'local', 'default', 'm1', 'member', 'etcd.env'), 'utf8'))?.[1];
    assert.ok(token !== undefined, 'the token is in the env file');
    const rerun = ok(await run(['cluster', 'bootstrap', '--static', '--local', '2', ...ports, '--dry-run']), 'dry run after bootstrap');
    assert.match(rerun.stdout, new RegExp(`^ETCD_INITIAL_CLUSTER_TOKEN=${token}$`, 'm'));
    ok(await run(['put', 'k', 'v']), 'put');
    const add = ok(await run(['member', 'add', 'm3', '--local']), 'member add --local');
    assert.match(add.stderr, /agent m3 started .* on 127\.0\.0\.3:/);
    assert.match(add.stdout, /Member m3 \([0-9a-f]+\) added through agent 127\.0\.0\.3:\d+ and promoted/);
    const rows = JSON.parse(ok(await run(['cluster', 'status', '--json']), 'status').stdout) as StatusRow[];
    assert.deepEqual(rows.map((r) => `${r.member}:${r.health}`), ['m1:true', 'm2:true', 'm3:true']);
    ok(await run(['member', 'remove', 'm2']), 'member remove');
    assert.equal(existsSync(join(home, 'local', 'default', 'm2')), false);
    ok(await run(['cluster', 'down']), 'down');
    // Stopped together, the leader's hand-over gives up on a transferee that stops too: no member needed SIGKILL.
    for (const m of ['m1', 'm3']) {
      assert.doesNotMatch(readFileSync(join(home, 'local', 'default', m, 'agent.log'), 'utf8'), /stopped: signal SIGKILL/, `${m} was killed by its agent`);
    }
    const again = await run(['cluster', 'bootstrap', '--static', '--local', '2', ...ports]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /exists already with members m1, m3 .*kvctl cluster up/);
    ok(await run(['cluster', 'up']), 'cluster up');
    assert.equal(ok(await run(['get', 'k', '--print-value-only']), 'get after restart').stdout.trim(), 'v');
    const purge = ok(await run(['cluster', 'down', '--purge']), 'down --purge');
    assert.match(purge.stdout, /stopped and deleted/);
    assert.equal(existsSync(join(home, 'local', 'default')), false);
  });
});
