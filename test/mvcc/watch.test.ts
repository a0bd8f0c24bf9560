// The watchable store and its streams against a real KvStore on a temp backend: live events, history
// catch-up in bounded rounds, filters, prev_kv, compaction, the stream protocol (ids, cancel, progress).
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';

import { SeededRng } from '../../src/base/rng.js';
import { Event_EventType } from '../../src/proto/gen/mvccpb/kv.js';
import type { Event } from '../../src/proto/gen/mvccpb/kv.js';
import {
  CANCEL_REASONS,
  type WatchCreate,
  type WatchOut,
  type WatchSink,
  type WatchStream,
  type WatchTimers,
  WatchableStore,
  type WatchableStoreOptions,
} from '../../src/server/mvcc/watchable.js';
import { ALL, b, type Fixture, openFixture, txn } from './helpers.js';

// ---- fixtures: manual timers, a recording sink with a bounded buffer, short-hand creates ----

/** Timers the test fires by hand. */
class ManualTimers implements WatchTimers {
  private soonQueue: Array<() => void> = [];
  private readonly intervals = new Map<number, { ms: number; fn: () => void }>();
  private nextId = 0;

  soon(fn: () => void): void {
    this.soonQueue.push(fn);
  }

  every(ms: number, fn: () => void): () => void {
    const id = this.nextId++;
    this.intervals.set(id, { ms, fn });
    return () => this.intervals.delete(id);
  }

  get pendingSoon(): number {
    return this.soonQueue.length;
  }

  get intervalCount(): number {
    return this.intervals.size;
  }

  /** Runs scheduled catch-up rounds (and the rounds they schedule) until none is left; returns how many ran. */
  async runSoon(maxRounds = 100_000): Promise<number> {
    let n = 0;
    while (this.soonQueue.length > 0) {
      if (n++ >= maxRounds) throw new Error(`still scheduling after ${maxRounds} rounds`);
      const fn = this.soonQueue.shift() as () => void;
      fn();
      // A round awaits the backend's readiness first: let it finish.
      await new Promise((r) => setImmediate(r));
    }
    return n;
  }

  /** Fires every interval timer once. */
  tick(): void {
    for (const { fn } of [...this.intervals.values()]) fn();
  }
}

/**
 * A transport like a grpc-js stream: it takes every write, and says "full" (false) once `capacity`
 * responses wait unread; `read(n)` lets the client take responses and fires the stream's resume() when the
 * backlog falls to half the capacity (Node's 'drain').
 */
class RecordingSink implements WatchSink {
  /** Everything written, in order. */
  readonly written: WatchOut[] = [];
  /** What the client has read, in order. */
  readonly read: WatchOut[] = [];
  stream: WatchStream | undefined;
  private unread = 0;
  private full = false;

  constructor(private readonly capacity = Number.POSITIVE_INFINITY) {}

  write(out: WatchOut): boolean {
    this.written.push(out);
    this.unread++;
    if (this.unread >= this.capacity) this.full = true;
    return !this.full;
  }

  /** The client reads up to n responses. */
  readSome(n: number): void {
    const take = Math.min(n, this.unread);
    const start = this.written.length - this.unread;
    this.read.push(...this.written.slice(start, start + take));
    this.unread -= take;
    if (this.full && this.unread <= this.capacity / 2) {
      this.full = false;
      this.stream?.resume();
    }
  }

  readAll(maxLoops = 100_000): void {
    for (let i = 0; i < maxLoops && this.unread > 0; i++) this.readSome(this.unread);
  }

  /** Responses for one watch id, in order. */
  forId(id: bigint, from: readonly WatchOut[] = this.written): WatchOut[] {
    return from.filter((o) => o.watchId === id);
  }
}

