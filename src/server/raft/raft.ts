/**
 * The Raft protocol as a deterministic state machine (after etcd-io/raft): inputs are `tick()` and
 * `step(message)`, outputs are buffered (messages in `msgs`, log changes in `raftLog`) and collected by
 * RawNode into a Ready. There is no I/O, no clock and no randomness other than the injected `Rng`.
 *
 * Roles are swapped functions, not subclasses: `becomeFollower`/`becomeCandidate`/... set `stepFn` (how
 * messages are handled) and `tickFn` (what a tick does). Timers are local messages: when enough ticks have
 * passed, the node steps a MsgHup (start an election), MsgBeat (send heartbeats) or MsgCheckQuorum to
 * itself.
 *
 * References in comments: §n is the Raft paper (Ongaro & Ousterhout, 2014); "thesis" is Ongaro's
 * dissertation (2014), which adds pre-vote (§9.6), leadership transfer (§3.10), ReadIndex (§6.4) and
 * joint consensus for arbitrary membership changes (§4.3).
 */
import type { Logger } from '../../base/logger.js';
import { noopLogger } from '../../base/logger.js';
import type { Rng } from '../../base/rng.js';
import { decodeConfChange, decodeConfChangeV2 } from './codec.js';
import { describeConfState } from './describe.js';
import { Changer, type ChangeResult } from './confchange/changer.js';
import { restoreConfState } from './confchange/restore.js';
import { ErrCompacted, ErrInvalidConfig, ErrProposalDropped, ErrSnapshotTemporarilyUnavailable, RaftInvariantError } from './errors.js';
import { RaftLog } from './log.js';
import { VoteResult } from './quorum/quorum.js';
import {
  type ConfChangeV2,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  type NodeId,
  None,
  type Snapshot,
  confChangeAsV2,
  confChangeEntersJoint,
  confChangeLeavesJoint,
  emptyBytes,
  fmtId,
  isEmptySnap,
  messageTypeName,
  newMessage,
  voteRespMsgType,
} from './raftpb.js';
import { ReadOnly, ReadOnlyOption, type ReadState } from './read-only.js';
import type { Storage } from './storage.js';
import { Inflights } from './tracker/inflights.js';
import type { Progress} from './tracker/progress.js';
import { ProgressState } from './tracker/progress.js';
import { ProgressTracker, type ProgressMap, sortIds, type TrackerConfig } from './tracker/tracker.js';

export const StateType = {
  Follower: 0,
  Candidate: 1,
  Leader: 2,
  PreCandidate: 3,
} as const;
export type StateType = (typeof StateType)[keyof typeof StateType];

const stateNames = ['StateFollower', 'StateCandidate', 'StateLeader', 'StatePreCandidate'] as const;

export function stateName(s: StateType): string {
  return stateNames[s];
}

/** How a campaign was started; a transfer campaign skips pre-vote and overrides leader leases. */
type CampaignType = 'CampaignPreElection' | 'CampaignElection' | 'CampaignTransfer';

const campaignTransferContext = new TextEncoder().encode('CampaignTransfer');

function isCampaignTransfer(ctx: Uint8Array | undefined): boolean {
  if (ctx === undefined || ctx.length !== campaignTransferContext.length) return false;
  for (let i = 0; i < ctx.length; i++) if (ctx[i] !== campaignTransferContext[i]) return false;
  return true;
}

export interface RaftConfig {
  /** This node's id; never 0. */
  readonly id: NodeId;
  /**
   * Ticks without hearing from a leader before a follower campaigns. The actual timeout is drawn from
   * [electionTick, 2 * electionTick) for every term, so that split votes resolve (§5.2).
   */
  readonly electionTick: number;
  /** Ticks between a leader's heartbeats; must be less than electionTick (10x less is usual). */
  readonly heartbeatTick: number;
  readonly storage: Storage;
  /**
   * The last applied index, when restarting: entries at or below it are not handed out again. Must not be
   * above the persisted commit index.
   */
  readonly applied?: number;
  /** The most bytes of entries in one MsgApp (at least one entry is always sent). Default 1 MiB. */
  readonly maxSizePerMsg?: number;
  /** The most bytes of committed entries in one Ready. Default: maxSizePerMsg. */
  readonly maxCommittedSizePerReady?: number;
  /**
   * The most payload bytes of entries a leader keeps uncommitted; further proposals are dropped until
   * some commit. Default: no limit.
   */
  readonly maxUncommittedEntriesSize?: number;
  /** The most MsgApp in flight to one follower while replicating. Default 256. */
  readonly maxInflightMsgs?: number;
  /** The most payload bytes in flight to one follower; 0 for no limit. Default 0. */
  readonly maxInflightBytes?: number;
  /**
   * Leader steps down when it has not heard from a quorum within an election timeout, and followers
   * ignore vote requests while they hear from a leader (the leader lease). Default true.
   */
  readonly checkQuorum?: boolean;
  /**
   * A candidate first asks whether it could win (thesis §9.6) and only increases its term if so, so a node
   * rejoining after a partition does not depose a healthy leader. Default true.
   */
  readonly preVote?: boolean;
  readonly readOnlyOption?: ReadOnlyOption;
  /** Followers drop proposals instead of forwarding them to the leader. Default false. */
  readonly disableProposalForwarding?: boolean;
  /** The source of randomized election timeouts. */
  readonly rng: Rng;
  readonly logger?: Logger;
}

export interface SoftState {
  readonly lead: NodeId;
  readonly raftState: StateType;
}

const MiB = 1024 * 1024;

