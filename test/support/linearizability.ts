/**
 * A linearizability checker for histories of a key-value store (Wing & Gong's search with Lowe's memoization, as
 * Porcupine and Knossos do it), for tests that run concurrent clients against a cluster under faults.
 *
 * The model: each key holds a value or nothing. Operations:
 *   put(k, v)                 -> ok
 *   get(k)                    -> the value, or null when absent
 *   delete(k)                 -> how many keys it deleted (0 or 1), when the client saw it
 *   cas(k, expected, v)       -> whether it swapped: if value(k) === expected (null: absent) then put(k, v)
 * A history is a list of operations with the time they were called and the time they returned, from any one clock
 * (e.g. `performance.now()` in the test process). A history is linearizable when every operation can be given an
 * instant between its call and its return such that, in that order, each result is what the model answers.
 *
 * Unknown outcomes: an operation whose response was lost (a timeout, a broken connection) may have taken effect at
 * any instant after its call, or never. It is recorded with `unknown: true` and no return: the checker may place it
 * anywhere after its call, or at the very end (which is the same as never: nothing observes it there). A read with
 * an unknown outcome tells nothing and is ignored.
 *
 * Keys are independent (each operation touches one key), so the history is checked key by key (Herlihy & Wing's
 * locality). Per key the search memoizes (set of operations linearized, state) pairs, so that no pair is explored
 * twice, and stops after `maxSteps` steps with the verdict 'unknown' rather than running for ever.
 *
 * A read of a value nobody wrote is refused at once (see garbageRead). When a key's history is not
 * linearizable, the result explains it: the first operation (in call order) that makes
 * it so (found by bisection: the ops called before it are linearizable even with every later op's outcome taken
 * as unknown, which can only make a history easier to linearize), the operations around it, and the longest
 * order the search could build.
 */

export type KvInput =
  | { readonly op: 'put'; readonly key: string; readonly value: string }
  | { readonly op: 'get'; readonly key: string }
  | { readonly op: 'delete'; readonly key: string }
  | { readonly op: 'cas'; readonly key: string; readonly expected: string | null; readonly value: string };

export type KvOutput =
  | { readonly op: 'put' }
  | { readonly op: 'get'; readonly value: string | null }
  /** `deleted`: the count the server reported, when known; it is then checked. */
  | { readonly op: 'delete'; readonly deleted?: number }
  | { readonly op: 'cas'; readonly succeeded: boolean };

type OperationBase = {
  /** Which client issued it (for the explanation only: a client may have several ops with unknown outcomes). */
  readonly client: number;
  readonly input: KvInput;
  /** When the client sent it. */
  readonly call: number;
};

export type Operation = OperationBase &
  (
    | { readonly unknown?: false; readonly return: number; readonly output: KvOutput }
    | { readonly unknown: true; readonly return?: undefined; readonly output?: undefined }
  );

export type CheckOptions = {
  /** Search steps allowed per key (default 2,000,000) before giving up with 'unknown'. */
  maxSteps?: number;
  /** Wall-clock budget for the whole check (default none) before giving up with 'unknown'. */
  timeoutMs?: number;
};

export type CheckResult =
  | { readonly verdict: 'linearizable'; readonly keys: number; readonly ops: number; readonly steps: number }
  | {
      readonly verdict: 'not-linearizable';
      readonly key: string;
      /** A readable account: the culprit, the ops around it, the longest order found. */
      readonly explanation: string;
      /** The operation that made the key's history non-linearizable, and the ops the explanation cites. */
      readonly culprit: Operation;
      readonly involved: readonly Operation[];
      readonly steps: number;
    }
  | { readonly verdict: 'unknown'; readonly key: string; readonly reason: string; readonly steps: number };

type State = string | null;

/** One step of the model: whether `input` may produce `output` in `state`, and the state after it. */
function step(state: State, input: KvInput, output: KvOutput | undefined): { ok: boolean; next: State } {
  switch (input.op) {
    case 'put':
      return { ok: true, next: input.value };
    case 'get':
      return { ok: output === undefined || (output.op === 'get' && output.value === state), next: state };
    case 'delete': {
      const deleted = output?.op === 'delete' ? output.deleted : undefined;
      return { ok: deleted === undefined || deleted === (state === null ? 0 : 1), next: null };
    }
    case 'cas': {
      const swaps = state === input.expected;
      const ok = output === undefined || (output.op === 'cas' && output.succeeded === swaps);
      return { ok, next: swaps ? input.value : state };
    }
  }
}