function create(p: Partial<Omit<WatchCreate, 'key'>> & { key: string }): WatchCreate {
  return {
    key: Buffer.from(p.key, 'latin1'),
    rangeEnd: p.rangeEnd ?? Buffer.alloc(0),
    startRevision: p.startRevision ?? 0,
    watchId: p.watchId ?? 0n,
    noPut: p.noPut ?? false,
    noDelete: p.noDelete ?? false,
    prevKv: p.prevKv ?? false,
    progressNotify: p.progressNotify ?? false,
    fragment: p.fragment ?? false,
  };
}

/** An event as a comparable string: type, key, value, mod revision, and the previous value if any. */
function ev(e: Event): string {
  const kv = e.kv;
  const prev = e.prevKv === undefined ? '' : ` (prev ${e.prevKv.value.toString('latin1')}@${e.prevKv.modRevision})`;
  return `${e.type === 1 ? 'DELETE' : 'PUT'} ${kv?.key.toString('latin1')}=${kv?.value.toString('latin1')}@${kv?.modRevision}${prev}`;
}

function events(outs: readonly WatchOut[]): string[] {
  return outs.flatMap((o) => o.events.map(ev));
}


let f: Fixture;
let timers: ManualTimers;
let store: WatchableStore;

function open(opts: Partial<WatchableStoreOptions> = {}): void {
  store = new WatchableStore(f.kv, { timers, ...opts });
}

/** A write txn whose events go to the watchers, as the node's afterCommit does. */
function write(fn: Parameters<typeof txn>[1]): number {
  const { rev, events: evs } = txn(f, fn);
  store.notify(evs, rev);
  return rev;
}
const put = (k: string, v: string): number => write((w) => w.put(b(k), b(v), 0n));
const del = (k: string, end?: string): number =>
  write((w) => {
    w.deleteRange(b(k), end === undefined ? undefined : b(end));
  });

function stream(capacity?: number): { sink: RecordingSink; s: ReturnType<WatchableStore['openStream']> } {
  const sink = new RecordingSink(capacity);
  const s = store.openStream(sink);
  sink.stream = s;
  return { sink, s };
}

beforeEach(() => {
  f = openFixture();
  timers = new ManualTimers();
  open();
});
afterEach(async () => {
  store.close();
  await f.close();
});

describe('live events (synced watchers)', () => {
  it('created first with the current revision, then each revision as one response with its revision', () => {
    put('a', '0');
    const { sink, s } = stream();
    s.watch(create({ key: 'a' }));
    put('a', '1');
    put('b', 'x');
    del('a');
    assert.deepEqual(
      sink.written.map((o) => [o.watchId, o.created, o.revision, o.events.length]),
      [
        [0n, true, 2, 0],
        [0n, false, 3, 1],
        [0n, false, 5, 1],
      ],
    );
    assert.deepEqual(events(sink.written), ['PUT a=1@3', 'DELETE a=@5']);
    assert.equal(store.syncedCount, 1);
  });

  it('prefix, range and from-key watchers; events outside the range are not sent', () => {
    const { sink, s } = stream();
    s.watch(create({ key: 'p/', rangeEnd: b('p0') })); // prefix p/
    s.watch(create({ key: 'b', rangeEnd: b('d') }));
    s.watch(create({ key: 'm', rangeEnd: ALL }));
    s.watch(create({ key: '', rangeEnd: ALL })); // everything: an empty key is \0
    for (const k of ['a', 'b', 'c', 'd', 'p/1', 'p0', 'z']) put(k, 'v');
    const keysOf = (id: bigint): string[] => events(sink.forId(id)).map((e) => e.split(' ')[1]?.split('=')[0] ?? '');
    assert.deepEqual(keysOf(0n), ['p/1']);
    assert.deepEqual(keysOf(1n), ['b', 'c']);
    assert.deepEqual(keysOf(2n), ['p/1', 'p0', 'z']);
    assert.deepEqual(keysOf(3n), ['a', 'b', 'c', 'd', 'p/1', 'p0', 'z']);
  });

  it('one txn is one response holding all its events; NOPUT/NODELETE filter; nothing sent when all filtered', () => {
    const { sink, s } = stream();
    s.watch(create({ key: 'k', rangeEnd: b('l'), noPut: true }));
    s.watch(create({ key: 'k', rangeEnd: b('l'), noDelete: true }));
    put('k1', 'a');
    write((w) => {
      w.put(b('k2'), b('b'), 0n);
      w.deleteRange(b('k1'), undefined);
    });
    assert.deepEqual(events(sink.forId(0n)), ['DELETE k1=@3']);
    assert.deepEqual(events(sink.forId(1n)), ['PUT k1=a@2', 'PUT k2=b@3']);
    // Watcher 0 got no response for revision 2 at all.
    assert.deepEqual(sink.forId(0n).map((o) => o.revision), [1, 3]);
  });

  it('prev_kv only when asked: from the txn for live events', () => {
    put('a', 'old');
    const { sink, s } = stream();
    s.watch(create({ key: 'a' }));
    s.watch(create({ key: 'a', prevKv: true }));
    put('a', 'new');
    del('a');
    assert.deepEqual(events(sink.forId(0n)), ['PUT a=new@3', 'DELETE a=@4']);
    assert.deepEqual(events(sink.forId(1n)), ['PUT a=new@3 (prev old@2)', 'DELETE a=@4 (prev new@3)']);
  });

  it('a future start revision waits for that revision', () => {
    const { sink, s } = stream();
    s.watch(create({ key: 'a', startRevision: 4 }));
    put('a', '2');
    put('a', '3');
    put('a', '4');
    assert.deepEqual(events(sink.written), ['PUT a=4@4']);
  });
});

