/**
 * The server's public entry: the only file code outside `src/server/` may import. It offers the node
 * (`kvctl node`) with its configuration, and the deterministic raft simulation (`kvctl raft simulate`).
 */
export {
  type FaultMix,
  type SimulationOptions,
  type SimulationReport,
  SimViolation,
  faultMixes,
  runSimulation,
} from './raftsim/index.js';
export {
  type AutoCompactionMode,
  type ClusterState,
  ConfigError,
  type NodeLogLevel,
  type ServerConfig,
  defaultConfig,
  parseDurationMs,
  parseInitialCluster,
  parseRetention,
  parseUrlList,
  urlString,
  validateConfig,
} from './kvserver/config.js';
export { type RunningNode, startNode } from './node.js';
export {
  type SnapshotFileStatus,
  type SnapshotFormat,
  SnapshotFileError,
  snapshotFileStatus,
  snapshotFormatOf,
  snapshotHeadBytes,
} from './kvserver/snapshot-status.js';
export { type RestoreOptions, type RestoreReport, type RestoredMember, RestoreError, restoreSnapshot } from './kvserver/restore.js';
