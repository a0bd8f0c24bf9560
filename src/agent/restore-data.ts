/**
 * The agent's side of a cluster-wide restore (the Restore call): a snapshot file streamed in, and the member's
 * data dir replaced by that snapshot restored as one member of a NEW cluster.
 *
 * In order, and refused with nothing changed at every step until the swap:
 * 1. the agent is enrolled, its member is stopped, the header names this member with a spec for a new
 *    cluster (a static initial cluster, state "new");
 * 2. the snapshot's format fits the member's runtime: a bbolt file (a real etcd's) is restored with the host's
 *    `etcdutl` or `etcdctl` (etcd's own restore), kvctl's format in-process (`restoreSnapshot`); a real etcd
 *    cannot read kvctl's format, kvctl's node cannot read bbolt. Known from the file's first bytes, so a
 *    mismatch is refused before the rest of the file is sent;
 * 3. the file lands under `<agent dir>/restore/`, and its size and SHA-256 must be the header's;
 * 4. the restore writes a fresh dir beside the data dir (`<data dir>.restored`);
 * 5. the swap: the data dir moves to `<data dir>.before-restore` (an older one is deleted), the fresh dir
 *    takes its place, and the spec is configured as Configure with replace does it (the env file with the
 *    new initial cluster and token). The member is not started. A failed configure moves the old dir back.
 *
 * A rerun (the same restore again after a half-done cluster restore) must not destroy what the first run
 * kept: a data dir that is exactly what an earlier restore made (never started since: nothing in it changed)
 * is discarded rather than kept, so `.before-restore` keeps holding the data from before the first restore.
 * The incoming file and any half-made dir are deleted on every failure.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { type FileHandle, lstat, mkdir, open, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

import type { Logger } from '../base/logger.js';
import type { NodeSpec, RestoreChunk } from '../proto/gen/kvctl/agent/v1/agent.js';
import { type SnapshotFormat, restoreSnapshot, snapshotFormatOf, snapshotHeadBytes } from '../server/index.js';
import { AgentInputError, AgentStateError } from './errors.js';
import { type MemberLayout, checkSpec } from './spec.js';

/** What the restore needs of the agent; the daemon supplies it (tests supply their own). */
export interface RestoreTarget {
  readonly agentName: string;
  readonly agentDir: string;
  readonly layout: MemberLayout;
  readonly enrolled: boolean;
  /** The member configured now, if any. */
  readonly configured: NodeSpec | undefined;
  /** The member's process state now ('stopped', 'starting', 'running', 'backoff'); asked again before the swap. */
  readonly memberState: () => string;
  readonly runtimes: readonly string[];
  /** Where a program is on PATH (undefined: not there). */
  readonly findTool: (name: string) => string | undefined;
  /** Configures the restored member: what Configure with replace does. */
  readonly configure: (spec: NodeSpec) => Promise<void>;
  readonly logger: Logger;
  /** Bound on the external restore tool (default 10 minutes). */
  readonly toolTimeoutMs?: number;
}

export interface RestoreOutcome {
  readonly format: SnapshotFormat;
  readonly bytes: number;
  /** Where the data dir before this restore is now ('' when there was none, or it was an untouched restore). */
  readonly keptAs: string;
}

/** Where a restore works: the incoming file and the record of the last restore made. */
export function restoreWorkDir(agentDir: string): string {
  return join(agentDir, 'restore');
}

export function beforeRestoreDir(dataDir: string): string {
  return `${dataDir}.before-restore`;
}

/** Where a restore makes the new data dir before it swaps it in. */
export function restoredDir(dataDir: string): string {
  return `${dataDir}.restored`;
}

