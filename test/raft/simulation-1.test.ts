// Randomized raft simulation, first half of the CI seeds (see sim-suite.ts; SEED=n replays one).
import { simulateSeeds } from './sim-suite.js';

simulateSeeds(1, 1500);
