/**
 * The raft message transport between cluster members: what the raft loop sends through (`send`,
 * `sendSnapshot`), what the node asks peers directly (`call`), and the server that receives all of it
 * from the other members (server.ts). One PeerLink per remote peer holds the outgoing side.
 *
 * Reports (DeliveryReports) are never made from inside a call to this class: they arrive from the event
 * loop later (a microtask at the earliest), so the raft loop is never re-entered while it is sending.
 */
import type { LookupFunction } from 'node:net';

import type { Logger } from '../../base/logger.js';
import { encodeMessage } from '../raft/codec.js';
import { type Message, MessageType, fmtId } from '../raft/raftpb.js';
import { PeerCallError, PeerUnreachableError } from './errors.js';
import { GrpcCall, type GrpcStatus, connectPeer, errorText, parsePeerUrl } from './grpc-client.js';
import {
  KEEPALIVE_INTERVAL_MS,
  KEEPALIVE_TIMEOUT_MS,
  type LinkContext,
  PeerLink,
  type PeerStats,
  isRemovedStatus,
} from './peer-link.js';
import { PeerServer } from './server.js';
import { SnapshotSendFailure, sendSnapshotStream } from './snapshot.js';
import type { PeerDial, PeerTls } from './tls.js';
import type { DeliveryReports, PeerHandler, SnapshotPayload } from './types.js';
import {
  CALL_PATH,
  GrpcCode,
  HEADER_CLUSTER_ID,
  HEADER_FROM,
  HEADER_TO,
  callRequestFrame,
  decodeCallResponse,
  formatIdHeader,
} from './wire.js';

export interface PeerTransportOptions {
  memberId: bigint;
  clusterId: bigint;
  /** http:// URLs; port 0 picks a free port; 'localhost' means 127.0.0.1. */
  listenUrls: readonly URL[];
  /** If set, every outgoing connection binds its source IP to it. */
  localAddress?: string;
  /** TLS settings for https:// peer URLs, listened on and dialled (see tls.ts). */
  tls?: PeerTls;
  /** How peer URLs' host names are resolved (`--dns-server`); the system's resolver when absent. */
  lookup?: LookupFunction;
  /** Incoming snapshot backend files are written here (created if missing). */
  receiveDir: string;
  handler: PeerHandler;
  reports: DeliveryReports;
  logger: Logger;
}

/** A snapshot being sent, so that removePeer and close can stop it. */
interface SnapshotSend {
  readonly to: bigint;
  readonly abort: AbortController;
  release(): void;
}

export class PeerTransport {
  private readonly links = new Map<bigint, PeerLink>();
  private readonly snapshots = new Set<SnapshotSend>();
  private readonly unreachablePending = new Set<bigint>();
  private unreachableScheduled = false;
  private removedReported = false;
  private closed = false;

  private constructor(
    private readonly o: PeerTransportOptions,
    private readonly server: PeerServer,
  ) {}

  /** Serving on every listen URL when resolved. */
  static async listen(opts: PeerTransportOptions): Promise<PeerTransport> {
    const self: { transport?: PeerTransport } = {};
    const server = await PeerServer.listen(opts.listenUrls, {
      memberId: opts.memberId,
      clusterId: opts.clusterId,
      receiveDir: opts.receiveDir,
      handler: opts.handler,
      logger: opts.logger,
      ...(opts.tls !== undefined ? { tls: opts.tls } : {}),
      // A restarted peer dials us first: dial it back now rather than after our backoff (up to 5 s),
      // during which it would hear nothing from us (a leader's heartbeats included).
      peerSeen: (from) => self.transport?.links.get(from)?.wake(),
    });
    self.transport = new PeerTransport(opts, server);
    return self.transport;
  }

  /** host:port actually bound, per listen URL. */
  get addresses(): readonly string[] {
    return this.server.addresses;
  }

  /** Adds a peer, or updates its URLs (reconnecting if they changed). The stream starts dialing at once. */
  setPeer(id: bigint, peerUrls: readonly string[]): void {
    if (this.closed || id === this.o.memberId) return;
    if (peerUrls.length === 0) throw new Error(`peer: remote peer ${fmtId(id)} has no peer URLs`);
    const link = this.links.get(id);
    if (link !== undefined) {
      link.update(peerUrls);
      return;
    }
    this.o.logger.info(`added remote peer ${fmtId(id)} (${peerUrls.join(',')})`);
    this.links.set(id, new PeerLink(this.linkContext(), id, peerUrls));
  }

  /** Forgets a peer: its stream and any snapshot to it stop; its own streams to us end if it was removed. */
  removePeer(id: bigint): void {
    const link = this.links.get(id);
    if (link === undefined) return;
    link.stop();
    this.links.delete(id);
    for (const s of this.snapshots) if (s.to === id) s.abort.abort();
    this.server.endStreamsFrom(id);
    this.o.logger.info(`removed remote peer ${fmtId(id)}`);
  }

