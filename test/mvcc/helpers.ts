/** Shared fixtures for the mvcc tests: temp dirs, a store over a fresh backend, short-hand writes. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { KeyValue } from '../../src/proto/gen/mvccpb/kv.js';
import { Backend, type BackendOptions } from '../../src/server/mvcc/backend.js';
import { KvStore, type KvStoreOptions, type TxnResult, type TxnWrite } from '../../src/server/mvcc/kvstore.js';

export const b = (s: string): Buffer => Buffer.from(s, 'latin1');
/** etcd's "every key >= key" range end. */
export const ALL = Buffer.from([0]);

/** A temp dir removed by the returned cleanup. */
export function tempDir(prefix = 'kvctl-mvcc-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Fixture {
  readonly dir: string;
  readonly path: string;
  backend: Backend;
  kv: KvStore;
  /** Closes store and backend and opens both again on the same file. */
  reopen(opts?: KvStoreOptions): Promise<void>;
  close(): Promise<void>;
}

export function openFixture(opts: { backend?: Partial<BackendOptions>; store?: KvStoreOptions } = {}): Fixture {
  const { dir, cleanup } = tempDir();
  const path = join(dir, 'member', 'snap', 'db');
  const backend = Backend.open({ path, ...opts.backend });
  const f: Fixture = {
    dir,
    path,
    backend,
    kv: KvStore.open(backend, opts.store),
    async reopen(storeOpts = opts.store) {
      await f.kv.close();
      await f.backend.close();
      f.backend = Backend.open({ path, ...opts.backend });
      f.kv = KvStore.open(f.backend, storeOpts);
    },
    async close() {
      await f.kv.close();
      await f.backend.close();
      cleanup();
    },
  };
  return f;
}

/** Runs one write txn in its own batch. */
export function txn(f: Fixture, fn: (w: TxnWrite) => void): TxnResult {
  return f.backend.batch(() => {
    const w = f.kv.write();
    fn(w);
    return w.end();
  });
}

export function put(f: Fixture, key: string, value: string, lease = 0n): number {
  return txn(f, (w) => w.put(b(key), b(value), lease)).rev;
}

export function del(f: Fixture, key: string, end?: string | Buffer): number {
  return txn(f, (w) => {
    w.deleteRange(b(key), typeof end === 'string' ? b(end) : end);
  }).rev;
}

/** A kv as a compact comparable tuple: [key, value, create, mod, version, lease]. */
export function t(kv: KeyValue | undefined): [string, string, number, number, number, number] | undefined {
  if (kv === undefined) return undefined;
  return [
    kv.key.toString('latin1'),
    kv.value.toString('latin1'),
    Number(kv.createRevision),
    Number(kv.modRevision),
    Number(kv.version),
    Number(kv.lease),
  ];
}

/** Keys of a range, in order. */
export function keys(kvs: readonly KeyValue[]): string[] {
  return kvs.map((kv) => kv.key.toString('latin1'));
}
