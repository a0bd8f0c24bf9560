/**
 * Protobuf encoding of the raftpb types, written by hand because the raft core must stay free of
 * dependencies. The output follows etcd's gogoproto-generated code: scalar fields are always written (they
 * are declared non-nullable there), `bytes` and message fields only when present. The decoders accept any
 * valid encoding (fields in any order, absent fields, unknown fields skipped).
 *
 * Invariant: `decodeX(encodeX(v))` equals `v` for every value the raft core produces.
 */
import { KvError } from '../../base/errors.js';
import type {
  ConfChange,
  ConfChangeSingle,
  ConfChangeTransition,
  ConfChangeType,
  ConfChangeV2,
  ConfState,
  Entry,
  EntryType,
  HardState,
  Message,
  MessageType,
  Snapshot,
  SnapshotMetadata,
} from './raftpb.js';
import { emptyBytes, emptyConfState, None, newMessage } from './raftpb.js';

/** A buffer that does not decode as the expected raftpb message. */
export class RaftCodecError extends KvError {
  readonly code = 'RAFT_CODEC';
}

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/** Bytes a non-negative safe integer takes as a varint. */
export function varintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  let n = 4;
  v = Math.floor(v / 0x10000000);
  while (v > 0) {
    n++;
    v = Math.floor(v / 0x80);
  }
  return n;
}

function varint64Size(v: bigint): number {
  let n = 1;
  while (v >= 0x80n) {
    n++;
    v >>= 7n;
  }
  return n;
}

/**
 * The encoded size of an entry, exactly as `encodeEntry` writes it. Raft uses it to limit message and
 * Ready sizes, so it must be cheap: no encoding happens.
 */
export function entrySize(e: Entry): number {
  let n = 3 + varintSize(e.type) + varintSize(e.term) + varintSize(e.index);
  const len = e.data.length;
  if (len > 0) n += 1 + varintSize(len) + len;
  return n;
}

/** Appends protobuf fields to a growing buffer. */
export class ProtoWriter {
  private buf: Uint8Array;
  private pos = 0;

