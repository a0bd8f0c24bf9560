/**
 * A deterministic simulation of a raft group: N RawNodes, each over its own MemoryStorage (its "disk") and
 * a toy state machine, connected by a simulated network with delay, loss, duplication and partitions.
 * Everything is driven by rounds (one tick of every live node, then message delivery until quiet) and by the
 * seeded Rng: the same seed replays the same run exactly.
 *
 * Each node follows the Ready contract of raw-node.ts like the real server will: persist, send, apply,
 * advance. Messages are encoded on send and decoded on delivery, so nodes share no objects and the codec
 * is exercised on every message.
 *
 * The checker observes every step and throws `SimViolation` when a Raft safety property breaks:
 * - election safety: at most one leader per term;
 * - log matching: two logs with an entry of the same index and term hold the same entry there, and the
 *   same term just before it (so, inductively, the same prefix);
 * - leader completeness: a new leader holds every entry applied anywhere before it was elected;
 * - state machine safety: no two nodes apply different entries (or reach different states) at an index;
 * - monotonicity: a node's term and commit index never go back, even across restarts;
 * - read linearizability: a ReadIndex answer is at least every index applied anywhere when it was asked.
 */
import { KvError } from '../../base/errors.js';
import type { Logger } from '../../base/logger.js';
import type { Rng } from '../../base/rng.js';
import {
  type ConfChangeV2,
  type ConfState,
  type Entry,
  EntryType,
  ErrProposalDropped,
  ErrStepPeerNotFound,
  type Message,
  MessageType,
  MemoryStorage,
  type NodeId,
  RawNode,
  type Ready,
  type Snapshot,
  StateType,
  confChangeAsV2,
  decodeConfChange,
  decodeConfChangeV2,
  decodeMessage,
  encodeMessage,
  fmtId,
} from '../raft/index.js';

/** A broken safety or liveness property, with what is needed to replay and understand it. */
export class SimViolation extends KvError {
  readonly code = 'RAFT_SIM_VIOLATION';

  constructor(
    message: string,
    readonly seed: number,
    readonly round: number,
    readonly trace: readonly string[],
  ) {
    super(`${message} (seed ${seed}, round ${round}; replay with SEED=${seed})`);
  }
}

export interface SimClusterOptions {
  readonly seed: number;
  readonly rng: Rng;
  /** How many nodes exist (ids 1..nodes); the first `voters` form the initial config. */
  readonly nodes: number;
  readonly voters: number;
  readonly electionTick: number;
  readonly heartbeatTick: number;
  /** Raft options applied to every node. */
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  readonly maxSizePerMsg?: number;
  readonly maxInflightMsgs?: number;
  /** Receives every trace line as it happens (the demo prints them); the last ones are kept regardless. */
  readonly onTrace?: (line: string) => void;
  readonly logger?: Logger;
}

/** The toy state machine: a hash chain over applied payloads, with its applied index and config. */
interface MachineState {
  applied: number;
  hash: number;
  confState: ConfState;
}

/** What a node keeps across a crash: its raft storage, and (as a durable backend would) its state machine. */
interface SimNode {
  readonly id: NodeId;
  readonly storage: MemoryStorage;
  raw: RawNode | undefined;
  sm: MachineState;
  /** Applied index at which to take the next snapshot and compact. */
  nextSnapshotAt: number;
  lastTerm: number;
  lastCommit: number;
  /** When set, the next Ready is interrupted by a crash at that point. */
  crashPoint: 'after-persist' | 'after-send' | undefined;
}

interface InFlight {
  readonly sentAt: number;
  readonly deliverAt: number;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly type: MessageType;
  readonly bytes: Uint8Array;
}

export interface SimStats {
  rounds: number;
  messagesSent: number;
  messagesDelivered: number;
  messagesDropped: number;
  elections: number;
  proposalsAccepted: number;
  proposalsDropped: number;
  entriesApplied: number;
  confChangesApplied: number;
  snapshotsSent: number;
  snapshotsApplied: number;
  readsServed: number;
  crashes: number;
  restarts: number;
}

const TRACE_KEEP = 200;

