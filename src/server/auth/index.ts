/** The auth store: users, roles, permissions, simple tokens (etcd's server/auth). */
export { type AuthBucket, type AuthBuckets, MemoryAuthBucket, memoryAuthBuckets } from './backend.js';
export { DEFAULT_BCRYPT_COST, hashPassword, passwordMatches } from './password.js';
export { type KeyInterval, UnifiedPermissions, permissionInterval } from './perms.js';
export { DEFAULT_TOKEN_TTL_MS, SimpleTokens, type SimpleTokensOptions, genTokenPrefix } from './simple-token.js';
export { type AuthInfo, AuthStore, type AuthStoreOptions, ROOT_ROLE, ROOT_USER, hasRootRole } from './store.js';