  constructor(initialCapacity = 64) {
    this.buf = new Uint8Array(initialCapacity);
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  private rawVarint(v: number): void {
    this.reserve(10);
    const buf = this.buf;
    let pos = this.pos;
    while (v >= 0x80000000) {
      buf[pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    while (v >= 0x80) {
      buf[pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[pos++] = v;
    this.pos = pos;
  }

  private rawVarint64(v: bigint): void {
    this.reserve(10);
    while (v >= 0x80n) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }

  /** A uint64 field holding a term, an index or an enum. */
  uint(field: number, v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new RaftCodecError(`raft: cannot encode ${v} as uint64`);
    this.rawVarint((field << 3) | WIRE_VARINT);
    this.rawVarint(v);
    return this;
  }

  /** A uint64 field holding a 64-bit id. */
  uint64(field: number, v: bigint): this {
    if (v < 0n || v > 0xffffffffffffffffn) throw new RaftCodecError(`raft: cannot encode ${v} as uint64`);
    this.rawVarint((field << 3) | WIRE_VARINT);
    this.rawVarint64(v);
    return this;
  }

  bool(field: number, v: boolean): this {
    return this.uint(field, v ? 1 : 0);
  }

  bytes(field: number, v: Uint8Array): this {
    this.rawVarint((field << 3) | WIRE_LEN);
    this.rawVarint(v.length);
    this.reserve(v.length);
    this.buf.set(v, this.pos);
    this.pos += v.length;
    return this;
  }

  /** A nested message field, encoded by `write` into this same buffer behind a length prefix. */
  message(field: number, size: number, write: (w: ProtoWriter) => void): this {
    this.rawVarint((field << 3) | WIRE_LEN);
    this.rawVarint(size);
    const start = this.pos;
    write(this);
    if (this.pos - start !== size) throw new Error(`raft: codec size mismatch (${this.pos - start} != ${size})`);
    return this;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

/** Reads protobuf fields from a buffer, refusing anything truncated or out of range. */
export class ProtoReader {
  pos: number;

  constructor(
    private readonly buf: Uint8Array,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  /** Reads a field key: `[fieldNumber, wireType]`. */
  key(): [number, number] {
    const k = this.varint();
    return [Math.floor(k / 8), k % 8];
  }

  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new RaftCodecError('raft: truncated varint');
      const b = this.buf[this.pos++] as number;
      result += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (!Number.isSafeInteger(result)) throw new RaftCodecError('raft: varint exceeds 2^53');
        return result;
      }
      scale *= 128;
    }
    throw new RaftCodecError('raft: varint too long');
  }

  varint64(): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new RaftCodecError('raft: truncated varint');
      const b = this.buf[this.pos++] as number;
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return result & 0xffffffffffffffffn;
      shift += 7n;
    }
    throw new RaftCodecError('raft: varint too long');
  }

  /** A length-delimited field's bytes (a view into the buffer, not a copy). */
  bytes(): Uint8Array {
    const len = this.varint();
    if (this.pos + len > this.end) throw new RaftCodecError('raft: truncated length-delimited field');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  /** A nested message: a reader over its bytes. */
  sub(): ProtoReader {
    const len = this.varint();
    if (this.pos + len > this.end) throw new RaftCodecError('raft: truncated nested message');
    const r = new ProtoReader(this.buf, this.pos, this.pos + len);
    this.pos += len;
    return r;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.varint64();
        return;
      case WIRE_I64:
        this.pos += 8;
        break;
      case WIRE_LEN:
        this.bytes();
        return;
      case WIRE_I32:
        this.pos += 4;
        break;
      default:
        throw new RaftCodecError(`raft: unsupported wire type ${wireType}`);
    }
    if (this.pos > this.end) throw new RaftCodecError('raft: truncated field');
  }

  expect(wireType: number, want: number, field: number): void {
    if (wireType !== want) throw new RaftCodecError(`raft: field ${field} has wire type ${wireType}, want ${want}`);
  }
}

// ---- Entry -------------------------------------------------------------------------------------------------

function writeEntry(w: ProtoWriter, e: Entry): void {
  w.uint(1, e.type).uint(2, e.term).uint(3, e.index);
  if (e.data.length > 0) w.bytes(4, e.data);
}

export function encodeEntry(e: Entry): Uint8Array {
  const w = new ProtoWriter(entrySize(e));
  writeEntry(w, e);
  return w.finish();
}

function readEntry(r: ProtoReader): Entry {
  let type = 0;
  let term = 0;
  let index = 0;
  let data = emptyBytes;
  while (!r.done()) {
    const [field, wt] = r.key();
    switch (field) {
      case 1:
        r.expect(wt, WIRE_VARINT, field);
        type = r.varint();
        break;
      case 2:
        r.expect(wt, WIRE_VARINT, field);
        term = r.varint();
        break;
      case 3:
        r.expect(wt, WIRE_VARINT, field);
        index = r.varint();
        break;
      case 4:
        r.expect(wt, WIRE_LEN, field);
        data = r.bytes();
        break;
      default:
        r.skip(wt);
    }
  }
  if (type > 2) throw new RaftCodecError(`raft: unknown entry type ${type}`);
  return { term, index, type: type as EntryType, data };
}

export function decodeEntry(buf: Uint8Array): Entry {
  return readEntry(new ProtoReader(buf));
}

// ---- HardState ---------------------------------------------------------------------------------------------

export function encodeHardState(hs: HardState): Uint8Array {
  return new ProtoWriter(32).uint(1, hs.term).uint64(2, hs.vote).uint(3, hs.commit).finish();
}

export function decodeHardState(buf: Uint8Array): HardState {
  const r = new ProtoReader(buf);
  let term = 0;
  let vote = None;
  let commit = 0;
  while (!r.done()) {
    const [field, wt] = r.key();
    if (field === 1 && wt === WIRE_VARINT) term = r.varint();
    else if (field === 2 && wt === WIRE_VARINT) vote = r.varint64();
    else if (field === 3 && wt === WIRE_VARINT) commit = r.varint();
    else r.skip(wt);
  }
  return { term, vote, commit };
}

// ---- ConfState ---------------------------------------------------------------------------------------------

function confStateSize(cs: ConfState): number {
  let n = 2; // auto_leave
  for (const list of [cs.voters, cs.learners, cs.votersOutgoing, cs.learnersNext]) {
    for (const id of list) n += 1 + varint64Size(id);
  }
  return n;
}

function writeConfState(w: ProtoWriter, cs: ConfState): void {
  for (const id of cs.voters) w.uint64(1, id);
  for (const id of cs.learners) w.uint64(2, id);
  for (const id of cs.votersOutgoing) w.uint64(3, id);
  for (const id of cs.learnersNext) w.uint64(4, id);
  w.bool(5, cs.autoLeave);
}

/** Reads a repeated uint64, accepting both the unpacked form (proto2 default) and the packed one. */
function readIds(r: ProtoReader, wt: number, into: bigint[]): void {
  if (wt === WIRE_LEN) {
    const sub = r.sub();
    while (!sub.done()) into.push(sub.varint64());
  } else {
    r.expect(wt, WIRE_VARINT, 0);
    into.push(r.varint64());
  }
}

function readConfState(r: ProtoReader): ConfState {
  const voters: bigint[] = [];
  const learners: bigint[] = [];
  const votersOutgoing: bigint[] = [];
  const learnersNext: bigint[] = [];
  let autoLeave = false;
  while (!r.done()) {
    const [field, wt] = r.key();
    switch (field) {
      case 1:
        readIds(r, wt, voters);
        break;
      case 2:
        readIds(r, wt, learners);
        break;
      case 3:
        readIds(r, wt, votersOutgoing);
        break;
      case 4:
        readIds(r, wt, learnersNext);
        break;
      case 5:
        r.expect(wt, WIRE_VARINT, field);
        autoLeave = r.varint() !== 0;
        break;
      default:
        r.skip(wt);
    }
  }
  return { voters, learners, votersOutgoing, learnersNext, autoLeave };
}

export function encodeConfState(cs: ConfState): Uint8Array {
  const w = new ProtoWriter(confStateSize(cs));
  writeConfState(w, cs);
  return w.finish();
}

export function decodeConfState(buf: Uint8Array): ConfState {
  return readConfState(new ProtoReader(buf));
}

// ---- Snapshot ----------------------------------------------------------------------------------------------

function snapshotMetadataSize(m: SnapshotMetadata): number {
  const cs = confStateSize(m.confState);
  return 1 + varintSize(cs) + cs + 2 + varintSize(m.index) + varintSize(m.term);
}

function writeSnapshotMetadata(w: ProtoWriter, m: SnapshotMetadata): void {
  w.message(1, confStateSize(m.confState), (x) => writeConfState(x, m.confState));
  w.uint(2, m.index).uint(3, m.term);
}

function readSnapshotMetadata(r: ProtoReader): SnapshotMetadata {
  let confState = emptyConfState;
  let index = 0;
  let term = 0;
  while (!r.done()) {
    const [field, wt] = r.key();
    if (field === 1 && wt === WIRE_LEN) confState = readConfState(r.sub());
    else if (field === 2 && wt === WIRE_VARINT) index = r.varint();
    else if (field === 3 && wt === WIRE_VARINT) term = r.varint();
    else r.skip(wt);
  }
  return { confState, index, term };
}

function snapshotSize(s: Snapshot): number {
  const md = snapshotMetadataSize(s.metadata);
  return (s.data.length > 0 ? 1 + varintSize(s.data.length) + s.data.length : 0) + 1 + varintSize(md) + md;
}

function writeSnapshot(w: ProtoWriter, s: Snapshot): void {
  if (s.data.length > 0) w.bytes(1, s.data);
  w.message(2, snapshotMetadataSize(s.metadata), (x) => writeSnapshotMetadata(x, s.metadata));
}

function readSnapshot(r: ProtoReader): Snapshot {
  let data = emptyBytes;
  let metadata: SnapshotMetadata = { confState: emptyConfState, index: 0, term: 0 };
  while (!r.done()) {
    const [field, wt] = r.key();
    if (field === 1 && wt === WIRE_LEN) data = r.bytes();
    else if (field === 2 && wt === WIRE_LEN) metadata = readSnapshotMetadata(r.sub());
    else r.skip(wt);
  }
  return { data, metadata };
}

export function encodeSnapshot(s: Snapshot): Uint8Array {
  const w = new ProtoWriter(snapshotSize(s));
  writeSnapshot(w, s);
  return w.finish();
}

export function decodeSnapshot(buf: Uint8Array): Snapshot {
  return readSnapshot(new ProtoReader(buf));
}

// ---- Message -----------------------------------------------------------------------------------------------

export function encodeMessage(m: Message): Uint8Array {
  let cap = 64 + (m.context?.length ?? 0);
  for (const e of m.entries) cap += 2 + varintSize(entrySize(e)) + entrySize(e);
  if (m.snapshot !== undefined) cap += 6 + snapshotSize(m.snapshot);
  const w = new ProtoWriter(cap);
  w.uint(1, m.type).uint64(2, m.to).uint64(3, m.from).uint(4, m.term).uint(5, m.logTerm).uint(6, m.index);
  for (const e of m.entries) w.message(7, entrySize(e), (x) => writeEntry(x, e));
  w.uint(8, m.commit);
  if (m.snapshot !== undefined) w.message(9, snapshotSize(m.snapshot), (x) => writeSnapshot(x, m.snapshot as Snapshot));
  w.bool(10, m.reject).uint(11, m.rejectHint);
  if (m.context !== undefined) w.bytes(12, m.context);
  w.uint64(13, m.vote);
  return w.finish();
}

export function decodeMessage(buf: Uint8Array): Message {
  const r = new ProtoReader(buf);
  const m = newMessage({ type: 0 });
  const entries: Entry[] = [];
  while (!r.done()) {
    const [field, wt] = r.key();
    switch (field) {
      case 1:
        r.expect(wt, WIRE_VARINT, field);
        m.type = r.varint() as MessageType;
        if (m.type > 18) throw new RaftCodecError(`raft: unsupported message type ${m.type}`);
        break;
      case 2:
        r.expect(wt, WIRE_VARINT, field);
        m.to = r.varint64();
        break;
      case 3:
        r.expect(wt, WIRE_VARINT, field);
        m.from = r.varint64();
        break;
      case 4:
        r.expect(wt, WIRE_VARINT, field);
        m.term = r.varint();
        break;
      case 5:
        r.expect(wt, WIRE_VARINT, field);
        m.logTerm = r.varint();
        break;
      case 6:
        r.expect(wt, WIRE_VARINT, field);
        m.index = r.varint();
        break;
      case 7:
        r.expect(wt, WIRE_LEN, field);
        entries.push(readEntry(r.sub()));
        break;
      case 8:
        r.expect(wt, WIRE_VARINT, field);
        m.commit = r.varint();
        break;
      case 9:
        r.expect(wt, WIRE_LEN, field);
        m.snapshot = readSnapshot(r.sub());
        break;
      case 10:
        r.expect(wt, WIRE_VARINT, field);
        m.reject = r.varint() !== 0;
        break;
      case 11:
        r.expect(wt, WIRE_VARINT, field);
        m.rejectHint = r.varint();
        break;
      case 12:
        r.expect(wt, WIRE_LEN, field);
        m.context = r.bytes();
        break;
      case 13:
        r.expect(wt, WIRE_VARINT, field);
        m.vote = r.varint64();
        break;
      default:
        r.skip(wt);
    }
  }
  m.entries = entries;
  return m;
}

// ---- ConfChange / ConfChangeV2 -----------------------------------------------------------------------------

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const w = new ProtoWriter(32 + cc.context.length);
  w.uint64(1, cc.id).uint(2, cc.type).uint64(3, cc.nodeId);
  if (cc.context.length > 0) w.bytes(4, cc.context);
  return w.finish();
}

function checkConfChangeType(t: number): ConfChangeType {
  if (t > 3) throw new RaftCodecError(`raft: unknown conf change type ${t}`);
  return t as ConfChangeType;
}

export function decodeConfChange(buf: Uint8Array): ConfChange {
  const r = new ProtoReader(buf);
  let id = 0n;
  let type = 0;
  let nodeId = None;
  let context = emptyBytes;
  while (!r.done()) {
    const [field, wt] = r.key();
    if (field === 1 && wt === WIRE_VARINT) id = r.varint64();
    else if (field === 2 && wt === WIRE_VARINT) type = r.varint();
    else if (field === 3 && wt === WIRE_VARINT) nodeId = r.varint64();
    else if (field === 4 && wt === WIRE_LEN) context = r.bytes();
    else r.skip(wt);
  }
  return { type: checkConfChangeType(type), nodeId, context, id };
}

export function encodeConfChangeV2(cc: ConfChangeV2): Uint8Array {
  const w = new ProtoWriter(16 + cc.changes.length * 14 + cc.context.length);
  w.uint(1, cc.transition);
  for (const c of cc.changes) {
    w.message(2, 2 + varintSize(c.type) + varint64Size(c.nodeId), (x) => x.uint(1, c.type).uint64(2, c.nodeId));
  }
  if (cc.context.length > 0) w.bytes(3, cc.context);
  return w.finish();
}

export function decodeConfChangeV2(buf: Uint8Array): ConfChangeV2 {
  const r = new ProtoReader(buf);
  let transition = 0;
  const changes: ConfChangeSingle[] = [];
  let context = emptyBytes;
  while (!r.done()) {
    const [field, wt] = r.key();
    if (field === 1 && wt === WIRE_VARINT) transition = r.varint();
    else if (field === 2 && wt === WIRE_LEN) {
      const s = r.sub();
      let type = 0;
      let nodeId = None;
      while (!s.done()) {
        const [f, w] = s.key();
        if (f === 1 && w === WIRE_VARINT) type = s.varint();
        else if (f === 2 && w === WIRE_VARINT) nodeId = s.varint64();
        else s.skip(w);
      }
      changes.push({ type: checkConfChangeType(type), nodeId });
    } else if (field === 3 && wt === WIRE_LEN) context = r.bytes();
    else r.skip(wt);
  }
  if (transition > 2) throw new RaftCodecError(`raft: unknown conf change transition ${transition}`);
  return { transition: transition as ConfChangeTransition, changes, context };
}
