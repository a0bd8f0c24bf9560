/**
 * Docker for tests, through the real docker CLI (an independent check of what the agent did through the API):
 * whether an engine answers, images made locally with `docker import` (never pulled: no registry is reachable
 * and none is needed), and removal of every container and image a test made.
 *
 * An image is a root file system of host files: the binary it runs and the shared libraries `ldd` names. The
 * files are symlinked into a staging directory and `tar --dereference` packs their contents, so nothing is
 * copied on disk before the engine unpacks them.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export type DockerRun = { code: number; stdout: string; stderr: string };

/** Runs the docker CLI with a hard timeout; never rejects (a missing CLI is code -1). */
export function docker(args: readonly string[], timeoutMs = 60_000): Promise<DockerRun> {
  return run('docker', args, timeoutMs);
}

function run(file: string, args: readonly string[], timeoutMs: number): Promise<DockerRun> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr: stderr || (error?.message ?? '') });
    });
  });
}

/** Why docker tests cannot run here, or undefined when an engine answers. */
export async function dockerUnavailable(): Promise<string | undefined> {
  const r = await docker(['version', '--format', '{{.Server.Version}}'], 10_000);
  if (r.code === 0 && r.stdout.trim() !== '') return undefined;
  return `no Docker engine answers (docker version: ${(r.stderr.trim().split('\n')[0] ?? '') || `exit code ${r.code}`}); .ci/run starts one with dockerd --storage-driver=vfs where it can`;
}

/** The shared libraries `binary` loads (absolute paths), as ldd lists them. */
async function sharedLibraries(binary: string): Promise<string[]> {
  const r = await run('ldd', [binary], 10_000);
  // A static binary: ldd says "not a dynamic executable" and exits 1.
  if (r.code !== 0) return [];
  return [...r.stdout.matchAll(/(\/\S+\.so[^\s]*)/g)].map((m) => m[1] ?? '').filter((p) => p !== '');
}

export interface ImageContent {
  /** Host files, each at the same path inside the image: binaries (with their ldd libraries). */
  readonly binaries: readonly string[];
  /** Host files or directories placed at another path: image path → host path. */
  readonly files?: Readonly<Record<string, string>>;
  /** The image's CMD. */
  readonly cmd: readonly string[];
}

/** Builds `tag` with `docker import` from host files (see the module comment); throws with docker's message. */
export async function importImage(tag: string, content: ImageContent): Promise<void> {
  const stage = mkdtempSync(join(tmpdir(), 'kvctl-image-'));
  try {
    const link = (imagePath: string, hostPath: string) => {
      const at = join(stage, imagePath);
      mkdirSync(dirname(at), { recursive: true });
      rmSync(at, { force: true });
      symlinkSync(hostPath, at);
    };
    for (const binary of content.binaries) {
      link(binary, binary);
      for (const lib of await sharedLibraries(binary)) link(lib, lib);
    }
    for (const [imagePath, hostPath] of Object.entries(content.files ?? {})) link(imagePath, hostPath);
    mkdirSync(join(stage, 'tmp'), { mode: 0o1777 });
    mkdirSync(join(stage, 'etc'), { recursive: true });
    writeFileSync(join(stage, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    writeFileSync(join(stage, 'etc/group'), 'root:x:0:\n');
    writeFileSync(join(stage, 'etc/nsswitch.conf'), 'hosts: files dns\n');
    const changes = ['ENV PATH=/usr/local/bin:/usr/bin:/bin', 'LABEL kvctl.test=1', `CMD ${JSON.stringify(content.cmd)}`];
    const script = 'set -o pipefail; tar --dereference -C "$1" -cf - . | docker import "${@:3}" - "$2" >/dev/null';
    const r = await run('bash', ['-c', script, 'import', stage, tag, ...changes.flatMap((c) => ['-c', c])], 120_000);
    if (r.code !== 0) throw new Error(`docker import of ${tag} failed (${r.code}): ${r.stderr.trim()}`);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** Every container made from `image` (running or not), removed with force; then the image. Never throws. */
export async function removeImageAndContainers(image: string): Promise<string[]> {
  const problems: string[] = [];
  const ids = await docker(['ps', '-aq', '--filter', `ancestor=${image}`]);
  const list = ids.stdout.split('\n').filter((s) => s.trim() !== '');
  if (list.length > 0) {
    const rm = await docker(['rm', '-f', '-v', ...list]);
    if (rm.code !== 0) problems.push(`docker rm: ${rm.stderr.trim()}`);
  }
  const rmi = await docker(['rmi', '-f', image]);
  if (rmi.code !== 0 && !/No such image/i.test(rmi.stderr)) problems.push(`docker rmi ${image}: ${rmi.stderr.trim()}`);
  return problems;
}

/** The same, synchronously, for a process that is exiting (test/support/reaper.ts); best effort. */
export function removeImageAndContainersSync(image: string): void {
  const opts = { timeout: 30_000, stdio: ['ignore', 'pipe', 'ignore'] as ('ignore' | 'pipe')[], encoding: 'utf8' as const };
  try {
    const ids = execFileSync('docker', ['ps', '-aq', '--filter', `ancestor=${image}`], opts).split('\n').filter((s) => s.trim() !== '');
    if (ids.length > 0) execFileSync('docker', ['rm', '-f', '-v', ...ids], opts);
  } catch {
    // best effort
  }
  try {
    execFileSync('docker', ['rmi', '-f', image], opts);
  } catch {
    // best effort (or no such image)
  }
}

/** The containers (running or not) labelled `label` (`key` or `key=value`): id, name, state. */
export async function containersLabelled(label: string): Promise<{ id: string; name: string; state: string }[]> {
  const r = await docker(['ps', '-a', '--no-trunc', '--filter', `label=${label}`, '--format', '{{.ID}}\t{{.Names}}\t{{.State}}']);
  if (r.code !== 0) throw new Error(`docker ps: ${r.stderr.trim()}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [id = '', name = '', state = ''] = l.split('\t');
      return { id, name, state };
    });
}
