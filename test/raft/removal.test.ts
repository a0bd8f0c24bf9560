/**
 * Removing or demoting the leader, the liveness cases the randomized simulation found (see the raft README:
 * "Removed leaders hand over" and `mayCaretake` in raft.ts). Driven with RawNodes over MemoryStorage,
 * following the Ready contract, so that crashes and restarts are real.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SeededRng } from '../../src/base/rng.js';
import {
  ConfChangeType,
  type ConfChangeV2,
  EntryType,
  type Message,
  MessageType,
  MemoryStorage,
  type NodeId,
  RawNode,
  StateType,
  confChangeAsV2,
  decodeConfChange,
  decodeConfChangeV2,
  emptyBytes,
} from '../../src/server/raft/index.js';

const ET = 10;

class Group {
  readonly storage = new Map<NodeId, MemoryStorage>();
  readonly raw = new Map<NodeId, RawNode>();
  /** Return false to drop a message. */
  filter: (m: Message) => boolean = () => true;
  /** Return true to park a message (instead of delivering it) until `release`. */
  hold: (m: Message) => boolean = () => false;
  parked: Message[] = [];
  private queue: Message[] = [];

  constructor(voters: NodeId[]) {
    for (const id of voters) {
      this.storage.set(id, new MemoryStorage());
      this.start(id);
      this.node(id).bootstrap(voters.map((v) => ({ id: v })));
    }
    this.settle();
  }

  node(id: NodeId): RawNode {
    const r = this.raw.get(id);
    if (r === undefined) throw new Error(`node ${id} is down`);
    return r;
  }

  start(id: NodeId): void {
    const storage = this.storage.get(id) as MemoryStorage;
    this.raw.set(id, new RawNode({ id, electionTick: ET, heartbeatTick: 1, storage, rng: new SeededRng(Number(id)), applied: 0 }));
  }

  /** Delivers the parked messages matching `pred` (in order) and settles. */
  release(pred: (m: Message) => boolean): void {
    const keep: Message[] = [];
    for (const m of this.parked) (pred(m) ? this.queue : keep).push(m);
    this.parked = keep;
    this.settle();
  }

  crash(id: NodeId): void {
    this.raw.delete(id);
    this.queue = this.queue.filter((m) => m.to !== id);
  }

  /** Handles Readys and delivers messages until quiet (bounded). */
  settle(): void {
    for (let i = 0; i < 1000; i++) {
      let busy = false;
      for (const [id, raw] of this.raw) {
        if (!raw.hasReady()) continue;
        busy = true;
        const s = this.storage.get(id) as MemoryStorage;
        const rd = raw.ready();
        if (rd.snapshot !== undefined) s.applySnapshot(rd.snapshot);
        s.append(rd.entries);
        if (rd.hardState !== undefined) s.setHardState(rd.hardState);
        for (const m of rd.messages) {
          if (!this.filter(m)) continue;
          if (this.hold(m)) this.parked.push(m);
          else this.queue.push(m);
        }
        for (const e of rd.committedEntries) {
          if (e.type === EntryType.ConfChange) raw.applyConfChange(decodeConfChange(e.data));
          if (e.type === EntryType.ConfChangeV2) raw.applyConfChange(confChangeAsV2(decodeConfChangeV2(e.data)));
        }
        raw.advance();
      }
      const q = this.queue;
      this.queue = [];
      for (const m of q) {
        busy = true;
        const to = this.raw.get(m.to);
        try {
          to?.step(m);
        } catch {
          /* refusals (unknown peer, dropped proposal) are a transport's business */
        }
      }
      if (!busy) return;
    }
    throw new Error('group did not settle');
  }

  tick(n: number): void {
    for (let i = 0; i < n; i++) {
      for (const raw of this.raw.values()) raw.tick();
      this.settle();
    }
  }

  leader(): NodeId | undefined {
    for (const [id, raw] of this.raw) if (raw.raft.state === StateType.Leader) return id;
    return undefined;
  }
}

const demote = (id: NodeId): ConfChangeV2 => ({
  transition: 0,
  changes: [{ type: ConfChangeType.AddLearnerNode, nodeId: id }],
  context: emptyBytes,
});