function mix(h: number, data: Uint8Array): number {
  // FNV-1a over the payload, chained: equal hashes at an index mean equal applied histories (with
  // overwhelming probability for the unique payloads the simulation proposes).
  let x = h ^ 0x811c9dc5;
  for (let i = 0; i < data.length; i++) {
    x ^= data[i] as number;
    x = Math.imul(x, 0x01000193);
  }
  return x >>> 0;
}

function encodeMachine(sm: MachineState): Uint8Array {
  return new TextEncoder().encode(`${sm.applied}:${sm.hash}`);
}

function decodeMachine(data: Uint8Array, confState: ConfState): MachineState {
  if (data.length === 0) return { applied: 0, hash: 0, confState };
  const [applied, hash] = new TextDecoder().decode(data).split(':').map(Number);
  return { applied: applied ?? 0, hash: hash ?? 0, confState };
}

function dataKey(e: Entry): string {
  let s = `${e.type}:`;
  for (const b of e.data) s += String.fromCharCode(b);
  return s;
}

export class SimCluster {
  readonly nodes = new Map<NodeId, SimNode>();
  readonly ids: NodeId[];
  private readonly initialVoters: NodeId[];
  round = 0;
  readonly stats: SimStats = {
    rounds: 0,
    messagesSent: 0,
    messagesDelivered: 0,
    messagesDropped: 0,
    elections: 0,
    proposalsAccepted: 0,
    proposalsDropped: 0,
    entriesApplied: 0,
    confChangesApplied: 0,
    snapshotsSent: 0,
    snapshotsApplied: 0,
    readsServed: 0,
    crashes: 0,
    restarts: 0,
  };

  // Network state.
  private inflight: InFlight[] = [];
  /** Directed links that drop everything ("from->to"). */
  readonly blocked = new Set<string>();
  dropRate = 0;
  duplicateRate = 0;
  /** Messages are delayed by 0..maxDelay rounds (most by 0). */
  maxDelay = 0;

  // Checker state.
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** index:term → payload identity, for every entry ever persisted. */
  private readonly persisted = new Map<string, string>();
  /** index:term → term of the entry before it, where known. */
  private readonly persistedPrevTerm = new Map<string, number>();
  /** index → term:payload of the entry applied there (by anyone). */
  private readonly appliedEntry = new Map<number, string>();
  /** index → state machine hash after applying it (by anyone). */
  private readonly appliedHash = new Map<number, number>();
  /** The highest index applied by any node. */
  maxApplied = 0;
  /** Payloads applied somewhere: proposals are unique, so this is the set of committed proposals. */
  readonly committedPayloads = new Set<string>();
  /** Outstanding read requests: ctx → the max applied index when it was asked. */
  private readonly reads = new Map<string, number>();
  private readonly traceRing: string[] = [];
  private readCounter = 0;

  constructor(readonly opts: SimClusterOptions) {
    this.ids = [];
    for (let i = 1; i <= opts.nodes; i++) this.ids.push(BigInt(i));
    this.initialVoters = this.ids.slice(0, opts.voters);
    for (const id of this.ids) {
      // Every node starts with an empty disk. The initial voters bootstrap the group (the first entries of
      // their log add each of them); the others learn everything from the leader once they are added, as a
      // joining member does.
      const storage = new MemoryStorage();
      const node: SimNode = {
        id,
        storage,
        raw: undefined,
        sm: { applied: 0, hash: 0, confState: storage.initialState().confState },
        nextSnapshotAt: 0,
        lastTerm: 0,
        lastCommit: 0,
        crashPoint: undefined,
      };
      this.scheduleSnapshot(node);
      this.nodes.set(id, node);
      this.start(node);
    }
  }

  // ---- Trace and failure ----------------------------------------------------------------------------------

  trace(line: string): void {
    const l = `[r${this.round}] ${line}`;
    this.traceRing.push(l);
    if (this.traceRing.length > TRACE_KEEP) this.traceRing.shift();
    this.opts.onTrace?.(l);
  }

  fail(message: string): never {
    const state = this.describeNodes().map((l) => `  ${l}`);
    throw new SimViolation(message, this.opts.seed, this.round, [...this.traceRing, 'nodes at failure:', ...state]);
  }

  // ---- Node lifecycle -------------------------------------------------------------------------------------

