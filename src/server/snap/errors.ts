/** The snapshotter's errors; messages start with "snap: " (etcd's own wording where etcd has one). */
import { KvError } from '../../base/errors.js';

/** A .snap file with no data (etcd's ErrEmptySnapshot). */
export class SnapEmptyError extends KvError {
  readonly code = 'SNAP_EMPTY';
}

/** A .snap file whose CRC does not match its data (etcd's ErrCRCMismatch). */
export class SnapCrcMismatchError extends KvError {
  readonly code = 'SNAP_CRC_MISMATCH';
}

/** A .snap file that does not decode, or whose snapshot does not match its file name. */
export class SnapDecodeError extends KvError {
  readonly code = 'SNAP_DECODE';
}
