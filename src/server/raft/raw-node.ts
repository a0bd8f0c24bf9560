/**
 * RawNode: the raft core's whole interface to an application (etcd-io/raft's RawNode, without threads).
 *
 * The application drives it from one loop:
 *   - call `tick()` at a fixed interval (the only notion of time raft has);
 *   - `step()` every message received from a peer; `propose()`, `readIndex()` ... on client requests;
 *   - when `hasReady()`, take `ready()` and, in this order:
 *       1. persist `hardState`, `entries` and `snapshot` (durably, before anything below);
 *       2. send `messages`;
 *       3. apply `snapshot`, then `committedEntries` (calling `applyConfChange` for conf change entries),
 *          and serve reads whose `readStates` index is applied;
 *       4. call `advance()`.
 *   Committed entries may include entries of the same Ready's `entries` (a single-voter group commits on
 *   append): that is why persisting comes first.
 *   `step()` may be called between `ready()` and `advance()`; `ready()` may not be called again before
 *   `advance()`.
 */
import { encodeConfChange, encodeConfChangeV2 } from './codec.js';
import { ErrInvalidConfig, ErrInvalidMessage, ErrStepLocalMsg, ErrStepPeerNotFound, RaftInvariantError } from './errors.js';
import { Raft, type RaftConfig, type SoftState } from './raft.js';
import {
  type ConfChange,
  ConfChangeType,
  type ConfChangeV2,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  type NodeId,
  type Snapshot,
  None,
  confChangeAsV2,
  emptyBytes,
  emptyHardState,
  hardStateEqual,
  isLocalMsg,
  isResponseMsg,
  newMessage,
} from './raftpb.js';
import type { ReadState } from './read-only.js';
import { type BasicStatus, type Status, basicStatus, status } from './status.js';

/** What the application must do next; see the module comment for the order. */
export interface Ready {
  /** The leader or role changed (undefined if not). Volatile: not persisted. */
  readonly softState: SoftState | undefined;
  /** The HardState to persist with `entries` (undefined if unchanged). */
  readonly hardState: HardState | undefined;
  /** Confirmed read requests: serve each once the applied index reaches its index. */
  readonly readStates: readonly ReadState[];
  /** Entries to persist (they may replace a persisted tail from their first index on). */
  readonly entries: readonly Entry[];
  /** A snapshot from the leader to persist and apply (undefined if none). */
  readonly snapshot: Snapshot | undefined;
  /** Entries to apply to the state machine, in order. */
  readonly committedEntries: readonly Entry[];
  /**
   * Messages to send once the above is persisted. A MsgSnap carries the storage's latest snapshot; the
   * application may (and a real server should, as etcd does) replace it with a fresh snapshot of its state
   * machine at its applied index: the receiver refuses a snapshot whose ConfState does not include it,
   * which an old snapshot taken before the receiver was added would not.
   */
  readonly messages: readonly Message[];
  /** Whether the write of hardState/entries must be synced to disk (it can be buffered otherwise). */
  readonly mustSync: boolean;
}

export type SnapshotStatus = 'finish' | 'failure';

