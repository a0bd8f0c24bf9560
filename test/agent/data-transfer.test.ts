// A member's data dir sent between agents (src/agent/data-transfer.ts): what arrives is what was sent, byte for
// byte, and a stream that is cut, corrupted, aimed outside the data dir or meant for another member leaves
// nothing behind.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

import { exportDataDir, importDataDir } from '../../src/agent/data-transfer.js';
import type { DataChunk } from '../../src/proto/gen/kvctl/agent/v1/agent.js';

const root = mkdtempSync(join(tmpdir(), 'kvctl-transfer-'));
after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A data dir like a member's: a WAL, an empty snap dir, a db bigger than one chunk. */
function sampleDataDir(): string {
  const dir = join(root, `src-${n++}`);
  mkdirSync(join(dir, 'member', 'wal'), { recursive: true });
  mkdirSync(join(dir, 'member', 'snap'), { recursive: true });
  writeFileSync(join(dir, 'member', 'wal', '0000000000000000-0000000000000000.wal'), Buffer.alloc(70_000, 7));
  writeFileSync(join(dir, 'member', 'wal', 'empty.tmp'), '');
  const db = Buffer.alloc(2.5 * (1 << 20));
  for (let i = 0; i < db.length; i += 4096) db.writeUInt32LE(i, i);
  writeFileSync(join(dir, 'member', 'snap', 'db'), db);
  chmodSync(join(dir, 'member', 'snap', 'db'), 0o600);
  return dir;
}

async function collect(dir: string, member: string): Promise<DataChunk[]> {
  const out: DataChunk[] = [];
  for await (const c of exportDataDir(dir, member)) out.push(c);
  return out;
}

async function* replay(chunks: readonly DataChunk[]): AsyncGenerator<DataChunk> {
  for (const c of chunks) yield c;
}

function listing(dir: string, rel = ''): string[] {
  return readdirSync(join(dir, rel), { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) => (e.isDirectory() ? [`${rel}${e.name}/`, ...listing(dir, `${rel}${e.name}/`)] : [`${rel}${e.name}`]));
}

describe('data dir transfer', () => {
  test('export then import reproduces the data dir: files, bytes, modes, empty dirs', async () => {
    const src = sampleDataDir();
    const dest = join(root, 'dest-ok');
    const chunks = await collect(src, 'm2');
    assert.equal(chunks[0]?.memberName, 'm2');
    assert.equal(chunks.at(-1)?.complete, true);
    assert.equal(chunks.at(-1)?.fileCount, 3);
    const result = await importDataDir(replay(chunks), dest, 'm2');
    assert.deepEqual(result, { files: 3, bytes: 70_000 + 2.5 * (1 << 20) });
    assert.deepEqual(listing(dest), listing(src));
    for (const f of ['member/wal/0000000000000000-0000000000000000.wal', 'member/snap/db', 'member/wal/empty.tmp']) {
      assert.ok(readFileSync(join(dest, f)).equals(readFileSync(join(src, f))), f);
    }
    assert.equal(statSync(join(dest, 'member/snap/db')).mode & 0o777, 0o600);
    assert.equal(existsSync(`${dest}.incoming`), false);
  });

  const refusals: { what: string; mutate: (c: DataChunk[]) => DataChunk[]; error: RegExp }[] = [
    { what: 'another member', mutate: (c) => [{ ...(c[0] as DataChunk), memberName: 'm9' }, ...c.slice(1)], error: /member "m9"'s, and this agent is configured for m2/ },
    {
      what: 'a flipped byte',
      mutate: (c) => c.map((x, i) => (i === 5 && x.data.length > 0 ? { ...x, data: Buffer.from(x.data).fill(1, 0, 1) } : x)),
      error: /arrived with \d+ bytes and SHA-256 [0-9a-f]+, sent as/,
    },
    { what: 'a stream cut short', mutate: (c) => c.slice(0, -3), error: /ended before its last message|ended without its size and hash/ },
    { what: 'a missing file', mutate: (c) => c.filter((x) => !x.path.endsWith('empty.tmp')), error: /2 files arrived, the sender sent 3/ },
    { what: 'a path outside the data dir', mutate: (c) => [c[0] as DataChunk, { ...(c[1] as DataChunk), path: '../escape/' }, ...c.slice(2)], error: /refusing file path "\.\.\/escape\/"/ },
    { what: 'an absolute path', mutate: (c) => c.map((x) => (x.path === 'member/snap/db' ? { ...x, path: '/etc/db' } : x)), error: /refusing file path "\/etc\/db"/ },
  ];
  for (const r of refusals) {
    test(`refused, nothing left behind: ${r.what}`, async () => {
      const src = sampleDataDir();
      const dest = join(root, `dest-${n++}`);
      await assert.rejects(importDataDir(replay(r.mutate(await collect(src, 'm2'))), dest, 'm2'), r.error);
      assert.equal(existsSync(dest), false);
      assert.equal(existsSync(`${dest}.incoming`), false);
    });
  }

  test('a host that holds data already is refused; a missing data dir cannot be exported', async () => {
    const src = sampleDataDir();
    const dest = sampleDataDir();
    await assert.rejects(importDataDir(replay(await collect(src, 'm2')), dest, 'm2'), /exists already: this host holds data of its own/);
    await assert.rejects(collect(join(root, 'nothing-here'), 'm2'), /member m2 has no data dir at .*nothing to move/);
  });
});