describe('history catch-up (unsynced watchers)', () => {
  it('replays from a past revision with prev_kv read at rev-1, then follows live', async () => {
    put('a', '1'); // 2
    put('a', '2'); // 3
    del('a'); // 4
    put('a', '3'); // 5
    const { sink, s } = stream();
    s.watch(create({ key: 'a', startRevision: 3, prevKv: true }));
    assert.equal(store.unsyncedCount, 1);
    assert.equal(sink.written.length, 1); // created, nothing more until the round runs
    await timers.runSoon();
    assert.equal(store.unsyncedCount, 0);
    assert.equal(store.syncedCount, 1);
    const [created, replay] = sink.written;
    assert.equal(created?.created, true);
    assert.equal(replay?.revision, 5); // etcd's catch-up responses carry the current revision
    assert.deepEqual(events(sink.written), ['PUT a=2@3 (prev 1@2)', 'DELETE a=@4 (prev 2@3)', 'PUT a=3@5']);
    put('a', '4');
    assert.deepEqual(events(sink.written).slice(3), ['PUT a=4@6 (prev 3@5)']);
  });

  it('bounded rounds never split a revision and lose nothing', async () => {
    open({ syncChunkEvents: 3, maxWatchersPerSync: 2 });
    const expected: string[] = [];
    for (let i = 0; i < 10; i++) {
      const rev = write((w) => {
        w.put(b(`k${i}a`), b(`${i}`), 0n);
        w.put(b(`k${i}b`), b(`${i}`), 0n);
      });
      expected.push(`PUT k${i}a=${i}@${rev}`, `PUT k${i}b=${i}@${rev}`);
    }
    const { sink, s } = stream();
    for (let i = 0; i < 4; i++) s.watch(create({ key: 'k', rangeEnd: b('l'), startRevision: 2 }));
    const rounds = await timers.runSoon();
    assert.ok(rounds > 4, `expected several rounds, got ${rounds}`);
    for (let id = 0n; id < 4n; id++) {
      const outs = sink.forId(id).filter((o) => !o.created);
      assert.deepEqual(events(outs), expected);
      for (const o of outs) {
        // A round stops at the first revision boundary at or past 3 events: whole revisions, 2 of them here.
        const perRev = new Map<bigint | undefined, number>();
        for (const e of o.events) perRev.set(e.kv?.modRevision, (perRev.get(e.kv?.modRevision) ?? 0) + 1);
        assert.ok([...perRev.values()].every((n) => n === 2));
        assert.ok(perRev.size <= 2);
      }
    }
    assert.equal(store.syncedCount, 4);
  });

  it('a catch-up response stops at a revision boundary past maxResponseBytes', async () => {
    open({ maxResponseBytes: 250 });
    const expected: string[] = [];
    for (let i = 0; i < 12; i++) expected.push(`PUT big=${String(i).padStart(100, '.')}@${put('big', String(i).padStart(100, '.'))}`);
    const { sink, s } = stream();
    s.watch(create({ key: 'big', startRevision: 2 }));
    await timers.runSoon();
    const outs = sink.forId(0n).filter((o) => !o.created);
    assert.deepEqual(events(outs), expected);
    // 135 bytes counted per event: two of them pass 250, so responses of 2 events.
    assert.deepEqual(outs.map((o) => o.events.length), [2, 2, 2, 2, 2, 2]);
    assert.equal(store.syncedCount, 1);
  });

  it('a start revision below the compaction: created, then canceled with compact_revision and revision 0', async () => {
    put('a', '1');
    put('a', '2');
    put('a', '3');
    f.kv.compact(3);
    const { sink, s } = stream();
    s.watch(create({ key: 'a', startRevision: 2 }));
    s.watch(create({ key: 'a', startRevision: 3 })); // at the compaction revision: allowed
    await timers.runSoon();
    const w0 = sink.forId(0n);
    assert.deepEqual(
      w0.map((o) => [o.created, o.canceled, o.compactRevision, o.revision, o.cancelReason]),
      [
        [true, false, 0, 4, ''],
        [false, true, 3, 0, ''],
      ],
    );
    assert.equal(s.watcher(0n), undefined);
    assert.deepEqual(events(sink.forId(1n)), ['PUT a=2@3', 'PUT a=3@4']);
    assert.equal(store.syncedCount + store.unsyncedCount, 1);
  });
});

