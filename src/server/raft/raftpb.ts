/**
 * The raft wire and storage types, field for field those of etcd's `raftpb` (raft.proto), so that entries,
 * hard states and snapshots written by kvctl have the shape operators and tools expect. The protobuf encoding
 * lives in `codec.ts`.
 *
 * Numbers: member ids are random 64-bit values and are `bigint` (`NodeId`). Terms and indexes are `number`;
 * they grow by one per election / per entry, so 2^53 is out of reach, and the codec refuses larger values
 * rather than rounding them.
 *
 * Ownership: entries, messages and snapshots handed out by the raft core are shared, not copied. Nobody may
 * mutate them after they have been handed over (this is what lets the core avoid copying every entry on its
 * way from proposal to log to message to storage).
 */

/** A raft member id. `None` (0) means "no node", e.g. no vote cast or no known leader. */
export type NodeId = bigint;
export const None: NodeId = 0n;

/** Member ids print in hex, as etcd prints them. */
export function fmtId(id: NodeId): string {
  return id.toString(16);
}

export const EntryType = {
  Normal: 0,
  ConfChange: 1,
  ConfChangeV2: 2,
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

/** One log entry. `data` is empty for the no-op entry a new leader appends. */
export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** The state a node must persist before it sends any message that depends on it (Raft §5.1, Figure 2). */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

/**
 * A membership configuration. When `votersOutgoing` is non-empty the configuration is joint: decisions need
 * a majority of `voters` and a majority of `votersOutgoing`.
 */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  readonly votersOutgoing: readonly NodeId[];
  /** Voters of the outgoing config that become learners when the joint config is left. */
  readonly learnersNext: readonly NodeId[];
  /** Whether raft leaves the joint config by itself once it has been applied. */
  readonly autoLeave: boolean;
}

export interface SnapshotMetadata {
  readonly confState: ConfState;
  readonly index: number;
  readonly term: number;
}

/** A point-in-time image of the state machine covering every entry up to and including `metadata.index`. */
export interface Snapshot {
  readonly data: Uint8Array;
  readonly metadata: SnapshotMetadata;
}

export const MessageType = {
  MsgHup: 0,
  MsgBeat: 1,
  MsgProp: 2,
  MsgApp: 3,
  MsgAppResp: 4,
  MsgVote: 5,
  MsgVoteResp: 6,
  MsgSnap: 7,
  MsgHeartbeat: 8,
  MsgHeartbeatResp: 9,
  MsgUnreachable: 10,
  MsgSnapStatus: 11,
  MsgCheckQuorum: 12,
  MsgTransferLeader: 13,
  MsgTimeoutNow: 14,
  MsgReadIndex: 15,
  MsgReadIndexResp: 16,
  MsgPreVote: 17,
  MsgPreVoteResp: 18,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

const messageTypeNames: readonly string[] = Object.keys(MessageType);

export function messageTypeName(t: MessageType): string {
  return messageTypeNames[t] ?? `MessageType(${t})`;
}

/**
 * A raft message. Field meanings depend on the type; the important ones:
 * - MsgApp: `index`/`logTerm` identify the entry just before `entries` (the consistency check of §5.3),
 *   `commit` is the leader's commit index.
 * - MsgAppResp: `index` is the follower's last matching index, or on `reject` the index that was refused,
 *   with `rejectHint`/`logTerm` a guess at where the logs diverge (fast backtracking).
 * - MsgVote/MsgPreVote: `index`/`logTerm` describe the candidate's last entry.
 * - MsgHeartbeat(Resp): `context` carries a ReadIndex request id.
 */
export interface Message {
  type: MessageType;
  to: NodeId;
  from: NodeId;
  term: number;
  logTerm: number;
  index: number;
  entries: readonly Entry[];
  commit: number;
  vote: NodeId;
  snapshot: Snapshot | undefined;
  reject: boolean;
  rejectHint: number;
  context: Uint8Array | undefined;
}

export const ConfChangeType = {
  AddNode: 0,
  RemoveNode: 1,
  UpdateNode: 2,
  AddLearnerNode: 3,
} as const;
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType];

export const ConfChangeTransition = {
  /** Simple change when there is one change, joint consensus left automatically otherwise. */
  Auto: 0,
  /** Joint consensus, left automatically. */
  JointImplicit: 1,
  /** Joint consensus, left when the application proposes an empty ConfChangeV2. */
  JointExplicit: 2,
} as const;
export type ConfChangeTransition = (typeof ConfChangeTransition)[keyof typeof ConfChangeTransition];

