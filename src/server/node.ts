/**
 * A running node: the core (kvserver) plus its client listener, started the way etcd starts — the
 * client URLs open only once the member has a leader and has published itself, so the first request a
 * client sends is served, not refused with "no leader".
 */
import { createServer, isIP } from 'node:net';
import { join } from 'node:path';

import type { Logger } from '../base/logger.js';
import { dnsServerResolver } from '../base/node-dns.js';
import { type ClientListener, serveClients } from './api/listener.js';
import { ServerTlsFiles } from './api/tls.js';
import { isAutoPeerTls, withAutoTls } from './auto-tls.js';
import { type ServerConfig, clientTlsWarnings, tlsInfoEmpty, validateConfig } from './kvserver/config.js';
import { EtcdServer, type PeerWiring } from './kvserver/server.js';
import { withSrvCluster } from './kvserver/srv-discovery.js';
import { type PeerTls, PeerTransport, callPeerUrl } from './peer/index.js';
import { V3Api } from './kvserver/v3.js';

export interface RunningNode {
  readonly server: EtcdServer;
  readonly clientAddresses: readonly string[];
  /** Settles when the node stops, by stop() or by a fatal error (then it rejects with that error). */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

/**
 * The peer TLS settings, files read and checked now as the client listener's are (a bad file stops the
 * start with Go's message), when any are given: other members' URLs (from the member list, not only
 * --initial-cluster) may be https even where this member listens on http. As in etcd, a trusted CA file
 * means peers must present a certificate it signed.
 */
function peerTlsOf(config: ServerConfig): PeerTls | undefined {
  if (tlsInfoEmpty(config.peerTls)) return undefined;
  const files = ServerTlsFiles.load(config.peerTls, 'peer');
  return { ...files.current(), clientCertAuth: files.requireClientCert, skipVerify: isAutoPeerTls(config) };
}

/** The real peer transport on --listen-peer-urls, bound to the listen host for outgoing connections. */
export function peerWiring(config: ServerConfig, logger: Logger): PeerWiring {
  const localAddress = outgoingAddress(config.listenPeerUrls);
  const tls = peerTlsOf(config);
  // Peer URLs from SRV records name hosts: with --dns-server they resolve there too, not in the system's DNS.
  const lookup = config.dnsServer !== '' ? dnsServerResolver(config.dnsServer).lookup : undefined;
  const dial = { localAddress, tls, lookup };
  return {
    listen: async ({ memberId, clusterId }, handler, reports) =>
      await PeerTransport.listen({
        memberId,
        clusterId,
        listenUrls: config.listenPeerUrls,
        ...(localAddress !== undefined ? { localAddress } : {}),
        receiveDir: join(config.dataDir, 'member', 'snap'),
        handler,
        reports,
        logger,
        ...(tls !== undefined ? { tls } : {}),
        ...(lookup !== undefined ? { lookup } : {}),
      }),
    callUrl: async (url, method, payload, timeoutMs) => await callPeerUrl(url, method, payload, { clusterId: 0n, memberId: 0n, timeoutMs, dial }),
  };
}

/**
 * Outgoing peer connections leave from the address the member listens on when that is one concrete IP
 * address (not 0.0.0.0 or a name): on a multi-homed host peers then see the member's own address, and the
 * test suite's fault proxy tells members apart by it.
 */
function outgoingAddress(urls: readonly URL[]): string | undefined {
  const hosts = new Set(urls.map((u) => u.hostname.replace(/^\[|\]$/g, '')));
  if (hosts.size !== 1) return undefined;
  const [host] = [...hosts] as [string];
  if (isIP(host) === 0 || host === '0.0.0.0' || host === '::') return undefined;
  return host;
}

/**
 * Fails when one of `urls` cannot be listened on now. etcd binds its listeners before it contacts a
 * discovery service; kvctl binds them later, so a member with --discovery checks first: one that
 * registered and then could not listen would leave a registration no restart can reuse.
 */
async function checkListenable(urls: readonly URL[]): Promise<void> {
  for (const url of urls) {
    if (url.port === '0') continue;
    await new Promise<void>((resolve, reject) => {
      const probe = createServer();
      probe.once('error', (err: NodeJS.ErrnoException) =>
        reject(new Error(`listen ${url.href}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`)),
      );
      probe.listen({ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) }, () => probe.close(() => resolve()));
    });
  }
}

export async function startNode(given: ServerConfig, logger: Logger): Promise<RunningNode> {
  validateConfig(given);
  if (given.discovery !== '') await checkListenable([...given.listenPeerUrls, ...given.listenClientUrls]);
  const config = await withAutoTls(await withSrvCluster(given, logger), logger);
  for (const warning of clientTlsWarnings(config)) logger.warn(warning);
  // Read and checked before the member starts: a bad certificate must not leave a half-started member.
  const clientTls = config.listenClientUrls.some((u) => u.protocol === 'https:') ? ServerTlsFiles.load(config.clientTls) : undefined;
  const server = await EtcdServer.start(config, logger, peerWiring(config, logger));
  let listener: ClientListener | undefined;
  try {
    // etcd serves clients only once the member has a leader and has published itself; a member whose
    // peers are not up yet waits for them (saying so), as etcd does.
    for (let waited = 0; ; ) {
      const step = Math.max(5000, config.electionMs * 5);
      try {
        await server.readyNotify(step);
        break;
      } catch (err) {
        if (server.fatalError !== undefined) throw server.fatalError;
        if (server.isStopped) throw err;
        waited += step;
        logger.warn(`${(err as Error).message}; still waiting for a quorum of the cluster's members after ${Math.round(waited / 1000)} s`);
      }
    }
    listener = await serveClients(new V3Api(server), config.listenClientUrls, {
      maxRequestBytes: config.maxRequestBytes,
      logger,
      tls: clientTls,
    });
  } catch (err) {
    await server.stop();
    throw err;
  }
  const l = listener;
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      // Clients are still served while leadership moves, as etcd does on shutdown.
      await server.transferLeadershipOnShutdown();
      await l.close();
      await server.stop();
    })();
    return stopping;
  };
  const done = new Promise<void>((resolve, reject) => {
    server.onStopped = () => {
      void l.close();
      if (server.fatalError) reject(server.fatalError);
      else resolve();
    };
  });
  return { server, clientAddresses: l.addresses, done, stop };
}
