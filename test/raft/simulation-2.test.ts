// Randomized raft simulation, block 2 of 2 of the seeds (see sim-suite.ts; SEED=n replays one seed).
import { simulateSeeds } from './sim-suite.js';

simulateSeeds(1, 2);
