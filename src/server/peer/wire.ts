/**
 * The bytes of the peer protocol (proto/peerpb/peer.proto): gRPC's 5-byte message framing, the peer
 * messages encoded by hand, and the metadata that names sender, receiver and cluster.
 *
 * Hand-encoded because the hot path is tiny and allocation-sensitive: a RaftBatch is a run of
 * already-encoded raft messages, written straight into one framed buffer per flush.
 */
import { ProtoReader, RaftCodecError, varintSize } from '../raft/codec.js';

export const SERVICE = 'kvctlpeerpb.Peer';
export const RAFT_PATH = `/${SERVICE}/Raft`;
export const SNAPSHOT_PATH = `/${SERVICE}/Snapshot`;
export const CALL_PATH = `/${SERVICE}/Call`;

/** The metadata entries every call carries (etcd's rafthttp header names, lower-cased for HTTP/2). */
export const HEADER_CLUSTER_ID = 'x-etcd-cluster-id';
export const HEADER_FROM = 'x-server-from';
export const HEADER_TO = 'x-raft-to';

/** gRPC status codes used here (grpc/status.h). */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
} as const;

/** gRPC's message prefix: a compression flag byte and a 4-byte big-endian length. */
export const FRAME_HEADER_BYTES = 5;

const WIRE_LEN = 2;
const WIRE_VARINT = 0;

/** Ids travel as etcd prints them: lowercase hex without padding. */
export function formatIdHeader(id: bigint): string {
  return id.toString(16);
}

/** A hex id from a metadata value; undefined when absent or not a 64-bit hex number. */
export function parseIdHeader(v: string | undefined): bigint | undefined {
  if (v === undefined || !/^[0-9a-fA-F]{1,16}$/.test(v)) return undefined;
  return BigInt(`0x${v}`);
}

/** Bytes a length-delimited field of `len` bytes takes (field numbers below 16: a one-byte key). */
export function lenFieldSize(len: number): number {
  return 1 + varintSize(len) + len;
}

/** Bytes a varint field takes (field numbers below 16). */
function varintFieldSize(v: number): number {
  return 1 + varintSize(v);
}

/**
 * Writes one gRPC frame of known size into a buffer allocated once. Callers compute the payload size
 * first (with lenFieldSize); `finish` checks that they wrote exactly that much.
 */
export class FrameWriter {
  readonly buf: Buffer;
  pos = FRAME_HEADER_BYTES;

