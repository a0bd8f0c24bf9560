/**
 * Linearizable reads without writing to the log (Raft thesis §6.4, ReadIndex).
 *
 * A read request records the leader's commit index at arrival. The leader then proves it is still the
 * leader by a heartbeat round that carries the request's id; once a quorum answers, every request queued up
 * to and including that one is released with its recorded index, and the application serves each read as
 * soon as it has applied up to that index.
 *
 * Batching: requests that arrive between two Readys share one heartbeat round (the raft core broadcasts
 * once, with the newest request's id); a quorum acknowledgement of a request also confirms every request
 * queued before it, since that heartbeat went out after all of them arrived.
 */
import type { Message, NodeId } from './raftpb.js';

export const ReadOnlyOption = {
  /** Confirm leadership with a quorum heartbeat round for every batch of reads. */
  Safe: 0,
  /**
   * Trust the leader lease (CheckQuorum makes a deposed leader step down within an election timeout).
   * Cheaper, but it relies on bounded clock drift.
   */
  LeaseBased: 1,
} as const;
export type ReadOnlyOption = (typeof ReadOnlyOption)[keyof typeof ReadOnlyOption];

/** A read request that has been confirmed: serve it once the applied index reaches `index`. */
export interface ReadState {
  readonly index: number;
  readonly requestCtx: Uint8Array;
}

interface ReadIndexStatus {
  readonly req: Message;
  readonly index: number;
  readonly acks: Map<NodeId, boolean>;
}

/** Request ids are compared by content: a string of their bytes makes that a Map lookup. */
function key(ctx: Uint8Array): string {
  let s = '';
  for (let i = 0; i < ctx.length; i += 4096) s += String.fromCharCode(...ctx.subarray(i, i + 4096));
  return s;
}

export class ReadOnly {
  private readonly pending = new Map<string, ReadIndexStatus>();
  private queue: string[] = [];

  constructor(readonly option: ReadOnlyOption) {}

  /** Queues a read request (`req.entries[0].data` is its id) with the commit index at arrival. */
  addRequest(index: number, req: Message): void {
    const k = key((req.entries[0] as { data: Uint8Array }).data);
    if (this.pending.has(k)) return;
    this.pending.set(k, { req, index, acks: new Map() });
    this.queue.push(k);
  }

  /** Records a heartbeat acknowledgement carrying `ctx`; returns the acks of that request so far. */
  recvAck(id: NodeId, ctx: Uint8Array): ReadonlyMap<NodeId, boolean> | undefined {
    const rs = this.pending.get(key(ctx));
    if (rs === undefined) return undefined;
    rs.acks.set(id, true);
    return rs.acks;
  }

  /** Releases the request `ctx` and every request queued before it. */
  advance(ctx: Uint8Array): { req: Message; index: number }[] {
    const k = key(ctx);
    const at = this.queue.indexOf(k);
    if (at < 0) return [];
    const released = this.queue.slice(0, at + 1).map((q) => {
      const rs = this.pending.get(q) as ReadIndexStatus;
      this.pending.delete(q);
      return { req: rs.req, index: rs.index };
    });
    this.queue = this.queue.slice(at + 1);
    return released;
  }

  /** The id of the newest queued request, which the next heartbeat round confirms (with all before it). */
  lastPendingRequestCtx(): Uint8Array | undefined {
    const last = this.queue[this.queue.length - 1];
    if (last === undefined) return undefined;
    return (this.pending.get(last) as ReadIndexStatus).req.entries[0]?.data;
  }

  pendingCount(): number {
    return this.queue.length;
  }
}
