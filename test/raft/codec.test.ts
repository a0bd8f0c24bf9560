/**
 * The hand-written protobuf codec of the raftpb types: round trips, exact sizes, byte vectors computed by
 * hand from the protobuf encoding rules, and the decoders' tolerance (unknown fields, packed ids) and
 * strictness (truncation, out-of-range varints).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SeededRng } from '../../src/base/rng.js';
import {
  type ConfChange,
  ConfChangeTransition,
  ConfChangeType,
  type ConfChangeV2,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  RaftCodecError,
  type Snapshot,
  decodeConfChange,
  decodeConfChangeV2,
  decodeConfState,
  decodeEntry,
  decodeHardState,
  decodeMessage,
  decodeSnapshot,
  emptyBytes,
  emptyConfState,
  encodeConfChange,
  encodeConfChangeV2,
  encodeConfState,
  encodeEntry,
  encodeHardState,
  encodeMessage,
  encodeSnapshot,
  entrySize,
  newMessage,
} from '../../src/server/raft/index.js';

const MAX_ID = 0xffffffffffffffffn; // 2^64 - 1
const MAX_SAFE = Number.MAX_SAFE_INTEGER; // 2^53 - 1
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function hex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');
}

function bytes(h: string): Uint8Array {
  const parts = h.split(/\s+/).filter((x) => x.length > 0);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Unknown fields of every supported wire type, to append to any encoded message. */
const unknownFields = bytes(
  [
    '78 05', // field 15, varint 5
    '82 01 03 01 02 03', // field 16, length-delimited, 3 bytes
    '89 01 01 02 03 04 05 06 07 08', // field 17, fixed64
    '95 01 01 02 03 04', // field 18, fixed32
    'f8 07 ff ff ff ff ff ff ff ff ff 01', // field 127, varint 2^64-1 (ids may be that large)
  ].join(' '),
);

