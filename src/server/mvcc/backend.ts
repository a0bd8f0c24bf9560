/**
 * The node's persistent backend (etcd's `backend` over bbolt), on lmdb (lmdb-js).
 *
 * One lmdb environment whose data file is exactly `path` (lmdb-js keeps `<path>-lock` beside it). etcd's
 * buckets are named sub-databases with binary keys and values and no compression. All writes go through
 * `batch(fn)`: one synchronous lmdb write transaction, committed when fn returns, rolled back when it throws.
 *
 * Durability. The raft WAL is the durable log: a batch also records the applied raft index
 * (`setConsistentIndex`), so after a crash the node replays the WAL from that index and losing recent
 * batches is harmless, while a torn or corrupt file is not. The environment is opened with lmdb's
 * MDB_NOSYNC (lmdb-js `noSync: true`, `overlappingSync: false`, no write map):
 *  - process crash (kill -9, OOM, uncaught error): nothing lost. A commit writes its pages and then the meta
 *    page with pwrite() before transactionSync returns, so the data sits in the kernel's page cache, which
 *    outlives the process.
 *  - power loss / kernel crash: batches committed since the last `sync()` may be lost, and because the kernel
 *    may write pages back in any order the file can be left inconsistent (lmdb: "a system crash can corrupt
 *    the database"). The node must therefore call `sync()` before it releases the WAL segments that cover
 *    those batches, and after an unclean machine restart treat a db that fails to open/verify as lost
 *    (rebuild it from a snapshot or a peer). `syncEveryBatch: true` opens without MDB_NOSYNC instead: every
 *    commit fsyncs (data, then meta), which is power-loss safe per batch at ~6x the commit cost.
 * Measured on this machine (ext4 on virtio disk, Node 20, lmdb-js 3.5.6; 2000 batches of 64 puts of 256 B,
 * µs per batch, two runs):
 *     noSync (chosen)                                     76-101
 *     noSync + useWritemap                                93-150   (stray writes can corrupt; rejected)
 *     synced, noMetaSync (one fdatasync per commit)      466-473
 *     synced (lmdb-js default, overlappingSync)          577-730
 *     overlappingSync + per-txn MDB_NOSYNC flag          610-637   (the commit still waits for the flush
 *                                                                   in the calling thread)
 * A final `sync()` after the noSync run took ~25 ms (it flushes everything written since the last one).
 * Through this class (bench/mvcc.ts, 1000 such batches): noSync 71-86 µs, syncEveryBatch 392-503 µs.
 *
 * Nested `batch` calls join the outer batch (lmdb-js would otherwise turn them into asynchronous child
 * transactions). Code that must undo in-memory state when a batch rolls back registers `onRollback(fn)`.
 *
 * Reads outside a batch see the last committed batch; reads inside a batch see its own writes.
 */
import { closeSync, fsyncSync, openSync, readSync, renameSync, rmSync, statSync } from 'node:fs';
import { open as openFile } from 'node:fs/promises';
import { dirname } from 'node:path';

import { type Database, type RootDatabase, open } from 'lmdb';

import { crc32c } from '../../base/crc32c.js';
import { type Logger, noopLogger } from '../../base/logger.js';
import { BackendBusyError, BackendClosedError, CorruptError, NotInBatchError } from './errors.js';

/** etcd's bucket names (server/storage/schema/bucket.go). */
export const BUCKET_NAMES = [
  'key',
  'meta',
  'lease',
  'auth',
  'authUsers',
  'authRoles',
  'members',
  'members_removed',
  'alarm',
  'cluster',
] as const;
export type BucketName = (typeof BUCKET_NAMES)[number];

/** Keys of the `meta` bucket, as etcd names them. */
export const META_CONSISTENT_INDEX = Buffer.from('consistent_index');
export const META_TERM = Buffer.from('term');

/** etcd's schema.DefaultIgnores: Maintenance.Hash leaves out the applied index and term. */
export function defaultHashIgnore(bucket: BucketName, key: Buffer): boolean {
  return bucket === 'meta' && (key.equals(META_TERM) || key.equals(META_CONSISTENT_INDEX));
}

