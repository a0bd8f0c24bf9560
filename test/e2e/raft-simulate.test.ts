// End-to-end: `kvctl raft simulate` through the built binary (the README's main job).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { type Run, kvctl as runKvctl } from './kvctl.js';

const kvctl = (...args: string[]): Promise<Run> => runKvctl(args, { timeoutMs: 60_000 });

describe('kvctl raft simulate', () => {
  it('prints a timeline and a summary that says every check held', async () => {
    const r = await kvctl('raft', 'simulate', '--seed', '4');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\[r\d+\] \d+ is leader at term \d+/, 'timeline lines');
    assert.match(r.stdout, /Every safety check held at every step/);
    assert.match(r.stdout, /final leader\s+\d+ \(term \d+\)/);
  });

  it('--json prints the report, and the same seed gives the same report in another process', async () => {
    const a = await kvctl('raft', 'simulate', '--seed', '11', '--mix', 'partitions', '--json');
    const b = await kvctl('raft', 'simulate', '--seed', '11', '--mix', 'partitions', '--json');
    assert.equal(a.code, 0, a.stderr);
    const ra = JSON.parse(a.stdout) as { seed: number; mix: string; safe: boolean; stats: { rounds: number } };
    assert.equal(ra.seed, 11);
    assert.equal(ra.mix, 'partitions');
    assert.equal(ra.safe, true);
    assert.ok(ra.stats.rounds >= 300, `rounds ${ra.stats.rounds}`);
    assert.deepEqual(JSON.parse(b.stdout), ra, 'a seed must replay exactly');
  });

  it('refuses a bad flag value with one line naming the flag and exit code 2', async () => {
    const r = await kvctl('raft', 'simulate', '--mix', 'chaos');
    assert.equal(r.code, 2);
    assert.match(r.stderr.trim(), /^Error: Expected --mix=chaos to be one of: .*\(see --help\)$/);
    const n = await kvctl('raft', 'simulate', '--voters', '9');
    assert.equal(n.code, 2);
    assert.match(n.stderr, /--voters/);
  });
});