describe('fixed byte vectors (computed by hand from the protobuf rules)', () => {
  const vectors: { name: string; encode: () => Uint8Array; want: string }[] = [
    {
      name: 'Entry{type 0, term 1, index 2, data "a"}',
      encode: () => encodeEntry({ type: EntryType.Normal, term: 1, index: 2, data: enc('a') }),
      want: '08 00 10 01 18 02 22 01 61',
    },
    {
      name: 'Entry{type ConfChange, term 0, index 0, no data}: scalars always written, empty bytes omitted',
      encode: () => encodeEntry({ type: EntryType.ConfChange, term: 0, index: 0, data: emptyBytes }),
      want: '08 01 10 00 18 00',
    },
    {
      name: 'Entry{term 300, index 1}: 300 is the two-byte varint ac 02',
      encode: () => encodeEntry({ type: EntryType.Normal, term: 300, index: 1, data: emptyBytes }),
      want: '08 00 10 ac 02 18 01',
    },
    {
      name: 'Entry{index 2^53-1}: seven 0xff bytes then 0x0f',
      encode: () => encodeEntry({ type: EntryType.Normal, term: 1, index: MAX_SAFE, data: emptyBytes }),
      want: '08 00 10 01 18 ff ff ff ff ff ff ff 0f',
    },
    {
      name: 'HardState{term 1, vote 2, commit 3}',
      encode: () => encodeHardState({ term: 1, vote: 2n, commit: 3 }),
      want: '08 01 10 02 18 03',
    },
    {
      name: 'HardState{vote 2^64-1}: nine 0xff bytes then 0x01',
      encode: () => encodeHardState({ term: 0, vote: MAX_ID, commit: 0 }),
      want: '08 00 10 ff ff ff ff ff ff ff ff ff 01 18 00',
    },
    {
      name: 'ConfState{voters [1 2], learners [3]}: unpacked repeated ids, auto_leave written',
      encode: () => encodeConfState({ ...emptyConfState, voters: [1n, 2n], learners: [3n] }),
      want: '08 01 08 02 10 03 28 00',
    },
    {
      name: 'ConfState{votersOutgoing [4], learnersNext [4], autoLeave}',
      encode: () => encodeConfState({ ...emptyConfState, voters: [1n], votersOutgoing: [4n], learnersNext: [4n], autoLeave: true }),
      want: '08 01 18 04 20 04 28 01',
    },
    {
      name: 'Snapshot{no data, metadata{voters [1], index 5, term 2}}',
      encode: () => encodeSnapshot({ data: emptyBytes, metadata: { confState: { ...emptyConfState, voters: [1n] }, index: 5, term: 2 } }),
      want: '12 0a 0a 04 08 01 28 00 10 05 18 02',
    },
    {
      name: 'Message MsgApp{to 2, from 1, term 5, logTerm 4, index 10, commit 9}',
      encode: () => encodeMessage(newMessage({ type: MessageType.MsgApp, to: 2n, from: 1n, term: 5, logTerm: 4, index: 10, commit: 9 })),
      want: '08 03 10 02 18 01 20 05 28 04 30 0a 40 09 50 00 58 00 68 00',
    },
    {
      name: 'Message MsgAppResp{reject, rejectHint 7, one entry, context "x"}',
      encode: () =>
        encodeMessage(
          newMessage({
            type: MessageType.MsgAppResp,
            to: 1n,
            from: 2n,
            term: 1,
            reject: true,
            rejectHint: 7,
            entries: [{ type: EntryType.Normal, term: 1, index: 2, data: enc('a') }],
            context: enc('x'),
          }),
        ),
      want: '08 04 10 01 18 02 20 01 28 00 30 00 3a 09 08 00 10 01 18 02 22 01 61 40 00 50 01 58 07 62 01 78 68 00',
    },
    {
      name: 'ConfChange{AddNode 3}',
      encode: () => encodeConfChange({ id: 0n, type: ConfChangeType.AddNode, nodeId: 3n, context: emptyBytes }),
      want: '08 00 10 00 18 03',
    },
    {
      name: 'ConfChangeV2{Auto, [RemoveNode 2]}',
      encode: () => encodeConfChangeV2({ transition: ConfChangeTransition.Auto, changes: [{ type: ConfChangeType.RemoveNode, nodeId: 2n }], context: emptyBytes }),
      want: '08 00 12 04 08 01 10 02',
    },
    {
      name: 'ConfChangeV2{JointExplicit, [], context "c"}',
      encode: () => encodeConfChangeV2({ transition: ConfChangeTransition.JointExplicit, changes: [], context: enc('c') }),
      want: '08 02 1a 01 63',
    },
  ];
  for (const v of vectors) {
    test(`${v.name} encodes as ${v.want}`, () => {
      assert.equal(hex(v.encode()), v.want);
    });
  }

  test('decoding the hand-computed Entry vector gives the entry back', () => {
    const got = decodeEntry(bytes('08 00 10 01 18 02 22 01 61'));
    assert.deepEqual(got, { type: EntryType.Normal, term: 1, index: 2, data: enc('a') });
  });

  test('decoders accept fields in any order and default absent fields to zero', () => {
    assert.deepEqual(decodeEntry(bytes('22 01 61 18 02 10 01 08 00')), { type: 0, term: 1, index: 2, data: enc('a') });
    assert.deepEqual(decodeHardState(bytes('18 07')), { term: 0, vote: 0n, commit: 7 });
    assert.deepEqual(decodeEntry(new Uint8Array(0)), { type: 0, term: 0, index: 0, data: emptyBytes });
    const m = decodeMessage(bytes('30 05 08 03'));
    assert.equal(m.type, MessageType.MsgApp);
    assert.equal(m.index, 5);
    assert.equal(m.snapshot, undefined);
    assert.equal(m.context, undefined);
    assert.deepEqual(m.entries, []);
  });
});

// ---- round trips ------------------------------------------------------------------------------------------

function randomBytes(rng: SeededRng, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = rng.int(256);
  return b;
}

/** Numbers that sit on varint length boundaries, plus the largest safe integer. */
const edgeNumbers = [0, 1, 127, 128, 16383, 16384, 2 ** 21 - 1, 2 ** 21, 2 ** 28 - 1, 2 ** 28, 2 ** 31, 2 ** 32, 2 ** 35, 2 ** 42, 2 ** 49, MAX_SAFE - 1, MAX_SAFE];
const edgeIds = [0n, 1n, 127n, 128n, 2n ** 32n, 2n ** 53n, 2n ** 56n, 2n ** 63n - 1n, 2n ** 63n, MAX_ID - 1n, MAX_ID];

