// snapshot restore: the data dirs it makes, decoded back with the node's own modules and started with the
// node's own restart path; its refusals with etcdctl's words; and its layout compared with what the real
// etcdctl 3.4 writes for the same flags.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { noopLogger } from '../../src/base/logger.js';
import { type ServerConfig, defaultConfig, parseInitialCluster, parseUrlList } from '../../src/server/kvserver/config.js';
import { writeConfState } from '../../src/server/kvserver/bootstrap.js';
import { clusterIdFor, memberIdFor } from '../../src/server/kvserver/ids.js';
import { type RestoreOptions, RestoreError, restoreSnapshot } from '../../src/server/kvserver/restore.js';
import { EtcdServer } from '../../src/server/kvserver/server.js';
import { snapshotChunks } from '../../src/server/kvserver/snapshot-stream.js';
import { SnapshotFileError } from '../../src/server/kvserver/snapshot-status.js';
import { Backend } from '../../src/server/mvcc/backend.js';
import { KvStore } from '../../src/server/mvcc/kvstore.js';
import { ConfChangeType, type Entry, EntryType, decodeConfChange } from '../../src/server/raft/index.js';
import { peerWiring } from '../../src/server/node.js';
import { Snapshotter } from '../../src/server/snap/index.js';
import { Wal, decodeWalMetadata } from '../../src/server/wal/index.js';
import { startEtcd } from '../support/etcd.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const hex = (id: bigint) => id.toString(16);

/**
 * A snapshot file as `snapshot save` writes it (the node's Maintenance.Snapshot stream: db, then SHA-256),
 * of a db that has keys, an old member in `members` and `members_removed`, an alarm and an applied index
 * far past what the restore sets: everything a restore must keep or replace.
 */
async function makeSnapshotFile(dir: string): Promise<{ path: string; dbCopy: string; revision: number; keys: number }> {
  const src = join(dir, 'src', 'db');
  const backend = Backend.open({ path: src, logger: noopLogger });
  const kv = KvStore.open(backend, { logger: noopLogger });
  for (let i = 0; i < 20; i++) {
    backend.batch(() => {
      const w = kv.write();
      w.put(b(`k${i % 15}`), b(`v${i}`), 0n);
      w.end();
    });
  }
  backend.batch(() => {
    backend.members.put(b('8e9e05c52164694d'), b('{"id":"8e9e05c52164694d","peerURLs":["http://old:2380"],"isLearner":false,"name":"old","clientURLs":[]}'));
    backend.membersRemoved.put(b('1234'), b('removed'));
    backend.alarm.put(b('\x08\x01\x10\x01'), Buffer.alloc(0));
    backend.setConsistentIndex(777, 9);
    // A node's db records its cluster's configuration with every conf change: the old cluster's voter.
    writeConfState(backend, { voters: [0x8e9e05c52164694dn], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false });
  });
  const revision = kv.currentRevision;
  const keys = kv.keyCount();
  const path = join(dir, 'snap.db');
  const out = createWriteStream(path);
  for await (const chunk of snapshotChunks(backend)) out.write(chunk.blob);
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  // A db copied straight out of a data dir: no trailer.
  const dbCopy = join(dir, 'copied-db');
  await backend.copyTo(dbCopy);
  await kv.close();
  await backend.close();
  return { path, dbCopy, revision, keys };
}

function opts(dir: string, snapshotPath: string, over: Partial<RestoreOptions> = {}): RestoreOptions {
  return {
    snapshotPath,
    name: 'm1',
    dataDir: join(dir, 'm1.etcd'),
    initialCluster: 'm1=http://127.0.0.1:12380',
    initialClusterToken: 'restored',
    initialAdvertisePeerUrls: 'http://127.0.0.1:12380',
    ...over,
  };
}

