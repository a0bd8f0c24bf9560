// The agent's side of a restore (restore-data.ts) on a real directory with real snapshot files: what it refuses
// (with nothing changed and nothing left behind), the swap with `.before-restore`, and a rerun that keeps the
// data from before the first restore.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { AgentInputError, AgentStateError } from '../../src/agent/errors.js';
import { type RestoreTarget, restoreMemberData } from '../../src/agent/restore-data.js';
import { type NodeSpec, memberLayout } from '../../src/agent/spec.js';
import { noopLogger } from '../../src/base/logger.js';
import type { RestoreChunk } from '../../src/proto/gen/kvctl/agent/v1/agent.js';
import { snapshotChunks } from '../../src/server/kvserver/snapshot-stream.js';
import { Backend } from '../../src/server/mvcc/backend.js';
import { KvStore } from '../../src/server/mvcc/kvstore.js';

const b = (s: string) => Buffer.from(s, 'latin1');

/** A snapshot file as `snapshot save` writes it (db + SHA-256 trailer), holding `keys` keys. */
async function kvctlSnapshot(dir: string, keys: number): Promise<Buffer> {
  const backend = Backend.open({ path: join(dir, 'src-db'), logger: noopLogger });
  const kv = KvStore.open(backend, { logger: noopLogger });
  backend.batch(() => {
    const w = kv.write();
    for (let i = 0; i < keys; i++) w.put(b(`k${i}`), b(`v${i}`), 0n);
    w.end();
  });
  const parts: Buffer[] = [];
  for await (const chunk of snapshotChunks(backend)) parts.push(Buffer.from(chunk.blob));
  await kv.close();
  await backend.close();
  return Buffer.concat(parts);
}

function spec(over: Partial<NodeSpec> = {}): NodeSpec {
  return {
    memberName: 'm1',
    runtime: 'kvctl',
    image: '',
    listenClientUrls: ['http://127.0.0.1:12379'],
    advertiseClientUrls: ['http://127.0.0.1:12379'],
    listenPeerUrls: ['http://127.0.0.1:12380'],
    initialAdvertisePeerUrls: ['http://127.0.0.1:12380'],
    initialCluster: 'm1=http://127.0.0.1:12380,m2=http://127.0.0.2:12380',
    initialClusterState: 'new',
    initialClusterToken: 'restored-1',
    discovery: '',
    discoverySrv: '',
    discoverySrvName: '',
    dnsServer: '',
    clientTls: undefined,
    peerTls: undefined,
    settings: {},
    ...over,
  };
}

/** The messages of a Restore call: the header, then the file in 64 KiB pieces. */
async function* stream(file: Buffer, headerOver: { spec?: NodeSpec; size?: bigint; sha256?: Buffer; skipHashCheck?: boolean } = {}, withHeader = true): AsyncGenerator<RestoreChunk> {
  if (withHeader) {
    yield {
      header: {
        spec: headerOver.spec ?? spec(),
        size: headerOver.size ?? BigInt(file.length),
        sha256: headerOver.sha256 ?? createHash('sha256').update(file).digest(),
        skipHashCheck: headerOver.skipHashCheck ?? false,
      },
      data: Buffer.alloc(0),
    };
  }
  for (let at = 0; at < file.length; at += 65536) yield { header: undefined, data: file.subarray(at, at + 65536) };
}

