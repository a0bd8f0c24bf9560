// Randomized raft simulation, second half of the CI seeds (see sim-suite.ts; SEED=n replays one).
import { simulateSeeds } from './sim-suite.js';

simulateSeeds(1501, 1500);
