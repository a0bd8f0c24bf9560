/**
 * `EtcdClient`: etcd's v3 API over grpc-js, shaped after clientv3.
 *
 * - One grpc-js `Client` (one HTTP/2 channel) per endpoint, created on first use and shared by every service
 *   (KV, Maintenance, Cluster; Watch and Lease streams can ride the same channel later).
 * - Calls go to the endpoint that last worked. Before a call the channel must become READY within the dial
 *   timeout; an endpoint that cannot be reached (refused, or still connecting at the dial deadline) is skipped and
 *   the next one is tried, because the request has not been sent. A request that was sent and then lost its
 *   connection is retried on the next endpoint only when it is idempotent (reads); a lost write is reported, never
 *   replayed, since it may have been applied.
 * - Every call has a deadline: the command timeout, counted after the channel is ready (etcdctl's
 *   `--command-timeout` excludes dialing too).
 * - Failures are `ClientError`s (see errors.ts). Keys and values are bytes: strings are taken as UTF-8, results
 *   carry Buffers; 64-bit integers are bigint.
 *
 * TLS (see tls.ts): `https://` endpoints always, and bare `host:port` endpoints when `tls` is given, as clientv3
 * does; the server's name is checked as Go checks it. A connection that fails says why in Go's words where Go has
 * them (`x509: certificate is valid for 127.0.0.1, not 127.0.0.2`), and a refused client certificate is explained
 * from the certificate (missing, expired, or from a CA the server may not trust).
 */
import * as grpc from '@grpc/grpc-js';

import { AuthApi } from './auth.js';
import {
  AlarmRequest,
  AlarmRequest_AlarmAction,
  type AlarmResponse,
  AlarmType,
  AuthService,
  ClusterService,
  CompactionRequest,
  type CompactionResponse,
  type DefragmentRequest,
  type DefragmentResponse,
  type DeleteRangeResponse,
  HashKVRequest,
  type HashKVResponse,
  KVService,
  MaintenanceService,
  MemberListRequest,
  type MemberListResponse,
  type PutResponse,
  type RangeResponse,
  type StatusRequest,
  type StatusResponse,
  type TxnRequest,
  type TxnResponse,
} from '../proto/gen/etcdserverpb/rpc.js';
import { type Endpoint, dialTarget, parseEndpoint, parseEndpoints, tlsHostName, withResolvedAddress } from './endpoints.js';
import { ClientError, type DialFailure, connectFailureReason, fromServiceError, isNotConnected, unreachable } from './errors.js';
import { type TlsOptions, checkServerName, explainConnectFailure, quietIpServerNameWarning, usesTls } from './tls.js';
import {
  type DeleteOptions,
  type Int64Input,
  type KeyInput,
  type PutOptions,
  type RangeOptions,
  deleteRangeRequest,
  int64,
  putRequest,
  rangeRequest,
} from './ops.js';

export type { TlsOptions } from './tls.js';

export type ClientOptions = {
  /** `host:port`, `http://host:port` or `https://host:port`; a string may list several, comma separated. */
  endpoints: string | readonly string[];
  /** How long to wait for a connection to one endpoint before trying the next (etcdctl `--dial-timeout`, 2s). */
  dialTimeoutMs?: number;
  /** Deadline of each call once connected (etcdctl `--command-timeout`, 5s). */
  commandTimeoutMs?: number;
  /**
   * TLS settings (etcdctl's --cacert/--cert/--key, read with `loadTlsFiles`): used for `https://` endpoints and,
   * when given, for endpoints without a scheme. `http://` endpoints never use TLS.
   */
  tls?: TlsOptions;
  /**
   * Host names already resolved (host as written in an endpoint → IP address), e.g. by SRV discovery with
   * kvctl's `--dns-server`: such endpoints are dialled at that address, and keep their name for TLS and output.
   */
  hostAddresses?: ReadonlyMap<string, string>;
  /**
   * Credentials (etcdctl `--user`/`--password`): the client authenticates before its first call and sends the token
   * with every call, authenticating again when etcd answers "invalid auth token" or "revision of auth store is old".
   * A server with auth disabled is used without a token.
   */
  username?: string;
  password?: string;
};

