/**
 * kvctl's etcd v3 client: what src/cli, src/commands and src/agent may use. The generated protobuf types that
 * results are made of are re-exported here, so that callers never import src/proto directly.
 */
export {
  type CallOptions,
  type ClientOptions,
  EtcdClient,
  type TlsOptions,
  defaultCommandTimeoutMs,
  defaultDialTimeoutMs,
  reconnectChannelOptions,
} from './client.js';
export { AuthApi, type PermissionType, parsePermissionType } from './auth.js';
export { ClusterApi, checkPeerUrls } from './cluster.js';
export { DISCOVERY_REGISTRY, type DiscoveryTokenState, type NewDiscoveryOptions, type NewDiscoveryResult, createDiscoveryToken, inspectDiscoveryToken, newToken } from './discovery.js';
export { type Permission, Permission_Type } from '../proto/gen/authpb/auth.js';
export type {
  AuthRoleGetResponse,
  AuthRoleListResponse,
  AuthStatusResponse,
  AuthUserGetResponse,
  AuthUserListResponse,
} from '../proto/gen/etcdserverpb/rpc.js';
export { type Endpoint, defaultEndpoint, parseEndpoint, parseEndpoints } from './endpoints.js';
export { ClientError, type ClientErrorKind, type DialFailure } from './errors.js';
export { type TlsFiles, loadTlsFiles, quietIpServerNameWarning } from './tls.js';
export { type SnapshotDownload, downloadSnapshot } from './snapshot.js';
export { fromKeyEnd, prefixEnd, toBytes } from './keys.js';
export { type KeepAliveEnd, type KeepAliveOptions, LeaseApi, type LeaseGrantResponse, type LeaseKeepAliveResponse, type LeaseLeasesResponse, type LeaseRevokeResponse, type LeaseTimeToLiveResponse, leaseNotFound } from './lease.js';
export { Watch, type WatchEvent, type WatchOptions, type WatchResponse, WatchSession, type WatchSessionOptions, watchCreateRequest } from './watch.js';
export {
  type CompareOp,
  type CompareTarget,
  type DeleteOptions,
  type Int64Input,
  type KeyInput,
  type KeyRangeOptions,
  type PutOptions,
  type RangeOptions,
  type SortOrder,
  type SortTarget,
  compare,
  deleteRangeRequest,
  isCompareOp,
  op,
  putRequest,
  rangeRequest,
  txnRequest,
} from './ops.js';
export type { EtcdErrorName } from '../proto/errors.js';
export type { KeyValue } from '../proto/gen/mvccpb/kv.js';
export {
  AlarmType,
  type AlarmMember,
  type AlarmResponse,
  type Compare,
  type CompactionResponse,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  type HashKVResponse,
  type Member,
  type MemberAddResponse,
  type MemberListResponse,
  type MemberPromoteResponse,
  type MemberRemoveResponse,
  type MemberUpdateResponse,
  type MoveLeaderResponse,
  type PutRequest,
  type PutResponse,
  type RangeRequest,
  type RangeResponse,
  type RequestOp,
  type ResponseHeader,
  type ResponseOp,
  type StatusResponse,
  type TxnRequest,
  type TxnResponse,
} from '../proto/gen/etcdserverpb/rpc.js';
export {
  type ClientEndpoints,
  type MemberSrvCheck,
  type NameResolver,
  type PlannedMember,
  type SrvCluster,
  type SrvClusterRecord,
  SrvDiscoveryError,
  type SrvLookupOptions,
  type SrvPlanCheck,
  checkSrvPlan,
  discoverClientEndpoints,
  dnsServerResolver,
  lookupSrvCluster,
  parseDnsServer,
  resolverFor,
  systemResolver,
} from './srv.js';