/** Everything the node's restart path reads, decoded with the node's own modules. */
async function readDataDir(dataDir: string, walDir = join(dataDir, 'member', 'wal')) {
  const snapDir = join(dataDir, 'member', 'snap');
  const walSnaps = await Wal.listSnapshots(walDir);
  const snap = await new Snapshotter(snapDir).loadNewestAvailable(walSnaps);
  const wal = await Wal.open(walDir, { index: 0, term: 0 });
  let read;
  try {
    read = await wal.readAll();
  } finally {
    await wal.close();
  }
  const backend = Backend.open({ path: join(snapDir, 'db'), logger: noopLogger });
  try {
    const kv = KvStore.open(backend, { logger: noopLogger });
    const values = new Map(kv.range(b('k'), b('l')).kvs.map((x) => [x.key.toString(), x.value.toString()]));
    const state = {
      walSnaps,
      snap,
      metadata: decodeWalMetadata(read.metadata),
      hardState: read.hardState,
      entries: read.entries,
      consistentIndex: backend.consistentIndex(),
      members: [...backend.members.entries()].map(([, v]) => JSON.parse(v.toString()) as { id: string; name: string; peerURLs: string[]; clientURLs: string[] }),
      membersRemoved: backend.membersRemoved.count(),
      alarms: backend.alarm.count(),
      revision: kv.currentRevision,
      keys: kv.keyCount(),
      value: (key: string) => values.get(key),
    };
    await kv.close();
    return state;
  } finally {
    await backend.close();
  }
}

function addNodes(entries: readonly Entry[]) {
  return entries.map((e) => {
    assert.equal(e.type, EntryType.ConfChange);
    const cc = decodeConfChange(e.data);
    assert.equal(cc.type, ConfChangeType.AddNode);
    return { index: e.index, term: e.term, nodeId: cc.nodeId, context: JSON.parse(Buffer.from(cc.context).toString()) as { peerURLs: string[] } };
  });
}

/** Starts the node's core with the real peer transport, as `kvctl node` does. */
function startServer(config: ServerConfig): Promise<EtcdServer> {
  return EtcdServer.start(config, noopLogger, peerWiring(config, noopLogger));
}

/** A node config for a restored dir: the restart path ignores --initial-cluster, but the config carries it. */
function nodeConfig(name: string, dataDir: string, peer: string, walDir = '') {
  return {
    ...defaultConfig(name),
    dataDir,
    walDir,
    initialCluster: parseInitialCluster(`${name}=${peer}`),
    initialAdvertisePeerUrls: parseUrlList('initial-advertise-peer-urls', peer),
    // The transport listens on a free port of the member's host (nobody dials it in these tests).
    listenPeerUrls: parseUrlList('listen-peer-urls', `http://${new URL(peer).hostname}:0`),
    heartbeatMs: 10,
    electionMs: 100,
  };
}

/** Lists what a failed restore may have left beside the data dir. */
const leftovers = (dir: string) => readdirSync(dir).filter((n) => n.includes('.etcd') || n.includes('restoring'));

