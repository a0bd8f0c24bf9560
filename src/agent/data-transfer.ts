/**
 * A stopped member's data dir sent from one agent to another (ExportData → ImportData), to move the member to
 * another host with its identity: etcd's way to migrate a member keeps its data dir (WAL, snapshots, db), so
 * that its raft state (term, vote, log) survives; a member restarted empty under the same ID could vote twice
 * in one term.
 *
 * The stream: per file, chunks with its relative path (and mode), the last one with the file's size and SHA-256;
 * a directory is a chunk whose path ends in '/'; the last message says how many files were sent. The importer
 * writes into `<data dir>.incoming`, checks every file, syncs, and renames it into place only when the stream
 * completed, so a cut stream or a corrupted file never becomes a data dir.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, lstat, mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';

import { syncDir } from '../base/node-fs.js';
import type { DataChunk } from '../proto/gen/kvctl/agent/v1/agent.js';
import { AgentInputError, AgentStateError } from './errors.js';

/** Chunk size of file data: well under gRPC's default 4 MiB message limit. */
const chunkBytes = 1 << 20;

/** Where an import writes before the data dir appears. */
export function incomingDir(dataDir: string): string {
  return `${dataDir}.incoming`;
}

function emptyChunk(): DataChunk {
  return { memberName: '', path: '', mode: 0, data: Buffer.alloc(0), end: undefined, fileCount: 0, complete: false };
}

/** Relative paths under `root`, directories (ending in '/') before their contents, sorted. */
async function walk(root: string, rel = ''): Promise<{ path: string; mode: number; dir: boolean }[]> {
  const out: { path: string; mode: number; dir: boolean }[] = [];
  const entries = (await readdir(join(root, rel))).sort();
  for (const name of entries) {
    const path = rel === '' ? name : `${rel}/${name}`;
    const st = await lstat(join(root, path));
    if (st.isDirectory()) {
      out.push({ path: `${path}/`, mode: st.mode & 0o7777, dir: true });
      out.push(...(await walk(root, path)));
    } else if (st.isFile()) {
      out.push({ path, mode: st.mode & 0o7777, dir: false });
    } else {
      // etcd's data dir holds directories and regular files only; anything else is not ours to copy.
      throw new AgentStateError(`data dir ${root}: ${path} is neither a file nor a directory: refusing to copy it`);
    }
  }
  return out;
}

/** The data dir `dataDir` of member `memberName` as a DataChunk stream (see the module comment). */
export async function* exportDataDir(dataDir: string, memberName: string): AsyncGenerator<DataChunk> {
  try {
    if (!(await lstat(dataDir)).isDirectory()) throw new Error('not a directory');
  } catch {
    throw new AgentStateError(`member ${memberName} has no data dir at ${dataDir}: nothing to move`);
  }
  yield { ...emptyChunk(), memberName };
  let files = 0;
  for (const entry of await walk(dataDir)) {
    if (entry.dir) {
      yield { ...emptyChunk(), path: entry.path, mode: entry.mode };
      continue;
    }
    const hash = createHash('sha256');
    let size = 0;
    let sent = false;
    for await (const data of createReadStream(join(dataDir, entry.path), { highWaterMark: chunkBytes }) as AsyncIterable<Buffer>) {
      hash.update(data);
      size += data.length;
      yield { ...emptyChunk(), path: entry.path, mode: entry.mode, data };
      sent = true;
    }
    if (!sent) yield { ...emptyChunk(), path: entry.path, mode: entry.mode };
    yield { ...emptyChunk(), path: entry.path, mode: entry.mode, end: { size: BigInt(size), sha256: hash.digest() } };
    files++;
  }
  yield { ...emptyChunk(), fileCount: files, complete: true };
}

/** A path from the stream, checked to stay inside the data dir. */
function safeRelative(path: string): string {
  const bare = path.endsWith('/') ? path.slice(0, -1) : path;
  const norm = posix.normalize(bare);
  if (bare === '' || norm !== bare || norm.startsWith('../') || norm === '..' || posix.isAbsolute(norm) || norm.includes('\0')) {
    throw new AgentInputError(`import: refusing file path ${JSON.stringify(path)} (not a plain path inside the data dir)`);
  }
  return norm;
}

