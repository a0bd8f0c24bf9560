/**
 * Accepts gRPC requests whose HTTP/2 `:authority` is a URL. etcdctl 3.4 (grpc-go) dials some commands'
 * endpoints as given, so `--endpoints=http://127.0.0.1:2379` sends `:authority: http://127.0.0.1:2379`.
 * Go's HTTP/2 server takes it; Node's (nghttp2's HTTP messaging checks, which Node gives no way to turn
 * off) resets every such stream with PROTOCOL_ERROR, before grpc-js sees it.
 *
 * So every HTTP/2 connection the client listener accepts passes through a filter on the client->server
 * direction. It reads the frames (RFC 9113 4.1) and decodes the connection's first header block:
 * - `:authority` fine (every client but those): the original bytes go on and the connection turns to
 *   pass-through for good; nothing more is parsed.
 * - `:authority` a URL: the connection stays in rewrite mode. Every header block from then on is decoded
 *   with the client's HPACK context and re-encoded as literals that touch no table (so the server's
 *   decoder, which never sees the client's context, stays in step: its table stays empty), with
 *   `:authority` cut to host:port. Every other frame goes on unchanged, in order.
 * The server->client direction is not touched.
 */
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';

import { HpackDecoder, HpackError, encodeLiterals, type HeaderField } from './hpack.js';

/** The client connection preface (RFC 9113 3.4); a SETTINGS frame follows it, parsed as any frame. */
const PREFACE_BYTES = 24;
const FRAME_HEADER_BYTES = 9;
const FRAME_HEADERS = 0x1;
const FRAME_CONTINUATION = 0x9;
const FLAG_END_STREAM = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
const PRIORITY_BYTES = 5;

/**
 * The largest frame payload the server accepts: SETTINGS_MAX_FRAME_SIZE's default (RFC 9113 6.5.2).
 * The client listener's HTTP/2 server never announces another (grpc-js sets only
 * SETTINGS_MAX_CONCURRENT_STREAMS; the e2e test checks the SETTINGS the node sends), so rewritten
 * blocks are cut to this, and a longer HEADERS/CONTINUATION is an error the server would raise too.
 */
export const MAX_FRAME_PAYLOAD = 16_384;

/** Bound on one compressed header block held while it arrives (HEADERS plus its CONTINUATIONs). */
const MAX_HEADER_BLOCK_BYTES = 256 * 1024;

const AUTHORITY = Buffer.from(':authority', 'latin1');
const SCHEME_PREFIX = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/**
 * host[:port] of an authority that carries a URL's scheme or path (`http://h:p`, `http://h:p/x`, `h:p/x`),
 * or undefined when there is nothing to cut (then the value goes on as sent).
 */
