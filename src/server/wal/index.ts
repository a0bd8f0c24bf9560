/** The write-ahead log in etcd's on-disk format. See wal.ts for the format, durability and repair rules. */
export { Wal, DEFAULT_SEGMENT_SIZE_BYTES } from './wal.js';
export type { SnapshotPoint, WalOptions, WalReadResult } from './wal.js';
export {
  RecordType,
  decodeWalMetadata,
  decodeWalSnapshot,
  encodeWalMetadata,
  encodeWalSnapshot,
  parseWalName,
  walName,
} from './record.js';
export type { WalMetadata, WalSnapshot } from './record.js';
export { nodeWalFs } from './fs.js';
export type { WalFile, WalFs, WalOpenMode } from './fs.js';
export {
  WalCorruptError,
  WalExistsError,
  WalFileNotFoundError,
  WalInUseError,
  WalMetadataConflictError,
  WalSnapshotMismatchError,
  WalSnapshotNotFoundError,
  WalStateError,
} from './errors.js';
