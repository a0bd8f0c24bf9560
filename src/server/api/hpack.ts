/**
 * An HPACK decoder (RFC 7541) for header blocks a client sends, and the plain encoding the authority
 * fix re-emits them in. Only what src/server/api/authority.ts needs: decode with the client's dynamic
 * table (size updates, eviction, Huffman strings), and encode as literals that touch no table.
 *
 * Names and values stay bytes (Buffers) throughout: a header block is re-encoded byte for byte, whatever
 * characters it holds; judging them is the HTTP/2 server's job.
 */

/** One decoded header field. `neverIndexed` keeps RFC 7541 6.2.3's mark (a sensitive field) on re-encoding. */
export interface HeaderField {
  readonly name: Buffer;
  readonly value: Buffer;
  readonly neverIndexed: boolean;
}

/** A header block that does not decode: in HTTP/2 a connection error of type COMPRESSION_ERROR. */
export class HpackError extends Error {
  constructor(message: string) {
    super(`hpack: ${message}`);
    this.name = 'HpackError';
  }
}

/** SETTINGS_HEADER_TABLE_SIZE's default (RFC 9113 6.5.2), the table a client may use until told otherwise. */
export const DEFAULT_HEADER_TABLE_SIZE = 4096;

/** RFC 7541 4.1: an entry's size is its name and value lengths in octets plus 32. */
const ENTRY_OVERHEAD = 32;

/** Integers above this are refused: no length or index in a sane header block comes near it. */
const MAX_INTEGER = 2 ** 31 - 1;

/** RFC 7541 Appendix A, index 1..61 (index 0 unused). */
const STATIC_TABLE: readonly (readonly [string, string])[] = [
  ['', ''],
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];
const STATIC_ENTRIES: readonly { name: Buffer; value: Buffer }[] = STATIC_TABLE.map(([name, value]) => ({
  name: Buffer.from(name, 'latin1'),
  value: Buffer.from(value, 'latin1'),
}));
const STATIC_COUNT = STATIC_TABLE.length - 1;

/**
 * RFC 7541 Appendix B: [code, length in bits] for symbols 0..255 and EOS (256), codes aligned to the
 * least significant bit, row by row as in the appendix. The code is canonical (codes of one length are
 * consecutive in symbol order) and complete; the unit test checks both, which catches a mistyped row.
 */
