/**
 * The peer transport's errors and the refusal messages a member answers with. The refusals use etcd's
 * rafthttp wording where it has one, because operators search logs for it.
 */
import { KvError } from '../../base/errors.js';

/** The status messages of a refused call (see proto/peerpb/peer.proto). */
export const refusal = {
  /** etcd logs this when a request carries another cluster's id (its HTTP answer is 412). */
  clusterIdMismatch: 'request cluster ID mismatch',
  /** etcd's errMemberRemoved: what a removed member learns when it calls a member of its old cluster. */
  memberRemoved: 'the member has been permanently removed from the cluster',
  /** etcd's answer to a stream whose sender id is missing or unparsable. */
  invalidFrom: 'invalid from',
  /** etcd's answer to a stream addressed to another member than the one that received it. */
  toMismatch: 'to field mismatch',
} as const;

/**
 * A peer answered a unary call with an error status: the remote handler's failure or a refusal. `message`
 * is exactly the status message the peer sent (e.g. the remote handler's error message).
 */
export class PeerCallError extends KvError {
  readonly code = 'PEER_CALL_FAILED';

  constructor(
    message: string,
    /** The gRPC status code the peer answered with. */
    readonly grpcCode: number,
  ) {
    super(message);
  }
}

/** No answer from a peer: no connection, connection lost, or the deadline passed. */
export class PeerUnreachableError extends KvError {
  readonly code = 'PEER_UNREACHABLE';
}
