/**
 * The MVCC module's public surface: the lmdb backend with etcd's buckets, and the revisioned key-value store.
 * The key index and revision encoding are internals (reachable for tests through their files).
 */
export {
  BUCKET_NAMES,
  Backend,
  type BackendOptions,
  Bucket,
  type BucketEntry,
  type BucketName,
  META_CONSISTENT_INDEX,
  META_TERM,
  defaultHashIgnore,
} from './backend.js';
export {
  KvStore,
  type KvStoreOptions,
  type KeyValueHash,
  META_FINISHED_COMPACT,
  META_SCHEDULED_COMPACT,
  type RangeOptions,
  type RangeResult,
  type TxnRead,
  type TxnResult,
  type TxnWrite,
} from './kvstore.js';
export * from './errors.js';