export const HUFFMAN_CODES: readonly (readonly [code: number, bits: number])[] = [
  [0x1ff8, 13], [0x7fffd8, 23], [0xfffffe2, 28], [0xfffffe3, 28], [0xfffffe4, 28], [0xfffffe5, 28], [0xfffffe6, 28], [0xfffffe7, 28], // 0-7
  [0xfffffe8, 28], [0xffffea, 24], [0x3ffffffc, 30], [0xfffffe9, 28], [0xfffffea, 28], [0x3ffffffd, 30], [0xfffffeb, 28], [0xfffffec, 28], // 8-15
  [0xfffffed, 28], [0xfffffee, 28], [0xfffffef, 28], [0xffffff0, 28], [0xffffff1, 28], [0xffffff2, 28], [0x3ffffffe, 30], [0xffffff3, 28], // 16-23
  [0xffffff4, 28], [0xffffff5, 28], [0xffffff6, 28], [0xffffff7, 28], [0xffffff8, 28], [0xffffff9, 28], [0xffffffa, 28], [0xffffffb, 28], // 24-31
  [0x14, 6], [0x3f8, 10], [0x3f9, 10], [0xffa, 12], [0x1ff9, 13], [0x15, 6], [0xf8, 8], [0x7fa, 11], // 32-39
  [0x3fa, 10], [0x3fb, 10], [0xf9, 8], [0x7fb, 11], [0xfa, 8], [0x16, 6], [0x17, 6], [0x18, 6], // 40-47
  [0x0, 5], [0x1, 5], [0x2, 5], [0x19, 6], [0x1a, 6], [0x1b, 6], [0x1c, 6], [0x1d, 6], // 48-55
  [0x1e, 6], [0x1f, 6], [0x5c, 7], [0xfb, 8], [0x7ffc, 15], [0x20, 6], [0xffb, 12], [0x3fc, 10], // 56-63
  [0x1ffa, 13], [0x21, 6], [0x5d, 7], [0x5e, 7], [0x5f, 7], [0x60, 7], [0x61, 7], [0x62, 7], // 64-71
  [0x63, 7], [0x64, 7], [0x65, 7], [0x66, 7], [0x67, 7], [0x68, 7], [0x69, 7], [0x6a, 7], // 72-79
  [0x6b, 7], [0x6c, 7], [0x6d, 7], [0x6e, 7], [0x6f, 7], [0x70, 7], [0x71, 7], [0x72, 7], // 80-87
  [0xfc, 8], [0x73, 7], [0xfd, 8], [0x1ffb, 13], [0x7fff0, 19], [0x1ffc, 13], [0x3ffc, 14], [0x22, 6], // 88-95
  [0x7ffd, 15], [0x3, 5], [0x23, 6], [0x4, 5], [0x24, 6], [0x5, 5], [0x25, 6], [0x26, 6], // 96-103
  [0x27, 6], [0x6, 5], [0x74, 7], [0x75, 7], [0x28, 6], [0x29, 6], [0x2a, 6], [0x7, 5], // 104-111
  [0x2b, 6], [0x76, 7], [0x2c, 6], [0x8, 5], [0x9, 5], [0x2d, 6], [0x77, 7], [0x78, 7], // 112-119
  [0x79, 7], [0x7a, 7], [0x7b, 7], [0x7ffe, 15], [0x7fc, 11], [0x3ffd, 14], [0x1ffd, 13], [0xffffffc, 28], // 120-127
  [0xfffe6, 20], [0x3fffd2, 22], [0xfffe7, 20], [0xfffe8, 20], [0x3fffd3, 22], [0x3fffd4, 22], [0x3fffd5, 22], [0x7fffd9, 23], // 128-135
  [0x3fffd6, 22], [0x7fffda, 23], [0x7fffdb, 23], [0x7fffdc, 23], [0x7fffdd, 23], [0x7fffde, 23], [0xffffeb, 24], [0x7fffdf, 23], // 136-143
  [0xffffec, 24], [0xffffed, 24], [0x3fffd7, 22], [0x7fffe0, 23], [0xffffee, 24], [0x7fffe1, 23], [0x7fffe2, 23], [0x7fffe3, 23], // 144-151
  [0x7fffe4, 23], [0x1fffdc, 21], [0x3fffd8, 22], [0x7fffe5, 23], [0x3fffd9, 22], [0x7fffe6, 23], [0x7fffe7, 23], [0xffffef, 24], // 152-159
  [0x3fffda, 22], [0x1fffdd, 21], [0xfffe9, 20], [0x3fffdb, 22], [0x3fffdc, 22], [0x7fffe8, 23], [0x7fffe9, 23], [0x1fffde, 21], // 160-167
  [0x7fffea, 23], [0x3fffdd, 22], [0x3fffde, 22], [0xfffff0, 24], [0x1fffdf, 21], [0x3fffdf, 22], [0x7fffeb, 23], [0x7fffec, 23], // 168-175
  [0x1fffe0, 21], [0x1fffe1, 21], [0x3fffe0, 22], [0x1fffe2, 21], [0x7fffed, 23], [0x3fffe1, 22], [0x7fffee, 23], [0x7fffef, 23], // 176-183
  [0xfffea, 20], [0x3fffe2, 22], [0x3fffe3, 22], [0x3fffe4, 22], [0x7ffff0, 23], [0x3fffe5, 22], [0x3fffe6, 22], [0x7ffff1, 23], // 184-191
  [0x3ffffe0, 26], [0x3ffffe1, 26], [0xfffeb, 20], [0x7fff1, 19], [0x3fffe7, 22], [0x7ffff2, 23], [0x3fffe8, 22], [0x1ffffec, 25], // 192-199
  [0x3ffffe2, 26], [0x3ffffe3, 26], [0x3ffffe4, 26], [0x7ffffde, 27], [0x7ffffdf, 27], [0x3ffffe5, 26], [0xfffff1, 24], [0x1ffffed, 25], // 200-207
  [0x7fff2, 19], [0x1fffe3, 21], [0x3ffffe6, 26], [0x7ffffe0, 27], [0x7ffffe1, 27], [0x3ffffe7, 26], [0x7ffffe2, 27], [0xfffff2, 24], // 208-215
  [0x1fffe4, 21], [0x1fffe5, 21], [0x3ffffe8, 26], [0x3ffffe9, 26], [0xffffffd, 28], [0x7ffffe3, 27], [0x7ffffe4, 27], [0x7ffffe5, 27], // 216-223
  [0xfffec, 20], [0xfffff3, 24], [0xfffed, 20], [0x1fffe6, 21], [0x3fffe9, 22], [0x1fffe7, 21], [0x1fffe8, 21], [0x7ffff3, 23], // 224-231
  [0x3fffea, 22], [0x3fffeb, 22], [0x1ffffee, 25], [0x1ffffef, 25], [0xfffff4, 24], [0xfffff5, 24], [0x3ffffea, 26], [0x7ffff4, 23], // 232-239
  [0x3ffffeb, 26], [0x7ffffe6, 27], [0x3ffffec, 26], [0x3ffffed, 26], [0x7ffffe7, 27], [0x7ffffe8, 27], [0x7ffffe9, 27], [0x7ffffea, 27], // 240-247
  [0x7ffffeb, 27], [0xffffffe, 28], [0x7ffffec, 27], [0x7ffffed, 27], [0x7ffffee, 27], [0x7ffffef, 27], [0x7fffff0, 27], [0x3ffffee, 26], // 248-255
  [0x3fffffff, 30], // 256
];
const EOS = 256;