export interface BackendOptions {
  /** The data file (the node uses `<data-dir>/member/snap/db`). Its directory is created if missing. */
  readonly path: string;
  readonly logger?: Logger;
  /** Initial map size; lmdb-js grows the map by itself when it fills, so this is a hint, not a quota. */
  readonly mapSizeBytes?: number;
  /** fsync every batch (see the header); default false: only `sync()` flushes. */
  readonly syncEveryBatch?: boolean;
}

export interface BucketEntry {
  readonly key: Buffer;
  readonly value: Buffer;
}

type Db = Database<Buffer, Buffer>;

/**
 * One named sub-database. A Bucket stays valid across `defragment()` (it looks its lmdb handle up on every
 * call). Keys are non-empty byte strings of at most 1978 bytes (lmdb's limit); values may be empty.
 */
export class Bucket {
  /** @internal use `Backend.buckets`. */
  constructor(
    readonly name: BucketName,
    private readonly db: () => Db,
    private readonly assertWritable: (what: string) => void,
  ) {}

  get(key: Uint8Array): Buffer | undefined {
    return this.db().get(key as Buffer);
  }

  /** Writes key → value; must run inside `Backend.batch`. */
  put(key: Uint8Array, value: Uint8Array): void {
    this.assertWritable('Bucket.put');
    this.db().putSync(key as Buffer, value as Buffer);
  }

  /** Deletes key; must run inside `Backend.batch`. Returns whether it existed. */
  delete(key: Uint8Array): boolean {
    this.assertWritable('Bucket.delete');
    return this.db().removeSync(key as Buffer);
  }

  /**
   * Entries with start <= key < end in key byte order (start undefined: from the first key; end undefined:
   * to the last). Lazy: do not write to this bucket while iterating; collect first.
   */
  range(start?: Uint8Array, end?: Uint8Array, limit?: number): Iterable<BucketEntry> {
    return this.db().getRange({ start: start as Buffer | undefined, end: end as Buffer | undefined, limit });
  }

  /** `range` as [key, value] pairs. */
  *entries(start?: Uint8Array, end?: Uint8Array, limit?: number): IterableIterator<[Buffer, Buffer]> {
    for (const { key, value } of this.range(start, end, limit)) yield [key, value];
  }

  /** Number of entries with start <= key < end (bounds as in `range`). */
  count(start?: Uint8Array, end?: Uint8Array): number {
    return this.db().getCount({ start: start as Buffer | undefined, end: end as Buffer | undefined });
  }
}

interface LmdbTreeStats {
  readonly pageSize: number;
  readonly treeBranchPageCount: number;
  readonly treeLeafPageCount: number;
  readonly overflowPages: number;
}
interface LmdbEnvStats extends LmdbTreeStats {
  readonly root: LmdbTreeStats;
  readonly free: LmdbTreeStats;
}

const treePages = (s: LmdbTreeStats): number => s.treeBranchPageCount + s.treeLeafPageCount + s.overflowPages;

function readU64(buf: Buffer | undefined, what: string): number {
  if (buf === undefined) return 0;
  if (buf.length !== 8) throw new CorruptError(`meta ${what} has ${buf.length} bytes, want 8`);
  const n = buf.readBigUInt64BE(0);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new CorruptError(`meta ${what} ${n} exceeds 2^53`);
  return Number(n);
}

function u64(n: number, what: string): Buffer {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`mvcc: ${what} must be a non-negative safe integer, got ${n}`);
  const buf = Buffer.allocUnsafe(8);
  buf.writeBigUInt64BE(BigInt(n));
  return buf;
}