  private start(node: SimNode): void {
    // Raft's config on restart is the storage snapshot's, so raft must replay the committed entries after
    // it (conf changes included); the state machine skips what it already holds (idempotent apply).
    const snapIndex = node.storage.snapshot().metadata.index;
    node.raw = new RawNode({
      id: node.id,
      electionTick: this.opts.electionTick,
      heartbeatTick: this.opts.heartbeatTick,
      storage: node.storage,
      applied: snapIndex,
      rng: this.opts.rng,
      preVote: this.opts.preVote ?? true,
      checkQuorum: this.opts.checkQuorum ?? true,
      maxSizePerMsg: this.opts.maxSizePerMsg ?? 4096,
      maxInflightMsgs: this.opts.maxInflightMsgs ?? 16,
      logger: this.opts.logger,
    });
    if (node.storage.lastIndex() === 0 && this.initialVoters.includes(node.id)) {
      node.raw.bootstrap(this.initialVoters.map((id) => ({ id })));
    }
    const hs = node.storage.initialState().hardState;
    if (hs.term < node.lastTerm) this.fail(`node ${fmtId(node.id)} restarted with term ${hs.term} < ${node.lastTerm}`);
  }

  isAlive(id: NodeId): boolean {
    return this.nodes.get(id)?.raw !== undefined;
  }

  raw(id: NodeId): RawNode | undefined {
    return this.nodes.get(id)?.raw;
  }

  /** Stops a node as `kill -9` would: its storage (synced writes) and durable state machine survive. */
  crash(id: NodeId, point?: 'after-persist' | 'after-send'): void {
    const node = this.nodes.get(id);
    if (node?.raw === undefined) return;
    if (point !== undefined) {
      node.crashPoint = point;
      this.trace(`crash ${fmtId(id)} armed (${point} of its next Ready)`);
      return;
    }
    node.raw = undefined;
    node.crashPoint = undefined;
    // Messages on their way to the node are lost; the transport reports each lost snapshot (its stream
    // breaks), as raft requires.
    for (const f of this.inflight) {
      if (f.to === id && f.type === MessageType.MsgSnap) this.raw(f.from)?.reportSnapshot(id, 'failure');
    }
    this.inflight = this.inflight.filter((f) => f.to !== id);
    // A process that dies has its connections reset by its kernel: a peer whose transport held a working
    // connection to it (none across a partition) hears of it at once, here half of the time (a machine that
    // loses power resets nothing).
    for (const other of this.nodes.values()) {
      if (other.raw === undefined || this.blocked.has(`${id}->${other.id}`)) continue;
      if (this.opts.rng.int(2) === 0) other.raw.reportConnectionLost(id);
    }
    this.stats.crashes++;
    this.trace(`crash ${fmtId(id)}`);
  }

  /** Whether messages sent before `round` are still on their way (delayed). */
  hasInflightSentBefore(round: number): boolean {
    return this.inflight.some((f) => f.sentAt < round);
  }

  /** Cancels crashes armed for the middle of a future Ready. */
  disarmCrashes(): void {
    for (const node of this.nodes.values()) node.crashPoint = undefined;
  }

  /**
   * Restarts a crashed node. With `loseStateMachine`, its state machine is rebuilt from the storage
   * snapshot (as a node whose backend is lost restores from the latest snapshot) and replays the log.
   */
  restart(id: NodeId, loseStateMachine: boolean): void {
    const node = this.nodes.get(id);
    if (node === undefined || node.raw !== undefined) return;
    const snap = node.storage.snapshot();
    // A state machine behind the persisted snapshot (the node crashed after persisting a snapshot from the
    // leader, before applying it) must restore from it: raft resumes after the snapshot. etcd does the same
    // at startup (its backend is replaced by the snapshot's when its consistent index is older).
    if (loseStateMachine || node.sm.applied < snap.metadata.index) {
      node.sm = decodeMachine(snap.data, snap.metadata.confState);
      node.sm.applied = snap.metadata.index;
      if (node.sm.applied > 0) this.checkHash(node, node.sm.applied, node.sm.hash);
    }
    this.start(node);
    this.stats.restarts++;
    this.trace(`restart ${fmtId(id)} (state machine ${loseStateMachine ? 'rebuilt from snapshot' : 'kept'} at ${node.sm.applied})`);
  }

  // ---- Client operations ----------------------------------------------------------------------------------