function randomNumber(rng: SeededRng): number {
  if (rng.float() < 0.4) return edgeNumbers[rng.int(edgeNumbers.length)] as number;
  return rng.int(2 ** Math.max(1, rng.int(53)));
}

function randomId(rng: SeededRng): bigint {
  if (rng.float() < 0.5) return edgeIds[rng.int(edgeIds.length)] as bigint;
  return (BigInt(rng.int(2 ** 32)) << 32n) | BigInt(rng.int(2 ** 32));
}

function randomEntry(rng: SeededRng): Entry {
  const lens = [0, 0, 1, 127, 128, 300, 16384];
  const len = rng.float() < 0.5 ? (lens[rng.int(lens.length)] as number) : rng.int(64);
  return { type: rng.int(3) as EntryType, term: randomNumber(rng), index: randomNumber(rng), data: randomBytes(rng, len) };
}

function randomIds(rng: SeededRng): bigint[] {
  const n = rng.int(5);
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) out.push(randomId(rng));
  return out;
}

function randomConfState(rng: SeededRng): ConfState {
  return {
    voters: randomIds(rng),
    learners: randomIds(rng),
    votersOutgoing: randomIds(rng),
    learnersNext: randomIds(rng),
    autoLeave: rng.int(2) === 1,
  };
}

function randomSnapshot(rng: SeededRng): Snapshot {
  return {
    data: randomBytes(rng, rng.float() < 0.3 ? 0 : rng.int(200)),
    metadata: { confState: randomConfState(rng), index: randomNumber(rng), term: randomNumber(rng) },
  };
}

function randomMessage(rng: SeededRng): Message {
  const entries: Entry[] = [];
  const n = rng.int(4);
  for (let i = 0; i < n; i++) entries.push(randomEntry(rng));
  return newMessage({
    type: rng.int(19) as MessageType,
    to: randomId(rng),
    from: randomId(rng),
    term: randomNumber(rng),
    logTerm: randomNumber(rng),
    index: randomNumber(rng),
    entries,
    commit: randomNumber(rng),
    vote: randomId(rng),
    snapshot: rng.float() < 0.3 ? randomSnapshot(rng) : undefined,
    reject: rng.int(2) === 1,
    rejectHint: randomNumber(rng),
    context: rng.float() < 0.3 ? undefined : randomBytes(rng, rng.int(3) === 0 ? 0 : rng.int(40)),
  });
}

