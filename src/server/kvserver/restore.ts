/**
 * `snapshot restore`: turns a snapshot file into the data dir of one member of a NEW cluster, as etcd's
 * restore does (etcdutl/snapshot Restore: saveDB, saveWALAndSnap, updateCIndex). Run once per member with
 * the same file and the same --initial-cluster and --initial-cluster-token; each run writes:
 *
 *   member/snap/db      the snapshot's db (SHA-256 trailer checked and stripped), with the old members
 *                       (`members`, `members_removed`) and the old members' alarms (`alarm`) deleted, the
 *                       new members written, and the applied index set to n (the number of members);
 *   member/wal/         a WAL whose metadata names this member and the new cluster, holding one
 *                       ConfChangeAddNode entry per member (term 1, indexes 1..n), the hard state
 *                       {term 1, vote: the lowest member id, commit n}, and a snapshot record at n;
 *   member/snap/*.snap  a raft snapshot at (term 1, index n) whose conf state has every member as a voter
 *                       and whose data is the member list (what the node's own snapshots carry).
 *
 * Member ids come from each member's peer URLs and the token, the cluster id from the member ids (ids.ts),
 * so every run of the same flags agrees on them, and they differ from the old cluster's. The node's
 * restart path (EtcdServer.start) takes such a dir as it is: the newest snapshot the WAL knows is the .snap
 * at n, the WAL has nothing after it, the backend's applied index is n, and the membership comes from the
 * `members` bucket. Keys, revisions, leases and auth are kept, as etcd keeps them.
 *
 * Nothing is left behind on failure: everything is built in a fresh `<data-dir>.restoring-XXXXXX` beside
 * the data dir, then renamed into place (a dedicated --wal-dir, written last, is removed on failure).
 * Only a process killed mid-restore leaves that staging dir (and a --wal-dir) behind.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, open, rename, rm, stat, truncate } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

import { KvError } from '../../base/errors.js';
import { type Logger, noopLogger } from '../../base/logger.js';
import { Backend, type Bucket, lmdbFileProblem } from '../mvcc/backend.js';
import { KvStore } from '../mvcc/kvstore.js';
import {
  type ConfChange,
  ConfChangeType,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Snapshot,
  decodeConfChange,
  encodeConfChange,
} from '../raft/index.js';
import { syncDir } from '../../base/node-fs.js';
import { Snapshotter } from '../snap/index.js';
import { Wal, encodeWalMetadata } from '../wal/index.js';
import { clusterIdFor, idHex, memberIdFor } from './ids.js';
import { writeConfState } from './bootstrap.js';
import { Membership, encodeMemberContext } from './membership.js';
import { SnapshotFileError } from './snapshot-status.js';

export interface RestoreOptions {
  /** The snapshot file: what `snapshot save` writes (db + SHA-256), or a db copied out of a data dir. */
  readonly snapshotPath: string;
  /** This member's name; must be in `initialCluster`. */
  readonly name: string;
  /** Must not exist. */
  readonly dataDir: string;
  /** A dedicated WAL dir (must not exist); empty or undefined: `<dataDir>/member/wal`. */
  readonly walDir?: string;
  /** etcd's `--initial-cluster` text: `name=peerURL,...` (a name may repeat for several URLs). */
  readonly initialCluster: string;
  readonly initialClusterToken: string;
  /** etcd's `--initial-advertise-peer-urls` text: comma-separated; must equal this member's URLs in `initialCluster`. */
  readonly initialAdvertisePeerUrls: string;
  /** Accept a file without the SHA-256 trailer (a db copied out of a data dir), and do not check one that has it. */
  readonly skipHashCheck?: boolean;
  /** For the storage modules the restore drives (backend, WAL, membership). */
  readonly logger?: Logger;
  /** One line per step, for an operator watching. */
  readonly onProgress?: (line: string) => void;
}

export interface RestoredMember {
  readonly name: string;
  readonly id: bigint;
  /** Sorted, as the member id is derived from them. */
  readonly peerUrls: readonly string[];
}

export interface RestoreReport {
  readonly dataDir: string;
  readonly walDir: string;
  /** This member. */
  readonly member: RestoredMember;
  readonly clusterId: bigint;
  /** Every member of the new cluster, by id. */
  readonly members: readonly RestoredMember[];
  /** The raft position the member starts from: term 1, index = number of members. */
  readonly term: number;
  readonly index: number;
  /** The snapshot's MVCC revision, kept as it was. */
  readonly revision: number;
  /** Keys that exist at that revision. */
  readonly keys: number;
  /** The db's size in bytes (trailer excluded). */
  readonly dbSize: number;
  /** Whether a SHA-256 trailer was there and was checked (false with skipHashCheck). */
  readonly hashChecked: boolean;
  /** Old members deleted from `members` and `members_removed`. */
  readonly oldMembersRemoved: number;
  /** Alarms of the old members deleted from `alarm`. */
  readonly alarmsCleared: number;
}