  /** Proposes `payload` at node `id`; returns whether raft accepted it (it may still be lost later). */
  propose(id: NodeId, payload: Uint8Array): boolean {
    const raw = this.raw(id);
    if (raw === undefined) return false;
    try {
      raw.propose(payload);
      this.stats.proposalsAccepted++;
      return true;
    } catch (err) {
      if (!(err instanceof ErrProposalDropped)) throw err;
      this.stats.proposalsDropped++;
      return false;
    }
  }

  proposeConfChange(id: NodeId, cc: ConfChangeV2): boolean {
    const raw = this.raw(id);
    if (raw === undefined) return false;
    try {
      raw.proposeConfChange(cc);
      return true;
    } catch (err) {
      if (!(err instanceof ErrProposalDropped)) throw err;
      return false;
    }
  }

  /** Issues a linearizable read at node `id`, checked when its ReadState arrives. */
  readIndex(id: NodeId): void {
    const raw = this.raw(id);
    if (raw === undefined) return;
    const ctx = `read-${++this.readCounter}`;
    this.reads.set(ctx, this.maxApplied);
    raw.readIndex(new TextEncoder().encode(ctx));
  }

  // ---- Time -----------------------------------------------------------------------------------------------

  /** One round: every live node ticks, then messages flow until none is due. */
  runRound(): void {
    this.round++;
    this.stats.rounds++;
    for (const id of this.ids) this.raw(id)?.tick();
    this.settle();
  }

  /** Delivers due messages and handles Readys until the group is quiet for this round. */
  settle(): void {
    for (let i = 0; i < 10_000; i++) {
      let progressed = false;
      for (const id of this.ids) {
        const node = this.nodes.get(id) as SimNode;
        if (node.raw?.hasReady()) {
          this.handleReady(node);
          progressed = true;
        }
      }
      if (this.deliverDue()) progressed = true;
      if (!progressed) return;
    }
    this.fail('the group did not quiesce within 10000 iterations of a round');
  }

  private deliverDue(): boolean {
    if (this.inflight.length === 0) return false;
    const due: InFlight[] = [];
    const later: InFlight[] = [];
    for (const f of this.inflight) (f.deliverAt <= this.round ? due : later).push(f);
    if (due.length === 0) return false;
    this.inflight = later;
    for (const f of due) this.deliver(f);
    return true;
  }

  private deliver(f: InFlight): void {
    const target = this.nodes.get(f.to);
    const sender = this.raw(f.from);
    if (target?.raw === undefined) {
      if (f.type === MessageType.MsgSnap) sender?.reportSnapshot(f.to, 'failure');
      return;
    }
    const m = decodeMessage(f.bytes);
    this.stats.messagesDelivered++;
    try {
      target.raw.step(m);
    } catch (err) {
      // Refusals a transport logs and moves on from: a forwarded proposal that found no leader, or an
      // answer from a node that is not (or no longer) a member.
      if (!(err instanceof ErrProposalDropped) && !(err instanceof ErrStepPeerNotFound)) throw err;
    }
    // The transport reports a delivered snapshot (etcd reports once the stream is written).
    if (m.type === MessageType.MsgSnap) sender?.reportSnapshot(f.to, 'finish');
  }

  /**
   * Replaces the stored snapshot of a MsgSnap with a fresh one of the sender's state machine at its
   * applied index (etcd's merged snapshot): a member added after the stored snapshot was taken is in the
   * fresh one's ConfState, and the follower needs fewer entries afterwards.
   */
  private freshSnapshot(m: Message): void {
    const node = this.nodes.get(m.from) as SimNode;
    const applied = node.sm.applied;
    const stored = m.snapshot;
    if (stored === undefined || applied <= stored.metadata.index) return;
    m.snapshot = {
      data: encodeMachine(node.sm),
      metadata: { index: applied, term: node.storage.term(applied), confState: node.sm.confState },
    };
  }

