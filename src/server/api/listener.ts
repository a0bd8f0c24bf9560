/**
 * Serves the client URLs: gRPC (HTTP/2) and etcd's HTTP endpoints (/health, /version, /metrics) on the
 * same port, as etcd does. Each accepted connection is sniffed: the HTTP/2 client preface goes to
 * grpc-js (through its connection injector, behind the `:authority` fix of authority.ts), anything else
 * to a plain HTTP/1 server.
 */
import { createServer as createHttpServer } from 'node:http';
import { type Server as NetServer, type Socket, createServer as createNetServer } from 'node:net';

import { Server as GrpcServer, ServerCredentials } from '@grpc/grpc-js';

import type { Logger } from '../../base/logger.js';
import type { V3Api } from '../kvserver/v3.js';
import { authorityFixedConnection } from './authority.js';
import { httpHandler } from './http.js';
import { registerServices } from './services.js';

/** etcd lets a gRPC message exceed --max-request-bytes by this much (headers, framing). */
const GRPC_OVERHEAD_BYTES = 512 * 1024;
const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export interface ClientListener {
  /** host:port actually bound, per URL (port 0 in a URL picks a free port). */
  readonly addresses: readonly string[];
  close(): Promise<void>;
}

export async function serveClients(
  api: V3Api,
  urls: readonly URL[],
  opts: { maxRequestBytes: number; logger: Logger },
): Promise<ClientListener> {
  const grpc = new GrpcServer({
    'grpc.max_receive_message_length': opts.maxRequestBytes + GRPC_OVERHEAD_BYTES,
    'grpc.max_send_message_length': 2 ** 31 - 1,
    'grpc.max_concurrent_streams': 2 ** 31 - 1,
  });
  registerServices(grpc, api, opts.logger);
  const injector = grpc.createConnectionInjector(ServerCredentials.createInsecure());
  const http = createHttpServer(httpHandler(api));

  const route = (socket: Socket) => {
    socket.once('data', (first: Buffer) => {
      socket.pause();
      socket.unshift(first);
      const n = Math.min(first.length, HTTP2_PREFACE.length);
      if (first.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n))) {
        // The HTTP/2 session reads through the filter (a JS stream), which resumes the socket when the
        // session starts reading; the unshifted bytes come first.
        injector.injectConnection(
          authorityFixedConnection(socket, (err) => opts.logger.warn(`closing client connection: ${err.message}`)),
        );
      } else {
        http.emit('connection', socket);
        socket.resume();
      }
    });
    socket.on('error', () => socket.destroy());
  };

  const servers: NetServer[] = [];
  const addresses: string[] = [];
  try {
    for (const url of urls) {
      const host = url.hostname === 'localhost' ? '127.0.0.1' : url.hostname.replace(/^\[|\]$/g, '');
      const server = createNetServer({ noDelay: true }, route);
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err: NodeJS.ErrnoException) =>
          reject(new Error(`listen ${url.href}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`)),
        );
        server.listen(Number(url.port), host, () => resolve());
      });
      servers.push(server);
      const addr = server.address();
      addresses.push(typeof addr === 'object' && addr !== null ? `${addr.address}:${addr.port}` : String(addr));
    }
  } catch (err) {
    for (const s of servers) s.close();
    throw err;
  }
  opts.logger.info(`serving client traffic (gRPC and HTTP) on ${addresses.join(', ')}`);

  return {
    addresses,
    async close() {
      for (const s of servers) s.close();
      injector.destroy();
      grpc.forceShutdown();
      http.closeAllConnections();
      http.close();
    },
  };
}