describe('the stream protocol', () => {
  it('ids: auto from 0 skipping used ones, client-chosen, duplicate refused; bad requests refused', () => {
    const { sink, s } = stream();
    s.watch(create({ key: 'a', watchId: 1n }));
    s.watch(create({ key: 'a' }));
    s.watch(create({ key: 'a' }));
    s.watch(create({ key: 'a', watchId: 1n }));
    s.watch(create({ key: 'b', rangeEnd: b('a') }));
    s.watch(create({ key: 'a', startRevision: -1 }));
    assert.deepEqual(
      sink.written.map((o) => [o.watchId, o.created, o.canceled, o.cancelReason]),
      [
        [1n, true, false, ''],
        [0n, true, false, ''],
        [2n, true, false, ''],
        [-1n, true, true, CANCEL_REASONS.duplicateId],
        [-1n, true, true, CANCEL_REASONS.emptyRange],
        [-1n, true, true, CANCEL_REASONS.compacted],
      ],
    );
    assert.equal(s.watcherCount, 3);
  });

  it('cancel answers canceled with the current revision; an unknown id gets nothing; events stop', () => {
    const { sink, s } = stream();
    s.watch(create({ key: 'a' }));
    put('a', '1');
    s.cancel(0n);
    s.cancel(7n);
    put('a', '2');
    assert.deepEqual(
      sink.written.map((o) => [o.watchId, o.canceled, o.revision, o.events.length]),
      [
        [0n, false, 1, 0],
        [0n, false, 2, 1],
        [0n, true, 2, 0],
      ],
    );
    assert.equal(store.syncedCount, 0);
  });

  it('progress request: answered with id -1 only when every watcher is synced', async () => {
    put('a', '1');
    const { sink, s } = stream();
    s.requestProgress(); // no watchers: nothing
    s.watch(create({ key: 'a' }));
    s.watch(create({ key: 'a', startRevision: 2 }));
    s.requestProgress(); // one unsynced
    assert.equal(sink.written.filter((o) => o.watchId === -1n).length, 0);
    await timers.runSoon();
    s.requestProgress();
    const progress = sink.written.filter((o) => o.watchId === -1n);
    assert.deepEqual(progress.map((o) => [o.revision, o.created, o.canceled, o.events.length]), [[2, false, false, 0]]);
  });

  it('progress_notify: an idle synced watcher hears the revision each tick, not after a tick with events', () => {
    open({ progressNotifyIntervalMs: 1000 });
    const { sink, s } = stream();
    s.watch(create({ key: 'a', progressNotify: true }));
    s.watch(create({ key: 'b' }));
    assert.equal(timers.intervalCount, 1);
    timers.tick();
    put('a', '1');
    timers.tick(); // events went out since the last tick: elided
    timers.tick();
    const notes = sink.forId(0n).filter((o) => !o.created && o.events.length === 0);
    assert.deepEqual(notes.map((o) => o.revision), [1, 2]);
    assert.equal(sink.forId(1n).length, 1);
    s.close();
    assert.equal(timers.intervalCount, 0);
  });

  it('closing a stream removes its watchers', async () => {
    put('a', '1');
    const { s } = stream();
    s.watch(create({ key: 'a' }));
    s.watch(create({ key: 'a', startRevision: 2 }));
    s.close();
    assert.equal(store.syncedCount + store.unsyncedCount, 0);
    assert.equal(store.streamCount, 0);
    await timers.runSoon();
  });
});