describe('restoreMemberData', () => {
  const root = mkdtempSync(join(tmpdir(), 'kvctl-restore-data-'));
  let snapshot: Buffer;
  let n = 0;

  before(async () => {
    mkdirSync(join(root, 'src'));
    snapshot = await kvctlSnapshot(join(root, 'src'), 25);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  /** A fresh agent dir whose member has a data dir holding `OLD`, and the target the daemon would give. */
  function agent(over: Partial<RestoreTarget> = {}): { target: RestoreTarget; dir: string; configured: NodeSpec[] } {
    const dir = join(root, `agent${++n}`);
    const layout = memberLayout(dir);
    mkdirSync(join(layout.dataDir, 'member'), { recursive: true });
    writeFileSync(join(layout.dataDir, 'member', 'old'), 'OLD');
    const configured: NodeSpec[] = [];
    const target: RestoreTarget = {
      agentName: 'a1',
      agentDir: dir,
      layout,
      enrolled: true,
      configured: spec({ initialClusterToken: 'old-token' }),
      memberState: () => 'stopped',
      runtimes: ['kvctl', 'etcd'],
      findTool: () => undefined,
      configure: async (s) => {
        configured.push(s);
      },
      logger: noopLogger,
      ...over,
    };
    return { target, dir, configured };
  }

  /** The old data dir is in place and unchanged, and the restore left nothing behind. */
  function untouched(dir: string): void {
    assert.equal(readFileSync(join(dir, 'data', 'member', 'old'), 'utf8'), 'OLD');
    const left = readdirSync(dir).filter((f) => f !== 'data' && f !== 'restore');
    assert.deepEqual(left, [], 'nothing beside the data dir');
    if (existsSync(join(dir, 'restore'))) assert.deepEqual(readdirSync(join(dir, 'restore')), [], 'no incoming file left');
  }

  async function refused(target: RestoreTarget, chunks: AsyncIterable<RestoreChunk>, kind: typeof AgentInputError | typeof AgentStateError | typeof Error, pattern: RegExp): Promise<void> {
    await assert.rejects(restoreMemberData(chunks, target), (err: Error) => {
      assert.ok(err instanceof kind, `${err.constructor.name}: ${err.message}`);
      assert.match(err.message, pattern);
      return true;
    });
  }

  test('refuses an agent that is not enrolled, and a member that is not stopped', async () => {
    const a = agent({ enrolled: false });
    await refused(a.target, stream(snapshot), AgentStateError, /agent a1 is not enrolled in a cluster yet/);
    untouched(a.dir);
    for (const state of ['running', 'starting', 'backoff']) {
      const r = agent({ memberState: () => state });
      await refused(r.target, stream(snapshot), AgentStateError, new RegExp(`member m1 is ${state}: stop it first`));
      untouched(r.dir);
    }
  });

  test('refuses a stream without a header, another member, a spec that is not for a new cluster', async () => {
    const a = agent();
    await refused(a.target, stream(snapshot, {}, false), AgentInputError, /the first message carries no header/);
    await refused(a.target, stream(snapshot, { spec: spec({ memberName: 'm2', initialAdvertisePeerUrls: ['http://127.0.0.2:12380'] }) }), AgentInputError, /runs member m1, not m2: refusing to touch it/);
    await refused(a.target, stream(snapshot, { spec: spec({ initialClusterState: 'existing' }) }), AgentInputError, /initial cluster state "new"/);
    untouched(a.dir);
  });

  test('refuses a file whose size or SHA-256 is not the header\'s', async () => {
    const a = agent();
    await refused(a.target, stream(snapshot, { size: BigInt(snapshot.length + 10) }), AgentInputError, new RegExp(`${snapshot.length} bytes arrived, the header says ${snapshot.length + 10}: the stream was cut short`));
    await refused(a.target, stream(snapshot, { size: BigInt(snapshot.length - 10) }), AgentInputError, /more bytes arrived than the header's size/);
    await refused(a.target, stream(snapshot, { sha256: Buffer.alloc(32, 7) }), AgentInputError, /SHA-256 [0-9a-f]{64}, the header says 0707/);
    untouched(a.dir);
  });

  test('refuses a snapshot its runtime cannot read, before restoring anything', async () => {
    const a = agent({ configured: spec({ runtime: 'etcd' }) });
    await refused(a.target, stream(snapshot, { spec: spec({ runtime: 'etcd' }) }), AgentInputError, /a real etcd cannot read kvctl's snapshot format/);
    // A bbolt file: etcd's meta magic at offset 16.
    const bbolt = Buffer.alloc(4096);
    bbolt.writeUInt32LE(0xed0cdaed, 16);
    const k = agent();
    await refused(k.target, stream(bbolt), AgentInputError, /runs kvctl's node, which cannot read bbolt/);
    await refused(a.target, stream(bbolt, { spec: spec({ runtime: 'etcd' }) }), AgentStateError, /neither etcdutl nor etcdctl on PATH/);
    untouched(a.dir);
    untouched(k.dir);
  });

  test('a corrupt snapshot fails the restore\'s hash check and leaves the data dir as it was', async () => {
    const a = agent();
    const corrupt = Buffer.from(snapshot);
    const middle = Math.floor(corrupt.length / 2);
    for (let i = 0; i < 8; i++) corrupt.writeUInt8(corrupt.readUInt8(middle + i) ^ 0xff, middle + i);
    await refused(a.target, stream(corrupt), Error, /expected sha256 \[[\d ]+\], got \[[\d ]+\]/);
    untouched(a.dir);
    assert.equal(a.configured.length, 0);
  });

  test('restores into the data dir, keeps the old one beside it, configures the spec; a rerun keeps the first .before-restore', async () => {
    const a = agent();
    const first = await restoreMemberData(stream(snapshot), a.target);
    const dataDir = a.target.layout.dataDir;
    assert.deepEqual(first, { format: 'kvctl', bytes: snapshot.length, keptAs: `${dataDir}.before-restore` });
    assert.equal(readFileSync(join(`${dataDir}.before-restore`, 'member', 'old'), 'utf8'), 'OLD');
    assert.ok(existsSync(join(dataDir, 'member', 'snap', 'db')) && existsSync(join(dataDir, 'member', 'wal')));
    assert.equal(existsSync(join(dataDir, 'member', 'old')), false);
    assert.equal(a.configured[0]?.initialClusterToken, 'restored-1');
    assert.deepEqual(readdirSync(join(a.dir, 'restore')), ['last-restore.json']);

    // Again (a cluster restore run a second time): the restored dir was never started, so it is discarded and
    // the data from before the first restore stays in .before-restore.
    const second = await restoreMemberData(stream(snapshot), a.target);
    assert.equal(second.keptAs, '');
    assert.equal(readFileSync(join(`${dataDir}.before-restore`, 'member', 'old'), 'utf8'), 'OLD');
    assert.equal(existsSync(`${dataDir}.discarded`), false);

    // Once the member ran (its files changed), its data is what a new restore keeps.
    writeFileSync(join(dataDir, 'member', 'ran'), 'RAN');
    const third = await restoreMemberData(stream(snapshot), a.target);
    assert.equal(third.keptAs, `${dataDir}.before-restore`);
    assert.equal(readFileSync(join(`${dataDir}.before-restore`, 'member', 'ran'), 'utf8'), 'RAN');
    assert.deepEqual(readdirSync(a.dir).sort(), ['data', 'data.before-restore', 'restore']);
  });

  test('a failed configure puts the old data dir back', async () => {
    const a = agent({
      configure: async () => {
        throw new Error('disk full');
      },
    });
    await assert.rejects(restoreMemberData(stream(snapshot), a.target), /disk full/);
    untouched(a.dir);
  });
});
