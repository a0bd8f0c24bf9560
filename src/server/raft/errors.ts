/**
 * Errors of the raft core. Storage errors (`ErrCompacted`, `ErrUnavailable`, ...) are part of the `Storage`
 * contract: implementations throw them and the core reacts to them (e.g. by sending a snapshot). Any other
 * error thrown by a `Storage` method makes the node inoperable, as in etcd.
 */
import { KvError } from '../../base/errors.js';

/** A proposal was not appended: no leader is known, a leadership transfer is under way, or the uncommitted tail is full. */
export class ErrProposalDropped extends KvError {
  readonly code = 'RAFT_PROPOSAL_DROPPED';
  constructor() {
    super('raft proposal dropped');
  }
}

/** A message type that only a node sends to itself arrived through `step`. */
export class ErrStepLocalMsg extends KvError {
  readonly code = 'RAFT_STEP_LOCAL_MSG';
  constructor() {
    super('raft: cannot step raft local message');
  }
}

/** A response arrived from a node that is not in the configuration. */
export class ErrStepPeerNotFound extends KvError {
  readonly code = 'RAFT_STEP_PEER_NOT_FOUND';
  constructor() {
    super('raft: cannot step as peer not found');
  }
}

/** The requested index is at or before the storage's snapshot: the entries were compacted away. */
export class ErrCompacted extends KvError {
  readonly code = 'RAFT_COMPACTED';
  constructor() {
    super('requested index is unavailable due to compaction');
  }
}

/** A snapshot older than the one storage already holds was offered. */
export class ErrSnapOutOfDate extends KvError {
  readonly code = 'RAFT_SNAP_OUT_OF_DATE';
  constructor() {
    super('requested index is older than the existing snapshot');
  }
}

/** The requested index is past the end of the log. */
export class ErrUnavailable extends KvError {
  readonly code = 'RAFT_UNAVAILABLE';
  constructor() {
    super('requested entry at index is unavailable');
  }
}

/** Storage cannot produce a snapshot right now; raft tries again later. */
export class ErrSnapshotTemporarilyUnavailable extends KvError {
  readonly code = 'RAFT_SNAPSHOT_TEMPORARILY_UNAVAILABLE';
  constructor() {
    super('snapshot is temporarily unavailable');
  }
}

/** An invalid `RaftConfig`, refused when the node is built. */
export class ErrInvalidConfig extends KvError {
  readonly code = 'RAFT_INVALID_CONFIG';
}

/** A membership change that would leave an invalid configuration (refused before it takes effect). */
export class ErrInvalidConfChange extends KvError {
  readonly code = 'RAFT_INVALID_CONF_CHANGE';
}

/**
 * A broken invariant: the log or the persisted state contradicts itself (e.g. a committed entry would be
 * overwritten). Continuing could lose acknowledged writes, so the node must stop (etcd panics here).
 */
export class RaftInvariantError extends KvError {
  readonly code = 'RAFT_INVARIANT';
}

/** A message from the network that cannot be a valid raft message (e.g. a proposal without entries). */
export class ErrInvalidMessage extends KvError {
  readonly code = 'RAFT_INVALID_MESSAGE';
}
