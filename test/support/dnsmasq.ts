/**
 * A real DNS server for SRV discovery tests: Debian's dnsmasq (`dnsmasq-base`, which `.ci/run` installs),
 * answering fixed SRV and A records on one loopback address and port, and nothing else.
 *
 *     const dns = await startDnsmasq({ domain: 'c1.kvctl.test', srv: [...], hosts: [...] });
 *     after(() => dns.stop());
 *     // dns.server is '127.0.0.1:<port>': kvctl's --dns-server / ETCD_DNS_SERVER / KVCTL_DNS_SERVER
 *
 * - It reads no resolv.conf and no /etc/hosts, forwards nothing (`--no-resolv --no-hosts`), and answers
 *   names under `domain` that it does not know with NXDOMAIN at once (`--local=/domain/`).
 * - `startDnsmasq` resolves once dnsmasq answers a query for one of its records; if it exits or does not
 *   answer in time, it is killed and the promise rejects with its log. A port another process took in the
 *   meantime is retried with a new one (up to 3 times).
 * - `stop()` (idempotent) kills it and removes its directory; the reaper does the same if the test
 *   process ends first.
 * - Records are fixed for its lifetime: different records need another dnsmasq (several may run at once).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { promises as dnsPromises } from 'node:dns';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { freePort } from './ports.js';
import { reapDir, reapProcess, releaseDir, releaseProcess } from './reaper.js';
import { waitExit } from './wait.js';

export type SrvRecordSpec = {
  /** e.g. `_etcd-server._tcp.c1.kvctl.test`. */
  readonly name: string;
  /** e.g. `m1.c1.kvctl.test`. */
  readonly target: string;
  readonly port: number;
  readonly priority?: number;
  readonly weight?: number;
};

export type HostRecordSpec = { readonly name: string; readonly address: string };

export type StartDnsmasqOptions = {
  /** The zone dnsmasq is authoritative for: unknown names in it get NXDOMAIN. */
  domain: string;
  srv?: readonly SrvRecordSpec[];
  hosts?: readonly HostRecordSpec[];
  /** Loopback address to listen on (default 127.0.0.1). */
  address?: string;
  /** A fixed port (e.g. 53, for programs that only read /etc/resolv.conf); default a free one. */
  port?: number;
  readyTimeoutMs?: number;
};

export type Dnsmasq = {
  readonly address: string;
  readonly port: number;
  /** `address:port`, the form --dns-server takes. */
  readonly server: string;
  /** dnsmasq's log so far (queries included). */
  log(): string;
  stop(): Promise<void>;
};

/** True when dnsmasq can be run here (`dnsmasq --version`). */
export function dnsmasqAvailable(): boolean {
  const r = spawnSync('dnsmasq', ['--version'], { stdio: 'ignore', timeout: 5000 });
  return r.status === 0;
}

async function answers(server: string, opts: StartDnsmasqOptions): Promise<boolean> {
  const resolver = new dnsPromises.Resolver({ timeout: 300, tries: 1 });
  resolver.setServers([server]);
  try {
    const srv = opts.srv?.[0];
    const host = opts.hosts?.[0];
    if (srv !== undefined) await resolver.resolveSrv(srv.name);
    else if (host !== undefined) await resolver.resolve4(host.name);
    else await resolver.resolve4(`probe.${opts.domain}`).catch((err: { code?: string }) => {
      if (err.code !== 'ENOTFOUND') throw err;
    });
    return true;
  } catch {
    return false;
  } finally {
    resolver.cancel();
  }
}

async function startOnce(opts: StartDnsmasqOptions, dir: string): Promise<Dnsmasq> {
  const address = opts.address ?? '127.0.0.1';
  if (!address.startsWith('127.')) throw new Error(`tests run on loopback only, not ${address}`);
  const port = opts.port ?? (await freePort(address));
  const logFile = join(dir, 'dnsmasq.log');
  const args = [
    '--keep-in-foreground',
    '--no-resolv',
    '--no-hosts',
    '--conf-file=/dev/null',
    '--pid-file=',
    `--user=${userInfo().username}`,
    `--listen-address=${address}`,
    '--bind-interfaces',
    `--port=${port}`,
    `--local=/${opts.domain}/`,
    '--log-queries',
    `--log-facility=${logFile}`,
    ...(opts.srv ?? []).map((r) => `--srv-host=${r.name},${r.target},${r.port},${r.priority ?? 0},${r.weight ?? 100}`),
    ...(opts.hosts ?? []).map((h) => `--host-record=${h.name},${h.address}`),
  ];
  const child: ChildProcess = spawn('dnsmasq', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  reapProcess(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  child.once('exit', () => releaseProcess(child));
  const log = (): string => {
    try {
      return `${stderr}${readFileSync(logFile, 'utf8')}`;
    } catch {
      return stderr;
    }
  };
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        if (!(await waitExit(child, 3000))) {
          child.kill('SIGKILL');
          await waitExit(child, 3000);
        }
      }
      releaseProcess(child);
    })();
    return stopped;
  };
  const server = `${address}:${port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 5000);
  while (Date.now() < deadline && spawnError === undefined && child.exitCode === null && child.signalCode === null) {
    if (await answers(server, opts)) return { address, port, server, log, stop };
    await sleep(50);
  }
  await stop();
  const why = spawnError !== undefined ? `could not run dnsmasq: ${spawnError.message}` : child.exitCode !== null ? `dnsmasq exited (${child.exitCode})` : 'dnsmasq did not answer in time';
  throw new Error(`${why}\n--- dnsmasq log ---\n${log()}`);
}

/** Starts dnsmasq with the given records; see the module comment. */
export async function startDnsmasq(opts: StartDnsmasqOptions): Promise<Dnsmasq> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), 'kvctl-dnsmasq-'));
    reapDir(dir);
    try {
      const dns = await startOnce(opts, dir);
      return {
        ...dns,
        stop: async () => {
          await dns.stop();
          rmSync(dir, { recursive: true, force: true });
          releaseDir(dir);
        },
      };
    } catch (err) {
      lastError = err;
      rmSync(dir, { recursive: true, force: true });
      releaseDir(dir);
      // Only a lost race for the port is worth another try (a fixed port is not).
      if (opts.port !== undefined || !(err instanceof Error && /Address already in use/i.test(err.message))) break;
    }
  }
  throw lastError;
}
