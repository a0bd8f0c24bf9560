/**
 * The file operations the WAL performs, behind a small interface so that tests can count syncs or inject
 * faults, and a simulated file system can stand in later. `nodeWalFs` is the real one.
 *
 * The node implementation uses the callback API of node:fs wrapped by hand: it has less per-call overhead than
 * node:fs/promises' FileHandle, and a save is a write plus an fdatasync, so per-call overhead is a visible
 * share of a small save.
 */
import * as fs from 'node:fs';

/** An open file. Positions are absolute: the WAL never relies on a file's own offset. */
export interface WalFile {
  readonly path: string;
  /** Writes all of `buf[start, end)` at `position` (loops over short writes). */
  write(buf: Uint8Array, position: number, start?: number, end?: number): Promise<void>;
  /** Reads into `buf` from `position` until `buf` is full or the file ends; returns the bytes read. */
  read(buf: Uint8Array, position: number): Promise<number>;
  size(): Promise<number>;
  /** fdatasync(2): the data and whatever metadata is needed to read it back. */
  datasync(): Promise<void>;
  /** fsync(2). */
  sync(): Promise<void>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

/** 'r': read only; 'r+': read-write, must exist; 'w': read-write, created or truncated. */
export type WalOpenMode = 'r' | 'r+' | 'w';

export interface WalFs {
  open(path: string, mode: WalOpenMode): Promise<WalFile>;
  /** Names in a directory; an empty list when it does not exist. */
  readdir(dir: string): Promise<string[]>;
  /** Creates a directory and any missing parents; true when `dir` itself was created. */
  mkdirp(dir: string): Promise<boolean>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Removes a directory tree; no error when absent. */
  removeAll(path: string): Promise<void>;
  exists(path: string): Promise<boolean>;
  /** fsync(2) on a directory, making renames, creations and deletions in it durable. */
  syncDir(dir: string): Promise<void>;
  copyFile(from: string, to: string): Promise<void>;
}

function done<T>(resolve: (v: T) => void, reject: (e: unknown) => void) {
  return (err: NodeJS.ErrnoException | null, v: T) => (err ? reject(err) : resolve(v));
}

const call = <T>(f: (cb: (err: NodeJS.ErrnoException | null, v: T) => void) => void): Promise<T> =>
  new Promise<T>((resolve, reject) => f(done(resolve, reject)));

class NodeWalFile implements WalFile {
  constructor(
    readonly path: string,
    private readonly fd: number,
  ) {}

  async write(buf: Uint8Array, position: number, start = 0, end = buf.length): Promise<void> {
    // Regular files only write short on error (ENOSPC returns an error on the next call), but the loop is
    // cheap and keeps "all or an error" true regardless. Bounded: every round writes at least one byte.
    while (start < end) {
      const n = await call<number>((cb) => fs.write(this.fd, buf, start, end - start, position, cb));
      if (n <= 0) throw new Error(`wal: write to ${this.path} made no progress`);
      start += n;
      position += n;
    }
  }

  async read(buf: Uint8Array, position: number): Promise<number> {
    let got = 0;
    while (got < buf.length) {
      const n = await call<number>((cb) => fs.read(this.fd, buf, got, buf.length - got, position + got, cb));
      if (n === 0) break;
      got += n;
    }
    return got;
  }

  async size(): Promise<number> {
    const st = await call<fs.Stats>((cb) => fs.fstat(this.fd, cb));
    return st.size;
  }

  datasync(): Promise<void> {
    return call<void>((cb) => fs.fdatasync(this.fd, (err) => cb(err, undefined)));
  }

  sync(): Promise<void> {
    return call<void>((cb) => fs.fsync(this.fd, (err) => cb(err, undefined)));
  }

  truncate(length: number): Promise<void> {
    return call<void>((cb) => fs.ftruncate(this.fd, length, (err) => cb(err, undefined)));
  }

  close(): Promise<void> {
    return call<void>((cb) => fs.close(this.fd, (err) => cb(err, undefined)));
  }
}

const openFlags: Record<WalOpenMode, number> = {
  r: fs.constants.O_RDONLY,
  'r+': fs.constants.O_RDWR,
  w: fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC,
};

export const nodeWalFs: WalFs = {
  async open(path, mode) {
    const fd = await call<number>((cb) => fs.open(path, openFlags[mode], 0o600, cb));
    return new NodeWalFile(path, fd);
  },
  async readdir(dir) {
    try {
      return await fs.promises.readdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  },
  async mkdirp(dir) {
    // mkdir -p returns the first directory it created, or undefined when all existed.
    return (await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 })) !== undefined;
  },
  rename: (from, to) => fs.promises.rename(from, to),
  unlink: (path) => fs.promises.unlink(path),
  removeAll: (path) => fs.promises.rm(path, { recursive: true, force: true }),
  async exists(path) {
    try {
      await fs.promises.stat(path);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  },
  async syncDir(dir) {
    const fd = await call<number>((cb) => fs.open(dir, fs.constants.O_RDONLY, cb));
    try {
      await call<void>((cb) => fs.fsync(fd, (err) => cb(err, undefined)));
    } finally {
      await call<void>((cb) => fs.close(fd, (err) => cb(err, undefined)));
    }
  },
  copyFile: (from, to) => fs.promises.copyFile(from, to),
};