  /** Puts a message on the wire, subject to partitions, loss, delay and duplication. */
  private send(m: Message): void {
    if (m.type === MessageType.MsgSnap) this.freshSnapshot(m);
    this.stats.messagesSent++;
    const rng = this.opts.rng;
    const cut = this.blocked.has(`${m.from}->${m.to}`);
    if (cut || (this.dropRate > 0 && rng.float() < this.dropRate)) {
      this.stats.messagesDropped++;
      const sender = this.raw(m.from);
      // The transport notices failed sends of snapshots always, and of other messages some of the time.
      if (m.type === MessageType.MsgSnap) sender?.reportSnapshot(m.to, 'failure');
      else if (cut && rng.int(4) === 0) sender?.reportUnreachable(m.to);
      return;
    }
    if (m.type === MessageType.MsgSnap) this.stats.snapshotsSent++;
    const bytes = encodeMessage(m);
    const delay = this.maxDelay > 0 && rng.int(3) === 0 ? 1 + rng.int(this.maxDelay) : 0;
    this.inflight.push({ sentAt: this.round, deliverAt: this.round + delay, from: m.from, to: m.to, type: m.type, bytes });
    if (this.duplicateRate > 0 && rng.float() < this.duplicateRate) {
      this.inflight.push({ sentAt: this.round, deliverAt: this.round + delay + rng.int(2), from: m.from, to: m.to, type: m.type, bytes });
    }
  }

  // ---- The Ready loop of one node -------------------------------------------------------------------------

  private handleReady(node: SimNode): void {
    const raw = node.raw as RawNode;
    const rd = raw.ready();
    this.observe(node, rd);

    // 1. Persist (the hard state, the snapshot, the entries) before anything else.
    if (rd.snapshot !== undefined) node.storage.applySnapshot(rd.snapshot);
    if (rd.entries.length > 0) this.persistEntries(node, rd.entries);
    if (rd.hardState !== undefined) {
      if (rd.hardState.term < node.lastTerm) this.fail(`node ${fmtId(node.id)} term went back to ${rd.hardState.term}`);
      if (rd.hardState.commit < node.lastCommit) this.fail(`node ${fmtId(node.id)} commit went back to ${rd.hardState.commit}`);
      node.lastTerm = rd.hardState.term;
      node.lastCommit = rd.hardState.commit;
      node.storage.setHardState(rd.hardState);
    }
    if (node.crashPoint === 'after-persist') return this.crash(node.id);

    // 2. Send.
    for (const m of rd.messages) this.send(m);
    if (node.crashPoint === 'after-send') return this.crash(node.id);

    // 3. Apply: the snapshot, then committed entries; then serve reads.
    if (rd.snapshot !== undefined) this.applySnapshot(node, rd.snapshot);
    for (const e of rd.committedEntries) this.applyEntry(node, raw, e);
    for (const rs of rd.readStates) this.checkRead(node, rs.index, rs.requestCtx);

    // 4. Advance, then maybe snapshot and compact.
    raw.advance();
    this.maybeCompact(node);
  }

  /** Election safety and leader completeness, checked whenever a node reports a role change. */
  private observe(node: SimNode, rd: Ready): void {
    const raw = node.raw as RawNode;
    if (rd.softState === undefined || rd.softState.raftState !== StateType.Leader) return;
    const term = raw.raft.term;
    const prev = this.leaderOfTerm.get(term);
    if (prev !== undefined && prev !== node.id) this.fail(`two leaders in term ${term}: ${fmtId(prev)} and ${fmtId(node.id)}`);
    if (prev === undefined) {
      this.leaderOfTerm.set(term, node.id);
      this.stats.elections++;
      this.trace(`${fmtId(node.id)} is leader at term ${term} (last index ${raw.raft.raftLog.lastIndex()})`);
    }
    // Leader completeness (§5.4): every entry applied anywhere so far is in the new leader's log.
    const log = raw.raft.raftLog;
    if (log.lastIndex() < this.maxApplied) {
      this.fail(`leader ${fmtId(node.id)} of term ${term} has last index ${log.lastIndex()} < applied index ${this.maxApplied}`);
    }
    for (let i = Math.max(log.firstIndex(), 1); i <= this.maxApplied; i++) {
      const want = this.appliedEntry.get(i);
      const t = log.maybeTerm(i);
      if (want !== undefined && t !== undefined && !want.startsWith(`${t}:`)) {
        this.fail(`leader ${fmtId(node.id)} of term ${term} has term ${t} at index ${i}, but ${want.split(':')[0]} was applied there`);
      }
    }
  }

