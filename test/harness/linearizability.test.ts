// The linearizability checker on hand-made histories (the classic anomalies) and on large seeded histories made
// from a real sequential execution.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { SeededRng } from '../../src/base/rng.js';
import { type KvInput, type KvOutput, type Operation, checkLinearizable } from '../support/linearizability.js';

/** A completed op: `[call, ret]`. */
function ok(client: number, call: number, ret: number, input: KvInput, output: KvOutput): Operation {
  return { client, call, return: ret, input, output };
}
const put = (key: string, value: string): KvInput => ({ op: 'put', key, value });
const get = (key: string): KvInput => ({ op: 'get', key });
const del = (key: string): KvInput => ({ op: 'delete', key });
const cas = (key: string, expected: string | null, value: string): KvInput => ({ op: 'cas', key, expected, value });
const done: KvOutput = { op: 'put' };
const read = (value: string | null): KvOutput => ({ op: 'get', value });
const swapped = (succeeded: boolean): KvOutput => ({ op: 'cas', succeeded });
const unknown = (client: number, call: number, input: KvInput): Operation => ({ client, call, input, unknown: true });

describe('linearizability checker', () => {
  test('accepts a sequential history and the outcomes concurrency allows', () => {
    const sequential = [
      ok(1, 0, 1, get('x'), read(null)),
      ok(1, 2, 3, put('x', 'a'), done),
      ok(2, 4, 5, get('x'), read('a')),
      ok(2, 6, 7, cas('x', 'a', 'b'), swapped(true)),
      ok(1, 8, 9, cas('x', 'a', 'c'), swapped(false)),
      ok(1, 10, 11, del('x'), { op: 'delete', deleted: 1 }),
      ok(2, 12, 13, del('x'), { op: 'delete', deleted: 0 }),
      ok(2, 14, 15, cas('x', null, 'd'), swapped(true)),
      ok(1, 16, 17, get('x'), read('d')),
    ];
    assert.equal(checkLinearizable(sequential).verdict, 'linearizable');

    // A read concurrent with a write may see either value, and two reads may even disagree in either order as
    // long as each overlaps the write... but not flip back once one has returned the new value.
    const concurrent = [
      ok(1, 0, 1, put('x', 'a'), done),
      ok(2, 2, 10, put('x', 'b'), done),
      ok(3, 3, 4, get('x'), read('b')),
      ok(4, 5, 6, get('x'), read('b')),
      ok(1, 3, 9, get('x'), read('a')),
    ];
    assert.equal(checkLinearizable(concurrent).verdict, 'linearizable');
    const flipBack = [...concurrent.slice(0, 4), ok(1, 7, 9, get('x'), read('a'))];
    assert.equal(checkLinearizable(flipBack).verdict, 'not-linearizable');
  });

  test('refuses a stale read after a completed write, naming the read', () => {
    const history = [
      ok(1, 0, 1, put('x', 'v1'), done),
      ok(1, 2, 3, put('x', 'v2'), done),
      ok(2, 4, 5, get('x'), read('v1')),
      ok(2, 6, 7, get('x'), read('v2')),
    ];
    const r = checkLinearizable(history);
    assert.equal(r.verdict, 'not-linearizable');
    assert.ok(r.verdict === 'not-linearizable');
    assert.equal(r.key, 'x');
    assert.equal(r.culprit, history[2]);
    assert.match(r.explanation, /client 2 {2}\[4\.000 \.\. 5\.000 ms\] {2}get\(x\) -> "v1"/);
    assert.match(r.explanation, /It read "v1", written by:\n {2}client 1 {2}\[0\.000 \.\. 1\.000 ms\] {2}put\(x, "v1"\) -> ok/);
    assert.match(r.explanation, /The last ops that returned before it was called:\n.*put\(x, "v1"\).*\n.*put\(x, "v2"\)/);
  });

  test('refuses a lost update: two compare-and-sets from the same value both succeed', () => {
    const history = [
      ok(1, 0, 1, put('n', '0'), done),
      ok(1, 2, 6, cas('n', '0', '1a'), swapped(true)),
      ok(2, 3, 5, cas('n', '0', '1b'), swapped(true)),
    ];
    const r = checkLinearizable(history);
    assert.equal(r.verdict, 'not-linearizable');
    assert.ok(r.verdict === 'not-linearizable');
    assert.match(r.explanation, /cas\(n, "0" -> "1a"\)/);
    assert.match(r.explanation, /cas\(n, "0" -> "1b"\)/);
    // The same with one of them failing is fine, and so is a chain.
    assert.equal(checkLinearizable([history[0]!, history[1]!, ok(2, 3, 5, cas('n', '0', '1b'), swapped(false))]).verdict, 'linearizable');
    assert.equal(checkLinearizable([history[0]!, history[1]!, ok(2, 3, 5, cas('n', '1a', '2'), swapped(true))]).verdict, 'linearizable');
  });

  test('refuses a read of a value nobody wrote, and a delete count that contradicts the state', () => {
    const phantom = checkLinearizable([ok(1, 0, 1, put('x', 'a'), done), ok(2, 2, 3, get('x'), read('zzz'))]);
    assert.ok(phantom.verdict === 'not-linearizable');
    assert.match(phantom.explanation, /It read "zzz", which no op on this key wrote\./);
    const badDelete = checkLinearizable([ok(1, 0, 1, del('x'), { op: 'delete', deleted: 1 })]);
    assert.equal(badDelete.verdict, 'not-linearizable');
    // Without a count the delete only clears the key.
    assert.equal(checkLinearizable([ok(1, 0, 1, del('x'), { op: 'delete' }), ok(1, 2, 3, get('x'), read(null))]).verdict, 'linearizable');
  });

  test('an op with an unknown outcome may take effect at any time after its call, or never', () => {
    const lost = unknown(1, 0, put('x', 'u'));
    assert.equal(checkLinearizable([lost, ok(2, 50, 51, get('x'), read('u'))]).verdict, 'linearizable', 'it took effect');
    assert.equal(checkLinearizable([lost, ok(2, 50, 51, get('x'), read(null))]).verdict, 'linearizable', 'it did not (yet)');
    assert.equal(
      checkLinearizable([lost, ok(2, 50, 51, get('x'), read(null)), ok(2, 900, 901, get('x'), read('u'))]).verdict,
      'linearizable',
      'it took effect late',
    );
    // But once seen, it cannot be undone, and it cannot act before it was called.
    assert.equal(
      checkLinearizable([lost, ok(2, 50, 51, get('x'), read('u')), ok(2, 52, 53, get('x'), read(null))]).verdict,
      'not-linearizable',
    );
    assert.equal(checkLinearizable([ok(2, 0, 1, get('x'), read('u')), unknown(1, 2, put('x', 'u'))]).verdict, 'not-linearizable');

    // A compare-and-set with an unknown outcome swaps only if its condition held where it is placed.
    const base = [ok(1, 0, 1, put('n', '0'), done), unknown(2, 2, cas('n', '0', 'A'))];
    assert.equal(checkLinearizable([...base, ok(1, 5, 6, get('n'), read('A'))]).verdict, 'linearizable');
    assert.equal(checkLinearizable([...base, ok(1, 5, 6, get('n'), read('0'))]).verdict, 'linearizable');
    assert.equal(
      checkLinearizable([...base, ok(3, 3, 10, put('n', '1'), done), ok(1, 5, 6, get('n'), read('A'))]).verdict,
      'linearizable',
      'swapped, and read, before the concurrent put',
    );
    assert.equal(
      checkLinearizable([...base, ok(1, 3, 4, put('n', '1'), done), ok(1, 5, 6, get('n'), read('1')), ok(1, 7, 8, get('n'), read('A'))])
        .verdict,
      'not-linearizable',
      'after the put its condition no longer holds',
    );
    // An unknown delete may explain an absence that nothing else can.
    assert.equal(checkLinearizable([ok(1, 0, 1, put('x', 'a'), done), unknown(2, 2, del('x')), ok(1, 5, 6, get('x'), read(null))]).verdict, 'linearizable');
    // A read with an unknown outcome tells nothing.
    assert.equal(checkLinearizable([ok(1, 0, 1, put('x', 'a'), done), unknown(2, 2, get('x'))]).verdict, 'linearizable');
  });

  test('keys are checked independently and the failing key is named', () => {
    const r = checkLinearizable([
      ok(1, 0, 1, put('a', '1'), done),
      ok(2, 0, 1, put('b', '1'), done),
      ok(1, 2, 3, get('a'), read('1')),
      ok(2, 2, 3, get('b'), read(null)),
    ]);
    assert.ok(r.verdict === 'not-linearizable');
    assert.equal(r.key, 'b');
  });

  test('gives up with "unknown" when the step budget runs out', () => {
    // Many concurrent writes all overlapping, then two reads after all of them that no order explains
    // (the value cannot change once every write is done): the search tries every order before failing.
    const history: Operation[] = [];
    for (let i = 0; i < 24; i++) history.push(ok(i, 0, 100, put('x', `v${i}`), done));
    history.push(ok(99, 200, 201, get('x'), read('v0')), ok(99, 202, 203, get('x'), read('v1')));
    const r = checkLinearizable(history, { maxSteps: 1000 });
    assert.equal(r.verdict, 'unknown');
    assert.ok(r.verdict === 'unknown');
    assert.match(r.reason, /gave up on key "x" \(26 ops\) after 1001 search steps/);
  });

  test('rejects malformed records', () => {
    assert.throws(() => checkLinearizable([ok(1, 5, 4, get('x'), read(null))]), /bad times/);
    assert.throws(() => checkLinearizable([ok(1, 0, 1, get('x'), done)]), /output of put/);
  });
});

