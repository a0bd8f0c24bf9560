/**
 * Everything this member sends to one remote peer: the long-lived Raft stream with its bounded queue,
 * reconnection with backoff, and the HTTP/2 session that unary calls share with the stream.
 *
 * The stream's life: connect -> accepted (the peer answered with headers: "active") -> lost -> backoff ->
 * connect ... While the stream is not active, messages are dropped and the node is told the peer is
 * unreachable (etcd would fall back to its pipeline; raft retransmits either way). While it is active, at
 * most one write is in flight; what arrives meanwhile waits in the queue and leaves as one batch.
 */
import type { ClientHttp2Session } from 'node:http2';

import type { Logger } from '../../base/logger.js';
import { fmtId } from '../raft/raftpb.js';
import { GrpcCall, type GrpcStatus, connectPeer, keepAlive, parsePeerUrl } from './grpc-client.js';
import { MessageQueue } from './message-queue.js';
import type { PeerDial } from './tls.js';
import { refusal } from './errors.js';
import { GrpcCode, HEADER_CLUSTER_ID, HEADER_FROM, HEADER_TO, RAFT_PATH, formatIdHeader } from './wire.js';

/** etcd's streamBufSize: messages waiting for one peer's stream. */
export const QUEUE_CAPACITY = 4096;
/** Bytes waiting for one peer's stream (MsgApp can carry up to raft's MaxSizePerMsg each). */
export const QUEUE_MAX_BYTES = 64 * 1024 * 1024;
/** Payload bytes per RaftBatch; a larger single message goes alone. */
export const BATCH_MAX_BYTES = 1024 * 1024;
export const BACKOFF_MIN_MS = 100;
export const BACKOFF_MAX_MS = 5000;
/** etcd sends a link heartbeat every ConnReadTimeout/3 and gives up after ConnReadTimeout (5 s). */
export const KEEPALIVE_INTERVAL_MS = 1000;
export const KEEPALIVE_TIMEOUT_MS = 5000;

/** What a link needs from its transport. */
export interface LinkContext {
  readonly memberId: bigint;
  readonly clusterId: bigint;
  /** How connections to peers are made (source address, TLS). */
  readonly dial: PeerDial;
  readonly logger: Logger;
  /** Messages to the peer were dropped (queue full, or the stream went down with messages queued). */
  unreachable(id: bigint): void;
  /** The peer refused us as a removed member. */
  removed(by: bigint): void;
  /** A stream that the peer had accepted broke (see DeliveryReports.connectionLost). */
  connectionLost(id: bigint): void;
}

/** Counters of one link, for metrics and tests. */
export interface PeerStats {
  /** Raft messages handed to the stream. */
  sentMessages: number;
  /** RaftBatch writes (one gRPC message each). */
  sentBatches: number;
  /** Framed bytes handed to the stream. */
  sentBytes: number;
  /** Raft messages dropped: stream down, queue full, or queued when the stream was lost. */
  droppedMessages: number;
}

/** True for the status a peer answers a removed member with. */
export function isRemovedStatus(s: GrpcStatus): boolean {
  return s.fromPeer && s.code === GrpcCode.PERMISSION_DENIED && s.message === refusal.memberRemoved;
}

export class PeerLink {
  private urls: readonly string[];
  private urlIndex = 0;
  private session: ClientHttp2Session | undefined;
  /** Sessions closed gracefully while calls may still run on them; stop() destroys them. */
  private readonly draining = new Set<ClientHttp2Session>();
  private stream: GrpcCall | undefined;
  private accepted = false;
  private since: number | undefined;
  private writing = false;
  private readonly queue = new MessageQueue(QUEUE_CAPACITY, QUEUE_MAX_BYTES);
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** The last failure logged while not connected, so that a retry failing the same way stays quiet. */
  private lastProblem: string | undefined;
  private droppedSinceLog = 0;
  private lastDropLog = 0;
  readonly stats: PeerStats = { sentMessages: 0, sentBatches: 0, sentBytes: 0, droppedMessages: 0 };

