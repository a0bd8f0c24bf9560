/**
 * Lease IDs as etcd chooses them (pkg/idutil.Generator, then `& (1<<63 - 1)` in EtcdServer.LeaseGrant):
 * the member ID's low 16 bits, then the low 40 bits of the start time in milliseconds, then an 8-bit
 * counter that carries into the time bits. IDs from different members, and from restarts more than a
 * millisecond apart, do not collide; masking the top bit keeps them positive int64s.
 *
 * The ID is chosen before the grant is proposed, so that applying the grant is deterministic.
 */
const SUFFIX_BITS = 48n;
const SUFFIX_MASK = (1n << SUFFIX_BITS) - 1n;
const TIME_MASK = (1n << 40n) - 1n;
const POSITIVE_MASK = (1n << 63n) - 1n;

export class LeaseIdGenerator {
  private readonly prefix: bigint;
  private suffix: bigint;

  /** `nowMs`: wall-clock milliseconds since the epoch when the member starts. */
  constructor(memberId: bigint, nowMs: number) {
    this.prefix = (memberId & 0xffffn) << SUFFIX_BITS;
    this.suffix = (BigInt(Math.floor(nowMs)) & TIME_MASK) << 8n;
  }

  /** The next lease ID: positive, never 0. */
  next(): bigint {
    for (;;) {
      this.suffix = (this.suffix + 1n) & SUFFIX_MASK;
      const id = (this.prefix | this.suffix) & POSITIVE_MASK;
      if (id !== 0n) return id;
    }
  }
}
