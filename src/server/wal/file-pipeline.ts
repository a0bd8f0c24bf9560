/**
 * Prepares the next segment file in the background (etcd's file_pipeline.go), so that a cut does not wait
 * for the new segment to be allocated: `<dir>/0.tmp` and `<dir>/1.tmp` in turn, filled with zeros up to the
 * segment size and fsynced, then handed to the cut, which writes its header and renames it.
 *
 * Unlike etcd's, the pipeline does not start when the WAL opens but when the WAL asks (once the tail segment
 * is half full): etcd's fallocate costs nothing, 64 MB of written zeros do, and a short-lived member (a test,
 * a member removed soon after joining) should not pay for a segment it never uses.
 *
 * Zeros are written rather than the file extended with ftruncate: node has no fallocate, and on this
 * machine's ext4 an fdatasync after appending into written zeros costs clearly less than into a sparse
 * file, where every new block is an allocation the journal must commit (figures in wal.ts). Zero-filled
 * space is also what makes the torn-write rule sound: an unwritten sector reads as zeros, never as stale
 * data.
 */
import { join } from 'node:path';
import type { Logger } from '../../base/logger.js';
import type { WalFile, WalFs } from './fs.js';

/** A preallocated, synced segment file not yet renamed into the sequence. */
export interface PreparedFile {
  readonly path: string;
  readonly file: WalFile;
}

const zeroChunk = Buffer.alloc(1024 * 1024);

/** Overwrites `[from, to)` of a file with zeros, 1 MiB per write; `aborted` is checked between writes. */
export async function zeroFill(file: WalFile, from: number, to: number, aborted: () => boolean = () => false): Promise<void> {
  // Bounded: every round advances by min(1 MiB, to - pos) > 0.
  for (let pos = from; pos < to; pos += zeroChunk.length) {
    if (aborted()) throw new Error('wal: file pipeline closed');
    await file.write(zeroChunk, pos, 0, Math.min(zeroChunk.length, to - pos));
  }
}

export class FilePipeline {
  private count = 0;
  private next: Promise<PreparedFile> | undefined;
  private closed = false;

  constructor(
    private readonly fs: WalFs,
    private readonly dir: string,
    private readonly size: number,
    private readonly logger: Logger,
  ) {}

  /** Starts preparing a file now, if none is being prepared. */
  start(): void {
    if (this.next !== undefined || this.closed) return;
    const p = this.alloc();
    // The error is delivered by take(); this only keeps it from being reported as unhandled meanwhile.
    p.catch(() => {});
    this.next = p;
  }

  /**
   * The prepared file, waiting for it if need be (or preparing it now if `start` was not called). The next
   * preparation starts at the caller's next `start`.
   */
  async take(): Promise<PreparedFile> {
    if (this.closed) throw new Error('wal: file pipeline closed');
    this.start();
    const p = this.next as Promise<PreparedFile>;
    this.next = undefined;
    return p;
  }

  private async alloc(): Promise<PreparedFile> {
    // Alternate names so that the file being prepared never collides with the one just handed out (which
    // keeps its .tmp name until the cut renames it).
    const path = join(this.dir, `${this.count % 2}.tmp`);
    this.count++;
    const file = await this.fs.open(path, 'w');
    try {
      await zeroFill(file, 0, this.size, () => this.closed);
      await file.sync();
    } catch (err) {
      await file.close().catch(() => {});
      await this.fs.unlink(path).catch(() => {});
      throw err;
    }
    return { path, file };
  }

  /** Stops preparing and removes the file prepared but not taken. */
  async close(): Promise<void> {
    this.closed = true;
    const p = this.next;
    this.next = undefined;
    if (p === undefined) return;
    try {
      const f = await p;
      await f.file.close();
      await this.fs.unlink(f.path);
    } catch (err) {
      // Aborted preparation cleans up after itself; anything else only leaves a .tmp that open removes.
      this.logger.debug(`wal: file pipeline stopped: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