describe('round trips', () => {
  test('Entry: decode(encode(e)) == e, including indexes and terms near 2^53-1', () => {
    const seed = 1001;
    const rng = new SeededRng(seed);
    for (let i = 0; i < 2000; i++) {
      const e = randomEntry(rng);
      assert.deepEqual(decodeEntry(encodeEntry(e)), e, `seed=${seed} i=${i}`);
    }
    const max: Entry = { type: EntryType.ConfChangeV2, term: MAX_SAFE, index: MAX_SAFE, data: enc('x') };
    assert.deepEqual(decodeEntry(encodeEntry(max)), max);
  });

  test('§5.1: HardState round trips, including a vote of 2^64-1 and term/commit of 2^53-1', () => {
    const cases: HardState[] = [
      { term: 0, vote: 0n, commit: 0 },
      { term: 1, vote: 2n, commit: 3 },
      { term: MAX_SAFE, vote: MAX_ID, commit: MAX_SAFE },
      { term: 5, vote: 2n ** 63n, commit: 2 ** 32 },
    ];
    for (const hs of cases) assert.deepEqual(decodeHardState(encodeHardState(hs)), hs, `hard state ${JSON.stringify(hs, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`);
  });

  test('ConfState round trips with 64-bit ids and every list', () => {
    const seed = 1002;
    const rng = new SeededRng(seed);
    for (let i = 0; i < 500; i++) {
      const cs = randomConfState(rng);
      assert.deepEqual(decodeConfState(encodeConfState(cs)), cs, `seed=${seed} i=${i}`);
    }
    const big: ConfState = { voters: [MAX_ID, 1n], learners: [MAX_ID - 1n], votersOutgoing: [2n ** 63n], learnersNext: [2n ** 63n], autoLeave: true };
    assert.deepEqual(decodeConfState(encodeConfState(big)), big);
  });

  test('Snapshot round trips, with and without data', () => {
    const seed = 1003;
    const rng = new SeededRng(seed);
    for (let i = 0; i < 500; i++) {
      const s = randomSnapshot(rng);
      assert.deepEqual(decodeSnapshot(encodeSnapshot(s)), s, `seed=${seed} i=${i}`);
    }
  });

  test('Message round trips with every field, entries, snapshot, and context absent, empty or set', () => {
    const seed = 1004;
    const rng = new SeededRng(seed);
    for (let i = 0; i < 1000; i++) {
      const m = randomMessage(rng);
      assert.deepEqual(decodeMessage(encodeMessage(m)), m, `seed=${seed} i=${i}`);
    }
    const edge = newMessage({
      type: MessageType.MsgSnap,
      to: MAX_ID,
      from: MAX_ID - 1n,
      term: MAX_SAFE,
      logTerm: MAX_SAFE,
      index: MAX_SAFE,
      commit: MAX_SAFE,
      vote: MAX_ID,
      rejectHint: MAX_SAFE,
      context: new Uint8Array(0),
      snapshot: { data: enc('snap'), metadata: { confState: { ...emptyConfState, voters: [MAX_ID] }, index: MAX_SAFE, term: MAX_SAFE } },
    });
    const back = decodeMessage(encodeMessage(edge));
    assert.deepEqual(back, edge);
    assert.notEqual(back.context, undefined, 'an empty context stays present (not undefined)');
  });

  test('ConfChange round trips with 64-bit id and node id', () => {
    const cases: ConfChange[] = [
      { id: 0n, type: ConfChangeType.AddNode, nodeId: 1n, context: emptyBytes },
      { id: MAX_ID, type: ConfChangeType.RemoveNode, nodeId: MAX_ID, context: enc('ctx') },
      { id: 2n ** 63n, type: ConfChangeType.UpdateNode, nodeId: 2n ** 53n + 1n, context: enc('') },
      { id: 7n, type: ConfChangeType.AddLearnerNode, nodeId: 9n, context: randomBytes(new SeededRng(5), 300) },
    ];
    for (const cc of cases) assert.deepEqual(decodeConfChange(encodeConfChange(cc)), cc);
  });

  test('ConfChangeV2 round trips with every transition and change type', () => {
    const seed = 1005;
    const rng = new SeededRng(seed);
    for (let i = 0; i < 300; i++) {
      const n = rng.int(5);
      const changes = [];
      for (let j = 0; j < n; j++) changes.push({ type: rng.int(4) as ConfChangeType, nodeId: randomId(rng) });
      const cc: ConfChangeV2 = { transition: rng.int(3) as ConfChangeTransition, changes, context: randomBytes(rng, rng.int(3) === 0 ? 0 : rng.int(20)) };
      assert.deepEqual(decodeConfChangeV2(encodeConfChangeV2(cc)), cc, `seed=${seed} i=${i}`);
    }
  });
});

describe('entrySize', () => {
  test('entrySize(e) equals encodeEntry(e).length for thousands of random entries', () => {
    const seed = 2002;
    const rng = new SeededRng(seed);
    for (let i = 0; i < 5000; i++) {
      const e = randomEntry(rng);
      assert.equal(entrySize(e), encodeEntry(e).length, `seed=${seed} i=${i}: term=${e.term} index=${e.index} type=${e.type} data.length=${e.data.length}`);
    }
  });

  test('entrySize is exact at every varint length boundary', () => {
    for (const term of edgeNumbers) {
      for (const index of edgeNumbers) {
        const e: Entry = { type: EntryType.Normal, term, index, data: emptyBytes };
        assert.equal(entrySize(e), encodeEntry(e).length, `term=${term} index=${index}`);
      }
    }
  });
});

