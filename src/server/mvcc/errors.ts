/**
 * Errors of the MVCC store and its backend. `CompactedError` and `FutureRevError` carry etcd's exact
 * messages (`mvcc.ErrCompacted`, `mvcc.ErrFutureRev`); the gRPC edge maps them to
 * "etcdserver: mvcc: required revision has been compacted" / "... is a future revision".
 */
import { KvError } from '../../base/errors.js';

/** The requested revision is below the compacted revision (etcd's `mvcc.ErrCompacted`). */
export class CompactedError extends KvError {
  readonly code = 'MVCC_COMPACTED';
  constructor() {
    super('mvcc: required revision has been compacted');
  }
}

/** The requested revision is above the current revision (etcd's `mvcc.ErrFutureRev`). */
export class FutureRevError extends KvError {
  readonly code = 'MVCC_FUTURE_REV';
  constructor() {
    super('mvcc: required revision is a future revision');
  }
}

/** A write reached the backend outside `Backend.batch`. */
export class NotInBatchError extends KvError {
  readonly code = 'MVCC_NOT_IN_BATCH';
  constructor(what: string) {
    super(`mvcc: ${what} must be called inside backend.batch()`);
  }
}

/** The backend was used after `close()`. */
export class BackendClosedError extends KvError {
  readonly code = 'MVCC_BACKEND_CLOSED';
  constructor() {
    super('mvcc: backend is closed');
  }
}

/** A write batch was attempted while `defragment()` copies the file: writes made now would be lost in the swap. */
export class BackendBusyError extends KvError {
  readonly code = 'MVCC_BACKEND_BUSY';
  constructor(what: string) {
    super(`mvcc: backend is busy (${what})`);
  }
}

/** The backend holds something that cannot be (a malformed revision key, a revision the index points to is missing). */
export class CorruptError extends KvError {
  readonly code = 'MVCC_CORRUPT';
  constructor(detail: string) {
    super(`mvcc: backend is corrupt: ${detail}`);
  }
}

/** A write txn was ended after another write txn changed the store since it began. */
export class StaleTxnError extends KvError {
  readonly code = 'MVCC_STALE_TXN';
  constructor(begin: number, current: number) {
    super(`mvcc: write txn began at revision ${begin} but the store is at ${current}`);
  }
}

/** The store was closed before a physical compaction finished (it resumes at the next open). */
export class StoreClosedError extends KvError {
  readonly code = 'MVCC_STORE_CLOSED';
  constructor() {
    super('mvcc: store closed');
  }
}
