/**
 * The server's public entry: the only file code outside `src/server/` may import. For now it offers the
 * deterministic raft simulation (`kvctl raft simulate`); the node itself comes next.
 */
export {
  type FaultMix,
  type SimulationOptions,
  type SimulationReport,
  SimViolation,
  faultMixes,
  runSimulation,
} from './raftsim/index.js';