/** Receives a snapshot stream and restores the member from it; see the module comment. */
export async function restoreMemberData(chunks: AsyncIterable<RestoreChunk>, target: RestoreTarget): Promise<RestoreOutcome> {
  if (!target.enrolled) {
    throw new AgentStateError(`agent ${target.agentName} is not enrolled in a cluster yet: there is no member to restore (kvctl cluster bootstrap enrolls it)`);
  }
  const work = restoreWorkDir(target.agentDir);
  const incoming = join(work, 'incoming.snapshot');
  const fresh = restoredDir(target.layout.dataDir);
  try {
    requireStopped(target);
    await mkdir(work, { recursive: true, mode: 0o700 });
    // Leftovers of a restore that was killed: never mistaken for this one's.
    await rm(incoming, { force: true });
    await rm(fresh, { recursive: true, force: true });

    const received = await receiveSnapshot(chunks, incoming, target);
    const { spec, format } = received;
    target.logger.info(`restore of member ${spec.memberName}: ${received.bytes} bytes received (${format} format), size and SHA-256 checked`);
    await restoreInto(format, incoming, fresh, spec, received.skipHashCheck, target);
    await rm(incoming, { force: true });
    // The member could have been started while the file arrived: the swap happens only under a stopped one.
    requireStopped(target);
    const keptAs = await swapInto(fresh, spec, target);
    target.logger.info(`member ${spec.memberName} restored into ${target.layout.dataDir}${keptAs !== '' ? `; the data before it is in ${keptAs}` : ''}; not started`);
    return { format, bytes: received.bytes, keptAs };
  } finally {
    await rm(incoming, { force: true });
    await rm(fresh, { recursive: true, force: true });
  }
}

function requireStopped(target: RestoreTarget): void {
  const state = target.memberState();
  if (state === 'running' || state === 'starting' || state === 'backoff') {
    const name = target.configured?.memberName ?? '';
    throw new AgentStateError(`agent ${target.agentName}: member ${name} is ${state}: stop it first (its data is replaced by the restore)`);
  }
}

interface Received {
  readonly spec: NodeSpec;
  readonly format: SnapshotFormat;
  readonly bytes: number;
  readonly skipHashCheck: boolean;
}

/** The header's spec, checked: this agent's member, in a new cluster with a static initial cluster. */
function checkHeaderSpec(given: NodeSpec | undefined, target: RestoreTarget): NodeSpec {
  const spec = checkSpec(given, target.runtimes);
  const configured = target.configured;
  if (configured !== undefined && configured.memberName !== spec.memberName) {
    throw new AgentInputError(`agent ${target.agentName} runs member ${configured.memberName}, not ${spec.memberName}: refusing to touch it`);
  }
  if (spec.initialClusterState !== 'new' || spec.initialCluster === '' || spec.initialClusterToken === '') {
    throw new AgentInputError('restore: the spec must name the new cluster: initial cluster state "new", an initial cluster and an initial cluster token');
  }
  if (spec.settings.WAL_DIR !== undefined && spec.settings.WAL_DIR !== '') {
    throw new AgentInputError(`restore: member ${spec.memberName} has a dedicated WAL dir (WAL_DIR=${spec.settings.WAL_DIR}); the agent restores only a data dir holding its WAL`);
  }
  return spec;
}

/** Refuses a snapshot the member's runtime cannot read, and a bbolt file on a host without etcd's restore tool. */
function checkFormatFits(format: SnapshotFormat, spec: NodeSpec, target: RestoreTarget): void {
  if (format === 'kvctl' && spec.runtime === 'etcd') {
    throw new AgentInputError(
      `restore: the snapshot is in kvctl's format, and member ${spec.memberName} runs a real etcd (runtime etcd): a real etcd cannot read kvctl's snapshot format; restore a snapshot saved from a real etcd (a bbolt file)`,
    );
  }
  if (format === 'bbolt' && spec.runtime === 'kvctl') {
    throw new AgentInputError(
      `restore: the snapshot is a real etcd's (a bbolt file), and member ${spec.memberName} runs kvctl's node, which cannot read bbolt; restore a snapshot saved from a kvctl member`,
    );
  }
  if (format === 'bbolt' && restoreTool(target) === undefined) {
    throw new AgentStateError(`agent ${target.agentName}: the snapshot is a real etcd's (bbolt) and this host has neither etcdutl nor etcdctl on PATH to restore it (Debian: apt install etcd-client)`);
  }
}

