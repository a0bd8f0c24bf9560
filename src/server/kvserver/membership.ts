/**
 * The cluster's members as the node knows them: raft attributes (id, peer URLs, learner) come from
 * applied conf changes, attributes (name, client URLs) from each member publishing itself once started.
 * Stored in the backend's `members` bucket so it survives restarts with the data it describes; a member
 * without a name has not started yet (etcdctl shows it as "unstarted").
 */
import type { Logger } from '../../base/logger.js';
import { EtcdApiError } from '../../proto/errors.js';
import type { Member as PbMember } from '../../proto/gen/etcdserverpb/rpc.js';
import { ConfChangeType, type ConfChange } from '../raft/index.js';
import type { Bucket } from '../mvcc/backend.js';

export interface Member {
  readonly id: bigint;
  readonly peerUrls: readonly string[];
  readonly isLearner: boolean;
  readonly name: string;
  readonly clientUrls: readonly string[];
}

interface StoredMember {
  id: string;
  peerURLs: string[];
  isLearner: boolean;
  name: string;
  clientURLs: string[];
}

/** What a conf change's context carries: the member being added or updated (etcd puts its JSON there). */
export interface MemberContext {
  readonly id: string;
  readonly peerURLs: readonly string[];
  readonly isLearner: boolean;
  /** An AddNode that promotes an existing learner (etcd's ConfigChangeContext.IsPromote). */
  readonly isPromote?: boolean;
}

export function encodeMemberContext(m: { id: bigint; peerUrls: readonly string[]; isLearner: boolean; isPromote?: boolean }): Uint8Array {
  const ctx: MemberContext = { id: m.id.toString(16), peerURLs: [...m.peerUrls], isLearner: m.isLearner, ...(m.isPromote ? { isPromote: true } : {}) };
  return Buffer.from(JSON.stringify(ctx), 'utf8');
}

function decodeMemberContext(cc: ConfChange): MemberContext {
  return JSON.parse(Buffer.from(cc.context).toString('utf8')) as MemberContext;
}

/** etcd 3.5 allows one learner at a time (membership.maxLearners). */
const MAX_LEARNERS = 1;

function keyOf(id: bigint): Buffer {
  return Buffer.from(id.toString(16), 'latin1');
}

export class Membership {
  private readonly members = new Map<bigint, Member>();
  /** Removed member ids (the peer transport asks on every incoming stream: no backend read). */
  private readonly removed = new Set<bigint>();

  constructor(
    private readonly bucket: Bucket,
    private readonly removedBucket: Bucket,
    private readonly logger: Logger,
  ) {
    this.load();
  }

  /** Re-reads the members from the backend (after a snapshot from the leader replaced it). */
  reload(): void {
    this.members.clear();
    this.removed.clear();
    this.load();
  }

  private load(): void {
    for (const [, value] of this.bucket.entries()) {
      const s = JSON.parse(value.toString('utf8')) as StoredMember;
      this.members.set(BigInt(`0x${s.id}`), {
        id: BigInt(`0x${s.id}`),
        peerUrls: s.peerURLs,
        isLearner: s.isLearner,
        name: s.name,
        clientUrls: s.clientURLs,
      });
    }
    for (const [key] of this.removedBucket.entries()) this.removed.add(BigInt(`0x${key.toString('latin1')}`));
  }

  get(id: bigint): Member | undefined {
    return this.members.get(id);
  }

  /** A member removed from the cluster: it may never come back under the same id. */
  isRemoved(id: bigint): boolean {
    return this.removed.has(id);
  }

  /** Started members have published their name (etcd's IsStarted). */
  static isStarted(m: Member): boolean {
    return m.name !== '';
  }

