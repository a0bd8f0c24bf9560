// End-to-end: kvctl's membership commands (`member add|remove|update|list|promote`), `endpoint hashkv` and
// `move-leader` against a real 3-member etcd 3.4 cluster (127.0.0.1, .2, .3, and a member joined on 127.0.0.4;
// test/support/cluster.ts), next to the real etcdctl. Where the output cannot depend on who ran the command, both
// must print the same bytes and exit with the same code; where it holds a fresh random member ID, the outputs must
// agree once that ID is masked. The member added by kvctl is started with the ETCD_* settings kvctl printed, which
// proves them right. Built CLI: `npm run build` first.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { type ProcessResult, etcdctl, runProcess } from '../support/etcd.js';
import { withoutClientLogs } from '../support/etcdctl.js';
import { type Cluster, type ClusterMember, startCluster } from '../support/cluster.js';
import { freePort } from '../support/ports.js';
import { root } from './kvctl.js';

type Run = { code: number; out: string; err: string };

async function kvctl(args: readonly string[]): Promise<Run> {
  const r = await runProcess(process.execPath, [join(root, 'bin/run.js'), ...args], {
    cwd: root,
    timeoutMs: 30_000,
    env: { NO_COLOR: '1', NODE_ENV: 'production', ETCDCTL_ENDPOINTS: '', ETCDCTL_WRITE_OUT: '' },
  });
  return { code: r.code, out: r.stdout.toString('utf8'), err: r.stderr };
}

/** etcdctl's run, without the client library's JSON log lines on stderr. */
async function ctl(args: readonly string[]): Promise<Run> {
  const r: ProcessResult = await etcdctl(args);
  return { code: r.code, out: r.stdout.toString('utf8'), err: withoutClientLogs(r.stderr) };
}

/**
 * Runs both (at once: only for commands that read, or fail, or change nothing); they must print the same bytes on
 * stdout and stderr and exit with the same code.
 */
async function same(args: readonly string[]): Promise<Run> {
  // One after the other: two membership changes in flight at once race in raft (etcd's raft drops the
  // second conf change while one is pending, and etcd then answers it only with a timeout).
  const ours = await kvctl(args);
  const theirs = await ctl(args);
  const what = `kvctl|etcdctl ${args.join(' ')}`;
  assert.equal(ours.out, theirs.out, `${what}: stdout`);
  assert.equal(ours.err, theirs.err, `${what}: stderr`);
  assert.equal(ours.code, theirs.code, `${what}: exit code`);
  return ours;
}

/** `same` for several argument lists (each one reads, fails, or changes nothing); all must fail. */
async function sameFailures(prefix: readonly string[], cases: readonly (readonly string[])[]): Promise<void> {
  const runs: Run[] = [];
  for (const args of cases) runs.push(await same([...prefix, ...args]));
  runs.forEach((r, i) => assert.notEqual(r.code, 0, `${prefix.join(' ')} ${cases[i]?.join(' ')} should fail`));
}

type MemberRow = { id: string; status: string; name: string; peers: string; clients: string; learner: boolean };

function parseMemberList(simple: string): MemberRow[] {
  return simple
    .trimEnd()
    .split('\n')
    .map((line) => {
      const [id = '', status = '', name = '', peers = '', clients = '', learner = ''] = line.split(', ');
      return { id, status, name, peers, clients, learner: learner === 'true' };
    });
}

/** A JSON response text without the entry of its `members` array that starts with `prefix` (no nested objects). */
function withoutListed(json: string, prefix: string): string {
  const start = json.indexOf('"members":[{') + '"members":['.length;
  const end = json.indexOf('}]', start) + 1;
  assert.ok(start > 10 && end > start, json);
  const items = json.slice(start + 1, end - 1).split('},{');
  const kept = items.filter((item) => !item.startsWith(prefix));
  assert.equal(kept.length, items.length - 1, json);
  return `${json.slice(0, start)}{${kept.join('},{')}}${json.slice(end)}`;
}

