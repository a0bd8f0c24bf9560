/**
 * The bounded queue of encoded raft messages waiting for one peer's stream, and the batching that turns
 * its front into one RaftBatch frame per write.
 */
import { FrameWriter, lenFieldSize } from './wire.js';

/** A fixed-capacity ring of encoded messages, bounded in count and in bytes. */
export class MessageQueue {
  private readonly slots: Array<Uint8Array | undefined>;
  private head = 0;
  private count = 0;
  private byteCount = 0;

  constructor(
    readonly capacity: number,
    readonly maxBytes: number,
  ) {
    this.slots = new Array<Uint8Array | undefined>(capacity).fill(undefined);
  }

  get length(): number {
    return this.count;
  }

  get bytes(): number {
    return this.byteCount;
  }

  /** Appends unless full (by count, or by bytes; a lone message of any size fits an empty queue). */
  push(msg: Uint8Array): boolean {
    if (this.count === this.capacity) return false;
    if (this.count > 0 && this.byteCount + msg.length > this.maxBytes) return false;
    this.slots[(this.head + this.count) % this.capacity] = msg;
    this.count++;
    this.byteCount += msg.length;
    return true;
  }

  /**
   * Removes messages from the front and frames them as one RaftBatch: as many as fit in `maxPayloadBytes`,
   * at least one. The queue must not be empty.
   */
  takeBatch(maxPayloadBytes: number): { frame: Buffer; messages: number } {
    const cap = this.capacity;
    let n = 0;
    let payload = 0;
    while (n < this.count) {
      const size = lenFieldSize((this.slots[(this.head + n) % cap] as Uint8Array).length);
      if (n > 0 && payload + size > maxPayloadBytes) break;
      payload += size;
      n++;
    }
    const w = new FrameWriter(payload);
    for (let i = 0; i < n; i++) {
      const slot = (this.head + i) % cap;
      const msg = this.slots[slot] as Uint8Array;
      w.bytes(1, msg);
      this.slots[slot] = undefined;
      this.byteCount -= msg.length;
    }
    this.head = (this.head + n) % cap;
    this.count -= n;
    return { frame: w.finish(), messages: n };
  }

  clear(): void {
    this.slots.fill(undefined);
    this.head = 0;
    this.count = 0;
    this.byteCount = 0;
  }
}