export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = None;
  readStates: ReadState[] = [];
  readonly raftLog: RaftLog;
  readonly trk: ProgressTracker;
  state: StateType = StateType.Follower;
  /** Whether this node is a learner in the active config. */
  isLearner = false;
  /** Messages to send, collected by the next Ready. */
  msgs: Message[] = [];
  lead: NodeId = None;
  /** While a leadership transfer is under way, the node it goes to. */
  leadTransferee: NodeId = None;
  /**
   * The log index of the last conf change proposed by this leader (or its last index when it became
   * leader). A new conf change is only accepted once the applied index has passed it, so at most one
   * change is in flight.
   */
  pendingConfIndex = 0;
  /** Payload bytes of entries appended by this leader and not yet committed (flow control). */
  uncommittedSize = 0;
  readOnly: ReadOnly;
  electionElapsed = 0;
  heartbeatElapsed = 0;
  readonly checkQuorum: boolean;
  readonly preVote: boolean;
  readonly heartbeatTimeout: number;
  readonly electionTimeout: number;
  randomizedElectionTimeout = 0;
  /** Read requests that arrived before this leader committed an entry of its term (answered after). */
  pendingReadIndexMessages: Message[] = [];

  private readonly maxMsgSize: number;
  private readonly maxUncommittedSize: number;
  private readonly disableProposalForwarding: boolean;
  private readonly rng: Rng;
  readonly logger: Logger;
  private tickFn: () => void = () => this.tickElection();
  private stepFn: (m: Message) => void = (m) => this.stepFollower(m);
  /** Proposals were appended since the last flush: replicate them, one MsgApp per follower for all. */
  private appendsDeferred = false;
  /** Read requests were queued since the last flush: confirm them with one heartbeat round. */
  private readsDeferred = false;

  constructor(c: RaftConfig) {
    validateConfig(c);
    this.id = c.id;
    this.rng = c.rng;
    this.logger = c.logger ?? noopLogger;
    this.maxMsgSize = c.maxSizePerMsg ?? MiB;
    this.maxUncommittedSize = c.maxUncommittedEntriesSize || Number.POSITIVE_INFINITY;
    this.raftLog = new RaftLog(c.storage, c.maxCommittedSizePerReady ?? this.maxMsgSize);
    this.trk = new ProgressTracker(c.maxInflightMsgs ?? 256, c.maxInflightBytes ?? 0);
    this.checkQuorum = c.checkQuorum ?? true;
    this.preVote = c.preVote ?? true;
    this.readOnly = new ReadOnly(c.readOnlyOption ?? ReadOnlyOption.Safe);
    this.heartbeatTimeout = c.heartbeatTick;
    this.electionTimeout = c.electionTick;
    this.disableProposalForwarding = c.disableProposalForwarding ?? false;

    const { hardState, confState } = c.storage.initialState();
    const restored = restoreConfState(new ProgressTracker(this.trk.maxInflight, this.trk.maxInflightBytes), this.raftLog.lastIndex(), confState);
    assertConfStatesEquivalent(confState, this.switchToConfig(restored.config, restored.progress));
    if (hardState.term !== 0 || hardState.vote !== None || hardState.commit !== 0) this.loadState(hardState);
    if (c.applied !== undefined && c.applied > 0) this.raftLog.appliedTo(c.applied);
    this.becomeFollower(this.term, None);

    this.logger.info(
      `newRaft ${fmtId(this.id)} [peers: [${this.trk.voterNodes().map(fmtId).join(',')}], term: ${this.term}, commit: ${this.raftLog.committed}, applied: ${this.raftLog.applied}, lastindex: ${this.raftLog.lastIndex()}, lastterm: ${this.raftLog.lastTerm()}]`,
    );
  }

  softState(): SoftState {
    return { lead: this.lead, raftState: this.state };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed };
  }

  // ---- Sending ----------------------------------------------------------------------------------------------

  /**
   * Queues a message. Every message carries the sender's term except proposals and read requests (which are
   * forwarded to the leader like local requests); vote messages carry the term they are about, which for a
   * pre-vote is the next term.
   */
  private send(m: Message): void {
    if (m.from === None) m.from = this.id;
    const t = m.type;
    if (t === MessageType.MsgVote || t === MessageType.MsgVoteResp || t === MessageType.MsgPreVote || t === MessageType.MsgPreVoteResp) {
      if (m.term === 0) throw new RaftInvariantError(`raft: term should be set when sending ${messageTypeName(t)}`);
    } else {
      if (m.term !== 0) throw new RaftInvariantError(`raft: term should not be set when sending ${messageTypeName(t)} (was ${m.term})`);
      if (t !== MessageType.MsgProp && t !== MessageType.MsgReadIndex) m.term = this.term;
    }
    this.msgs.push(m);
  }

  /** Sends entries (or a snapshot) to `to` if its flow allows; see maybeSendAppend. */
  private sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  /**
   * Sends a MsgApp with the entries `to` is missing, or a snapshot if they were compacted away. With
   * `sendIfEmpty` false, nothing is sent when there are no new entries. Returns whether a message was sent.
   */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.trk.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;

    const prevIndex = pr.next - 1;
    const prevTerm = this.raftLog.maybeTerm(prevIndex);
    let ents: Entry[] = [];
    let compacted = prevTerm === undefined;
    // With a full window, send only empty appends: if every message in the window was lost, this is how the
    // follower gets to acknowledge (or reject) and the window frees up.
    if (!compacted && (pr.state !== ProgressState.Replicate || !pr.inflights.full())) {
      try {
        ents = this.raftLog.entries(pr.next, this.maxMsgSize);
      } catch (err) {
        if (!(err instanceof ErrCompacted)) throw err;
        compacted = true;
      }
    }
    if (!compacted && ents.length === 0 && !sendIfEmpty) return false;

    if (compacted) return this.maybeSendSnapshot(to, pr);

    let bytes = 0;
    for (const e of ents) bytes += e.data.length;
    pr.updateOnEntriesSend(ents.length, bytes, pr.next);
    const commit = this.raftLog.committed;
    pr.sentCommit(commit);
    this.send(newMessage({ type: MessageType.MsgApp, to, index: prevIndex, logTerm: prevTerm as number, entries: ents, commit }));
    return true;
  }

  /** The follower needs entries that are compacted: send the latest snapshot instead. */
  private maybeSendSnapshot(to: NodeId, pr: Progress): boolean {
    if (!pr.recentActive) {
      this.logger.debug(`${fmtId(this.id)} ignore sending snapshot to ${fmtId(to)} since it is not recently active`);
      return false;
    }
    let snapshot: Snapshot;
    try {
      snapshot = this.raftLog.snapshot();
    } catch (err) {
      if (err instanceof ErrSnapshotTemporarilyUnavailable) {
        this.logger.debug(`${fmtId(this.id)} failed to send snapshot to ${fmtId(to)} because snapshot is temporarily unavailable`);
        return false;
      }
      throw err;
    }
    if (isEmptySnap(snapshot)) throw new RaftInvariantError('raft: need non-empty snapshot');
    const { index, term } = snapshot.metadata;
    this.logger.debug(
      `${fmtId(this.id)} [firstindex: ${this.raftLog.firstIndex()}, commit: ${this.raftLog.committed}] sent snapshot[index: ${index}, term: ${term}] to ${fmtId(to)} [${pr}]`,
    );
    pr.becomeSnapshot(index);
    this.send(newMessage({ type: MessageType.MsgSnap, to, snapshot }));
    return true;
  }

  /**
   * Sends a heartbeat. Its commit index is capped at what the follower is known to hold: a follower must
   * never be told to commit past entries it may not have (or may have from a deposed leader).
   */
  private sendHeartbeat(to: NodeId, ctx: Uint8Array | undefined): void {
    const pr = this.trk.progress.get(to) as Progress;
    const commit = Math.min(pr.match, this.raftLog.committed);
    pr.sentCommit(commit);
    this.send(newMessage({ type: MessageType.MsgHeartbeat, to, commit, context: ctx }));
  }

  private bcastAppend(): void {
    this.trk.visit((id) => {
      if (id !== this.id) this.sendAppend(id);
    });
  }

  private bcastHeartbeat(): void {
    this.bcastHeartbeatWithCtx(this.readOnly.lastPendingRequestCtx());
  }

  private bcastHeartbeatWithCtx(ctx: Uint8Array | undefined): void {
    this.trk.visit((id) => {
      if (id !== this.id) this.sendHeartbeat(id, ctx);
    });
  }

  /**
   * Sends what proposals and read requests received since the last call are waiting for. Proposals are
   * batched: however many arrived, each follower gets one MsgApp per maxSizePerMsg of new entries (within
   * its inflight window); reads share one heartbeat round. Called before messages are collected.
   */
  flushDeferred(): void {
    if (this.appendsDeferred) {
      this.appendsDeferred = false;
      if (this.state === StateType.Leader) {
        this.trk.visit((id) => {
          if (id === this.id) return;
          while (this.maybeSendAppend(id, false)) {
            /* fill the follower's inflight window, one maxSizePerMsg message at a time */
          }
        });
      }
    }
    if (this.readsDeferred) {
      this.readsDeferred = false;
      if (this.state === StateType.Leader) {
        const ctx = this.readOnly.lastPendingRequestCtx();
        if (ctx !== undefined) this.bcastHeartbeatWithCtx(ctx);
      }
    }
  }

  /** Hands out the queued messages (after flushing deferred sends) and clears the queue. */
  takeMessages(): Message[] {
    this.flushDeferred();
    const msgs = this.msgs;
    this.msgs = [];
    return msgs;
  }

  hasDeferred(): boolean {
    return this.appendsDeferred || this.readsDeferred;
  }

  // ---- Log and commit ---------------------------------------------------------------------------------------

  /**
   * Called when the application has applied up to `index`. A leader in a joint config that should be left
   * automatically proposes leaving once the config change itself is applied.
   */
  appliedTo(index: number): void {
    const newApplied = Math.max(index, this.raftLog.applied);
    this.raftLog.appliedTo(newApplied);
    if (this.trk.config.autoLeave && newApplied >= this.pendingConfIndex && this.state === StateType.Leader) {
      // An empty ConfChangeV2 means "leave the joint config". Its payload is empty, so the uncommitted-size
      // limit can never refuse it; it is dropped only during a leadership transfer, and then retried on the
      // next apply (or done by the new leader).
      const m = newMessage({
        type: MessageType.MsgProp,
        from: this.id,
        entries: [{ term: 0, index: 0, type: EntryType.ConfChangeV2, data: emptyBytes }],
      });
      try {
        this.step(m);
        this.logger.info(`initiating automatic transition out of joint configuration ${this.trk.config}`);
      } catch (err) {
        if (!(err instanceof ErrProposalDropped)) throw err;
        this.logger.debug(`not initiating automatic transition out of joint configuration ${this.trk.config}: ${err.message}`);
      }
    }
  }

  /** Advances the commit index to what a quorum has; returns whether it moved. */
  maybeCommit(): boolean {
    return this.raftLog.maybeCommit(this.trk.committed(), this.term);
  }

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = None;
    }
    this.lead = None;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.trk.resetVotes();
    const last = this.raftLog.lastIndex();
    this.trk.visit((id, pr) => {
      pr.match = id === this.id ? last : 0;
      pr.next = last + 1;
      pr.state = ProgressState.Probe;
      pr.pendingSnapshot = 0;
      pr.lastSentCommit = 0;
      pr.recentActive = false;
      pr.msgAppFlowPaused = false;
      pr.inflights = new Inflights(this.trk.maxInflight, this.trk.maxInflightBytes);
    });
    this.pendingConfIndex = 0;
    this.uncommittedSize = 0;
    this.readOnly = new ReadOnly(this.readOnly.option);
    this.pendingReadIndexMessages = [];
    this.appendsDeferred = false;
    this.readsDeferred = false;
  }

  /**
   * Appends entries as leader, stamping them with the current term and the next indexes. Returns false
   * (appending nothing) when they would push the uncommitted tail over its limit.
   */
  private appendEntry(es: readonly Entry[]): boolean {
    let li = this.raftLog.lastIndex();
    const stamped: Entry[] = new Array<Entry>(es.length);
    for (let i = 0; i < es.length; i++) {
      const e = es[i] as Entry;
      stamped[i] = { term: this.term, index: li + 1 + i, type: e.type, data: e.data };
    }
    if (!this.increaseUncommittedSize(stamped)) {
      this.logger.warn(`${fmtId(this.id)} appending new entries to log would exceed uncommitted entry size limit; dropping proposal`);
      return false;
    }
    li = this.raftLog.append(stamped);
    // The leader's own entries count as acknowledged: the Ready contract has them persisted before any
    // message that could lead a follower to acknowledge them is sent.
    this.trk.progress.get(this.id)?.maybeUpdate(li);
    this.maybeCommit();
    return true;
  }

  private increaseUncommittedSize(ents: readonly Entry[]): boolean {
    let s = 0;
    for (const e of ents) s += e.data.length;
    // An empty tail accepts any proposal (however large), and empty entries are always accepted: a new
    // leader's no-op and the automatic leave-joint change must never be refused.
    if (this.uncommittedSize > 0 && s > 0 && this.uncommittedSize + s > this.maxUncommittedSize) return false;
    this.uncommittedSize += s;
    return true;
  }

  /** Called with entries that were committed and handed to the application. */
  reduceUncommittedSize(s: number): void {
    this.uncommittedSize = s > this.uncommittedSize ? 0 : this.uncommittedSize - s;
  }

  // ---- Ticks and roles --------------------------------------------------------------------------------------

  tick(): void {
    this.tickFn();
  }

  /** Followers and candidates: campaign when the election timeout passes without hearing from a leader. */
  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.pastElectionTimeout()) {
      this.electionElapsed = 0;
      this.step(newMessage({ type: MessageType.MsgHup, from: this.id }));
    }
  }

  /**
   * Whether this non-voter may campaign as a caretaker: a leader that only hands leadership to a voter.
   *
   * Why: membership changes take effect when applied, so the voters of a new configuration that have not
   * learned that it committed still use the old one, which may need the vote of a node the change removed
   * or demoted. That node refuses whenever its log is longer than theirs, and if it is the only one that
   * knows the change committed (a removed leader that crashed while handing over), nobody can be elected.
   * As a caretaker it can win their votes, bring one of them fully up to date (commit index included) and
   * hand over.
   *
   * The trigger is that deadlock showing itself: a voter of this node's configuration asks for its vote,
   * and it must refuse because the candidate's log is behind, while no leader is known. In a healthy group
   * nobody asks a learner or a removed node for its vote, so they never campaign.
   *
   * Safety: a caretaker counts votes in its applied configuration like any candidate; that configuration
   * and the one before it always have intersecting quorums (one voter changed, or joint), so there is
   * still one leader per term and it holds every committed entry. Disruption: it always goes through
   * pre-vote (its term rises only when it can win), voters within a leader lease ignore it, and once
   * elected it takes no proposals and hands over at once.
   */
  private mayCaretake(): boolean {
    return (
      !this.isVoter() &&
      this.trk.config.voters.incoming.size > 0 &&
      !this.raftLog.hasNextUnstableSnapshot() &&
      !this.hasUnappliedConfChanges()
    );
  }

  /**
   * The application's transport lost a working connection to `id` (reset or closed by the other end). When
   * `id` is this follower's leader, the leader's lease ends now instead of an election timeout after its
   * last message: the follower grants (pre-)votes at once and campaigns after the random part of its
   * election timeout ([0, electionTimeout) ticks), as it would have a full timeout later.
   *
   * Why: a leader whose process dies (kill -9, OOM, a crash) has its connections reset by its kernel at
   * once, so its followers know within a millisecond; waiting out a whole election timeout doubles the
   * expected failover for nothing.
   * Safety: only the lease is shortened, never the election rules. It needs pre-vote (a pre-candidate's term
   * rises only if a quorum would vote for it) and check-quorum (voters that still hear from the leader ignore
   * it); with both, a false alarm (the connection broke but the leader lives) costs one failed pre-vote
   * round and never a term change: the other voters are in lease, and the leader's next heartbeat makes
   * this node a follower again. Without them this is a no-op.
   */
  connectionLost(id: NodeId): void {
    if (!this.preVote || !this.checkQuorum) return;
    if (this.state !== StateType.Follower || id === this.id || id !== this.lead) return;
    if (this.electionElapsed >= this.electionTimeout) return;
    this.logger.info(
      `${fmtId(this.id)} lost its connection to leader ${fmtId(id)} at term ${this.term}: its lease ends now, campaigning in ${this.randomizedElectionTimeout - this.electionTimeout} ticks unless it hears from a leader`,
    );
    this.electionElapsed = this.electionTimeout;
  }

  /** Leaders: heartbeats every heartbeatTimeout, a quorum check every electionTimeout. */
  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) this.step(newMessage({ type: MessageType.MsgCheckQuorum, from: this.id }));
      // A transfer that has not completed within an election timeout is abandoned (and a leader that is no
      // longer a voter starts another, possibly to another voter).
      if (this.state === StateType.Leader && this.leadTransferee !== None) {
        this.abortLeaderTransfer();
        if (!this.isVoter()) this.handOverLeadership();
      }
    }
    if (this.state !== StateType.Leader) return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.step(newMessage({ type: MessageType.MsgBeat, from: this.id }));
    }
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.stepFn = (m) => this.stepFollower(m);
    this.reset(term);
    this.tickFn = () => this.tickElection();
    this.lead = lead;
    this.state = StateType.Follower;
    this.logger.info(`${fmtId(this.id)} became follower at term ${this.term}`);
  }

  becomeCandidate(): void {
    if (this.state === StateType.Leader) throw new RaftInvariantError('raft: invalid transition [leader -> candidate]');
    this.stepFn = (m) => this.stepCandidate(m);
    this.reset(this.term + 1);
    this.tickFn = () => this.tickElection();
    this.vote = this.id;
    this.state = StateType.Candidate;
    this.logger.info(`${fmtId(this.id)} became candidate at term ${this.term}`);
  }

  /** A pre-candidate asks for votes for term+1 without changing its term or vote (thesis §9.6). */
  becomePreCandidate(): void {
    if (this.state === StateType.Leader) throw new RaftInvariantError('raft: invalid transition [leader -> pre-candidate]');
    this.stepFn = (m) => this.stepCandidate(m);
    this.trk.resetVotes();
    this.tickFn = () => this.tickElection();
    this.lead = None;
    this.state = StateType.PreCandidate;
    this.logger.info(`${fmtId(this.id)} became pre-candidate at term ${this.term}`);
  }

  becomeLeader(): void {
    if (this.state === StateType.Follower) throw new RaftInvariantError('raft: invalid transition [follower -> leader]');
    this.stepFn = (m) => this.stepLeader(m);
    this.reset(this.term);
    this.tickFn = () => this.tickHeartbeat();
    this.lead = this.id;
    this.state = StateType.Leader;
    // The leader is always active; CheckQuorum keeps it so. (A caretaker may have no progress of its own.)
    const self = this.trk.progress.get(this.id);
    self?.becomeReplicate();
    if (self !== undefined) self.recentActive = true;
    // Any entry after our commit index may be a conf change we cannot see without scanning; refusing new
    // conf changes until everything we hold is applied is simpler and just as safe.
    this.pendingConfIndex = this.raftLog.lastIndex();
    // A no-op entry of the new term: committing it commits every earlier entry (§5.4.2, §8) and tells the
    // leader its commit index is current, which ReadIndex needs.
    if (!this.appendEntry([{ term: 0, index: 0, type: EntryType.Normal, data: emptyBytes }])) {
      throw new RaftInvariantError('raft: empty entry was dropped');
    }
    this.logger.info(`${fmtId(this.id)} became leader at term ${this.term}`);
    // A caretaker (or a leader of a config it no longer votes in) leads only to hand over.
    if (!this.isVoter()) this.handOverLeadership();
  }

  private hup(t: CampaignType): void {
    if (this.state === StateType.Leader) {
      this.logger.debug(`${fmtId(this.id)} ignoring MsgHup because already leader`);
      return;
    }
    if (!this.promotable()) {
      this.logger.warn(`${fmtId(this.id)} is unpromotable and can not campaign`);
      return;
    }
    if (this.hasUnappliedConfChanges()) {
      // Campaigning with an old config could elect a leader the new config does not allow.
      this.logger.warn(`${fmtId(this.id)} cannot campaign at term ${this.term} since there are still pending configuration changes to apply`);
      return;
    }
    this.logger.info(`${fmtId(this.id)} is starting a new election at term ${this.term}`);
    this.campaign(t);
  }

  private hasUnappliedConfChanges(): boolean {
    const log = this.raftLog;
    if (log.applied >= log.committed) return false;
    let lo = Math.max(log.applied + 1, log.firstIndex());
    const hi = log.committed + 1;
    // Page through the range to bound memory on a long unapplied tail.
    while (lo < hi) {
      const page = log.slice(lo, hi, 1 * MiB);
      for (const e of page) if (e.type !== EntryType.Normal) return true;
      lo += page.length;
      if (page.length === 0) break;
    }
    return false;
  }

  /** Starts an election of type `t`; callers have checked that this node may campaign (or caretake). */
  campaign(t: CampaignType): void {
    let term: number;
    let voteMsg: MessageType;
    if (t === 'CampaignPreElection') {
      this.becomePreCandidate();
      voteMsg = MessageType.MsgPreVote;
      term = this.term + 1; // pre-votes are asked for the term we would campaign in
    } else {
      this.becomeCandidate();
      voteMsg = MessageType.MsgVote;
      term = this.term;
    }
    // The candidate votes for itself (its vote is in the HardState persisted before these messages go out).
    if (this.poll(this.id, voteRespMsgType(voteMsg), true).result === VoteResult.Won) {
      // Only possible in a single-voter config: go straight on.
      if (t === 'CampaignPreElection') this.campaign('CampaignElection');
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.raftLog.lastIndex();
    const lastTerm = this.raftLog.lastTerm();
    for (const id of this.trk.voterNodes()) {
      if (id === this.id) continue;
      this.logger.info(
        `${fmtId(this.id)} [logterm: ${lastTerm}, index: ${lastIndex}] sent ${messageTypeName(voteMsg)} request to ${fmtId(id)} at term ${this.term}`,
      );
      this.send(
        newMessage({
          type: voteMsg,
          to: id,
          term,
          index: lastIndex,
          logTerm: lastTerm,
          context: t === 'CampaignTransfer' ? campaignTransferContext : undefined,
        }),
      );
    }
  }

  private poll(id: NodeId, t: MessageType, granted: boolean): { granted: number; rejected: number; result: VoteResult } {
    if (granted) this.logger.info(`${fmtId(this.id)} received ${messageTypeName(t)} from ${fmtId(id)} at term ${this.term}`);
    else this.logger.info(`${fmtId(this.id)} received ${messageTypeName(t)} rejection from ${fmtId(id)} at term ${this.term}`);
    this.trk.recordVote(id, granted);
    return this.trk.tallyVotes();
  }

  // ---- Step -------------------------------------------------------------------------------------------------

  /**
   * Feeds one message into the state machine. Throws ErrProposalDropped when a proposal cannot be
   * accepted; other errors mean a broken invariant.
   */
  step(m: Message): void {
    // First, the term rules of §5.1: a higher term makes us a follower; a lower term is stale.
    if (m.term === 0) {
      // Local messages and proposals carry no term.
    } else if (m.term > this.term) {
      if (m.type === MessageType.MsgVote || m.type === MessageType.MsgPreVote) {
        const force = isCampaignTransfer(m.context);
        const inLease = this.checkQuorum && this.lead !== None && this.electionElapsed < this.electionTimeout;
        if (!force && inLease) {
          // We heard from a leader within the minimum election timeout: the candidate is most likely a
          // node that was cut off. Do not update our term or vote (thesis §4.2.3).
          this.logger.info(
            `${fmtId(this.id)} [logterm: ${this.raftLog.lastTerm()}, index: ${this.raftLog.lastIndex()}, vote: ${fmtId(this.vote)}] ignored ${messageTypeName(m.type)} from ${fmtId(m.from)} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}: lease is not expired (remaining ticks: ${this.electionTimeout - this.electionElapsed})`,
          );
          return;
        }
      }
      if (m.type === MessageType.MsgPreVote) {
        // A pre-vote never changes our term.
      } else if (m.type === MessageType.MsgPreVoteResp && !m.reject) {
        // Granted pre-votes carry the term we would campaign in; our term increases only when we win.
      } else {
        this.logger.info(
          `${fmtId(this.id)} [term: ${this.term}] received a ${messageTypeName(m.type)} message with higher term from ${fmtId(m.from)} [term: ${m.term}]`,
        );
        if (m.type === MessageType.MsgApp || m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgSnap) {
          this.becomeFollower(m.term, m.from);
        } else {
          this.becomeFollower(m.term, None);
        }
      }
    } else if (m.term < this.term) {
      const fromLeader = m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgApp || m.type === MessageType.MsgTimeoutNow;
      if (fromLeader && (this.checkQuorum || this.preVote || !this.trk.progress.has(m.from))) {
        // A leader of an older term is still sending. Either its messages were delayed, or we moved to a
        // higher term while cut off and it cannot hear our votes (with check-quorum or pre-vote, votes do
        // not always raise terms), or it was removed from the configuration and no current leader will
        // ever contact it. Answering with our term makes it step down.
        this.send(newMessage({ type: MessageType.MsgAppResp, to: m.from }));
      } else if (m.type === MessageType.MsgPreVote) {
        // Reject explicitly: a pre-candidate at a lower term must learn ours, or an old-version cluster
        // without pre-vote could deadlock.
        this.logger.info(
          `${fmtId(this.id)} [logterm: ${this.raftLog.lastTerm()}, index: ${this.raftLog.lastIndex()}, vote: ${fmtId(this.vote)}] rejected ${messageTypeName(m.type)} from ${fmtId(m.from)} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`,
        );
        this.send(newMessage({ type: MessageType.MsgPreVoteResp, to: m.from, term: this.term, reject: true }));
      } else {
        this.logger.info(
          `${fmtId(this.id)} [term: ${this.term}] ignored a ${messageTypeName(m.type)} message with lower term from ${fmtId(m.from)} [term: ${m.term}]`,
        );
      }
      return;
    }

    switch (m.type) {
      case MessageType.MsgHup:
        this.hup(this.preVote ? 'CampaignPreElection' : 'CampaignElection');
        return;
      case MessageType.MsgVote:
      case MessageType.MsgPreVote:
        this.handleVoteRequest(m);
        return;
      default:
        this.stepFn(m);
    }
  }

  /**
   * Votes (§5.2, §5.4.1). Learners answer too: a learner may have been promoted by a config change it has
   * not applied yet, and the candidate that knows it needs its vote. A candidate that sees it as a learner
   * does not count its vote.
   */
  private handleVoteRequest(m: Message): void {
    const canVote =
      // a repeat of a vote we cast,
      this.vote === m.from ||
      // or we have not voted and know of no leader in this term,
      (this.vote === None && this.lead === None) ||
      // or a pre-vote for a future term,
      (m.type === MessageType.MsgPreVote && m.term > this.term);
    // ... and the candidate's log is at least as up to date as ours.
    const upToDate = this.raftLog.isUpToDate(m.index, m.logTerm);
    if (canVote && upToDate) {
      this.logger.info(
        `${fmtId(this.id)} [logterm: ${this.raftLog.lastTerm()}, index: ${this.raftLog.lastIndex()}, vote: ${fmtId(this.vote)}] cast ${messageTypeName(m.type)} for ${fmtId(m.from)} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`,
      );
      // Answer with the message's term, not ours: a pre-candidate asks about a future term, and a node
      // whose term is behind must still have its answer counted.
      this.send(newMessage({ type: voteRespMsgType(m.type), to: m.from, term: m.term }));
      if (m.type === MessageType.MsgVote) {
        // Only real votes are recorded, and granting one resets the election timer.
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.logger.info(
        `${fmtId(this.id)} [logterm: ${this.raftLog.lastTerm()}, index: ${this.raftLog.lastIndex()}, vote: ${fmtId(this.vote)}] rejected ${messageTypeName(m.type)} from ${fmtId(m.from)} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`,
      );
      this.send(newMessage({ type: voteRespMsgType(m.type), to: m.from, term: this.term, reject: true }));
      const inLease = this.lead !== None && this.electionElapsed < this.electionTimeout;
      if (!upToDate && !inLease && this.state === StateType.Follower && this.trk.config.voters.has(m.from) && this.mayCaretake()) {
        this.logger.info(
          `${fmtId(this.id)} is not a voter, refused ${fmtId(m.from)} (a voter of its configuration) for a log behind its own, and campaigns as caretaker`,
        );
        this.campaign('CampaignPreElection');
      }
    }
  }

  private stepLeader(m: Message): void {
    // Messages that concern no particular follower.
    switch (m.type) {
      case MessageType.MsgBeat:
        this.bcastHeartbeat();
        return;
      case MessageType.MsgCheckQuorum:
        if (!this.trk.quorumActive()) {
          if (this.isVoter()) {
            this.logger.warn(`${fmtId(this.id)} stepped down to follower since quorum is not active`);
            this.becomeFollower(this.term, None);
          } else {
            // A leader that is no longer a voter stays until it has handed over: if it stepped down while
            // the new config's voters are unreachable, they could come back not knowing the change
            // committed, needing its vote under the old config, and get it refused (its log is longer).
            // Should another leader be elected meanwhile, the first answer from its voters deposes this one.
            this.logger.info(`${fmtId(this.id)} keeps handing over leadership: the new configuration's quorum is not active`);
          }
        }
        // Everyone but us starts the next round as inactive.
        this.trk.visit((id, pr) => {
          if (id !== this.id) pr.recentActive = false;
        });
        return;
      case MessageType.MsgProp:
        this.handleProposal(m);
        return;
      case MessageType.MsgReadIndex:
        if (this.trk.isSingleton() && this.isVoter()) {
          // We are the only voter: our commit index is the cluster's. (A leader that was just removed may see
          // a single-voter config that is not itself: that voter may already lead a later term.)
          this.respondToReadIndex(m, this.raftLog.committed);
          return;
        }
        // Until an entry of this term is committed, our commit index may be behind the cluster's (§8).
        if (!this.committedEntryInCurrentTerm()) {
          this.pendingReadIndexMessages.push(m);
          return;
        }
        this.acceptReadIndex(m);
        return;
    }

    // Messages from a follower: they need its progress.
    const pr = this.trk.progress.get(m.from);
    if (pr === undefined) {
      this.logger.debug(`${fmtId(this.id)} no progress available for ${fmtId(m.from)}`);
      return;
    }
    switch (m.type) {
      case MessageType.MsgAppResp:
        this.handleAppendResponse(m, pr);
        return;
      case MessageType.MsgHeartbeatResp:
        this.handleHeartbeatResponse(m, pr);
        return;
      case MessageType.MsgSnapStatus:
        if (pr.state !== ProgressState.Snapshot) return;
        if (!m.reject) {
          pr.becomeProbe();
          this.logger.debug(`${fmtId(this.id)} snapshot succeeded, resumed sending replication messages to ${fmtId(m.from)} [${pr}]`);
        } else {
          // Forget the snapshot first, or probing would start past a snapshot that never arrived.
          pr.pendingSnapshot = 0;
          pr.becomeProbe();
          this.logger.debug(`${fmtId(this.id)} snapshot failed, resumed sending replication messages to ${fmtId(m.from)} [${pr}]`);
        }
        // After success, wait for the follower's MsgAppResp; after a failure, wait a heartbeat before retrying.
        pr.msgAppFlowPaused = true;
        return;
      case MessageType.MsgUnreachable:
        // Optimistic sends to an unreachable follower were most likely lost: go back to probing.
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        this.logger.debug(`${fmtId(this.id)} failed to send message to ${fmtId(m.from)} because it is unreachable [${pr}]`);
        return;
      case MessageType.MsgTransferLeader:
        this.handleTransferLeader(m, pr);
        return;
    }
  }

  private handleProposal(m: Message): void {
    if (!this.isVoter()) {
      // This leader was removed or demoted: it takes no new proposals while it hands over.
      this.logger.debug(`${fmtId(this.id)} is not a voter of its configuration; dropping proposal`);
      throw new ErrProposalDropped();
    }
    if (this.leadTransferee !== None) {
      this.logger.debug(`${fmtId(this.id)} [term ${this.term}] transfer leadership to ${fmtId(this.leadTransferee)} is in progress; dropping proposal`);
      throw new ErrProposalDropped();
    }
    let entries = m.entries;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i] as Entry;
      if (e.type === EntryType.Normal) continue;
      const cc: ConfChangeV2 =
        e.type === EntryType.ConfChange ? confChangeAsV2(decodeConfChange(e.data)) : decodeConfChangeV2(e.data);
      const alreadyPending = this.pendingConfIndex > this.raftLog.applied;
      const alreadyJoint = this.trk.config.voters.isJoint;
      const wantsLeaveJoint = cc.changes.length === 0;
      let refused: string | undefined;
      if (alreadyPending) {
        refused = `possible unapplied conf change at index ${this.pendingConfIndex} (applied to ${this.raftLog.applied})`;
      } else if (alreadyJoint && !wantsLeaveJoint) {
        refused = 'must transition out of joint config first';
      } else if (!alreadyJoint && wantsLeaveJoint) {
        refused = 'not in joint state; refusing empty conf change';
      }
      if (refused !== undefined) {
        // Replace it with a no-op: the proposer learns of the refusal when the no-op is applied instead.
        this.logger.info(`${fmtId(this.id)} ignoring conf change at config ${this.trk.config}: ${refused}`);
        if (entries === m.entries) entries = entries.slice();
        (entries as Entry[])[i] = { term: 0, index: 0, type: EntryType.Normal, data: emptyBytes };
      } else {
        this.pendingConfIndex = this.raftLog.lastIndex() + i + 1;
      }
    }
    if (!this.appendEntry(entries)) throw new ErrProposalDropped();
    this.appendsDeferred = true;
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      // The follower's log does not have m.index at the term we sent. Its hint (rejectHint, logTerm) is the
      // last entry that may still match: if we hold a term <= logTerm there, the logs may match at or below
      // it, so jump straight to the right place instead of stepping back one entry per round trip.
      this.logger.debug(
        `${fmtId(this.id)} received MsgAppResp(rejected, hint: (index ${m.rejectHint}, term ${m.logTerm})) from ${fmtId(m.from)} for index ${m.index}`,
      );
      let nextProbeIdx = m.rejectHint;
      if (m.logTerm > 0) nextProbeIdx = this.raftLog.findConflictByTerm(m.rejectHint, m.logTerm).index;
      if (pr.maybeDecrTo(m.index, nextProbeIdx)) {
        this.logger.debug(`${fmtId(this.id)} decreased progress of ${fmtId(m.from)} to [${pr}]`);
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }

    // A success that confirms a probe moves the follower to Replicate even if match does not advance.
    if (!(pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === ProgressState.Probe))) return;
    if (pr.state === ProgressState.Probe) {
      pr.becomeReplicate();
    } else if (pr.state === ProgressState.Snapshot && pr.match + 1 >= this.raftLog.firstIndex()) {
      // The follower caught up far enough (by this or another snapshot) to be fed from the log again.
      this.logger.debug(`${fmtId(this.id)} recovered from needing snapshot, resumed sending replication messages to ${fmtId(m.from)} [${pr}]`);
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === ProgressState.Replicate) {
      pr.inflights.freeLE(m.index);
    }

    if (this.maybeCommit()) {
      // The commit index moved within our term: pending reads can be answered, and everyone told.
      this.releasePendingReadIndexMessages();
      this.bcastAppend();
    } else if (m.from !== this.id && pr.canBumpCommit(this.raftLog.committed)) {
      // The follower may not know the current commit index yet (it moved while this follower was behind):
      // tell it now rather than at the next heartbeat, so that it applies sooner.
      this.sendAppend(m.from);
    }
    // The window may have room again: send what the follower is missing, without empty messages.
    if (m.from !== this.id) {
      while (this.maybeSendAppend(m.from, false)) {
        /* keep filling the window */
      }
    }
    // A transfer waits for the transferee to be up to date.
    if (m.from === this.leadTransferee && pr.match === this.raftLog.lastIndex()) {
      this.logger.info(`${fmtId(this.id)} sent MsgTimeoutNow to ${fmtId(m.from)} after received MsgAppResp`);
      this.sendTimeoutNow(m.from);
    }
  }

  private handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.msgAppFlowPaused = false;
    // Resend what the follower lacks. With a full window this sends an empty MsgApp, so that replication
    // recovers even if every message in the window was lost; a caught-up follower in Probe (after
    // ReportUnreachable) gets an empty one to move back to Replicate.
    if (pr.match < this.raftLog.lastIndex() || pr.state === ProgressState.Probe) this.sendAppend(m.from);

    if (this.readOnly.option !== ReadOnlyOption.Safe || m.context === undefined || m.context.length === 0) return;
    const acks = this.readOnly.recvAck(m.from, m.context);
    if (acks === undefined || this.trk.config.voters.voteResult(acks) !== VoteResult.Won) return;
    for (const rs of this.readOnly.advance(m.context)) this.respondToReadIndex(rs.req, rs.index);
  }

  private handleTransferLeader(m: Message, pr: Progress): void {
    if (pr.isLearner) {
      this.logger.debug(`${fmtId(this.id)} is learner. Ignored transferring leadership`);
      return;
    }
    const transferee = m.from;
    const last = this.leadTransferee;
    if (last !== None) {
      if (last === transferee) {
        this.logger.info(
          `${fmtId(this.id)} [term ${this.term}] transfer leadership to ${fmtId(transferee)} is in progress, ignores request to same node ${fmtId(transferee)}`,
        );
        return;
      }
      this.abortLeaderTransfer();
      this.logger.info(`${fmtId(this.id)} [term ${this.term}] abort previous transferring leadership to ${fmtId(last)}`);
    }
    if (transferee === this.id) {
      this.logger.debug(`${fmtId(this.id)} is already leader. Ignored transferring leadership to self`);
      return;
    }
    this.logger.info(`${fmtId(this.id)} [term ${this.term}] starts to transfer leadership to ${fmtId(transferee)}`);
    // The transfer must complete within an election timeout, counted from now.
    this.electionElapsed = 0;
    this.leadTransferee = transferee;
    if (pr.match === this.raftLog.lastIndex()) {
      this.sendTimeoutNow(transferee);
      this.logger.info(`${fmtId(this.id)} sends MsgTimeoutNow to ${fmtId(transferee)} immediately as ${fmtId(transferee)} already has up-to-date log`);
    } else {
      this.sendAppend(transferee);
    }
  }

  private stepCandidate(m: Message): void {
    // A candidate only counts answers to its current round: a pre-candidate's stale pre-vote answers may
    // still arrive once it is a candidate.
    const myVoteRespType = this.state === StateType.PreCandidate ? MessageType.MsgPreVoteResp : MessageType.MsgVoteResp;
    switch (m.type) {
      case MessageType.MsgProp:
        this.logger.info(`${fmtId(this.id)} no leader at term ${this.term}; dropping proposal`);
        throw new ErrProposalDropped();
      case MessageType.MsgApp:
        // A leader of our term exists (m.term === this.term here): follow it (§5.2).
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return;
      case MessageType.MsgHeartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.MsgSnap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case myVoteRespType: {
        const { granted, rejected, result } = this.poll(m.from, m.type, !m.reject);
        this.logger.info(`${fmtId(this.id)} has received ${granted} ${messageTypeName(m.type)} votes and ${rejected} vote rejections`);
        if (result === VoteResult.Won) {
          if (this.state === StateType.PreCandidate) {
            this.campaign('CampaignElection');
          } else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (result === VoteResult.Lost) {
          // A granted pre-vote response carries a future term: keep ours.
          this.becomeFollower(this.term, None);
        }
        return;
      }
      case MessageType.MsgTimeoutNow:
        this.logger.debug(`${fmtId(this.id)} [term ${this.term} state ${stateName(this.state)}] ignored MsgTimeoutNow from ${fmtId(m.from)}`);
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.MsgProp:
        if (this.disableProposalForwarding && this.lead !== None) {
          this.logger.info(`${fmtId(this.id)} not forwarding to leader ${fmtId(this.lead)} at term ${this.term}; dropping proposal`);
          throw new ErrProposalDropped();
        }
        if (!this.forwardToLeader(m, 'proposal')) throw new ErrProposalDropped();
        return;
      case MessageType.MsgApp:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return;
      case MessageType.MsgHeartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case MessageType.MsgSnap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case MessageType.MsgTransferLeader:
        this.forwardToLeader(m, 'leader transfer msg');
        return;
      case MessageType.MsgTimeoutNow:
        // The leader hands over: campaign at once, without pre-vote (we are not recovering from a partition).
        this.logger.info(`${fmtId(this.id)} [term ${this.term}] received MsgTimeoutNow from ${fmtId(m.from)} and starts an election to get leadership`);
        this.hup('CampaignTransfer');
        return;
      case MessageType.MsgReadIndex:
        this.forwardToLeader(m, 'index reading msg');
        return;
      case MessageType.MsgReadIndexResp:
        if (m.entries.length !== 1) {
          this.logger.error(`${fmtId(this.id)} invalid format of MsgReadIndexResp from ${fmtId(m.from)}, entries count: ${m.entries.length}`);
          return;
        }
        this.readStates.push({ index: m.index, requestCtx: (m.entries[0] as Entry).data });
        return;
    }
  }

  /** Sends `m` on to the leader; returns false (and logs) when no leader is known. */
  private forwardToLeader(m: Message, what: string): boolean {
    if (this.lead === None) {
      this.logger.info(`${fmtId(this.id)} no leader at term ${this.term}; dropping ${what}`);
      return false;
    }
    m.to = this.lead;
    this.send(m);
    return true;
  }

  private handleAppendEntries(m: Message): void {
    if (m.index < this.raftLog.committed) {
      // Everything up to our commit index matches by definition; tell the leader where we are.
      this.send(newMessage({ type: MessageType.MsgAppResp, to: m.from, index: this.raftLog.committed }));
      return;
    }
    const lastNew = this.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send(newMessage({ type: MessageType.MsgAppResp, to: m.from, index: lastNew }));
      return;
    }
    // Rejected: hint the largest (index, term) where our logs can still match, so the leader can skip our
    // whole divergent tail of terms above m.logTerm in one step.
    const hint = this.raftLog.findConflictByTerm(Math.min(m.index, this.raftLog.lastIndex()), m.logTerm);
    this.logger.debug(
      `${fmtId(this.id)} [logterm: ${this.raftLog.maybeTerm(m.index) ?? 0}, index: ${m.index}] rejected MsgApp [logterm: ${m.logTerm}, index: ${m.index}] from ${fmtId(m.from)}`,
    );
    this.send(
      newMessage({
        type: MessageType.MsgAppResp,
        to: m.from,
        index: m.index,
        reject: true,
        rejectHint: hint.index,
        logTerm: hint.term,
      }),
    );
  }

  private handleHeartbeat(m: Message): void {
    this.raftLog.commitTo(m.commit);
    this.send(newMessage({ type: MessageType.MsgHeartbeatResp, to: m.from, context: m.context }));
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot;
    const index = s?.metadata.index ?? 0;
    const term = s?.metadata.term ?? 0;
    if (s !== undefined && this.restore(s)) {
      this.logger.info(`${fmtId(this.id)} [commit: ${this.raftLog.committed}] restored snapshot [index: ${index}, term: ${term}]`);
      this.send(newMessage({ type: MessageType.MsgAppResp, to: m.from, index: this.raftLog.lastIndex() }));
    } else {
      this.logger.info(`${fmtId(this.id)} [commit: ${this.raftLog.committed}] ignored snapshot [index: ${index}, term: ${term}]`);
      this.send(newMessage({ type: MessageType.MsgAppResp, to: m.from, index: this.raftLog.committed }));
    }
  }

  /**
   * Replaces the log and the config with a snapshot's, unless it is not newer than what we have committed
   * (or we already hold its last entry, in which case only the commit index moves). Returns whether the
   * snapshot was taken.
   */
  restore(s: Snapshot): boolean {
    if (s.metadata.index <= this.raftLog.committed) return false;
    if (this.state !== StateType.Follower) {
      // Only followers receive snapshots; a leader here would mean a second leader in its term.
      this.logger.warn(`${fmtId(this.id)} attempted to restore snapshot as leader; should never happen`);
      this.becomeFollower(this.term + 1, None);
      return false;
    }
    const cs = s.metadata.confState;
    // A snapshot whose config does not include us would leave this node without a progress entry for
    // itself (learnersNext ids are always outgoing voters, so checking three lists is enough).
    if (!cs.voters.includes(this.id) && !cs.learners.includes(this.id) && !cs.votersOutgoing.includes(this.id)) {
      this.logger.warn(`${fmtId(this.id)} attempted to restore snapshot but it is not in the ConfState ${describeConfState(cs)}; should never happen`);
      return false;
    }
    if (this.raftLog.matchTerm(s.metadata.index, s.metadata.term)) {
      // We already have the snapshot's last entry, so our log up to it is the leader's: just commit it.
      this.logger.info(
        `${fmtId(this.id)} [commit: ${this.raftLog.committed}, lastindex: ${this.raftLog.lastIndex()}, lastterm: ${this.raftLog.lastTerm()}] fast-forwarded commit to snapshot [index: ${s.metadata.index}, term: ${s.metadata.term}]`,
      );
      this.raftLog.commitTo(s.metadata.index);
      return false;
    }
    this.raftLog.restore(s);
    const tracker = new ProgressTracker(this.trk.maxInflight, this.trk.maxInflightBytes);
    const restored = restoreConfState(tracker, this.raftLog.lastIndex(), cs);
    assertConfStatesEquivalent(cs, this.switchToConfig(restored.config, restored.progress));
    this.logger.info(
      `${fmtId(this.id)} [commit: ${this.raftLog.committed}, lastindex: ${this.raftLog.lastIndex()}, lastterm: ${this.raftLog.lastTerm()}] restored snapshot [index: ${s.metadata.index}, term: ${s.metadata.term}]`,
    );
    return true;
  }

  /** Whether this node may become leader: it is a voter and not waiting to apply a snapshot. */
  promotable(): boolean {
    const pr = this.trk.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && !this.raftLog.hasNextUnstableSnapshot();
  }

  // ---- Membership -------------------------------------------------------------------------------------------

  /**
   * Applies a committed conf change and returns the new ConfState. Membership changes take effect when
   * applied, on every node alike (thesis §4.1 has them take effect when appended; applying is what makes
   * them deterministic across restarts).
   */
  applyConfChange(cc: ConfChangeV2): ConfState {
    const changer = new Changer(this.trk, this.raftLog.lastIndex());
    let r: ChangeResult;
    if (confChangeLeavesJoint(cc)) {
      r = changer.leaveJoint();
    } else {
      const joint = confChangeEntersJoint(cc);
      r = joint !== undefined ? changer.enterJoint(joint.autoLeave, cc.changes) : changer.simple(cc.changes);
    }
    return this.switchToConfig(r.config, r.progress);
  }

  /**
   * Makes a config active and reacts to it: a leader that is no longer a voter steps down; a leader that
   * stays commits what the new quorum allows and starts probing new members.
   */
  switchToConfig(config: TrackerConfig, progress: ProgressMap): ConfState {
    this.trk.setConfig(config, progress);
    this.logger.info(`${fmtId(this.id)} switched to configuration ${config}`);
    const cs = this.trk.confState();
    const pr = this.trk.progress.get(this.id);
    this.isLearner = pr !== undefined && pr.isLearner;

    if (this.state !== StateType.Leader || cs.voters.length === 0) return cs;
    if (!this.isVoter()) {
      // Removed (or demoted) while leading. Stepping down at once can deadlock the group: the others may not
      // have learned that this change committed, so they still use the old configuration, which may need
      // this node's vote, and it must refuse that vote while its log holds entries theirs lack. So it keeps
      // leading (without counting itself, and taking no proposals) and hands leadership to the most
      // up-to-date voter of the new configuration, which it first brings fully up to date (learning the
      // commit index on the way). It becomes a follower when that voter takes over.
      this.logger.info(`${fmtId(this.id)} is no longer a voter of ${config}: handing leadership over`);
      this.handOverLeadership();
      if (this.state !== StateType.Leader) return cs;
    }

    if (this.maybeCommit()) {
      // The new quorum commits more: tell everyone.
      this.bcastAppend();
    } else {
      // Probe the new members now rather than at the next heartbeat or proposal.
      this.trk.visit((id) => {
        if (id !== this.id) this.maybeSendAppend(id, false);
      });
    }
    if (this.leadTransferee !== None && !this.trk.config.voters.has(this.leadTransferee)) this.abortLeaderTransfer();
    return cs;
  }

  /** Whether this node votes in the active configuration (in either half of a joint one). */
  isVoter(): boolean {
    const pr = this.trk.progress.get(this.id);
    return pr !== undefined && !pr.isLearner;
  }

  /**
   * A leader that is no longer a voter transfers leadership to the voter with the highest match (lowest id
   * on ties). Retried whenever a transfer times out; with no voter to hand to, it steps down.
   */
  private handOverLeadership(): void {
    let best: NodeId | undefined;
    let bestMatch = -1;
    for (const id of this.trk.voterNodes()) {
      const pr = this.trk.progress.get(id);
      if (id !== this.id && pr !== undefined && pr.match > bestMatch) {
        best = id;
        bestMatch = pr.match;
      }
    }
    if (best === undefined) {
      this.becomeFollower(this.term, None);
      return;
    }
    if (this.leadTransferee === best) return;
    this.abortLeaderTransfer();
    this.handleTransferLeader(newMessage({ type: MessageType.MsgTransferLeader, from: best }), this.trk.progress.get(best) as Progress);
  }

  private loadState(hs: HardState): void {
    if (hs.commit < this.raftLog.committed || hs.commit > this.raftLog.lastIndex()) {
      throw new RaftInvariantError(
        `raft: ${fmtId(this.id)} state.commit ${hs.commit} is out of range [${this.raftLog.committed}, ${this.raftLog.lastIndex()}]`,
      );
    }
    this.raftLog.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  private pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout;
  }

  private resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.electionTimeout + this.rng.int(this.electionTimeout);
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send(newMessage({ type: MessageType.MsgTimeoutNow, to }));
    if (!this.isVoter()) {
      // A leader that is no longer a voter has handed over to a fully caught-up voter: it is done leading.
      // (Should the MsgTimeoutNow be lost, the others elect a leader when they time out; this node answers
      // their votes as a follower.)
      this.logger.info(`${fmtId(this.id)} handed leadership to ${fmtId(to)} and steps down (no longer a voter)`);
      this.becomeFollower(this.term, None);
    }
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = None;
  }

  /** Whether the entry at the commit index is of the current term (the no-op of §8 has committed). */
  committedEntryInCurrentTerm(): boolean {
    return this.raftLog.maybeTerm(this.raftLog.committed) === this.term;
  }

  /** Queues a read request and schedules the heartbeat round that confirms it (or answers at once). */
  private acceptReadIndex(m: Message): void {
    if (this.readOnly.option === ReadOnlyOption.LeaseBased) {
      this.respondToReadIndex(m, this.raftLog.committed);
      return;
    }
    this.readOnly.addRequest(this.raftLog.committed, m);
    // Our own acknowledgement; the heartbeat that collects the others goes out with the next flush, once
    // for every request that arrived in between.
    this.readOnly.recvAck(this.id, (m.entries[0] as Entry).data);
    this.readsDeferred = true;
  }

  /** Answers a confirmed read: locally as a ReadState, or to the follower that forwarded it. */
  private respondToReadIndex(req: Message, readIndex: number): void {
    if (req.from === None || req.from === this.id) {
      this.readStates.push({ index: readIndex, requestCtx: (req.entries[0] as Entry).data });
      return;
    }
    this.send(newMessage({ type: MessageType.MsgReadIndexResp, to: req.from, index: readIndex, entries: req.entries }));
  }

  private releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0) return;
    if (!this.committedEntryInCurrentTerm()) {
      this.logger.error('pending MsgReadIndex should be released only after first commit in current term');
      return;
    }
    const msgs = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of msgs) this.acceptReadIndex(m);
  }
}

