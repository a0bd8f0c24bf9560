/**
 * How a member starts (etcd's bootstrap): restart from its data dir, bootstrap a new cluster from
 * --initial-cluster, or join an existing one after MemberAdd. Each decides the member's identity and the
 * raft node's starting state; the server (server.ts) then runs from that state.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import type { Logger } from '../../base/logger.js';
import { type ConfState, type MemoryStorage, RawNode, emptyConfState } from '../raft/index.js';
import type { Backend } from '../mvcc/backend.js';
import { receivedSnapshotName } from '../peer/snapshot.js';
import type { KvStore } from '../mvcc/kvstore.js';
import type { Snapshotter } from '../snap/index.js';
import { Wal, decodeWalMetadata, encodeWalMetadata } from '../wal/index.js';
import { type ServerConfig, urlString } from './config.js';
import { DataDirError } from './errors.js';
import { clusterIdFor, idHex, memberIdFor } from './ids.js';
import { type Membership, encodeMemberContext } from './membership.js';
import { type ClusterInfo, PeerMethod } from './peer-methods.js';

/** The suffix of the peer transport's received backend files (receivedSnapshotName). */
const RECEIVED_DB_SUFFIX = '.snap.db';


/** A unary call to a peer URL before this member knows its ids. */
export type CallUrl = (url: string, method: string, payload: Uint8Array, timeoutMs: number) => Promise<Uint8Array>;

/** The state a member starts from. */
export interface Boot {
  readonly memberId: bigint;
  readonly clusterId: bigint;
  readonly wal: Wal;
  readonly rawNode: RawNode;
  readonly applied: number;
  readonly snapshotIndex: number;
  readonly confState: ConfState;
  /** The backend already holds the effects of the entries up to here. */
  readonly skipDataUpTo: number;
  /** Peers to dial before any conf change applies (a new member knows them from its flags or the cluster). */
  readonly initialPeers: ReadonlyArray<{ id: bigint; peerUrls: readonly string[] }>;
}

/** A data dir with a WAL: the member restarts from it (the --initial-* flags are ignored, as etcd ignores them). */
export async function restartMember(config: ServerConfig, logger: Logger, p: BootParts): Promise<Boot> {
  const { walDir, snapDir, backend, kv, membership, snapshotter, storage } = p;
  // The newest snapshot that the WAL knows, then the WAL after it.
  const walSnaps = await Wal.listSnapshots(walDir);
  const snap = await snapshotter.loadNewestAvailable(walSnaps);
  const at = snap ? { index: snap.metadata.index, term: snap.metadata.term } : { index: 0, term: 0 };
  const wal = await Wal.open(walDir, at, { logger });
  try {
    const { metadata, hardState, entries } = await wal.readAll();
    const { nodeId, clusterId } = decodeWalMetadata(metadata);
    let ci = backend.consistentIndex();
    const snapIndex = snap?.metadata.index ?? 0;
    const received = join(snapDir, receivedSnapshotName(snapIndex));
    if (snap && ci.index < snapIndex && existsSync(received)) {
      // The member crashed after persisting a snapshot from the leader but before its backend file
      // replaced member/snap/db (etcd's "recovering from snapshot db file"): finish the install now.
      logger.info(`backend at applied index ${ci.index} is behind the snapshot at ${snapIndex}: installing ${received}`);
      await kv.pauseCompactions();
      await backend.replaceWith(received);
      await kv.reload();
      membership.reload();
      ci = backend.consistentIndex();
    }
    removeReceivedDbsUpTo(snapDir, ci.index);
    if (snap && ci.index < snapIndex) {
      throw new DataDirError(
        `${join(snapDir, 'db')} is older (applied index ${ci.index}) than the snapshot at ${snapIndex}: the backend file was replaced or lost`,
      );
    }
    // Raft restarts from the backend's applied index when the backend knows the configuration there
    // (it records it with every conf change): entries up to that index are not replayed at all, so
    // a conf change is never validated twice against a membership that already has it. Otherwise
    // (no conf change applied yet) from the snapshot, skipping data entries the backend holds.
    const backendConf = readConfState(backend);
    let applied = snapIndex;
    let confState = snap?.metadata.confState ?? emptyConfState;
    if (backendConf !== undefined && ci.index > snapIndex) {
      storage.applySnapshot({ data: new Uint8Array(0), metadata: { index: ci.index, term: ci.term, confState: backendConf } });
      storage.setHardState(hardState);
      storage.append(entries.filter((e) => e.index > ci.index));
      applied = ci.index;
      confState = backendConf;
    } else {
      if (snap) storage.applySnapshot(snap);
      storage.setHardState(hardState);
      storage.append(entries);
    }
    const rawNode = new RawNode(p.raftConfig(nodeId, applied));
      logger.info(
      `restarted member ${idHex(nodeId)} in cluster ${idHex(clusterId)} at commit index ${hardState.commit} (backend applied ${ci.index}, snapshot ${snapIndex})`,
    );
    return { memberId: nodeId, clusterId, wal, rawNode, applied, snapshotIndex: snapIndex, confState, skipDataUpTo: ci.index, initialPeers: [] };
  } catch (err) {
    await wal.close();
    throw err;
  }
}

