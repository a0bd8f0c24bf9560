// The `:authority` fix of the client listener: the HPACK decoder (RFC 7541 Appendix C vectors, Huffman,
// dynamic table, size updates), the frame filter on hand-built frames (pass-through switch, rewrite,
// CONTINUATION, padding, priority, splitting, errors), and the filter in front of a real Node HTTP/2
// server on loopback with Node's own HTTP/2 client (whose encoder uses Huffman and the dynamic table).
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { type AddressInfo, type Socket, connect, createServer } from 'node:net';
import { describe, it } from 'node:test';

import {
  AuthorityRewriter,
  FrameError,
  MAX_FRAME_PAYLOAD,
  authorityFixedConnection,
  fixAuthority,
} from '../../src/server/api/authority.js';
import { HUFFMAN_CODES, type HeaderField, HpackDecoder, HpackError, encodeLiterals, huffmanDecode } from '../../src/server/api/hpack.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const pairs = (fields: readonly HeaderField[]): [string, string][] =>
  fields.map((f) => [f.name.toString('latin1'), f.value.toString('latin1')]);

// ---- building HPACK and frames by hand ----

function huffmanEncode(s: Buffer): Buffer {
  let acc = 0n;
  let bits = 0n;
  for (const byte of s) {
    const [code, len] = HUFFMAN_CODES[byte] as readonly [number, number];
    acc = (acc << BigInt(len)) | BigInt(code);
    bits += BigInt(len);
  }
  const pad = (8n - (bits % 8n)) % 8n;
  acc = (acc << pad) | ((1n << pad) - 1n);
  bits += pad;
  const out = Buffer.alloc(Number(bits / 8n));
  for (let i = out.length - 1; i >= 0; i--) {
    out[i] = Number(acc & 0xffn);
    acc >>= 8n;
  }
  return out;
}

function int(flags: number, prefixBits: number, value: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([flags | value]);
  const out = [flags | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) | 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Buffer.from(out);
}

function str(s: string, huffman: boolean): Buffer {
  const raw = Buffer.from(s, 'latin1');
  const body = huffman ? huffmanEncode(raw) : raw;
  return Buffer.concat([int(huffman ? 0x80 : 0, 7, body.length), body]);
}

const hp = {
  indexed: (i: number) => int(0x80, 7, i),
  /** Literal with incremental indexing; name as a static/dynamic index or a string. */
  incremental: (name: number | string, value: string, huffman = true) =>
    Buffer.concat([typeof name === 'number' ? int(0x40, 6, name) : Buffer.concat([Buffer.from([0x40]), str(name, huffman)]), str(value, huffman)]),
  withoutIndexing: (name: number | string, value: string, huffman = false) =>
    Buffer.concat([typeof name === 'number' ? int(0x00, 4, name) : Buffer.concat([Buffer.from([0x00]), str(name, huffman)]), str(value, huffman)]),
  neverIndexed: (name: string, value: string) => Buffer.concat([Buffer.from([0x10]), str(name, false), str(value, false)]),
  sizeUpdate: (size: number) => int(0x20, 5, size),
};

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const HEADERS = 0x1;
const CONTINUATION = 0x9;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}
const settings = (): Buffer => frame(0x4, 0, 0, hex('0003 00000064'));
const windowUpdate = (): Buffer => frame(0x8, 0, 0, hex('0000ffff'));
const data = (stream: number, bytes: string, flags = 0): Buffer => frame(0x0, flags, stream, Buffer.from(bytes));

interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}
/** Splits forwarded bytes (after the preface) into frames. */
function parseFrames(bytes: Buffer): Frame[] {
  const frames: Frame[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const length = bytes.readUIntBE(pos, 3);
    frames.push({ type: bytes[pos + 3] as number, flags: bytes[pos + 4] as number, stream: bytes.readUInt32BE(pos + 5), payload: bytes.subarray(pos + 9, pos + 9 + length) });
    pos += 9 + length;
  }
  assert.equal(pos, bytes.length, 'forwarded bytes end on a frame boundary');
  return frames;
}