describe('slow clients', () => {
  it('a blocked stream queues up to the bound, then its watcher catches up from history, in order', async () => {
    open({ maxPendingEvents: 3 });
    const { sink, s } = stream(2);
    s.watch(create({ key: 'a' }));
    const expected: string[] = [];
    for (let i = 0; i < 10; i++) expected.push(`PUT a=${i}@${put('a', String(i))}`);
    // created + 1 event filled the transport (capacity 2); 3 more queued; the rest fell back to history.
    assert.equal(sink.written.length, 2);
    assert.equal(s.backlog, 3);
    assert.equal(store.unsyncedCount, 1);
    await timers.runSoon(); // nothing to do while blocked
    assert.equal(sink.written.length, 2);
    for (let i = 0; i < 50 && (sink.written.length > sink.read.length || timers.pendingSoon > 0); i++) {
      sink.readSome(1);
      await timers.runSoon();
    }
    assert.deepEqual(events(sink.read), expected);
    assert.equal(store.syncedCount, 1);
    // Back to live delivery.
    const rev = put('a', 'live');
    sink.readAll();
    assert.deepEqual(events(sink.read).at(-1), `PUT a=live@${rev}`);
  });

  it('compacted while falling behind: the events sent stay in order, then canceled with compact_revision', async () => {
    open({ maxPendingEvents: 1 });
    const { sink, s } = stream(1);
    s.watch(create({ key: 'a' }));
    for (let i = 0; i < 5; i++) put('a', String(i));
    f.kv.compact(f.kv.currentRevision);
    sink.readAll();
    for (let i = 0; i < 20 && timers.pendingSoon > 0; i++) {
      await timers.runSoon();
      sink.readAll();
    }
    const outs = sink.forId(0n, sink.read);
    const last = outs.at(-1);
    assert.equal(last?.canceled, true);
    assert.equal(last?.compactRevision, f.kv.compactRevision);
    // a=0 was queued before the bound was reached; a=1.. fell back to history, which the compaction removed.
    assert.deepEqual(events(outs), ['PUT a=0@2']);
  });

  it('writes never wait for a stalled client', () => {
    open({ maxPendingEvents: 10 });
    const { s } = stream(1);
    s.watch(create({ key: '', rangeEnd: ALL }));
    for (let i = 0; i < 2000; i++) put(`k${i % 50}`, 'x'.repeat(100));
    assert.ok(s.backlog <= 11, `backlog ${s.backlog}`);
    assert.equal(store.unsyncedCount, 1);
  });

  it('event types survive the history path', async () => {
    put('x', '1');
    del('x');
    const { sink, s } = stream();
    s.watch(create({ key: 'x', startRevision: 1 }));
    await timers.runSoon();
    assert.deepEqual(
      sink.written.flatMap((o) => o.events.map((e) => e.type)),
      [Event_EventType.PUT, Event_EventType.DELETE],
    );
  });
});

