/**
 * Runs ranges of simulation seeds as node:test tests. Shared by the simulation-*.test.ts files, which split
 * the seeds into disjoint blocks so that the runner can use both cores.
 *
 * - SEED=n runs only seed n, printing its whole trace (to replay a failure).
 * - SIM_SEEDS=k runs k seeds in all (default 3000), split between the files.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SimViolation, runSimulation, type SimulationReport } from '../../src/server/raftsim/index.js';

const CHUNK = 100;
export const DEFAULT_SEEDS = 3000;

/** Runs block `part` (0-based) of `parts` equal blocks of the seeds 1..SIM_SEEDS. */
export function simulateSeeds(part: number, parts: number): void {
  const total = process.env.SIM_SEEDS === undefined ? DEFAULT_SEEDS : Number(process.env.SIM_SEEDS);
  if (!Number.isSafeInteger(total) || total < 1) throw new Error(`SIM_SEEDS must be a positive integer, got ${process.env.SIM_SEEDS}`);
  const per = Math.ceil(total / parts);
  const first = 1 + part * per;
  const count = Math.max(0, Math.min(per, total - part * per));
  const only = process.env.SEED;
  if (only !== undefined) {
    // Replay a single seed, whatever range it came from: the first file runs it, the others nothing.
    const seed = Number(only);
    if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`SEED must be a non-negative integer, got ${only}`);
    if (part !== 0) return;
    test(`simulation seed ${seed} (replay)`, (t) => {
      const report = runSimulation({ seed, onTrace: (line) => process.stderr.write(`${line}\n`) });
      t.diagnostic(JSON.stringify(report));
    });
    return;
  }
  const n = count;
  if (n === 0) return;
  const last = first + n - 1;
  let maxElection = 0;
  let maxCommit = 0;
  let entries = 0;
  let elections = 0;
  for (let from = first; from < first + n; from += CHUNK) {
    const to = Math.min(first + n, from + CHUNK);
    test(`simulation seeds ${from}..${to - 1}: safety at every step, liveness after healing`, (t) => {
      const failures: string[] = [];
      for (let seed = from; seed < to; seed++) {
        let report: SimulationReport;
        try {
          report = runSimulation({ seed });
        } catch (err) {
          if (!(err instanceof SimViolation)) {
            failures.push(`seed ${seed}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)} (replay with SEED=${seed})`);
            continue;
          }
          failures.push(`${err.message}\n    ${err.trace.slice(-40).join('\n    ')}`);
          continue;
        }
        maxElection = Math.max(maxElection, ...report.electionRounds);
        maxCommit = Math.max(maxCommit, ...report.commitRounds);
        entries += report.stats.entriesApplied;
        elections += report.stats.elections;
      }
      // The last chunk reports the figures of the whole block (chunks run in order).
      if (to - 1 === last) {
        t.diagnostic(
          `${n} seeds (${first}..${last}): ${elections} elections, ${entries} entries applied; worst case after healing: leader in ${maxElection} ticks, proposals applied everywhere in ${maxCommit} ticks`,
        );
      }
      assert.equal(failures.length, 0, `${failures.length} seeds failed:\n${failures.join('\n')}`);
    });
  }
}