  /** Log matching, checked on everything that reaches a node's disk. */
  private persistEntries(node: SimNode, entries: readonly Entry[]): void {
    let prevTerm: number | undefined;
    const first = entries[0] as Entry;
    try {
      prevTerm = first.index > 1 ? node.storage.term(first.index - 1) : 0;
    } catch {
      prevTerm = undefined; // compacted: cannot check this one link
    }
    // A new entry may replace a persisted tail (a follower's conflicting entries): that is allowed only
    // above the node's commit index.
    if (first.index <= node.storage.lastIndex() && first.index <= node.lastCommit) {
      try {
        if (node.storage.term(first.index) !== first.term) {
          this.fail(`node ${fmtId(node.id)} overwrites committed index ${first.index}`);
        }
      } catch {
        /* compacted: committed and identical by the snapshot */
      }
    }
    // An entry applied anywhere is committed: a node that holds it must never lose it. (A node that does not
    // hold it yet may still receive older entries at that index from a deposed leader; that is legal.)
    const conflict = entries.find((e) => e.index <= node.storage.lastIndex() && this.storedTerm(node, e.index) !== e.term);
    if (conflict !== undefined) {
      for (let i = conflict.index; i <= node.storage.lastIndex(); i++) {
        const t = this.storedTerm(node, i);
        const applied = this.appliedEntry.get(i);
        if (t !== undefined && applied !== undefined && applied.startsWith(`${t}:`)) {
          this.fail(`${fmtId(node.id)} truncates its log at ${conflict.index}, losing the committed entry ${i}/${t}`);
        }
      }
    }
    for (const e of entries) {
      const k = `${e.index}:${e.term}`;
      const id = dataKey(e);
      const seen = this.persisted.get(k);
      if (seen === undefined) this.persisted.set(k, id);
      else if (seen !== id) this.fail(`log matching: two different entries at index ${e.index} term ${e.term}`);
      if (prevTerm !== undefined) {
        const seenPrev = this.persistedPrevTerm.get(k);
        if (seenPrev === undefined) this.persistedPrevTerm.set(k, prevTerm);
        else if (seenPrev !== prevTerm) {
          this.fail(`log matching: entry ${e.index}/${e.term} follows term ${prevTerm} on ${fmtId(node.id)} but term ${seenPrev} elsewhere`);
        }
      }
      prevTerm = e.term;
    }
    node.storage.append(entries);
  }

  private storedTerm(node: SimNode, i: number): number | undefined {
    try {
      return node.storage.term(i);
    } catch {
      return undefined; // compacted
    }
  }

  private applySnapshot(node: SimNode, snap: Snapshot): void {
    if (snap.metadata.index <= node.sm.applied) {
      this.fail(`${fmtId(node.id)} got snapshot ${snap.metadata.index} at or below its applied index ${node.sm.applied}`);
    }
    const sm = decodeMachine(snap.data, snap.metadata.confState);
    sm.applied = snap.metadata.index;
    this.checkHash(node, sm.applied, sm.hash);
    node.sm = sm;
    this.stats.snapshotsApplied++;
    this.trace(`${fmtId(node.id)} applied snapshot at ${snap.metadata.index}`);
  }

  private applyEntry(node: SimNode, raw: RawNode, e: Entry): void {
    const key = `${e.term}:${dataKey(e)}`;
    const seen = this.appliedEntry.get(e.index);
    if (seen === undefined) this.appliedEntry.set(e.index, key);
    else if (seen !== key) this.fail(`state machine safety: ${fmtId(node.id)} applies a different entry at index ${e.index}`);

    // Conf changes are always handed to raft, even when replayed after a restart: raft rebuilt its config
    // from the snapshot and must see every change since.
    if (e.type !== EntryType.Normal) {
      const cc = e.type === EntryType.ConfChange ? confChangeAsV2(decodeConfChange(e.data)) : decodeConfChangeV2(e.data);
      const cs = raw.applyConfChange(cc);
      if (e.index > node.sm.applied) {
        node.sm.confState = cs;
        this.stats.confChangesApplied++;
        this.trace(`${fmtId(node.id)} applied conf change at ${e.index}: voters=(${cs.voters.map(fmtId).join(' ')})${cs.votersOutgoing.length > 0 ? `&&(${cs.votersOutgoing.map(fmtId).join(' ')})` : ''}${cs.learners.length > 0 ? ` learners=(${cs.learners.map(fmtId).join(' ')})` : ''}`);
      }
    }
    if (e.index <= node.sm.applied) return; // already in the durable state machine
    if (e.index !== node.sm.applied + 1) this.fail(`${fmtId(node.id)} applies index ${e.index} after ${node.sm.applied}`);
    if (e.type === EntryType.Normal && e.data.length > 0) {
      node.sm.hash = mix(node.sm.hash, e.data);
      this.committedPayloads.add(dataKey(e));
    }
    node.sm.applied = e.index;
    this.stats.entriesApplied++;
    this.checkHash(node, e.index, node.sm.hash);
    if (e.index > this.maxApplied) this.maxApplied = e.index;
  }