/** An empty data dir and --initial-cluster-state=new: a member of a new cluster, ids derived from the flags. */
export async function bootstrapNewMember(config: ServerConfig, logger: Logger, p: BootParts): Promise<Boot> {
  const peers = [...config.initialCluster.entries()].map(([name, urls]) => ({
    name,
    peerUrls: urls.map(urlString),
    id: memberIdFor(urls.map(urlString), config.initialClusterToken),
  }));
  const self = peers.find((m) => m.name === config.name);
  if (self === undefined) throw new DataDirError(`--initial-cluster has no member named ${config.name}`);
  // SRV discovery found this member by the resolved address of its advertised URLs (srv-discovery.ts).
  if (config.discoverySrv === '') checkAdvertisedUrls(config, self.peerUrls);
  const clusterId = clusterIdFor(peers.map((m) => m.id));
  const wal = await Wal.create(p.walDir, encodeWalMetadata({ nodeId: self.id, clusterId }), { logger });
  const rawNode = new RawNode(p.raftConfig(self.id, 0));
  rawNode.bootstrap(peers.map((m) => ({ id: m.id, context: encodeMemberContext({ id: m.id, peerUrls: m.peerUrls, isLearner: false }) })));
  logger.info(`started new member ${idHex(self.id)} in new cluster ${idHex(clusterId)} of ${peers.length} member(s)`);
  // Until the bootstrap conf changes apply, the transport learns the peers from the flags.
  const initialPeers = peers.filter((m) => m.id !== self.id).map((m) => ({ id: m.id, peerUrls: m.peerUrls }));
  return { memberId: self.id, clusterId, wal, rawNode, applied: 0, snapshotIndex: 0, confState: emptyConfState, skipDataUpTo: 0, initialPeers };
}

/**
 * --initial-cluster-state=existing with an empty data dir: the member was added with MemberAdd; it asks
 * the members named in --initial-cluster for the cluster (id and members), finds itself there by its
 * advertised peer URLs, and starts with an empty log: the leader sends it the log or a snapshot.
 */