  constructor(
    private readonly ctx: LinkContext,
    readonly id: bigint,
    urls: readonly string[],
  ) {
    this.urls = [...urls];
    this.connect();
  }

  /** Date.now() when the stream was accepted; undefined while it is down. */
  get activeSince(): number | undefined {
    return this.since;
  }

  get isActive(): boolean {
    return this.accepted;
  }

  /** The URL the link uses now (the next one after a failure to connect). */
  get url(): string {
    return this.urls[this.urlIndex % this.urls.length] as string;
  }

  /** Queues an encoded message; false (and counted as dropped) when the queue is full. */
  enqueue(msg: Uint8Array): boolean {
    if (this.queue.push(msg)) return true;
    this.noteDropped(1, true);
    return false;
  }

  /** Counts messages dropped because the stream is down. */
  dropWhileDown(): void {
    this.noteDropped(1, false);
  }

  /** Starts a write of everything queued (up to one batch) unless one is in flight. */
  flush(): void {
    if (!this.accepted || this.writing || this.queue.length === 0) return;
    const stream = this.stream as GrpcCall;
    const { frame, messages } = this.queue.takeBatch(BATCH_MAX_BYTES);
    this.writing = true;
    this.stats.sentBatches++;
    this.stats.sentMessages += messages;
    this.stats.sentBytes += frame.length;
    stream.write(frame, (err) => {
      if (this.stream !== stream) return;
      this.writing = false;
      // A failed write means the stream is dying: its end handler reports and reconnects.
      if (!err) this.flush();
    });
  }

  /** The session for a unary call or a fresh one, on the current URL. */
  callSession(): ClientHttp2Session {
    return this.ensureSession();
  }

  /** New URLs: reconnect on them unless they are the same set. */
  update(urls: readonly string[]): void {
    if (this.stopped || sameSet(urls, this.urls)) return;
    this.ctx.logger.info(`updated remote peer ${fmtId(this.id)} URLs to ${urls.join(',')}`);
    this.urls = [...urls];
    this.urlIndex = 0;
    this.reset();
    this.dropSession();
    this.clearRetry();
    this.attempt = 0;
    this.connect();
  }

  /** Stops for good: no reports, no timers, connection closed. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.clearRetry();
    const stream = this.stream;
    this.stream = undefined;
    this.accepted = false;
    this.since = undefined;
    this.queue.clear();
    stream?.cancel(GrpcCode.CANCELLED, 'peer removed');
    this.session?.destroy();
    this.session = undefined;
    for (const s of this.draining) s.destroy();
    this.draining.clear();
  }

  /** The peer is known to be up: a stream waiting out its backoff dials now. */
  wake(): void {
    if (this.stopped || this.retryTimer === undefined) return;
    this.clearRetry();
    this.attempt = 0;
    this.connect();
  }

  private connect(): void {
    this.retryTimer = undefined;
    if (this.stopped) return;
    let session: ClientHttp2Session;
    try {
      session = this.ensureSession();
    } catch (err) {
      // An unusable URL: nothing to dial. Say so once and try the next one later.
      this.onFailure(err instanceof Error ? err.message : String(err), false);
      return;
    }
    const call = new GrpcCall(session, RAFT_PATH, this.metadata(), { onAccepted: () => this.onAccepted(call) });
    this.stream = call;
    void call.done.then((status) => this.onStreamEnd(call, status));
  }

  private onAccepted(call: GrpcCall): void {
    if (this.stream !== call) return;
    this.accepted = true;
    this.since = Date.now();
    this.attempt = 0;
    this.lastProblem = undefined;
    this.ctx.logger.info(`established TCP streaming connection with remote peer ${fmtId(this.id)} (${this.url})`);
    this.flush();
  }