describe('decoder tolerance', () => {
  test('every decoder skips unknown fields of every wire type', () => {
    const e: Entry = { type: EntryType.Normal, term: 3, index: 4, data: enc('abc') };
    assert.deepEqual(decodeEntry(concat(encodeEntry(e), unknownFields)), e, 'Entry');
    assert.deepEqual(decodeEntry(concat(unknownFields, encodeEntry(e))), e, 'Entry, unknown fields first');
    const hs: HardState = { term: 3, vote: 2n, commit: 1 };
    assert.deepEqual(decodeHardState(concat(encodeHardState(hs), unknownFields)), hs, 'HardState');
    const cs: ConfState = { ...emptyConfState, voters: [1n, 2n], learners: [3n] };
    assert.deepEqual(decodeConfState(concat(encodeConfState(cs), unknownFields)), cs, 'ConfState');
    const s: Snapshot = { data: enc('d'), metadata: { confState: cs, index: 9, term: 2 } };
    assert.deepEqual(decodeSnapshot(concat(encodeSnapshot(s), unknownFields)), s, 'Snapshot');
    const m = newMessage({ type: MessageType.MsgHeartbeat, to: 1n, from: 2n, term: 3, commit: 4 });
    assert.deepEqual(decodeMessage(concat(encodeMessage(m), unknownFields)), m, 'Message');
    // etcd v3.6 adds `repeated Message responses = 14`: an older decoder must skip it.
    const withResponses = concat(encodeMessage(m), bytes('72 02 08 04'));
    assert.deepEqual(decodeMessage(withResponses), m, 'Message with a responses field');
    const cc: ConfChange = { id: 1n, type: ConfChangeType.AddNode, nodeId: 5n, context: emptyBytes };
    assert.deepEqual(decodeConfChange(concat(encodeConfChange(cc), unknownFields)), cc, 'ConfChange');
    const cc2: ConfChangeV2 = { transition: ConfChangeTransition.Auto, changes: [{ type: ConfChangeType.AddNode, nodeId: 5n }], context: emptyBytes };
    assert.deepEqual(decodeConfChangeV2(concat(encodeConfChangeV2(cc2), unknownFields)), cc2, 'ConfChangeV2');
  });

  test('unknown fields nested inside a message field (an entry of a MsgApp) are skipped', () => {
    // field 7 (entries), 11 bytes: type 0, term 1, index 2, unknown field 15 = 5, data "a"
    const m = decodeMessage(bytes('08 03 3a 0b 08 00 10 01 18 02 78 05 22 01 61'));
    assert.deepEqual(m.entries, [{ type: 0, term: 1, index: 2, data: enc('a') }]);
  });

  test('ConfState accepts packed repeated ids, alone or mixed with unpacked ones', () => {
    assert.deepEqual(decodeConfState(bytes('0a 03 01 02 03')).voters, [1n, 2n, 3n], 'packed voters');
    assert.deepEqual(decodeConfState(bytes('08 01 0a 02 02 03 08 04')).voters, [1n, 2n, 3n, 4n], 'mixed packed and unpacked');
    assert.deepEqual(decodeConfState(bytes('12 0b 05 ff ff ff ff ff ff ff ff ff 01')).learners, [5n, MAX_ID], 'packed learners with a 64-bit id');
    assert.deepEqual(decodeConfState(bytes('1a 01 07 22 01 07')), { ...emptyConfState, votersOutgoing: [7n], learnersNext: [7n] }, 'packed outgoing and learnersNext');
    assert.deepEqual(decodeConfState(bytes('0a 00')).voters, [], 'an empty packed list');
  });
});