export async function joinExistingCluster(config: ServerConfig, logger: Logger, callUrl: CallUrl, p: BootParts): Promise<Boot> {
  const ownUrls = config.initialAdvertisePeerUrls.map(urlString);
  const remoteUrls = [...config.initialCluster.entries()].filter(([name]) => name !== config.name).flatMap(([, urls]) => urls.map(urlString));
  if (remoteUrls.length === 0) {
    throw new DataDirError('--initial-cluster-state=existing: --initial-cluster names no other member to join through');
  }
  let info: ClusterInfo | undefined;
  const failures: string[] = [];
  for (const url of remoteUrls) {
    try {
      info = JSON.parse(Buffer.from(await callUrl(url, PeerMethod.members, new Uint8Array(0), 5000)).toString('utf8')) as ClusterInfo;
      break;
    } catch (err) {
      failures.push(`${url}: ${(err as Error).message}`);
    }
  }
  if (info === undefined) {
    throw new DataDirError(`cannot fetch cluster info from peer urls: could not retrieve cluster information from the given URLs (${failures.join('; ')})`);
  }
  const self = info.members.find((m) => m.peerURLs.length === ownUrls.length && [...m.peerURLs].sort().join(',') === [...ownUrls].sort().join(','));
  if (self === undefined) {
    throw new DataDirError(
      `error validating peerURLs: member with --initial-advertise-peer-urls ${ownUrls.join(',')} is not in the cluster (members: ${info.members.map((m) => `${m.name || m.id}=${m.peerURLs.join(',')}`).join(', ')}); add it first with \`kvctl member add ${config.name} --peer-urls=${ownUrls.join(',')}\``,
    );
  }
  if (self.name !== '') {
    throw new DataDirError(`member ${self.name} (${self.id}) has already been started in this cluster: restart it with its data dir, or remove it and add it again`);
  }
  const memberId = BigInt(`0x${self.id}`);
  const clusterId = BigInt(`0x${info.clusterId}`);
  const wal = await Wal.create(p.walDir, encodeWalMetadata({ nodeId: memberId, clusterId }), { logger });
  const rawNode = new RawNode(p.raftConfig(memberId, 0));
  logger.info(`joining existing cluster ${info.clusterId} as member ${self.id}`);
  const initialPeers = info.members.filter((m) => m.id !== self.id).map((m) => ({ id: BigInt(`0x${m.id}`), peerUrls: m.peerURLs }));
  return { memberId, clusterId, wal, rawNode, applied: 0, snapshotIndex: 0, confState: emptyConfState, skipDataUpTo: 0, initialPeers };
}

/** What the node opened before deciding how to start. */
export interface BootParts {
  walDir: string;
  snapDir: string;
  backend: Backend;
  kv: KvStore;
  membership: Membership;
  snapshotter: Snapshotter;
  storage: MemoryStorage;
  raftConfig: (id: bigint, applied: number) => ConstructorParameters<typeof RawNode>[0];
}

/** Deletes received backend files a restart no longer needs (their snapshot is at or before `index`). */
function removeReceivedDbsUpTo(snapDir: string, index: number): void {
  for (const name of readdirSync(snapDir)) {
    if (!name.endsWith(RECEIVED_DB_SUFFIX)) continue;
    const at = Number.parseInt(name.slice(0, -RECEIVED_DB_SUFFIX.length), 16);
    if (Number.isSafeInteger(at) && at <= index) rmSync(join(snapDir, name), { force: true });
  }
}

/** etcd refuses to start when --initial-advertise-peer-urls disagree with this member's --initial-cluster entry. */
function checkAdvertisedUrls(config: ServerConfig, clusterUrls: readonly string[]): void {
  const advertised = config.initialAdvertisePeerUrls.map(urlString).sort();
  const listed = [...clusterUrls].sort();
  if (advertised.join(',') !== listed.join(',')) {
    throw new DataDirError(
      `--initial-cluster has ${config.name}=${listed.join(',')} but missing from --initial-advertise-peer-urls=${advertised.join(',')} ("${advertised.join(',')}"(resolved from ${advertised.join(',')}) != "${listed.join(',')}"(resolved from ${listed.join(',')}))`,
    );
  }
}

/** The `meta` key under which the configuration at the applied index is kept (etcd 3.5's `confState`). */
export const META_CONF_STATE = Buffer.from('confState');

export function writeConfState(backend: Backend, cs: ConfState): void {
  const json = {
    voters: cs.voters.map(String),
    learners: cs.learners.map(String),
    voters_outgoing: cs.votersOutgoing.map(String),
    learners_next: cs.learnersNext.map(String),
    auto_leave: cs.autoLeave,
  };
  backend.buckets.meta.put(META_CONF_STATE, Buffer.from(JSON.stringify(json), 'utf8'));
}

function readConfState(backend: Backend): ConfState | undefined {
  const raw = backend.buckets.meta.get(META_CONF_STATE);
  if (raw === undefined) return undefined;
  const j = JSON.parse(raw.toString('utf8')) as { voters: string[]; learners: string[]; voters_outgoing: string[]; learners_next: string[]; auto_leave: boolean };
  return {
    voters: j.voters.map(BigInt),
    learners: j.learners.map(BigInt),
    votersOutgoing: j.voters_outgoing.map(BigInt),
    learnersNext: j.learners_next.map(BigInt),
    autoLeave: j.auto_leave,
  };
}
