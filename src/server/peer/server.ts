/**
 * The receiving side of the peer protocol: grpc-js serving the Peer service on the peer URLs, on our own
 * net.Servers (as api/listener.ts does for clients). Every call is admitted by its metadata first (cluster,
 * sender, receiver); a refused call is answered before any of its messages is read.
 */
import { mkdir, unlink } from 'node:fs/promises';
import { type Server as NetServer, type Socket, createServer as createNetServer } from 'node:net';

import {
  Server as GrpcServer,
  Metadata,
  type MethodDefinition,
  ServerCredentials,
  type ServerReadableStream,
  type StatusObject,
  type ServerUnaryCall,
  type ServiceDefinition,
  type sendUnaryData,
} from '@grpc/grpc-js';

/** What a refusal or failure answers (grpc-js takes a partial status). */
type Status = Pick<StatusObject, 'code' | 'details'>;

import type { Logger } from '../../base/logger.js';
import { decodeMessage } from '../raft/codec.js';
import { type Message, MessageType, fmtId } from '../raft/raftpb.js';
import { refusal } from './errors.js';
import { errorText } from './grpc-client.js';
import { SnapshotReceiveError, receiveSnapshotFile, removeStaleTempFiles } from './snapshot.js';
import { type PeerTls, peerTlsServer } from './tls.js';
import type { PeerHandler } from './types.js';
import {
  CALL_PATH,
  GrpcCode,
  HEADER_CLUSTER_ID,
  HEADER_FROM,
  HEADER_TO,
  RAFT_PATH,
  SNAPSHOT_PATH,
  decodeCallRequest,
  encodeCallResponse,
  forEachInRaftBatch,
  parseIdHeader,
} from './wire.js';

/** etcd's rafthttp refuses a raft message above 512 MB (messageDecoder's readBytesLimit); so do we, per gRPC message. */
const MAX_MESSAGE_BYTES = 512 * 1024 * 1024;
/** The server pings an idle client this often, and drops it when a ping stays unanswered this long. */
const SERVER_KEEPALIVE_MS = 10_000;
const SERVER_KEEPALIVE_TIMEOUT_MS = 5_000;
/** The same refusal (kind, sender, reason) is logged at most this often: refused peers retry every few seconds. */
const REFUSAL_LOG_INTERVAL_MS = 30_000;

const EMPTY = Buffer.alloc(0);
const passThrough = (b: Buffer): Buffer => b;

function method(path: string, requestStream: boolean): MethodDefinition<Buffer, Buffer> {
  return {
    path,
    requestStream,
    responseStream: false,
    requestSerialize: passThrough,
    requestDeserialize: passThrough,
    responseSerialize: passThrough,
    responseDeserialize: passThrough,
  };
}

/** The Peer service with messages passed as raw bytes: wire.ts encodes and decodes them. */
const peerService: ServiceDefinition = {
  Raft: method(RAFT_PATH, true),
  Snapshot: method(SNAPSHOT_PATH, true),
  Call: method(CALL_PATH, false),
};

type CallKind = 'raft' | 'snapshot' | 'call';

type Admission = { ok: true; from: bigint } | { ok: false; status: Status };

export interface PeerServerOptions {
  memberId: bigint;
  clusterId: bigint;
  receiveDir: string;
  handler: PeerHandler;
  logger: Logger;
  /** TLS for https:// listen URLs (see tls.ts). */
  tls?: PeerTls;
  /** A peer opened a Raft stream to us: it is up, so our stream to it need not wait out its backoff. */
  peerSeen?: (from: bigint) => void;
}

/** An accepted Raft stream, so that it can be ended when its sender is removed. */
interface IncomingStream {
  readonly from: bigint;
  end(status: Status): void;
}

export class PeerServer {
  private readonly incoming = new Set<IncomingStream>();
  /** Snapshot files being received: close() waits for their temporary files to be deleted. */
  private readonly receiving = new Set<Promise<unknown>>();
  private readonly refusalsLogged = new Map<string, number>();
  private closed = false;

