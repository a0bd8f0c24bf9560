/**
 * Serves the client URLs: gRPC (HTTP/2) and etcd's HTTP endpoints (/health, /version, /metrics) on the
 * same port, as etcd does. Each accepted connection is sniffed: the HTTP/2 client preface goes to
 * grpc-js (through its connection injector, behind the `:authority` fix of authority.ts), anything else
 * to a plain HTTP/1 server.
 *
 * https URLs put TLS under exactly that routing (see tls.ts for the files):
 * - ALPN: a client that offers http/1.1 gets it, one that offers only h2 (every gRPC client: grpc-go,
 *   grpc-js, grpc-java) gets h2. grpc-js answers only gRPC, so a curl that offers both must speak
 *   HTTP/1.1 to reach /health; Go's server, which etcd uses, serves both on one HTTP/2 connection.
 * - Client certificates (--trusted-ca-file or --client-cert-auth): Node completes the TLS handshake and
 *   only then checks the certificate; this listener refuses an unverified connection before reading a
 *   byte from it and logs why, as etcd logs `rejected connection from ...`. (Node's own
 *   rejectUnauthorized would close it the same way, but without telling the log who or why.)
 * - With --client-cert-auth, the CN of each verified connection is kept for the connection object this
 *   listener hands to grpc-js, and an interceptor binds it to each call on that connection
 *   (auth-context.ts; `injectedConnectionOf` says how a call leads back to its connection).
 */
import { createServer as createHttpServer } from 'node:http';
import { type Server as NetServer, type Socket, createServer as createNetServer } from 'node:net';
import { type DetailedPeerCertificate, type PeerCertificate, type TLSSocket, type Server as TlsServer, createServer as createTlsServer } from 'node:tls';

import {
  Server as GrpcServer,
  ServerCredentials,
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
} from '@grpc/grpc-js';

import type { Logger } from '../../base/logger.js';
import { goTlsError } from '../../base/tls-errors.js';
import type { V3Api } from '../kvserver/v3.js';
import { bindCertificateUser } from './auth-context.js';
import { authorityFixedConnection } from './authority.js';
import { httpHandler } from './http.js';
import { registerServices } from './services.js';
import type { ServerTlsFiles } from './tls.js';

/** etcd lets a gRPC message exceed --max-request-bytes by this much (headers, framing). */
const GRPC_OVERHEAD_BYTES = 512 * 1024;
const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export interface ClientListener {
  /** host:port actually bound, per URL (port 0 in a URL picks a free port). */
  readonly addresses: readonly string[];
  close(): Promise<void>;
}

export interface ClientListenerOptions {
  maxRequestBytes: number;
  logger: Logger;
  /** The TLS material of https URLs; required when one of the URLs is https. */
  tls?: ServerTlsFiles | undefined;
}

/**
 * The connection object a call arrived on, as this listener injected it into grpc-js, or undefined.
 * grpc-js serves injected connections as plaintext HTTP/2 (TLS is below, in our socket), so neither its
 * getAuthContext() nor its getConnectionInfo() can see the certificate or even the addresses (Node's
 * HTTP/2 session wraps a JS stream in a socket of its own that has none). What does lead back is the
 * chain call -> HTTP/2 stream -> session -> session.socket (Node's documented proxy) -> the wrapped
 * stream, which is ours. The first link is grpc-js's private field of the call that interceptors
 * receive, and the last is Node's wrapper keeping the stream it wraps as `stream`: if either ever
 * changes, this returns undefined and requests are made as nobody, which auth refuses; it never finds
 * a wrong connection (the lookup is by object identity). The e2e test (node-tls) checks the chain.
 */
function injectedConnectionOf(call: ServerInterceptingCallInterface): object | undefined {
  const stream = (call as unknown as { stream?: { session?: { socket?: unknown } } }).stream;
  const socket = stream?.session?.socket;
  if (typeof socket !== 'object' || socket === null) return undefined;
  const wrapped = (socket as { stream?: unknown }).stream;
  return typeof wrapped === 'object' && wrapped !== null ? wrapped : socket;
}

/** The subject CN of a certificate as Go reads it (the last CN attribute wins), or undefined. */
function commonNameOf(cert: PeerCertificate): string | undefined {
  const cn = (cert.subject as Record<string, string | string[] | undefined> | undefined)?.CN;
  return Array.isArray(cn) ? cn[cn.length - 1] : cn;
}

/** The serial numbers of a peer's certificate chain (Node links each certificate to its issuer). */
function chainSerials(leaf: DetailedPeerCertificate): string[] {
  const serials: string[] = [];
  const seen = new Set<DetailedPeerCertificate>();
  for (let c: DetailedPeerCertificate | undefined = leaf; c !== undefined && c.serialNumber !== undefined && !seen.has(c); c = c.issuerCertificate) {
    seen.add(c);
    serials.push(c.serialNumber);
  }
  return serials;
}

/** Go's words for a failed client-certificate check, from Node's verify code (the `rejected connection` log line). */
function clientCertFailure(code: string | undefined, hasCert: boolean): string {
  if (!hasCert) return "tls: client didn't provide a certificate";
  return `tls: failed to verify client certificate: ${goTlsError(code ?? '') ?? code ?? 'unknown error'}`;
}

/**
 * The protocol for a TLS client's ALPN offer (see the module comment): HTTP/1.1 when offered, else h2.
 * Undefined (no protocol agreed) refuses the handshake, as Go does for an offer it cannot serve.
 */
function chooseProtocol({ protocols }: { protocols: string[] }): string | undefined {
  if (protocols.includes('http/1.1')) return 'http/1.1';
  if (protocols.includes('h2')) return 'h2';
  return undefined;
}