  private checkHash(node: SimNode, index: number, hash: number): void {
    const want = this.appliedHash.get(index);
    if (want === undefined) this.appliedHash.set(index, hash);
    else if (want !== hash) this.fail(`state machine safety: ${fmtId(node.id)} has state ${hash} at index ${index}, others ${want}`);
  }

  private checkRead(node: SimNode, index: number, ctx: Uint8Array): void {
    const key = new TextDecoder().decode(ctx);
    const atAsk = this.reads.get(key);
    if (atAsk === undefined) return; // answered twice (a duplicated message): the first answer counted
    this.reads.delete(key);
    if (index < atAsk) this.fail(`read ${key} at ${fmtId(node.id)} got index ${index}, but ${atAsk} was applied before it was asked`);
    this.stats.readsServed++;
  }

  private scheduleSnapshot(node: SimNode): void {
    node.nextSnapshotAt = node.sm.applied + 10 + this.opts.rng.int(40);
  }

  /** Takes a snapshot at the applied index now and then, and compacts the log behind it. */
  private maybeCompact(node: SimNode): void {
    if (node.sm.applied < node.nextSnapshotAt) return;
    const st = node.storage;
    const applied = node.sm.applied;
    if (applied <= st.snapshot().metadata.index || applied > st.lastIndex()) return;
    st.createSnapshot(applied, node.sm.confState, encodeMachine(node.sm));
    // Keep a few entries behind the snapshot, as etcd does, so slightly lagging followers need no snapshot.
    const keep = this.opts.rng.int(8);
    const compactTo = applied - keep;
    if (compactTo > st.firstIndex()) st.compact(compactTo);
    this.scheduleSnapshot(node);
  }

  // ---- Views ----------------------------------------------------------------------------------------------

  /** The live leader with the highest term, if any. */
  leader(): NodeId | undefined {
    let best: NodeId | undefined;
    let bestTerm = -1;
    for (const id of this.ids) {
      const raw = this.raw(id);
      if (raw !== undefined && raw.raft.state === StateType.Leader && raw.raft.term > bestTerm) {
        best = id;
        bestTerm = raw.raft.term;
      }
    }
    return best;
  }

  appliedIndex(id: NodeId): number {
    return this.nodes.get(id)?.sm.applied ?? 0;
  }

  /** One line per node: role, term, vote, leader, log and apply position, configuration. */
  describeNodes(): string[] {
    return this.ids.map((id) => {
      const node = this.nodes.get(id) as SimNode;
      const r = node.raw?.raft;
      if (r === undefined) return `${fmtId(id)}: down (applied ${node.sm.applied})`;
      const roles = ['follower', 'candidate', 'leader', 'pre-candidate'];
      let line = `${fmtId(id)}: ${roles[r.state]} term ${r.term} vote ${fmtId(r.vote)} lead ${fmtId(r.lead)} last ${r.raftLog.lastIndex()}/${r.raftLog.lastTerm()} commit ${r.raftLog.committed} applied ${r.raftLog.applied} elapsed ${r.electionElapsed}/${r.randomizedElectionTimeout} config ${r.trk.config}`;
      if (r.state === StateType.Leader) {
        const prs: string[] = [];
        r.trk.visit((pid, pr) => prs.push(`${fmtId(pid)}: ${pr}`));
        line += ` progress {${prs.join('; ')}}`;
      }
      return line;
    });
  }
}
