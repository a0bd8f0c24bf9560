/**
 * The HTTP endpoints etcd serves on its client URLs beside gRPC: /health, /version, /metrics, and the
 * discovery subset of the v2 keys API under /v2/keys (v2-keys.ts).
 * Answers follow etcd 3.5's shapes (`{"health":"true","reason":""}`, `{"etcdserver":..,"etcdcluster":..}`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import type { Logger } from '../../base/logger.js';
import type { V3Api } from '../kvserver/v3.js';
import { CLUSTER_VERSION, SERVER_VERSION } from '../kvserver/v3.js';
import { isV2KeysPath, v2KeysHandler } from './v2-keys.js';

export function httpHandler(api: V3Api, logger: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  const v2Keys = v2KeysHandler(api, logger);
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (isV2KeysPath(path)) {
      v2Keys(req, res);
    } else if (path === '/version') {
      json(res, 200, { etcdserver: SERVER_VERSION, etcdcluster: CLUSTER_VERSION });
    } else if (path === '/health' || path === '/livez' || path === '/readyz') {
      void health(api).then(({ ok, reason }) => json(res, ok ? 200 : 503, { health: String(ok), reason }));
    } else if (path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(api.server.metrics.render());
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('404 page not found\n');
    }
  };
}

function json(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** Healthy when there is a leader and a linearizable read barrier completes (as etcd checks with a read). */
async function health(api: V3Api): Promise<{ ok: boolean; reason: string }> {
  if (api.server.status().leader === 0n) return { ok: false, reason: 'RAFT NO LEADER' };
  try {
    await Promise.race([
      api.server.readBarrier(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('timed out')), 1000).unref()),
    ]);
    return { ok: true, reason: '' };
  } catch (err) {
    return { ok: false, reason: `QGET ERROR: ${(err as Error).message}` };
  }
}
