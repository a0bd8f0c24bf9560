// End-to-end: the real etcdctl 3.4 (and kvctl's own CLI) as the independent client of a 3-member `kvctl node`
// cluster on 127.0.0.1/.2/.3 (test/support/cluster.ts): membership listings, endpoint status/health/hashkv over the
// whole cluster, reads of one member's writes on every member, a txn through a follower, a watch on one member
// seeing another member's puts, a lease used through three members, leadership transfer and its refusals, a learner
// added/started/promoted/updated/removed, and the leader removed through a follower. Every assertion is on what the
// tools print.
//
// The expected outputs are etcd's: the same suite passes against a real etcd 3.4 cluster, which is how they were
// checked. To run it that way: KVCTL_ETCDCTL_SUITE_KIND=etcd node scripts/run-tests.mjs <this file>. Built CLI:
// `npm run build` first.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { ClusterApi } from '../../src/client/index.js';
import { type Cluster, type ClusterKind, type ClusterMember, startCluster } from '../support/cluster.js';
import { type EtcdctlRun, etcdctl, withoutClientLogs } from '../support/etcdctl.js';
import { freePort } from '../support/ports.js';
import { reapProcess, releaseProcess } from '../support/reaper.js';
import { waitFor } from '../support/wait.js';
import { kvctl, root } from './kvctl.js';

const kind: ClusterKind = process.env.KVCTL_ETCDCTL_SUITE_KIND === 'etcd' ? 'etcd' : 'kvctl';

const errOf = (r: EtcdctlRun): string => withoutClientLogs(r.stderr);

/** The client library's warnings about calls it had to retry ("retrying of unary invoker failed"...). */
const retriesOf = (r: EtcdctlRun): string[] => r.stderr.split('\n').filter((l) => l.startsWith('{"level":"warn"'));

/** `etcdctl member add|update|remove|promote ...`, again while etcd refuses it with "unhealthy cluster": with its
 * strict reconfiguration check, a change waits until the leader has been connected to every voter for 5 s. */
async function whenHealthy(endpoints: string, args: readonly string[]): Promise<EtcdctlRun> {
  let r = await etcdctl(endpoints, args);
  for (let i = 0; i < 40 && r.code !== 0 && errOf(r) === 'Error: etcdserver: unhealthy cluster\n'; i++) {
    await sleep(250);
    r = await etcdctl(endpoints, args);
  }
  return r;
}

/** `%16x`, as etcdctl prints ids in "Member ... added to cluster ...". */
const pad16 = (hex: string): string => hex.padStart(16, ' ');

type MemberRow = { id: string; status: string; name: string; peers: string; clients: string; learner: string };

/** `member list` (simple): `id, status, name, peer urls, client urls, is learner` per line. */
function parseMemberList(r: EtcdctlRun): MemberRow[] {
  assert.equal(r.code, 0, errOf(r));
  return r.stdout
    .trimEnd()
    .split('\n')
    .map((line) => {
      const [id = '', status = '', name = '', peers = '', clients = '', learner = '', ...rest] = line.split(', ');
      assert.equal(rest.length, 0, line);
      return { id, status, name, peers, clients, learner };
    });
}

type StatusRow = { endpoint: string; id: string; isLeader: boolean; isLearner: boolean; term: string; index: string; errors: string };

/**
 * `endpoint status` (simple): `endpoint, id, version, db size, is leader, is learner, term, index, applied, errors`
 * per line, every cell followed by ", " (errors is empty when there are none).
 */
function parseStatus(r: EtcdctlRun): StatusRow[] {
  assert.equal(r.code, 0, `endpoint status failed (${r.code}): ${errOf(r)}`);
  return r.stdout
    .trimEnd()
    .split('\n')
    .map((line) => {
      const cells = line.split(',').map((c) => c.trim());
      assert.equal(cells.length, 10, line);
      const [endpoint = '', id = '', , , isLeader = '', isLearner = '', term = '', index = '', , errors = ''] = cells;
      return { endpoint, id, isLeader: isLeader === 'true', isLearner: isLearner === 'true', term, index, errors };
    });
}

