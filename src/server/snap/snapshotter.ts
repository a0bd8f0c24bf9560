/**
 * Raft snapshots as etcd stores them: one file per snapshot in `<data-dir>/member/snap`, named
 * `%016x-%016x.snap` (term, index), holding a snappb.Snapshot {uint32 crc = 1; bytes data = 2} where `data` is
 * the encoded raftpb.Snapshot and `crc` its CRC-32C. etcd's gogoproto code always writes `crc` and writes
 * `data` when present (it always is: an encoded snapshot is never empty).
 *
 * - Saving is atomic: `<name>.tmp` is written and fsynced, renamed into place, and the directory fsynced.
 *   Stray `.snap.tmp` files (a crash mid-save) are removed when a Snapshotter is made.
 * - Loading picks the newest file that the WAL has a snapshot record for (the WAL is the authority on which
 *   snapshots are complete). A file that fails its CRC or does not decode is renamed `<name>.broken`, with a
 *   warning, and the next older one is tried.
 * - Names sort by (term, index) as strings, because both fields are fixed-width hex.
 */
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { crc32c } from '../../base/crc32c.js';
import { type Logger, noopLogger } from '../../base/logger.js';
import { ProtoReader, ProtoWriter, decodeSnapshot, encodeSnapshot } from '../raft/codec.js';
import type { Snapshot } from '../raft/raftpb.js';
import { SnapCrcMismatchError, SnapDecodeError, SnapEmptyError } from './errors.js';
import { syncDir } from '../../base/node-fs.js';

export interface SnapshotterOptions {
  readonly logger?: Logger;
}

/** A .snap file in the directory. */
export interface SnapFileInfo {
  readonly name: string;
  readonly term: number;
  readonly index: number;
}

const hex16 = (v: number) => v.toString(16).padStart(16, '0');

export function snapName(term: number, index: number): string {
  return `${hex16(term)}-${hex16(index)}.snap`;
}

const snapNameRe = /^([0-9a-fA-F]{16})-([0-9a-fA-F]{16})\.snap$/;

export function parseSnapName(name: string): SnapFileInfo | undefined {
  const m = snapNameRe.exec(name);
  if (m === null) return undefined;
  const term = parseInt(m[1] as string, 16);
  const index = parseInt(m[2] as string, 16);
  if (!Number.isSafeInteger(term) || !Number.isSafeInteger(index)) return undefined;
  return { name, term, index };
}

/** The bytes of a .snap file for `s`. */
export function encodeSnapFile(s: Snapshot): Uint8Array {
  const data = encodeSnapshot(s);
  return new ProtoWriter(data.length + 16).uint(1, crc32c(data)).bytes(2, data).finish();
}

/**
 * Decodes and verifies a .snap file's bytes (etcd's snap.Read): empty file or data, or a zero crc, is an
 * empty snapshot; then the CRC; then the raftpb.Snapshot.
 */
export function decodeSnapFile(buf: Uint8Array): Snapshot {
  if (buf.length === 0) throw new SnapEmptyError('snap: empty snapshot');
  let crc = 0;
  let data: Uint8Array | undefined;
  try {
    const r = new ProtoReader(buf);
    while (!r.done()) {
      const [field, wt] = r.key();
      if (field === 1 && wt === 0) crc = r.varint();
      else if (field === 2 && wt === 2) data = r.bytes();
      else if (field === 0) throw new Error('field number 0');
      else r.skip(wt);
    }
  } catch (err) {
    throw new SnapDecodeError(`snap: undecodable snapshot file (${err instanceof Error ? err.message : String(err)})`);
  }
  if (data === undefined || data.length === 0 || crc === 0) throw new SnapEmptyError('snap: empty snapshot');
  if (crc32c(data) !== crc) throw new SnapCrcMismatchError('snap: crc mismatch');
  try {
    return decodeSnapshot(data);
  } catch (err) {
    throw new SnapDecodeError(`snap: undecodable snapshot (${err instanceof Error ? err.message : String(err)})`);
  }
}


