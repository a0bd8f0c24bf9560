/**
 * A small gRPC client over node:http2, just what the peer protocol needs: one call per HTTP/2 stream,
 * length-prefixed messages out, status from the trailers.
 *
 * Why not grpc-js's client: every outgoing connection must be able to bind its source address
 * (--listen-peer-urls' host, or the test suite's per-member loopback address, which the fault-injecting
 * proxy uses to tell members apart), and grpc-js cannot. Here each session dials its own socket with
 * `net.connect({ localAddress })`.
 */
import * as http2 from 'node:http2';
import * as net from 'node:net';

import { PeerUnreachableError } from './errors.js';
import { type PeerDial, dialPeerTls } from './tls.js';
import { FrameDecoder, GrpcCode } from './wire.js';

export interface PeerEndpoint {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** host:port as written in the URL (the :authority header). */
  readonly authority: string;
  /** The host as written (a name or an IP): what the server's certificate is checked against. */
  readonly hostname: string;
  /** https:// (TLS) */
  readonly secure: boolean;
}

/** An http:// or https:// peer URL; 'localhost' dials 127.0.0.1 (the tests and --listen-peer-urls mean IPv4). */
export function parsePeerUrl(url: string): PeerEndpoint {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new PeerUnreachableError(`peer: invalid peer URL ${JSON.stringify(url)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new PeerUnreachableError(`peer: ${url}: URL scheme must be http or https`);
  }
  const secure = u.protocol === 'https:';
  const hostname = u.hostname.replace(/^\[|\]$/g, '');
  const host = hostname === 'localhost' ? '127.0.0.1' : hostname;
  return { url, host, port: u.port === '' ? (secure ? 443 : 80) : Number(u.port), authority: u.host, hostname, secure };
}

/** A client session on its own socket, bound to `dial.localAddress` when given; TLS for https:// (see tls.ts). */
export function connectPeer(ep: PeerEndpoint, dial: PeerDial): http2.ClientHttp2Session {
  if (ep.secure && dial.tls === undefined) {
    throw new PeerUnreachableError(`peer: ${ep.url}: an https peer URL needs --peer-cert-file and --peer-key-file (or --peer-auto-tls)`);
  }
  const localAddress = dial.localAddress;
  let settled = false;
  const session: http2.ClientHttp2Session = http2.connect(`${ep.secure ? 'https' : 'http'}://${ep.authority}`, {
    createConnection: () => {
      if (!ep.secure) {
        return net.connect({ host: ep.host, port: ep.port, localAddress, noDelay: true, ...(dial.lookup !== undefined ? { lookup: dial.lookup } : {}) });
      }
      const socket = dialPeerTls(ep.host, ep.port, ep.hostname, dial);
      // Registered before HTTP/2's own listeners, so that the calls it then ends can say why.
      socket.once('close', () => {
        // The peer closed right after the handshake without a word of HTTP/2: how a listener that demands
        // client certificates refuses one (TLS 1.3 finishes the client's handshake before the check).
        if (!settled && !sessionProblems.has(session)) {
          sessionProblems.set(session, "the peer closed the TLS connection before HTTP/2 started: it probably refused this member's certificate (see its log)");
        }
      });
      return socket;
    },
    settings: { enablePush: false },
    // What we buffer is bounded by our own queues; node's session accounting would only refuse streams
    // under load (grpc-js turns it off on its servers for the same reason).
    maxSessionMemory: Number.MAX_SAFE_INTEGER,
  });
  // Failures reach the calls on the session as stream errors; an unhandled 'error' would kill the process.
  // What went wrong with the connection itself is kept for the calls' status (a stream only says CANCEL).
  session.on('error', (err) => {
    if (!sessionProblems.has(session)) sessionProblems.set(session, errorText(err));
  });
  session.once('remoteSettings', () => (settled = true));
  return session;
}

/** The first connection-level failure of a session made by connectPeer. */
const sessionProblems = new WeakMap<http2.ClientHttp2Session, string>();

/**
 * Destroys `session` when it does not connect within `timeoutMs`, or when a ping stays unanswered that
 * long: a peer behind a partition (or a proxy that stopped forwarding) is then noticed in seconds, not
 * after minutes of TCP retransmissions. etcd gets the same from 5 s read timeouts and link heartbeats.
 */
export function keepAlive(session: http2.ClientHttp2Session, intervalMs: number, timeoutMs: number): void {
  const started = Date.now();
  let pingSentAt: number | undefined;
  const timer = setInterval(() => {
    if (session.destroyed) {
      clearInterval(timer);
      return;
    }
    const now = Date.now();
    if (session.connecting) {
      if (now - started > timeoutMs) session.destroy(new Error(`connect timed out after ${timeoutMs} ms`));
      return;
    }
    if (pingSentAt !== undefined) {
      if (now - pingSentAt > timeoutMs) session.destroy(new Error(`no answer to a keepalive ping for ${timeoutMs} ms`));
      return;
    }
    try {
      if (session.ping(() => (pingSentAt = undefined))) pingSentAt = now;
    } catch {
      // The session is closing; its streams report why.
    }
  }, intervalMs);
  timer.unref();
  session.once('close', () => clearInterval(timer));
}

export interface GrpcStatus {
  readonly code: number;
  readonly message: string;
  /** True when the peer sent this status; false when it describes a local or transport failure. */
  readonly fromPeer: boolean;
}