/**
 * A concurrent history from a real sequential execution: `clients` clients each issue ops one after another; each
 * op takes effect at a random instant inside its interval, and its result is what a sequential store answers at
 * that instant. Some ops lose their response (`unknownRate`): those may have taken effect or not.
 */
function generateHistory(seed: number, opts: { ops: number; clients: number; keys: number; unknownRate: number }) {
  const rng = new SeededRng(seed);
  type Pending = { client: number; input: KvInput; call: number; ret: number; at: number; lost: boolean; applies: boolean };
  const pending: Pending[] = [];
  const clock = Array.from({ length: opts.clients }, () => rng.float());
  let written = 0;
  for (let i = 0; i < opts.ops; i++) {
    const client = rng.int(opts.clients);
    const call = clock[client]! + rng.float() * 0.5;
    // Mostly short ops, some long ones (a slow replica, a leader change).
    const duration = rng.int(20) === 0 ? 5 + rng.float() * 20 : 0.05 + rng.float() * 2;
    const ret = call + duration;
    clock[client] = ret;
    const key = `k${rng.int(opts.keys)}`;
    const choice = rng.int(10);
    const value = `c${client}-${written++}`;
    const input: KvInput =
      choice < 4 ? get(key) : choice < 7 ? put(key, value) : choice < 8 ? del(key) : cas(key, rng.int(3) === 0 ? null : `c${rng.int(opts.clients)}-${rng.int(Math.max(1, written))}`, value);
    const lost = rng.float() < opts.unknownRate;
    pending.push({ client, input, call, ret, at: call + rng.float() * duration, lost, applies: !lost || rng.int(2) === 0 });
  }
  // Apply in the order of the instants the ops take effect; a lost op that did not apply never happens.
  const store = new Map<string, string>();
  const outputs = new Map<Pending, KvOutput>();
  for (const p of [...pending].sort((a, b) => a.at - b.at)) {
    if (!p.applies) continue;
    const current = store.get(p.input.key) ?? null;
    switch (p.input.op) {
      case 'get':
        outputs.set(p, read(current));
        break;
      case 'put':
        store.set(p.input.key, p.input.value);
        outputs.set(p, done);
        break;
      case 'delete':
        store.delete(p.input.key);
        outputs.set(p, { op: 'delete', deleted: current === null ? 0 : 1 });
        break;
      case 'cas':
        if (current === p.input.expected) store.set(p.input.key, p.input.value);
        outputs.set(p, swapped(current === p.input.expected));
        break;
    }
  }
  return pending.map((p): Operation => {
    const output = outputs.get(p);
    return p.lost || output === undefined ? unknown(p.client, p.call, p.input) : ok(p.client, p.call, p.ret, p.input, output);
  });
}

