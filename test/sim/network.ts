/**
 * A synchronous, deterministic network of raft state machines for protocol tests (the shape of etcd-io/raft's
 * raft_test.go network): `send` steps each message into its target, collects what that node sends in turn,
 * and repeats until no message is left. No threads, no timers, no sleeps; faults are methods.
 *
 * Nodes here are bare `Raft` instances: their unstable log is never persisted (raft reads it from memory),
 * which is all the protocol logic needs. Tests of persistence and restarts use the RawNode simulator in
 * src/server/raftsim instead.
 */
import { SeededRng } from '../../src/base/rng.js';
import {
  type ConfState,
  type Entry,
  ErrProposalDropped,
  type Message,
  MessageType,
  MemoryStorage,
  type NodeId,
  Raft,
  type RaftConfig,
  emptyConfState,
  newEntry,
  newMessage,
  messageTypeName,
} from '../../src/server/raft/index.js';
import { levelLogger, type Logger } from '../../src/base/logger.js';

/** Anything the network can deliver to. */
export interface StateMachine {
  step(m: Message): void;
  readMessages(): Message[];
}

/** A node that swallows everything (a crashed or absent peer). */
export class BlackHole implements StateMachine {
  step(): void {}
  readMessages(): Message[] {
    return [];
  }
}

/** Adapts a Raft to the network: stepping it and draining its outgoing messages. */
export class RaftPeer implements StateMachine {
  constructor(readonly raft: Raft) {}
  step(m: Message): void {
    try {
      this.raft.step(m);
    } catch (err) {
      // A dropped proposal is a normal outcome; the tests check its effect (nothing appended).
      if (!(err instanceof ErrProposalDropped)) throw err;
    }
  }
  readMessages(): Message[] {
    return this.raft.takeMessages();
  }
}

export function ids(...n: number[]): NodeId[] {
  return n.map((x) => BigInt(x));
}

export function confState(voters: number[], learners: number[] = []): ConfState {
  return { ...emptyConfState, voters: ids(...voters), learners: ids(...learners) };
}

/** A MemoryStorage whose initial config has the given voters (and learners), holding `entries`. */
export function storageWithConfig(voters: number[], learners: number[] = [], entries: Entry[] = []): MemoryStorage {
  return MemoryStorage.withEntries(entries, confState(voters, learners));
}

export interface TestRaftOptions extends Partial<Omit<RaftConfig, 'id' | 'storage' | 'rng'>> {
  seed?: number;
}

/** Logs go to stderr when RAFT_LOG is set (e.g. RAFT_LOG=debug node --test ...). */
export function testLogger(): Logger | undefined {
  const level = process.env.RAFT_LOG;
  if (level === undefined) return undefined;
  return levelLogger(level as 'debug', (l, m) => process.stderr.write(`${l.toUpperCase()} ${m}\n`));
}

/** A raft node with the test defaults of etcd's suite: no pre-vote or check-quorum unless asked for. */
export function newTestRaft(id: number, election: number, heartbeat: number, storage: MemoryStorage, opts: TestRaftOptions = {}): Raft {
  const { seed, ...rest } = opts;
  return new Raft({
    id: BigInt(id),
    electionTick: election,
    heartbeatTick: heartbeat,
    storage,
    rng: new SeededRng(seed ?? id),
    maxSizePerMsg: Number.POSITIVE_INFINITY,
    maxInflightMsgs: 256,
    checkQuorum: false,
    preVote: false,
    logger: testLogger(),
    ...rest,
  });
}

/** Entries with the given terms at indexes 1, 2, ... */
export function entriesWithTerms(...terms: number[]): Entry[] {
  return terms.map((t, i) => newEntry(i + 1, t));
}

type PeerSpec = Raft | BlackHole | null | ((id: number, peers: number[]) => Raft);

export class Network {
  readonly peers = new Map<NodeId, StateMachine>();
  readonly storage = new Map<NodeId, MemoryStorage>();
  private readonly dropm = new Map<string, number>();
  private readonly ignorem = new Set<MessageType>();
  /** Return false to drop a message. */
  msgHook: ((m: Message) => boolean) | undefined;
  private readonly rng: SeededRng;
  /** Every message delivered, in order (for assertions on traffic). */
  readonly delivered: Message[] = [];