/**
 * The Huffman code as a binary tree in a flat array: node n's children are at [2n] (bit 0) and
 * [2n + 1] (bit 1); a child >= 0 is an inner node, a child < 0 is the leaf of symbol -child - 1.
 */
const HUFFMAN_TREE: Int32Array = (() => {
  const tree = new Int32Array(2 * 512);
  let nodes = 1;
  HUFFMAN_CODES.forEach(([code, bits], symbol) => {
    let node = 0;
    for (let i = bits - 1; i > 0; i--) {
      const slot = 2 * node + ((code >>> i) & 1);
      if (tree[slot] === 0) tree[slot] = nodes++;
      node = tree[slot] as number;
    }
    tree[2 * node + (code & 1)] = -symbol - 1;
  });
  return tree;
})();

/**
 * Decodes a Huffman-coded string (RFC 7541 5.2): the EOS symbol inside it, padding longer than 7 bits,
 * or padding that is not the most significant bits of EOS (all ones) are decoding errors.
 */
export function huffmanDecode(input: Buffer): Buffer {
  // The shortest code is 5 bits, so n input bytes carry at most 8n/5 symbols.
  const out = Buffer.allocUnsafe(Math.floor((input.length * 8) / 5));
  let written = 0;
  let node = 0;
  let pendingBits = 0;
  let pendingAllOnes = true;
  for (let i = 0; i < input.length; i++) {
    const byte = input[i] as number;
    for (let shift = 7; shift >= 0; shift--) {
      const bit = (byte >>> shift) & 1;
      const next = HUFFMAN_TREE[2 * node + bit] as number;
      if (next < 0) {
        const symbol = -next - 1;
        if (symbol === EOS) throw new HpackError('EOS symbol in a Huffman-coded string');
        out[written++] = symbol;
        node = 0;
        pendingBits = 0;
        pendingAllOnes = true;
      } else {
        node = next;
        pendingBits++;
        pendingAllOnes &&= bit === 1;
      }
    }
  }
  if (pendingBits > 7) throw new HpackError('Huffman padding longer than 7 bits');
  if (!pendingAllOnes) throw new HpackError('Huffman padding is not a prefix of EOS');
  return Buffer.from(out.subarray(0, written));
}

interface TableEntry {
  readonly name: Buffer;
  readonly value: Buffer;
}

/**
 * The decoding side of one connection's header compression context: the dynamic table the client's
 * encoder fills, in the same state as the client's as long as every header block of the connection is
 * decoded, in order.
 */
export class HpackDecoder {
  /** Newest first, as HPACK indexes them (dynamic index 1 = entries[0]). */
  private readonly entries: TableEntry[] = [];
  private size = 0;
  private maxSize: number;

  /**
   * @param protocolMaxSize the SETTINGS_HEADER_TABLE_SIZE this side announced: the most a size update may ask for.
   * @param maxHeaderListSize bound on the decoded list (RFC 7541 4.1 sizes): a few bytes referencing large
   *   table entries can decode to far more than they are; past this bound the block is refused.
   */
  constructor(
    private readonly protocolMaxSize = DEFAULT_HEADER_TABLE_SIZE,
    private readonly maxHeaderListSize = 1 << 20,
  ) {
    this.maxSize = protocolMaxSize;
  }

  /** The dynamic table (newest first) and its size: for tests. */
  table(): { entries: { name: string; value: string }[]; size: number; maxSize: number } {
    return {
      entries: this.entries.map((e) => ({ name: e.name.toString('latin1'), value: e.value.toString('latin1') })),
      size: this.size,
      maxSize: this.maxSize,
    };
  }