describe('snapshot restore', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvctl-restore-'));
  let snap: Awaited<ReturnType<typeof makeSnapshotFile>>;
  before(async () => {
    snap = await makeSnapshotFile(dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('one member: the SHA-256 is checked, keys and revision kept, the old cluster replaced, the WAL and .snap as etcd writes them', async () => {
    const t = mkdtempSync(join(dir, 'one-'));
    const lines: string[] = [];
    const report = await restoreSnapshot(opts(t, snap.path, { onProgress: (l) => lines.push(l) }));
    const id = memberIdFor(['http://127.0.0.1:12380'], 'restored');
    assert.equal(report.member.id, id);
    assert.equal(report.clusterId, clusterIdFor([id]));
    assert.equal(report.hashChecked, true);
    assert.equal(report.revision, snap.revision);
    assert.equal(report.keys, snap.keys);
    assert.equal(report.oldMembersRemoved, 2);
    assert.equal(report.alarmsCleared, 1);
    assert.deepEqual([report.term, report.index], [1, 1]);
    assert.ok(lines.some((l) => l.includes('SHA-256')), lines.join('\n'));

    const d = await readDataDir(report.dataDir);
    assert.deepEqual(d.metadata, { nodeId: id, clusterId: report.clusterId });
    assert.deepEqual(d.hardState, { term: 1, vote: id, commit: 1 });
    assert.deepEqual(addNodes(d.entries), [{ index: 1, term: 1, nodeId: id, context: { id: hex(id), peerURLs: ['http://127.0.0.1:12380'], isLearner: false } }]);
    assert.deepEqual(d.walSnaps, [{ index: 0, term: 0 }, { index: 1, term: 1 }]);
    assert.deepEqual(d.snap?.metadata, { index: 1, term: 1, confState: { voters: [id], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } });
    assert.deepEqual(JSON.parse(Buffer.from(d.snap?.data ?? []).toString()), {
      members: [{ id: hex(id), peerUrls: ['http://127.0.0.1:12380'], isLearner: false, name: 'm1', clientUrls: [] }],
    });
    assert.deepEqual(d.consistentIndex, { index: 1, term: 1 });
    assert.deepEqual(d.members, [{ id: hex(id), peerURLs: ['http://127.0.0.1:12380'], isLearner: false, name: 'm1', clientURLs: [] }]);
    assert.equal(d.membersRemoved, 0);
    assert.equal(d.alarms, 0);
    assert.equal(d.revision, snap.revision);
    assert.equal(d.keys, snap.keys);
    assert.equal(d.value('k3'), 'v18');
    assert.deepEqual(leftovers(t), ['m1.etcd']);
  });

  test('the node starts on a restored dir as it is: leader of the new cluster, same keys and revision, publishes itself', async () => {
    const t = mkdtempSync(join(dir, 'start-'));
    const report = await restoreSnapshot(opts(t, snap.path));
    const server = await startServer(nodeConfig('m1', report.dataDir, 'http://127.0.0.1:12380'));
    try {
      await server.readyNotify(10_000);
      assert.equal(server.memberId, report.member.id);
      assert.equal(server.clusterId, report.clusterId);
      assert.equal(server.kv.currentRevision, snap.revision);
      assert.equal(server.kv.range(b('k14'), undefined).kvs[0]?.value.toString(), 'v14');
      assert.deepEqual(
        server.membership.list().map((m) => [m.id, m.name, m.peerUrls]),
        [[report.member.id, 'm1', ['http://127.0.0.1:12380']]],
      );
      assert.ok(server.isLeader);
      // Writes go on from the snapshot's revision.
      await server.propose({ put: { key: b('after'), value: b('x'), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false } });
      assert.equal(server.kv.currentRevision, snap.revision + 1);
    } finally {
      await server.stop();
    }
    // Restarted past the snapshot's index, raft resumes from the backend's configuration: the restored
    // cluster's, not the one the snapshot's db came from.
    const again = await startServer(nodeConfig('m1', report.dataDir, 'http://127.0.0.1:12380'));
    try {
      await again.readyNotify(10_000);
      assert.ok(again.isLeader);
      assert.equal(again.kv.currentRevision, snap.revision + 1);
    } finally {
      await again.stop();
    }
  });

  test('a db copied out of a data dir needs --skip-hash-check; with it the restore goes through unchecked', async () => {
    const t = mkdtempSync(join(dir, 'raw-'));
    await assert.rejects(restoreSnapshot(opts(t, snap.dbCopy)), (err: Error) => {
      assert.ok(err instanceof SnapshotFileError);
      assert.equal(err.message, 'snapshot missing hash but --skip-hash-check=false');
      return true;
    });
    assert.deepEqual(leftovers(t), []);
    const report = await restoreSnapshot(opts(t, snap.dbCopy, { skipHashCheck: true }));
    assert.equal(report.hashChecked, false);
    assert.equal(report.revision, snap.revision);
    // --skip-hash-check on a file that has the trailer: the trailer is still stripped, the db still opens.
    const t2 = mkdtempSync(join(dir, 'skip-'));
    const r2 = await restoreSnapshot(opts(t2, snap.path, { skipHashCheck: true }));
    assert.equal(r2.hashChecked, false);
    assert.equal((await readDataDir(r2.dataDir)).keys, snap.keys);
  });

  test('a corrupt snapshot is refused with etcd\'s sha256 message and leaves nothing behind', async () => {
    const t = mkdtempSync(join(dir, 'corrupt-'));
    const bad = join(t, 'bad.db');
    const bytes = readFileSync(snap.path);
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    writeFileSync(bad, bytes);
    await assert.rejects(restoreSnapshot(opts(t, bad)), (err: Error) => {
      assert.ok(err instanceof SnapshotFileError);
      assert.match(err.message, /^expected sha256 \[(\d+ ){31}\d+\], got \[(\d+ ){31}\d+\]$/);
      return true;
    });
    assert.deepEqual(leftovers(t), []);
    // Not a db at all (with the hash check skipped): refused when opened, nothing left.
    const junk = join(t, 'junk.db');
    writeFileSync(junk, Buffer.alloc(8192, 7));
    await assert.rejects(restoreSnapshot(opts(t, junk, { skipHashCheck: true })), {
      message: `snapshot: ${junk} is not a kvctl snapshot: no lmdb meta page at its start`,
    });
    await assert.rejects(restoreSnapshot(opts(t, join(t, 'missing.db'))), { message: `open ${join(t, 'missing.db')}: no such file or directory` });
    assert.deepEqual(leftovers(t), []);
  });

  test('refusals in etcdctl\'s words: existing dirs, a name not in the cluster, mismatched or duplicate URLs', async () => {
    const t = mkdtempSync(join(dir, 'refuse-'));
    const dataDir = join(t, 'm1.etcd');
    mkdirSync(dataDir);
    await assert.rejects(restoreSnapshot(opts(t, snap.path)), { message: `data-dir "${dataDir}" exists` });
    assert.deepEqual(readdirSync(dataDir), []);
    rmSync(dataDir, { recursive: true });
    const walDir = join(t, 'wal');
    mkdirSync(walDir);
    await assert.rejects(restoreSnapshot(opts(t, snap.path, { walDir })), { message: `wal-dir "${walDir}" exists` });
    const refused = async (over: Partial<RestoreOptions>, message: string) => {
      await assert.rejects(restoreSnapshot(opts(t, snap.path, over)), (err: Error) => {
        assert.ok(err instanceof RestoreError, String(err));
        assert.equal(err.message, message);
        return true;
      });
    };
    await refused({ name: 'zz' }, 'couldn\'t find local name "zz" in the initial cluster configuration');
    // The messages below are the ones etcdctl 3.4.23 printed for the same flags.
    await refused(
      { initialCluster: 'm1=http://127.0.0.1:1', initialAdvertisePeerUrls: 'http://127.0.0.1:2' },
      '--initial-cluster has m1=http://127.0.0.1:1 but missing from --initial-advertise-peer-urls=http://127.0.0.1:2 (resolved urls: "http://127.0.0.1:2" != "http://127.0.0.1:1")',
    );
    await refused(
      { initialCluster: 'm1=http://127.0.0.1:1', initialAdvertisePeerUrls: 'http://127.0.0.1:2,http://127.0.0.1:1' },
      '--initial-advertise-peer-urls has http://127.0.0.1:2 but missing from --initial-cluster=m1=http://127.0.0.1:1,m1=http://127.0.0.1:2',
    );
    await refused(
      { initialCluster: 'm1=http://localhost:2380,m1=http://localhost:2381', initialAdvertisePeerUrls: 'http://localhost:2380' },
      '--initial-cluster has m1=http://localhost:2381 but missing from --initial-advertise-peer-urls=http://localhost:2380 (len(["http://localhost:2380"]) != len(["http://localhost:2380" "http://localhost:2381"]))',
    );
    await refused(
      { initialCluster: 'm1=http://127.0.0.1:1,m2=http://127.0.0.1:1', initialAdvertisePeerUrls: 'http://127.0.0.1:1' },
      'initial cluster m1=http://127.0.0.1:1,m2=http://127.0.0.1:1 has duplicate url',
    );
    await refused({ initialCluster: 'm1=127.0.0.1:2380' }, 'parse "127.0.0.1:2380": first path segment in URL cannot contain colon');
    await refused({ initialCluster: 'm1=localhost:2380' }, 'URL scheme must be http, https, unix, or unixs: localhost:2380');
    await refused({ initialCluster: 'm1=http://127.0.0.1:2380/' }, 'URL must not contain a path: http://127.0.0.1:2380/');
    await refused({ initialCluster: 'm1=http://127.0.0.1' }, 'URL address does not have the form "host:port": http://127.0.0.1');
    await refused({ initialAdvertisePeerUrls: 'http://127.0.0.1:12380,' }, 'URL scheme must be http, https, unix, or unixs: ');
    assert.deepEqual(leftovers(t), []);
  });

  test('three members: three dirs from one file, distinct member ids, one cluster id, every member a voter; the node accepts each as is', async () => {
    const t = mkdtempSync(join(dir, 'three-'));
    const cluster = 'a=http://127.0.0.1:12380,b=http://127.0.0.2:12380,c=http://127.0.0.3:12380';
    const reports = [];
    for (const [name, host] of [['a', '127.0.0.1'], ['b', '127.0.0.2'], ['c', '127.0.0.3']] as const) {
      reports.push(
        await restoreSnapshot(
          opts(t, snap.path, { name, dataDir: join(t, `${name}.etcd`), initialCluster: cluster, initialClusterToken: 'tok3', initialAdvertisePeerUrls: `http://${host}:12380` }),
        ),
      );
    }
    const ids = reports.map((r) => r.member.id);
    assert.equal(new Set(ids).size, 3);
    assert.equal(new Set(reports.map((r) => r.clusterId)).size, 1);
    const sorted = [...ids].sort((x, y) => (x < y ? -1 : 1));
    assert.equal(reports[0]?.clusterId, clusterIdFor(ids));
    for (const r of reports) {
      const d = await readDataDir(r.dataDir);
      assert.deepEqual(d.metadata, { nodeId: r.member.id, clusterId: r.clusterId });
      // etcd's saveWALAndSnap: entries in member-id order, vote for the first, commit = number of members.
      assert.deepEqual(d.hardState, { term: 1, vote: sorted[0], commit: 3 });
      assert.deepEqual(addNodes(d.entries).map((e) => [e.index, e.term, e.nodeId]), sorted.map((id, i) => [i + 1, 1, id]));
      assert.deepEqual(d.snap?.metadata.confState.voters, sorted);
      assert.deepEqual([d.snap?.metadata.index, d.snap?.metadata.term], [3, 1]);
      assert.deepEqual(d.consistentIndex, { index: 3, term: 1 });
      assert.deepEqual(d.members.map((m) => m.name).sort(), ['a', 'b', 'c']);
      assert.equal(d.keys, snap.keys);
    }
    // The restart path takes a three-member dir: it starts, knows the three members, and waits for peers.
    const server = await startServer(nodeConfig('b', reports[1]?.dataDir as string, 'http://127.0.0.2:12380'));
    try {
      assert.equal(server.memberId, reports[1]?.member.id);
      assert.deepEqual(server.membership.list().map((m) => m.id), sorted);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(server.fatalError, undefined);
      assert.equal(server.isLeader, false);
      assert.equal(server.status().committedIndex, 3);
    } finally {
      await server.stop();
    }
  });

  test('a dedicated --wal-dir gets the WAL; the node starts with it', async () => {
    const t = mkdtempSync(join(dir, 'waldir-'));
    const walDir = join(t, 'wal-elsewhere');
    const report = await restoreSnapshot(opts(t, snap.path, { walDir }));
    assert.equal(report.walDir, walDir);
    assert.equal(existsSync(join(report.dataDir, 'member', 'wal')), false);
    const d = await readDataDir(report.dataDir, walDir);
    assert.equal(d.metadata.nodeId, report.member.id);
    const server = await startServer(nodeConfig('m1', report.dataDir, 'http://127.0.0.1:12380', walDir));
    try {
      await server.readyNotify(10_000);
      assert.equal(server.kv.currentRevision, snap.revision);
    } finally {
      await server.stop();
    }
  });
});

/** Runs the real etcdctl offline (snapshot restore needs no endpoint). */
function etcdctlOffline(args: readonly string[], cwd: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile('etcdctl', args, { cwd, timeout: 30_000, env: { ...process.env, ETCDCTL_API: '3' } }, (error, _stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stderr });
    });
  });
}