  private readonly grpc: GrpcServer;
  private readonly injector: ReturnType<GrpcServer['createConnectionInjector']>;
  private readonly servers: NetServer[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly bound: string[] = [];

  private constructor(private readonly o: PeerServerOptions) {
    this.grpc = new GrpcServer({
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': -1,
      'grpc.max_concurrent_streams': 2 ** 31 - 1,
      'grpc.keepalive_time_ms': SERVER_KEEPALIVE_MS,
      'grpc.keepalive_timeout_ms': SERVER_KEEPALIVE_TIMEOUT_MS,
    });
    this.grpc.addService(peerService, {
      Raft: (call: ServerReadableStream<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => this.raft(call, cb),
      Snapshot: (call: ServerReadableStream<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => void this.snapshot(call, cb),
      Call: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => this.call(call, cb),
    });
    this.injector = this.grpc.createConnectionInjector(ServerCredentials.createInsecure());
  }

  /** Serving on every URL when resolved; `receiveDir` is created if missing, and cleared of our temporary files. */
  static async listen(urls: readonly URL[], o: PeerServerOptions): Promise<PeerServer> {
    await mkdir(o.receiveDir, { recursive: true });
    const stale = await removeStaleTempFiles(o.receiveDir);
    if (stale.length > 0) o.logger.warn(`removed ${stale.length} incomplete incoming snapshot file(s) from ${o.receiveDir}: ${stale.join(', ')}`);
    const ps = new PeerServer(o);
    try {
      for (const url of urls) await ps.bind(url);
    } catch (err) {
      await ps.close();
      throw err;
    }
    o.logger.info(`listening for peers on ${ps.addresses.join(', ')}`);
    return ps;
  }

  /** host:port actually bound, per URL (port 0 in a URL picks a free port). */
  get addresses(): readonly string[] {
    return this.bound;
  }

  private async bind(url: URL): Promise<void> {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`listen ${url.href}: URL scheme must be http or https`);
    const host = url.hostname === 'localhost' ? '127.0.0.1' : url.hostname.replace(/^\[|\]$/g, '');
    const accept = (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      socket.on('error', () => socket.destroy());
      this.injector.injectConnection(socket);
    };
    let server: NetServer;
    if (url.protocol === 'https:') {
      if (this.o.tls === undefined) {
        throw new Error(`listen ${url.href}: an https peer URL needs --peer-cert-file and --peer-key-file (or --peer-auto-tls)`);
      }
      // grpc-js serves plain HTTP/2 on the decrypted stream: the TLS socket is a net.Socket to it.
      server = peerTlsServer(this.o.tls, this.o.logger, accept);
      // Sockets still in their handshake are closed with the server too.
      server.on('connection', (raw: Socket) => {
        this.sockets.add(raw);
        raw.once('close', () => this.sockets.delete(raw));
      });
    } else {
      server = createNetServer({ noDelay: true }, accept);
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new Error(`listen ${url.href}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`)),
      );
      server.listen(Number(url.port), host, () => resolve());
    });
    this.servers.push(server);
    const addr = server.address();
    this.bound.push(typeof addr === 'object' && addr !== null ? `${addr.address}:${addr.port}` : String(addr));
  }

  /** Ends the Raft streams `from` has open to us, telling it it was removed (when the node says so). */
  endStreamsFrom(from: bigint): void {
    if (!this.o.handler.isRemoved(from)) return;
    for (const s of [...this.incoming]) {
      if (s.from === from) s.end({ code: GrpcCode.PERMISSION_DENIED, details: refusal.memberRemoved });
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const closing = this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    this.injector.destroy();
    this.grpc.forceShutdown();
    for (const s of this.sockets) s.destroy();
    await Promise.all(closing);
    await Promise.allSettled([...this.receiving]);
  }

  // ---- admission -------------------------------------------------------------------------------------------

  private admit(md: Metadata, kind: CallKind): Admission {
    const header = (k: string): string | undefined => {
      const v = md.get(k)[0];
      return typeof v === 'string' ? v : undefined;
    };
    const { memberId, clusterId, handler } = this.o;
    // Only a unary Call may come from a member that does not know its ids yet (one joining a cluster).
    const unknownAllowed = kind === 'call';
    const cid = parseIdHeader(header(HEADER_CLUSTER_ID));
    const from = parseIdHeader(header(HEADER_FROM));
    const to = parseIdHeader(header(HEADER_TO));
    const fromText = from === undefined ? String(header(HEADER_FROM)) : fmtId(from);

    if (cid === undefined || (cid !== clusterId && !(unknownAllowed && cid === 0n))) {
      this.logRefusal(
        kind,
        fromText,
        `request cluster ID mismatch: local member ${fmtId(memberId)} is in cluster ${fmtId(clusterId)}, ` +
          `remote peer ${fromText} sent cluster ID ${cid === undefined ? String(header(HEADER_CLUSTER_ID)) : fmtId(cid)}`,
      );
      return refuse(GrpcCode.FAILED_PRECONDITION, refusal.clusterIdMismatch);
    }
    if (from === undefined || (from === 0n && !unknownAllowed)) {
      this.logRefusal(kind, fromText, `refused ${kind} request with invalid sender id ${fromText}`);
      return refuse(GrpcCode.INVALID_ARGUMENT, refusal.invalidFrom);
    }
    if (from !== 0n && handler.isRemoved(from)) {
      this.logRefusal(kind, fromText, `rejected ${kind} request from remote peer ${fromText} because it was removed`);
      return refuse(GrpcCode.PERMISSION_DENIED, refusal.memberRemoved);
    }
    if (to === undefined || (to === 0n ? !unknownAllowed : to !== memberId)) {
      const toText = to === undefined ? String(header(HEADER_TO)) : fmtId(to);
      this.logRefusal(kind, fromText, `ignored ${kind} request from remote peer ${fromText} for member ${toText}: this is member ${fmtId(memberId)}`);
      return refuse(GrpcCode.FAILED_PRECONDITION, refusal.toMismatch);
    }
    return { ok: true, from };
  }

  private logRefusal(kind: CallKind, from: string, line: string): void {
    const key = `${kind} ${from} ${line}`;
    const now = Date.now();
    const last = this.refusalsLogged.get(key);
    if (last !== undefined && now - last < REFUSAL_LOG_INTERVAL_MS) return;
    if (this.refusalsLogged.size > 1000) this.refusalsLogged.clear();
    this.refusalsLogged.set(key, now);
    this.o.logger.warn(line);
  }

  // ---- Raft ------------------------------------------------------------------------------------------------

  private raft(call: ServerReadableStream<Buffer, Buffer>, cb: sendUnaryData<Buffer>): void {
    const a = this.admit(call.metadata, 'raft');
    if (!a.ok) {
      cb(a.status);
      return;
    }
    const from = a.from;
    // Headers now: the sender counts the stream as up from this moment.
    call.sendMetadata(new Metadata());
    this.o.peerSeen?.(from);
    let ended = false;
    const stream: IncomingStream = {
      from,
      end: (status) => {
        if (ended) return;
        ended = true;
        this.incoming.delete(stream);
        cb(status);
      },
    };
    this.incoming.add(stream);
    const forget = () => {
      ended = true;
      this.incoming.delete(stream);
    };
    call.on('data', (batch: Buffer) => {
      if (ended) return;
      try {
        forEachInRaftBatch(plain(batch), (bytes) => this.deliver(decodeMessage(bytes), from));
      } catch (err) {
        this.o.logger.warn(`failed to decode raft message from remote peer ${fmtId(from)}: ${errorText(err)}`);
        stream.end({ code: GrpcCode.INVALID_ARGUMENT, details: `failed to decode raft message (${errorText(err)})` });
      }
    });
    call.on('end', () => {
      if (ended) return;
      forget();
      cb(null, EMPTY);
    });
    call.on('cancelled', forget);
    call.on('error', forget);
    call.on('close', forget);
  }

  private deliver(m: Message, from: bigint): void {
    if (m.type === MessageType.MsgSnap) {
      // A MsgSnap without its file is useless to the node; the sender's transport never does this.
      this.o.logger.warn(`dropped MsgSnap from remote peer ${fmtId(from)} that came without its snapshot file`);
      return;
    }
    try {
      this.o.handler.process(m);
    } catch (err) {
      this.o.logger.error(`processing a raft message from remote peer ${fmtId(from)} threw: ${errorText(err)}`);
    }
  }

  // ---- Snapshot --------------------------------------------------------------------------------------------

  private async snapshot(call: ServerReadableStream<Buffer, Buffer>, cb: sendUnaryData<Buffer>): Promise<void> {
    const a = this.admit(call.metadata, 'snapshot');
    if (!a.ok) {
      cb(a.status);
      return;
    }
    const from = fmtId(a.from);
    call.sendMetadata(new Metadata());
    const { logger, handler, receiveDir } = this.o;
    const receiving = receiveSnapshotFile(call, receiveDir);
    this.receiving.add(receiving);
    let got;
    try {
      got = await receiving;
    } catch (err) {
      const code = err instanceof SnapshotReceiveError ? err.grpcCode : GrpcCode.INTERNAL;
      if (!this.closed) logger.warn(`failed to receive database snapshot from remote peer ${from}: ${errorText(err)}`);
      cb({ code, details: errorText(err) });
      return;
    } finally {
      this.receiving.delete(receiving);
    }
    const index = got.message.snapshot?.metadata.index ?? 0;
    logger.info(`received and saved database snapshot [index: ${index}, from: ${from}, size: ${got.size} bytes] at ${got.path}`);
    try {
      await handler.receiveSnapshot(got.message, got.path);
    } catch (err) {
      logger.warn(`failed to process snapshot [index: ${index}] from remote peer ${from}: ${errorText(err)}`);
      // The node did not take the file: it is ours to delete.
      await unlink(got.path).catch(() => {});
      cb({ code: GrpcCode.UNKNOWN, details: `failed to process raft message (${errorText(err)})` });
      return;
    }
    cb(null, EMPTY);
  }

  // ---- Call ------------------------------------------------------------------------------------------------

  private call(call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>): void {
    const a = this.admit(call.metadata, 'call');
    if (!a.ok) {
      cb(a.status);
      return;
    }
    let req;
    try {
      req = decodeCallRequest(plain(call.request));
    } catch (err) {
      cb({ code: GrpcCode.INVALID_ARGUMENT, details: `failed to decode call request (${errorText(err)})` });
      return;
    }
    let answer: Promise<Uint8Array>;
    try {
      answer = this.o.handler.call(req.method, req.payload, a.from);
    } catch (err) {
      answer = Promise.reject(err);
    }
    answer
      .then((payload) => encodeCallResponse(payload))
      .then(
        (encoded) => cb(null, encoded),
        (err: unknown) => cb({ code: GrpcCode.UNKNOWN, details: errorText(err) }),
      );
  }
}

/**
 * A plain Uint8Array view of a Buffer (no copy): decoded messages hold views into what arrived, and the
 * node should see the Uint8Arrays raft produces everywhere else, not Buffers.
 */
function plain(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function refuse(code: number, details: string): Admission {
  return { ok: false, status: { code, details } };
}