  /**
   * Builds a network of `specs.length` nodes with ids 1..n: `null` makes a fresh voter over a new storage,
   * a Raft is used as is (its id must match its position), a function builds one from (id, all ids).
   */
  constructor(specs: PeerSpec[], opts: TestRaftOptions & { seed?: number } = {}) {
    this.rng = new SeededRng(opts.seed ?? 1);
    const all = specs.map((_, i) => i + 1);
    specs.forEach((spec, i) => {
      const id = i + 1;
      if (spec === null) {
        const s = storageWithConfig(all);
        this.storage.set(BigInt(id), s);
        this.peers.set(BigInt(id), new RaftPeer(newTestRaft(id, 10, 1, s, opts)));
      } else if (spec instanceof Raft) {
        if (spec.id !== BigInt(id)) throw new Error(`peer at position ${i} has id ${spec.id}, want ${id}`);
        this.peers.set(BigInt(id), new RaftPeer(spec));
      } else if (spec instanceof BlackHole) {
        this.peers.set(BigInt(id), spec);
      } else {
        this.peers.set(BigInt(id), new RaftPeer(spec(id, all)));
      }
    });
  }

  /** The Raft behind node `id` (throws for a black hole). */
  raft(id: number): Raft {
    const p = this.peers.get(BigInt(id));
    if (!(p instanceof RaftPeer)) throw new Error(`node ${id} is not a raft peer`);
    return p.raft;
  }

  /**
   * Delivers the messages and everything they cause until the network is quiet. Bounded: a livelock in the
   * protocol fails the test instead of hanging it.
   */
  send(...msgs: Message[]): void {
    const queue = [...msgs];
    let steps = 0;
    while (queue.length > 0) {
      if (++steps > 100_000) throw new Error('network did not quiesce within 100000 messages');
      const m = queue.shift() as Message;
      const p = this.peers.get(m.to);
      if (p === undefined) continue;
      this.delivered.push(m);
      p.step(m);
      queue.push(...this.filter(p.readMessages()));
    }
  }

  /** Starts an election at `id` and runs it to completion. */
  campaign(id: number): void {
    this.send(newMessage({ type: MessageType.MsgHup, from: BigInt(id), to: BigInt(id) }));
  }

  /** Proposes `data` at node `id` and runs replication to completion. */
  propose(id: number, data: string | Uint8Array = 'somedata'): void {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    this.send(
      newMessage({ type: MessageType.MsgProp, from: BigInt(id), to: BigInt(id), entries: [newEntry(0, 0, bytes)] }),
    );
  }

  /** Drops messages from -> to with probability `p` (1 = always). */
  drop(from: number, to: number, p: number): void {
    this.dropm.set(`${from}->${to}`, p);
  }

  /** Cuts both directions between two nodes. */
  cut(a: number, b: number): void {
    this.drop(a, b, 2);
    this.drop(b, a, 2);
  }

  /** Cuts a node off from every other node. */
  isolate(id: number): void {
    for (const other of this.peers.keys()) {
      const o = Number(other);
      if (o !== id) this.cut(id, o);
    }
  }

  /** Drops every message of a type. */
  ignore(t: MessageType): void {
    this.ignorem.add(t);
  }

  /** Heals every drop, cut, isolation and ignore. */
  recover(): void {
    this.dropm.clear();
    this.ignorem.clear();
  }

  private filter(msgs: Message[]): Message[] {
    const out: Message[] = [];
    for (const m of msgs) {
      if (this.ignorem.has(m.type)) continue;
      if (m.type === MessageType.MsgHup) throw new Error(`unexpected ${messageTypeName(m.type)} on the network`);
      const p = this.dropm.get(`${m.from}->${m.to}`) ?? 0;
      if (p > 0 && this.rng.float() < p) continue;
      if (this.msgHook !== undefined && !this.msgHook(m)) continue;
      out.push(m);
    }
    return out;
  }
}

/** Shorthand for a message in tests. */
export function msg(from: number, to: number, type: MessageType, fields: Partial<Message> = {}): Message {
  return newMessage({ ...fields, type, from: BigInt(from), to: BigInt(to) });
}

/** Reads and clears a raft's outgoing messages, sorted the way etcd's tests compare them. */
export function readMessages(r: Raft): Message[] {
  return r.takeMessages();
}

/** Ticks a raft `n` times. */
export function tickN(r: Raft, n: number): void {
  for (let i = 0; i < n; i++) r.tick();
}

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);