describe('linearizability checker on seeded histories from a sequential execution', () => {
  const seed = Number(process.env.LINEARIZABILITY_SEED ?? Math.floor(Math.random() * 2 ** 31));

  test(`accepts 3000 ops of 5 clients on 3 keys quickly (seed ${seed})`, () => {
    const history = generateHistory(seed, { ops: 3000, clients: 5, keys: 3, unknownRate: 0.02 });
    const started = Date.now();
    const r = checkLinearizable(history, { timeoutMs: 20_000 });
    const ms = Date.now() - started;
    assert.equal(r.verdict, 'linearizable', `seed ${seed}: ${JSON.stringify(r).slice(0, 2000)}`);
    assert.ok(ms < 10_000, `seed ${seed}: took ${ms} ms`);
  });

  test(`refuses the same kind of history with one read corrupted, naming that read (seed ${seed})`, () => {
    const history = generateHistory(seed + 1, { ops: 2000, clients: 4, keys: 3, unknownRate: 0.02 });
    const rng = new SeededRng(seed);
    const reads = history.flatMap((o, i) => (!o.unknown && o.input.op === 'get' ? [i] : []));
    const victim = reads[rng.int(reads.length)]!;
    const original = history[victim]!;
    assert.ok(!original.unknown);
    const corrupted: Operation = { ...original, output: read('never-written') };
    history[victim] = corrupted;
    const r = checkLinearizable(history, { timeoutMs: 20_000 });
    assert.equal(r.verdict, 'not-linearizable', `seed ${seed}`);
    assert.ok(r.verdict === 'not-linearizable');
    assert.equal(r.culprit, corrupted, `seed ${seed}: ${r.explanation}`);
    assert.match(r.explanation, /never-written/);
  });

  test(`accepts histories where many ops lost their response (seed ${seed})`, () => {
    for (let i = 0; i < 5; i++) {
      const history = generateHistory(seed + 100 + i, { ops: 600, clients: 4, keys: 2, unknownRate: 0.15 });
      const r = checkLinearizable(history, { timeoutMs: 20_000 });
      assert.equal(r.verdict, 'linearizable', `seed ${seed + 100 + i}: ${JSON.stringify(r).slice(0, 2000)}`);
    }
  });
});