/** What a server-side decoder (starting empty, like the real server's) makes of the forwarded frames. */
function serverView(forwarded: Buffer): { blocks: { stream: number; flags: number; fields: [string, string][] }[]; frames: Frame[]; tableSize: number } {
  assert.ok(forwarded.subarray(0, 24).equals(PREFACE), 'the preface goes first, unchanged');
  const frames = parseFrames(forwarded.subarray(24));
  const decoder = new HpackDecoder();
  const blocks: { stream: number; flags: number; fields: [string, string][] }[] = [];
  let open: { stream: number; flags: number; parts: Buffer[] } | undefined;
  for (const f of frames) {
    assert.ok(f.payload.length <= MAX_FRAME_PAYLOAD);
    if (f.type === HEADERS) {
      assert.equal(open, undefined);
      let start = 0;
      let end = f.payload.length;
      if (f.flags & PADDED) {
        end -= f.payload[0] as number;
        start = 1;
      }
      if (f.flags & PRIORITY) start += 5;
      open = { stream: f.stream, flags: f.flags, parts: [f.payload.subarray(start, end)] };
    } else if (f.type === CONTINUATION) {
      assert.ok(open && open.stream === f.stream);
      open.parts.push(f.payload);
    } else {
      assert.equal(open, undefined, 'no frame inside a header block');
      continue;
    }
    if (f.flags & END_HEADERS) {
      blocks.push({ stream: open.stream, flags: open.flags, fields: pairs(decoder.decode(Buffer.concat(open.parts))) });
      open = undefined;
    }
  }
  return { blocks, frames, tableSize: decoder.table().size };
}

/** Feeds `input` to a rewriter in chunks of the given sizes (cycled), joining what it forwards. */
function feed(rewriter: AuthorityRewriter, input: Buffer, sizes: readonly number[] = [input.length]): Buffer {
  const out: Buffer[] = [];
  let pos = 0;
  for (let i = 0; pos < input.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length] as number);
    out.push(rewriter.push(input.subarray(pos, pos + n)));
    pos += n;
  }
  return Buffer.concat(out);
}