/** A restore refused for its flags or its target dirs (the snapshot file's own faults are SnapshotFileError). */
export class RestoreError extends KvError {
  readonly code = 'SNAPSHOT_RESTORE_REFUSED';
}

const SHA256_BYTES = 32;
/** etcd's term for the entries and snapshot a restore writes. */
const RESTORE_TERM = 1;

export async function restoreSnapshot(opts: RestoreOptions): Promise<RestoreReport> {
  const logger = opts.logger ?? noopLogger;
  const progress = opts.onProgress ?? (() => {});
  const members = planMembers(opts);
  const self = members.find((m) => m.name === opts.name) as RestoredMember;
  const clusterId = clusterIdFor(members.map((m) => m.id));

  // etcdctl 3.4's checks and words: an existing dir is never reused, even an empty one.
  if (existsSync(opts.dataDir)) throw new RestoreError(`data-dir ${goQuote(opts.dataDir)} exists`);
  const dedicatedWal = opts.walDir !== undefined && opts.walDir !== '';
  if (dedicatedWal && existsSync(opts.walDir as string)) throw new RestoreError(`wal-dir ${goQuote(opts.walDir as string)} exists`);
  let snapshotSize: number;
  try {
    snapshotSize = (await stat(opts.snapshotPath)).size;
  } catch (err) {
    throw new SnapshotFileError(`open ${opts.snapshotPath}: ${errnoText(err)}`, { cause: err });
  }

  const finalDataDir = resolve(opts.dataDir);
  await mkdir(dirname(finalDataDir), { recursive: true, mode: 0o700 });
  const staging = await mkdtemp(`${finalDataDir}.restoring-`);
  const walDir = dedicatedWal ? resolve(opts.walDir as string) : join(finalDataDir, 'member', 'wal');
  let walCreated = false;
  try {
    const snapDir = join(staging, 'member', 'snap');
    await mkdir(snapDir, { recursive: true, mode: 0o700 });
    const dbPath = join(snapDir, 'db');
    progress(`restoring snapshot ${opts.snapshotPath} (${snapshotSize} bytes) into ${opts.dataDir}`);
    const { hashChecked, dbSize } = await copyAndVerify(opts.snapshotPath, dbPath, opts.skipHashCheck ?? false);
    if (hashChecked) progress('SHA-256 of the snapshot checked');

    const entries = confChangeEntries(members);
    const index = entries.length;
    const confState: ConfState = { voters: members.map((m) => m.id), learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
    const db = await rewriteBackend(opts.snapshotPath, dbPath, entries, members, confState, logger);
    progress(
      `db: revision ${db.revision}, ${db.keys} keys kept; ${db.oldMembersRemoved} old member(s) and ${db.alarmsCleared} alarm(s) removed, ${members.length} new member(s) written`,
    );

    const snapshot: Snapshot = {
      data: db.snapshotData,
      metadata: { index, term: RESTORE_TERM, confState },
    };
    await new Snapshotter(snapDir, { logger }).save(snapshot);

    // The WAL goes into the staging dir, or straight to its dedicated place (checked absent above).
    const stagedWalDir = dedicatedWal ? walDir : join(staging, 'member', 'wal');
    const hardState: HardState = { term: RESTORE_TERM, vote: (members[0] as RestoredMember).id, commit: index };
    const wal = await Wal.create(stagedWalDir, encodeWalMetadata({ nodeId: self.id, clusterId }), { logger });
    walCreated = true;
    try {
      await wal.save(hardState, entries);
      await wal.saveSnapshot({ index, term: RESTORE_TERM, confState });
    } finally {
      await wal.close();
    }
    progress(`wal: member ${idHex(self.id)} of cluster ${idHex(clusterId)}, ${index} conf change(s) committed at term ${RESTORE_TERM}`);

    await syncDir(join(staging, 'member'));
    await syncDir(staging);
    try {
      await rename(staging, finalDataDir);
    } catch (err) {
      // Someone made the data dir while we worked: refuse as if it had been there from the start.
      if (existsSync(finalDataDir)) throw new RestoreError(`data-dir ${goQuote(opts.dataDir)} exists`, { cause: err });
      throw err;
    }
    await syncDir(dirname(finalDataDir));
    progress(`restored ${opts.dataDir}`);
    return {
      dataDir: opts.dataDir,
      walDir: dedicatedWal ? (opts.walDir as string) : join(opts.dataDir, 'member', 'wal'),
      member: self,
      clusterId,
      members,
      term: RESTORE_TERM,
      index,
      revision: db.revision,
      keys: db.keys,
      dbSize,
      hashChecked,
      oldMembersRemoved: db.oldMembersRemoved,
      alarmsCleared: db.alarmsCleared,
    };
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    if (dedicatedWal && walCreated) await rm(walDir, { recursive: true, force: true });
    throw err;
  }
}

// ---- the new members ---------------------------------------------------------------------------------------

/**
 * The members of the new cluster, sorted by id (etcd's MemberIDs order, which the WAL entries and the vote
 * follow), after etcd's checks of the flags (types.NewURLs, NewURLsMap, ServerConfig.VerifyBootstrap) with
 * etcd's messages, in etcd's order.
 */
function planMembers(opts: RestoreOptions): RestoredMember[] {
  const advertised = parseUrls(opts.initialAdvertisePeerUrls.split(','));
  const cluster = parseUrlsMap(opts.initialCluster);
  const own = cluster.get(opts.name);
  if (own === undefined) {
    throw new RestoreError(`couldn't find local name ${goQuote(opts.name)} in the initial cluster configuration`);
  }
  advertiseMatchesCluster(opts.name, advertised, own);
  const seen = new Set<string>();
  for (const urls of cluster.values()) {
    for (const u of urls) {
      if (seen.has(u)) throw new RestoreError(`initial cluster ${urlsMapString(cluster)} has duplicate url`);
      seen.add(u);
    }
  }
  const members = [...cluster].map(([name, peerUrls]) => ({ name, peerUrls, id: memberIdFor(peerUrls, opts.initialClusterToken) }));
  return members.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * etcd's types.NewURLs: each URL trimmed; scheme http, https, unix or unixs; a `host:port` address; no
 * path. Returns the URLs as Go prints them (scheme lower-cased), sorted. Hostnames are not resolved.
 */
function parseUrls(list: readonly string[]): string[] {
  if (list.length === 0) throw new RestoreError('no valid URLs given');
  return list.map((raw) => parseUrl(raw.trim())).sort();
}

function parseUrl(raw: string): string {
  // Go's url.Parse: a scheme starts with a letter; without one, a colon in the first segment is an error.
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):(.*)$/s.exec(raw);
  if (m === null) {
    const firstSegment = raw.split('/')[0] ?? '';
    if (firstSegment.includes(':')) throw new RestoreError(`parse ${goQuote(raw)}: first path segment in URL cannot contain colon`);
    throw new RestoreError(`URL scheme must be http, https, unix, or unixs: ${raw}`);
  }
  const scheme = (m[1] as string).toLowerCase();
  const rest = m[2] as string;
  if (!['http', 'https', 'unix', 'unixs'].includes(scheme)) throw new RestoreError(`URL scheme must be http, https, unix, or unixs: ${raw}`);
  const authorityAndPath = rest.startsWith('//') ? rest.slice(2) : '';
  const hostEnd = authorityAndPath.search(/[/?#]/);
  const host = hostEnd < 0 ? authorityAndPath : authorityAndPath.slice(0, hostEnd);
  const afterHost = hostEnd < 0 ? '' : authorityAndPath.slice(hostEnd);
  if (!isHostPort(host.slice(host.lastIndexOf('@') + 1))) {
    throw new RestoreError(`URL address does not have the form "host:port": ${raw}`);
  }
  const pathEnd = afterHost.search(/[?#]/);
  const path = pathEnd < 0 ? afterHost : afterHost.slice(0, pathEnd);
  if (path !== '') throw new RestoreError(`URL must not contain a path: ${raw}`);
  return `${scheme}:${rest}`;
}

/** Go's net.SplitHostPort succeeds: `host:port` with no other colon, or `[v6]:port`. */
function isHostPort(hostPort: string): boolean {
  if (hostPort.startsWith('[')) return /^\[[^\]]*\]:[^:]*$/.test(hostPort);
  const colon = hostPort.lastIndexOf(':');
  return colon >= 0 && hostPort.indexOf(':') === colon;
}

/** etcd's types.NewURLsMap: `name=url` pairs split on commas, a name collecting every URL given for it. */
function parseUrlsMap(text: string): Map<string, string[]> {
  const raw = new Map<string, string[]>();
  for (const part of text.split(',')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    const url = eq < 0 ? '' : part.slice(eq + 1);
    raw.set(name, [...(raw.get(name) ?? []), url]);
  }
  const out = new Map<string, string[]>();
  for (const [name, urls] of raw) out.set(name, parseUrls(urls));
  return out;
}

/** etcd's URLsMap.String(): every `name=url`, sorted, comma-joined. */
function urlsMapString(m: ReadonlyMap<string, readonly string[]>): string {
  const pairs: string[] = [];
  for (const [name, urls] of m) for (const u of urls) pairs.push(`${name}=${u}`);
  return pairs.sort().join(',');
}

/** etcd's ServerConfig.advertiseMatchesCluster (3.4), comparing URLs as written (etcd resolves hostnames). */
function advertiseMatchesCluster(name: string, advertised: readonly string[], own: readonly string[]): void {
  let why: string | undefined;
  if (advertised.length !== own.length) why = `len(${goQuoteList(advertised)}) != len(${goQuoteList(own)})`;
  else {
    const i = advertised.findIndex((u, k) => u !== own[k]);
    if (i >= 0) why = `resolved urls: ${goQuote(advertised[i] as string)} != ${goQuote(own[i] as string)}`;
  }
  if (why === undefined) return;
  const notAdvertised = own.filter((u) => !advertised.includes(u));
  if (notAdvertised.length > 0) {
    throw new RestoreError(
      `--initial-cluster has ${notAdvertised.map((u) => `${name}=${u}`).join(',')} but missing from --initial-advertise-peer-urls=${advertised.join(',')} (${why})`,
    );
  }
  const notInCluster = advertised.filter((u) => !own.includes(u));
  const advertisedMap = urlsMapString(new Map([[name, advertised]]));
  if (notInCluster.length > 0) {
    throw new RestoreError(`--initial-advertise-peer-urls has ${notInCluster.join(',')} but missing from --initial-cluster=${advertisedMap}`);
  }
  throw new RestoreError(`failed to resolve ${advertised.join(',')} to match --initial-cluster=${advertisedMap} (${why})`);
}

/** One ConfChangeAddNode per member, committed at term 1 with indexes 1..n (etcd's saveWALAndSnap). */
function confChangeEntries(members: readonly RestoredMember[]): Entry[] {
  return members.map((m, i) => {
    const cc: ConfChange = {
      type: ConfChangeType.AddNode,
      nodeId: m.id,
      context: encodeMemberContext({ id: m.id, peerUrls: m.peerUrls, isLearner: false }),
      id: 0n,
    };
    return { term: RESTORE_TERM, index: i + 1, type: EntryType.ConfChange, data: encodeConfChange(cc) };
  });
}

// ---- the db ------------------------------------------------------------------------------------------------

/**
 * Copies the snapshot to `dbPath`, strips the SHA-256 trailer when there is one and checks it against the
 * copy (etcd's copyAndVerifyDB: a db is a whole number of 512-byte sectors, so size % 512 == 32 means a
 * trailer). Hashing the copy, not the source, means what is checked is what is kept.
 */
async function copyAndVerify(src: string, dbPath: string, skipHashCheck: boolean): Promise<{ hashChecked: boolean; dbSize: number }> {
  try {
    await copyFile(src, dbPath);
  } catch (err) {
    throw new SnapshotFileError(`open ${src}: ${errnoText(err)}`, { cause: err });
  }
  await chmod(dbPath, 0o600);
  const size = (await stat(dbPath)).size;
  const hasHash = size % 512 === SHA256_BYTES;
  let expected: Buffer | undefined;
  if (hasHash) {
    expected = Buffer.alloc(SHA256_BYTES);
    const fh = await open(dbPath, 'r');
    try {
      await fh.read(expected, 0, SHA256_BYTES, size - SHA256_BYTES);
    } finally {
      await fh.close();
    }
    await truncate(dbPath, size - SHA256_BYTES);
  }
  if (!hasHash && !skipHashCheck) throw new SnapshotFileError('snapshot missing hash but --skip-hash-check=false');
  const dbSize = hasHash ? size - SHA256_BYTES : size;
  // lmdb would happily turn an empty file into an empty store: an empty "snapshot" is a mistake, not a restore.
  if (dbSize === 0) throw new SnapshotFileError(`snapshot: ${src} holds no db (${size} bytes)`);
  if (expected === undefined || skipHashCheck) return { hashChecked: false, dbSize };
  const actual = await sha256Of(dbPath);
  if (!actual.equals(expected)) throw new SnapshotFileError(`expected sha256 ${goBytes(expected)}, got ${goBytes(actual)}`);
  return { hashChecked: true, dbSize };
}

async function sha256Of(path: string): Promise<Buffer> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest();
}

interface RewrittenDb {
  readonly revision: number;
  readonly keys: number;
  readonly oldMembersRemoved: number;
  readonly alarmsCleared: number;
  /** The raft snapshot's data: the member list as the backend now holds it. */
  readonly snapshotData: Uint8Array;
}

/**
 * Makes the copied db belong to the new cluster, in one batch: the old membership and the old members'
 * alarms out, the new members in (by applying the very conf changes the WAL gets, plus each member's
 * name as etcd's restore records it), and the applied index set to the last of those entries, so that the
 * node skips nothing it should apply and replays nothing the db already has.
 */
async function rewriteBackend(
  snapshotPath: string,
  dbPath: string,
  entries: readonly Entry[],
  members: readonly RestoredMember[],
  confState: ConfState,
  logger: Logger,
): Promise<RewrittenDb> {
  assertLmdbFile(snapshotPath, dbPath);
  let backend: Backend;
  try {
    backend = Backend.open({ path: dbPath, logger });
  } catch (err) {
    throw new SnapshotFileError(`snapshot: ${snapshotPath} is not a kvctl snapshot: ${(err as Error).message}`, { cause: err });
  }
  try {
    let kv: KvStore;
    try {
      kv = KvStore.open(backend, { logger });
    } catch (err) {
      throw new SnapshotFileError(`snapshot: ${snapshotPath} is not a kvctl snapshot: ${(err as Error).message}`, { cause: err });
    }
    const revision = kv.currentRevision;
    const keys = kv.keyCount();
    await kv.close();
    const last = entries[entries.length - 1] as Entry;
    const rewritten = backend.batch(() => {
      const oldMembersRemoved = clearBucket(backend.members) + clearBucket(backend.membersRemoved);
      // Alarms are keyed by the member that raised them; those members do not exist in the new cluster,
      // and a condition that still holds (NOSPACE) is raised again by the new members.
      const alarmsCleared = clearBucket(backend.alarm);
      const membership = new Membership(backend.members, backend.membersRemoved, logger);
      // Decoding the WAL's own entries keeps the bucket and the WAL in step by construction.
      for (const e of entries) membership.applyConfChange(decodeConfChange(e.data));
      for (const m of members) membership.setAttributes(m.id, m.name, []);
      backend.setConsistentIndex(last.index, last.term);
      // The old cluster's configuration must not survive: a restart resumes raft from meta/confState.
      writeConfState(backend, confState);
      return { oldMembersRemoved, alarmsCleared, snapshotData: membership.snapshotData() };
    });
    await backend.sync();
    return { revision, keys, ...rewritten };
  } finally {
    await backend.close();
  }
}

/** Refuses a file that is not an lmdb environment before lmdb sees it (see lmdbFileProblem). */
function assertLmdbFile(snapshotPath: string, dbPath: string): void {
  const problem = lmdbFileProblem(dbPath);
  if (problem !== undefined) throw new SnapshotFileError(`snapshot: ${snapshotPath} is not a kvctl snapshot: ${problem}`);
}

function clearBucket(bucket: Bucket): number {
  const keys = [...bucket.entries()].map(([k]) => k);
  for (const k of keys) bucket.delete(k);
  return keys.length;
}

// ---- small helpers -----------------------------------------------------------------------------------------


/** Go's %q for a plain string (close enough: JSON's escapes for the characters paths and names use). */
function goQuote(s: string): string {
  return JSON.stringify(s);
}

/** Go's %q for a []string: `["a" "b"]`. */
function goQuoteList(list: readonly string[]): string {
  return `[${list.map(goQuote).join(' ')}]`;
}

/** Go's %v for a []byte: decimal bytes in brackets. */
function goBytes(b: Buffer): string {
  return `[${[...b].join(' ')}]`;
}

/** The text of a file error as Go's os package words it (`no such file or directory`). */
function errnoText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const words: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EISDIR: 'is a directory',
    ENOTDIR: 'not a directory',
  };
  return (code !== undefined ? words[code] : undefined) ?? (err as Error).message;
}