test('a leader that demotes itself hands leadership to the remaining voter and then follows it', () => {
  const g = new Group([1n, 2n]);
  g.node(1n).campaign();
  g.settle();
  assert.equal(g.leader(), 1n);
  g.node(1n).proposeConfChange(demote(1n));
  g.settle();
  g.tick(3 * ET);
  assert.equal(g.leader(), 2n, 'node 2 leads after the hand-over');
  assert.deepEqual(g.node(2n).status().voters, [2n]);
  assert.equal(g.node(1n).raft.isLearner, true);
  assert.equal(g.node(1n).raft.lead, 2n);
});

/**
 * Leader 1 of (1 2) proposes its own demotion and one more entry; node 2 receives only the demotion and
 * acknowledges it, so the demotion commits while node 2 lacks the later entry (the hand-over cannot finish
 * at once). Returns the index of the demotion. Messages to node 2 stay parked afterwards.
 */
function demoteLeaderWithLaggingSuccessor(g: Group): number {
  g.node(1n).campaign();
  g.settle();
  g.hold = (m) => m.to === 2n;
  g.node(1n).proposeConfChange(demote(1n));
  const demotion = g.node(1n).raft.raftLog.lastIndex();
  g.settle();
  g.node(1n).propose(new TextEncoder().encode('late'));
  g.settle();
  // Deliver to node 2 only the append that carries the demotion; its ack commits the demotion.
  g.release((m) => m.type === MessageType.MsgApp && m.entries.some((e) => e.index === demotion));
  g.parked = [];
  assert.equal(g.node(1n).raft.isLearner, true, 'the demotion committed and node 1 applied it');
  assert.ok(g.node(1n).raft.raftLog.lastIndex() > g.node(2n).raft.raftLog.lastIndex(), "node 1's log is longer than node 2's");
  return demotion;
}

test('a leader that is no longer a voter keeps handing over while the new configuration is unreachable, instead of stepping down on check-quorum', () => {
  const g = new Group([1n, 2n]);
  demoteLeaderWithLaggingSuccessor(g);
  g.crash(2n);
  g.tick(5 * ET); // five election timeouts: check-quorum would have deposed a voting leader
  assert.equal(g.node(1n).raft.state, StateType.Leader, 'it keeps the leadership it must hand over');
  g.start(2n);
  g.hold = () => false;
  g.tick(3 * ET);
  assert.equal(g.leader(), 2n, 'once node 2 is back, the hand-over completes');
  assert.deepEqual(g.node(2n).status().voters, [2n]);
});

test('a demoted leader that crashes mid-hand-over is the only node that knows the change committed; when the remaining voter asks for its vote it campaigns as caretaker and hands over', () => {
  const g = new Group([1n, 2n]);
  const demotion = demoteLeaderWithLaggingSuccessor(g);
  assert.ok(g.node(2n).raft.raftLog.committed < demotion, 'node 2 does not know the demotion committed');
  // Node 1 crashes before the hand-over completes, and restarts as an ordinary follower (a learner).
  g.crash(1n);
  g.start(1n);
  g.hold = () => false;
  g.settle();
  assert.equal(g.node(1n).raft.isLearner, true);
  // Node 2 campaigns under its old config (1 2), which needs node 1's vote. Node 1 must refuse (its log is
  // longer); seeing that, it campaigns as caretaker, brings node 2 up to date and hands over.
  g.tick(6 * ET);
  assert.equal(g.leader(), 2n, `node 2 should lead; node 1 is ${g.node(1n).raft.state}, node 2 is ${g.node(2n).raft.state}`);
  assert.deepEqual(g.node(2n).status().voters, [2n], 'node 2 now applies the config it is the only voter of');
  assert.equal(g.node(1n).raft.lead, 2n);
  g.node(2n).propose(new TextEncoder().encode('after'));
  g.settle();
  assert.equal(g.node(1n).raft.raftLog.committed, g.node(2n).raft.raftLog.lastIndex(), 'the group commits again');
});

test('a learner or removed node that nobody asks for a vote never campaigns, however long it hears nothing', () => {
  const g = new Group([1n, 2n, 3n]);
  g.node(1n).campaign();
  g.settle();
  g.node(1n).proposeConfChange({ transition: 0, changes: [{ type: ConfChangeType.RemoveNode, nodeId: 3n }], context: emptyBytes });
  g.settle();
  g.filter = (m) => m.from !== 3n && m.to !== 3n; // node 3 hears nothing from now on
  const before = g.node(3n).raft.term;
  g.tick(10 * ET);
  assert.equal(g.node(3n).raft.state, StateType.Follower);
  assert.equal(g.node(3n).raft.term, before, 'its term never moved');
});