/** Per-call options. */
export type CallOptions = {
  /**
   * Send the call to this endpoint only (no failover), as clientv3's maintenance calls do. It need not be one of
   * the client's endpoints: a channel is opened for it on demand.
   */
  endpoint?: string;
  /** Overrides the client's command timeout for this call. */
  timeoutMs?: number;
  /** Cancels the call. */
  signal?: AbortSignal;
};

export const defaultDialTimeoutMs = 2000;
export const defaultCommandTimeoutMs = 5000;

/** What grpc-js needs to make one unary call; the generated `*Service` definitions have this shape. */
type UnaryMethod<Req, Res> = {
  readonly path: string;
  readonly requestSerialize: (value: Req) => Buffer;
  readonly responseDeserialize: (value: Buffer) => Res;
};

type ReadyState = 'ready' | 'failed' | 'timeout';

const { CONNECTING, READY, TRANSIENT_FAILURE, SHUTDOWN } = grpc.connectivityState;

/** How a channel reconnects: for every long-lived channel kvctl opens (to members, and to agents). */
export const reconnectChannelOptions: grpc.ChannelOptions = {
  // Each client's connections are its own: grpc-js otherwise shares one connection (and its reconnect backoff)
  // between every channel of the process to the same target, so one client's retries against a stopped member
  // would keep another client's first call after the member's return waiting out a backoff it never chose.
  'grpc.use_local_subchannel_pool': 1,
  // A member that was down comes back within about a second, however long it was gone: grpc's default backoff
  // grows to 120 s between attempts, so a watch or a long-lived client would resume minutes after a restart.
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
};

const channelOptions: grpc.ChannelOptions = {
  // etcd's client accepts responses of any size (a `get --prefix` can be large); grpc-js' default is 4 MiB.
  'grpc.max_receive_message_length': -1,
  // No DNS TXT lookups for service configs: host names resolve through the system resolver only.
  'grpc.service_config_disable_resolution': 1,
  ...reconnectChannelOptions,
};

/** One endpoint's channel. */
class Connection {
  readonly client: grpc.Client;