export function fixAuthority(value: string): string | undefined {
  let rest = value;
  const scheme = SCHEME_PREFIX.exec(rest);
  if (scheme) rest = rest.slice(scheme[0].length);
  const end = rest.search(/[/?#]/);
  if (end >= 0) rest = rest.slice(0, end);
  return rest === value ? undefined : rest;
}

/** Malformed HTTP/2 input on a connection in rewrite mode: the connection is closed. */
export class FrameError extends Error {
  constructor(message: string) {
    super(`http2 filter: ${message}`);
    this.name = 'FrameError';
  }
}

export type FilterMode = 'deciding' | 'rewrite' | 'passthrough';

/** A header block being collected: its HEADERS frame's facts, and its fragments as they arrive. */
interface OpenBlock {
  readonly streamId: number;
  /** END_STREAM of the HEADERS frame (CONTINUATION frames carry only END_HEADERS). */
  readonly endStream: boolean;
  /** The HEADERS frame's priority fields, kept as sent, or undefined. */
  readonly priority: Buffer | undefined;
  readonly fragments: Buffer[];
  fragmentBytes: number;
}

/**
 * The byte-level filter of one connection's client->server direction. `push` takes the bytes as they
 * arrive, in chunks of any size, and returns what to hand to the HTTP/2 server.
 */
export class AuthorityRewriter {
  private state: FilterMode = 'deciding';
  private prefaceLeft = PREFACE_BYTES;
  /** The frame header being read (it may arrive split across chunks). */
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerFill = 0;
  /** Payload bytes still to come of the current frame; -1 between frames. */
  private payloadLeft = -1;
  private frameType = 0;
  private frameFlags = 0;
  private frameStream = 0;
  /** The current HEADERS/CONTINUATION payload, collected whole (other frames stream through). */
  private payload: Buffer[] = [];
  private block: OpenBlock | undefined;
  /**
   * Deciding mode: the bytes of the first header block's frames exactly as received, held until the
   * block is decided (then forwarded unchanged if nothing needs fixing, or if the input is malformed).
   */
  private held: Buffer[] = [];
  private readonly decoder = new HpackDecoder();
  private out: Buffer[] = [];

  get mode(): FilterMode {
    return this.state;
  }

  /**
   * The bytes to forward for `chunk` (an empty buffer when they are held, e.g. an incomplete header
   * block). Throws FrameError (in rewrite mode) when the input is not HTTP/2 the server could take.
   */
  push(chunk: Buffer): Buffer {
    if (this.state === 'passthrough') return chunk;
    this.out = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.prefaceLeft > 0) {
        // The preface goes on as it is: the listener matched its start, the server checks the rest.
        const n = Math.min(this.prefaceLeft, chunk.length - pos);
        this.out.push(chunk.subarray(pos, pos + n));
        this.prefaceLeft -= n;
        pos += n;
        continue;
      }
      if (this.payloadLeft < 0) {
        const n = Math.min(FRAME_HEADER_BYTES - this.headerFill, chunk.length - pos);
        chunk.copy(this.header, this.headerFill, pos, pos + n);
        this.headerFill += n;
        pos += n;
        if (this.headerFill < FRAME_HEADER_BYTES) break;
        this.headerFill = 0;
        if (!this.startFrame() || (this.payloadLeft === 0 && !this.endFrame())) return this.giveUp(chunk.subarray(pos));
      } else {
        const n = Math.min(this.payloadLeft, chunk.length - pos);
        const bytes = chunk.subarray(pos, pos + n);
        pos += n;
        this.payloadLeft -= n;
        if (this.isHeaderFrame()) {
          this.payload.push(bytes);
          if (this.state === 'deciding') this.held.push(bytes);
        } else {
          this.out.push(bytes);
        }
        if (this.payloadLeft === 0 && !this.endFrame()) return this.giveUp(chunk.subarray(pos));
      }
      if (this.mode === 'passthrough') {
        this.out.push(chunk.subarray(pos));
        break;
      }
    }
    return this.flush();
  }

  private isHeaderFrame(): boolean {
    return this.frameType === FRAME_HEADERS || this.frameType === FRAME_CONTINUATION;
  }

  /** Reads the frame header just completed. False when the frame cannot be taken. */
  private startFrame(): boolean {
    const h = Buffer.from(this.header);
    const length = h.readUIntBE(0, 3);
    this.frameType = h[3] as number;
    this.frameFlags = h[4] as number;
    this.frameStream = h.readUInt32BE(5) & 0x7fffffff;
    this.payloadLeft = length;
    if (!this.isHeaderFrame() && this.block === undefined) {
      this.out.push(h);
      return true;
    }
    if (this.state === 'deciding') this.held.push(h);
    if (!this.isHeaderFrame()) return this.fail('a header block was interrupted by another frame (RFC 9113 6.10)');
    if (this.frameType === FRAME_HEADERS && this.block !== undefined) {
      return this.fail('HEADERS inside an open header block (RFC 9113 6.10)');
    }
    if (this.frameType === FRAME_CONTINUATION && (this.block === undefined || this.block.streamId !== this.frameStream)) {
      return this.fail('CONTINUATION without an open header block on its stream');
    }
    if (length > MAX_FRAME_PAYLOAD) return this.fail(`a ${length}-byte header frame is above SETTINGS_MAX_FRAME_SIZE`);
    this.payload = [];
    return true;
  }

  /** The current frame is complete. False when it cannot be taken. */
  private endFrame(): boolean {
    this.payloadLeft = -1;
    if (!this.isHeaderFrame()) return true;
    const payload = this.payload.length === 1 ? (this.payload[0] as Buffer) : Buffer.concat(this.payload);
    this.payload = [];
    let block: OpenBlock;
    if (this.frameType === FRAME_HEADERS) {
      let start = 0;
      let end = payload.length;
      if (this.frameFlags & FLAG_PADDED) {
        if (payload.length < 1) return this.fail('PADDED HEADERS without a pad length');
        end -= payload[0] as number;
        start = 1;
      }
      let priority: Buffer | undefined;
      if (this.frameFlags & FLAG_PRIORITY) {
        priority = payload.subarray(start, start + PRIORITY_BYTES);
        start += PRIORITY_BYTES;
      }
      if (end < start) return this.fail('HEADERS padding longer than its payload');
      block = {
        streamId: this.frameStream,
        endStream: (this.frameFlags & FLAG_END_STREAM) !== 0,
        priority,
        fragments: [payload.subarray(start, end)],
        fragmentBytes: end - start,
      };
      this.block = block;
    } else {
      block = this.block as OpenBlock;
      block.fragments.push(payload);
      block.fragmentBytes += payload.length;
    }
    if (block.fragmentBytes > MAX_HEADER_BLOCK_BYTES) {
      return this.fail(`a header block above ${MAX_HEADER_BLOCK_BYTES} bytes`);
    }
    if (this.frameFlags & FLAG_END_HEADERS) return this.endBlock();
    return true;
  }

  /** A header block is complete: decide (first block), or re-encode it (rewrite mode). */
  private endBlock(): boolean {
    const block = this.block as OpenBlock;
    this.block = undefined;
    let fields: HeaderField[];
    try {
      fields = this.decoder.decode(block.fragments.length === 1 ? (block.fragments[0] as Buffer) : Buffer.concat(block.fragments));
    } catch (err) {
      if (err instanceof HpackError) return this.fail(err.message);
      throw err;
    }
    let fixed = false;
    const rewritten = fields.map((field) => {
      if (!field.name.equals(AUTHORITY)) return field;
      const host = fixAuthority(field.value.toString('latin1'));
      if (host === undefined) return field;
      fixed = true;
      return { ...field, value: Buffer.from(host, 'latin1') };
    });
    if (this.state === 'deciding' && !fixed) {
      // A client that needs no fix: its bytes go on as sent and nothing of it is parsed again.
      this.out.push(...this.held);
      this.held = [];
      this.state = 'passthrough';
      return true;
    }
    this.held = [];
    this.state = 'rewrite';
    this.out.push(...headerFrames(block, encodeLiterals(rewritten)));
    return true;
  }

  /**
   * Malformed input. Before the first header block is decided, the connection simply turns to
   * pass-through (held bytes included): the server then sees exactly what the client sent and answers
   * as HTTP/2 says. In rewrite mode the server's view already differs from the client's, so it throws.
   */
  private fail(reason: string): false {
    if (this.state === 'rewrite') throw new FrameError(reason);
    return false;
  }

  /** Deciding mode gave up: what it held and `rest` go on unchanged, as will all later bytes. */
  private giveUp(rest: Buffer): Buffer {
    this.out.push(...this.held, rest);
    this.held = [];
    this.payload = [];
    this.block = undefined;
    this.state = 'passthrough';
    return this.flush();
  }

  private flush(): Buffer {
    const out = this.out.filter((b) => b.length > 0);
    this.out = [];
    return out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out);
  }
}

