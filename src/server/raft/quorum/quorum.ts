/**
 * Quorum arithmetic, as pure functions over sets of voter ids. Nothing here knows about terms or logs:
 * callers pass in what each voter acknowledged, and get back what a quorum agrees on.
 */
import type { NodeId } from '../raftpb.js';

/** The outcome of a vote count. */
export const VoteResult = {
  /** Not decided yet: enough voters have not answered for either outcome. */
  Pending: 1,
  /** No quorum can be reached any more. */
  Lost: 2,
  /** A quorum voted yes. */
  Won: 3,
} as const;
export type VoteResult = (typeof VoteResult)[keyof typeof VoteResult];

/** What each voter has acknowledged: its match index, or `undefined` if nothing is known. */
export type AckedIndexer = (id: NodeId) => number | undefined;

/**
 * The committed index of an empty configuration. An empty config places no restriction, so it is the
 * neutral element of `min` over the halves of a joint config.
 */
export const INFINITE_INDEX = Number.POSITIVE_INFINITY;

/** Renders an index as the quorum tests print it (∞ for the empty config). */
export function formatIndex(i: number): string {
  return i === INFINITE_INDEX ? '∞' : String(i);
}
