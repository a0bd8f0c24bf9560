/** The deterministic raft cluster simulation: used by the randomized test suite and `kvctl raft simulate`. */
export { SimCluster, SimViolation, type SimClusterOptions, type SimStats } from './cluster.js';
export {
  COMMIT_BOUND,
  ELECTION_BOUND,
  type FaultMix,
  type SimulationOptions,
  type SimulationReport,
  faultMixes,
  runSimulation,
} from './scenario.js';