  constructor(readonly payloadBytes: number) {
    this.buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payloadBytes);
    this.buf[0] = 0; // not compressed
    this.buf.writeUInt32BE(payloadBytes, 1);
  }

  private varint(v: number): void {
    const buf = this.buf;
    let pos = this.pos;
    while (v >= 0x80) {
      buf[pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    buf[pos++] = v;
    this.pos = pos;
  }

  /** The key and length of a length-delimited field whose `len` bytes the caller writes next. */
  lenPrefix(field: number, len: number): void {
    this.buf[this.pos++] = (field << 3) | WIRE_LEN;
    this.varint(len);
  }

  bytes(field: number, v: Uint8Array): void {
    this.lenPrefix(field, v.length);
    this.buf.set(v, this.pos);
    this.pos += v.length;
  }

  uint(field: number, v: number): void {
    this.buf[this.pos++] = (field << 3) | WIRE_VARINT;
    this.varint(v);
  }

  finish(): Buffer {
    if (this.pos !== this.buf.length) throw new Error(`peer: frame size mismatch (${this.pos} != ${this.buf.length})`);
    return this.buf;
  }
}

/** A frame holding an empty message (the acks). */
export const EMPTY_FRAME: Buffer = new FrameWriter(0).finish();

/**
 * Splits a byte stream into gRPC messages. Refuses compressed messages (we never offer compression) and
 * messages above `maxMessageBytes`.
 */
export class FrameDecoder {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Frame header plus message bytes of the message being read, once its header has arrived. */
  private need: number | undefined;

  constructor(private readonly maxMessageBytes: number) {}

  /** Adds bytes; returns the messages completed by them, in order. */
  push(chunk: Buffer): Buffer[] {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const out: Buffer[] = [];
    for (;;) {
      if (this.need === undefined) {
        if (this.pendingBytes < FRAME_HEADER_BYTES) return out;
        const head = this.coalesce();
        if (head[0] !== 0) throw new Error('peer: compressed gRPC message refused');
        const len = head.readUInt32BE(1);
        if (len > this.maxMessageBytes) throw new Error(`peer: gRPC message of ${len} bytes exceeds ${this.maxMessageBytes}`);
        this.need = FRAME_HEADER_BYTES + len;
      }
      // Chunks pile up without copying until the whole message is there; then one concat.
      if (this.pendingBytes < this.need) return out;
      const all = this.coalesce();
      out.push(all.subarray(FRAME_HEADER_BYTES, this.need));
      const rest = all.subarray(this.need);
      this.pending = rest.length > 0 ? [rest] : [];
      this.pendingBytes = rest.length;
      this.need = undefined;
    }
  }

  private coalesce(): Buffer {
    if (this.pending.length !== 1) this.pending = [Buffer.concat(this.pending, this.pendingBytes)];
    return this.pending[0] as Buffer;
  }

  /** Bytes of an incomplete message left over (non-zero at the end of a stream means it was cut). */
  get leftover(): number {
    return this.pendingBytes;
  }
}

// ---- RaftBatch ---------------------------------------------------------------------------------------------

/** Calls `each` with every encoded raft message of a RaftBatch (views into `buf`, not copies). */
export function forEachInRaftBatch(buf: Uint8Array, each: (msg: Uint8Array) => void): void {
  const r = new ProtoReader(buf);
  while (!r.done()) {
    const [field, wt] = r.key();
    if (field === 1) {
      r.expect(wt, WIRE_LEN, field);
      each(r.bytes());
    } else {
      r.skip(wt);
    }
  }
}

// ---- Snapshot ----------------------------------------------------------------------------------------------

export const SNAPSHOT_FIELD_HEADER = 1;
export const SNAPSHOT_FIELD_DATA = 2;
export const SNAPSHOT_FIELD_SHA256 = 3;

export function snapshotHeaderFrame(message: Uint8Array, size: number): Buffer {
  const inner = lenFieldSize(message.length) + varintFieldSize(size);
  const w = new FrameWriter(lenFieldSize(inner));
  w.lenPrefix(SNAPSHOT_FIELD_HEADER, inner);
  w.bytes(1, message);
  w.uint(2, size);
  return w.finish();
}

export function snapshotSha256Frame(digest: Uint8Array): Buffer {
  const w = new FrameWriter(lenFieldSize(digest.length));
  w.bytes(SNAPSHOT_FIELD_SHA256, digest);
  return w.finish();
}

export type SnapshotChunk =
  | { kind: 'header'; message: Uint8Array; size: number }
  | { kind: 'data'; data: Uint8Array }
  | { kind: 'sha256'; digest: Uint8Array };

export function decodeSnapshotChunk(buf: Uint8Array): SnapshotChunk {
  const r = new ProtoReader(buf);
  let chunk: SnapshotChunk | undefined;
  while (!r.done()) {
    const [field, wt] = r.key();
    switch (field) {
      case SNAPSHOT_FIELD_HEADER: {
        r.expect(wt, WIRE_LEN, field);
        const h = r.sub();
        let message: Uint8Array | undefined;
        let size = 0;
        while (!h.done()) {
          const [f, w] = h.key();
          if (f === 1) {
            h.expect(w, WIRE_LEN, f);
            message = h.bytes();
          } else if (f === 2) {
            h.expect(w, WIRE_VARINT, f);
            size = h.varint();
          } else {
            h.skip(w);
          }
        }
        if (message === undefined) throw new RaftCodecError('peer: snapshot header without its raft message');
        chunk = { kind: 'header', message, size };
        break;
      }
      case SNAPSHOT_FIELD_DATA:
        r.expect(wt, WIRE_LEN, field);
        chunk = { kind: 'data', data: r.bytes() };
        break;
      case SNAPSHOT_FIELD_SHA256:
        r.expect(wt, WIRE_LEN, field);
        chunk = { kind: 'sha256', digest: r.bytes() };
        break;
      default:
        r.skip(wt);
    }
  }
  if (chunk === undefined) throw new RaftCodecError('peer: empty snapshot chunk');
  return chunk;
}

// ---- Call --------------------------------------------------------------------------------------------------

export function callRequestFrame(method: string, payload: Uint8Array): Buffer {
  const m = Buffer.from(method, 'utf8');
  const w = new FrameWriter(lenFieldSize(m.length) + lenFieldSize(payload.length));
  w.bytes(1, m);
  w.bytes(2, payload);
  return w.finish();
}

export function decodeCallRequest(buf: Uint8Array): { method: string; payload: Uint8Array } {
  const r = new ProtoReader(buf);
  let method = '';
  let payload: Uint8Array = new Uint8Array(0);
  while (!r.done()) {
    const [field, wt] = r.key();
    if (field === 1) {
      r.expect(wt, WIRE_LEN, field);
      method = Buffer.from(r.bytes()).toString('utf8');
    } else if (field === 2) {
      r.expect(wt, WIRE_LEN, field);
      payload = r.bytes();
    } else {
      r.skip(wt);
    }
  }
  return { method, payload };
}

/** A CallResponse without the gRPC frame prefix (grpc-js frames what a handler returns). */
export function encodeCallResponse(payload: Uint8Array): Buffer {
  const w = new FrameWriter(lenFieldSize(payload.length));
  w.bytes(1, payload);
  return w.finish().subarray(FRAME_HEADER_BYTES);
}

export function decodeCallResponse(buf: Uint8Array): Uint8Array {
  const r = new ProtoReader(buf);
  let payload: Uint8Array = new Uint8Array(0);
  while (!r.done()) {
    const [field, wt] = r.key();
    if (field === 1) {
      r.expect(wt, WIRE_LEN, field);
      payload = r.bytes();
    } else {
      r.skip(wt);
    }
  }
  return payload;
}
