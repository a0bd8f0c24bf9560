/**
 * Runs ranges of simulation seeds as node:test tests. Shared by the simulation-*.test.ts files, which split
 * the seeds so the runner can use both cores.
 *
 * - SEED=n runs only seed n, printing its whole trace (to replay a failure).
 * - SIM_SEEDS=k scales the number of seeds per file (default: each file's own count).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SimViolation, runSimulation, type SimulationReport } from '../../src/server/raftsim/index.js';

const CHUNK = 100;

export function simulateSeeds(first: number, count: number): void {
  const only = process.env.SEED;
  if (only !== undefined) {
    // Replay a single seed (only in the file whose range holds it, so it runs once).
    const seed = Number(only);
    if (!Number.isSafeInteger(seed) || seed < first || seed >= first + count) return;
    test(`simulation seed ${seed} (replay)`, (t) => {
      const report = runSimulation({ seed, onTrace: (line) => process.stderr.write(`${line}\n`) });
      t.diagnostic(JSON.stringify(report));
    });
    return;
  }
  const scale = process.env.SIM_SEEDS === undefined ? 1 : Number(process.env.SIM_SEEDS) / count;
  const n = Math.max(1, Math.round(count * scale));
  let maxElection = 0;
  let maxCommit = 0;
  let entries = 0;
  let elections = 0;
  for (let from = first; from < first + n; from += CHUNK) {
    const to = Math.min(first + n, from + CHUNK);
    test(`simulation seeds ${from}..${to - 1}: safety at every step, liveness after healing`, () => {
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
      assert.equal(failures.length, 0, `${failures.length} seeds failed:\n${failures.join('\n')}`);
    });
  }
  test(`simulation seeds ${first}..${first + n - 1}: figures`, (t) => {
    t.diagnostic(
      `${n} seeds: ${elections} elections, ${entries} entries applied; worst case after healing: leader in ${maxElection} ticks, proposals applied everywhere in ${maxCommit} ticks`,
    );
  });
}