export class RawNode {
  readonly raft: Raft;
  private prevSoftState: SoftState;
  private prevHardState: HardState;
  /** The Ready handed out and not yet advanced. */
  private pending: Ready | undefined = undefined;

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.prevSoftState = this.raft.softState();
    this.prevHardState = this.raft.hardState();
  }

  /**
   * Initializes a brand-new member of a brand-new group: its log starts with one committed AddNode conf
   * change per initial member (term 1, indexes 1..n), so that any member that later replays the log from
   * the start (a member added without a snapshot) builds the same configuration. The entries appear in
   * the first Ready to be persisted and applied like any other (applying them again is harmless).
   * Throws if the storage already holds a log: a restarting node must not bootstrap again.
   */
  bootstrap(peers: readonly { id: NodeId; context?: Uint8Array }[]): void {
    const r = this.raft;
    if (peers.length === 0) throw new ErrInvalidConfig('raft: must provide at least one peer to bootstrap');
    if (r.raftLog.storage.lastIndex() !== 0) throw new ErrInvalidConfig("raft: can't bootstrap a nonempty Storage");
    // Nothing is persisted yet: make the first Ready carry the HardState.
    this.prevHardState = emptyHardState;
    r.becomeFollower(1, None);
    const entries: Entry[] = peers.map((p, i) => ({
      term: 1,
      index: i + 1,
      type: EntryType.ConfChange,
      data: encodeConfChange({ type: ConfChangeType.AddNode, nodeId: p.id, context: p.context ?? emptyBytes, id: 0n }),
    }));
    r.raftLog.append(entries);
    // The bootstrap entries are committed by definition (every initial member writes the same ones). Apply
    // them now so that campaign() works at once; raft.applied stays 0 so the application still sees them
    // in committedEntries.
    r.raftLog.committed = entries.length;
    for (const p of peers) r.applyConfChange({ transition: 0, changes: [{ type: ConfChangeType.AddNode, nodeId: p.id }], context: emptyBytes });
  }

  /** Advances the logical clock by one tick (elections and heartbeats are counted in ticks). */
  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (pre-vote first when enabled). */
  campaign(): void {
    this.raft.step(newMessage({ type: MessageType.MsgHup, from: this.raft.id }));
  }

  /** Proposes `data` for the log. Throws ErrProposalDropped if it cannot be accepted now. */
  propose(data: Uint8Array): void {
    this.raft.step(
      newMessage({
        type: MessageType.MsgProp,
        from: this.raft.id,
        entries: [{ term: 0, index: 0, type: EntryType.Normal, data }],
      }),
    );
  }

  /**
   * Proposes a membership change. It takes effect when its entry is committed and the application calls
   * `applyConfChange` with it. Throws ErrProposalDropped if it cannot be accepted now; a change the leader
   * refuses (another is still pending, or it conflicts with a joint config) is replaced by an empty entry.
   */
  proposeConfChange(cc: ConfChange | ConfChangeV2): void {
    const isV2 = 'changes' in cc;
    const entry: Entry = {
      term: 0,
      index: 0,
      type: isV2 ? EntryType.ConfChangeV2 : EntryType.ConfChange,
      data: isV2 ? encodeConfChangeV2(cc) : encodeConfChange(cc),
    };
    this.raft.step(newMessage({ type: MessageType.MsgProp, from: this.raft.id, entries: [entry] }));
  }

  /** Applies a committed conf change; returns the resulting ConfState (to store with the state machine). */
  applyConfChange(cc: ConfChange | ConfChangeV2): ConfState {
    return this.raft.applyConfChange(confChangeAsV2(cc));
  }

  /**
   * Feeds a message received from a peer. Local-only message types, responses from unknown peers and
   * malformed messages are refused with an error and change nothing.
   */
  step(m: Message): void {
    if (isLocalMsg(m.type)) throw new ErrStepLocalMsg();
    if (isResponseMsg(m.type) && !this.raft.trk.progress.has(m.from)) throw new ErrStepPeerNotFound();
    checkMessageShape(m);
    this.raft.step(m);
  }

  /** Asks the leader to hand leadership to `transferee` (forwarded if this node is a follower). */
  transferLeader(transferee: NodeId): void {
    this.raft.step(newMessage({ type: MessageType.MsgTransferLeader, from: transferee }));
  }

  /**
   * Requests a linearizable read. `ctx` identifies the request; when leadership is confirmed a ReadState
   * with the same ctx appears in a Ready. The request may be lost (leader change): time out and retry.
   */
  readIndex(ctx: Uint8Array): void {
    this.raft.step(newMessage({ type: MessageType.MsgReadIndex, entries: [{ term: 0, index: 0, type: EntryType.Normal, data: ctx }] }));
  }

  /** Tells raft the last message to `id` could not be delivered (it goes back to probing that peer). */
  reportUnreachable(id: NodeId): void {
    this.raft.step(newMessage({ type: MessageType.MsgUnreachable, from: id }));
  }

  /**
   * Tells raft the transport's working connection to `id` broke (reset or closed by the peer, not by us).
   * If `id` leads this follower, its lease ends now and an election follows within an election timeout
   * unless the leader is heard from again (see Raft.connectionLost: safe with pre-vote and check-quorum).
   */
  reportConnectionLost(id: NodeId): void {
    this.raft.connectionLost(id);
  }

  /**
   * Tells raft how sending a snapshot to `id` ended, so that replication to it resumes. The application
   * must report every MsgSnap it was handed: until it does, the leader sends that follower nothing else.
   */
  reportSnapshot(id: NodeId, result: SnapshotStatus): void {
    this.raft.step(newMessage({ type: MessageType.MsgSnapStatus, from: id, reject: result === 'failure' }));
  }

  hasReady(): boolean {
    if (this.pending !== undefined) return false;
    const r = this.raft;
    if (r.msgs.length > 0 || r.hasDeferred()) return true;
    // Compared field by field: the driver asks this after every message, so it allocates nothing.
    const soft = this.prevSoftState;
    if (r.lead !== soft.lead || r.state !== soft.raftState) return true;
    const hard = this.prevHardState;
    if (r.term !== hard.term || r.vote !== hard.vote || r.raftLog.committed !== hard.commit) return true;
    if (r.raftLog.hasNextUnstableSnapshot()) return true;
    if (r.raftLog.nextUnstableEntries().length > 0 || r.raftLog.hasNextCommittedEntries()) return true;
    return r.readStates.length > 0;
  }

  /** Collects what the application must persist, send and apply; see the module comment. */
  ready(): Ready {
    if (this.pending !== undefined) throw new RaftInvariantError('raft: ready() called again before advance()');
    const r = this.raft;
    const messages = r.takeMessages();
    const soft = r.softState();
    const softChanged = soft.lead !== this.prevSoftState.lead || soft.raftState !== this.prevSoftState.raftState;
    const hs = r.hardState();
    const hardChanged = !hardStateEqual(hs, this.prevHardState);
    const entries = r.raftLog.nextUnstableEntries().slice();
    const committedEntries = r.raftLog.nextCommittedEntries();
    const readStates = r.readStates;
    r.readStates = [];
    const rd: Ready = {
      softState: softChanged ? soft : undefined,
      hardState: hardChanged ? hs : undefined,
      readStates,
      entries,
      snapshot: r.raftLog.unstable.snapshot,
      committedEntries,
      messages,
      mustSync: entries.length > 0 || hs.term !== this.prevHardState.term || hs.vote !== this.prevHardState.vote,
    };
    if (softChanged) this.prevSoftState = soft;
    const lastCommitted = committedEntries[committedEntries.length - 1];
    if (lastCommitted !== undefined) r.raftLog.acceptApplying(lastCommitted.index);
    this.pending = rd;
    return rd;
  }

  /** Declares the last Ready persisted, sent and applied. */
  advance(): void {
    const rd = this.pending;
    if (rd === undefined) throw new RaftInvariantError('raft: advance() called without a pending ready()');
    this.pending = undefined;
    const r = this.raft;
    if (rd.hardState !== undefined) this.prevHardState = rd.hardState;
    let payload = 0;
    for (const e of rd.committedEntries) payload += e.data.length;
    r.reduceUncommittedSize(payload);
    const lastCommitted = rd.committedEntries[rd.committedEntries.length - 1];
    const applied = lastCommitted?.index ?? rd.snapshot?.metadata.index ?? 0;
    if (applied > 0) r.appliedTo(applied);
    const lastEntry = rd.entries[rd.entries.length - 1];
    if (lastEntry !== undefined) r.raftLog.stableTo(lastEntry.index, lastEntry.term);
    if (rd.snapshot !== undefined) r.raftLog.stableSnapTo(rd.snapshot.metadata.index);
  }

  status(): Status {
    return status(this.raft);
  }

  basicStatus(): BasicStatus {
    return basicStatus(this.raft);
  }
}

/** Refuses messages whose fields contradict their type (nothing a peer sends may break an invariant). */
function checkMessageShape(m: Message): void {
  switch (m.type) {
    case MessageType.MsgProp:
      if (m.entries.length === 0) throw new ErrInvalidMessage('raft: MsgProp without entries');
      break;
    case MessageType.MsgReadIndex:
      if (m.entries.length !== 1) throw new ErrInvalidMessage('raft: MsgReadIndex must carry exactly one entry');
      break;
    case MessageType.MsgSnap:
      if (m.snapshot === undefined || m.snapshot.metadata.index === 0) throw new ErrInvalidMessage('raft: MsgSnap without a snapshot');
      break;
    case MessageType.MsgApp:
      for (let i = 0; i < m.entries.length; i++) {
        if ((m.entries[i] as Entry).index !== m.index + 1 + i) throw new ErrInvalidMessage('raft: MsgApp entries are not contiguous');
      }
      break;
  }
}