export class Snapshotter {
  private readonly logger: Logger;

  constructor(
    readonly dir: string,
    opts: SnapshotterOptions = {},
  ) {
    this.logger = opts.logger ?? noopLogger;
    // Synchronous on purpose: this runs once at startup, before anything may save into the directory.
    let names: string[] = [];
    try {
      names = fs.readdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const name of names) {
      if (name.endsWith('.snap.tmp')) {
        this.logger.warn(`snap: removing ${name}, left over from an interrupted save`);
        fs.rmSync(join(dir, name), { force: true });
      }
    }
  }

  /** Writes `snapshot` durably; a snapshot at index 0 (none) is not saved. */
  async save(snapshot: Snapshot): Promise<void> {
    const { term, index } = snapshot.metadata;
    if (index === 0) return;
    const created = (await fs.promises.mkdir(this.dir, { recursive: true, mode: 0o700 })) !== undefined;
    if (created) await syncDir(dirname(this.dir));
    const finalPath = join(this.dir, snapName(term, index));
    const tmpPath = `${finalPath}.tmp`;
    const bytes = encodeSnapFile(snapshot);
    try {
      const fh = await fs.promises.open(tmpPath, 'w', 0o600);
      try {
        await fh.writeFile(bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fs.promises.rename(tmpPath, finalPath);
    } catch (err) {
      await fs.promises.rm(tmpPath, { force: true }).catch(() => {});
      throw err;
    }
    await syncDir(this.dir);
  }

  /**
   * The newest snapshot whose (term, index) is among `walSnaps` (see `Wal.listSnapshots`), or undefined.
   * Files that fail to load are renamed `.broken` and skipped.
   */
  async loadNewestAvailable(walSnaps: ReadonlyArray<{ readonly index: number; readonly term: number }>): Promise<Snapshot | undefined> {
    const wanted = new Set(walSnaps.map((s) => `${s.term}/${s.index}`));
    const files = await this.list();
    for (let i = files.length - 1; i >= 0; i--) {
      const f = files[i] as SnapFileInfo;
      if (!wanted.has(`${f.term}/${f.index}`)) continue;
      const path = join(this.dir, f.name);
      try {
        const buf = await fs.promises.readFile(path);
        // A plain Uint8Array view, so that the snapshot's data is not a Buffer (no copy).
        const snap = decodeSnapFile(new Uint8Array(buf.buffer, buf.byteOffset, buf.length));
        if (snap.metadata.term !== f.term || snap.metadata.index !== f.index) {
          throw new SnapDecodeError(`snap: file holds the snapshot at term ${snap.metadata.term} index ${snap.metadata.index}`);
        }
        return snap;
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        try {
          await fs.promises.rename(path, `${path}.broken`);
          this.logger.warn(`snap: cannot load ${f.name} (${why}); renamed it to ${f.name}.broken`);
        } catch (rerr) {
          this.logger.warn(`snap: cannot load ${f.name} (${why}), nor rename it: ${rerr instanceof Error ? rerr.message : String(rerr)}`);
        }
      }
    }
    return undefined;
  }

  /** Deletes the oldest .snap files so that at most `maxFiles` remain (0: keep all); returns their names. */
  async purge(maxFiles: number): Promise<string[]> {
    if (maxFiles <= 0) return [];
    const files = await this.list();
    const excess = files.slice(0, Math.max(0, files.length - maxFiles));
    for (const f of excess) {
      await fs.promises.rm(join(this.dir, f.name), { force: true });
      this.logger.info(`snap: purged ${f.name}`);
    }
    return excess.map((f) => f.name);
  }

  /** The .snap files, oldest first. */
  async list(): Promise<SnapFileInfo[]> {
    let names: string[];
    try {
      names = await fs.promises.readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: SnapFileInfo[] = [];
    for (const name of names) {
      const info = parseSnapName(name);
      if (info !== undefined) out.push(info);
    }
    return out.sort((a, b) => a.term - b.term || a.index - b.index);
  }
}