/** A re-encoded block as HEADERS + CONTINUATION frames of at most MAX_FRAME_PAYLOAD bytes each. */
function headerFrames(block: OpenBlock, encoded: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  const priority = block.priority ?? Buffer.alloc(0);
  let pos = 0;
  let first = true;
  do {
    const room = MAX_FRAME_PAYLOAD - (first ? priority.length : 0);
    const piece = encoded.subarray(pos, pos + room);
    pos += piece.length;
    const last = pos >= encoded.length;
    let flags = last ? FLAG_END_HEADERS : 0;
    if (first) flags |= (block.endStream ? FLAG_END_STREAM : 0) | (block.priority ? FLAG_PRIORITY : 0);
    const payload = first ? [priority, piece] : [piece];
    const length = payload.reduce((sum, b) => sum + b.length, 0);
    const header = Buffer.alloc(FRAME_HEADER_BYTES);
    header.writeUIntBE(length, 0, 3);
    header[3] = first ? FRAME_HEADERS : FRAME_CONTINUATION;
    header[4] = flags;
    header.writeUInt32BE(block.streamId, 5);
    frames.push(header, ...payload);
    first = false;
  } while (pos < encoded.length);
  return frames;
}

/**
 * `socket` (an accepted HTTP/2 connection, its first bytes possibly unshifted back into it) seen through
 * an AuthorityRewriter, as the Duplex to hand to the HTTP/2 server. Server->client bytes are written to
 * the socket as they are. A filter error closes this connection only, after `onError` is told why.
 */
export function authorityFixedConnection(socket: Socket, onError: (err: Error) => void): Duplex {
  return new AuthorityFixedConnection(socket, new AuthorityRewriter(), onError);
}

class AuthorityFixedConnection extends Duplex {
  private readingPaused = false;

  constructor(
    private readonly socket: Socket,
    private readonly rewriter: AuthorityRewriter,
    private readonly onError: (err: Error) => void,
  ) {
    super({ allowHalfOpen: true });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.push(null));
    socket.on('close', () => this.destroy());
    socket.on('error', () => this.destroy());
  }

  private onData(chunk: Buffer): void {
    let out: Buffer;
    try {
      out = this.rewriter.push(chunk);
    } catch (err) {
      this.onError(err instanceof Error ? err : new Error(String(err)));
      // Without an error: the HTTP/2 session just sees its connection go (no error event to route).
      this.destroy();
      return;
    }
    if (out.length > 0 && !this.push(out)) {
      this.readingPaused = true;
      this.socket.pause();
    }
  }

  override _read(): void {
    if (this.readingPaused || this.socket.isPaused()) {
      this.readingPaused = false;
      this.socket.resume();
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.socket.write(chunk)) callback();
    else this.socket.once('drain', () => callback());
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (err?: Error | null) => void): void {
    this.socket.cork();
    let ok = true;
    for (const { chunk } of chunks) ok = this.socket.write(chunk);
    this.socket.uncork();
    if (ok) callback();
    else this.socket.once('drain', () => callback());
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.socket.end();
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.socket.destroy();
    callback(err);
  }
}