describe('snapshot restore matches etcdctl 3.4\'s layout for the same flags', { timeout: 120_000 }, () => {
  test('same member and cluster ids, hard state, conf change entries, WAL snapshot records and .snap position', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvctl-restore-etcd-'));
    const etcd = await startEtcd();
    try {
      const saved = await new Promise<number>((resolve) =>
        execFile('etcdctl', ['--endpoints', etcd.endpoint, 'snapshot', 'save', join(dir, 'etcd.db')], { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 30_000 }, (e) =>
          resolve(e ? 1 : 0),
        ),
      );
      assert.equal(saved, 0);
      const ours = await makeSnapshotFile(dir);
      const cluster = 'm1=http://127.0.0.1:23801,m2=http://127.0.0.2:23801,m3=http://127.0.0.3:23801';
      const flags = ['--name', 'm2', '--initial-cluster', cluster, '--initial-cluster-token', 'tok', '--initial-advertise-peer-urls', 'http://127.0.0.2:23801'];
      const r = await etcdctlOffline(['snapshot', 'restore', join(dir, 'etcd.db'), ...flags, '--data-dir', join(dir, 'by-etcdctl')], dir);
      assert.equal(r.code, 0, r.stderr);
      await copyFile(ours.path, join(dir, 'ours.db'));
      await restoreSnapshot({
        snapshotPath: join(dir, 'ours.db'),
        name: 'm2',
        dataDir: join(dir, 'by-kvctl'),
        initialCluster: cluster,
        initialClusterToken: 'tok',
        initialAdvertisePeerUrls: 'http://127.0.0.2:23801',
      });
      const etcdDir = await readWalAndSnap(join(dir, 'by-etcdctl'));
      const ourDir = await readWalAndSnap(join(dir, 'by-kvctl'));
      assert.deepEqual(ourDir.metadata, etcdDir.metadata);
      assert.deepEqual(ourDir.hardState, etcdDir.hardState);
      assert.deepEqual(
        ourDir.entries.map((e) => [e.index, e.term, e.type, decodeConfChange(e.data).type, decodeConfChange(e.data).nodeId]),
        etcdDir.entries.map((e) => [e.index, e.term, e.type, decodeConfChange(e.data).type, decodeConfChange(e.data).nodeId]),
      );
      // etcd puts its whole Member JSON in the context; the node reads peerURLs from either.
      for (const [i, e] of etcdDir.entries.entries()) {
        const theirs = JSON.parse(Buffer.from(decodeConfChange(e.data).context).toString()) as { peerURLs: string[] };
        const mine = JSON.parse(Buffer.from(decodeConfChange((ourDir.entries[i] as Entry).data).context).toString()) as { peerURLs: string[] };
        assert.deepEqual(mine.peerURLs, theirs.peerURLs);
      }
      assert.deepEqual(ourDir.walSnaps, etcdDir.walSnaps);
      assert.deepEqual(ourDir.snapFiles, etcdDir.snapFiles);
      assert.ok(ourDir.snapMeta !== undefined && etcdDir.snapMeta !== undefined, 'both dirs hold a .snap');
      assert.deepEqual(ourDir.snapMeta?.index, etcdDir.snapMeta?.index);
      assert.deepEqual(ourDir.snapMeta?.term, etcdDir.snapMeta?.term);
      assert.deepEqual(ourDir.snapMeta?.confState, etcdDir.snapMeta?.confState);
      // The ids etcd derived are the ones ids.ts derives.
      const ids = ['http://127.0.0.1:23801', 'http://127.0.0.2:23801', 'http://127.0.0.3:23801'].map((u) => memberIdFor([u], 'tok'));
      assert.deepEqual(etcdDir.metadata, { nodeId: ids[1], clusterId: clusterIdFor(ids) });
    } finally {
      await etcd.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

async function readWalAndSnap(dataDir: string) {
  const walDir = join(dataDir, 'member', 'wal');
  const snapDir = join(dataDir, 'member', 'snap');
  const walSnaps = await Wal.listSnapshots(walDir);
  const snap = await new Snapshotter(snapDir).loadNewestAvailable(walSnaps);
  const wal = await Wal.open(walDir, { index: 0, term: 0 });
  try {
    const read = await wal.readAll();
    return {
      metadata: decodeWalMetadata(read.metadata),
      hardState: read.hardState,
      entries: read.entries,
      walSnaps,
      snapFiles: readdirSync(snapDir).filter((n) => n.endsWith('.snap')),
      snapMeta: snap?.metadata,
    };
  } finally {
    await wal.close();
  }
}
