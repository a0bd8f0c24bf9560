/**
 * Writing key material so that a crash never leaves half a file: every file is written to a temporary name in the
 * same directory, synced, and then moved into place (rename, or link when it must not replace anything), and the
 * directory is synced so that the new name survives a power loss.
 */
import { randomBytes } from 'node:crypto';
import { link, lstat, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import { syncDir } from '../base/node-fs.js';
import { PkiExistsError, PkiNotFoundError } from './errors.js';

/** Private keys: readable by their owner only. */
export const keyFileMode = 0o600;
/** Certificates are public. */
export const certFileMode = 0o644;
/** A directory kvctl creates for a PKI: it holds the CA key. */
export const pkiDirMode = 0o700;

/** Creates the directory (owner-only) if it does not exist; an existing one keeps its permissions. */
export async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: pkiDirMode });
}

/** Writes `data` to a fresh temporary file next to `path`, with `mode`, synced; returns its name. */
async function writeTemp(path: string, data: string, mode: number): Promise<string> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${randomBytes(6).toString('hex')}`);
  const fh = await open(tmp, 'wx', mode);
  try {
    // open's mode is filtered by the umask; a key must be 0600 whatever the umask.
    await fh.chmod(mode);
    await fh.writeFile(data, 'utf8');
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fh.close();
  return tmp;
}

/**
 * Writes a file that must not exist yet: the data appears under `path` complete or not at all, and an existing
 * file is never replaced (link fails with EEXIST instead), even when two kvctl processes race.
 */
export async function writeNewFile(path: string, data: string, mode: number): Promise<void> {
  const tmp = await writeTemp(path, data, mode);
  try {
    await link(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new PkiExistsError(`pki: ${path} already exists; kvctl does not overwrite keys or certificates`, { cause: err });
    }
    throw err;
  } finally {
    await unlink(tmp).catch(() => {});
  }
  await syncDir(dirname(path));
}

/** Writes a file complete under `path`, replacing whatever was there in one rename. */
export async function replaceFile(path: string, data: string, mode: number): Promise<void> {
  const tmp = await writeTemp(path, data, mode);
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await syncDir(dirname(path));
}

/** Reads a text file; a missing one becomes a {@link PkiNotFoundError} saying `what` it should have held. */
export async function readTextFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new PkiNotFoundError(`pki: ${what} ${path} does not exist`, { cause: err });
    }
    throw err;
  }
}

/** True when `path` exists (whatever it is: a dangling name still blocks a new file). */
export async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
