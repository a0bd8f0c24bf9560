// Starts `kvctl node` (the built CLI) as a real process on loopback ports, for end-to-end tests.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { root } from '../e2e/kvctl.js';
import { freePort } from './ports.js';
import { reapProcess, releaseProcess } from './reaper.js';

export interface KvNode {
  readonly name: string;
  readonly host: string;
  readonly clientPort: number;
  readonly endpoint: string;
  readonly dataDir: string;
  readonly process: ChildProcess;
  /** stderr so far (the node logs there). */
  log(): string;
  /** SIGTERM, then SIGKILL after a grace period; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** kill -9. */
  kill9(): Promise<void>;
}

export interface StartOptions {
  name?: string;
  host?: string;
  dataDir?: string;
  clientPort?: number;
  args?: readonly string[];
  env?: NodeJS.ProcessEnv;
  readyTimeoutMs?: number;
  /** Scheme of the client URLs (default http; https needs --cert-file/--key-file in `args`). */
  clientScheme?: 'http' | 'https';
  /** More hosts to listen on for clients, on the same port and scheme (the advertised URL stays `host`'s). */
  extraClientHosts?: readonly string[];
}

/** Starts a one-member node and waits until it says it is ready (or fails with its log). */
export async function startKvNode(opts: StartOptions = {}): Promise<KvNode> {
  const name = opts.name ?? 'n1';
  const host = opts.host ?? '127.0.0.1';
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'kvctl-node-'));
  const clientPort = opts.clientPort ?? (await freePort(host));
  const peerPort = await freePort(host);
  const scheme = opts.clientScheme ?? 'http';
  const client = `${scheme}://${host}:${clientPort}`;
  const listenClient = [client, ...(opts.extraClientHosts ?? []).map((h) => `${scheme}://${h}:${clientPort}`)].join(',');
  const peer = `http://${host}:${peerPort}`;
  const args = [
    join(root, 'bin/run.js'),
    'node',
    '--name', name,
    '--data-dir', dataDir,
    '--listen-client-urls', listenClient,
    '--advertise-client-urls', client,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `${name}=${peer}`,
    ...(opts.args ?? []),
  ];
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  // A test that dies before stop() still takes the node with it.
  reapProcess(child);
  child.once('exit', () => releaseProcess(child));
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout?.resume();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const node: KvNode = {
    name,
    host,
    clientPort,
    endpoint: `${host}:${clientPort}`,
    dataDir,
    process: child,
    log: () => stderr,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    async kill9() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 15_000);
  while (!stderr.includes('ready to serve client requests')) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`kvctl node exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${stderr}`);
    }
    if (Date.now() > deadline) {
      await node.kill9();
      throw new Error(`kvctl node not ready in time:\n${stderr}`);
    }
    await sleep(20);
  }
  return node;
}

/** Removes a data dir made by startKvNode. */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
