/**
 * The cluster's members as the node knows them: raft attributes (id, peer URLs, learner) come from
 * applied conf changes, attributes (name, client URLs) from each member publishing itself once started.
 * Stored in the backend's `members` bucket so it survives restarts with the data it describes; a member
 * without a name has not started yet (etcdctl shows it as "unstarted").
 */
import type { Logger } from '../../base/logger.js';
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
}

export function encodeMemberContext(m: { id: bigint; peerUrls: readonly string[]; isLearner: boolean }): Uint8Array {
  const ctx: MemberContext = { id: m.id.toString(16), peerURLs: [...m.peerUrls], isLearner: m.isLearner };
  return Buffer.from(JSON.stringify(ctx), 'utf8');
}

function keyOf(id: bigint): Buffer {
  return Buffer.from(id.toString(16), 'latin1');
}

export class Membership {
  private readonly members = new Map<bigint, Member>();

  constructor(
    private readonly bucket: Bucket,
    private readonly logger: Logger,
  ) {
    for (const [, value] of bucket.entries()) {
      const s = JSON.parse(value.toString('utf8')) as StoredMember;
      this.members.set(BigInt(`0x${s.id}`), {
        id: BigInt(`0x${s.id}`),
        peerUrls: s.peerURLs,
        isLearner: s.isLearner,
        name: s.name,
        clientUrls: s.clientURLs,
      });
    }
  }

  get(id: bigint): Member | undefined {
    return this.members.get(id);
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
        const ctx = JSON.parse(Buffer.from(cc.context).toString('utf8')) as MemberContext;
        const old = this.members.get(cc.nodeId);
        this.save({
          id: cc.nodeId,
          peerUrls: [...ctx.peerURLs],
          isLearner: cc.type === ConfChangeType.AddLearnerNode,
          name: old?.name ?? '',
          clientUrls: old?.clientUrls ?? [],
        });
        this.logger.info(`membership: ${cc.nodeId.toString(16)} ${old ? 'updated' : 'added'} with peer URLs ${ctx.peerURLs.join(',')}`);
        break;
      }
      case ConfChangeType.RemoveNode:
        if (this.members.delete(cc.nodeId)) this.bucket.delete(keyOf(cc.nodeId));
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
