/**
 * etcd's Lease API on top of `EtcdClient`, shaped after clientv3's Lease: Grant, Revoke, TimeToLive, Leases,
 * KeepAliveOnce and KeepAlive. IDs and TTLs are bigint (int64); TTLs are seconds.
 *
 * - Unary calls go through the client's own call path (endpoint failover, deadlines, error mapping); reads
 *   (TimeToLive, Leases) may be retried on another endpoint, grants and revokes are never replayed.
 * - `keepAliveOnce` opens a LeaseKeepAlive stream on the endpoint the client is connected to, sends one
 *   request and closes the stream. A TTL of 0 in the answer means the lease is gone: it fails with etcd's
 *   "requested lease not found", as clientv3 does.
 * - `keepAlive` keeps renewing the way clientv3 does: a request when the lease is a third of its TTL old
 *   (checked every 500 ms; resent every 500 ms while unanswered), the stream reopened after 500 ms when the
 *   connection breaks, and it ends when the lease is gone (TTL 0 answer), or when no answer came within
 *   the lease's TTL since the last one (the lease must be considered expired), or when the caller aborts.
 *
 * Calls go through EtcdClient.call (endpoint rotation, token renewal); streams open on its channel with
 * its token (EtcdClient.channel, streamMetadata).
 */
import type * as grpc from '@grpc/grpc-js';

import { GrpcCode, etcdErrors } from '../proto/errors.js';
import {
  LeaseGrantRequest,
  type LeaseGrantResponse,
  type LeaseKeepAliveRequest,
  type LeaseKeepAliveResponse,
  type LeaseLeasesRequest,
  type LeaseLeasesResponse,
  LeaseRevokeRequest,
  type LeaseRevokeResponse,
  LeaseService,
  LeaseTimeToLiveRequest,
  type LeaseTimeToLiveResponse,
} from '../proto/gen/etcdserverpb/rpc.js';
import type { CallOptions, EtcdClient } from './client.js';
import type { Endpoint } from './endpoints.js';
import { ClientError, fromServiceError } from './errors.js';
import { type Int64Input, int64 } from './ops.js';


/** clientv3's keep-alive cadence: how often due renewals and deadlines are checked. */
const KEEPALIVE_TICK_MS = 500;
/** clientv3's pause before reopening a broken keep-alive stream. */
const KEEPALIVE_RETRY_MS = 500;
/** clientv3's defaultTTL: the deadline of a keep-alive before its first answer. */
const KEEPALIVE_FIRST_DEADLINE_MS = 5000;

function streamEnded(endpoint: string): ClientError {
  return new ClientError('lease keep-alive stream closed by the server', {
    code: 'GRPC_UNAVAILABLE',
    kind: 'server',
    grpcCode: GrpcCode.UNAVAILABLE,
    endpoint,
  });
}

/** etcd's "requested lease not found", as the client reports it. */
export function leaseNotFound(endpoint?: string): ClientError {
  const { code, message } = etcdErrors.leaseNotFound;
  return new ClientError(message, { code: 'ETCD_LEASE_NOT_FOUND', kind: 'server', grpcCode: code, etcdError: 'leaseNotFound', endpoint });
}

export type KeepAliveOptions = {
  /** Called with every answer that renewed the lease. */
  onResponse?: (resp: LeaseKeepAliveResponse) => void;
  /** Stops keeping the lease alive (the promise then resolves with 'canceled'). */
  signal?: AbortSignal;
};

/** Why `keepAlive` ended: the lease is gone or its TTL passed unanswered, or the caller aborted. */
export type KeepAliveEnd = 'expired' | 'canceled';

function isServiceError(err: unknown): err is grpc.ServiceError {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'number' && 'details' in err;
}

export class LeaseApi {
  constructor(private readonly client: EtcdClient) {}

  /** Grants a lease of `ttl` seconds (the server raises it to its minimum); `id` 0 lets the server choose. */
  grant(ttl: Int64Input, opts: { id?: Int64Input } = {}, call?: CallOptions): Promise<LeaseGrantResponse> {
    const request = LeaseGrantRequest.fromPartial({ TTL: int64(ttl, 'ttl'), ID: int64(opts.id, 'lease ID') });
    return this.client.call(LeaseService.leaseGrant, request, false, call);
  }

  /** Revokes a lease and deletes every key attached to it. */
  revoke(id: Int64Input, call?: CallOptions): Promise<LeaseRevokeResponse> {
    const request = LeaseRevokeRequest.fromPartial({ ID: int64(id, 'lease ID') });
    return this.client.call(LeaseService.leaseRevoke, request, false, call);
  }

  /** Remaining and granted TTL (TTL -1 for a lease that does not exist), and the attached keys with `keys`. */
  timeToLive(id: Int64Input, opts: { keys?: boolean } = {}, call?: CallOptions): Promise<LeaseTimeToLiveResponse> {
    const request = LeaseTimeToLiveRequest.fromPartial({ ID: int64(id, 'lease ID'), keys: opts.keys ?? false });
    return this.client.call(LeaseService.leaseTimeToLive, request, true, call);
  }

  /** Every lease's ID. */
  leases(call?: CallOptions): Promise<LeaseLeasesResponse> {
    return this.client.call(LeaseService.leaseLeases, {} as LeaseLeasesRequest, true, call);
  }

