/**
 * A running node: the core (kvserver) plus its client listener, started the way etcd starts — the
 * client URLs open only once the member has a leader and has published itself, so the first request a
 * client sends is served, not refused with "no leader".
 */
import type { Logger } from '../base/logger.js';
import { type ClientListener, serveClients } from './api/listener.js';
import { type ServerConfig, validateConfig } from './kvserver/config.js';
import { EtcdServer } from './kvserver/server.js';
import { V3Api } from './kvserver/v3.js';

export interface RunningNode {
  readonly server: EtcdServer;
  readonly clientAddresses: readonly string[];
  /** Settles when the node stops, by stop() or by a fatal error (then it rejects with that error). */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

export async function startNode(config: ServerConfig, logger: Logger): Promise<RunningNode> {
  validateConfig(config);
  const server = await EtcdServer.start(config, logger);
  let listener: ClientListener | undefined;
  try {
    await server.readyNotify(config.electionMs * 10 + 5000);
    listener = await serveClients(new V3Api(server), config.listenClientUrls, {
      maxRequestBytes: config.maxRequestBytes,
      logger,
    });
  } catch (err) {
    await server.stop();
    throw err;
  }
  const l = listener;
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
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