export async function serveClients(api: V3Api, urls: readonly URL[], opts: ClientListenerOptions): Promise<ClientListener> {
  const { logger } = opts;
  const tlsFiles = opts.tls;
  /** CN of each verified TLS connection, by the socket, and by the connection object handed to grpc-js. */
  const certificateUsers = new WeakMap<object, string>();
  const interceptors: ServerInterceptor[] = [];
  if (tlsFiles?.clientCertAuth) {
    // Interceptors get the call object that leads back to its connection (injectedConnectionOf), and
    // pass on the Metadata object that the handler then reads as call.metadata.
    interceptors.push(
      (_method, call) =>
        new ServerInterceptingCall(call, {
          start: (next) =>
            next({
              onReceiveMetadata: (metadata, nextMetadata) => {
                const connection = injectedConnectionOf(call);
                const user = connection !== undefined ? certificateUsers.get(connection) : undefined;
                if (user !== undefined) bindCertificateUser(metadata, user);
                nextMetadata(metadata);
              },
            }),
        }),
    );
  }
  const grpc = new GrpcServer({
    'grpc.max_receive_message_length': opts.maxRequestBytes + GRPC_OVERHEAD_BYTES,
    'grpc.max_send_message_length': 2 ** 31 - 1,
    'grpc.max_concurrent_streams': 2 ** 31 - 1,
    interceptors,
  });
  registerServices(grpc, api, logger);
  const injector = grpc.createConnectionInjector(ServerCredentials.createInsecure());
  const http = createHttpServer(httpHandler(api, logger));

  const route = (socket: Socket) => {
    socket.once('data', (first: Buffer) => {
      socket.pause();
      socket.unshift(first);
      const n = Math.min(first.length, HTTP2_PREFACE.length);
      if (first.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n))) {
        // The HTTP/2 session reads through the filter (a JS stream), which resumes the socket when the
        // session starts reading; the unshifted bytes come first.
        const connection = authorityFixedConnection(socket, (err) => logger.warn(`closing client connection: ${err.message}`));
        const user = certificateUsers.get(socket);
        if (user !== undefined) certificateUsers.set(connection, user);
        injector.injectConnection(connection);
      } else {
        http.emit('connection', socket);
        socket.resume();
      }
    });
    socket.on('error', () => socket.destroy());
  };

  /** etcd's log line for a refused TLS client. */
  const logRejected = (socket: TLSSocket, why: string) =>
    logger.warn(`rejected connection from "${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}" (error "${why}", ServerName "${socket.servername || ''}")`);

  const onSecureConnection = (socket: TLSSocket) => {
    if (tlsFiles?.requireClientCert && !socket.authorized) {
      const cert = socket.getPeerCertificate();
      // Node types authorizationError as an Error; on a server socket it is the verify code (a string).
      const code = (socket.authorizationError as unknown as string | null) ?? undefined;
      logRejected(socket, clientCertFailure(code, cert !== null && Object.keys(cert).length > 0));
      socket.destroy();
      return;
    }
    if (tlsFiles?.requireClientCert) {
      const revoked = tlsFiles.revocation(chainSerials(socket.getPeerCertificate(true)));
      if (revoked !== undefined) {
        logRejected(socket, revoked);
        socket.destroy();
        return;
      }
    }
    if (tlsFiles?.clientCertAuth) {
      const user = commonNameOf(socket.getPeerCertificate());
      if (user !== undefined) certificateUsers.set(socket, user);
    }
    route(socket);
  };

  /** The generation of the TLS files each https server uses (they are re-read when they change). */
  let tlsGeneration = 0;
  const makeTlsServer = (files: ServerTlsFiles): TlsServer => {
    const server = createTlsServer(
      {
        ...files.current(),
        noDelay: true,
        ALPNCallback: chooseProtocol,
        requestCert: files.requireClientCert,
        // Checked in onSecureConnection, which logs the refusal (see the module comment).
        rejectUnauthorized: false,
      },
      onSecureConnection,
    );
    let applied = tlsGeneration;
    // Before the TLS socket of a new connection is made (tls.Server's own 'connection' listener): a
    // renewed certificate on disk is used from this connection on.
    server.prependListener('connection', () => {
      if (files.refresh((err) => logger.warn(`client TLS files changed but cannot be used, keeping the previous ones: ${err.message}`))) {
        tlsGeneration += 1;
        logger.info('client TLS files changed on disk: new connections use them');
      }
      if (applied !== tlsGeneration) {
        server.setSecureContext({ ...files.current() });
        applied = tlsGeneration;
      }
    });
    server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
      // A client that left during the handshake (ECONNRESET) is no news; a protocol problem is.
      if (err.code === 'ECONNRESET') return;
      const why = /peer did not return a certificate/.test(err.message)
        ? "tls: client didn't provide a certificate"
        : (goTlsError(err.message) ?? err.message.trim());
      logRejected(socket, why);
    });
    return server;
  };

  const servers: NetServer[] = [];
  const addresses: string[] = [];
  try {
    for (const url of urls) {
      const host = url.hostname === 'localhost' ? '127.0.0.1' : url.hostname.replace(/^\[|\]$/g, '');
      let server: NetServer;
      if (url.protocol === 'https:') {
        if (tlsFiles === undefined) throw new Error(`listen ${url.href}: an https client URL needs --cert-file and --key-file`);
        server = makeTlsServer(tlsFiles);
      } else {
        server = createNetServer({ noDelay: true }, route);
      }
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
  const schemes = urls.map((u) => (u.protocol === 'https:' ? 'https' : 'http'));
  logger.info(`serving client traffic (gRPC and HTTP) on ${addresses.map((a, i) => `${schemes[i]}://${a}`).join(', ')}`);

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