export interface ImportResult {
  readonly files: number;
  readonly bytes: number;
}

/**
 * Writes the stream into `dataDir` for member `memberName`: refused when the stream is another member's, when
 * `dataDir` exists already (this host holds data: wipe it first), or when any file's size or SHA-256 differs
 * or the stream ends before its last message. On any failure nothing is left behind.
 */
export async function importDataDir(chunks: AsyncIterable<DataChunk>, dataDir: string, memberName: string): Promise<ImportResult> {
  if (await lstat(dataDir).then(() => true, () => false)) {
    throw new AgentStateError(`${dataDir} exists already: this host holds data of its own (kvctl member remove, or a wipe, deletes it first)`);
  }
  const incoming = incomingDir(dataDir);
  await rm(incoming, { recursive: true, force: true });
  await mkdir(incoming, { recursive: true, mode: 0o700 });
  const dirs = new Set<string>([incoming]);
  let current: { rel: string; handle: FileHandle; hash: ReturnType<typeof createHash>; size: number } | undefined;
  let files = 0;
  let bytes = 0;
  let first = true;
  let complete = false;
  try {
    for await (const chunk of chunks) {
      if (first) {
        first = false;
        if (chunk.memberName !== memberName) {
          throw new AgentInputError(`import: the data is member ${JSON.stringify(chunk.memberName)}'s, and this agent is configured for ${memberName}`);
        }
        continue;
      }
      if (complete) throw new AgentInputError('import: data after the last message');
      if (chunk.complete) {
        if (current !== undefined) throw new AgentInputError(`import: the stream ended in the middle of ${current.rel}`);
        if (chunk.fileCount !== files) throw new AgentInputError(`import: ${files} files arrived, the sender sent ${chunk.fileCount}`);
        complete = true;
        continue;
      }
      if (chunk.path.endsWith('/')) {
        const dir = join(incoming, safeRelative(chunk.path));
        await mkdir(dir, { recursive: true, mode: chunk.mode & 0o777 || 0o700 });
        dirs.add(dir);
        continue;
      }
      const rel = safeRelative(chunk.path);
      if (current !== undefined && current.rel !== rel) throw new AgentInputError(`import: ${current.rel} ended without its size and hash`);
      if (current === undefined) {
        const file = join(incoming, rel);
        await mkdir(dirname(file), { recursive: true, mode: 0o700 });
        current = { rel, handle: await open(file, 'wx', chunk.mode & 0o777 || 0o600), hash: createHash('sha256'), size: 0 };
      }
      if (chunk.data.length > 0) {
        await current.handle.write(chunk.data);
        current.hash.update(chunk.data);
        current.size += chunk.data.length;
      }
      if (chunk.end !== undefined) {
        const sha = current.hash.digest();
        if (BigInt(current.size) !== chunk.end.size || !sha.equals(Buffer.from(chunk.end.sha256))) {
          throw new AgentInputError(`import: ${rel} arrived with ${current.size} bytes and SHA-256 ${sha.toString('hex')}, sent as ${chunk.end.size} bytes and ${Buffer.from(chunk.end.sha256).toString('hex')}`);
        }
        await current.handle.sync();
        await current.handle.close();
        current = undefined;
        files++;
        bytes += Number(chunk.end.size);
      }
    }
    if (first) throw new AgentInputError('import: empty stream');
    if (!complete) throw new AgentInputError(`import: the stream ended before its last message (${files} files arrived)`);
    for (const dir of dirs) await syncDir(dir);
    await rename(incoming, dataDir);
    await syncDir(dirname(dataDir));
    return { files, bytes };
  } catch (err) {
    await current?.handle.close().catch(() => {});
    await rm(incoming, { recursive: true, force: true });
    throw err;
  }
}
