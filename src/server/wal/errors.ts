/**
 * The WAL's errors. Every message starts with "wal: "; the ones about a file name it and, where a record is
 * at fault, its byte offset, because the operator has to find it.
 */
import { KvError } from '../../base/errors.js';

/**
 * A record that cannot be trusted and is not a torn tail (see wal.ts for the rule): the node must not start
 * on this WAL. The message names the segment file and the byte offset of the record.
 */
export class WalCorruptError extends KvError {
  readonly code = 'WAL_CORRUPT';

  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`wal: corrupt record in ${file} at offset ${offset}: ${reason}`);
  }
}

/** `Wal.create` on a directory that already holds a WAL (or other files). */
export class WalExistsError extends KvError {
  readonly code = 'WAL_EXISTS';
}

/** No segment file, or none that can hold the requested snapshot, or a gap in the segment sequence. */
export class WalFileNotFoundError extends KvError {
  readonly code = 'WAL_FILE_NOT_FOUND';
}

/** The WAL holds no snapshot record for the index `Wal.open` was asked to start at. */
export class WalSnapshotNotFoundError extends KvError {
  readonly code = 'WAL_SNAPSHOT_NOT_FOUND';
}

/** The WAL holds a snapshot record at the requested index, but with another term. */
export class WalSnapshotMismatchError extends KvError {
  readonly code = 'WAL_SNAPSHOT_MISMATCH';
}

/** Two segments carry different metadata (node id / cluster id): they come from different members. */
export class WalMetadataConflictError extends KvError {
  readonly code = 'WAL_METADATA_CONFLICT';
}

/** Another `Wal` object of this process has the directory open. */
export class WalInUseError extends KvError {
  readonly code = 'WAL_IN_USE';
}

/** A call out of order: saving before `readAll`, reading twice, or using a closed or failed WAL. */
export class WalStateError extends KvError {
  readonly code = 'WAL_STATE';
}
