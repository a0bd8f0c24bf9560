/**
 * Randomized test: the store against a naive model that keeps the whole key space after every revision.
 * Ops: puts, range deletes, multi-op txns that read their own writes, ranges at random revisions with every
 * end convention / limit / countOnly / keysOnly, compactions (awaited or not, some invalid), reopen (also
 * while a compaction runs), eventsSince and hashKV across reopen. Replay a failure with SEED=<n>.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { SeededRng } from '../../src/base/rng.js';
import { Event_EventType } from '../../src/proto/gen/mvccpb/kv.js';
import { CompactedError, FutureRevError } from '../../src/server/mvcc/errors.js';
import type { TxnRead } from '../../src/server/mvcc/kvstore.js';
import { type Fixture, openFixture, t } from './helpers.js';

interface MKv {
  readonly value: string;
  readonly create: number;
  readonly mod: number;
  readonly version: number;
  readonly lease: number;
}
type State = Map<string, MKv>;
interface MEvent {
  readonly rev: number;
  readonly put: boolean;
  readonly key: string;
  readonly kv: MKv | undefined;
}

const KEYS = ['a', 'b', 'c', 'ab', 'a\x00', 'b\xff', '\xff', 'foo/1', 'foo/2', 'foo/10', '\x00', 'zz'];
const cmp = (x: string, y: string): number => Buffer.compare(Buffer.from(x, 'latin1'), Buffer.from(y, 'latin1'));

class Model {
  rev = 1;
  compact = -1;
  /** The whole state after each revision (1 = empty). */
  readonly history = new Map<number, State>([[1, new Map()]]);
  readonly events: MEvent[] = [];

  state(rev: number): State {
    return this.history.get(rev) as State;
  }
}

/** The keys a range selects, etcd conventions (end undefined = single key, [0x00] = no upper bound). */
function select(state: State, key: string, end: string | undefined): string[] {
  if (end === undefined || end === '') return state.has(key) ? [key] : [];
  return [...state.keys()].filter((k) => cmp(k, key) >= 0 && (end === '\x00' || cmp(k, end) < 0)).sort(cmp);
}

function asTuple(key: string, kv: MKv, keysOnly: boolean): unknown[] {
  return [key, keysOnly ? '' : kv.value, kv.create, kv.mod, kv.version, kv.lease];
}

async function runModel(seed: number, ops: number): Promise<void> {
  const rng = new SeededRng(seed);
  const f = openFixture({ store: { compactionBatchLimit: 1 + rng.int(8) } });
  try {
    await check(f, rng, ops);
  } finally {
    await f.close();
  }
}