  /**
   * Queues raft messages for their peers. Never blocks, never throws. A message to an unknown peer is
   * ignored (as etcd does); one to a peer whose stream is down, or whose queue is full, is dropped and
   * the peer reported unreachable. MsgSnap belongs to sendSnapshot: one given here fails as a snapshot.
   */
  send(msgs: readonly Message[]): void {
    if (this.closed) return;
    for (const m of msgs) {
      if (m.type === MessageType.MsgSnap) {
        this.o.logger.error(`peer: MsgSnap to ${fmtId(m.to)} given to send(), not sendSnapshot(); reported as a failed snapshot`);
        const to = m.to;
        queueMicrotask(() => this.report(() => this.o.reports.snapshotStatus(to, false)));
        continue;
      }
      const link = this.links.get(m.to);
      if (link === undefined) continue;
      if (!link.isActive) {
        link.dropWhileDown();
        this.noteUnreachable(m.to);
        continue;
      }
      let bytes: Uint8Array;
      try {
        bytes = encodeMessage(m);
      } catch (err) {
        this.o.logger.error(`peer: cannot encode a raft message to ${fmtId(m.to)}: ${errorText(err)}`);
        continue;
      }
      if (!link.enqueue(bytes)) this.noteUnreachable(m.to);
    }
    for (const link of this.links.values()) {
      link.flush();
      link.logDrops();
    }
  }

  /**
   * Streams a MsgSnap and its backend file to `m.to` on a connection of its own. Reports
   * snapshotStatus(m.to, true) once the peer's node has taken the file; on any failure unreachable(m.to)
   * and then snapshotStatus(m.to, false) (as etcd's snapshotSender); nothing after close.
   * `payload.release()` is called exactly once, when done either way.
   */
  sendSnapshot(m: Message, payload: SnapshotPayload): void {
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      try {
        payload.release();
      } catch (err) {
        this.o.logger.error(`peer: releasing snapshot payload ${payload.path} threw: ${errorText(err)}`);
      }
    };
    const to = m.to;
    const fail = (why: string) => {
      this.o.logger.warn(`failed to send database snapshot to remote peer ${fmtId(to)}: ${why}`);
      release();
      queueMicrotask(() => this.report(() => this.o.reports.snapshotStatus(to, false)));
    };
    if (this.closed) {
      release();
      return;
    }
    const link = this.links.get(to);
    if (link === undefined) return fail('unknown remote peer');
    let message: Uint8Array;
    try {
      message = encodeMessage(m);
    } catch (err) {
      return fail(errorText(err));
    }
    const op: SnapshotSend = { to, abort: new AbortController(), release };
    this.snapshots.add(op);
    const index = m.snapshot?.metadata.index ?? 0;
    this.o.logger.info(`sending database snapshot [index: ${index}, size: ${payload.size} bytes] to remote peer ${fmtId(to)} (${link.url})`);
    const started = Date.now();
    sendSnapshotStream({
      url: link.url,
      dial: this.dial(),
      metadata: this.metadata(to),
      message,
      payload,
      signal: op.abort.signal,
      keepaliveIntervalMs: KEEPALIVE_INTERVAL_MS,
      keepaliveTimeoutMs: KEEPALIVE_TIMEOUT_MS,
    }).then(
      () => {
        this.snapshots.delete(op);
        release();
        this.o.logger.info(`sent database snapshot [index: ${index}] to remote peer ${fmtId(to)} in ${Date.now() - started} ms`);
        this.report(() => this.o.reports.snapshotStatus(to, true));
      },
      (err: unknown) => {
        this.snapshots.delete(op);
        if (err instanceof SnapshotSendFailure && err.status !== undefined) this.noteStatus(to, err.status);
        if (this.closed) {
          release();
          return;
        }
        // etcd reports the peer unreachable too, so that raft probes before it retries.
        this.noteUnreachable(to);
        fail(errorText(err));
      },
    );
  }

  /** Date.now() when the stream to `id` was accepted; undefined while it is down (or `id` is unknown). */
  activeSince(id: bigint): number | undefined {
    return this.links.get(id)?.activeSince;
  }

  /** Counters of the link to `id` (messages and batches sent, drops); undefined for an unknown peer. */
  stats(id: bigint): Readonly<PeerStats> | undefined {
    const s = this.links.get(id)?.stats;
    return s === undefined ? undefined : { ...s };
  }

  /**
   * A unary call to peer `to`'s handler.call. Resolves with its answer; rejects with PeerCallError (the
   * peer's error message, exactly) or PeerUnreachableError (no answer within `timeoutMs`).
   */
  async call(to: bigint, method: string, payload: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.closed) throw new PeerUnreachableError('peer: transport closed');
    const link = this.links.get(to);
    if (link === undefined) throw new PeerUnreachableError(`peer: unknown remote peer ${fmtId(to)}`);
    const status = await unary(link.callSession(), this.metadata(to), method, payload, timeoutMs);
    this.noteStatus(to, status);
    return unaryResult(status, `remote peer ${fmtId(to)} (${link.url})`);
  }

  /** Stops listening, streaming and retrying; snapshots in flight are stopped and their payloads released. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const link of this.links.values()) link.stop();
    this.links.clear();
    for (const s of this.snapshots) {
      s.abort.abort();
      s.release();
    }
    this.snapshots.clear();
    await this.server.close();
  }

  private dial(): PeerDial {
    return { localAddress: this.o.localAddress, tls: this.o.tls, lookup: this.o.lookup };
  }

  private linkContext(): LinkContext {
    return {
      memberId: this.o.memberId,
      clusterId: this.o.clusterId,
      dial: this.dial(),
      logger: this.o.logger,
      unreachable: (id: bigint) => this.noteUnreachable(id),
      removed: (by: bigint) => this.noteRemoved(by),
      connectionLost: (id: bigint) => this.report(() => this.o.reports.connectionLost(id)),
    };
  }

  private metadata(to: bigint): Record<string, string> {
    return {
      [HEADER_CLUSTER_ID]: formatIdHeader(this.o.clusterId),
      [HEADER_FROM]: formatIdHeader(this.o.memberId),
      [HEADER_TO]: formatIdHeader(to),
    };
  }

  /** Collects unreachable peers and reports each once, after the current call stack. */
  private noteUnreachable(id: bigint): void {
    this.unreachablePending.add(id);
    if (this.unreachableScheduled) return;
    this.unreachableScheduled = true;
    queueMicrotask(() => {
      this.unreachableScheduled = false;
      const ids = [...this.unreachablePending];
      this.unreachablePending.clear();
      for (const id of ids) this.report(() => this.o.reports.unreachable(id));
    });
  }

  private noteStatus(from: bigint, status: GrpcStatus): void {
    if (isRemovedStatus(status)) this.noteRemoved(from);
  }

  /** A peer said we were removed: tell the node once (it stops), and say so in the log. */
  private noteRemoved(by: bigint): void {
    if (this.removedReported || this.closed) return;
    this.removedReported = true;
    this.o.logger.error(`remote peer ${fmtId(by)} says: the member has been permanently removed from the cluster`);
    queueMicrotask(() => this.report(() => this.o.reports.removedFromCluster(by)));
  }

  private report(fn: () => void): void {
    if (this.closed) return;
    try {
      fn();
    } catch (err) {
      this.o.logger.error(`peer: a delivery report threw: ${errorText(err)}`);
    }
  }
}