/** etcd's tools that restore a bbolt snapshot into a data dir, preferred first (etcdctl's restore is deprecated in 3.5). */
export const etcdRestoreTools = ['etcdutl', 'etcdctl'] as const;

function restoreTool(target: RestoreTarget): { file: string; name: string } | undefined {
  for (const name of etcdRestoreTools) {
    const file = target.findTool(name);
    if (file !== undefined) return { file, name };
  }
  return undefined;
}

/** Writes the stream's data to `file`, checking the header first and the size and SHA-256 at the end. */
async function receiveSnapshot(chunks: AsyncIterable<RestoreChunk>, file: string, target: RestoreTarget): Promise<Received> {
  const iterator = chunks[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done === true || first.value.header === undefined) throw new AgentInputError('restore: the first message carries no header (spec, size, SHA-256)');
  const header = first.value.header;
  const spec = checkHeaderSpec(header.spec, target);
  const size = header.size;
  if (size <= 0n || size > BigInt(Number.MAX_SAFE_INTEGER)) throw new AgentInputError(`restore: the header's size ${size} is not a file size`);
  if (header.sha256.length !== 32) throw new AgentInputError(`restore: the header's SHA-256 has ${header.sha256.length} bytes, not 32`);
  const expected = Number(size);

  const hash = createHash('sha256');
  let head = Buffer.alloc(0);
  let format: SnapshotFormat | undefined;
  let bytes = 0;
  const fh: FileHandle = await open(file, 'wx', 0o600);
  try {
    const take = async (data: Uint8Array): Promise<void> => {
      if (data.length === 0) return;
      bytes += data.length;
      if (bytes > expected) throw new AgentInputError(`restore: more bytes arrived than the header's size ${expected}`);
      if (format === undefined) {
        head = Buffer.concat([head, data.subarray(0, snapshotHeadBytes - head.length)]);
        if (head.length >= snapshotHeadBytes) {
          format = snapshotFormatOf(head);
          checkFormatFits(format, spec, target);
        }
      }
      hash.update(data);
      await fh.write(data);
    };
    await take(first.value.data);
    for (;;) {
      const next = await iterator.next();
      if (next.done === true) break;
      if (next.value.header !== undefined) throw new AgentInputError('restore: a header arrived after the first message');
      await take(next.value.data);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  if (bytes !== expected) throw new AgentInputError(`restore: ${bytes} bytes arrived, the header says ${expected}: the stream was cut short`);
  const actual = hash.digest();
  if (!actual.equals(Buffer.from(header.sha256))) {
    throw new AgentInputError(`restore: the snapshot that arrived has SHA-256 ${actual.toString('hex')}, the header says ${Buffer.from(header.sha256).toString('hex')}: it changed on the way or on the sender's disk`);
  }
  if (format === undefined) {
    // Shorter than a format's head: no bbolt file; kvctl's restore says what is wrong with it.
    format = snapshotFormatOf(head);
    checkFormatFits(format, spec, target);
  }
  return { spec, format, bytes, skipHashCheck: header.skipHashCheck };
}

/** Restores `snapshot` into `dir` (which must not exist) as the spec's member of the spec's new cluster. */
async function restoreInto(format: SnapshotFormat, snapshot: string, dir: string, spec: NodeSpec, skipHashCheck: boolean, target: RestoreTarget): Promise<void> {
  const peerUrls = spec.initialAdvertisePeerUrls.join(',');
  if (format === 'kvctl') {
    await restoreSnapshot({
      snapshotPath: snapshot,
      name: spec.memberName,
      dataDir: dir,
      initialCluster: spec.initialCluster,
      initialClusterToken: spec.initialClusterToken,
      initialAdvertisePeerUrls: peerUrls,
      skipHashCheck,
      logger: target.logger,
    });
    return;
  }
  const tool = restoreTool(target);
  if (tool === undefined) throw new AgentStateError(`agent ${target.agentName}: neither etcdutl nor etcdctl is on PATH`);
  const args = [
    'snapshot', 'restore', snapshot,
    '--name', spec.memberName,
    '--initial-cluster', spec.initialCluster,
    '--initial-cluster-token', spec.initialClusterToken,
    '--initial-advertise-peer-urls', peerUrls,
    '--data-dir', dir,
    ...(skipHashCheck ? ['--skip-hash-check'] : []),
  ];
  await new Promise<void>((resolve, reject) => {
    execFile(tool.file, args, { env: { ...process.env, ETCDCTL_API: '3' }, timeout: target.toolTimeoutMs ?? 600_000, maxBuffer: 4 << 20 }, (err, _stdout, stderr) => {
      if (err === null) {
        resolve();
        return;
      }
      // etcd's tools log JSON lines to stderr; what they say about the failure is the rest ("Error: ...").
      const said = stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('{')).join('; ');
      const how = err.killed ? `killed after ${Math.round((target.toolTimeoutMs ?? 600_000) / 1000)} s` : `exit ${String(err.code)}`;
      reject(new AgentInputError(`restore: ${tool.name} snapshot restore failed (${how}): ${said || err.message}`));
    });
  });
}

/**
 * Puts the restored dir in place and configures the member; returns where the previous data dir went.
 * Undone (the previous data dir back in place) when configuring fails.
 */
async function swapInto(fresh: string, spec: NodeSpec, target: RestoreTarget): Promise<string> {
  const dataDir = target.layout.dataDir;
  const keep = beforeRestoreDir(dataDir);
  const record = join(restoreWorkDir(target.agentDir), 'last-restore.json');
  const hadData = existsSync(dataDir);
  const untouched = hadData && existsSync(keep) && (await untouchedRestore(dataDir, record));
  // Where the previous data dir goes: beside it to be kept, or (an untouched earlier restore) to be discarded.
  const displaced = untouched ? `${dataDir}.discarded` : keep;
  await rm(`${dataDir}.discarded`, { recursive: true, force: true });
  if (!untouched) await rm(keep, { recursive: true, force: true });
  if (hadData) await rename(dataDir, displaced);
  try {
    await rename(fresh, dataDir);
  } catch (err) {
    if (hadData) await rename(displaced, dataDir);
    throw err;
  }
  try {
    await target.configure(spec);
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    if (hadData) await rename(displaced, dataDir);
    throw err;
  }
  if (untouched) await rm(displaced, { recursive: true, force: true });
  try {
    await writeRecord(record, await fingerprint(dataDir));
  } catch (err) {
    // Only the rerun protection is lost: the restore itself is complete.
    target.logger.warn(`could not record the restore in ${record}: ${(err as Error).message}`);
  }
  return hadData && !untouched ? keep : '';
}

/**
 * A digest of every path, size and modification time under `dir`: equal only while nothing in it changed
 * (a member that starts writes its WAL at once).
 */
async function fingerprint(dir: string): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(join(dir, rel))).sort();
    for (const name of names) {
      const path = join(rel, name);
      const st = await lstat(join(dir, path), { bigint: true });
      hash.update(`${path}\0${st.isDirectory() ? 'd' : st.size}\0${st.isDirectory() ? '' : st.mtimeNs}\n`);
      if (st.isDirectory()) await walk(path);
    }
  };
  await walk('');
  return hash.digest('hex');
}

async function writeRecord(file: string, print: string): Promise<void> {
  const fh = await open(`${file}.tmp`, 'w', 0o600);
  try {
    await fh.writeFile(`${JSON.stringify({ fingerprint: print, at: new Date().toISOString() })}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(`${file}.tmp`, file);
}

/** Whether `dataDir` is exactly what the last restore put there. */
async function untouchedRestore(dataDir: string, record: string): Promise<boolean> {
  try {
    const { fingerprint: recorded } = JSON.parse(await readFile(record, 'utf8')) as { fingerprint?: unknown };
    return typeof recorded === 'string' && recorded === (await fingerprint(dataDir));
  } catch {
    return false;
  }
}