describe('decoder strictness', () => {
  test('an input cut inside a varint throws RaftCodecError', () => {
    assert.throws(() => decodeEntry(bytes('08 00 10 ac')), RaftCodecError, 'term varint cut');
    assert.throws(() => decodeHardState(bytes('08 01 10 ff ff')), RaftCodecError, 'vote varint cut');
    assert.throws(() => decodeEntry(bytes('08')), RaftCodecError, 'key without a value');
    assert.throws(() => decodeEntry(bytes('80')), RaftCodecError, 'key varint cut');
  });

  test('an input cut inside a length-delimited field or nested message throws RaftCodecError', () => {
    assert.throws(() => decodeEntry(bytes('08 00 10 01 18 02 22 03 61 62')), RaftCodecError, 'data cut');
    assert.throws(() => decodeMessage(bytes('08 03 3a 09 08 00 10 01 18 02 22 01')), RaftCodecError, 'nested entry cut');
    assert.throws(() => decodeSnapshot(bytes('12 0a 0a 04 08 01 28 00 10 05')), RaftCodecError, 'snapshot metadata cut');
    assert.throws(() => decodeConfState(bytes('0a 03 01 02')), RaftCodecError, 'packed ids cut');
  });

  test('an input cut inside an unknown fixed-width field throws RaftCodecError', () => {
    assert.throws(() => decodeEntry(bytes('89 01 01 02 03')), RaftCodecError, 'fixed64 cut');
    assert.throws(() => decodeEntry(bytes('95 01 01 02')), RaftCodecError, 'fixed32 cut');
  });

  test('every prefix of an encoded message that ends inside a field fails with RaftCodecError, never another error', () => {
    const m = newMessage({
      type: MessageType.MsgApp,
      to: MAX_ID,
      from: 300n,
      term: 70000,
      index: 2 ** 40,
      entries: [{ type: EntryType.Normal, term: 70000, index: 2 ** 40 + 1, data: enc('hello world') }],
      commit: 5,
      context: enc('ctx'),
    });
    const full = encodeMessage(m);
    let refused = 0;
    for (let n = 1; n < full.length; n++) {
      try {
        decodeMessage(full.subarray(0, n));
      } catch (err) {
        assert.ok(err instanceof RaftCodecError, `prefix of ${n} bytes: expected RaftCodecError, got ${String(err)}`);
        refused++;
      }
    }
    assert.ok(refused > full.length / 2, `most prefixes end inside a field and must be refused (${refused} of ${full.length - 1})`);
  });

  test('varints of 2^53 or more in number fields throw RaftCodecError (no silent rounding)', () => {
    const twoTo53 = '80 80 80 80 80 80 80 10';
    assert.deepEqual(decodeEntry(bytes('18 ff ff ff ff ff ff ff 0f')).index, MAX_SAFE, '2^53-1 is accepted');
    assert.throws(() => decodeEntry(bytes(`18 ${twoTo53}`)), RaftCodecError, 'entry index 2^53');
    assert.throws(() => decodeEntry(bytes(`10 ${twoTo53}`)), RaftCodecError, 'entry term 2^53');
    assert.throws(() => decodeHardState(bytes(`18 ${twoTo53}`)), RaftCodecError, 'hard state commit 2^53');
    assert.throws(() => decodeMessage(bytes('20 ff ff ff ff ff ff ff ff ff 01')), RaftCodecError, 'message term 2^64-1');
    assert.throws(() => decodeSnapshot(bytes(`12 0a 10 ${twoTo53}`)), RaftCodecError, 'snapshot index 2^53');
  });

  test('a varint longer than ten bytes throws RaftCodecError', () => {
    assert.throws(() => decodeHardState(bytes('10 ff ff ff ff ff ff ff ff ff ff 01')), RaftCodecError);
  });

  test('the encoders refuse numbers they cannot represent exactly', () => {
    assert.throws(() => encodeEntry({ type: 0, term: 1, index: 2 ** 53, data: emptyBytes }), RaftCodecError, 'index 2^53');
    assert.throws(() => encodeEntry({ type: 0, term: -1, index: 1, data: emptyBytes }), RaftCodecError, 'negative term');
    assert.throws(() => encodeEntry({ type: 0, term: 1.5, index: 1, data: emptyBytes }), RaftCodecError, 'fractional term');
    assert.throws(() => encodeHardState({ term: 1, vote: MAX_ID + 1n, commit: 0 }), RaftCodecError, 'vote 2^64');
    assert.throws(() => encodeHardState({ term: 1, vote: -1n, commit: 0 }), RaftCodecError, 'negative vote');
  });

  test('a known field with the wrong wire type, an unknown enum value, or a group wire type throws RaftCodecError', () => {
    assert.throws(() => decodeEntry(bytes('12 01 00')), RaftCodecError, 'Entry.term as length-delimited');
    assert.throws(() => decodeEntry(bytes('08 03')), RaftCodecError, 'entry type 3');
    assert.throws(() => decodeMessage(bytes('08 13')), RaftCodecError, 'message type 19');
    assert.throws(() => decodeConfChange(bytes('10 04')), RaftCodecError, 'conf change type 4');
    assert.throws(() => decodeConfChangeV2(bytes('08 03')), RaftCodecError, 'transition 3');
    assert.throws(() => decodeEntry(bytes('7b 7c')), RaftCodecError, 'group wire type 3');
  });
});