function validateConfig(c: RaftConfig): void {
  if (c.id === None) throw new ErrInvalidConfig('raft: cannot use none as id');
  if (!Number.isSafeInteger(c.heartbeatTick) || c.heartbeatTick <= 0) {
    throw new ErrInvalidConfig('raft: heartbeat tick must be greater than 0');
  }
  if (!Number.isSafeInteger(c.electionTick) || c.electionTick <= c.heartbeatTick) {
    throw new ErrInvalidConfig('raft: election tick must be greater than heartbeat tick');
  }
  if (c.maxInflightMsgs !== undefined && (!Number.isSafeInteger(c.maxInflightMsgs) || c.maxInflightMsgs <= 0)) {
    throw new ErrInvalidConfig('raft: max inflight messages must be greater than 0');
  }
  const maxMsg = c.maxSizePerMsg ?? MiB;
  if (c.maxInflightBytes !== undefined && c.maxInflightBytes > 0 && c.maxInflightBytes < maxMsg) {
    throw new ErrInvalidConfig('raft: max inflight bytes must be >= max message size');
  }
  if (c.readOnlyOption === ReadOnlyOption.LeaseBased && c.checkQuorum === false) {
    throw new ErrInvalidConfig('raft: CheckQuorum must be enabled when ReadOnlyOption is ReadOnlyLeaseBased');
  }
}

function assertConfStatesEquivalent(want: ConfState, got: ConfState): void {
  const same = (a: readonly NodeId[], b: readonly NodeId[]) => {
    const x = sortIds(a);
    const y = sortIds(b);
    return x.length === y.length && x.every((v, i) => v === y[i]);
  };
  if (
    !same(want.voters, got.voters) ||
    !same(want.learners, got.learners) ||
    !same(want.votersOutgoing, got.votersOutgoing) ||
    !same(want.learnersNext, got.learnersNext) ||
    want.autoLeave !== got.autoLeave
  ) {
    throw new RaftInvariantError(`raft: ConfStates not equivalent after sorting: ${describeConfState(want)} != ${describeConfState(got)}`);
  }
}