  /** `tls`: the settings of a TLS connection (an empty object: the system's roots), undefined for plaintext. */
  constructor(
    readonly endpoint: Endpoint,
    readonly tls: TlsOptions | undefined,
  ) {
    if (tls !== undefined) quietIpServerNameWarning();
    const credentials =
      tls !== undefined
        ? grpc.credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null, {
            checkServerIdentity: checkServerName,
            rejectUnauthorized: tls.insecureSkipVerify !== true,
          })
        : grpc.credentials.createInsecure();
    // An endpoint dialled at an address kvctl resolved keeps its host name as the :authority and TLS name.
    const serverName = tls?.serverName ?? (endpoint.address !== undefined ? tlsHostName(endpoint) : undefined);
    const options = {
      ...channelOptions,
      ...(serverName !== undefined && tls !== undefined ? { 'grpc.ssl_target_name_override': serverName } : {}),
      ...(endpoint.address !== undefined ? { 'grpc.default_authority': endpoint.target } : {}),
    };
    this.client = new grpc.Client(dialTarget(endpoint), credentials, options);
  }

  /**
   * Waits until the channel is READY, has failed to connect (TRANSIENT_FAILURE: refused, reset, no route), or the
   * deadline passes while it is still connecting (an address that never answers).
   *
   * A failure found on arrival is an earlier call's: the endpoint may be back since. The channel stays in
   * TRANSIENT_FAILURE while it retries (grpc's "sticky" failure) and turns READY when a retry connects, so that
   * failure is waited on until the deadline; a retry comes at least every max_reconnect_backoff_ms. A failure
   * after a connection attempt seen during this wait is reported at once (a refused port fails fast).
   */
  waitReady(deadline: number): Promise<ReadyState> {
    const channel = this.client.getChannel();
    let attempted = false;
    return new Promise((resolve) => {
      const check = (): void => {
        const state = channel.getConnectivityState(true);
        if (state === READY) return resolve('ready');
        if (state === SHUTDOWN || (state === TRANSIENT_FAILURE && attempted)) return resolve('failed');
        if (state === CONNECTING) attempted = true;
        const expired = (): void => resolve(state === TRANSIENT_FAILURE ? 'failed' : 'timeout');
        if (Date.now() >= deadline) return expired();
        channel.watchConnectivityState(state, deadline, (err) => (err ? expired() : check()));
      };
      check();
    });
  }

  /** One unary call; rejects with grpc-js' `ServiceError`. Never waits for a connection (`waitForReady: false`). */
  unary<Req, Res>(method: UnaryMethod<Req, Res>, request: Req, deadline: number, signal?: AbortSignal, metadata?: grpc.Metadata): Promise<Res> {
    return new Promise((resolve, reject) => {
      const call = this.client.makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        request,
        metadata ?? new grpc.Metadata(),
        { deadline },
        (err, response) => {
          signal?.removeEventListener('abort', onAbort);
          if (err) reject(err);
          else if (response === undefined) reject(new Error(`${method.path}: empty response`));
          else resolve(response);
        },
      );
      const onAbort = (): void => call.cancel();
      if (signal?.aborted) call.cancel();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  close(): void {
    this.client.close();
  }
}

function isServiceError(err: unknown): err is grpc.ServiceError {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'number' && 'details' in err;
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

export class EtcdClient {
  readonly endpoints: readonly Endpoint[];
  readonly dialTimeoutMs: number;
  readonly commandTimeoutMs: number;
  private readonly tls: TlsOptions | undefined;
  private readonly hostAddresses: ReadonlyMap<string, string> | undefined;
  /** Channels by endpoint target (and scheme): one per endpoint, shared by all calls. */
  private readonly connections = new Map<string, Connection>();
  /** Index in `endpoints` of the endpoint that answered last: calls start there. */
  private preferred = 0;
  private closed = false;
  private readonly credentials: { name: string; password: string } | undefined;
  /** The token calls carry; undefined before authenticating, or when the server has auth disabled. */
  private token: string | undefined;
  private authenticated: Promise<void> | undefined;
  private authApi: AuthApi | undefined;

  private constructor(opts: ClientOptions) {
    // As clientv3: without both a name and a password, no authentication (requests then go without a token).
    const { username, password } = opts;
    this.credentials = username !== undefined && username !== '' && password !== undefined && password !== '' ? { name: username, password } : undefined;
    this.hostAddresses = opts.hostAddresses;
    this.endpoints = parseEndpoints(opts.endpoints).map((ep) => withResolvedAddress(ep, this.hostAddresses));
    this.dialTimeoutMs = checkTimeout(opts.dialTimeoutMs ?? defaultDialTimeoutMs, 'dialTimeoutMs');
    this.commandTimeoutMs = checkTimeout(opts.commandTimeoutMs ?? defaultCommandTimeoutMs, 'commandTimeoutMs');
    this.tls = opts.tls;
  }

  /** A client that connects lazily, on its first call. Throws a `ClientError` for a malformed endpoint. */
  static create(opts: ClientOptions): EtcdClient {
    return new EtcdClient(opts);
  }

  /**
   * A client connected to one of the endpoints (tried in order, each for up to the dial timeout). Rejects with a
   * `ClientError` of kind `unreachable` naming every endpoint and why it failed.
   */
  static async connect(opts: ClientOptions): Promise<EtcdClient> {
    const client = new EtcdClient(opts);
    try {
      await client.dial();
      return client;
    } catch (err) {
      client.close();
      throw err;
    }
  }

  /** Connects to the first endpoint that answers, which then receives the calls. */
  async dial(): Promise<Endpoint> {
    const failures: DialFailure[] = [];
    for (const ep of this.rotation()) {
      const conn = this.connection(ep);
      const state = await conn.waitReady(Date.now() + this.dialTimeoutMs);
      if (state === 'ready') {
        this.prefer(ep);
        return ep;
      }
      if (state === 'timeout') {
        failures.push({ endpoint: ep.raw, reason: `dial timeout after ${formatMs(this.dialTimeoutMs)}` });
        continue;
      }
      // The channel state does not say why it failed; a call made now fails at once with the reason (or goes
      // through, if the channel has just reconnected). Status is read-only and needs no permission.
      try {
        await conn.unary(MaintenanceService.status, {} as StatusRequest, Date.now() + this.dialTimeoutMs);
        this.prefer(ep);
        return ep;
      } catch (err) {
        if (!isServiceError(err)) throw err;
        if (!isNotConnected(err)) throw fromServiceError(err, ep.raw);
        failures.push(await this.connectFailure(ep, err));
      }
    }
    throw unreachable(failures);
  }

  // ---- KV ----

  /** Reads a key or a range of keys (etcdctl `get`). */
  range(key: KeyInput, opts: RangeOptions = {}, call?: CallOptions): Promise<RangeResponse> {
    return this.call(KVService.range, rangeRequest(key, opts), true, call);
  }

  put(key: KeyInput, value: KeyInput, opts: PutOptions = {}, call?: CallOptions): Promise<PutResponse> {
    return this.call(KVService.put, putRequest(key, value, opts), false, call);
  }

  deleteRange(key: KeyInput, opts: DeleteOptions = {}, call?: CallOptions): Promise<DeleteRangeResponse> {
    return this.call(KVService.deleteRange, deleteRangeRequest(key, opts), false, call);
  }

  /** Build the request with `txnRequest`, `compare` and `op` from ops.ts. */
  txn(request: TxnRequest, call?: CallOptions): Promise<TxnResponse> {
    return this.call(KVService.txn, request, false, call);
  }

  /** Compacts the key-value history up to `revision`; `physical` waits until the old revisions are removed. */
  compact(revision: Int64Input, opts: { physical?: boolean } = {}, call?: CallOptions): Promise<CompactionResponse> {
    const request = CompactionRequest.fromPartial({ revision: int64(revision, 'revision'), physical: opts.physical ?? false });
    return this.call(KVService.compact, request, false, call);
  }

  // ---- Maintenance (per endpoint, like clientv3's `Status(ctx, endpoint)`) ----

  status(endpoint: string, call?: Omit<CallOptions, 'endpoint'>): Promise<StatusResponse> {
    return this.call(MaintenanceService.status, {} as StatusRequest, true, { ...call, endpoint });
  }

  /** Hash of the key-value history up to `revision` (0: all of it) on one endpoint. */
  hashKV(endpoint: string, revision: Int64Input = 0, call?: Omit<CallOptions, 'endpoint'>): Promise<HashKVResponse> {
    const request = HashKVRequest.fromPartial({ revision: int64(revision, 'revision') });
    return this.call(MaintenanceService.hashKv, request, true, { ...call, endpoint });
  }

  defragment(endpoint: string, call?: Omit<CallOptions, 'endpoint'>): Promise<DefragmentResponse> {
    return this.call(MaintenanceService.defragment, {} as DefragmentRequest, false, { ...call, endpoint });
  }

  /** The cluster's active alarms. */
  alarmList(call?: CallOptions): Promise<AlarmResponse> {
    const request = AlarmRequest.fromPartial({ action: AlarmRequest_AlarmAction.GET, memberID: 0n, alarm: AlarmType.NONE });
    return this.call(MaintenanceService.alarm, request, true, call);
  }

  /**
   * Disarms one alarm, or (without `target`) every active alarm, as clientv3's `AlarmDisarm` does for an empty
   * member. The response lists the alarms that were disarmed.
   */
  async alarmDisarm(target?: { memberID: bigint; alarm: AlarmType }, call?: CallOptions): Promise<AlarmResponse> {
    const targets = target !== undefined ? [target] : (await this.alarmList(call)).alarms;
    let last: AlarmResponse | undefined;
    const disarmed: AlarmResponse['alarms'] = [];
    for (const t of targets) {
      const request = AlarmRequest.fromPartial({ action: AlarmRequest_AlarmAction.DEACTIVATE, memberID: t.memberID, alarm: t.alarm });
      last = await this.call(MaintenanceService.alarm, request, false, call);
      disarmed.push(...last.alarms);
    }
    return { header: last?.header, alarms: disarmed };
  }

  // ---- Auth ----

  /** The Auth service: users, roles, permissions, auth enable/disable (see auth.ts). */
  get auth(): AuthApi {
    this.authApi ??= new AuthApi((method, request, idempotent) => this.call(method, request, idempotent));
    return this.authApi;
  }

  /**
   * Authenticates with the client's credentials (once; concurrent callers share the attempt). Rejects with etcd's
   * "authentication failed" for a wrong name or password. Does nothing without credentials.
   */
  authenticate(): Promise<void> {
    const creds = this.credentials;
    if (creds === undefined) return Promise.resolve();
    this.authenticated ??= this.callOnce(AuthService.authenticate, creds, false).then(
      (resp) => {
        this.token = resp.token;
      },
      (err: unknown) => {
        // clientv3 goes on without a token when the server has auth off.
        if (err instanceof ClientError && err.etcdError === 'authNotEnabled') return;
        this.authenticated = undefined;
        throw err;
      },
    );
    return this.authenticated;
  }

  // ---- Cluster ----

  memberList(opts: { linearizable?: boolean } = {}, call?: CallOptions): Promise<MemberListResponse> {
    const request = MemberListRequest.fromPartial({ linearizable: opts.linearizable ?? false });
    return this.call(ClusterService.memberList, request, true, call);
  }

  /** Closes every channel; later calls fail. */
  close(): void {
    this.closed = true;
    for (const conn of this.connections.values()) conn.close();
    this.connections.clear();
  }

  // ---- internals ----

  /** The endpoints in the order calls try them: the preferred one first. */
  private rotation(): Endpoint[] {
    const n = this.endpoints.length;
    return Array.from({ length: n }, (_, i) => this.endpoints[(this.preferred + i) % n]).filter((e): e is Endpoint => e !== undefined);
  }

  private prefer(ep: Endpoint): void {
    const i = this.endpoints.indexOf(ep);
    if (i >= 0) this.preferred = i;
  }

  /** The TLS settings of connections to `ep`, or undefined when it is spoken to in plaintext. */
  private tlsFor(ep: Endpoint): TlsOptions | undefined {
    return usesTls(ep, this.tls) ? (this.tls ?? {}) : undefined;
  }

  /** Why connecting to `ep` failed with `err` (a probing connection may tell more than grpc-js did, see tls.ts). */
  private async connectFailure(ep: Endpoint, err: grpc.ServiceError): Promise<DialFailure> {
    const reason = await explainConnectFailure(ep, this.tlsFor(ep), connectFailureReason(err), Math.min(this.dialTimeoutMs, 3000));
    return { endpoint: ep.raw, reason };
  }

  private connection(ep: Endpoint): Connection {
    const tls = this.tlsFor(ep);
    const key = `${tls !== undefined ? 'https' : 'http'}://${ep.target}`;
    let conn = this.connections.get(key);
    if (conn === undefined) {
      conn = new Connection(ep, tls);
      this.connections.set(key, conn);
    }
    return conn;
  }

  /** The endpoint object for a pinned call: one of ours when it names one, otherwise a new one. */
  private resolve(endpoint: string): Endpoint {
    return this.endpoints.find((e) => e.raw === endpoint.trim()) ?? withResolvedAddress(parseEndpoint(endpoint), this.hostAddresses);
  }

  /**
   * One unary call with the client's token, through the endpoint rotation; a dead token is renewed once and
   * the call repeated (etcd refused it unread). For the service modules beside this one (lease, auth).
   */
  async call<Req, Res>(method: UnaryMethod<Req, Res>, request: Req, idempotent: boolean, opts: CallOptions = {}): Promise<Res> {
    if (this.credentials === undefined) return this.callOnce(method, request, idempotent, opts);
    await this.authenticate();
    try {
      return await this.callOnce(method, request, idempotent, opts, this.tokenMetadata());
    } catch (err) {
      const e = err instanceof ClientError ? err.etcdError : undefined;
      if (e !== 'invalidAuthToken' && e !== 'authOldRevision' && e !== 'userEmpty') throw err;
      this.authenticated = undefined;
      this.token = undefined;
      await this.authenticate();
      return this.callOnce(method, request, idempotent, opts, this.tokenMetadata());
    }
  }

  /**
   * The metadata a stream (Watch, LeaseKeepAlive, Snapshot) must open with so that it carries the client's
   * token: authenticates first if needed; empty without credentials.
   */
  async streamMetadata(): Promise<grpc.Metadata> {
    await this.authenticate();
    return this.tokenMetadata() ?? new grpc.Metadata();
  }

  /**
   * The gRPC channel to one endpoint (shared by every call and stream to it, with the client's TLS
   * settings), for opening streams; pair it with dial() and streamMetadata().
   */
  channel(ep: Endpoint): grpc.Client {
    return this.connection(ep).client;
  }

  private tokenMetadata(): grpc.Metadata | undefined {
    if (this.token === undefined) return undefined;
    const md = new grpc.Metadata();
    md.set('token', this.token);
    return md;
  }

  private async callOnce<Req, Res>(
    method: UnaryMethod<Req, Res>,
    request: Req,
    idempotent: boolean,
    opts: CallOptions = {},
    metadata?: grpc.Metadata,
  ): Promise<Res> {
    if (this.closed) throw new ClientError('etcd client is closed', { code: 'CLOSED', kind: 'bad-request' });
    const candidates = opts.endpoint !== undefined ? [this.resolve(opts.endpoint)] : this.rotation();
    const timeoutMs = checkTimeout(opts.timeoutMs ?? this.commandTimeoutMs, 'timeoutMs');
    const failures: DialFailure[] = [];
    for (const [i, ep] of candidates.entries()) {
      if (opts.signal?.aborted) break;
      const conn = this.connection(ep);
      // 'failed' still goes on to the call: it fails at once with the reason unless the channel has reconnected.
      if ((await conn.waitReady(Date.now() + this.dialTimeoutMs)) === 'timeout') {
        failures.push({ endpoint: ep.raw, reason: `dial timeout after ${formatMs(this.dialTimeoutMs)}` });
        continue;
      }
      try {
        const response = await conn.unary(method, request, Date.now() + timeoutMs, opts.signal, metadata);
        this.prefer(ep);
        return response;
      } catch (err) {
        if (!isServiceError(err)) throw err;
        if (isNotConnected(err)) {
          failures.push(await this.connectFailure(ep, err));
          continue;
        }
        const mapped = fromServiceError(err, ep.raw);
        // A repeatable request that met UNAVAILABLE (a lost connection, or a member with no leader, a
        // changed leader, a learner) goes to the next endpoint, as clientv3's retry interceptor does;
        // a write is retried only when it never reached a server.
        if (idempotent && mapped.grpcCode === grpc.status.UNAVAILABLE && i < candidates.length - 1) {
          failures.push({ endpoint: ep.raw, reason: err.details });
          continue;
        }
        throw mapped;
      }
    }
    if (opts.signal?.aborted) throw new ClientError('context canceled', { code: 'CANCELED', kind: 'canceled' });
    throw unreachable(failures);
  }
}

function checkTimeout(ms: number, what: string): number {
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new ClientError(`${what} must be a positive number of milliseconds, got ${ms}`, { code: 'BAD_REQUEST', kind: 'bad-request' });
  }
  return ms;
}