/** An entry of the search's doubly linked list: an op's call or its return. */
type Entry = {
  readonly op: number;
  readonly isCall: boolean;
  readonly time: number;
  match: Entry | undefined;
  prev: Entry | undefined;
  next: Entry | undefined;
};

/** The set of linearized ops, with an incrementally kept 64-bit Zobrist hash (two 32-bit halves). */
class OpSet {
  readonly words: Uint32Array;
  h1 = 0;
  h2 = 0;
  constructor(n: number) {
    this.words = new Uint32Array(Math.ceil(n / 32));
  }
  toggle(i: number): void {
    this.words[i >>> 5]! ^= 1 << (i & 31);
    this.h1 ^= mix32(i * 2 + 1);
    this.h2 ^= mix32(i * 2 + 2);
  }
}

/** A fixed 32-bit mix (splitmix32's finalizer): Zobrist values that need no random generator. */
function mix32(x: number): number {
  let z = (x * 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

function sameWords(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

type SearchOutcome =
  | { kind: 'ok'; steps: number }
  | { kind: 'fail'; steps: number; longest: number[] }
  | { kind: 'budget'; steps: number };

/**
 * Wing & Gong's search over one key's ops. Unknown ops carry return time +Infinity; success is reached once every
 * known op is linearized (the unknown rest go at the end, where nothing observes them).
 */
function search(ops: readonly Operation[], maxSteps: number, deadline: number): SearchOutcome {
  const n = ops.length;
  const entries: Entry[] = [];
  for (const [i, o] of ops.entries()) {
    const call: Entry = { op: i, isCall: true, time: o.call, match: undefined, prev: undefined, next: undefined };
    const ret: Entry = { op: i, isCall: false, time: o.unknown ? Infinity : o.return, match: call, prev: undefined, next: undefined };
    call.match = ret;
    entries.push(call, ret);
  }
  // Calls before returns at the same instant: touching intervals count as concurrent, which never refuses a
  // history that some finer clock would accept.
  entries.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.op - b.op : a.isCall ? -1 : 1));
  const head: Entry = { op: -1, isCall: false, time: -Infinity, match: undefined, prev: undefined, next: undefined };
  let prev = head;
  for (const e of entries) {
    prev.next = e;
    e.prev = prev;
    prev = e;
  }

  const lift = (call: Entry): void => {
    call.prev!.next = call.next;
    if (call.next) call.next.prev = call.prev;
    const ret = call.match!;
    ret.prev!.next = ret.next;
    if (ret.next) ret.next.prev = ret.prev;
  };
  const unlift = (call: Entry): void => {
    const ret = call.match!;
    ret.prev!.next = ret;
    if (ret.next) ret.next.prev = ret;
    call.prev!.next = call;
    if (call.next) call.next.prev = call;
  };

  let knownLeft = ops.filter((o) => !o.unknown).length;
  const linearized = new OpSet(n);
  const cache = new Map<string, Uint32Array[]>();
  /** Adds (linearized, state) to the cache; false when it was there already. */
  const remember = (state: State): boolean => {
    const key = `${linearized.h1}:${linearized.h2}:${state === null ? '' : `=${state}`}`;
    const seen = cache.get(key);
    if (seen?.some((w) => sameWords(w, linearized.words))) return false;
    const copy = linearized.words.slice();
    if (seen) seen.push(copy);
    else cache.set(key, [copy]);
    return true;
  };

  const stack: Array<{ entry: Entry; state: State }> = [];
  let longest: number[] = [];
  let state: State = null;
  let entry = head.next;
  let steps = 0;
  while (knownLeft > 0) {
    if (++steps > maxSteps || (steps % 4096 === 0 && Date.now() > deadline)) return { kind: 'budget', steps };
    if (entry === undefined) throw new Error('linearizability: search ran off the list (bug)');
    if (entry.isCall) {
      const o = ops[entry.op]!;
      const { ok, next } = step(state, o.input, o.output);
      if (ok) {
        linearized.toggle(entry.op);
        if (remember(next)) {
          stack.push({ entry, state });
          if (!o.unknown) knownLeft--;
          state = next;
          lift(entry);
          if (stack.length > longest.length) longest = stack.map((s) => s.entry.op);
          entry = head.next;
          continue;
        }
        linearized.toggle(entry.op);
      }
      entry = entry.next;
    } else {
      // A return: its op had to be linearized before this point, and no candidate before it worked.
      const top = stack.pop();
      if (top === undefined) return { kind: 'fail', steps, longest };
      state = top.state;
      linearized.toggle(top.entry.op);
      if (!ops[top.entry.op]!.unknown) knownLeft++;
      unlift(top.entry);
      entry = top.entry.next;
    }
  }
  return { kind: 'ok', steps };
}

/** The value an op writes, if any. */
function written(input: KvInput): string | undefined {
  return input.op === 'put' || input.op === 'cas' ? input.value : undefined;
}

/**
 * Drops what cannot matter: reads with unknown outcomes, and writes with unknown outcomes of a value that no op
 * observed (no get returned it, no cas expected it) on a key where no delete reported deleting something (a
 * delete's count observes that some value existed). Such a write can always go at the end, so dropping it changes
 * no verdict, and it keeps the search from trying every place for it.
 */
function prune(ops: readonly Operation[]): number[] {
  const observed = new Set<string>();
  let deletesObserveExistence = false;
  for (const o of ops) {
    if (o.input.op === 'cas' && o.input.expected !== null) observed.add(o.input.expected);
    if (o.unknown) continue;
    if (o.output.op === 'get' && o.output.value !== null) observed.add(o.output.value);
    if (o.output.op === 'delete' && (o.output.deleted ?? 0) > 0) deletesObserveExistence = true;
  }
  const keep = (o: Operation): boolean => {
    if (!o.unknown) return true;
    if (o.input.op === 'get') return false;
    const value = written(o.input);
    return value === undefined || deletesObserveExistence || observed.has(value);
  };
  return ops.flatMap((o, i) => (keep(o) ? [i] : []));
}

/** The ops with index >= `from` (in call order) turned into ops with unknown outcomes. */
function relaxFrom(ops: readonly Operation[], from: number): Operation[] {
  return ops.map((o, i) => (i < from || o.unknown ? o : { client: o.client, input: o.input, call: o.call, unknown: true as const }));
}

function describeInput(input: KvInput): string {
  const q = (v: string | null) => (v === null ? 'absent' : JSON.stringify(v));
  switch (input.op) {
    case 'put':
      return `put(${input.key}, ${q(input.value)})`;
    case 'get':
      return `get(${input.key})`;
    case 'delete':
      return `delete(${input.key})`;
    case 'cas':
      return `cas(${input.key}, ${q(input.expected)} -> ${q(input.value)})`;
  }
}

function describeOutput(o: Operation): string {
  if (o.unknown) return 'outcome unknown';
  const out = o.output;
  switch (out.op) {
    case 'put':
      return 'ok';
    case 'get':
      return out.value === null ? 'absent' : JSON.stringify(out.value);
    case 'delete':
      return out.deleted === undefined ? 'ok' : `deleted ${out.deleted}`;
    case 'cas':
      return out.succeeded ? 'swapped' : 'not swapped';
  }
}

/** One line per op: `client 2  [12.345 .. 15.678 ms]  get(k1) -> "c1-17"`, times relative to `t0`. */
export function describeOperation(o: Operation, t0 = 0): string {
  const at = (t: number) => (t - t0).toFixed(3);
  const span = o.unknown ? `[${at(o.call)} .. ?]` : `[${at(o.call)} .. ${at(o.return)} ms]`;
  return `client ${o.client}  ${span}  ${describeInput(o.input)} -> ${describeOutput(o)}`;
}

/** The explanation of a failed key: culprit, ops around it, the longest order the search found. */
function explain(key: string, ops: readonly Operation[], culpritIndex: number, longest: readonly number[], t0: number): { text: string; involved: Operation[] } {
  const culprit = ops[culpritIndex]!;
  const end = culprit.unknown ? Infinity : culprit.return;
  const concurrent = ops.filter((o, i) => i !== culpritIndex && o.call <= end && (o.unknown || o.return >= culprit.call));
  const before = ops
    .filter((o) => !o.unknown && o.return < culprit.call)
    .sort((a, b) => (a.unknown || b.unknown ? 0 : a.return - b.return))
    .slice(-8);
  const read = culprit.output?.op === 'get' ? culprit.output.value : culprit.input.op === 'cas' ? culprit.input.expected : null;
  const writers = read === null ? [] : ops.filter((o) => written(o.input) === read);
  const involved = [...new Set([culprit, ...writers, ...before, ...concurrent])];
  const lines = [
    `key ${JSON.stringify(key)}: not linearizable (${ops.length} ops on this key).`,
    `The first op, in call order, that no linearization can explain:`,
    `  ${describeOperation(culprit, t0)}`,
  ];
  if (read !== null) {
    lines.push(
      writers.length > 0
        ? `It ${culprit.input.op === 'get' ? 'read' : 'expected'} ${JSON.stringify(read)}, written by:`
        : `It ${culprit.input.op === 'get' ? 'read' : 'expected'} ${JSON.stringify(read)}, which no op on this key wrote.`,
    );
    for (const w of writers) lines.push(`  ${describeOperation(w, t0)}`);
  }
  lines.push(`The last ops that returned before it was called:`);
  for (const o of before) lines.push(`  ${describeOperation(o, t0)}`);
  lines.push(`Ops concurrent with it:`);
  for (const o of concurrent.slice(0, 20)) lines.push(`  ${describeOperation(o, t0)}`);
  if (concurrent.length > 20) lines.push(`  ... and ${concurrent.length - 20} more`);
  lines.push(`The longest order the search built (${longest.length} ops, last ones shown), each with the value after it:`);
  let state: State = null;
  const shown: string[] = [];
  for (const i of longest) {
    const o = ops[i]!;
    state = step(state, o.input, o.output).next;
    shown.push(`  ${describeOperation(o, t0)}   => ${state === null ? 'absent' : JSON.stringify(state)}`);
  }
  lines.push(...shown.slice(-10));
  return { text: lines.join('\n'), involved };
}

/**
 * The first read (in call order) of a value that no put or cas on the key ever wrote, acknowledged or not:
 * no order explains it, and finding that by search means exhausting every order (which can exceed the
 * step budget on long histories). Corrupted or misdirected data looks exactly like this.
 */
function garbageRead(ops: readonly Operation[]): Operation | undefined {
  const written = new Set<string>();
  for (const o of ops) if (o.input.op === 'put' || o.input.op === 'cas') written.add(o.input.value);
  return ops.find((o) => !o.unknown && o.output.op === 'get' && o.output.value !== null && !written.has(o.output.value));
}

/** Checks a history; see the module comment. */
export function checkLinearizable(history: readonly Operation[], opts: CheckOptions = {}): CheckResult {
  const maxSteps = opts.maxSteps ?? 2_000_000;
  const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs;
  for (const o of history) {
    if (!Number.isFinite(o.call) || (!o.unknown && !(o.return >= o.call))) {
      throw new RangeError(`linearizability: bad times on ${describeOperation(o)}`);
    }
    if (!o.unknown && o.output.op !== o.input.op) throw new RangeError(`linearizability: output of ${o.output.op} for ${describeOperation(o)}`);
  }
  const t0 = history.reduce((m, o) => Math.min(m, o.call), Infinity);
  const byKey = new Map<string, Operation[]>();
  for (const o of history) {
    const list = byKey.get(o.input.key);
    if (list) list.push(o);
    else byKey.set(o.input.key, [o]);
  }
  let total = 0;
  let steps = 0;
  for (const [key, all] of [...byKey].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const sorted = [...all].sort((a, b) => a.call - b.call);
    const garbage = garbageRead(sorted);
    if (garbage !== undefined) {
      const { text, involved } = explain(key, sorted, sorted.indexOf(garbage), [], t0);
      return { verdict: 'not-linearizable', key, explanation: text, culprit: garbage, involved, steps };
    }
    const ops = prune(sorted).map((i) => sorted[i]!);
    total += ops.length;
    const outcome = search(ops, maxSteps, deadline);
    steps += outcome.steps;
    if (outcome.kind === 'budget') {
      return { verdict: 'unknown', key, reason: `gave up on key ${JSON.stringify(key)} (${ops.length} ops) after ${outcome.steps} search steps`, steps };
    }
    if (outcome.kind === 'ok') continue;

    // Bisect for the first op (in call order) whose known outcome breaks it: relaxFrom(ops, i) keeps ops[0..i)
    // as they are and takes the rest as unknown; linearizable for i = 0, not for i = ops.length.
    let lo = 0;
    let hi = ops.length;
    let longest = outcome.longest;
    let bisected = true;
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      const relaxed = relaxFrom(ops, mid);
      const kept = prune(relaxed);
      const r = search(
        kept.map((i) => relaxed[i]!),
        maxSteps,
        deadline,
      );
      steps += r.steps;
      if (r.kind === 'fail') {
        hi = mid;
        longest = r.longest.map((i) => kept[i]!);
      } else if (r.kind === 'ok') lo = mid;
      else {
        bisected = false;
        break;
      }
    }
    const culpritIndex = hi - 1;
    const { text, involved } = explain(key, ops, culpritIndex, longest, t0);
    const note = bisected ? '' : '\n(The search ran out of budget while narrowing this down: the op named is an upper bound.)';
    return { verdict: 'not-linearizable', key, explanation: text + note, culprit: ops[culpritIndex]!, involved, steps };
  }
  return { verdict: 'linearizable', keys: byKey.size, ops: total, steps };
}
