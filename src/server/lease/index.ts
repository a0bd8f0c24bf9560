/** The lease module: the lessor and what it persists. The node's lease feature (kvserver) drives it. */
export { CorruptLeaseRecordError } from './errors.js';
export { ExpiryQueue } from './expiry-queue.js';
export { LeaseIdGenerator } from './id-generator.js';
export {
  EXPIRED_LEASE_RETRY_MS,
  LEASE_REVOKE_RATE,
  type LeaseBucket,
  type LeaseInfo,
  type LeaseStore,
  Lessor,
  type LessorOptions,
  MAX_LEASE_TTL,
  type RenewResult,
  bucketLeaseStore,
  minLeaseTtlSeconds,
} from './lessor.js';
export { type LeaseRecord, decodeLeaseRecord, encodeLeaseRecord, leaseKey } from './record.js';
