/**
 * The seam through which the node's stateful features (leases, watches, auth, alarms) plug into the
 * apply path and the raft loop, without the core knowing each of them:
 * - `apply` takes the committed requests a feature owns (inside the apply batch, deterministic);
 * - `onKvChanges` sees every key change inside the batch (leases attach and detach keys there);
 * - `afterCommit` sees the changes once the batch is committed (watchers are notified there);
 * - `onLeaderChange` tells a feature when this member starts or stops leading (lease expiry runs on
 *   the leader only);
 * - `onRestore` reloads a feature's state after a snapshot from the leader replaced the backend;
 * - `close` runs when the node stops.
 * Features are built by `installFeatures` in features.ts, in a fixed order.
 */
import type { Logger } from '../../base/logger.js';
import type { InternalRaftRequest } from '../../proto/gen/etcdserverpb/raft_internal.js';
import type { Event } from '../../proto/gen/mvccpb/kv.js';
import type { Backend } from '../mvcc/backend.js';
import type { KvStore, TxnWrite } from '../mvcc/kvstore.js';
import type { ApplyResult } from './apply.js';
import type { ServerConfig } from './config.js';
import type { LeaseLookup } from './kv-ops.js';
import type { ProposalBody } from './server.js';

export interface Feature {
  readonly name: string;
  /** Refuses a committed request before it applies (e.g. writes while the NOSPACE alarm is raised). */
  gate?(req: InternalRaftRequest): Error | undefined;
  apply?(req: InternalRaftRequest, index: number): ApplyResult | undefined;
  onKvChanges?(events: readonly Event[], rev: number): void;
  afterCommit?(events: readonly Event[], rev: number): void;
  onLeaderChange?(isLeader: boolean): void;
  /**
   * The backend was replaced by a snapshot received from the leader (the KV store is already reloaded):
   * drop in-memory state and reload it from the backend.
   */
  onRestore?(): void;
  /**
   * A call from a peer (FeatureContext.callLeader on another member): the answer, or undefined when the
   * method is not this feature's.
   */
  answerPeer?(method: string, payload: Uint8Array, from: bigint): Promise<Uint8Array> | undefined;
  close?(): Promise<void> | void;
}

/** What a feature may use of the node. */
export interface FeatureContext {
  readonly config: ServerConfig;
  readonly logger: Logger;
  readonly backend: Backend;
  readonly kv: KvStore;
  readonly memberId: bigint;
  /**
   * Runs one MVCC write txn inside the current apply batch and routes its changes through every
   * feature's onKvChanges/afterCommit (a lease revoke deletes its keys this way).
   */
  writeKv(fn: (w: TxnWrite) => void): { rev: number; events: readonly Event[] };
  /**
   * Proposes a request through raft (e.g. the leader revoking an expired lease), as `as` when given (the
   * caller's user, or the node itself acting as root while auth is on).
   */
  propose(body: ProposalBody, as?: { username: string; authRevision: number }): Promise<ApplyResult>;
  isLeader(): boolean;
  /**
   * Calls the leader over the peer transport (a follower forwarding what only the leader can answer);
   * the leader's feature answers in `answerPeer`. Rejects with noLeader when there is none.
   */
  callLeader(method: string, payload: Uint8Array): Promise<Uint8Array>;
  /** Lets a feature answer "does this lease exist" for puts (set by the lease feature). */
  setLeaseLookup(lookup: LeaseLookup): void;
}