describe('slow consumers under a seeded random schedule', () => {
  type Spec = { key: string; end?: string; start: 'now' | number; prevKv: boolean; noPut: boolean; noDelete: boolean };
  type Logged = { rev: number; type: 'PUT' | 'DELETE'; key: string; value: string; prev: string | undefined };

  function contains(spec: Spec, key: string): boolean {
    if (spec.end === undefined) return key === spec.key;
    return key >= spec.key && (spec.end === '\0' || key < spec.end);
  }

  function expectedFor(spec: Spec, startRev: number, log: readonly Logged[]): string[] {
    return log
      .filter((e) => e.rev >= startRev && contains(spec, e.key))
      .filter((e) => !(e.type === 'PUT' ? spec.noPut : spec.noDelete))
      .map((e) => `${e.type} ${e.key}=${e.type === 'PUT' ? e.value : ''}@${e.rev}${spec.prevKv && e.prev !== undefined ? ` (prev ${e.prev})` : ''}`);
  }

  async function run(seed: number, withCompaction: boolean): Promise<{ demoted: number }> {
    const rng = new SeededRng(seed);
    open({
      maxPendingEvents: 1 + rng.int(6),
      syncChunkEvents: 1 + rng.int(8),
      maxWatchersPerSync: 1 + rng.int(4),
      maxEventsPerRound: 1 + rng.int(20),
      maxResponseBytes: 8 + rng.int(200),
    });
    const keys = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7'];
    const pick = (): string => keys[rng.int(keys.length)] as string;
    const log: Logged[] = [];
    const record = (rev: number, evs: ReturnType<typeof txn>['events']): void => {
      for (const e of evs) {
        const kv = e.kv;
        if (kv === undefined) continue;
        const prev = e.prevKv === undefined ? undefined : `${e.prevKv.value.toString('latin1')}@${e.prevKv.modRevision}`;
        log.push({ rev, type: e.type === Event_EventType.DELETE ? 'DELETE' : 'PUT', key: kv.key.toString('latin1'), value: kv.value.toString('latin1'), prev });
      }
    };
    const step = (i: number): void => {
      const r = rng.int(10);
      const { rev, events: evs } = txn(f, (w) => {
        if (r < 5) w.put(b(pick()), b(`v${i}`), 0n);
        else if (r < 7) w.deleteRange(b(pick()), undefined);
        else if (r < 9) {
          const a = pick();
          const c = keys.filter((k) => k !== a)[rng.int(keys.length - 1)] as string;
          w.put(b(a), b(`a${i}`), 0n);
          w.put(b(c), b(`c${i}`), 0n);
        } else w.deleteRange(b('k2'), b('k5'));
      });
      store.notify(evs, rev);
      record(rev, evs);
    };
    // Some history before the watchers.
    for (let i = 0; i < 20; i++) step(i);
    const specs: Spec[] = [
      { key: 'k1', start: 'now', prevKv: false, noPut: false, noDelete: false },
      { key: 'k', end: 'l', start: 'now', prevKv: true, noPut: false, noDelete: false },
      { key: 'k3', end: '\0', start: 5, prevKv: true, noPut: false, noDelete: false },
      { key: 'k2', end: 'k6', start: 'now', prevKv: false, noPut: true, noDelete: false },
      { key: 'k0', end: 'k4', start: 12, prevKv: false, noPut: false, noDelete: true },
      { key: 'k', end: 'l', start: 2, prevKv: true, noPut: false, noDelete: false },
    ];
    const streams = [stream(1 + rng.int(4)), stream(1 + rng.int(4))];
    const made: Array<{ spec: Spec; startRev: number; id: bigint; si: number }> = [];
    specs.forEach((spec, n) => {
      const si = n % 2;
      const s = (streams[si] as (typeof streams)[number]).s;
      const startRev = spec.start === 'now' ? f.kv.currentRevision + 1 : spec.start;
      const end = spec.end === undefined ? undefined : spec.end === '\0' ? ALL : b(spec.end);
      s.watch({ ...create({ key: spec.key, rangeEnd: end, prevKv: spec.prevKv, noPut: spec.noPut, noDelete: spec.noDelete }), startRevision: spec.start === 'now' ? 0 : spec.start });
      made.push({ spec, startRev, id: BigInt(Math.floor(n / 2)), si });
    });
    const demoted = new Set<number>();
    for (let i = 20; i < 400; i++) {
      step(i);
      if (withCompaction && rng.int(60) === 0) f.kv.compact(Math.max(f.kv.compactRevision + 1, f.kv.currentRevision - rng.int(5)));
      for (const { sink } of streams) if (rng.int(3) === 0) sink.readSome(rng.int(4));
      if (rng.int(2) === 0 && timers.pendingSoon > 0) await timers.runSoon(1 + rng.int(2)).catch(() => undefined);
      made.forEach((m, n) => {
        const w = (streams[m.si] as (typeof streams)[number]).s.watcher(m.id);
        if (m.spec.start === 'now' && w?.state === 'unsynced') demoted.add(n);
      });
    }
    // The client catches up completely.
    for (let i = 0; i < 10_000 && (timers.pendingSoon > 0 || streams.some(({ sink }) => sink.read.length < sink.written.length)); i++) {
      for (const { sink } of streams) sink.readAll();
      await timers.runSoon();
    }
    for (const { sink } of streams) assert.equal(sink.read.length, sink.written.length);
    assert.equal(timers.pendingSoon, 0);

    for (const m of made) {
      const outs = (streams[m.si] as (typeof streams)[number]).sink.forId(m.id, (streams[m.si] as (typeof streams)[number]).sink.read);
      const label = `seed ${seed} watcher ${JSON.stringify(m.spec)}`;
      assert.equal(outs[0]?.created, true, label);
      const body = outs.slice(1);
      const got = events(body);
      const want = expectedFor(m.spec, m.startRev, log);
      // Each revision's events in one response, revisions increasing.
      let lastRev = 0n;
      for (const o of body) {
        const revs = [...new Set(o.events.map((e) => e.kv?.modRevision ?? 0n))];
        for (const r of revs) {
          assert.ok(r > lastRev, `${label}: revision ${r} after ${lastRev}`);
          lastRev = r;
        }
      }
      const cancel = body.find((o) => o.canceled);
      if (cancel === undefined) {
        assert.deepEqual(got, want, label);
      } else {
        assert.ok(withCompaction, `${label}: canceled without compaction`);
        assert.equal(body.at(-1), cancel, `${label}: the cancel is the last response`);
        assert.deepEqual(got, want.slice(0, got.length), `${label}: a prefix of the history`);
        assert.ok(Number(lastRev) < cancel.compactRevision, `${label}: compacted past what was sent`);
        assert.equal(cancel.revision, 0);
      }
    }
    return { demoted: demoted.size };
  }

  it('every watcher gets exactly its history, in order, whatever the pace of its client (20 seeds)', async () => {
    let demoted = 0;
    for (let seed = 1; seed <= 20; seed++) {
      store.close();
      await f.close();
      f = openFixture();
      timers = new ManualTimers();
      demoted += (await run(seed, false)).demoted;
    }
    assert.ok(demoted > 0, 'no synced watcher ever fell back to history: the slow path was not exercised');
  });

  it('with compactions on the way: a prefix of the history, then canceled with compact_revision (20 seeds)', async () => {
    for (let seed = 101; seed <= 120; seed++) {
      store.close();
      await f.close();
      f = openFixture();
      timers = new ManualTimers();
      await run(seed, true);
    }
  });
});
