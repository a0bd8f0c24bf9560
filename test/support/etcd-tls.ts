/**
 * Starts a real etcd (the `etcd` binary on PATH, or $ETCD_BIN) as a one-member cluster serving TLS: https client
 * URLs on one or more loopback addresses, and optionally an https peer URL with its own certificates, all with
 * client-certificate authentication when asked. The TLS sibling of etcd.ts (whose behaviour stays as it is).
 *
 *     const etcd = await startTlsEtcd({ client: { certFile, keyFile, trustedCaFile, clientCertAuth: true }, probe });
 *     after(() => etcd.stop());
 *
 * Guarantees, as in etcd.ts: it resolves only once `/health` answers `{"health":"true"}` over TLS (using `probe`'s
 * CA and client certificate); otherwise etcd is killed and the promise rejects with the tail of its log. `stop()`
 * sends SIGTERM, then SIGKILL after 5 s, removes the data directory, and is idempotent; the reaper kills whatever a
 * dying test process leaves running. A lost race for a port is retried with new ports (up to 3 times).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { freePort } from './ports.js';
import { reapDir, reapProcess, releaseDir, releaseProcess } from './reaper.js';
import { waitExit } from './wait.js';

export type TlsListener = {
  readonly certFile: string;
  readonly keyFile: string;
  readonly trustedCaFile: string;
  /** etcd's --client-cert-auth / --peer-client-cert-auth. */
  readonly clientCertAuth: boolean;
};

export type StartTlsEtcdOptions = {
  /** The client listener's certificate (etcd's --cert-file, --key-file, --trusted-ca-file, --client-cert-auth). */
  readonly client: TlsListener;
  /** The peer listener's; without it the peer URL is plain http. */
  readonly peer?: TlsListener | undefined;
  /** Loopback addresses the client listener binds (default 127.0.0.1), one port each. */
  readonly clientHosts?: readonly string[] | undefined;
  /** What the readiness probe trusts and presents: a CA file, and a client certificate when clientCertAuth. */
  readonly probe: { readonly caFile: string; readonly certFile?: string | undefined; readonly keyFile?: string | undefined };
  readonly readyTimeoutMs?: number | undefined;
};

export type TlsEtcdHandle = {
  /** `https://host:port` of each client listener, in the order of `clientHosts`. */
  readonly clientUrls: readonly string[];
  /** `host:port` of each client listener. */
  readonly endpoints: readonly string[];
  readonly peerUrl: string;
  /** `host:port` of the peer listener. */
  readonly peerEndpoint: string;
  readonly dataDir: string;
  logTail(): string;
  stop(): Promise<void>;
};

/** GET /health over TLS with the probe's CA and client certificate; false on any failure within 1 s. */
function isHealthy(clientUrl: string, probe: StartTlsEtcdOptions['probe']): Promise<boolean> {
  const url = new URL('/health', clientUrl);
  return new Promise((resolve) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'GET',
        ca: readFileSync(probe.caFile),
        ...(probe.certFile !== undefined && probe.keyFile !== undefined
          ? { cert: readFileSync(probe.certFile), key: readFileSync(probe.keyFile) }
          : {}),
        timeout: 1000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          try {
            const health = (JSON.parse(body) as { health?: unknown }).health;
            resolve(res.statusCode === 200 && (health === 'true' || health === true));
          } catch {
            resolve(false);
          }
        });
        res.on('error', () => resolve(false));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
    req.end();
  });
}

async function startOnce(opts: StartTlsEtcdOptions, dataDir: string): Promise<TlsEtcdHandle> {
  const hosts = opts.clientHosts ?? ['127.0.0.1'];
  const used = new Set<number>();
  const portOn = async (host: string): Promise<number> => {
    for (let i = 0; i < 10; i++) {
      const port = await freePort(host);
      if (!used.has(port)) {
        used.add(port);
        return port;
      }
    }
    throw new Error('no distinct free port');
  };
  const clientEndpoints: string[] = [];
  for (const host of hosts) clientEndpoints.push(`${host}:${await portOn(host)}`);
  const clientUrls = clientEndpoints.map((e) => `https://${e}`);
  const peerHost = hosts[0] ?? '127.0.0.1';
  const peerEndpoint = `${peerHost}:${await portOn(peerHost)}`;
  const peerUrl = `${opts.peer === undefined ? 'http' : 'https'}://${peerEndpoint}`;
  const name = 'kvctl-tls-test';
  const tlsArgs = (prefix: '' | 'peer-', l: TlsListener): string[] => [
    `--${prefix}cert-file`, l.certFile,
    `--${prefix}key-file`, l.keyFile,
    `--${prefix}trusted-ca-file`, l.trustedCaFile,
    ...(l.clientCertAuth ? [`--${prefix}client-cert-auth`] : []),
  ];
  const args = [
    '--name', name,
    '--data-dir', dataDir,
    '--listen-client-urls', clientUrls.join(','),
    '--advertise-client-urls', clientUrls.join(','),
    '--listen-peer-urls', peerUrl,
    '--initial-advertise-peer-urls', peerUrl,
    '--initial-cluster', `${name}=${peerUrl}`,
    '--initial-cluster-token', `kvctl-tls-test-${process.pid}-${peerEndpoint}`,
    '--initial-cluster-state', 'new',
    ...tlsArgs('', opts.client),
    ...(opts.peer === undefined ? [] : tlsArgs('peer-', opts.peer)),
  ];
  const child = spawn(process.env.ETCD_BIN ?? 'etcd', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } });
  reapProcess(child);
  reapDir(dataDir);
  let log = '';
  const onData = (chunk: Buffer): void => {
    log = (log + chunk.toString('utf8')).slice(-16_384);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const logTail = (): string => log.split('\n').slice(-30).join('\n');
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });
  child.once('exit', () => releaseProcess(child));

  const stopProcess = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      if (!(await waitExit(child, 5000))) {
        child.kill('SIGKILL');
        await waitExit(child, 5000);
      }
    }
    releaseProcess(child);
  };
  let stopped: Promise<void> | undefined;
  const handle: TlsEtcdHandle = {
    clientUrls,
    endpoints: clientEndpoints,
    peerUrl,
    peerEndpoint,
    dataDir,
    logTail,
    stop: () => {
      stopped ??= stopProcess().then(() => {
        rmSync(dataDir, { recursive: true, force: true });
        releaseDir(dataDir);
      });
      return stopped;
    },
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 20_000);
  const firstUrl = clientUrls[0] ?? '';
  while (Date.now() < deadline) {
    if (spawnError !== undefined) break;
    if (child.exitCode !== null || child.signalCode !== null) break;
    if (await isHealthy(firstUrl, opts.probe)) return handle;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await stopProcess();
  const why = spawnError
    ? `could not run etcd: ${spawnError.message}`
    : child.exitCode !== null || child.signalCode !== null
      ? `etcd exited (code ${child.exitCode}, signal ${child.signalCode})`
      : 'etcd did not become healthy over TLS in time';
  throw new Error(`${why}\n--- etcd log (tail) ---\n${logTail()}`);
}

/** Starts a one-member etcd serving TLS on free loopback ports; see the module comment. */
export async function startTlsEtcd(opts: StartTlsEtcdOptions): Promise<TlsEtcdHandle> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const dataDir = mkdtempSync(join(tmpdir(), 'kvctl-etcd-tls-'));
    try {
      return await startOnce(opts, dataDir);
    } catch (err) {
      lastError = err;
      rmSync(dataDir, { recursive: true, force: true });
      releaseDir(dataDir);
      if (!(err instanceof Error && /address already in use/.test(err.message))) break;
    }
  }
  throw lastError;
}