async function fsyncFile(path: string): Promise<void> {
  const fh = await openFile(path, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export class Backend {
  readonly path: string;
  /** The buckets by name; each stays valid for the backend's lifetime (across defragment). */
  readonly buckets: Readonly<Record<BucketName, Bucket>>;
  private readonly logger: Logger;
  private readonly mapSizeBytes: number | undefined;
  private readonly syncEveryBatch: boolean;
  private root: RootDatabase<Buffer, Buffer> | null = null;
  private readonly dbs = new Map<BucketName, Db>();
  private inBatchDepth = 0;
  private rollbackHooks: Array<() => void> = [];
  /** Set while defragment copies and swaps the file: batches are refused then (their writes would be lost). */
  private defragmenting = false;
  /** Async operations that only read the environment (sync, copyTo); an exclusive one waits for them. */
  private readonly shared = new Set<Promise<unknown>>();
  /** The running exclusive operation (defragment, close), if any. */
  private exclusive: Promise<void> | null = null;

  private constructor(opts: BackendOptions) {
    this.path = opts.path;
    this.logger = opts.logger ?? noopLogger;
    this.mapSizeBytes = opts.mapSizeBytes;
    this.syncEveryBatch = opts.syncEveryBatch ?? false;
    const buckets = {} as Record<BucketName, Bucket>;
    for (const name of BUCKET_NAMES) {
      buckets[name] = new Bucket(name, () => this.db(name), (what) => this.assertWritable(what));
    }
    this.buckets = buckets;
  }

  /**
   * Opens (creating if missing) the environment at `opts.path` with every bucket. A file that is not an
   * lmdb environment is refused with CorruptError before lmdb sees it (lmdb-js crashes the process on one).
   */
  static open(opts: BackendOptions): Backend {
    const problem = lmdbFileProblem(opts.path);
    if (problem !== undefined) throw new CorruptError(`${opts.path} is not a kvctl backend: ${problem}`);
    const b = new Backend(opts);
    const stale = Backend.defragTmpPath(opts.path);
    try {
      statSync(stale);
      b.logger.warn(`mvcc: removing ${stale} left by an interrupted defragment`);
      rmSync(stale, { force: true });
    } catch {
      // no leftover
    }
    b.openEnv();
    b.logger.info(`mvcc: opened backend ${opts.path} (${b.sizeBytes()} bytes)`);
    return b;
  }

  private static defragTmpPath(path: string): string {
    return `${path}.defrag.tmp`;
  }

  private openEnv(): void {
    this.cachedSize = undefined;
    const root = open<Buffer, Buffer>({
      path: this.path,
      noSubdir: true,
      maxDbs: BUCKET_NAMES.length + 4,
      encoding: 'binary',
      keyEncoding: 'binary',
      compression: false,
      noSync: !this.syncEveryBatch,
      overlappingSync: false,
      ...(this.mapSizeBytes !== undefined ? { mapSize: this.mapSizeBytes } : {}),
    });
    this.root = root;
    this.dbs.clear();
    for (const name of BUCKET_NAMES) {
      this.dbs.set(name, root.openDB<Buffer, Buffer>({ name, encoding: 'binary', keyEncoding: 'binary', compression: false }));
    }
  }

  private liveRoot(): RootDatabase<Buffer, Buffer> {
    if (this.root === null) throw new BackendClosedError();
    return this.root;
  }

  private db(name: BucketName): Db {
    this.liveRoot();
    return this.dbs.get(name) as Db;
  }

  private assertWritable(what: string): void {
    this.liveRoot();
    if (this.inBatchDepth === 0) throw new NotInBatchError(what);
  }

  get key(): Bucket {
    return this.buckets.key;
  }
  get meta(): Bucket {
    return this.buckets.meta;
  }
  get lease(): Bucket {
    return this.buckets.lease;
  }
  get auth(): Bucket {
    return this.buckets.auth;
  }
  get authUsers(): Bucket {
    return this.buckets.authUsers;
  }
  get authRoles(): Bucket {
    return this.buckets.authRoles;
  }
  get members(): Bucket {
    return this.buckets.members;
  }
  get membersRemoved(): Bucket {
    return this.buckets.members_removed;
  }
  get alarm(): Bucket {
    return this.buckets.alarm;
  }
  get cluster(): Bucket {
    return this.buckets.cluster;
  }

  /** True while a batch runs (in its fn). */
  get inBatch(): boolean {
    return this.inBatchDepth > 0;
  }

  /**
   * Runs fn in one lmdb write transaction: everything it writes commits together when it returns, or not at
   * all when it throws (the error is rethrown after the rollback hooks ran). fn must be synchronous. A batch
   * started inside a batch joins it: its writes commit or roll back with the outer one, even when the outer
   * fn catches the inner error.
   */
  batch<T>(fn: () => T): T {
    const root = this.liveRoot();
    if (this.inBatchDepth > 0) {
      this.inBatchDepth++;
      try {
        return fn();
      } finally {
        this.inBatchDepth--;
      }
    }
    if (this.defragmenting) throw new BackendBusyError('defragmenting: no writes until defragment() resolves');
    this.inBatchDepth = 1;
    this.rollbackHooks = [];
    try {
      return root.transactionSync(() => {
        const result = fn();
        if (result !== null && typeof result === 'object' && typeof (result as { then?: unknown }).then === 'function') {
          throw new TypeError('mvcc: a batch function must be synchronous (it returned a promise)');
        }
        return result;
      });
    } catch (err) {
      const hooks = this.rollbackHooks;
      for (let i = hooks.length - 1; i >= 0; i--) {
        try {
          (hooks[i] as () => void)();
        } catch (hookErr) {
          this.logger.error(`mvcc: rollback hook failed: ${String(hookErr)}`);
        }
      }
      throw err;
    } finally {
      this.inBatchDepth = 0;
      this.rollbackHooks = [];
      // A commit may have grown the file.
      this.cachedSize = undefined;
    }
  }

  /**
   * Registers fn to run if the current batch rolls back (hooks run newest first). Used to undo in-memory
   * state that mirrors the batch's writes. Must be called inside a batch.
   */
  onRollback(fn: () => void): void {
    if (this.inBatchDepth === 0) throw new NotInBatchError('Backend.onRollback');
    this.rollbackHooks.push(fn);
  }

  /** The applied raft index and its term recorded by the last committed batch (0, 0 on a new backend). */
  consistentIndex(): { index: number; term: number } {
    const meta = this.db('meta');
    return {
      index: readU64(meta.get(META_CONSISTENT_INDEX), 'consistent_index'),
      term: readU64(meta.get(META_TERM), 'term'),
    };
  }

  /**
   * Records the applied raft index and term (8-byte big-endian, as etcd). Must be called inside the batch that
   * applies the entries up to `index`. Index 0 is never written (etcd: it means "not loaded"); term only if > 0.
   */
  setConsistentIndex(index: number, term: number): void {
    this.assertWritable('Backend.setConsistentIndex');
    if (index === 0) return;
    const meta = this.buckets.meta;
    meta.put(META_CONSISTENT_INDEX, u64(index, 'consistent index'));
    if (term > 0) meta.put(META_TERM, u64(term, 'term'));
  }

  /**
   * The data file's size in bytes (etcd's dbSize). The quota check asks for it on every write request: it
   * is stat'ed once per committed batch (the file only changes when a batch commits or the file is swapped).
   */
  sizeBytes(): number {
    this.cachedSize ??= statSync(this.path).size;
    return this.cachedSize;
  }

  private cachedSize: number | undefined;

  /** Bytes of pages in use (etcd's dbSizeInUse): every b-tree page of every database plus the two meta pages. */
  sizeInUseBytes(): number {
    const root = this.liveRoot();
    const env = root.getStats() as LmdbEnvStats;
    let pages = 2 + treePages(env.root) + treePages(env.free);
    for (const db of this.dbs.values()) pages += treePages(db.getStats() as LmdbTreeStats);
    return pages * env.pageSize;
  }

  /**
   * Writes a consistent copy of the whole environment to `path` as one lmdb file, fsynced (lmdb copies from
   * one read transaction). The copy holds every batch committed before the call; batches committed while it
   * starts may or may not be in it, never in part (its `meta` says which applied index it holds). `path`
   * must not exist.
   */
  async copyTo(path: string): Promise<void> {
    await this.runShared(async () => {
      await this.liveRoot().backup(path, false);
      await fsyncFile(path);
    });
  }

  /**
   * Makes every committed batch durable (fsync of the data file). The node calls it before releasing the WAL
   * segments that cover those batches.
   */
  async sync(): Promise<void> {
    await this.runShared(
      () =>
        new Promise<void>((resolve, reject) => {
          // lmdb-js's sync(callback) runs mdb_env_sync(force=1) on a worker thread (not in its typings).
          const root = this.liveRoot() as unknown as { sync(cb: (err?: unknown) => void): void };
          root.sync((err) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()));
        }),
    );
  }

  /** Resolves when no defragment or close is running (writers that yield, like compaction, wait on it). */
  async whenWritable(): Promise<void> {
    for (let i = 0; this.exclusive !== null && i < 1000; i++) await this.exclusive.catch(() => {});
  }

  /**
   * Rewrites the file compactly (etcd's defrag): a compacting copy beside it, fsynced, then closed env →
   * rename over `path` → fsync dir → reopen, all in one synchronous step so no read sees the swap. Batches
   * throw BackendBusyError while this is pending. A crash before the rename leaves the old file (the copy is
   * removed at the next open); after it, the new one.
   */
  async defragment(): Promise<void> {
    if (this.inBatchDepth > 0) throw new BackendBusyError('defragment called inside a batch');
    if (this.defragmenting) throw new BackendBusyError('a defragment is already running');
    // Refuse batches from the call on, so that nothing committed after it can miss the copy.
    this.defragmenting = true;
    try {
      await this.runExclusive(() => this.defragmentNow());
    } finally {
      this.defragmenting = false;
    }
  }

  private async defragmentNow(): Promise<void> {
    const root = this.liveRoot();
    const tmp = Backend.defragTmpPath(this.path);
    const before = this.sizeBytes();
    try {
      rmSync(tmp, { force: true });
      await root.backup(tmp, true);
      await fsyncFile(tmp);
      // From here to openEnv nothing yields unless lmdb-js still has asynchronous reads out (we start none).
      const closing = root.close();
      this.root = null;
      if ((root as { status?: string }).status !== 'closed') await closing;
      renameSync(tmp, this.path);
      fsyncDir(dirname(this.path));
      this.openEnv();
    } catch (err) {
      if (this.root === null) this.openEnv(); // the old file is still in place if the rename did not happen
      rmSync(tmp, { force: true });
      throw err;
    }
    this.logger.info(`mvcc: defragmented ${this.path}: ${before} -> ${this.sizeBytes()} bytes`);
  }

  /**
   * Replaces the whole environment with the lmdb file at `source` (a backend received with a raft snapshot):
   * fsync it, close the env, rename it over `path`, fsync the directory, reopen: the same swap defragment
   * does, so Buckets stay valid and no read sees a half-swapped file. `source` must be on the same file
   * system as `path` (the node receives snapshots into its snap directory). Batches are refused meanwhile.
   */
  async replaceWith(source: string): Promise<void> {
    if (this.inBatchDepth > 0) throw new BackendBusyError('replaceWith called inside a batch');
    if (this.defragmenting) throw new BackendBusyError('a defragment is running');
    this.defragmenting = true;
    try {
      await this.runExclusive(async () => {
        await fsyncFile(source);
        const root = this.liveRoot();
        const closing = root.close();
        this.root = null;
        if ((root as { status?: string }).status !== 'closed') await closing;
        try {
          renameSync(source, this.path);
          fsyncDir(dirname(this.path));
        } finally {
          this.openEnv();
        }
      });
    } finally {
      this.defragmenting = false;
    }
    this.logger.info(`mvcc: replaced ${this.path} with a received snapshot (${this.sizeBytes()} bytes)`);
  }

  /**
   * Maintenance.Hash: CRC-32C over every bucket in name (byte) order, each bucket's name then its keys and
   * values in key order, leaving out what `ignore` selects (default: meta's consistent_index and term).
   */
  hash(ignore: (bucket: BucketName, key: Buffer) => boolean = defaultHashIgnore): number {
    const names = [...BUCKET_NAMES].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    let crc = 0;
    for (const name of names) {
      crc = crc32c(Buffer.from(name), crc);
      for (const { key, value } of this.buckets[name].range()) {
        if (ignore(name, key)) continue;
        crc = crc32c(key, crc);
        crc = crc32c(value, crc);
      }
    }
    return crc;
  }

  /** Closes the environment (after running sync/copy operations finish). Idempotent. */
  async close(): Promise<void> {
    if (this.root === null && this.exclusive === null) return;
    await this.runExclusive(async () => {
      const root = this.root;
      this.root = null;
      if (root !== null) await root.close();
    });
  }

  /** Waits for any exclusive operation, then (synchronously after the check) registers op as shared. */
  private async runShared<T>(op: () => Promise<T>): Promise<T> {
    for (let i = 0; this.exclusive !== null; i++) {
      if (i >= 1000) throw new BackendBusyError('an exclusive operation keeps running');
      await this.exclusive.catch(() => {});
    }
    this.liveRoot();
    const p = op();
    this.shared.add(p);
    try {
      return await p;
    } finally {
      this.shared.delete(p);
    }
  }

  /** Waits for any exclusive operation, then (synchronously after the check) becomes the exclusive one. */
  private async runExclusive(op: () => Promise<void>): Promise<void> {
    for (let i = 0; this.exclusive !== null; i++) {
      if (i >= 1000) throw new BackendBusyError('an exclusive operation keeps running');
      await this.exclusive.catch(() => {});
    }
    const p = (async () => {
      await Promise.allSettled([...this.shared]);
      await op();
    })();
    this.exclusive = p;
    try {
      await p;
    } finally {
      if (this.exclusive === p) this.exclusive = null;
    }
  }
}

/** lmdb's meta page (liblmdb/mdb.c as lmdb-js 3.5 builds it): page header of 24 bytes, flags at 18, then MDB_meta. */
const LMDB_META_FLAGS_OFFSET = 18;
const LMDB_P_META = 0x08;
const LMDB_MAGIC_OFFSET = 24;
const LMDB_MAGIC = 0xbeefc0de;
const LMDB_DATA_VERSION = 2;
/** bbolt's meta magic (etcd's backend), at offset 16 of its first page. */
const BBOLT_MAGIC = 0xed0cdaed;
/** How many bytes of a file's start `isBboltHead` needs. */
export const BBOLT_HEAD_BYTES = 20;

/** Whether a file that starts with `head` is a bbolt db (a real etcd's backend or snapshot). */
export function isBboltHead(head: Uint8Array): boolean {
  return head.length >= BBOLT_HEAD_BYTES && Buffer.from(head.buffer, head.byteOffset, head.length).readUInt32LE(16) === BBOLT_MAGIC;
}

/**
 * Why the file at `path` is not an lmdb environment (checked as mdb_env_read_header would, but before lmdb
 * sees it: lmdb-js 3.5 crashes the process with SIGSEGV on such a file, e.g. a real etcd's bbolt db), or
 * undefined when it is one, or is missing or empty (lmdb creates it).
 */
export function lmdbFileProblem(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  const head = Buffer.alloc(LMDB_MAGIC_OFFSET + 8);
  let n: number;
  try {
    n = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  if (n === 0) return undefined;
  const isLmdb =
    n === head.length &&
    (head.readUInt16LE(LMDB_META_FLAGS_OFFSET) & LMDB_P_META) !== 0 &&
    head.readUInt32LE(LMDB_MAGIC_OFFSET) === LMDB_MAGIC &&
    (head.readUInt32LE(LMDB_MAGIC_OFFSET + 4) & 0xffff) === LMDB_DATA_VERSION;
  if (isLmdb) return undefined;
  return isBboltHead(head.subarray(0, n))
    ? 'it is a bbolt file (a real etcd\'s backend, which kvctl cannot read)'
    : 'no lmdb meta page at its start';
}