/** Exactly one row says it leads; every row is at the same term, without errors. Returns the leader's row. */
function oneLeader(rows: readonly StatusRow[]): StatusRow {
  const leaders = rows.filter((r) => r.isLeader);
  assert.equal(leaders.length, 1, `exactly one leader: ${JSON.stringify(rows)}`);
  assert.equal(new Set(rows.map((r) => r.term)).size, 1, `one raft term: ${JSON.stringify(rows)}`);
  assert.ok(rows.every((r) => r.errors === ''), JSON.stringify(rows));
  return leaders[0] as StatusRow;
}

describe(`the real etcdctl (and kvctl's CLI) against a 3-member ${kind} cluster`, { timeout: 150_000 }, () => {
  let cluster: Cluster;
  /** Every member's endpoint, comma separated (for --endpoints). */
  let all: string;
  let clusterHex: string;
  const watchers = new Set<ChildProcess>();

  const ctl = (member: ClusterMember | string, args: readonly string[]): Promise<EtcdctlRun> =>
    etcdctl(typeof member === 'string' ? member : member.endpoint, args);
  const members = async (via: ClusterMember | string): Promise<MemberRow[]> => parseMemberList(await ctl(via, ['member', 'list']));
  const status = async (endpoints: string): Promise<StatusRow[]> => parseStatus(await etcdctl(endpoints, ['endpoint', 'status']));
  /** Who leads among m1..m3 (by etcdctl's `endpoint status`), its id, and the other two. */
  const roles = async (): Promise<{ leader: ClusterMember; followers: ClusterMember[]; leaderId: string }> => {
    const rows = await status(all);
    const row = oneLeader(rows);
    const leader = cluster.members.find((m) => m.endpoint === row.endpoint);
    assert.ok(leader);
    return { leader, followers: cluster.members.slice(0, 3).filter((m) => m !== leader), leaderId: row.id };
  };
  const idOf = async (m: ClusterMember): Promise<string> => {
    const id = (await members(cluster.members[0] as ClusterMember)).find((r) => r.name === m.name)?.id;
    assert.ok(id, `${m.name} is listed`);
    return id;
  };
  /** Runs the built kvctl with none of the user's ETCDCTL_* settings. */
  const ours = (args: readonly string[]) => kvctl(args, { env: { ETCDCTL_ENDPOINTS: '', ETCDCTL_WRITE_OUT: '' } });

  before(async () => {
    assert.ok(existsSync(join(root, 'dist/commands/member/list.js')), 'dist/ is missing or stale: run `npm run build`');
    cluster = await startCluster({ kind, size: 3 });
    all = cluster.endpoints.join(',');
    const s = await ctl(cluster.members[0] as ClusterMember, ['endpoint', 'status', '-w', 'json']);
    // Parsed as text: JSON.parse would round the 64-bit id.
    clusterHex = BigInt(/"cluster_id":(\d+)/.exec(s.stdout)?.[1] ?? '0').toString(16);
    assert.notEqual(clusterHex, '0', s.stdout + s.stderr);
  });

  after(async () => {
    for (const w of watchers) w.kill('SIGKILL');
    await cluster?.stop();
  });

  it('member list (-w table and json) shows three started members with their names and URLs, on every member', async () => {
    const expected = cluster.members.map((m) => ({ name: m.name, peers: m.peerUrl, clients: m.clientUrl })).sort((a, b) => a.name.localeCompare(b.name));
    const rows = await members(cluster.members[0] as ClusterMember);
    assert.deepEqual(rows.map((r) => ({ name: r.name, peers: r.peers, clients: r.clients })).sort((a, b) => a.name.localeCompare(b.name)), expected);
    assert.ok(rows.every((r) => r.status === 'started' && r.learner === 'false' && /^[0-9a-f]{1,16}$/.test(r.id)), JSON.stringify(rows));
    assert.equal(new Set(rows.map((r) => r.id)).size, 3);

    const table = await ctl(cluster.members[1] as ClusterMember, ['member', 'list', '-w', 'table']);
    assert.equal(table.code, 0, errOf(table));
    const lines = table.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 7, table.stdout);
    assert.match(lines[0] ?? '', /^\+-+\+-+\+-+\+-+\+-+\+-+\+$/);
    assert.deepEqual(lines[1]?.split('|').map((c) => c.trim()), ['', 'ID', 'STATUS', 'NAME', 'PEER ADDRS', 'CLIENT ADDRS', 'IS LEARNER', '']);
    const cells = lines.slice(3, 6).map((l) => l.split('|').map((c) => c.trim()).slice(1, 7));
    assert.deepEqual(cells, rows.map((r) => [r.id, r.status, r.name, r.peers, r.clients, r.learner]), 'the table lists what simple lists, in the same order');

    const json = await ctl(cluster.members[2] as ClusterMember, ['member', 'list', '-w', 'json']);
    assert.equal(json.code, 0, errOf(json));
    const parsed = JSON.parse(json.stdout) as { members: { name: string; peerURLs: string[]; clientURLs: string[]; isLearner?: boolean }[] };
    assert.deepEqual(parsed.members.map((m) => [m.name, m.peerURLs, m.clientURLs, m.isLearner]), rows.map((r) => [r.name, [r.peers], [r.clients], undefined]));
    const ids = [...json.stdout.matchAll(/"ID":(\d+)/g)].map((m) => BigInt(m[1] ?? '').toString(16));
    assert.deepEqual(ids, rows.map((r) => r.id));
    assert.equal(BigInt(/"cluster_id":(\d+)/.exec(json.stdout)?.[1] ?? '0').toString(16), clusterHex);

    // Every member lists the same members; kvctl prints the same bytes as etcdctl.
    for (const m of cluster.members) assert.deepEqual(await members(m), rows, `member list through ${m.name}`);
    for (const w of ['simple', 'table']) {
      const theirs = await ctl(cluster.members[0] as ClusterMember, ['member', 'list', `-w=${w}`]);
      const mine = await ours(['member', 'list', `--endpoints=${cluster.members[0]?.endpoint}`, `-w=${w}`]);
      assert.deepEqual([mine.code, mine.stdout, mine.stderr], [0, theirs.stdout, ''], `kvctl member list -w ${w}`);
    }
  });

  it('member list -w json: the response header etcd sends (cluster id, member id, raft term; no revision)', async () => {
    // etcd's cluster service fills only these three; a revision there would be printed by etcdctl as well.
    for (const m of cluster.members) {
      const json = await ctl(m, ['member', 'list', '-w', 'json']);
      assert.match(json.stdout, /^\{"header":\{"cluster_id":\d+,"member_id":\d+,"raft_term":\d+\},"members":\[/, `through ${m.name}`);
    }
  });

  // The first reads of the suite. `endpoint health` sends one linearizable Get to every endpoint at once: reads
  // through two followers at the same moment, which must not wait for each other (nor be lost).
  it('endpoint status, health and hashkv over --endpoints: every member, one leader, one term, one hash', async () => {
    const rows = await status(all);
    assert.deepEqual(rows.map((r) => r.endpoint), cluster.endpoints);
    oneLeader(rows);
    assert.ok(rows.every((r) => !r.isLearner));
    assert.deepEqual(rows.map((r) => r.id).sort(), (await members(all)).map((r) => r.id).sort());

    // etcdctl prints health on stderr. "took" is the time of one linearizable Get per endpoint, all sent at once:
    // etcd takes milliseconds, and needs no retry.
    const health = await etcdctl(all, ['endpoint', 'health']);
    assert.equal(health.code, 0, errOf(health));
    const healthLines = errOf(health).trimEnd().split('\n').sort();
    assert.equal(healthLines.length, 3, health.stderr);
    cluster.endpoints.forEach((ep, i) =>
      assert.match(healthLines[i] ?? '', new RegExp(`^${ep.replaceAll('.', '\\.')} is healthy: successfully committed proposal: took = [\\d.]+(ns|µs|ms)$`)),
    );
    assert.deepEqual(retriesOf(health), []);

    for (let i = 0; i < 9; i++) assert.equal((await ctl(cluster.members[i % 3] as ClusterMember, ['put', `e/${i}`, `${i}`])).stdout, 'OK\n');
    await cluster.waitConverged();
    const hk = await etcdctl(all, ['endpoint', 'hashkv']);
    assert.equal(hk.code, 0, errOf(hk));
    const hashes = hk.stdout.trimEnd().split('\n').map((l) => l.split(', '));
    assert.deepEqual(hashes.map((h) => h[0]), cluster.endpoints);
    assert.equal(new Set(hashes.map((h) => h[1])).size, 1, hk.stdout);
  });

  it('writes through one member are read from every member (linearizable, then serializable); a txn through a follower', async () => {
    const writer = cluster.members[0] as ClusterMember;
    for (let i = 0; i < 10; i++) assert.equal((await ctl(writer, ['put', `w/${i}`, `v${i}`])).stdout, 'OK\n');
    const expected = Array.from({ length: 10 }, (_, i) => `w/${i}\nv${i}\n`).join('');
    // Linearizable (etcdctl's default): right after the acknowledgement, from every member.
    for (const m of cluster.members) {
      const r = await ctl(m, ['get', 'w/', '--prefix']);
      assert.deepEqual([r.code, r.stdout, errOf(r)], [0, expected, ''], `get through ${m.name}`);
    }

    const { leader, followers } = await roles();
    const follower = followers[0] as ClusterMember;
    const txn = await etcdctl(follower.endpoint, ['txn'], { input: 'value("w/1") = "v1"\n\nput w/1 t1\nput t/x y\n\nput w/1 failed\n\n' });
    assert.deepEqual([txn.code, txn.stdout, errOf(txn)], [0, 'SUCCESS\n\nOK\n\nOK\n', ''], 'txn through a follower');
    const failed = await etcdctl(followers[1]?.endpoint ?? '', ['txn'], { input: 'value("w/1") = "v1"\n\nput t/x no\n\nget w/1\n\n' });
    assert.deepEqual([failed.code, failed.stdout, errOf(failed)], [0, 'FAILURE\n\nw/1\nt1\n', ''], 'the else branch through the other follower');
    const onLeader = await ctl(leader, ['get', 'w/1']);
    assert.equal(onLeader.stdout, 'w/1\nt1\n');
    assert.equal((await ctl(leader, ['get', 't/x'])).stdout, 't/x\ny\n');

    // Serializable: every member answers from its own store, which has everything once the cluster has converged.
    await cluster.waitConverged();
    const all10 = expected.replace('w/1\nv1\n', 'w/1\nt1\n');
    for (const m of cluster.members) {
      const r = await ctl(m, ['get', 'w/', '--prefix', '--consistency=s']);
      assert.deepEqual([r.code, r.stdout], [0, all10], `serializable get through ${m.name}`);
    }
  });

  it('endpoint status --cluster: every member (by its advertised client URL), exactly one leader, one term', async () => {
    const r = await ctl(cluster.members[0] as ClusterMember, ['endpoint', 'status', '--cluster']);
    const rows = parseStatus(r);
    assert.deepEqual(rows.map((x) => x.endpoint).sort(), cluster.members.map((m) => m.clientUrl).sort());
    oneLeader(rows);
    assert.deepEqual(retriesOf(r), []);
  });

  it('endpoint health --cluster: every member healthy, each answering in under a second, with no retry', async () => {
    const r = await ctl(cluster.members[1] as ClusterMember, ['endpoint', 'health', '--cluster']);
    assert.equal(r.code, 0, errOf(r));
    const lines = errOf(r).trimEnd().split('\n');
    assert.deepEqual(lines.map((l) => l.split(' ')[0]).sort(), cluster.members.map((m) => m.clientUrl).sort());
    // "took" is the time of one linearizable Get per member, all three sent at once; etcd takes milliseconds.
    for (const l of lines) assert.match(l, /^\S+ is healthy: successfully committed proposal: took = [\d.]+(ns|µs|ms)$/);
    assert.deepEqual(retriesOf(r), []);
  });

  it('endpoint hashkv --cluster: the same hash on every member after writes (etcdctl and kvctl)', async () => {
    for (let i = 0; i < 20; i++) {
      const put = await ctl(cluster.members[i % 3] as ClusterMember, ['put', `h/${i}`, `x${i}`]);
      assert.equal(put.stdout, 'OK\n', put.stderr);
    }
    await cluster.waitConverged();
    const mine = await ours(['endpoint', 'hashkv', '--cluster', `--endpoints=${cluster.members[0]?.endpoint}`]);
    assert.equal(mine.code, 0, mine.stderr);
    const myHashes = mine.stdout.trimEnd().split('\n').map((l) => l.split(', '));
    assert.deepEqual(myHashes.map((h) => h[0]).sort(), cluster.members.map((m) => m.clientUrl).sort());
    assert.equal(new Set(myHashes.map((h) => h[1])).size, 1, mine.stdout);

    const theirs = await ctl(cluster.members[0] as ClusterMember, ['endpoint', 'hashkv', '--cluster']);
    assert.deepEqual([theirs.code, errOf(theirs)], [0, ''], 'etcdctl endpoint hashkv --cluster');
    assert.equal(theirs.stdout, mine.stdout, 'kvctl prints what etcdctl prints');
  });

  it('a watch opened on one member sees the puts and deletes made through the others', async () => {
    const [a, b, c] = cluster.members as [ClusterMember, ClusterMember, ClusterMember];
    const head = await ctl(a, ['get', 'wa/', '-w', 'json']);
    const rev = Number(/"revision":(\d+)/.exec(head.stdout)?.[1]);
    assert.ok(rev > 0, head.stdout);
    // From the next revision on: what the watch prints does not depend on when it got registered.
    const watch = spawn('etcdctl', ['--endpoints', a.endpoint, '--dial-timeout', '3s', 'watch', 'wa/', '--prefix', `--rev=${rev + 1}`], {
      env: { ...process.env, ETCDCTL_API: '3' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    watchers.add(watch);
    reapProcess(watch);
    watch.once('exit', () => releaseProcess(watch));
    let out = '';
    let err = '';
    watch.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    watch.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    try {
      assert.equal((await ctl(b, ['put', 'wa/1', 'one'])).stdout, 'OK\n');
      assert.equal((await ctl(c, ['put', 'wa/2', 'two'])).stdout, 'OK\n');
      assert.equal((await ctl(b, ['del', 'wa/1'])).stdout, '1\n');
      const expected = 'PUT\nwa/1\none\nPUT\nwa/2\ntwo\nDELETE\nwa/1\n\n';
      await waitFor(() => out.length >= expected.length || watch.exitCode !== null, { timeoutMs: 10_000, what: `the watch on ${a.name} to print 3 events` }).catch(
        (e: unknown) => assert.fail(`${String(e)}; printed so far: ${JSON.stringify(out)}, stderr: ${err}`),
      );
      assert.equal(out, expected, `stderr: ${err}`);
    } finally {
      watch.kill('SIGKILL');
      watchers.delete(watch);
    }
  });

  it('a lease granted through one member is kept alive through another and inspected through a third', async () => {
    const { leader, followers } = await roles();
    const [f1, f2] = followers as [ClusterMember, ClusterMember];
    const grant = await ctl(f1, ['lease', 'grant', '60']);
    const id = /^lease ([0-9a-f]{16}) granted with TTL\(60s\)\n$/.exec(grant.stdout)?.[1];
    assert.ok(id, `lease grant through ${f1.name}: ${grant.stdout}${errOf(grant)}`);
    assert.equal((await ctl(f1, ['put', 'l/k', 'v', `--lease=${id}`])).stdout, 'OK\n');
    await sleep(1100);
    const keep = await ctl(f2, ['lease', 'keep-alive', '--once', id]);
    assert.deepEqual([keep.code, keep.stdout, errOf(keep)], [0, `lease ${id} keepalived with TTL(60)\n`, ''], `keep-alive through ${f2.name}`);
    for (const m of [leader, f1]) {
      const ttl = await ctl(m, ['lease', 'timetolive', id, '--keys']);
      assert.equal(ttl.code, 0, errOf(ttl));
      const remaining = Number(/^lease [0-9a-f]+ granted with TTL\(60s\), remaining\((\d+)s\), attached keys\(\[l\/k\]\)\n$/.exec(ttl.stdout)?.[1]);
      assert.ok(remaining >= 57 && remaining <= 60, `timetolive through ${m.name}: ${ttl.stdout}`);
    }
    const revoke = await ctl(f2, ['lease', 'revoke', id]);
    assert.equal(revoke.stdout, `lease ${id} revoked\n`);
    for (const m of cluster.members) assert.equal((await ctl(m, ['get', 'l/k'])).stdout, '', `the lease's key is gone on ${m.name}`);
    const gone = await ctl(leader, ['lease', 'timetolive', id]);
    assert.equal(gone.stdout, `lease ${id} already expired\n`);
  });

  it('move-leader hands the leadership to a follower (etcdctl, then kvctl back); refusals are etcd\'s', async () => {
    const before = await roles();
    const target = before.followers[0] as ClusterMember;
    const targetId = await idOf(target);
    const moved = await etcdctl(all, ['move-leader', targetId]);
    assert.deepEqual([moved.code, moved.stdout, errOf(moved)], [0, `Leadership transferred from ${before.leaderId} to ${targetId}\n`, '']);
    const after = await roles();
    assert.deepEqual([after.leader.name, after.leaderId], [target.name, targetId]);

    // A transferee that is not a member.
    const bad = await etcdctl(all, ['move-leader', '1234']);
    assert.deepEqual([bad.code, bad.stdout, errOf(bad)], [1, '', 'Error: etcdserver: bad leader transferee\n']);
    // Only followers given: etcdctl finds no leader to ask (its own check, exit 128).
    const followerEps = after.followers.map((m) => m.endpoint);
    const noLeader = await etcdctl(followerEps.join(','), ['move-leader', before.leaderId]);
    assert.deepEqual([noLeader.code, errOf(noLeader)], [128, `Error: no leader endpoint given at [${followerEps.join(' ')}]\n`]);
    // The MoveLeader call itself sent to a follower.
    const client = cluster.client({ endpoints: followerEps });
    await assert.rejects(new ClusterApi(client).moveLeader(followerEps[0] as string, BigInt(`0x${before.leaderId}`)), { message: 'etcdserver: not leader' });
    assert.equal((await roles()).leaderId, targetId, 'nothing moved');

    // kvctl moves it back.
    const back = await ours(['move-leader', before.leaderId, `--endpoints=${all}`]);
    assert.deepEqual([back.code, back.stdout, back.stderr], [0, `Leadership transferred from ${targetId} to ${before.leaderId}\n`, '']);
    assert.equal((await roles()).leaderId, before.leaderId);
  });

  /** The member the learner tests add (m4 on 127.0.0.4), once `member add` accepted it. */
  let learner: { m4: ClusterMember; id: string; initialCluster: string } | undefined;
  const added = (): { m4: ClusterMember; id: string; initialCluster: string; via: ClusterMember } => {
    assert.ok(learner, 'needs the member added by "member add --learner" above');
    return { ...learner, via: cluster.members[0] as ClusterMember };
  };

  it('member add --learner prints the ETCD_* settings; refusals: a peer URL in use, an unknown id, promoting a voter', async () => {
    const m4 = await cluster.prepareMember({ name: 'm4' });
    const via = cluster.members[0] as ClusterMember;

    const add = await whenHealthy(via.endpoint, ['member', 'add', 'm4', `--peer-urls=${m4.peerUrl}`, '--learner']);
    assert.equal(add.code, 0, errOf(add));
    const lines = add.stdout.split('\n');
    const id = /^Member ([ 0-9a-f]{16}) added to cluster /.exec(lines[0] ?? '')?.[1]?.trim() ?? '';
    assert.equal(lines[0], `Member ${pad16(id)} added to cluster ${pad16(clusterHex)}`);
    const listed = await members(via);
    assert.deepEqual(listed.find((r) => r.id === id), { id, status: 'unstarted', name: '', peers: m4.peerUrl, clients: '', learner: 'true' });
    const initialCluster = listed.map((r) => `${r.id === id ? 'm4' : r.name}=${r.peers}`).join(',');
    assert.deepEqual(lines.slice(1), [
      '',
      'ETCD_NAME="m4"',
      `ETCD_INITIAL_CLUSTER="${initialCluster}"`,
      `ETCD_INITIAL_ADVERTISE_PEER_URLS="${m4.peerUrl}"`,
      'ETCD_INITIAL_CLUSTER_STATE="existing"',
      '',
    ]);

    // Refusals: a peer URL a member has (not its URL alone: etcd derives the new id from the URLs and the time in
    // seconds, so that could be "member ID already exist" instead); an unknown id; promoting a voter.
    const again = await whenHealthy(all, ['member', 'add', 'again', `--peer-urls=${via.peerUrl}`]);
    assert.deepEqual([again.code, again.stdout, errOf(again)], [1, '', 'Error: etcdserver: Peer URLs already exists\n']);
    const unknown = await etcdctl(all, ['member', 'remove', '1234']);
    assert.deepEqual([unknown.code, unknown.stdout, errOf(unknown)], [1, '', 'Error: etcdserver: member not found\n']);
    const voter = await etcdctl(all, ['member', 'promote', await idOf(via)]);
    assert.deepEqual([voter.code, voter.stdout, errOf(voter)], [1, '', 'Error: etcdserver: can only promote a learner member\n']);

    learner = { m4, id, initialCluster };
  });

  it('the learner starts with the printed settings and catches up', async () => {
    const { m4, id, initialCluster, via } = added();
    await cluster.startJoining(m4, { initialCluster });
    const started = await waitFor(
      async () => {
        const row = (await members(via)).find((r) => r.id === id);
        return row?.status === 'started' ? row : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 200, what: 'm4 to be listed as started' },
    );
    assert.deepEqual(started, { id, status: 'started', name: 'm4', peers: m4.peerUrl, clients: m4.clientUrl, learner: 'true' });
    const learnerStatus = (await status(m4.endpoint))[0];
    assert.deepEqual([learnerStatus?.id, learnerStatus?.isLearner, learnerStatus?.isLeader], [id, true, false]);
    // It catches up: it serves what was written before it joined, from its own store (a learner serves serializable
    // reads only; etcd refuses it linearizable reads and HashKV).
    await waitFor(async () => (await ctl(m4, ['get', 'w/9', '--consistency=s'])).stdout === 'w/9\nv9\n', {
      timeoutMs: 10_000,
      intervalMs: 200,
      what: 'the learner m4 to serve w/9',
    });
  });

  it('the learner refuses linearizable reads and HashKV as etcd does', async () => {
    const { m4 } = added();
    const onLearner = cluster.client({ endpoints: [m4.endpoint], commandTimeoutMs: 3000 });
    const outcome = async (call: Promise<unknown>): Promise<string> =>
      call.then(
        () => 'answered',
        (e: unknown) => (e instanceof Error ? e.message : String(e)),
      );
    const refused = 'etcdserver: rpc not supported for learner';
    assert.deepEqual(
      { linearizableRange: await outcome(onLearner.range('w/9')), hashKV: await outcome(onLearner.hashKV(m4.endpoint)) },
      { linearizableRange: refused, hashKV: refused },
    );
  });

  it('member promote: refused until the learner is in sync, then done; promoting it again is refused', async () => {
    const { id, via } = added();
    // etcd refuses to promote a learner that is not in sync with the leader yet: ask again for a while.
    let promote = await etcdctl(all, ['member', 'promote', id]);
    for (let i = 0; i < 40 && promote.code !== 0; i++) {
      assert.match(errOf(promote), /^Error: etcdserver: (can only promote a learner member which is in sync with leader|unhealthy cluster)\n$/);
      await sleep(250);
      promote = await etcdctl(all, ['member', 'promote', id]);
    }
    assert.deepEqual([promote.code, promote.stdout, errOf(promote)], [0, `Member ${pad16(id)} promoted in cluster ${pad16(clusterHex)}\n`, '']);
    assert.equal((await members(via)).find((r) => r.id === id)?.learner, 'false');
    const promotedAgain = await etcdctl(all, ['member', 'promote', id]);
    assert.deepEqual([promotedAgain.code, errOf(promotedAgain)], [1, 'Error: etcdserver: can only promote a learner member\n']);
  });

  it('member update of its peer URL to another port and back; refused for a URL another member has', async () => {
    const { m4, id, via } = added();
    // It listens on its first URL only: while the cluster knows it by the other one, it hears nobody.
    const elsewhere = `http://${m4.host}:${await freePort(m4.host)}`;
    const update = await etcdctl(all, ['member', 'update', id, `--peer-urls=${elsewhere}`]);
    assert.deepEqual([update.code, update.stdout, errOf(update)], [0, `Member ${pad16(id)} updated in cluster ${pad16(clusterHex)}\n`, '']);
    for (const m of cluster.members.slice(0, 3)) assert.equal((await members(m)).find((r) => r.id === id)?.peers, elsewhere, `through ${m.name}`);
    const taken = await etcdctl(all, ['member', 'update', id, `--peer-urls=${via.peerUrl}`]);
    assert.deepEqual([taken.code, errOf(taken)], [1, 'Error: etcdserver: Peer URLs already exists\n']);
    const back = await etcdctl(all, ['member', 'update', id, `--peer-urls=${m4.peerUrl}`]);
    assert.deepEqual([back.code, back.stdout], [0, `Member ${pad16(id)} updated in cluster ${pad16(clusterHex)}\n`]);
    assert.equal((await members(via)).find((r) => r.id === id)?.peers, m4.peerUrl);
    assert.equal((await ctl(via, ['put', 'after/update', 'u'])).stdout, 'OK\n');
    await cluster.waitConverged();
    assert.equal((await ctl(m4, ['get', 'after/update', '--consistency=s'])).stdout, 'after/update\nu\n', 'm4 hears the cluster again');
  });

  it('member remove of the added member: it exits by itself; removing it again: "member not found"', async () => {
    const { m4, id, via } = added();
    const remove = await whenHealthy(all, ['member', 'remove', id]);
    assert.deepEqual([remove.code, remove.stdout, errOf(remove)], [0, `Member ${pad16(id)} removed from cluster ${pad16(clusterHex)}\n`, '']);
    await waitFor(() => !m4.running(), { timeoutMs: 15_000, intervalMs: 100, what: 'the removed m4 to exit by itself' }).catch((e: unknown) =>
      assert.fail(`${String(e)}\n--- m4 log (tail) ---\n${m4.log().split('\n').slice(-20).join('\n')}`),
    );
    assert.deepEqual((await members(via)).map((r) => r.name).sort(), ['m1', 'm2', 'm3']);
    const removedAgain = await etcdctl(all, ['member', 'remove', id]);
    assert.deepEqual([removedAgain.code, errOf(removedAgain)], [1, 'Error: etcdserver: member not found\n']);
  });

  it('removing the leader through a follower: the leadership moves, the cluster keeps a leader, the old leader exits', async () => {
    const { leader, followers, leaderId } = await roles();
    const via = followers[0] as ClusterMember;
    const before = await members(via);
    const remove = await whenHealthy(via.endpoint, ['member', 'remove', leaderId]);
    // What the cluster did first, then what etcdctl was told.
    await waitFor(() => !leader.running(), { timeoutMs: 15_000, intervalMs: 100, what: `the removed leader ${leader.name} to exit by itself` }).catch((e: unknown) =>
      assert.fail(`${String(e)}\n--- ${leader.name} log (tail) ---\n${leader.log().split('\n').slice(-20).join('\n')}`),
    );
    const left = followers.map((m) => m.endpoint).join(',');
    const rows = await waitFor(
      async () => {
        const r = await etcdctl(left, ['endpoint', 'status']);
        if (r.code !== 0) return undefined;
        const parsed = parseStatus(r);
        return parsed.filter((x) => x.isLeader).length === 1 && new Set(parsed.map((x) => x.term)).size === 1 ? parsed : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 200, what: 'one leader among the two members left' },
    );
    assert.notEqual(oneLeader(rows).id, leaderId);
    assert.deepEqual(await members(left), before.filter((r) => r.id !== leaderId));
    for (const m of followers) assert.equal((await ctl(m, ['put', `left/${m.name}`, 'ok'])).stdout, 'OK\n', `a write through ${m.name}`);
    assert.equal((await ctl(via, ['get', 'left/', '--prefix', '--keys-only'])).stdout, followers.map((m) => `left/${m.name}\n\n`).join(''));
    assert.deepEqual([remove.code, remove.stdout, errOf(remove)], [0, `Member ${pad16(leaderId)} removed from cluster ${pad16(clusterHex)}\n`, '']);
  });
});
