/**
 * The contract between the node (kvserver) and the peer transport (this directory): what the transport
 * offers the raft loop, and what it asks of the node when something arrives from a peer.
 *
 * The transport carries raft messages between members on their peer URLs (--listen-peer-urls): gRPC
 * streams, one outgoing stream per peer, batched, never blocking the raft loop (a full queue drops, and
 * raft retransmits); reconnect with backoff; snapshots (a MsgSnap plus the backend file) streamed with a
 * SHA-256 checksum; every call carries the sender's cluster id and member ids, and a stranger is refused
 * with etcd's wording ("request cluster ID mismatch").
 */
import type { Message } from '../raft/index.js';

/** What the node does with what arrives from peers. Called on the event loop; must not throw. */
export interface PeerHandler {
  /** A raft message (any type but MsgSnap) addressed to this member. */
  process(m: Message): void;
  /**
   * A MsgSnap whose backend file has arrived whole and checksum-verified at `dbPath` (a file in the
   * transport's receive directory). Resolves once the node has taken the file (it renames or deletes it);
   * the sender learns success only then. A rejection is reported to the sender as a failed snapshot.
   */
  receiveSnapshot(m: Message, dbPath: string): Promise<void>;
  /** True for a member id that was removed from the cluster: its calls are refused (etcd: 410 Gone). */
  isRemoved(id: bigint): boolean;
  /**
   * A unary request from a peer, by method name (e.g. lease renewals forwarded to the leader, the member
   * list a joining member fetches). Rejects with an error whose message is sent back to the caller.
   */
  call(method: string, payload: Uint8Array, from: bigint): Promise<Uint8Array>;
}

/** What the transport tells the node about delivery, so that raft can adapt (probe, resend snapshot). */
export interface DeliveryReports {
  /** A message to `id` could not be delivered (no connection): raft's ReportUnreachable. */
  unreachable(id: bigint): void;
  /**
   * A working stream to `id` broke: reset or closed by the peer (a process that dies has its connections
   * reset by its kernel at once), or its keepalive went unanswered. Raft's ReportConnectionLost: a follower
   * stops honouring a lost leader's lease. Not called when we close a link ourselves (URL change, stop).
   */
  connectionLost(id: bigint): void;
  /** A snapshot to `id` was (or was not) received and taken: raft's ReportSnapshot. */
  snapshotStatus(id: bigint, ok: boolean): void;
  /** The peer told us we were removed from the cluster: the node stops (etcd does the same). */
  removedFromCluster(by: bigint): void;
}

/** A backend file to send with a MsgSnap; the transport calls `release` when it is done with it (sent or not). */
export interface SnapshotPayload {
  readonly path: string;
  readonly size: number;
  release(): void;
}
