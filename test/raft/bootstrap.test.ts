import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SeededRng } from '../../src/base/rng.js';
import {
  ConfChangeType,
  type ConfState,
  EntryType,
  ErrInvalidConfig,
  MemoryStorage,
  type NodeId,
  RawNode,
  StateType,
  confChangeAsV2,
  decodeConfChange,
  decodeConfChangeV2,
} from '../../src/server/raft/index.js';

function node(id: NodeId, storage: MemoryStorage): RawNode {
  return new RawNode({ id, electionTick: 10, heartbeatTick: 1, storage, rng: new SeededRng(Number(id)) });
}

/** Persists, applies (conf changes through applyConfChange) and advances one Ready; returns the messages. */
function handle(raw: RawNode, storage: MemoryStorage): { confState?: ConfState } {
  const rd = raw.ready();
  if (rd.snapshot !== undefined) storage.applySnapshot(rd.snapshot);
  storage.append(rd.entries);
  if (rd.hardState !== undefined) storage.setHardState(rd.hardState);
  let confState: ConfState | undefined;
  for (const e of rd.committedEntries) {
    if (e.type === EntryType.ConfChange) confState = raw.applyConfChange(decodeConfChange(e.data));
    if (e.type === EntryType.ConfChangeV2) confState = raw.applyConfChange(confChangeAsV2(decodeConfChangeV2(e.data)));
  }
  raw.advance();
  return { confState };
}

test('bootstrap writes one committed AddNode entry per initial member at indexes 1..n, in the first Ready', () => {
  const storage = new MemoryStorage();
  const raw = node(1n, storage);
  raw.bootstrap([{ id: 1n }, { id: 2n }, { id: 3n }]);
  const rd = raw.ready();
  assert.deepEqual(rd.hardState, { term: 1, vote: 0n, commit: 3 });
  assert.equal(rd.mustSync, true);
  assert.deepEqual(rd.entries.map((e) => [e.index, e.term, e.type]), [
    [1, 1, EntryType.ConfChange],
    [2, 1, EntryType.ConfChange],
    [3, 1, EntryType.ConfChange],
  ]);
  assert.deepEqual(rd.committedEntries.map((e) => e.index), [1, 2, 3], 'the application sees the bootstrap changes');
  assert.deepEqual(rd.entries.map((e) => decodeConfChange(e.data)).map((cc) => [cc.type, cc.nodeId]), [
    [ConfChangeType.AddNode, 1n],
    [ConfChangeType.AddNode, 2n],
    [ConfChangeType.AddNode, 3n],
  ]);
  assert.deepEqual(raw.status().voters, [1n, 2n, 3n], 'the config is active at once, so campaign() works');
});

test('bootstrap is refused on a storage that already holds a log (a restarting member must not bootstrap again), and without peers', () => {
  const storage = new MemoryStorage();
  const raw = node(1n, storage);
  raw.bootstrap([{ id: 1n }]);
  handle(raw, storage);
  assert.throws(() => node(1n, storage).bootstrap([{ id: 1n }]), ErrInvalidConfig);
  assert.throws(() => node(2n, new MemoryStorage()).bootstrap([]), ErrInvalidConfig);
});

test('a single bootstrapped member elects itself and commits its proposals', () => {
  const storage = new MemoryStorage();
  const raw = node(1n, storage);
  raw.bootstrap([{ id: 1n }]);
  handle(raw, storage);
  raw.campaign();
  handle(raw, storage);
  assert.equal(raw.raft.state, StateType.Leader);
  raw.propose(new TextEncoder().encode('x'));
  handle(raw, storage);
  assert.equal(raw.raft.raftLog.committed, storage.lastIndex());
});

test('a member added later with an empty log replays the bootstrap entries and builds the same configuration', () => {
  // Member 1 bootstraps alone, then adds member 2 (which starts with nothing: no config, no log).
  const s1 = new MemoryStorage();
  const n1 = node(1n, s1);
  n1.bootstrap([{ id: 1n }]);
  handle(n1, s1);
  n1.campaign();
  handle(n1, s1);
  n1.proposeConfChange({ transition: 0, changes: [{ type: ConfChangeType.AddNode, nodeId: 2n }], context: new Uint8Array() });
  const added = handle(n1, s1).confState;
  assert.deepEqual(added?.voters, [1n, 2n]);

  const s2 = new MemoryStorage();
  const n2 = node(2n, s2);
  let last: ConfState | undefined;
  for (let i = 0; i < 50; i++) {
    for (const [from, to] of [
      [n1, n2],
      [n2, n1],
    ] as const) {
      if (!from.hasReady()) continue;
      const rd = from.ready();
      const s = from === n1 ? s1 : s2;
      if (rd.snapshot !== undefined) s.applySnapshot(rd.snapshot);
      s.append(rd.entries);
      if (rd.hardState !== undefined) s.setHardState(rd.hardState);
      for (const e of rd.committedEntries) {
        if (e.type !== EntryType.Normal) {
          const cs = from.applyConfChange(e.type === EntryType.ConfChange ? decodeConfChange(e.data) : decodeConfChangeV2(e.data));
          if (from === n2) last = cs;
        }
      }
      from.advance();
      for (const m of rd.messages) if (m.to === to.raft.id) to.step(m);
    }
    n1.tick();
  }
  assert.equal(n2.raft.raftLog.firstIndex(), 1, 'member 2 was caught up from the log, not a snapshot');
  assert.deepEqual(last?.voters, [1n, 2n], 'replaying from index 1 gives the full configuration, not one built on an empty config');
  assert.equal(n2.raft.lead, 1n);
});
