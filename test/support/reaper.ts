/**
 * What a test process must not leave behind: the child processes it starts, their temporary data
 * directories, and anything else a synchronous cleanup removes (docker containers and images). Whatever is still tracked when the process exits, or is stopped by SIGINT/SIGTERM/SIGHUP (the
 * test runner's way of stopping a file), is killed with SIGKILL and removed; the signal is then raised again so
 * that the process still dies of it. Shared by every launcher in test/support (etcd, clusters).
 */
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

const processes = new Set<ChildProcess>();
const dirs = new Set<string>();
const cleanups = new Set<() => void>();
let hookInstalled = false;

function reapAll(): void {
  for (const child of processes) child.kill('SIGKILL');
  processes.clear();
  for (const cleanup of cleanups) {
    try {
      cleanup();
    } catch {
      // best effort: the process is going away
    }
  }
  cleanups.clear();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}

function installHook(): void {
  if (hookInstalled) return;
  hookInstalled = true;
  process.on('exit', reapAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      reapAll();
      process.off(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

/** Kill `child` if this process ends while it runs (until `releaseProcess`). */
export function reapProcess(child: ChildProcess): void {
  installHook();
  processes.add(child);
}

export function releaseProcess(child: ChildProcess): void {
  processes.delete(child);
}

/** Remove `dir` if this process ends before `releaseDir`. */
export function reapDir(dir: string): void {
  installHook();
  dirs.add(dir);
}

export function releaseDir(dir: string): void {
  dirs.delete(dir);
}

/** Run `cleanup` (synchronous: the process is exiting) if this process ends before `releaseCleanup`. */
export function reapCleanup(cleanup: () => void): void {
  installHook();
  cleanups.add(cleanup);
}

export function releaseCleanup(cleanup: () => void): void {
  cleanups.delete(cleanup);
}
