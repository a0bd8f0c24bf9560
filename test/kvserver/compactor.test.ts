import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { noopLogger } from '../../src/base/logger.js';
import { Compactor, type CompactorDeps } from '../../src/server/kvserver/compactor.js';

/** A fake clock with timers, and a store whose revision grows by one per millisecond tick we choose. */
function harness(mode: CompactorDeps['mode'], retention: number) {
  let now = 0;
  let rev = 1;
  let compacted = 0;
  const compactions: number[] = [];
  const timers: Array<{ every: number; next: number; fn: () => void; stopped: boolean }> = [];
  const deps: CompactorDeps = {
    mode,
    retention,
    logger: noopLogger,
    currentRevision: () => rev,
    compactedRevision: () => compacted,
    compact: async (r) => {
      compactions.push(r);
      compacted = r;
    },
    now: () => now,
    every: (ms, fn) => {
      const t = { every: ms, next: now + ms, fn, stopped: false };
      timers.push(t);
      return () => (t.stopped = true);
    },
  };
  /** Moves time forward by `ms`, firing due timers in order; the revision grows `revsPerMs` per ms. */
  const advance = async (ms: number, revsPerMs = 1) => {
    const end = now + ms;
    for (;;) {
      const due = timers.filter((t) => !t.stopped && t.next <= end).sort((a, b) => a.next - b.next)[0];
      if (due === undefined) break;
      rev += (due.next - now) * revsPerMs;
      now = due.next;
      due.next += due.every;
      due.fn();
      await Promise.resolve();
    }
    rev += (end - now) * revsPerMs;
    now = end;
  };
  return { deps, advance, compactions, rev: () => rev };
}

describe('auto-compaction', () => {
  test('periodic: compacts to the revision of one retention ago, once per retention (≤ 1h)', async () => {
    const h = harness('periodic', 1000);
    const c = new Compactor(h.deps);
    c.onLeaderChange(true);
    await h.advance(999);
    assert.deepEqual(h.compactions, []);
    await h.advance(2);
    // At t=1000 the sample taken at t=0 (revision 1) is one retention old.
    assert.deepEqual(h.compactions, [1]);
    await h.advance(1000);
    assert.equal(h.compactions.length, 2);
    assert.ok((h.compactions[1] ?? 0) >= 900 && (h.compactions[1] ?? 0) <= 1101, String(h.compactions[1]));
  });

  test('periodic with retention over an hour compacts hourly, keeping the whole retention', async () => {
    const h = harness('periodic', 2 * 3_600_000);
    const c = new Compactor(h.deps);
    c.onLeaderChange(true);
    await h.advance(3_600_000 + 1000);
    assert.deepEqual(h.compactions, [], 'nothing is two hours old yet');
    await h.advance(3_600_000);
    assert.deepEqual(h.compactions, [1], 'the revision of two hours ago');
    await h.advance(3_600_000);
    assert.equal(h.compactions.length, 2, 'then once an hour');
    const last = h.compactions[1] ?? 0;
    assert.ok(Math.abs(last - (h.rev() - 2 * 3_600_000)) <= 720_000, `${last} vs ${h.rev()}`);
  });

  test('revision mode: every 5 minutes, current revision minus the retention', async () => {
    const h = harness('revision', 100);
    const c = new Compactor(h.deps);
    c.onLeaderChange(true);
    await h.advance(300_000, 0);
    assert.deepEqual(h.compactions, []);
    await h.advance(1, 1000);
    await h.advance(300_000, 0);
    assert.deepEqual(h.compactions, [h.rev() - 100]);
  });

  test('only the leader compacts; retention 0 disables it', async () => {
    const h = harness('periodic', 1000);
    const c = new Compactor(h.deps);
    c.onLeaderChange(true);
    c.onLeaderChange(false);
    await h.advance(5000);
    assert.deepEqual(h.compactions, []);
    const off = harness('periodic', 0);
    new Compactor(off.deps).onLeaderChange(true);
    await off.advance(5000);
    assert.deepEqual(off.compactions, []);
  });
});
