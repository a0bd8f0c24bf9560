/**
 * The lease module's own errors. Requests that fail the way etcd's lessor fails (lease not found, lease
 * exists, TTL too large) raise etcd's API errors (EtcdApiError) directly, since that is what they are.
 */
import { KvError } from '../../base/errors.js';

/** A record in the `lease` bucket cannot be read: the data dir is damaged. */
export class CorruptLeaseRecordError extends KvError {
  readonly code = 'LEASE_CORRUPT_RECORD';
}
