/**
 * The raft core's public surface. Everything the node (kvserver, wal, peer) and the tests need is exported
 * from here; internals (tracker, quorum, confchange, log) are reachable for tests through their files.
 */
export * from './raftpb.js';
export * from './errors.js';
export * from './codec.js';
export { type InitialState, type Storage, MemoryStorage, limitSize } from './storage.js';
export { Raft, type RaftConfig, type SoftState, StateType, stateName } from './raft.js';
export { RawNode, type Ready, type SnapshotStatus } from './raw-node.js';
export { ReadOnlyOption, type ReadState } from './read-only.js';
export { type BasicStatus, type ProgressStatus, type Status } from './status.js';
export { ProgressState, progressStateName } from './tracker/progress.js';
export { VoteResult } from './quorum/quorum.js';
export * from './describe.js';
