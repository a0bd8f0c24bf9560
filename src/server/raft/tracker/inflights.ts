import { RaftInvariantError } from '../errors.js';

/**
 * The flow-control window of one follower: the MsgApp messages sent but not yet acknowledged, as the last
 * index each one carried and its payload bytes. The leader stops sending (except probes) when the window is
 * full by count or by bytes, so a slow follower cannot make it buffer without bound.
 *
 * Invariant: the recorded indexes increase from the oldest to the newest.
 */
export class Inflights {
  /** A ring buffer of `capacity` slots, allocated on first use: most followers never fill it. */
  private indexes: number[] = [];
  private sizes: number[] = [];
  private start = 0;
  private length = 0;
  private totalBytes = 0;

  /**
   * @param capacity the most messages in flight (raft's MaxInflightMsgs).
   * @param maxBytes the most payload bytes in flight, 0 for no limit (MaxInflightBytes).
   */
  constructor(
    readonly capacity: number,
    readonly maxBytes: number,
  ) {}

  clone(): Inflights {
    const c = new Inflights(this.capacity, this.maxBytes);
    c.indexes = this.indexes.slice();
    c.sizes = this.sizes.slice();
    c.start = this.start;
    c.length = this.length;
    c.totalBytes = this.totalBytes;
    return c;
  }

  /** Records a message whose last entry is `index`. The caller checks `full()` first. */
  add(index: number, bytes: number): void {
    if (this.full()) throw new RaftInvariantError('raft: cannot add into a full inflights window');
    let pos = this.start + this.length;
    if (pos >= this.capacity) pos -= this.capacity;
    this.indexes[pos] = index;
    this.sizes[pos] = bytes;
    this.length++;
    this.totalBytes += bytes;
  }

  /** Forgets every message whose last index is <= `to` (they have been acknowledged). */
  freeLE(to: number): void {
    if (this.length === 0 || to < (this.indexes[this.start] as number)) return;
    let pos = this.start;
    let freed = 0;
    while (freed < this.length && (this.indexes[pos] as number) <= to) {
      this.totalBytes -= this.sizes[pos] as number;
      freed++;
      pos++;
      if (pos >= this.capacity) pos = 0;
    }
    this.length -= freed;
    this.start = this.length === 0 ? 0 : pos;
  }

  full(): boolean {
    return this.length === this.capacity || (this.maxBytes > 0 && this.totalBytes >= this.maxBytes);
  }

  count(): number {
    return this.length;
  }

  bytes(): number {
    return this.totalBytes;
  }

  reset(): void {
    this.start = 0;
    this.length = 0;
    this.totalBytes = 0;
  }
}
