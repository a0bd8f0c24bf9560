/** Shared helpers of the WAL tests: temp dirs, entries, a sync-counting file system, a frame walker. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type LogLevel, type Logger, levelLogger } from '../../src/base/logger.js';
import type { Entry, HardState } from '../../src/server/raft/raftpb.js';
import { type WalFile, type WalFs, nodeWalFs } from '../../src/server/wal/index.js';

export function tempDir(prefix = 'kvctl-wal-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function rmrf(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** An entry whose data identifies it: `size` bytes derived from index and term. */
export function entry(index: number, term = 1, size = 20): Entry {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (index * 31 + term * 7 + i) & 0xff;
  return { index, term, type: 0, data };
}

export function entries(from: number, to: number, term = 1, size = 20): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term, size));
  return out;
}

export function hs(term: number, commit: number, vote = 1n): HardState {
  return { term, vote, commit };
}

/** A logger that keeps every line, for asserting on warnings. */
export function captureLogger(): { logger: Logger; lines: Array<{ level: LogLevel; message: string }> } {
  const lines: Array<{ level: LogLevel; message: string }> = [];
  return { logger: levelLogger('debug', (level, message) => lines.push({ level, message })), lines };
}

export interface SyncCounts {
  datasync: number;
  fsync: number;
  writes: number;
}

/**
 * nodeWalFs with every datasync, fsync and write on `.wal` files counted. The background preparation of
 * the next segment (`0.tmp`, `1.tmp`) is not counted: it is not part of any save.
 */
export function countingFs(): { fs: WalFs; counts: SyncCounts } {
  const counts: SyncCounts = { datasync: 0, fsync: 0, writes: 0 };
  const wrap = (f: WalFile): WalFile => ({
    path: f.path,
    write: (buf, position, start, end) => {
      counts.writes++;
      return f.write(buf, position, start, end);
    },
    read: (buf, position) => f.read(buf, position),
    size: () => f.size(),
    datasync: () => {
      counts.datasync++;
      return f.datasync();
    },
    sync: () => {
      counts.fsync++;
      return f.sync();
    },
    truncate: (n) => f.truncate(n),
    close: () => f.close(),
  });
  return {
    fs: {
      ...nodeWalFs,
      open: async (p, mode) => {
        const f = await nodeWalFs.open(p, mode);
        return p.endsWith('.wal') ? wrap(f) : f;
      },
    },
    counts,
  };
}

/** nodeWalFs whose fdatasync fails with an injected EIO while `failing()` is true. */
export function failingDatasyncFs(failing: () => boolean): WalFs {
  return {
    ...nodeWalFs,
    open: async (p, mode) => {
      const f = await nodeWalFs.open(p, mode);
      return {
        path: f.path,
        write: (buf, position, start, end) => f.write(buf, position, start, end),
        read: (buf, position) => f.read(buf, position),
        size: () => f.size(),
        datasync: () => (failing() ? Promise.reject(new Error('EIO: injected')) : f.datasync()),
        sync: () => f.sync(),
        truncate: (n) => f.truncate(n),
        close: () => f.close(),
      };
    },
  };
}

/** The frames of a segment file, as (offset, end) pairs, walking length words until a zero one. */
export function frames(file: string): Array<{ offset: number; end: number }> {
  const buf = fs.readFileSync(file);
  const out: Array<{ offset: number; end: number }> = [];
  let pos = 0;
  // Bounded by the file size: every frame is at least 8 bytes.
  while (pos + 8 <= buf.length) {
    const lo = buf.readUInt32LE(pos);
    const hi = buf.readUInt32LE(pos + 4);
    if (lo === 0 && hi === 0) break;
    const top = hi >>> 24;
    const len = lo + (hi & 0xffffff) * 2 ** 32;
    const end = pos + 8 + len + (top & 0x80 ? top & 7 : 0);
    out.push({ offset: pos, end });
    pos = end;
  }
  return out;
}

export function walFiles(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.wal'))
    .sort();
}

export function copyDir(from: string, to: string): void {
  fs.cpSync(from, to, { recursive: true });
}