export interface GrpcCallOptions {
  /** Cancels the call (status DEADLINE_EXCEEDED, not from the peer) when it has not ended by then. */
  timeoutMs?: number;
  /** Called once when the peer answers with response headers, i.e. accepted the call. */
  onAccepted?: () => void;
  /** Largest response message accepted. */
  maxResponseBytes?: number;
}

/** One gRPC call on an HTTP/2 stream. `done` never rejects: every ending is a status. */
export class GrpcCall {
  readonly done: Promise<GrpcStatus>;
  /** Response messages received, in order (without the frame prefix). */
  readonly messages: Buffer[] = [];
  private readonly stream: http2.ClientHttp2Stream | undefined;
  private status: GrpcStatus | undefined;
  private transportError: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ended = false;

  constructor(session: http2.ClientHttp2Session, path: string, metadata: Readonly<Record<string, string>>, opts: GrpcCallOptions = {}) {
    let resolve!: (s: GrpcStatus) => void;
    this.done = new Promise((r) => (resolve = r));
    const finish = () => {
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.ended = true;
      resolve(
        this.status ?? {
          code: GrpcCode.UNAVAILABLE,
          message: this.transportError ?? sessionProblems.get(session) ?? `stream closed without a status (HTTP/2 code ${this.stream?.rstCode ?? 0})`,
          fromPeer: false,
        },
      );
    };

    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(
        { ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...metadata },
        { endStream: false },
      );
    } catch (err) {
      this.stream = undefined;
      this.transportError = errorText(err);
      finish();
      return;
    }
    this.stream = stream;
    const decoder = new FrameDecoder(opts.maxResponseBytes ?? 64 * 1024 * 1024);

    stream.on('response', (headers) => {
      if (headers['grpc-status'] !== undefined) {
        this.setStatus(headers); // trailers-only: refused or failed at once
        this.closeAfterStatus();
        return;
      }
      const httpStatus = headers[':status'];
      if (httpStatus !== 200) {
        this.setLocal(GrpcCode.UNKNOWN, `unexpected HTTP status ${String(httpStatus)} from peer`);
        stream.close(http2.constants.NGHTTP2_CANCEL);
        return;
      }
      opts.onAccepted?.();
    });
    stream.on('data', (chunk: Buffer) => {
      try {
        for (const m of decoder.push(chunk)) this.messages.push(m);
      } catch (err) {
        this.setLocal(GrpcCode.INTERNAL, errorText(err));
        stream.close(http2.constants.NGHTTP2_CANCEL);
      }
    });
    stream.on('trailers', (trailers) => {
      this.setStatus(trailers);
      this.closeAfterStatus();
    });
    stream.on('error', (err) => {
      this.transportError ??= errorText(err);
    });
    stream.on('close', finish);

    if (opts.timeoutMs !== undefined) {
      this.timer = setTimeout(() => this.cancel(GrpcCode.DEADLINE_EXCEEDED, `deadline exceeded after ${opts.timeoutMs} ms`), opts.timeoutMs);
      this.timer.unref();
    }
  }

  /** True once the call has ended (with any status). */
  get finished(): boolean {
    return this.ended;
  }

  /** Writes one framed message; `cb` runs once HTTP/2 took it (flow control applies), with an error if the call died. */
  write(frame: Buffer, cb: (err?: Error | null) => void): void {
    if (this.stream === undefined || this.ended) {
      process.nextTick(cb, new Error('call already ended'));
      return;
    }
    this.stream.write(frame, cb);
  }

  /** Half-closes: no more messages from us. */
  end(): void {
    if (this.stream !== undefined && !this.ended) this.stream.end();
  }

  /** Ends the call from our side with a local status (RST_STREAM CANCEL to the peer). */
  cancel(code: number, message: string): void {
    if (this.ended || this.stream === undefined) return;
    this.setLocal(code, message);
    this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  /**
   * The peer has said its last word. Our half may still be open (a stream we were writing to): close it,
   * so that 'close' fires and the call ends now rather than when we would next write.
   */
  private closeAfterStatus(): void {
    const stream = this.stream;
    if (stream === undefined || stream.closed) return;
    const close = () => {
      if (!stream.closed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
    };
    // Only once every response message has been read out ('trailers' can come before the last 'data').
    if (stream.readableEnded) close();
    else stream.once('end', close);
  }

  private setLocal(code: number, message: string): void {
    this.status ??= { code, message, fromPeer: false };
  }

  private setStatus(h: http2.IncomingHttpHeaders): void {
    if (this.status !== undefined) return;
    const code = Number(h['grpc-status']);
    const raw = h['grpc-message'];
    let message = typeof raw === 'string' ? raw : '';
    try {
      message = decodeURIComponent(message); // gRPC percent-encodes the status message
    } catch {
      // Not percent-encoded after all: keep it as sent.
    }
    this.status = { code: Number.isInteger(code) ? code : GrpcCode.UNKNOWN, message, fromPeer: true };
  }
}

/** Writes a frame, resolving once HTTP/2 took it. */
export function writeFrame(call: GrpcCall, frame: Buffer): Promise<void> {
  return new Promise((resolve, reject) => call.write(frame, (err) => (err ? reject(err) : resolve())));
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