/** The original one-change-at-a-time membership change (EntryConfChange). */
export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
  readonly context: Uint8Array;
  /** Used by etcd to thread a request id through; raft ignores it. */
  readonly id: bigint;
}

export interface ConfChangeSingle {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
}

/** A membership change of any number of operations (EntryConfChangeV2); empty `changes` leaves a joint config. */
export interface ConfChangeV2 {
  readonly transition: ConfChangeTransition;
  readonly changes: readonly ConfChangeSingle[];
  readonly context: Uint8Array;
}

export const emptyBytes: Uint8Array = new Uint8Array(0);

export const emptyHardState: HardState = { term: 0, vote: None, commit: 0 };

export const emptyConfState: ConfState = {
  voters: [],
  learners: [],
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false,
};

export const emptySnapshot: Snapshot = {
  data: emptyBytes,
  metadata: { confState: emptyConfState, index: 0, term: 0 },
};

export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === None && hs.commit === 0;
}

export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export function isEmptySnap(s: Snapshot | undefined): boolean {
  return s === undefined || s.metadata.index === 0;
}

/**
 * Builds a message with every field present, in one fixed order, so that all messages share one object
 * shape (the raft loop creates millions of them).
 */
export function newMessage(fields: Partial<Message> & { type: MessageType }): Message {
  return {
    type: fields.type,
    to: fields.to ?? None,
    from: fields.from ?? None,
    term: fields.term ?? 0,
    logTerm: fields.logTerm ?? 0,
    index: fields.index ?? 0,
    entries: fields.entries ?? [],
    commit: fields.commit ?? 0,
    vote: fields.vote ?? None,
    snapshot: fields.snapshot,
    reject: fields.reject ?? false,
    rejectHint: fields.rejectHint ?? 0,
    context: fields.context,
  };
}

/** Builds an entry (normal unless a type is given). */
export function newEntry(index: number, term: number, data: Uint8Array = emptyBytes, type: EntryType = EntryType.Normal): Entry {
  return { term, index, type, data };
}

/** Messages a node only ever sends to itself; they are refused when they arrive from the network. */
export function isLocalMsg(t: MessageType): boolean {
  return (
    t === MessageType.MsgHup ||
    t === MessageType.MsgBeat ||
    t === MessageType.MsgUnreachable ||
    t === MessageType.MsgSnapStatus ||
    t === MessageType.MsgCheckQuorum
  );
}

/** Messages that answer a request and are only meaningful from a peer the node tracks. */
export function isResponseMsg(t: MessageType): boolean {
  return (
    t === MessageType.MsgAppResp ||
    t === MessageType.MsgVoteResp ||
    t === MessageType.MsgHeartbeatResp ||
    t === MessageType.MsgUnreachable ||
    t === MessageType.MsgPreVoteResp
  );
}

export function voteRespMsgType(t: MessageType): MessageType {
  switch (t) {
    case MessageType.MsgVote:
      return MessageType.MsgVoteResp;
    case MessageType.MsgPreVote:
      return MessageType.MsgPreVoteResp;
    default:
      throw new Error(`raft: not a vote message: ${messageTypeName(t)}`);
  }
}

/** The ConfChangeV2 equivalent of a V1 change. */
export function confChangeAsV2(cc: ConfChange | ConfChangeV2): ConfChangeV2 {
  if ('changes' in cc) return cc;
  return {
    transition: ConfChangeTransition.Auto,
    changes: [{ type: cc.type, nodeId: cc.nodeId }],
    context: cc.context,
  };
}

/**
 * Whether the change uses joint consensus (more than one change, or joint explicitly asked for), and if so
 * whether raft leaves the joint config by itself. `undefined` means a simple change.
 */
export function confChangeEntersJoint(cc: ConfChangeV2): { autoLeave: boolean } | undefined {
  if (cc.transition === ConfChangeTransition.Auto && cc.changes.length <= 1) return undefined;
  switch (cc.transition) {
    case ConfChangeTransition.Auto:
    case ConfChangeTransition.JointImplicit:
      return { autoLeave: true };
    case ConfChangeTransition.JointExplicit:
      return { autoLeave: false };
  }
}

/** An empty ConfChangeV2 (context aside) is the instruction to leave a joint configuration. */
export function confChangeLeavesJoint(cc: ConfChangeV2): boolean {
  return cc.transition === ConfChangeTransition.Auto && cc.changes.length === 0;
}
