/**
 * The write-ahead log: raft entries, hard states and snapshot markers in etcd's on-disk format, so that a
 * kvctl member's `member/wal` can be read by etcd's tools and the other way round.
 *
 * ## Layout
 * `<dir>/%016x-%016x.wal` segments (sequence number, raft index of the first entry the segment may hold),
 * each a stream of framed walpb.Records (record.ts). A segment starts with a crc record carrying the running
 * CRC-32C of everything before it, then the metadata record (etcd's {NodeID, ClusterID}); the first segment
 * then has a snapshot record {0, 0}, later ones the last hard state (if any), as etcd's cut writes them.
 * Segments are cut once they pass the segment size (etcd's 64,000,000 bytes by default; the option exists
 * for tests), and are preallocated to that size with zeros; the next one is prepared in the background once
 * the tail is half full (file-pipeline.ts).
 *
 * ## Durability
 * - `save` writes all of its records with one write call and, when anything must be durable (entries, or
 *   a new term or vote: raft's MustSync; a commit-only change need not be), does one fdatasync, and
 *   resolves only after it. Saves are queued: while one is being written, the saves that arrive meanwhile
 *   are written together as one batch with one write and one fdatasync (group commit), in order.
 * - A cut truncates the old segment to its data and fdatasyncs it, takes a zero-filled and fsynced file from
 *   the pipeline (file-pipeline.ts), writes and fdatasyncs its header, renames it into the sequence and
 *   fsyncs the directory. So every segment but the last is complete and synced.
 * - `create` builds everything in `<dir>.tmp`, fsyncs it, renames it to `<dir>` and fsyncs the parent:
 *   a WAL directory either exists whole or not at all.
 * - A write or sync error is fatal: the WAL rejects every later save (fail-stop, as etcd does).
 *
 * ## Torn tail or corruption
 * Decoding stops at the first bad record: a length word that is zero with data after it or has impossible
 * padding bits, a frame running past the end of the file, an undecodable walpb.Record, or a CRC mismatch.
 * - In any segment but the last it is corruption (those segments were synced whole before the next one
 *   existed).
 * - In the last segment, the writes since the last completed fdatasync may have reached the disk in part,
 *   in any order, sector by sector. Two facts decide:
 *   (a) Lost sector: if a 512-byte sector that the bad record occupies is all zeros from the record's start
 *       to the sector's end, that write never reached the disk (segments are zero-filled before use, so
 *       an unwritten sector reads as zeros). Then nothing written after it was synced either, because an
 *       fdatasync that completed would have flushed this earlier write too. Torn (etcd's rule, too).
 *   (b) Otherwise, if anything after the bad record decodes as a record (a sane frame holding a walpb.Record
 *       of a known type with data), data was written after it and may have been synced and acknowledged:
 *       corruption, the node refuses to start. A torn write on a device with atomic sectors always
 *       shows (a), so (b) only ever refuses a real tear if a sector was garbled mid-write AND later sectors
 *       of the same write landed: two faults at once, where refusing is the safe answer.
 *   (c) Otherwise (the file ends inside the record, or only garbage or zeros follow) it is the torn tail of
 *       the final write: cut off. The one case this gets wrong is bit rot in the very last synced record,
 *       which no local check can tell from a garbled final write.
 *   Repair copies the segment to `<name>.broken` (forensics), overwrites everything from the last good
 *   record on with zeros, re-extends the segment to its preallocated size, fsyncs, and logs a warning with
 *   the file and offset. A record that passes its CRC but has an unknown type, an undecodable entry, or an
 *   entry index that leaves a gap is corruption wherever it is.
 *
 * ## Preallocation: written zeros, not ftruncate
 * Measured on this machine (ext4 on a virtio disk; node 20; 3000 write+fdatasync rounds each; two runs):
 *   write size:                    64 B          4 KiB         8 KiB
 *   growing file (no prealloc)     267-279 us    363-379 us    399-406 us
 *   ftruncate (sparse) prealloc    195-256 us    252-433 us    254-451 us
 *   zero-filled prealloc           229-248 us    181-264 us    169-202 us
 *   zero-filled, next segment
 *   being zero-filled meanwhile    163-199 us    148-176 us    164-167 us
 * Zero-filling 64 MB took about 35 ms. Appends into sparse space allocate blocks, which the journal must
 * commit on fdatasync; written zeros do not. The whole WAL (bench/wal.ts, 300-byte entries, three runs each,
 * same quiet machine) agreed: zero-filled vs sparse segments gave 54-59k vs 35-42k entries/s in saves of 16,
 * 226-243k vs 174-202k in saves of 256, and 27-28k vs 16-20k saves/s with 16 single-entry saves in flight
 * (single-entry saves were within noise of each other: they mostly land in an already allocated block).
 * So segments are zero-filled, the next one in the background.
 */
import { readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { type Logger, noopLogger } from '../../base/logger.js';
import { decodeEntry, decodeHardState, encodeHardState, entrySize } from '../raft/codec.js';
import { type Entry, type HardState, emptyBytes, emptyHardState, isEmptyHardState } from '../raft/raftpb.js';
import { isAllZero, scanSegment } from './decoder.js';
import {
  WalCorruptError,
  WalExistsError,
  WalFileNotFoundError,
  WalInUseError,
  WalMetadataConflictError,
  WalSnapshotMismatchError,
  WalSnapshotNotFoundError,
  WalStateError,
} from './errors.js';
import { FilePipeline, zeroFill } from './file-pipeline.js';
import { type WalFile, type WalFs, nodeWalFs } from './fs.js';
import {
  type DecodedRecord,
  RecordType,
  RecordWriter,
  type WalSnapshot,
  decodeWalSnapshot,
  encodeWalSnapshot,
  parseWalName,
  walName,
} from './record.js';

/** The largest encoding buffer a WAL keeps between saves. */
const MAX_SCRATCH_BYTES = 4 * 1024 * 1024;

/** etcd's SegmentSizeBytes: 64 * 1000 * 1000. */
export const DEFAULT_SEGMENT_SIZE_BYTES = 64 * 1000 * 1000;

export interface WalOptions {
  /** Size segments are preallocated to and cut at. */
  readonly segmentSizeBytes?: number;
  readonly logger?: Logger;
  /** The file operations; tests wrap `nodeWalFs` to count syncs or inject faults. */
  readonly fs?: WalFs;
}

/** A snapshot position: the WAL is opened at one and reads the entries after it. */
export interface SnapshotPoint {
  readonly index: number;
  readonly term: number;
}

export interface WalReadResult {
  readonly metadata: Uint8Array;
  /** The last hard state saved (all zero when none was). */
  readonly hardState: HardState;
  /** The entries after the snapshot index, later writes of an index replacing earlier ones. */
  readonly entries: Entry[];
}

interface Segment {
  readonly name: string;
  readonly seq: number;
  readonly index: number;
}

type Op =
  | { readonly kind: 'save'; readonly hardState: HardState | undefined; readonly entries: readonly Entry[] }
  | { readonly kind: 'snapshot'; readonly snapshot: WalSnapshot };

interface Pending {
  readonly op: Op;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}


/** Directories a live Wal of this process has open (resolved paths). Node has no flock to do this across processes. */
const openDirs = new Set<string>();

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** The segment files of a directory, by sequence number. */
async function listSegments(fs: WalFs, dir: string): Promise<Segment[]> {
  const out: Segment[] = [];
  for (const name of await fs.readdir(dir)) {
    const p = parseWalName(name);
    if (p !== undefined) out.push({ name, ...p });
  }
  return out.sort((a, b) => a.seq - b.seq);
}

async function readWhole(file: WalFile): Promise<{ buf: Buffer; size: number }> {
  const size = await file.size();
  const buf = Buffer.allocUnsafe(size);
  return { buf, size: await file.read(buf, 0) };
}

/** The offset just past the last non-zero byte of `buf[from, to)`, or `from` when all are zero. */
function dirtyEnd(buf: Buffer, from: number, to: number): number {
  const chunk = 64 * 1024;
  // Bounded: `hi` falls by at least one each round until it reaches `from`.
  for (let hi = to; hi > from; ) {
    const lo = Math.max(from, hi - chunk);
    if (!isAllZero(buf, lo, hi)) {
      for (let i = hi; i > lo; i--) if (buf[i - 1] !== 0) return i;
    }
    hi = lo;
  }
  return from;
}

/** Decodes a record's payload, turning a decode failure into corruption at that record. */
function decodeAt<T>(name: string, rec: DecodedRecord, what: string, decode: (b: Uint8Array) => T): T {
  try {
    return decode(rec.data ?? emptyBytes);
  } catch (err) {
    throw new WalCorruptError(name, rec.offset, `undecodable ${what} (${message(err).replace(/^raft: /, '')})`);
  }
}

export class Wal {
  private mode: 'read' | 'append' | 'closed';
  /** Set while readAll runs, so that a second call is refused rather than reading twice. */
  private reading = false;
  private failure: unknown = undefined;
  private tail: WalFile | undefined;
  private tailSeg: Segment;
  /** Where the next record goes in the tail segment. */
  private offset = 0;
  /** The running CRC after the last record written. */
  private crc = 0;
  /** The index of the last entry (or snapshot) saved: names the next segment. */
  private enti = 0;
  /** The last hard state saved: MustSync compares with it and each new segment's header repeats it. */
  private state: HardState = emptyHardState;
  private metadata: Uint8Array = emptyBytes;
  /** Segments still needed, oldest first; the last is the tail. */
  private held: Segment[];
  private pipeline: FilePipeline | undefined;
  private queue: Pending[] = [];
  private draining: Promise<void> | undefined;
  /** The encoding buffer, reused from one batch to the next. */
  private scratch: Buffer = Buffer.allocUnsafe(64 * 1024);

  private constructor(
    readonly dir: string,
    private readonly fs: WalFs,
    private readonly segmentSize: number,
    private readonly logger: Logger,
    private readonly at: SnapshotPoint,
    held: Segment[],
    mode: 'read' | 'append',
  ) {
    this.held = held;
    this.tailSeg = held[held.length - 1] as Segment;
    this.mode = mode;
  }

  /** Whether `dir` holds any WAL segment. A leftover `<dir>.tmp` from an interrupted create does not count. */
  static exists(dir: string): boolean {
    try {
      return readdirSync(dir).some((name) => parseWalName(name) !== undefined);
    } catch {
      return false;
    }
  }

  /**
   * Creates a WAL holding `metadata`, ready for appending. Refuses a directory that holds a WAL or any other
   * file; an empty one is replaced.
   */
  static async create(dir: string, metadata: Uint8Array, opts: WalOptions = {}): Promise<Wal> {
    const fs = opts.fs ?? nodeWalFs;
    const logger = opts.logger ?? noopLogger;
    const segmentSize = checkSegmentSize(opts.segmentSizeBytes);
    const key = resolve(dir);
    if (openDirs.has(key)) throw new WalInUseError(`wal: ${key} is already open in this process`);
    if (Wal.exists(key)) throw new WalExistsError(`wal: ${key} already holds a WAL`);
    if ((await fs.readdir(key)).length > 0) throw new WalExistsError(`wal: ${key} exists and is not empty`);
    openDirs.add(key);
    const tmp = `${key}.tmp`;
    let file: WalFile | undefined;
    try {
      if (await fs.exists(tmp)) {
        logger.warn(`wal: removing ${tmp}, left over from an interrupted create`);
        await fs.removeAll(tmp);
      }
      await fs.mkdirp(tmp);
      const first: Segment = { name: walName(0, 0), seq: 0, index: 0 };
      file = await fs.open(join(tmp, first.name), 'w');
      await zeroFill(file, 0, segmentSize);
      const w = new RecordWriter(0);
      w.add(RecordType.Crc, undefined);
      w.add(RecordType.Metadata, metadata);
      w.add(RecordType.Snapshot, encodeWalSnapshot({ index: 0, term: 0 }));
      await file.write(w.bytes(), 0);
      await file.sync();
      await fs.syncDir(tmp);
      // rename(2) replaces an empty directory; the open fd stays valid across the rename.
      await fs.rename(tmp, key);
      await fs.syncDir(dirname(key));
      const wal = new Wal(key, fs, segmentSize, logger, { index: 0, term: 0 }, [first], 'append');
      wal.tail = file;
      wal.offset = w.length;
      wal.crc = w.crc;
      wal.metadata = new Uint8Array(metadata);
      wal.startPipeline();
      logger.info(`wal: created ${key}`);
      return wal;
    } catch (err) {
      openDirs.delete(key);
      await file?.close().catch(() => {});
      await fs.removeAll(tmp).catch(() => {});
      throw err;
    }
  }

  /**
   * Opens a WAL for reading from the snapshot `at` ({0, 0} when there is none): the segment that may hold its
   * record and every later one. Call `readAll` next; only then can the WAL be appended to.
   */
  static async open(dir: string, at: SnapshotPoint, opts: WalOptions = {}): Promise<Wal> {
    const fs = opts.fs ?? nodeWalFs;
    const logger = opts.logger ?? noopLogger;
    const segmentSize = checkSegmentSize(opts.segmentSizeBytes);
    const key = resolve(dir);
    if (openDirs.has(key)) throw new WalInUseError(`wal: ${key} is already open in this process`);
    const segs = await listSegments(fs, key);
    if (segs.length === 0) throw new WalFileNotFoundError(`wal: file not found in ${key}`);
    let from = -1;
    for (let i = segs.length - 1; i >= 0; i--) {
      if ((segs[i] as Segment).index <= at.index) {
        from = i;
        break;
      }
    }
    if (from < 0) throw new WalFileNotFoundError(`wal: file not found which matches the snapshot index ${at.index}`);
    const held = segs.slice(from);
    for (let i = 1; i < held.length; i++) {
      if ((held[i] as Segment).seq !== (held[i - 1] as Segment).seq + 1) {
        throw new WalFileNotFoundError(
          `wal: file sequence numbers (starting from ${(held[0] as Segment).name}) do not increase continuously: ${(held[i - 1] as Segment).name} is followed by ${(held[i] as Segment).name}`,
        );
      }
    }
    openDirs.add(key);
    try {
      // Files the pipeline prepared but no cut renamed: useless now, and the pipeline reuses the names.
      for (const name of await fs.readdir(key)) {
        if (name.endsWith('.tmp')) await fs.unlink(join(key, name));
      }
    } catch (err) {
      openDirs.delete(key);
      throw err;
    }
    return new Wal(key, fs, segmentSize, logger, { index: at.index, term: at.term }, held, 'read');
  }

  /**
   * The snapshot records of the WAL in `dir` whose index the last saved commit index covers (etcd's
   * ValidSnapshotEntries: a snapshot beyond the commit index may not be usable), oldest first. Reads
   * without repairing; a torn tail just ends the list; corruption throws.
   */
  static async listSnapshots(dir: string, opts: WalOptions = {}): Promise<SnapshotPoint[]> {
    const fs = opts.fs ?? nodeWalFs;
    const key = resolve(dir);
    const segs = await listSegments(fs, key);
    if (segs.length === 0) throw new WalFileNotFoundError(`wal: file not found in ${key}`);
    const snaps: SnapshotPoint[] = [];
    let commit = 0;
    let crc = 0;
    for (let i = 0; i < segs.length; i++) {
      const seg = segs[i] as Segment;
      const file = await fs.open(join(key, seg.name), 'r');
      let data: { buf: Buffer; size: number };
      try {
        data = await readWhole(file);
      } finally {
        await file.close();
      }
      const scan = scanSegment(data.buf, data.size, seg.name, i === segs.length - 1, crc, (rec) => {
        if (rec.type === RecordType.Snapshot) {
          const s = decodeAt(seg.name, rec, 'snapshot record', decodeWalSnapshot);
          snaps.push({ index: s.index, term: s.term });
        } else if (rec.type === RecordType.State) {
          commit = decodeAt(seg.name, rec, 'hard state', decodeHardState).commit;
        }
      });
      crc = scan.crc;
    }
    return snaps.filter((s) => s.index <= commit);
  }

  /**
   * Reads every record from the snapshot the WAL was opened at to the end, repairs a torn tail (see the
   * header comment), and leaves the WAL ready for appending. On any error the WAL is closed.
   * @throws WalCorruptError, WalSnapshotNotFoundError, WalSnapshotMismatchError, WalMetadataConflictError
   */
  async readAll(): Promise<WalReadResult> {
    if (this.mode !== 'read' || this.reading) throw new WalStateError('wal: readAll may only be called once, right after open');
    this.reading = true;
    try {
      return await this.readAndRepair();
    } catch (err) {
      await this.close().catch(() => {});
      throw err;
    }
  }

  private async readAndRepair(): Promise<WalReadResult> {
    const at = this.at;
    let metadata: Uint8Array | undefined;
    let state = emptyHardState;
    const entries: Entry[] = [];
    let match = false;
    let enti = 0;
    let crc = 0;
    // About the last segment: what its header holds, and the CRC the chain had when it began.
    let headerCrc: number | undefined;
    let headerHasMetadata = false;
    let crcBeforeLast = 0;

    const last = this.held.length - 1;
    for (let i = 0; i <= last; i++) {
      const seg = this.held[i] as Segment;
      const isLast = i === last;
      const file = await this.fs.open(join(this.dir, seg.name), isLast ? 'r+' : 'r');
      if (isLast) this.tail = file; // closed by close() on error
      let data: { buf: Buffer; size: number };
      try {
        data = await readWhole(file);
      } finally {
        if (!isLast) await file.close();
      }
      if (isLast) crcBeforeLast = crc;
      const scan = scanSegment(data.buf, data.size, seg.name, isLast, crc, (rec) => {
        switch (rec.type) {
          case RecordType.Crc:
            if (isLast && rec.offset === 0) headerCrc = rec.crc;
            break;
          case RecordType.Metadata: {
            const md = rec.data ?? emptyBytes;
            if (metadata !== undefined && !bytesEqual(metadata, md)) {
              throw new WalMetadataConflictError(`wal: conflicting metadata found in ${seg.name} at offset ${rec.offset}`);
            }
            metadata ??= new Uint8Array(md);
            if (isLast) headerHasMetadata = true;
            break;
          }
          case RecordType.Entry: {
            // Copy the record out of the segment buffer so that kept entries do not pin whole segments
            // (new Uint8Array: Buffer's slice() is a view, not a copy).
            const e = decodeAt(seg.name, rec, 'entry', (b) => decodeEntry(new Uint8Array(b)));
            if (e.index > at.index) {
              const pos = e.index - at.index - 1;
              if (pos > entries.length) {
                throw new WalCorruptError(
                  seg.name,
                  rec.offset,
                  `entry ${e.index} leaves a gap (snapshot index ${at.index}, ${entries.length} entries read)`,
                );
              }
              // A rewritten index replaces that entry and everything after it (raft truncated its log).
              entries.length = pos;
              entries.push(e);
            }
            enti = e.index;
            break;
          }
          case RecordType.State:
            state = decodeAt(seg.name, rec, 'hard state', decodeHardState);
            break;
          case RecordType.Snapshot: {
            const s = decodeAt(seg.name, rec, 'snapshot record', decodeWalSnapshot);
            if (s.index === at.index) {
              if (s.term !== at.term) {
                throw new WalSnapshotMismatchError(
                  `wal: snapshot mismatch: ${seg.name} at offset ${rec.offset} records index ${s.index} with term ${s.term}, not ${at.term}`,
                );
              }
              match = true;
            }
            break;
          }
        }
      });
      crc = scan.crc;
      if (isLast) await this.repairTail(seg, data.buf, data.size, scan, { headerCrc, headerHasMetadata, crcBeforeLast, metadata, state, match });
    }
    // The next segment is named after the index that may follow: the last entry read, or the snapshot.
    this.enti = Math.max(enti, at.index);
    return { metadata: this.metadata, hardState: state, entries };
  }

  /**
   * Checks what must hold before the WAL may be appended to, then makes the last segment appendable: cuts a
   * torn tail, restores a header a truncation removed, zero-fills to the segment size.
   */
  private async repairTail(
    seg: Segment,
    buf: Buffer,
    size: number,
    scan: { end: number; crc: number; torn: { offset: number; reason: string } | undefined },
    r: {
      headerCrc: number | undefined;
      headerHasMetadata: boolean;
      crcBeforeLast: number;
      metadata: Uint8Array | undefined;
      state: HardState;
      match: boolean;
    },
  ): Promise<void> {
    const at = this.at;
    if (!r.match && !(at.index === 0 && at.term === 0)) {
      throw new WalSnapshotNotFoundError(`wal: snapshot not found: no snapshot record with index ${at.index} and term ${at.term}`);
    }
    if (r.metadata === undefined) throw new WalCorruptError((this.held[0] as Segment).name, 0, 'no metadata record');
    const file = this.tail as WalFile;
    const path = join(this.dir, seg.name);
    let end = scan.end;
    let crc = scan.crc;
    let changed = false;
    if (scan.torn !== undefined) {
      await this.fs.copyFile(path, `${path}.broken`);
      this.logger.warn(
        `wal: repairing torn tail of ${seg.name}: discarding ${size - scan.torn.offset} bytes from offset ${scan.torn.offset} (${scan.torn.reason}); the original is kept as ${seg.name}.broken`,
      );
    }
    if (r.headerCrc === undefined || !r.headerHasMetadata) {
      // Only a truncation inside the header gets here (a crash cannot: headers are synced before the
      // segment is renamed into place). Without a crc record at its start, a reader opening at this segment
      // could not seed its chain, so the header is written again, chained as before.
      const w = new RecordWriter(r.headerCrc ?? r.crcBeforeLast);
      w.add(RecordType.Crc, undefined);
      w.add(RecordType.Metadata, r.metadata);
      if (!isEmptyHardState(r.state)) w.add(RecordType.State, encodeHardState(r.state));
      await file.write(w.bytes(), 0);
      end = w.length;
      crc = w.crc;
      changed = true;
      this.logger.warn(`wal: rewrote the header of ${seg.name} (its first ${scan.end} bytes held no complete header)`);
    }
    const dirty = dirtyEnd(buf, Math.min(end, size), size);
    if (dirty > end) {
      await zeroFill(file, end, dirty);
      changed = true;
    }
    if (size < this.segmentSize) {
      await zeroFill(file, Math.max(size, end), this.segmentSize);
      changed = true;
    }
    if (changed) await file.sync();
    this.offset = end;
    this.crc = crc;
    this.state = r.state;
    this.metadata = r.metadata;
    this.mode = 'append';
    this.startPipeline();
  }

  private startPipeline(): void {
    this.pipeline = new FilePipeline(this.fs, this.dir, this.segmentSize, this.logger);
    this.maybePrepareNext();
  }

  /** Starts preparing the next segment once the tail is half full, so that it is ready by the cut. */
  private maybePrepareNext(): void {
    if (this.offset >= this.segmentSize / 2) this.pipeline?.start();
  }

  /**
   * Appends `entries` then `hardState` (skipped when undefined or empty) and resolves once they are durable:
   * after one fdatasync when entries were given or the term or vote changed, after the write otherwise.
   */
  save(hardState: HardState | undefined, entries: readonly Entry[]): Promise<void> {
    return this.enqueue({ kind: 'save', hardState, entries });
  }

  /** Records that a snapshot at `s` exists (its .snap file must be saved first), and syncs. */
  saveSnapshot(s: WalSnapshot): Promise<void> {
    return this.enqueue({ kind: 'snapshot', snapshot: s });
  }

  private enqueue(op: Op): Promise<void> {
    if (this.mode !== 'append') {
      return Promise.reject(new WalStateError(this.mode === 'read' ? 'wal: readAll must come before appending' : 'wal: closed'));
    }
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ op, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.draining !== undefined) return;
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
      if (this.queue.length > 0) this.kick();
    });
  }

  /** Writes queued operations, everything queued at the time as one batch. */
  private async drain(): Promise<void> {
    // Bounded by the callers: each round takes every queued operation.
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.queue.length);
      try {
        if (this.failure !== undefined) throw this.failure;
        await this.writeBatch(batch);
        for (const p of batch) p.resolve();
      } catch (err) {
        if (this.failure === undefined) {
          this.failure = err;
          this.logger.error(`wal: write to ${this.tailSeg.name} failed, no further writes are accepted: ${message(err)}`);
        }
        for (const p of batch) p.reject(err);
      }
    }
  }

  private async writeBatch(batch: readonly Pending[]): Promise<void> {
    let capacity = 64;
    for (const { op } of batch) {
      if (op.kind === 'snapshot') capacity += 64 + 16 * ((op.snapshot.confState?.voters.length ?? 0) + (op.snapshot.confState?.learners.length ?? 0));
      else {
        capacity += 48;
        for (const e of op.entries) capacity += entrySize(e) + 32;
      }
    }
    const w = new RecordWriter(this.crc, this.scratch.length >= capacity ? this.scratch : Buffer.allocUnsafe(capacity));
    let mustSync = false;
    let enti = this.enti;
    let state = this.state;
    for (const { op } of batch) {
      if (op.kind === 'snapshot') {
        w.add(RecordType.Snapshot, encodeWalSnapshot(op.snapshot));
        if (enti < op.snapshot.index) enti = op.snapshot.index;
        mustSync = true;
        continue;
      }
      const hs = op.hardState !== undefined && !isEmptyHardState(op.hardState) ? op.hardState : undefined;
      if (hs === undefined && op.entries.length === 0) continue;
      // raft's MustSync: new entries, or a term or vote that must survive a crash; commit can be relearned.
      if (op.entries.length > 0 || (hs !== undefined && (hs.term !== state.term || hs.vote !== state.vote))) mustSync = true;
      for (const e of op.entries) {
        w.addEntry(e);
        enti = e.index;
      }
      if (hs !== undefined) {
        w.add(RecordType.State, encodeHardState(hs));
        state = hs;
      }
    }
    if (w.length === 0) return;
    // Keep the buffer for the next batch (saves are serialized, so it is free again once this write is
    // done), unless it grew past the point where holding it costs more than allocating.
    if (w.buffer.length <= MAX_SCRATCH_BYTES) this.scratch = w.buffer;
    const tail = this.tail as WalFile;
    await tail.write(w.bytes(), this.offset);
    this.offset += w.length;
    this.crc = w.crc;
    this.enti = enti;
    this.state = state;
    if (this.offset >= this.segmentSize) await this.cut();
    else if (mustSync) await tail.datasync();
    this.maybePrepareNext();
  }

  /** Closes the full tail segment and continues in a new one (see the header comment for the steps). */
  private async cut(): Promise<void> {
    const old = this.tail as WalFile;
    await old.truncate(this.offset);
    await old.datasync();
    const prepared = await (this.pipeline as FilePipeline).take();
    const seg: Segment = { seq: this.tailSeg.seq + 1, index: this.enti + 1, name: walName(this.tailSeg.seq + 1, this.enti + 1) };
    const w = new RecordWriter(this.crc);
    w.add(RecordType.Crc, undefined);
    w.add(RecordType.Metadata, this.metadata);
    if (!isEmptyHardState(this.state)) w.add(RecordType.State, encodeHardState(this.state));
    await prepared.file.write(w.bytes(), 0);
    await prepared.file.datasync();
    await this.fs.rename(prepared.path, join(this.dir, seg.name));
    await this.fs.syncDir(this.dir);
    await old.close();
    this.tail = prepared.file;
    this.tailSeg = seg;
    this.held.push(seg);
    this.offset = w.length;
    this.crc = w.crc;
    this.logger.info(`wal: created segment ${seg.name}`);
  }

  /**
   * Marks the segments before the one that holds `index` as no longer needed (etcd's ReleaseLockTo): it
   * keeps the last segment that starts below `index` and everything after it. Released segments become
   * purgeable. No file descriptors are held for segments other than the tail, so none are closed.
   */
  releaseLockTo(index: number): void {
    let keepFrom = this.held.length - 1;
    for (let i = 0; i < this.held.length; i++) {
      if ((this.held[i] as Segment).index >= index) {
        keepFrom = i - 1;
        break;
      }
    }
    if (keepFrom > 0) this.held = this.held.slice(keepFrom);
  }

  /** Names of the segments still needed, oldest first (the last is being appended to). */
  heldSegments(): string[] {
    return this.held.map((s) => s.name);
  }

  /**
   * Deletes the oldest segment files until at most `maxFiles` remain (0: keep all), stopping at the first
   * one still needed. Returns the names deleted.
   */
  async purge(maxFiles: number): Promise<string[]> {
    if (this.mode === 'closed') throw new WalStateError('wal: closed');
    if (maxFiles <= 0) return [];
    const needed = new Set(this.held.map((s) => s.name));
    const segs = await listSegments(this.fs, this.dir);
    const deleted: string[] = [];
    // Bounded by the number of segment files.
    for (const seg of segs) {
      if (segs.length - deleted.length <= maxFiles || needed.has(seg.name)) break;
      await this.fs.unlink(join(this.dir, seg.name));
      deleted.push(seg.name);
      this.logger.info(`wal: purged ${seg.name}`);
    }
    if (deleted.length > 0) await this.fs.syncDir(this.dir);
    return deleted;
  }

  /** Waits for queued saves, syncs and closes the tail, and releases the directory. Idempotent. */
  async close(): Promise<void> {
    if (this.mode === 'closed') return;
    const wasAppending = this.mode === 'append';
    this.mode = 'closed';
    try {
      if (this.draining !== undefined) await this.draining;
      await this.pipeline?.close();
      const tail = this.tail;
      this.tail = undefined;
      if (tail !== undefined) {
        try {
          if (wasAppending && this.failure === undefined) await tail.datasync();
        } finally {
          await tail.close();
        }
      }
    } finally {
      openDirs.delete(this.dir);
    }
  }
}

function checkSegmentSize(size: number | undefined): number {
  const s = size ?? DEFAULT_SEGMENT_SIZE_BYTES;
  // A segment must hold at least its header; 8-byte multiples keep preallocation simple.
  if (!Number.isSafeInteger(s) || s < 512) throw new RangeError(`wal: segment size ${s} is too small (minimum 512 bytes)`);
  return s;
}