/** A small seeded generator (mulberry32), so a failing chunking can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// A gRPC request the way grpc-go's encoder writes it: Huffman strings, new fields indexed, the second
// request on the connection made mostly of dynamic-table references.
const URL_AUTHORITY = 'http://127.0.0.1:2379';
function grpcGoBlocks(authority: string): [Buffer, Buffer] {
  const first = Buffer.concat([
    hp.indexed(3), // :method POST
    hp.indexed(6), // :scheme http
    hp.incremental(4, '/etcdserverpb.Maintenance/Status'), // :path, indexed -> dynamic 62 after the next three
    hp.incremental(1, authority), // :authority
    hp.incremental(31, 'application/grpc'), // content-type
    hp.incremental('user-agent', 'grpc-go/1.26.0'),
    hp.incremental('te', 'trailers'),
  ]);
  // Dynamic table now (newest first): 62 te, 63 user-agent, 64 content-type, 65 :authority, 66 :path.
  // The second block indexes its new :path first, which moves those up by one.
  const second = Buffer.concat([hp.indexed(3), hp.indexed(6), hp.incremental(4, '/etcdserverpb.Maintenance/HashKV'), hp.indexed(66), hp.indexed(65), hp.indexed(64), hp.indexed(63)]);
  return [first, second];
}

describe('HPACK Huffman code (RFC 7541 Appendix B)', () => {
  it('is canonical and complete, so a mistyped row cannot hide', () => {
    assert.equal(HUFFMAN_CODES.length, 257);
    // Complete: the Kraft sum is exactly 1 (in units of 2^-30, 30 bits being the longest code).
    assert.equal(HUFFMAN_CODES.reduce((sum, [, bits]) => sum + 2 ** (30 - bits), 0), 2 ** 30);
    // Canonical: sorted by (length, symbol), each code is the previous one plus one, shifted to its length.
    const order = HUFFMAN_CODES.map((c, symbol) => ({ code: c[0], bits: c[1], symbol })).sort((a, b) => a.bits - b.bits || a.symbol - b.symbol);
    let code = -1;
    let bits = order[0]?.bits ?? 0;
    for (const e of order) {
      code = (code + 1) * 2 ** (e.bits - bits);
      bits = e.bits;
      assert.equal(e.code, code, `symbol ${e.symbol}`);
    }
    // Spot checks against the appendix.
    assert.deepEqual(HUFFMAN_CODES[0], [0x1ff8, 13]);
    assert.deepEqual(HUFFMAN_CODES[48], [0x0, 5]);
    assert.deepEqual(HUFFMAN_CODES[92], [0x7fff0, 19]);
    assert.deepEqual(HUFFMAN_CODES[256], [0x3fffffff, 30]);
  });

  it('decodes the appendix C.4 strings and every byte value', () => {
    assert.equal(huffmanDecode(hex('f1e3 c2e5 f23a 6ba0 ab90 f4ff')).toString(), 'www.example.com');
    assert.equal(huffmanDecode(hex('a8eb 1064 9cbf')).toString(), 'no-cache');
    assert.equal(huffmanDecode(hex('25a8 49e9 5ba9 7d7f')).toString(), 'custom-key');
    assert.equal(huffmanDecode(hex('25a8 49e9 5bb8 e8b4 bf')).toString(), 'custom-value');
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    assert.ok(huffmanDecode(huffmanEncode(all)).equals(all));
    assert.equal(huffmanDecode(Buffer.alloc(0)).length, 0);
  });

  it('refuses EOS inside a string and bad padding', () => {
    assert.throws(() => huffmanDecode(hex('ffff ffff')), HpackError); // EOS (30 ones), then 2 bits of padding
    assert.throws(() => huffmanDecode(hex('1f ff')), /longer than 7 bits/); // '0' (00000), then 11 one-bits
    assert.throws(() => huffmanDecode(hex('00')), /not a prefix of EOS/); // '0', then 000 as padding
  });
});

describe('HpackDecoder', () => {
  it('decodes RFC 7541 C.2 representations', () => {
    const d = new HpackDecoder();
    assert.deepEqual(pairs(d.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'))), [['custom-key', 'custom-header']]);
    assert.deepEqual(d.table(), { entries: [{ name: 'custom-key', value: 'custom-header' }], size: 55, maxSize: 4096 });
    assert.deepEqual(pairs(new HpackDecoder().decode(hex('040c 2f73 616d 706c 652f 7061 7468'))), [[':path', '/sample/path']]);
    const never = new HpackDecoder().decode(hex('1008 7061 7373 776f 7264 0673 6563 7265 74'));
    assert.deepEqual(pairs(never), [['password', 'secret']]);
    assert.equal(never[0]?.neverIndexed, true);
    assert.deepEqual(pairs(new HpackDecoder().decode(hex('82'))), [[':method', 'GET']]);
  });

  for (const [name, blocks] of [
    ['C.3 (no Huffman)', ['8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', '8286 84be 5808 6e6f 2d63 6163 6865', '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65']],
    ['C.4 (Huffman)', ['8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', '8286 84be 5886 a8eb 1064 9cbf', '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf']],
  ] as const) {
    it(`decodes the request sequence of RFC 7541 ${name} on one context`, () => {
      const d = new HpackDecoder();
      const base: [string, string][] = [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']];
      assert.deepEqual(pairs(d.decode(hex(blocks[0]))), base);
      assert.equal(d.table().size, 57);
      assert.deepEqual(pairs(d.decode(hex(blocks[1]))), [...base, ['cache-control', 'no-cache']]);
      assert.equal(d.table().size, 110);
      assert.deepEqual(pairs(d.decode(hex(blocks[2]))), [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']]);
      assert.deepEqual(d.table().entries, [
        { name: 'custom-key', value: 'custom-value' },
        { name: 'cache-control', value: 'no-cache' },
        { name: ':authority', value: 'www.example.com' },
      ]);
      assert.equal(d.table().size, 164);
    });
  }

  it('evicts as RFC 7541 C.6 shows (Huffman, a 256-byte table)', () => {
    const d = new HpackDecoder(256);
    const date1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
    const loc = 'https://www.example.com';
    assert.deepEqual(pairs(d.decode(hex('4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3'))), [
      [':status', '302'], ['cache-control', 'private'], ['date', date1], ['location', loc],
    ]);
    assert.equal(d.table().size, 222);
    assert.deepEqual(pairs(d.decode(hex('4883 640e ffc1 c0bf'))), [[':status', '307'], ['cache-control', 'private'], ['date', date1], ['location', loc]]);
    assert.equal(d.table().size, 222);
    assert.deepEqual(d.table().entries[0], { name: ':status', value: '307' });
    const third = d.decode(hex(
      '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
    ));
    const cookie = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
    assert.deepEqual(pairs(third), [
      [':status', '200'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'], ['location', loc], ['content-encoding', 'gzip'], ['set-cookie', cookie],
    ]);
    assert.deepEqual(d.table().entries.map((e) => e.name), ['set-cookie', 'content-encoding', 'date']);
    assert.equal(d.table().size, 215);
  });

  it('applies dynamic table size updates at the start of a block, within the announced maximum', () => {
    const d = new HpackDecoder();
    d.decode(Buffer.concat([hp.incremental('a', 'b'), hp.incremental('c', 'd')]));
    assert.equal(d.table().entries.length, 2);
    d.decode(Buffer.concat([hp.sizeUpdate(0), hp.sizeUpdate(34), hp.indexed(2)]));
    assert.deepEqual(d.table(), { entries: [], size: 0, maxSize: 34 });
    d.decode(hp.incremental('a', 'b')); // 34 bytes: fits exactly
    d.decode(hp.incremental('c', 'd')); // evicts 'a'
    assert.deepEqual(d.table().entries, [{ name: 'c', value: 'd' }]);
    d.decode(hp.incremental('toolong', 'x')); // larger than the table: empties it, is not stored
    assert.deepEqual(d.table().entries, []);
    assert.throws(() => d.decode(hp.sizeUpdate(4097)), /above the allowed 4096/);
    assert.throws(() => d.decode(Buffer.concat([hp.indexed(2), hp.sizeUpdate(100)])), /size update after a header field/);
  });

  it('refuses bad indexes, truncated input and oversized lists', () => {
    assert.throws(() => new HpackDecoder().decode(hex('80')), /index 0/);
    assert.throws(() => new HpackDecoder().decode(hex('be')), /past the dynamic table/);
    assert.throws(() => new HpackDecoder().decode(hex('ff')), /ends inside an integer/);
    assert.throws(() => new HpackDecoder().decode(hex('ffffffffff0f')), /integer too large/);
    assert.throws(() => new HpackDecoder().decode(hex('4005 61')), /string longer than the header block/);
    assert.throws(() => new HpackDecoder().decode(hex('40')), /ends before a string/);
    // A few bytes that reference one big entry many times decode to far more than they are.
    const bomb = new HpackDecoder(4096, 64 * 1024);
    assert.throws(() => bomb.decode(Buffer.concat([hp.incremental('x', 'y'.repeat(4000), false), ...Array.from({ length: 20 }, () => hp.indexed(62))])), /larger than 65536/);
  });

  it('re-encodes as literals that decode back without touching the table', () => {
    const fields: HeaderField[] = [
      { name: Buffer.from(':authority'), value: Buffer.from('127.0.0.1:2379'), neverIndexed: false },
      { name: Buffer.from('authorization'), value: Buffer.from('secret'), neverIndexed: true },
      { name: Buffer.from('x-'.repeat(100)), value: Buffer.alloc(70_000, 'v'), neverIndexed: false },
      { name: Buffer.from('bin-bytes'), value: Buffer.from([0, 255, 128, 10]), neverIndexed: false },
    ];
    const d = new HpackDecoder();
    const back = d.decode(encodeLiterals(fields));
    assert.deepEqual(back, fields);
    assert.equal(d.table().size, 0);
    // Lengths around the 7-bit prefix and its continuation bytes (126, 127 = 0x7f 0x00, 128, 254, ...).
    for (const length of [0, 1, 126, 127, 128, 129, 254, 255, 256, 16_382, 16_383, 16_384, 16_510, 16_511, 16_512]) {
      const field: HeaderField = { name: Buffer.alloc(length, 'n'), value: Buffer.alloc(length, 'v'), neverIndexed: length % 2 === 0 };
      const encoded = encodeLiterals([field]);
      const prefix = length < 127 ? 1 : length < 127 + 128 ? 2 : length < 127 + 128 * 128 ? 3 : 4;
      assert.equal(encoded.length, 1 + 2 * (prefix + length), `length ${length}`);
      assert.deepEqual(new HpackDecoder().decode(encoded), [field], `length ${length}`);
    }
  });
});

describe('fixAuthority', () => {
  it('cuts a scheme and a path, and leaves host:port alone', () => {
    assert.equal(fixAuthority('http://127.0.0.1:2379'), '127.0.0.1:2379');
    assert.equal(fixAuthority('https://[::1]:2379/'), '[::1]:2379');
    assert.equal(fixAuthority('http://h:1/a/b?c#d'), 'h:1');
    assert.equal(fixAuthority('h:1/x'), 'h:1');
    assert.equal(fixAuthority('127.0.0.1:2379'), undefined);
    assert.equal(fixAuthority('localhost'), undefined);
    assert.equal(fixAuthority(''), undefined);
  });
});

describe('AuthorityRewriter', () => {
  const start = Buffer.concat([PREFACE, settings(), windowUpdate()]);

  it('passes a normal client through byte for byte and stops parsing after its first header block', () => {
    const [first, second] = grpcGoBlocks('127.0.0.1:2379');
    const input = Buffer.concat([start, frame(HEADERS, END_HEADERS, 1, first), data(1, 'req')]);
    const r = new AuthorityRewriter();
    assert.ok(feed(r, input).equals(input));
    assert.equal(r.mode, 'passthrough');
    // From now on chunks are returned as they are, even ones that are not HTTP/2 at all.
    const later = Buffer.concat([frame(HEADERS, END_HEADERS, 3, second), Buffer.from('garbage')]);
    assert.equal(r.push(later), later);
  });

  it('holds the first header block until END_HEADERS, then decides', () => {
    const [first] = grpcGoBlocks('127.0.0.1:2379');
    const headers = frame(HEADERS, 0, 1, first.subarray(0, 10));
    const cont = frame(CONTINUATION, END_HEADERS, 1, first.subarray(10));
    const r = new AuthorityRewriter();
    assert.ok(r.push(start).equals(start), 'frames before the block go on at once');
    assert.equal(r.push(headers).length, 0);
    assert.equal(r.mode, 'deciding');
    assert.ok(r.push(cont).equals(Buffer.concat([headers, cont])));
    assert.equal(r.mode, 'passthrough');
  });

  it('rewrites a URL authority in every header block, keeping the server table empty and other frames in order', () => {
    const [first, second] = grpcGoBlocks(URL_AUTHORITY);
    const input = Buffer.concat([
      start,
      frame(HEADERS, END_HEADERS, 1, first),
      data(1, 'request-1', END_STREAM),
      frame(0x6, 0, 0, Buffer.from('pingping')),
      frame(HEADERS, END_HEADERS | END_STREAM, 3, second),
    ]);
    const r = new AuthorityRewriter();
    const out = feed(r, input);
    assert.equal(r.mode, 'rewrite');
    const view = serverView(out);
    const common: [string, string][] = [[':method', 'POST'], [':scheme', 'http']];
    const tail: [string, string][] = [[':authority', '127.0.0.1:2379'], ['content-type', 'application/grpc'], ['user-agent', 'grpc-go/1.26.0'], ['te', 'trailers']];
    assert.deepEqual(view.blocks, [
      { stream: 1, flags: END_HEADERS, fields: [...common, [':path', '/etcdserverpb.Maintenance/Status'], ...tail] },
      { stream: 3, flags: END_HEADERS | END_STREAM, fields: [...common, [':path', '/etcdserverpb.Maintenance/HashKV'], ...tail] },
    ]);
    assert.equal(view.tableSize, 0);
    assert.deepEqual(view.frames.map((f) => f.type), [0x4, 0x8, HEADERS, 0x0, 0x6, HEADERS]);
    assert.ok(view.frames[3]?.payload.equals(Buffer.from('request-1')));
    assert.equal(view.frames[3]?.flags, END_STREAM);
  });

  it('gives the same bytes whatever the chunking', () => {
    const [first, second] = grpcGoBlocks(URL_AUTHORITY);
    const input = Buffer.concat([
      start,
      frame(HEADERS, PADDED | PRIORITY, 1, Buffer.concat([Buffer.from([3]), hex('80000000 0f'), first.subarray(0, 7), Buffer.alloc(3)])),
      frame(CONTINUATION, 0, 1, first.subarray(7, 20)),
      frame(CONTINUATION, END_HEADERS, 1, first.subarray(20)),
      data(1, 'x'.repeat(300)),
      frame(HEADERS, END_HEADERS, 3, second),
    ]);
    const whole = feed(new AuthorityRewriter(), input);
    assert.ok(feed(new AuthorityRewriter(), input, [1]).equals(whole), 'byte by byte');
    const seed = Number(process.env.AUTHORITY_SEED ?? Date.now() % 1_000_000);
    const random = rng(seed);
    for (let round = 0; round < 50; round++) {
      const sizes = Array.from({ length: 20 }, () => 1 + Math.floor(random() * 40));
      assert.ok(feed(new AuthorityRewriter(), input, sizes).equals(whole), `chunking differs (AUTHORITY_SEED=${seed}, round ${round})`);
    }
  });

  it('drops padding, keeps priority fields and END_STREAM, and joins CONTINUATIONs', () => {
    const [first] = grpcGoBlocks(URL_AUTHORITY);
    const priority = hex('80000003 20');
    const input = Buffer.concat([
      start,
      frame(HEADERS, PADDED | PRIORITY | END_STREAM, 5, Buffer.concat([Buffer.from([4]), priority, first.subarray(0, 5), Buffer.alloc(4)])),
      frame(CONTINUATION, 0, 5, first.subarray(5, 9)),
      frame(CONTINUATION, END_HEADERS, 5, first.subarray(9)),
    ]);
    const view = serverView(feed(new AuthorityRewriter(), input));
    const headers = view.frames.filter((f) => f.type === HEADERS || f.type === CONTINUATION);
    assert.equal(headers.length, 1);
    assert.equal(headers[0]?.flags, PRIORITY | END_STREAM | END_HEADERS);
    assert.ok(headers[0]?.payload.subarray(0, 5).equals(priority));
    assert.deepEqual(view.blocks[0]?.fields.find(([n]) => n === ':authority'), [':authority', '127.0.0.1:2379']);
  });

  it('splits a re-encoded block larger than SETTINGS_MAX_FRAME_SIZE into HEADERS + CONTINUATION', () => {
    const big = 'v'.repeat(10_000);
    // Huffman-coded, the original block takes about 26 kB; re-encoded as plain literals, over 30 kB.
    const block = Buffer.concat([hp.indexed(3), hp.incremental(1, URL_AUTHORITY), ...['x-a', 'x-b', 'x-c'].map((n) => hp.withoutIndexing(n, big, true))]);
    const input = Buffer.concat([
      start,
      frame(HEADERS, PRIORITY | END_STREAM, 7, Buffer.concat([hex('00000000 10'), block.subarray(0, 12_000)])),
      frame(CONTINUATION, 0, 7, block.subarray(12_000, 24_000)),
      frame(CONTINUATION, END_HEADERS, 7, block.subarray(24_000)),
    ]);
    const view = serverView(feed(new AuthorityRewriter(), input));
    const frames = view.frames.filter((f) => f.type === HEADERS || f.type === CONTINUATION);
    assert.equal(frames.length, 2);
    assert.deepEqual(frames.map((f) => f.type), [HEADERS, ...frames.slice(1).map(() => CONTINUATION)]);
    assert.equal(frames[0]?.flags, PRIORITY | END_STREAM);
    assert.equal(frames[0]?.payload.length, MAX_FRAME_PAYLOAD);
    assert.deepEqual(frames.map((f) => f.flags & END_HEADERS), [...frames.slice(1).map(() => 0), END_HEADERS]);
    assert.ok(frames.every((f) => f.stream === 7));
    assert.deepEqual(view.blocks[0]?.fields, [[':method', 'POST'], [':authority', '127.0.0.1:2379'], ['x-a', big], ['x-b', big], ['x-c', big]]);
  });

  it('in rewrite mode, throws on frames the server could not take', () => {
    const [first, second] = grpcGoBlocks(URL_AUTHORITY);
    const rewriting = () => {
      const r = new AuthorityRewriter();
      r.push(Buffer.concat([start, frame(HEADERS, END_HEADERS, 1, first)]));
      assert.equal(r.mode, 'rewrite');
      return r;
    };
    assert.throws(() => rewriting().push(frame(CONTINUATION, END_HEADERS, 3, second)), FrameError);
    assert.throws(() => rewriting().push(Buffer.concat([frame(HEADERS, 0, 3, second.subarray(0, 3)), data(3, 'x')])), /interrupted/);
    assert.throws(() => rewriting().push(Buffer.concat([frame(HEADERS, 0, 3, second.subarray(0, 3)), frame(CONTINUATION, END_HEADERS, 5, second.subarray(3))])), /CONTINUATION without/);
    assert.throws(() => rewriting().push(frame(HEADERS, END_HEADERS, 3, hp.indexed(67))), /hpack: index 67 is past/);
    assert.throws(() => rewriting().push(frame(HEADERS, END_HEADERS | PADDED, 3, hex('05 82'))), /padding/);
    assert.throws(() => rewriting().push(frame(HEADERS, END_HEADERS, 3, Buffer.alloc(MAX_FRAME_PAYLOAD + 1))), /above SETTINGS_MAX_FRAME_SIZE/);
  });

  it('before deciding, forwards malformed input unchanged and stops filtering', () => {
    for (const bad of [
      frame(HEADERS, END_HEADERS, 1, hex('80')), // HPACK index 0
      Buffer.concat([frame(HEADERS, 0, 1, hex('82')), data(1, 'x')]), // block interrupted
      frame(CONTINUATION, END_HEADERS, 1, hex('82')), // no block open
      frame(HEADERS, END_HEADERS | PADDED, 1, hex('09 82')), // padding past the payload
    ]) {
      const input = Buffer.concat([start, bad, data(1, 'after')]);
      const r = new AuthorityRewriter();
      assert.ok(feed(r, input, [7]).equals(input));
      assert.equal(r.mode, 'passthrough');
    }
  });
});

describe('authorityFixedConnection in front of a real HTTP/2 server', () => {
  /** A loopback HTTP/2 server that answers each request with the `:authority` it saw. */
  async function server(filtered: boolean) {
    const h2 = http2.createServer();
    h2.on('stream', (stream, headers) => {
      stream.respond({ ':status': 200 });
      stream.end(String(headers[':authority']));
    });
    const errors: Error[] = [];
    const sockets = new Set<Socket>();
    const tcp = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      h2.emit('connection', filtered ? authorityFixedConnection(socket, (e) => errors.push(e)) : socket);
    });
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    const port = (tcp.address() as AddressInfo).port;
    return {
      port,
      errors,
      sockets,
      close: async () => {
        for (const s of sockets) s.destroy();
        await new Promise<void>((resolve) => tcp.close(() => resolve()));
        h2.close();
      },
    };
  }

  function request(client: http2.ClientHttp2Session, authority: string, path: string): Promise<{ body: string; rstCode: number | undefined }> {
    return new Promise((resolve) => {
      const req = client.request({ ':authority': authority, ':path': path, 'x-padding': 'p'.repeat(50) });
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('error', () => {});
      req.on('close', () => resolve({ body, rstCode: req.rstCode }));
      req.end();
    });
  }

  it('lets Node reject a URL authority without the filter, and accept it cut to host:port with it', async (t) => {
    const plain = await server(false);
    const fixed = await server(true);
    const clients: http2.ClientHttp2Session[] = [];
    t.after(async () => {
      for (const c of clients) c.destroy();
      await plain.close();
      await fixed.close();
    });

    const c1 = http2.connect(`http://127.0.0.1:${plain.port}`);
    clients.push(c1);
    c1.on('error', () => {});
    const rejected = await request(c1, `http://127.0.0.1:${plain.port}`, '/a');
    assert.equal(rejected.rstCode, http2.constants.NGHTTP2_PROTOCOL_ERROR);

    const url = `http://127.0.0.1:${fixed.port}`;
    const c2 = http2.connect(url);
    clients.push(c2);
    // Several requests on one connection: Node's encoder indexes the fields and refers back to them.
    for (let i = 0; i < 5; i++) {
      const ok = await request(c2, url, `/r${i}`);
      assert.deepEqual(ok, { body: `127.0.0.1:${fixed.port}`, rstCode: http2.constants.NGHTTP2_NO_ERROR });
    }
    const concurrent = await Promise.all(Array.from({ length: 20 }, (_, i) => request(c2, `${url}/some/path`, `/c${i}`)));
    assert.ok(concurrent.every((r) => r.body === `127.0.0.1:${fixed.port}`));

    // A normal client on the filtered server: passed through.
    const c3 = http2.connect(url);
    clients.push(c3);
    assert.equal((await request(c3, `127.0.0.1:${fixed.port}`, '/n')).body, `127.0.0.1:${fixed.port}`);
    assert.deepEqual(fixed.errors, []);
  });

  it('closes only the connection that sends a malformed frame in rewrite mode', async (t) => {
    const fixed = await server(true);
    const clients: http2.ClientHttp2Session[] = [];
    t.after(async () => {
      for (const c of clients) c.destroy();
      await fixed.close();
    });
    const url = `http://127.0.0.1:${fixed.port}`;
    const good = http2.connect(url);
    clients.push(good);
    assert.equal((await request(good, url, '/before')).body, `127.0.0.1:${fixed.port}`);

    const raw = connect(fixed.port, '127.0.0.1');
    t.after(() => raw.destroy());
    const closed = new Promise<void>((resolve) => raw.on('close', () => resolve()));
    raw.on('error', () => {});
    raw.on('data', () => {});
    const block = Buffer.concat([hp.indexed(3), hp.indexed(6), hp.incremental(4, '/x'), hp.incremental(1, url)]);
    raw.write(Buffer.concat([PREFACE, settings(), frame(HEADERS, END_HEADERS, 1, block)]));
    await new Promise((r) => setTimeout(r, 100));
    raw.write(frame(CONTINUATION, END_HEADERS, 1, hex('82')));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('connection not closed in 5 s')), 5000)))]);
    clearTimeout(timer);
    assert.equal(fixed.errors.length, 1);
    assert.match(String(fixed.errors[0]?.message), /CONTINUATION without an open header block/);

    assert.equal((await request(good, url, '/after')).body, `127.0.0.1:${fixed.port}`, 'the other connection still works');
  });
});
