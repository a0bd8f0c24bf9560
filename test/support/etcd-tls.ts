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
import { readFileSync } from 'node:fs';
import { request } from 'node:https';

import { etcdCommand, oneMemberClusterArgs } from './etcd.js';
import { freePorts } from './ports.js';
import { startServer } from './process-handle.js';

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

/** Starts a one-member etcd serving TLS on free loopback ports; see the module comment. */
export async function startTlsEtcd(opts: StartTlsEtcdOptions): Promise<TlsEtcdHandle> {
  const hosts = opts.clientHosts ?? ['127.0.0.1'];
  const peerHost = hosts[0] ?? '127.0.0.1';
  const name = 'kvctl-tls-test';
  const tlsArgs = (prefix: '' | 'peer-', l: TlsListener): string[] => [
    `--${prefix}cert-file`, l.certFile,
    `--${prefix}key-file`, l.keyFile,
    `--${prefix}trusted-ca-file`, l.trustedCaFile,
    ...(l.clientCertAuth ? [`--${prefix}client-cert-auth`] : []),
  ];
  const server = await startServer({
    dataDirPrefix: 'kvctl-etcd-tls-',
    readyTimeoutMs: opts.readyTimeoutMs ?? 20_000,
    notReady: 'etcd did not become healthy over TLS in time',
    launch: async (dataDir) => {
      const ports = await freePorts([...hosts, peerHost]);
      const endpoints = hosts.map((host, i) => `${host}:${ports[i]}`);
      const clientUrls = endpoints.map((e) => `https://${e}`);
      const peerEndpoint = `${peerHost}:${ports[hosts.length]}`;
      const peerUrl = `${opts.peer === undefined ? 'http' : 'https'}://${peerEndpoint}`;
      const token = `kvctl-tls-test-${process.pid}-${peerEndpoint}`;
      return {
        command: etcdCommand(),
        args: [
          ...oneMemberClusterArgs({ name, dataDir, clientUrls, peerUrl, token }),
          ...tlsArgs('', opts.client),
          ...(opts.peer === undefined ? [] : tlsArgs('peer-', opts.peer)),
        ],
        options: { label: 'etcd' },
        ready: () => isHealthy(clientUrls[0] ?? '', opts.probe),
        info: { clientUrls, endpoints, peerUrl, peerEndpoint },
      };
    },
  });
  return { ...server.info, dataDir: server.dataDir, logTail: () => server.process.logTail(), stop: server.stop };
}