  /**
   * etcd's ValidateConfigurationChange, run when a conf change applies (the proposer checked too, but two
   * proposals may race): an invalid change is applied to raft as a no-op and its proposer gets the error.
   */
  validateConfChange(cc: ConfChange): EtcdApiError | undefined {
    const id = cc.nodeId;
    if (this.isRemoved(id)) return new EtcdApiError('memberNotFound');
    switch (cc.type) {
      case ConfChangeType.AddNode:
      case ConfChangeType.AddLearnerNode: {
        const ctx = decodeMemberContext(cc);
        const existing = this.members.get(id);
        if (ctx.isPromote === true) {
          if (existing === undefined) return new EtcdApiError('memberNotFound');
          if (!existing.isLearner) return new EtcdApiError('memberNotLearner');
          return undefined;
        }
        if (existing !== undefined) return new EtcdApiError('memberExist');
        if (this.peerUrlTaken(ctx.peerURLs, id)) return new EtcdApiError('peerURLExist');
        if (ctx.isLearner && this.list().filter((m) => m.isLearner).length + 1 > MAX_LEARNERS) {
          return new EtcdApiError('tooManyLearners');
        }
        return undefined;
      }
      case ConfChangeType.RemoveNode:
        return this.members.has(id) ? undefined : new EtcdApiError('memberNotFound');
      case ConfChangeType.UpdateNode: {
        if (!this.members.has(id)) return new EtcdApiError('memberNotFound');
        return this.peerUrlTaken(decodeMemberContext(cc).peerURLs, id) ? new EtcdApiError('peerURLExist') : undefined;
      }
    }
    return undefined;
  }

  /** Whether another member than `except` already uses one of these peer URLs. */
  peerUrlTaken(urls: readonly string[], except: bigint): boolean {
    for (const m of this.members.values()) {
      if (m.id === except) continue;
      if (m.peerUrls.some((u) => urls.includes(u))) return true;
    }
    return false;
  }

  list(): Member[] {
    return [...this.members.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Applies a committed conf change (inside the apply batch); idempotent, as WAL replay requires. */
  applyConfChange(cc: ConfChange): void {
    switch (cc.type) {
      case ConfChangeType.AddNode:
      case ConfChangeType.AddLearnerNode:
      case ConfChangeType.UpdateNode: {
        const ctx = decodeMemberContext(cc);
        const old = this.members.get(cc.nodeId);
        const isLearner = cc.type === ConfChangeType.UpdateNode ? (old?.isLearner ?? false) : cc.type === ConfChangeType.AddLearnerNode;
        this.save({
          id: cc.nodeId,
          peerUrls: [...ctx.peerURLs],
          isLearner,
          name: old?.name ?? '',
          clientUrls: old?.clientUrls ?? [],
        });
        const what = ctx.isPromote === true ? 'promoted' : old ? 'updated' : isLearner ? 'added as a learner' : 'added';
        this.logger.info(`membership: ${cc.nodeId.toString(16)} ${what} with peer URLs ${ctx.peerURLs.join(',')}`);
        break;
      }
      case ConfChangeType.RemoveNode:
        if (this.members.delete(cc.nodeId)) this.bucket.delete(keyOf(cc.nodeId));
        this.removedBucket.put(keyOf(cc.nodeId), Buffer.from('removed'));
        this.removed.add(cc.nodeId);
        this.logger.info(`membership: ${cc.nodeId.toString(16)} removed`);
        break;
    }
  }

  /** A started member publishing its name and client URLs (inside the apply batch). */
  setAttributes(id: bigint, name: string, clientUrls: readonly string[]): void {
    const m = this.members.get(id);
    if (m === undefined) {
      this.logger.warn(`membership: attributes for unknown member ${id.toString(16)} ignored`);
      return;
    }
    this.save({ ...m, name, clientUrls: [...clientUrls] });
  }

  private save(m: Member): void {
    this.members.set(m.id, m);
    const stored: StoredMember = {
      id: m.id.toString(16),
      peerURLs: [...m.peerUrls],
      isLearner: m.isLearner,
      name: m.name,
      clientURLs: [...m.clientUrls],
    };
    this.bucket.put(keyOf(m.id), Buffer.from(JSON.stringify(stored), 'utf8'));
  }

  /** What a raft snapshot carries besides the backend: the members as JSON, ids in hex (node and restore). */
  snapshotData(): Uint8Array {
    return Buffer.from(JSON.stringify({ members: this.list().map((m) => ({ ...m, id: m.id.toString(16) })) }), 'utf8');
  }

  toProto(): PbMember[] {
    return this.list().map((m) => ({
      ID: m.id,
      name: m.name,
      peerURLs: [...m.peerUrls],
      clientURLs: [...m.clientUrls],
      isLearner: m.isLearner,
    }));
  }
}
