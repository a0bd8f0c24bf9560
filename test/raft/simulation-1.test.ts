// Randomized raft simulation, block 1 of 2 of the seeds (see sim-suite.ts; SEED=n replays one seed).
import { simulateSeeds } from './sim-suite.js';

simulateSeeds(0, 2);