/**
 * Runs a membership change, again while etcd refuses it with "unhealthy cluster": etcd (strict reconfig check)
 * changes membership only once the leader has been connected to every voting member for 5 s, which a member that
 * has just joined or been promoted has not (up to 8 s in all).
 */
async function whenHealthy(change: () => Promise<Run>): Promise<Run> {
  let r = await change();
  for (let i = 0; i < 32 && r.code !== 0 && r.err === 'Error: etcdserver: unhealthy cluster\n'; i++) {
    await sleep(250);
    r = await change();
  }
  return r;
}

/** A URL on `host` where nothing listens: a peer URL for a member that is added but never started. */
async function unusedUrl(host: string): Promise<string> {
  return `http://${host}:${await freePort(host)}`;
}

describe('kvctl member, endpoint hashkv and move-leader against a real 3-member etcd, compared with etcdctl', () => {
  let cluster: Cluster;
  /** m1..m3, the members the cluster started with (the handle also holds m4 once it is prepared). */
  let initial: readonly ClusterMember[];
  /** --endpoints with one member: the answers then come from the same member for both tools. */
  let one: string;
  let all: string;
  let clusterHex: string;
  let joined: ClusterMember | undefined;

  const members = async (): Promise<MemberRow[]> => {
    const r = await ctl([one, 'member', 'list']);
    assert.equal(r.code, 0, r.err);
    return parseMemberList(r.out);
  };
  const pad16 = (hex: string): string => hex.padStart(16, ' ');

  before(async () => {
    assert.ok(existsSync(join(root, 'dist/commands/member/list.js')), 'dist/ is missing or stale: run `npm run build`');
    // Fast heartbeats and elections: joins and leader moves take well under a second.
    cluster = await startCluster({ kind: 'etcd', size: 3, heartbeatMs: 50, electionMs: 500 });
    initial = [...cluster.members];
    one = `--endpoints=${cluster.members[0]?.endpoint}`;
    all = `--endpoints=${cluster.endpoints.join(',')}`;
    const status = await ctl([one, 'endpoint', 'status', '-w', 'json']);
    clusterHex = BigInt(/"cluster_id":(\d+)/.exec(status.out)?.[1] ?? '0').toString(16);
    for (let i = 0; i < 5; i++) assert.equal((await ctl([one, 'put', `k${i}`, `v${i}`])).code, 0);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('member list: the same bytes in every format (and --hex json holds the same members, in hex)', async () => {
    await Promise.all(['simple', 'json', 'table', 'fields'].map((w) => same([one, 'member', 'list', `-w=${w}`])));
    const rows = await members();
    assert.deepEqual(rows.map((m) => [m.name, m.status, m.learner]), [...rows].map((m) => [m.name, 'started', false]));
    assert.deepEqual(rows.map((m) => m.name).sort(), ['m1', 'm2', 'm3']);

    const hex = await kvctl([one, 'member', 'list', '-w', 'json', '--hex']);
    const parsed = JSON.parse(hex.out) as { header: { cluster_id: string }; members: { ID: string; name: string; clientURLS: string[] }[] };
    assert.equal(parsed.header.cluster_id, clusterHex);
    assert.deepEqual(parsed.members.map((m) => [m.ID, m.name, m.clientURLS.join(',')]), rows.map((m) => [m.id, m.name, m.clients]));
    assert.equal((await kvctl([one, 'member', 'list', '--json'])).out, (await kvctl([one, 'member', 'list', '-w', 'json'])).out);
  });

  it('endpoint hashkv: the same bytes in every format, for --endpoints, --cluster and --rev, and on failure', async () => {
    await Promise.all(['simple', 'json', 'table', 'fields'].map((w) => same([all, 'endpoint', 'hashkv', `-w=${w}`])));
    await Promise.all(['simple', 'json'].map((w) => same([one, 'endpoint', 'hashkv', '--cluster', '--rev=3', `-w=${w}`])));
    const hashes = (await kvctl([all, 'endpoint', 'hashkv'])).out.trimEnd().split('\n').map((l) => l.split(', ')[1]);
    assert.equal(hashes.length, 3);
    assert.equal(new Set(hashes).size, 1, 'members that agree have the same hash');
    // A future revision: every endpoint fails; etcdctl reports each, prints what it has, and exits with the error.
    for (const r of await Promise.all(['simple', 'table'].map((w) => same([all, 'endpoint', 'hashkv', '--rev=100000', `-w=${w}`])))) {
      assert.equal(r.code, 1);
      assert.match(r.err, /^Failed to get the hash of endpoint 127\.0\.0\.1:\d+ \(etcdserver: mvcc: required revision is a future revision\)\n/);
    }
    // An endpoint nobody listens on (etcdctl waits out its command timeout and says "context deadline exceeded";
    // kvctl says why at once): the others are still printed, and the exit code is etcdctl's.
    const dead = `127.0.0.3:${await freePort('127.0.0.3')}`;
    const r = await kvctl([`${all},${dead}`, 'endpoint', 'hashkv']);
    assert.equal(r.code, 1);
    assert.equal(r.out.trimEnd().split('\n').length, 3);
    const why = `failed to connect to ${dead}: connection refused`;
    assert.equal(r.err, `Failed to get the hash of endpoint ${dead} (${why})\nError: ${why}\n`);
  });

  it('member update: the same bytes, done and refused', async () => {
    const m3 = (await members()).find((m) => m.name === 'm3');
    assert.ok(m3);
    // Updating to the URL it has changes nothing, so both tools can do it.
    const r = await same([one, 'member', 'update', m3.id, `--peer-urls=${m3.peers}`]);
    assert.equal(r.out, `Member ${pad16(m3.id)} updated in cluster ${pad16(clusterHex)}\n`);
    await same([one, 'member', 'update', m3.id, `--peer-urls=${m3.peers}`, '-w', 'json']);
    const m1 = (await members()).find((m) => m.name === 'm1');
    await sameFailures(
      [one, 'member', 'update'],
      [
        [m3.id, `--peer-urls=${m1?.peers}`], // another member's URL
        ['1234', '--peer-urls=http://127.0.0.1:1'], // no such member
        [m3.id, '--peer-urls=127.0.0.1:2380'], // not a URL: refused before sending (test/client/cluster.test.ts has more)
        [m3.id], // no --peer-urls
        ['zz', '--peer-urls=http://127.0.0.1:1'], // bad ID
        [], // no ID
      ],
    );
  });

  it('member add --learner: prints the ETCD_* settings; the member starts with them, catches up and is promoted', async () => {
    const m4 = await cluster.prepareMember({ name: 'm4' });
    const before = await members();
    const add = await whenHealthy(() => kvctl([one, 'member', 'add', 'm4', `--peer-urls=${m4.peerUrl}`, '--learner']));
    assert.equal(add.code, 0, add.err);
    const lines = add.out.split('\n');
    const id = /^Member ([ 0-9a-f]{16}) added to cluster /.exec(lines[0] ?? '')?.[1]?.trim() ?? '';
    assert.equal(lines[0], `Member ${pad16(id)} added to cluster ${pad16(clusterHex)}`);
    const after = await members();
    const added = after.find((m) => m.id === id);
    assert.deepEqual(added, { id, status: 'unstarted', name: '', peers: m4.peerUrl, clients: '', learner: true });
    assert.equal(after.length, before.length + 1);
    const initialCluster = after.map((m) => `${m.id === id ? 'm4' : m.name}=${m.peers}`).join(',');
    assert.deepEqual(lines.slice(1), [
      '',
      'ETCD_NAME="m4"',
      `ETCD_INITIAL_CLUSTER="${initialCluster}"`,
      `ETCD_INITIAL_ADVERTISE_PEER_URLS="${m4.peerUrl}"`,
      'ETCD_INITIAL_CLUSTER_STATE="existing"',
      '',
    ]);

    // Start it exactly as an operator would: the printed lines as its environment.
    const env = Object.fromEntries(lines.filter((l) => l.startsWith('ETCD_')).map((l) => [l.slice(0, l.indexOf('=')), JSON.parse(l.slice(l.indexOf('=') + 1)) as string]));
    await cluster.startJoining(m4, { env });
    joined = m4;
    let started: MemberRow | undefined;
    for (let i = 0; i < 50 && started?.status !== 'started'; i++) {
      started = (await members()).find((m) => m.id === id);
      if (started?.status !== 'started') await sleep(100);
    }
    assert.deepEqual(started, { id, status: 'started', name: 'm4', peers: m4.peerUrl, clients: m4.clientUrl, learner: true });
    await Promise.all(['simple', 'table', 'json', 'fields'].map((w) => same([one, 'member', 'list', `-w=${w}`])));

    // Promote: etcd refuses until the learner has caught up with the leader, so retry for a while.
    let promote = await kvctl([one, 'member', 'promote', id]);
    for (let i = 0; i < 40 && promote.code !== 0; i++) {
      assert.match(promote.err, /^Error: etcdserver: (can only promote a learner member which is in sync with leader|unhealthy cluster)\n$/);
      await sleep(250);
      promote = await kvctl([one, 'member', 'promote', id]);
    }
    assert.equal(promote.code, 0, promote.err);
    assert.equal(promote.out, `Member ${pad16(id)} promoted in cluster ${pad16(clusterHex)}\n`);
    assert.equal((await members()).find((m) => m.id === id)?.learner, false);
    // Refusals: a voting member, an unknown one, a bad ID, a format etcdctl has no printer for.
    const m1 = (await members()).find((m) => m.name === 'm1');
    await sameFailures([one, 'member', 'promote'], [[m1?.id ?? ''], ['1234'], ['0x12'], ['a', 'b']]);
    const table = await kvctl([one, 'member', 'promote', id, '-w', 'table']);
    assert.deepEqual([table.code, table.err], [4, 'Error: table not supported as output format\n']);
  });

  it('member add (voter) and remove: the same bytes as etcdctl once the new random ID is masked', async () => {
    // A fresh peer URL for every add: etcd derives a member's ID from its peer URLs and the time in seconds, and
    // refuses a removed ID for good ("member not found"), so the same URL twice in a second would fail.
    const masked = async (tool: (a: readonly string[]) => Promise<Run>, w: string): Promise<string> => {
      const peerUrl = await unusedUrl('127.0.0.2');
      const add = await whenHealthy(() => tool([one, 'member', 'add', 'm5', `--peer-urls=${peerUrl}`, `-w=${w}`]));
      assert.equal(add.code, 0, add.err);
      const list = await members();
      const id = list.find((m) => m.peers === peerUrl)?.id ?? '';
      assert.notEqual(id, '');
      const remove = await whenHealthy(() => tool([one, 'member', 'remove', id]));
      assert.deepEqual([remove.code, remove.out], [0, `Member ${pad16(id)} removed from cluster ${pad16(clusterHex)}\n`]);
      // Members are listed by ID, so where the new one sits depends on its random ID: check its place against the
      // member list, then take it out of the comparison.
      let out = add.out;
      if (w === 'simple') {
        const initialCluster = `ETCD_INITIAL_CLUSTER="${list.map((m) => `${m.id === id ? 'm5' : m.name}=${m.peers}`).join(',')}"`;
        assert.ok(out.includes(`\n${initialCluster}\n`), out);
        out = out.replace(initialCluster, 'ETCD_INITIAL_CLUSTER=<as listed>');
      }
      out = out.replaceAll(pad16(id), 'NEW-ID').replaceAll(BigInt(`0x${id}`).toString(), 'NEW-ID').replaceAll(peerUrl, 'NEW-URL');
      return w === 'json' ? withoutListed(out, '"ID":NEW-ID,') : out;
    };
    for (const w of ['simple', 'json']) {
      const ours = await masked(kvctl, w);
      const theirs = await masked(ctl, w);
      assert.equal(ours, theirs, `member add -w ${w}`);
      assert.ok(ours.includes('NEW-ID') && ours.includes('NEW-URL'));
    }
    assert.equal((await members()).length, 4);
    // Refusals, all before anything is sent.
    await sameFailures([one, 'member', 'add'], [[], ['a', 'http://127.0.0.1:1'], ['a'], ['a', '--peer-urls=http://[::1']]);
    await sameFailures([one, 'member', 'remove'], [['1234'], ['zz'], []]);
    assert.equal((await members()).length, 4);
  });

  it('move-leader: asks each endpoint for its status, moves the leadership, refuses as etcdctl does', async () => {
    const leaderOf = async (): Promise<{ leader: string; endpoint: string }> => {
      const r = await ctl([all, 'endpoint', 'status']);
      const row = r.out.split('\n').map((l) => l.split(', ')).find((c) => c[4] === 'true');
      return { leader: row?.[1] ?? '', endpoint: row?.[0] ?? '' };
    };
    const before = await leaderOf();
    assert.notEqual(before.leader, '');
    const voters = (await members()).filter((m) => !m.learner && m.name !== 'm4');
    const target = voters.find((m) => m.id !== before.leader);
    assert.ok(target);
    const moved = await kvctl([all, 'move-leader', target.id]);
    assert.equal(moved.code, 0, moved.err);
    assert.equal(moved.out, `Leadership transferred from ${before.leader} to ${target.id}\n`);
    assert.equal((await leaderOf()).leader, target.id);
    // etcdctl moves it back, and prints the same sentence the other way round.
    const back = await ctl([all, 'move-leader', before.leader]);
    assert.equal(back.out, `Leadership transferred from ${target.id} to ${before.leader}\n`);

    // -w json prints the response etcd sent (etcd 3.4's has no header): both tools, one move each.
    const now = await leaderOf();
    const other = voters.find((m) => m.id !== now.leader)?.id ?? '';
    const jsonOurs = await kvctl([all, 'move-leader', other, '-w', 'json']);
    const jsonTheirs = await ctl([all, 'move-leader', now.leader, '-w', 'json']);
    assert.deepEqual([jsonOurs.code, jsonOurs.out], [jsonTheirs.code, jsonTheirs.out]);

    // The leader not among --endpoints; a transferee that is not a member; bad arguments.
    const leader = await leaderOf();
    const followers = initial.filter((m) => m.endpoint !== leader.endpoint).map((m) => m.endpoint);
    const noLeader = await same([`--endpoints=${followers.join(',')}`, 'move-leader', other]);
    assert.equal(noLeader.code, 128);
    await sameFailures([all, 'move-leader'], [['1234'], ['zz'], []]);
    const fields = await kvctl([all, 'move-leader', other, '-w', 'fields']);
    assert.deepEqual([fields.code, fields.err], [4, 'Error: fields not supported as output format\n']);
    assert.equal((await leaderOf()).leader, leader.leader, 'a refused format moves nothing');
  });

  it('member remove of the joined member; hashkv --cluster then covers the three left', async () => {
    const m4 = (await members()).find((m) => m.name === 'm4');
    assert.ok(m4);
    const r = await whenHealthy(() => kvctl([one, 'member', 'remove', m4.id]));
    assert.deepEqual([r.code, r.out, r.err], [0, `Member ${pad16(m4.id)} removed from cluster ${pad16(clusterHex)}\n`, '']);
    await joined?.kill9();
    assert.deepEqual((await members()).map((m) => m.name).sort(), ['m1', 'm2', 'm3']);
    await same([one, 'member', 'remove', m4.id]);
    const hk = await same([one, 'endpoint', 'hashkv', '--cluster']);
    assert.equal(hk.out.trimEnd().split('\n').length, 3);
  });
});