async function check(f: Fixture, rng: SeededRng, ops: number): Promise<void> {
  const m = new Model();
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)] as T;
  const randEnd = (): string | undefined => {
    const r = rng.int(4);
    return r === 0 ? undefined : r === 1 ? '\x00' : pick(KEYS);
  };
  const buf = (s: string | undefined) => (s === undefined ? undefined : Buffer.from(s, 'latin1'));
  let pendingCompaction: Promise<void> | undefined;

  /** Checks one range against the model state at `rev`. */
  const checkRange = (reader: TxnRead, view: State, viewRev: number, label: string): void => {
    const key = rng.int(10) === 0 ? '\x00' : pick(KEYS);
    const end = randEnd();
    const limit = rng.int(3) === 0 ? rng.int(4) : 0;
    const countOnly = rng.int(8) === 0;
    const keysOnly = rng.int(6) === 0;
    const sel = select(view, key, end);
    const res = reader.range(Buffer.from(key, 'latin1'), buf(end), { limit, countOnly, keysOnly, rev: 0 });
    const want = countOnly ? [] : sel.slice(0, limit > 0 ? limit : undefined).map((k) => asTuple(k, view.get(k) as MKv, keysOnly));
    assert.deepEqual(res.kvs.map(t), want, `${label} range ${JSON.stringify([key, end, limit, countOnly, keysOnly])}`);
    assert.equal(res.count, sel.length, `${label} count`);
    assert.equal(res.rev, viewRev, `${label} rev`);
  };

  for (let op = 0; op < ops; op++) {
    const what = rng.int(100);
    if (process.env.MVCC_TRACE) console.log(`op ${op} what ${what} rev ${m.rev} compact ${m.compact}`);
    if (what < 45) {
      // A write txn of 1-4 ops, with reads of its own view in between.
      const n = 1 + rng.int(4);
      const view: State = new Map(m.state(m.rev));
      const newRev = m.rev + 1;
      const evs: MEvent[] = [];
      f.backend.batch(() => {
        const w = f.kv.write();
        for (let i = 0; i < n; i++) {
          const r = rng.int(10);
          if (r < 6) {
            const key = pick(KEYS);
            const value = `v${op}.${i}`;
            const lease = rng.int(3);
            const prev = view.get(key);
            const kv: MKv = { value, create: prev?.create ?? newRev, mod: newRev, version: (prev?.version ?? 0) + 1, lease };
            w.put(Buffer.from(key, 'latin1'), Buffer.from(value, 'latin1'), BigInt(lease));
            view.set(key, kv);
            evs.push({ rev: newRev, put: true, key, kv });
          } else if (r < 8) {
            const key = pick(KEYS);
            const end = randEnd();
            const sel = select(view, key, end);
            assert.equal(w.deleteRange(Buffer.from(key, 'latin1'), buf(end)), sel.length, `op ${op} deleteRange`);
            for (const k of sel) {
              view.delete(k);
              evs.push({ rev: newRev, put: false, key: k, kv: undefined });
            }
          } else {
            checkRange(w, view, evs.length > 0 ? newRev : m.rev, `op ${op} in-txn`);
          }
        }
        const res = w.end();
        assert.equal(res.events.length, evs.length);
        assert.equal(res.rev, evs.length > 0 ? newRev : m.rev, `op ${op} txn rev`);
      });
      if (evs.length > 0) {
        m.rev = newRev;
        m.history.set(newRev, view);
        m.events.push(...evs);
      }
    } else if (what < 75) {
      // A read at a random revision, valid or not.
      const rev = rng.int(m.rev + 3);
      const key = pick(KEYS);
      const end = randEnd();
      if (rev > m.rev) {
        assert.throws(() => f.kv.range(Buffer.from(key, 'latin1'), buf(end), { rev }), FutureRevError);
      } else if (rev > 0 && rev < m.compact) {
        assert.throws(() => f.kv.range(Buffer.from(key, 'latin1'), buf(end), { rev }), CompactedError);
      } else {
        const at = rev === 0 ? m.rev : rev;
        const view = m.state(at);
        const sel = select(view, key, end);
        const res = f.kv.range(Buffer.from(key, 'latin1'), buf(end), { rev });
        assert.deepEqual(res.kvs.map(t), sel.map((k) => asTuple(k, view.get(k) as MKv, false)), `op ${op} range at ${rev}`);
        assert.equal(res.rev, m.rev);
      }
      if (rng.int(4) === 0) checkRange(f.kv, m.state(m.rev), m.rev, `op ${op} current`);
    } else if (what < 85) {
      // Compaction, sometimes at an invalid revision.
      const rev = m.compact + rng.int(m.rev - m.compact + 2);
      if (rev <= m.compact) {
        assert.throws(() => f.kv.compact(rev), CompactedError);
      } else if (rev > m.rev) {
        assert.throws(() => f.kv.compact(rev), FutureRevError);
      } else {
        const { physicalDone } = f.kv.compact(rev);
        m.compact = rev;
        for (const r of m.history.keys()) if (r < rev) m.history.delete(r);
        pendingCompaction = physicalDone.catch(() => {});
        if (rng.int(2) === 0) await physicalDone;
      }
    } else if (what < 93) {
      // Watch catch-up reads (only above the compacted revision, where no event may be gone).
      const from = Math.max(m.compact + 1, 1 + rng.int(m.rev + 1));
      const to = from + rng.int(5);
      const want = m.events.filter((e) => e.rev >= from && e.rev <= to);
      const got = f.kv.eventsSince(from, to, 0);
      assert.deepEqual(
        got.map((e) => [e.type === Event_EventType.PUT, e.kv?.key.toString('latin1'), Number(e.kv?.modRevision), e.kv?.value.toString('latin1')]),
        want.map((e) => [e.put, e.key, e.rev, e.kv?.value ?? '']),
        `op ${op} eventsSince(${from}, ${to})`,
      );
    } else {
      // Restart, possibly in the middle of a physical compaction; state and hash survive.
      const hash = f.kv.hashKV(0);
      await f.reopen({ compactionBatchLimit: 1 + rng.int(8) });
      assert.equal(f.kv.currentRevision, m.rev, `op ${op} reopen rev`);
      assert.equal(f.kv.compactRevision, m.compact, `op ${op} reopen compact`);
      assert.deepEqual(f.kv.hashKV(0), hash, `op ${op} hash across reopen`);
      pendingCompaction = f.kv.compactionsSettled();
    }
    assert.equal(f.kv.keyCount(), m.state(m.rev).size, `op ${op} keyCount`);
  }
  await pendingCompaction;
  await f.kv.compactionsSettled();
  // Full check at every revision still readable, then once more after a final reopen.
  const full = (): void => {
    for (let rev = Math.max(m.compact, 1); rev <= m.rev; rev++) {
      const view = m.state(rev);
      const res = f.kv.range(Buffer.from([0]), Buffer.from([0]), { rev });
      assert.deepEqual(res.kvs.map(t), [...view.keys()].sort(cmp).map((k) => asTuple(k, view.get(k) as MKv, false)), `final at ${rev}`);
    }
  };
  full();
  await f.reopen();
  full();
}

describe('mvcc model', () => {
  const base = Number(process.env.SEED ?? (Date.now() % 1_000_000));
  for (let i = 0; i < 3; i++) {
    const seed = base + i;
    it(`matches the model (seed ${seed})`, async () => {
      console.log(`mvcc model seed=${seed} (replay with SEED=${seed})`);
      await runModel(seed, Number(process.env.MVCC_OPS ?? 400));
    });
  }
});
