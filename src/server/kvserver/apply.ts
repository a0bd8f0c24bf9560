/**
 * Applies one committed request to the state machine (inside the raft loop's backend transaction).
 * Apply is deterministic: the same entries give the same state and the same answers on every member and
 * on every replay. An error that belongs to the request (a compacted revision, a missing key for
 * ignore_value) becomes that request's answer; anything else escapes and stops the node.
 */
import type { Logger } from '../../base/logger.js';
import { KvError } from '../../base/errors.js';
import type { InternalRaftRequest } from '../../proto/gen/etcdserverpb/raft_internal.js';
import type { CompactionResponse, ResponseHeader } from '../../proto/gen/etcdserverpb/rpc.js';
import { EtcdApiError } from '../../proto/errors.js';
import type { Event } from '../../proto/gen/mvccpb/kv.js';
import type { KvStore, TxnWrite } from '../mvcc/kvstore.js';
import type { Feature } from './feature.js';
import { type LeaseLookup, deleteRange, put, range, stampRevision, txn } from './kv-ops.js';
import type { Membership } from './membership.js';

export interface ApplyResult {
  /** The response to send, with header.revision set; undefined when `error` is. */
  readonly response: unknown;
  readonly error: Error | undefined;
  /** For a compaction: settles when the compacted revisions are physically gone. */
  readonly physicalDone?: Promise<void>;
}

function ok(response: unknown, physicalDone?: Promise<void>): ApplyResult {
  return { response, error: undefined, physicalDone };
}

function header(rev: number): ResponseHeader {
  return { clusterId: 0n, memberId: 0n, revision: BigInt(rev), raftTerm: 0n };
}

const noLeases: LeaseLookup = { exists: () => false };

export class Applier {
  features: readonly Feature[] = [];
  leases: LeaseLookup = noLeases;
  /** Changes made by the current apply batch, for the features' afterCommit once it commits. */
  private committed: Array<{ events: readonly Event[]; rev: number }> = [];

  constructor(
    private readonly kv: KvStore,
    private readonly membership: Membership,
    private readonly logger: Logger,
  ) {}

  /** Ends a write txn and lets every feature see its changes (inside the batch). */
  endWrite(w: TxnWrite): { rev: number; events: readonly Event[] } {
    const { rev, events } = w.end();
    if (events.length > 0) {
      for (const f of this.features) f.onKvChanges?.(events, rev);
      this.committed.push({ events, rev });
    }
    return { rev, events };
  }

  /** Runs `fn` in one write txn routed through endWrite. */
  writeKv(fn: (w: TxnWrite) => void): { rev: number; events: readonly Event[] } {
    const w = this.kv.write();
    fn(w);
    return this.endWrite(w);
  }

  /** The batch committed: hand its changes to the features, in order. */
  afterCommit(): void {
    const batch = this.committed;
    this.committed = [];
    for (const { events, rev } of batch) for (const f of this.features) f.afterCommit?.(events, rev);
  }

  /** The batch rolled back: its changes never happened. */
  discard(): void {
    this.committed = [];
  }

  apply(req: InternalRaftRequest, index: number): ApplyResult {
    for (const f of this.features) {
      const refused = f.gate?.(req);
      if (refused !== undefined) return { response: undefined, error: refused };
    }
    try {
      return this.dispatch(req, index);
    } catch (err) {
      // Errors that are the request's answer; any other error is a bug or a broken disk and must stop apply.
      if (err instanceof EtcdApiError || (err instanceof KvError && isRequestError(err))) {
        return { response: undefined, error: err };
      }
      this.logger.error(`apply: entry ${index} failed: ${(err as Error).message}`);
      throw err;
    }
  }

  private dispatch(req: InternalRaftRequest, index: number): ApplyResult {
    if (req.put !== undefined) {
      const w = this.kv.write();
      const resp = put(w, req.put, this.leases);
      const { rev } = this.endWrite(w);
      if (resp.header) resp.header.revision = BigInt(rev);
      return ok(resp);
    }
    if (req.deleteRange !== undefined) {
      const w = this.kv.write();
      const resp = deleteRange(w, req.deleteRange);
      const { rev } = this.endWrite(w);
      if (resp.header) resp.header.revision = BigInt(rev);
      return ok(resp);
    }
    if (req.txn !== undefined) {
      // A txn whose branches only read changes nothing: its write txn ends at the current revision.
      const w = this.kv.write();
      const resp = txn(w, req.txn, this.leases);
      const { rev } = this.endWrite(w);
      stampRevision(resp, rev);
      return ok(resp);
    }
    if (req.range !== undefined) {
      return ok(range(this.kv, req.range));
    }
    if (req.compaction !== undefined) {
      const { physicalDone } = this.kv.compact(Number(req.compaction.revision));
      const resp: CompactionResponse = { header: header(this.kv.currentRevision) };
      // Nobody may be waiting for it; a failure is logged where it happens, not left unhandled.
      physicalDone.catch(() => {});
      return ok(resp, physicalDone);
    }
    if (req.clusterMemberAttrSet !== undefined) {
      const a = req.clusterMemberAttrSet;
      this.membership.setAttributes(a.memberID, a.memberAttributes?.name ?? '', a.memberAttributes?.clientUrls ?? []);
      return ok({});
    }
    for (const f of this.features) {
      const result = f.apply?.(req, index);
      if (result !== undefined) return result;
    }
    this.logger.warn('apply: an entry with no request this node knows was skipped');
    return ok({});
  }
}

/** MVCC errors that answer a request (compacted or future revision) rather than signal a broken store. */
function isRequestError(err: KvError): boolean {
  return err.code === 'MVCC_COMPACTED' || err.code === 'MVCC_FUTURE_REV';
}