  /** Renews a lease once. Fails with etcd's "requested lease not found" when it does not exist any more. */
  async keepAliveOnce(id: Int64Input, call: Omit<CallOptions, 'endpoint'> = {}): Promise<LeaseKeepAliveResponse> {
    const ID = int64(id, 'lease ID');
    const ep = await this.client.dial();
    const metadata = await this.client.streamMetadata();
    const timeoutMs = call.timeoutMs ?? this.client.commandTimeoutMs;
    const stream = this.openStream(ep, metadata, { deadline: Date.now() + timeoutMs });
    const onAbort = (): void => stream.cancel();
    call.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const resp = await new Promise<LeaseKeepAliveResponse>((resolve, reject) => {
        stream.once('data', (r: LeaseKeepAliveResponse) => resolve(r));
        stream.once('error', (err: unknown) => reject(isServiceError(err) ? fromServiceError(err, ep.raw) : err));
        stream.once('end', () => reject(streamEnded(ep.raw)));
        stream.write({ ID });
      });
      if (resp.TTL <= 0n) throw leaseNotFound(ep.raw);
      return resp;
    } finally {
      call.signal?.removeEventListener('abort', onAbort);
      stream.removeAllListeners('data');
      stream.on('error', () => {});
      stream.end();
      stream.cancel();
    }
  }

  /**
   * Keeps a lease alive until it is gone or `opts.signal` aborts (see the module comment). Resolves with
   * why it ended; rejects only when the first connection cannot be made or the server answers with an
   * error that retrying cannot fix.
   */
  async keepAlive(id: Int64Input, opts: KeepAliveOptions = {}): Promise<KeepAliveEnd> {
    const ID = int64(id, 'lease ID');
    let ep = await this.client.dial();
    const metadata = await this.client.streamMetadata();
    return await new Promise<KeepAliveEnd>((resolve, reject) => {
      let stream: grpc.ClientDuplexStream<LeaseKeepAliveRequest, LeaseKeepAliveResponse> | undefined;
      let nextSend = 0;
      // clientv3 assumes a 5 s TTL until the first answer tells the real one.
      let deadline = Date.now() + KEEPALIVE_FIRST_DEADLINE_MS;
      let retry: NodeJS.Timeout | undefined;
      let finished = false;

      const finish = (end: KeepAliveEnd | Error): void => {
        if (finished) return;
        finished = true;
        clearInterval(ticker);
        if (retry) clearTimeout(retry);
        opts.signal?.removeEventListener('abort', onAbort);
        closeStream();
        if (end instanceof Error) reject(end);
        else resolve(end);
      };
      const closeStream = (): void => {
        const s = stream;
        stream = undefined;
        if (s === undefined) return;
        s.removeAllListeners();
        s.on('error', () => {});
        s.cancel();
      };
      const send = (): void => {
        if (stream === undefined) return;
        stream.write({ ID });
        // Resent on a later tick if no answer arrives meanwhile.
        nextSend = Date.now() + KEEPALIVE_TICK_MS;
      };
      const reconnect = (): void => {
        retry = setTimeout(() => {
          retry = undefined;
          this.client.dial().then(
            (e) => {
              if (finished) return;
              ep = e;
              open();
            },
            () => {
              if (!finished) reconnect();
            },
          );
        }, KEEPALIVE_RETRY_MS);
      };
      const broken = (s: typeof stream, err: Error): void => {
        if (stream !== s || finished) return;
        closeStream();
        // A broken connection or a leader change is retried (until the deadline); anything else is final.
        const retriable = err instanceof ClientError && (err.kind === 'unreachable' || err.grpcCode === GrpcCode.UNAVAILABLE);
        if (retriable) reconnect();
        else finish(err);
      };
      const open = (): void => {
        const s = this.openStream(ep, metadata, {});
        stream = s;
        s.on('data', (resp: LeaseKeepAliveResponse) => {
          if (resp.TTL <= 0n) return finish('expired');
          const ttlMs = Number(resp.TTL) * 1000;
          nextSend = Date.now() + ttlMs / 3;
          deadline = Date.now() + ttlMs;
          opts.onResponse?.(resp);
        });
        s.on('error', (err: unknown) => broken(s, isServiceError(err) ? fromServiceError(err, ep.raw) : (err as Error)));
        s.on('end', () => broken(s, streamEnded(ep.raw)));
        send();
      };
      const onAbort = (): void => finish('canceled');
      const ticker = setInterval(() => {
        const now = Date.now();
        if (now >= deadline) return finish('expired');
        if (now >= nextSend) send();
      }, KEEPALIVE_TICK_MS);

      if (opts.signal?.aborted) return finish('canceled');
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      open();
    });
  }

  private openStream(
    ep: Endpoint,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
  ): grpc.ClientDuplexStream<LeaseKeepAliveRequest, LeaseKeepAliveResponse> {
    const m = LeaseService.leaseKeepAlive;
    return this.client.channel(ep).makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, metadata, options);
  }
}

export type {
  LeaseGrantResponse,
  LeaseKeepAliveResponse,
  LeaseLeasesResponse,
  LeaseRevokeResponse,
  LeaseTimeToLiveResponse,
} from '../proto/gen/etcdserverpb/rpc.js';