  private onStreamEnd(call: GrpcCall, status: GrpcStatus): void {
    if (this.stream !== call) return;
    const wasActive = this.accepted;
    this.reset();
    if (isRemovedStatus(status)) this.ctx.removed(this.id);
    else if (wasActive) this.ctx.connectionLost(this.id);
    const problem = status.fromPeer ? `peer answered ${status.message || `status ${status.code}`}` : status.message;
    this.onFailure(problem, wasActive);
  }

  private onFailure(problem: string, wasActive: boolean): void {
    const id = fmtId(this.id);
    if (wasActive) {
      this.ctx.logger.warn(`lost TCP streaming connection with remote peer ${id} (${this.url}): ${problem}`);
    } else if (problem !== this.lastProblem) {
      this.ctx.logger.warn(`cannot stream to remote peer ${id} at ${this.url}: ${problem}; retrying with backoff`);
    }
    this.lastProblem = problem;
    // Start over on a fresh connection; after a failure to connect, on the peer's next URL.
    this.dropSession();
    if (!wasActive) this.urlIndex = (this.urlIndex + 1) % this.urls.length;
    this.scheduleRetry();
  }

  /** Forgets the current stream; queued messages are dropped and the peer reported unreachable. */
  private reset(): void {
    const stream = this.stream;
    this.stream = undefined;
    this.accepted = false;
    this.since = undefined;
    this.writing = false;
    stream?.cancel(GrpcCode.CANCELLED, 'stream replaced');
    if (this.queue.length > 0) {
      this.noteDropped(this.queue.length, false);
      this.queue.clear();
      this.ctx.unreachable(this.id);
    }
  }

  private scheduleRetry(): void {
    this.clearRetry();
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(this.attempt, 16));
    this.attempt++;
    // ±20 % jitter, so that members restarting together do not dial in lockstep.
    const delay = Math.round(base * (0.8 + 0.4 * Math.random()));
    this.retryTimer = setTimeout(() => this.connect(), delay);
    this.retryTimer.unref();
  }

  private clearRetry(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private ensureSession(): ClientHttp2Session {
    const current = this.session;
    if (current !== undefined && !current.closed && !current.destroyed) return current;
    const session = connectPeer(parsePeerUrl(this.url), this.ctx.dial);
    keepAlive(session, KEEPALIVE_INTERVAL_MS, KEEPALIVE_TIMEOUT_MS);
    session.once('close', () => {
      if (this.session === session) this.session = undefined;
    });
    this.session = session;
    return session;
  }

  /** Closes the session gracefully: calls in flight on it finish (or time out), new ones get a new session. */
  private dropSession(): void {
    const session = this.session;
    this.session = undefined;
    if (session === undefined || session.closed || session.destroyed) return;
    this.draining.add(session);
    session.close(() => this.draining.delete(session));
  }

  private metadata(): Record<string, string> {
    return {
      [HEADER_CLUSTER_ID]: formatIdHeader(this.ctx.clusterId),
      [HEADER_FROM]: formatIdHeader(this.ctx.memberId),
      [HEADER_TO]: formatIdHeader(this.id),
    };
  }

  private noteDropped(n: number, queueFull: boolean): void {
    this.stats.droppedMessages += n;
    if (queueFull) this.droppedSinceLog += n;
  }

  /**
   * Logs the messages dropped on a full queue since the last such line, at most once a second (etcd logs
   * every drop, which floods the log exactly when the member is busiest). Called after each send.
   */
  logDrops(): void {
    if (this.droppedSinceLog === 0) return;
    const now = Date.now();
    if (now - this.lastDropLog < 1000) return;
    this.ctx.logger.warn(
      `dropped ${this.droppedSinceLog} internal Raft message(s) to remote peer ${fmtId(this.id)} since sending buffer is full`,
    );
    this.lastDropLog = now;
    this.droppedSinceLog = 0;
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(b);
  return a.every((u) => s.has(u));
}
