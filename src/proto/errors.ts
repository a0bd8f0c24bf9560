/**
 * etcd's v3 API errors: the exact gRPC status code and message of each, as etcd's servers send them.
 *
 * Real clients match on these strings (clientv3 turns a known message back into a typed error, etcdctl
 * prints it as is), so a message here must never be reworded. The server raises `EtcdApiError`s built
 * from this table; the client recognises a status by its message with `etcdErrorOf`.
 */
import { KvError } from '../base/errors.js';

/** gRPC status codes used by etcd (numbers from grpc's codes package). */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcCode = (typeof GrpcCode)[keyof typeof GrpcCode];

const { INVALID_ARGUMENT, OUT_OF_RANGE, RESOURCE_EXHAUSTED, NOT_FOUND, FAILED_PRECONDITION } = GrpcCode;
const { PERMISSION_DENIED, UNAUTHENTICATED, UNAVAILABLE, DATA_LOSS, CANCELLED } = GrpcCode;

function e(code: GrpcCode, message: string): { readonly code: GrpcCode; readonly message: string } {
  return { code, message };
}

/** Every error etcd's v3 API answers with, by a name that says what went wrong. */
export const etcdErrors = {
  emptyKey: e(INVALID_ARGUMENT, 'etcdserver: key is not provided'),
  keyNotFound: e(INVALID_ARGUMENT, 'etcdserver: key not found'),
  valueProvided: e(INVALID_ARGUMENT, 'etcdserver: value is provided'),
  leaseProvided: e(INVALID_ARGUMENT, 'etcdserver: lease is provided'),
  ttlZero: e(INVALID_ARGUMENT, 'etcdserver: ttl is 0'),
  tooManyOps: e(INVALID_ARGUMENT, 'etcdserver: too many operations in txn request'),
  duplicateKey: e(INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request'),
  invalidSortOption: e(INVALID_ARGUMENT, 'etcdserver: invalid sort option'),
  compacted: e(OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'),
  futureRev: e(OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision'),
  noSpace: e(RESOURCE_EXHAUSTED, 'etcdserver: mvcc: database space exceeded'),

  leaseNotFound: e(NOT_FOUND, 'etcdserver: requested lease not found'),
  leaseExist: e(FAILED_PRECONDITION, 'etcdserver: lease already exists'),
  leaseTTLTooLarge: e(OUT_OF_RANGE, 'etcdserver: too large lease TTL'),
  watchCanceled: e(CANCELLED, 'etcdserver: watch canceled'),

  memberExist: e(FAILED_PRECONDITION, 'etcdserver: member ID already exist'),
  peerURLExist: e(FAILED_PRECONDITION, 'etcdserver: Peer URLs already exists'),
  memberNotEnoughStarted: e(
    FAILED_PRECONDITION,
    'etcdserver: re-configuration failed due to not enough started members',
  ),
  memberBadURLs: e(INVALID_ARGUMENT, 'etcdserver: given member URLs are invalid'),
  memberNotFound: e(NOT_FOUND, 'etcdserver: member not found'),
  memberNotLearner: e(FAILED_PRECONDITION, 'etcdserver: can only promote a learner member'),
  learnerNotReady: e(
    FAILED_PRECONDITION,
    'etcdserver: can only promote a learner member which is in sync with leader',
  ),
  tooManyLearners: e(FAILED_PRECONDITION, 'etcdserver: too many learner members in cluster'),

  requestTooLarge: e(INVALID_ARGUMENT, 'etcdserver: request is too large'),
  tooManyRequests: e(RESOURCE_EXHAUSTED, 'etcdserver: too many requests'),

  rootUserNotExist: e(FAILED_PRECONDITION, 'etcdserver: root user does not exist'),
  rootRoleNotExist: e(FAILED_PRECONDITION, 'etcdserver: root user does not have root role'),
  userAlreadyExist: e(FAILED_PRECONDITION, 'etcdserver: user name already exists'),
  userEmpty: e(INVALID_ARGUMENT, 'etcdserver: user name is empty'),
  userNotFound: e(FAILED_PRECONDITION, 'etcdserver: user name not found'),
  roleAlreadyExist: e(FAILED_PRECONDITION, 'etcdserver: role name already exists'),
  roleNotFound: e(FAILED_PRECONDITION, 'etcdserver: role name not found'),
  roleEmpty: e(INVALID_ARGUMENT, 'etcdserver: role name is empty'),
  authFailed: e(INVALID_ARGUMENT, 'etcdserver: authentication failed, invalid user ID or password'),
  permissionDenied: e(PERMISSION_DENIED, 'etcdserver: permission denied'),
  roleNotGranted: e(FAILED_PRECONDITION, 'etcdserver: role is not granted to the user'),
  permissionNotGranted: e(FAILED_PRECONDITION, 'etcdserver: permission is not granted to the role'),
  authNotEnabled: e(FAILED_PRECONDITION, 'etcdserver: authentication is not enabled'),
  invalidAuthToken: e(UNAUTHENTICATED, 'etcdserver: invalid auth token'),
  invalidAuthMgmt: e(INVALID_ARGUMENT, 'etcdserver: invalid auth management'),
  permissionNotGiven: e(INVALID_ARGUMENT, 'etcdserver: permission not given'),
  authOldRevision: e(INVALID_ARGUMENT, 'etcdserver: revision of auth store is old'),

  noLeader: e(UNAVAILABLE, 'etcdserver: no leader'),
  notLeader: e(FAILED_PRECONDITION, 'etcdserver: not leader'),
  leaderChanged: e(UNAVAILABLE, 'etcdserver: leader changed'),
  notCapable: e(UNAVAILABLE, 'etcdserver: not capable'),
  stopped: e(UNAVAILABLE, 'etcdserver: server stopped'),
  timeout: e(UNAVAILABLE, 'etcdserver: request timed out'),
  timeoutDueToLeaderFail: e(UNAVAILABLE, 'etcdserver: request timed out, possibly due to previous leader failure'),
  timeoutLeaderTransfer: e(UNAVAILABLE, 'etcdserver: request timed out, leader transfer took too long'),
  timeoutDueToConnectionLost: e(UNAVAILABLE, 'etcdserver: request timed out, possibly due to connection lost'),
  unhealthy: e(UNAVAILABLE, 'etcdserver: unhealthy cluster'),
  corrupt: e(DATA_LOSS, 'etcdserver: corrupt cluster'),
  notSupportedForLearner: e(UNAVAILABLE, 'etcdserver: rpc not supported for learner'),
  badLeaderTransferee: e(FAILED_PRECONDITION, 'etcdserver: bad leader transferee'),
} as const;

export type EtcdErrorName = keyof typeof etcdErrors;

/** An error that goes to the client as etcd's status: the code and exact message of `etcdErrors[name]`. */
export class EtcdApiError extends KvError {
  readonly code: string;
  readonly grpcCode: GrpcCode;

  constructor(readonly errorName: EtcdErrorName) {
    const { code, message } = etcdErrors[errorName];
    super(message);
    this.name = 'EtcdApiError';
    this.code = errorName;
    this.grpcCode = code;
  }
}

const byMessage = new Map<string, EtcdErrorName>(
  Object.entries(etcdErrors).map(([name, { message }]) => [message, name as EtcdErrorName]),
);

/** The name of the etcd error whose message this is, if it is one (how clientv3 recognises errors). */
export function etcdErrorOf(message: string): EtcdErrorName | undefined {
  return byMessage.get(message);
}