/**
 * A unary call to a peer URL before the caller knows ids (a member joining with
 * --initial-cluster-state existing asks the others for the member list): clusterId/memberId 0 mean
 * unknown. Rejects like PeerTransport.call.
 */
export async function callPeerUrl(
  url: string,
  method: string,
  payload: Uint8Array,
  opts: { clusterId: bigint; memberId: bigint; dial?: PeerDial; timeoutMs: number },
): Promise<Uint8Array> {
  const session = connectPeer(parsePeerUrl(url), opts.dial ?? {});
  try {
    const metadata = {
      [HEADER_CLUSTER_ID]: formatIdHeader(opts.clusterId),
      [HEADER_FROM]: formatIdHeader(opts.memberId),
      [HEADER_TO]: formatIdHeader(0n),
    };
    return unaryResult(await unary(session, metadata, method, payload, opts.timeoutMs), url);
  } finally {
    session.destroy();
  }
}

async function unary(
  session: ReturnType<typeof connectPeer>,
  metadata: Readonly<Record<string, string>>,
  method: string,
  payload: Uint8Array,
  timeoutMs: number,
): Promise<GrpcStatus & { response?: Buffer }> {
  const call = new GrpcCall(session, CALL_PATH, metadata, { timeoutMs });
  call.write(callRequestFrame(method, payload), () => {});
  call.end();
  const status = await call.done;
  return { ...status, response: call.messages[0] };
}

function unaryResult(status: GrpcStatus & { response?: Buffer }, target: string): Uint8Array {
  if (status.code === GrpcCode.OK && status.fromPeer) {
    if (status.response === undefined) throw new PeerUnreachableError(`peer: ${target} answered without a response message`);
    return decodeCallResponse(status.response);
  }
  if (status.fromPeer) throw new PeerCallError(status.message, status.code);
  throw new PeerUnreachableError(`peer: cannot reach ${target}: ${status.message}`);
}
