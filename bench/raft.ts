/**
 * Raft core throughput: a 3-voter group in one process, every node driven through the real Ready loop
 * (persist to MemoryStorage, send, apply, advance), messages handed over in memory. All three nodes run on
 * one thread, so the figure is what one core does for the whole group; the core is meant to be far from
 * the server's bottleneck.
 *
 * Each scenario proposes `batch` entries of 128 bytes at the leader, then lets the group settle; it counts
 * entries committed at the leader per second. `--codec` also encodes and decodes every message, as the
 * peer transport will.
 *
 * Usage: npm run bench:raft [-- --seconds 2 --json]
 */
import { SeededRng } from '../src/base/rng.js';
import {
  type Message,
  MemoryStorage,
  type NodeId,
  RawNode,
  StateType,
  decodeMessage,
  emptyConfState,
  encodeMessage,
} from '../src/server/raft/index.js';

interface Result {
  readonly scenario: string;
  readonly batch: number;
  readonly codec: boolean;
  readonly entries: number;
  readonly seconds: number;
  readonly entriesPerSec: number;
  readonly messagesPerEntry: number;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const ENTRY_BYTES = 128;

class Group {
  readonly ids: NodeId[] = [1n, 2n, 3n];
  readonly nodes = new Map<NodeId, { raw: RawNode; storage: MemoryStorage }>();
  private queue: Message[] = [];
  messages = 0;

  constructor(private readonly codec: boolean) {
    const rng = new SeededRng(1);
    const cs = { ...emptyConfState, voters: this.ids };
    for (const id of this.ids) {
      const storage = new MemoryStorage(cs);
      const raw = new RawNode({
        id,
        electionTick: 10,
        heartbeatTick: 1,
        storage,
        rng,
        maxSizePerMsg: 1024 * 1024,
        maxInflightMsgs: 256,
      });
      this.nodes.set(id, { raw, storage });
    }
    (this.nodes.get(1n) as { raw: RawNode }).raw.campaign();
    this.settle();
    if ((this.nodes.get(1n) as { raw: RawNode }).raw.raft.state !== StateType.Leader) throw new Error('no leader');
  }

  get leader(): RawNode {
    return (this.nodes.get(1n) as { raw: RawNode }).raw;
  }

  settle(): void {
    for (;;) {
      let busy = false;
      for (const id of this.ids) {
        const n = this.nodes.get(id) as { raw: RawNode; storage: MemoryStorage };
        if (!n.raw.hasReady()) continue;
        busy = true;
        const rd = n.raw.ready();
        if (rd.entries.length > 0) n.storage.append(rd.entries);
        if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
        for (const m of rd.messages) this.queue.push(this.codec ? decodeMessage(encodeMessage(m)) : m);
        // Applying is the state machine's cost, not raft's: the entries are only walked.
        let sink = 0;
        for (const e of rd.committedEntries) sink += e.data.length;
        if (sink < 0) throw new Error('unreachable');
        n.raw.advance();
        // Keep memory flat: compact what every node has applied (the bench runs millions of entries).
        const applied = n.raw.raft.raftLog.applied;
        if (applied - n.storage.firstIndex() > 20_000) n.storage.compact(applied - 1_000);
      }
      const q = this.queue;
      if (q.length > 0) {
        busy = true;
        this.queue = [];
        this.messages += q.length;
        for (const m of q) (this.nodes.get(m.to) as { raw: RawNode }).raw.step(m);
      }
      if (!busy) return;
    }
  }
}

function run(batch: number, codec: boolean, seconds: number): Result {
  const g = new Group(codec);
  const payload = new Uint8Array(ENTRY_BYTES).fill(7);
  const leader = g.leader;
  const start0 = leader.raft.raftLog.committed;
  // Warm up the JIT before timing.
  const warmUntil = performance.now() + 300;
  while (performance.now() < warmUntil) {
    for (let i = 0; i < batch; i++) leader.propose(payload);
    g.settle();
  }
  const c0 = leader.raft.raftLog.committed;
  const m0 = g.messages;
  const t0 = performance.now();
  let t1 = t0;
  while (t1 - t0 < seconds * 1000) {
    for (let i = 0; i < batch; i++) leader.propose(payload);
    g.settle();
    t1 = performance.now();
  }
  const entries = leader.raft.raftLog.committed - c0;
  if (c0 <= start0) throw new Error('warm-up committed nothing');
  const secs = (t1 - t0) / 1000;
  return {
    scenario: `3 voters, ${ENTRY_BYTES}B entries, ${batch} per Ready${codec ? ', codec' : ''}`,
    batch,
    codec,
    entries,
    seconds: Number(secs.toFixed(3)),
    entriesPerSec: Math.round(entries / secs),
    messagesPerEntry: Number(((g.messages - m0) / entries).toFixed(3)),
  };
}

const seconds = Number(arg('seconds', '2'));
const results: Result[] = [];
for (const batch of [1, 16, 256]) results.push(run(batch, false, seconds));
results.push(run(256, true, seconds));

if (process.argv.includes('--json')) {
  process.stdout.write(`${JSON.stringify({ bench: 'raft', node: process.version, results })}\n`);
} else {
  process.stdout.write(`raft core, node ${process.version}, one thread for the whole group\n`);
  const w = Math.max(...results.map((r) => r.scenario.length));
  for (const r of results) {
    process.stdout.write(
      `  ${r.scenario.padEnd(w)}  ${String(r.entriesPerSec).padStart(9)} entries/s  (${r.entries} in ${r.seconds}s, ${r.messagesPerEntry} msgs/entry)\n`,
    );
  }
}
