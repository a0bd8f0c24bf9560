// Shared helpers of the pki tests: temporary PKI directories (removed when the test process ends, even on
// failure), loopback TLS servers that are always closed, and openssl.
import { mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, type Server as NetServer, type Socket, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Server, type TlsOptions, createServer } from 'node:tls';

import { reapDir } from '../support/reaper.js';

/** A fresh temporary directory (the PKI goes into `<dir>/pki`, which kvctl creates). */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kvctl-pki-test-'));
  reapDir(dir);
  return dir;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export type Listening = { readonly port: number; readonly endpoint: string; close(): Promise<void> };

function listen(server: Server | NetServer, host: string): Promise<Listening> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      const port = (server.address() as AddressInfo).port;
      resolve({
        port,
        endpoint: `${host}:${port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            // Connections a test left open must not keep the server alive.
            (server as { closeAllConnections?: () => void }).closeAllConnections?.();
          }),
      });
    });
  });
}

/**
 * A TLS server on loopback that answers any bytes with "ok" (so a client learns it was accepted). Connections are
 * destroyed on close.
 */
export async function tlsServer(opts: TlsOptions, host = '127.0.0.1'): Promise<Listening> {
  const sockets = new Set<Socket>();
  const server = createServer({ ALPNProtocols: ['h2'], ...opts }, (socket) => {
    socket.on('error', () => {});
    socket.on('data', () => socket.write('ok'));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('tlsClientError', () => {});
  const l = await listen(server, host);
  return {
    ...l,
    close: async () => {
      for (const s of sockets) s.destroy();
      await l.close();
    },
  };
}

/** A plain TCP server: `reply` is written to every connection as soon as it sends anything (undefined: silence). */
export async function tcpServer(reply: string | undefined, host = '127.0.0.1'): Promise<Listening> {
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    if (reply !== undefined) socket.once('data', () => socket.end(reply));
  });
  const l = await listen(server, host);
  return {
    ...l,
    close: async () => {
      for (const s of sockets) s.destroy();
      await l.close();
    },
  };
}