  /** Decodes one complete header block (all of its HEADERS/CONTINUATION fragments, joined). */
  decode(block: Buffer): HeaderField[] {
    const fields: HeaderField[] = [];
    let listSize = 0;
    let pos = 0;
    const integer = (prefixBits: number): number => {
      if (pos >= block.length) throw new HpackError('header block ends inside an integer');
      const mask = (1 << prefixBits) - 1;
      let value = (block[pos++] as number) & mask;
      if (value < mask) return value;
      for (let shift = 0; ; shift += 7) {
        if (pos >= block.length) throw new HpackError('header block ends inside an integer');
        const byte = block[pos++] as number;
        value += (byte & 0x7f) * 2 ** shift;
        if (value > MAX_INTEGER) throw new HpackError('integer too large');
        if ((byte & 0x80) === 0) return value;
      }
    };
    const string = (): Buffer => {
      if (pos >= block.length) throw new HpackError('header block ends before a string');
      const huffman = ((block[pos] as number) & 0x80) !== 0;
      const length = integer(7);
      if (length > block.length - pos) throw new HpackError('string longer than the header block');
      const raw = block.subarray(pos, pos + length);
      pos += length;
      return huffman ? huffmanDecode(raw) : Buffer.from(raw);
    };
    const emit = (name: Buffer, value: Buffer, neverIndexed: boolean) => {
      listSize += name.length + value.length + ENTRY_OVERHEAD;
      if (listSize > this.maxHeaderListSize) {
        throw new HpackError(`decoded header list larger than ${this.maxHeaderListSize} bytes`);
      }
      fields.push({ name, value, neverIndexed });
    };

    while (pos < block.length) {
      const first = block[pos] as number;
      if ((first & 0x80) !== 0) {
        // 6.1 Indexed Header Field.
        const entry = this.entry(integer(7));
        emit(entry.name, entry.value, false);
      } else if ((first & 0xc0) === 0x40) {
        // 6.2.1 Literal Header Field with Incremental Indexing.
        const index = integer(6);
        const name = index === 0 ? string() : this.entry(index).name;
        const value = string();
        emit(name, value, false);
        this.insert(name, value);
      } else if ((first & 0xe0) === 0x20) {
        // 6.3 Dynamic Table Size Update: only before the first field of a block (4.2).
        if (fields.length > 0) throw new HpackError('dynamic table size update after a header field');
        const size = integer(5);
        if (size > this.protocolMaxSize) {
          throw new HpackError(`dynamic table size update to ${size}, above the allowed ${this.protocolMaxSize}`);
        }
        this.maxSize = size;
        this.evictTo(size);
      } else {
        // 6.2.2 Literal Header Field without Indexing (0000), 6.2.3 Never Indexed (0001).
        const neverIndexed = (first & 0x10) !== 0;
        const index = integer(4);
        const name = index === 0 ? string() : this.entry(index).name;
        const value = string();
        emit(name, value, neverIndexed);
      }
    }
    return fields;
  }

  private entry(index: number): TableEntry {
    if (index === 0) throw new HpackError('index 0');
    if (index <= STATIC_COUNT) return STATIC_ENTRIES[index] as TableEntry;
    const entry = this.entries[index - STATIC_COUNT - 1];
    if (entry === undefined) throw new HpackError(`index ${index} is past the dynamic table`);
    return entry;
  }

  /** RFC 7541 4.4: evict from the oldest end until the entry fits; an entry larger than the table empties it. */
  private insert(name: Buffer, value: Buffer): void {
    const entrySize = name.length + value.length + ENTRY_OVERHEAD;
    this.evictTo(this.maxSize - entrySize);
    if (entrySize <= this.maxSize) {
      this.entries.unshift({ name, value });
      this.size += entrySize;
    }
  }

  private evictTo(limit: number): void {
    while (this.size > Math.max(limit, 0) && this.entries.length > 0) {
      const old = this.entries.pop() as TableEntry;
      this.size -= old.name.length + old.value.length + ENTRY_OVERHEAD;
    }
  }
}

/** Octets of `value` as an integer with a 7-bit prefix (RFC 7541 5.1). */
function integerLength7(value: number): number {
  if (value < 0x7f) return 1;
  let n = 2;
  for (let rest = value - 0x7f; rest >= 0x80; rest = Math.floor(rest / 0x80)) n++;
  return n;
}

/** Writes `value` with a 7-bit prefix (H = 0: a raw string length) at `pos`; returns the next position. */
function writeInteger7(out: Buffer, pos: number, value: number): number {
  if (value < 0x7f) {
    out[pos++] = value;
    return pos;
  }
  out[pos++] = 0x7f;
  let rest = value - 0x7f;
  while (rest >= 0x80) {
    out[pos++] = (rest % 0x80) | 0x80;
    rest = Math.floor(rest / 0x80);
  }
  out[pos++] = rest;
  return pos;
}

/**
 * Encodes fields as literals without indexing (never indexed where marked) with new names (index 0),
 * names and values as raw octets: the block neither reads nor changes the receiver's dynamic table, so
 * that table stays empty.
 */
export function encodeLiterals(fields: readonly HeaderField[]): Buffer {
  let size = 0;
  for (const f of fields) size += 1 + integerLength7(f.name.length) + f.name.length + integerLength7(f.value.length) + f.value.length;
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  for (const f of fields) {
    out[pos++] = f.neverIndexed ? 0x10 : 0x00;
    pos = writeInteger7(out, pos, f.name.length);
    pos += f.name.copy(out, pos);
    pos = writeInteger7(out, pos, f.value.length);
    pos += f.value.copy(out, pos);
  }
  return out;
}
