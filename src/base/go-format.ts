/**
 * The few pieces of Go's formatting that etcdctl's output is made of, reproduced so that kvctl prints the same
 * bytes: `%q` (strconv.Quote), `time.Duration.String`, go-humanize's `Bytes`, encoding/json's string escaping,
 * `strconv.ParseInt` and `time.ParseDuration` with their error texts, and the `%q` scanning of etcdctl's txn syntax.
 * Written from the documented behaviour of those functions.
 */

const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');

/**
 * Decodes one UTF-8 sequence at `i` with Go's rules: overlong forms, surrogates and values above U+10FFFF are
 * invalid, and an invalid sequence consumes exactly one byte. Returns `[codePoint, size]`, codePoint -1 if invalid.
 */
export function decodeRune(b: Uint8Array, i: number): [number, number] {
  const b0 = b[i] ?? 0;
  if (b0 < 0x80) return [b0, 1];
  const cont = (j: number, lo = 0x80, hi = 0xbf): number | undefined => {
    const c = b[i + j];
    return c !== undefined && c >= lo && c <= hi ? c & 0x3f : undefined;
  };
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    const c1 = cont(1);
    return c1 === undefined ? [-1, 1] : [((b0 & 0x1f) << 6) | c1, 2];
  }
  if (b0 >= 0xe0 && b0 <= 0xef) {
    const c1 = b0 === 0xe0 ? cont(1, 0xa0) : b0 === 0xed ? cont(1, 0x80, 0x9f) : cont(1);
    const c2 = c1 === undefined ? undefined : cont(2);
    return c1 === undefined || c2 === undefined ? [-1, 1] : [((b0 & 0x0f) << 12) | (c1 << 6) | c2, 3];
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const c1 = b0 === 0xf0 ? cont(1, 0x90) : b0 === 0xf4 ? cont(1, 0x80, 0x8f) : cont(1);
    const c2 = c1 === undefined ? undefined : cont(2);
    const c3 = c2 === undefined ? undefined : cont(3);
    if (c1 === undefined || c2 === undefined || c3 === undefined) return [-1, 1];
    return [((b0 & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3, 4];
  }
  return [-1, 1];
}

const graphic = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

/** Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII space. */
export function isGoPrint(r: number): boolean {
  if (r < 0x100) return (r >= 0x20 && r < 0x7f) || (r >= 0xa1 && r <= 0xff && r !== 0xad);
  return graphic.test(String.fromCodePoint(r));
}

const shortEscapes: Readonly<Record<number, string>> = { 7: '\\a', 8: '\\b', 12: '\\f', 10: '\\n', 13: '\\r', 9: '\\t', 11: '\\v' };

/** Go's `%q` of a string made of these bytes (`strconv.Quote`): printable runes as is, the rest escaped. */
export function goQuote(input: Uint8Array | string): string {
  const b = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  let out = '"';
  for (let i = 0; i < b.length; ) {
    const [r, size] = decodeRune(b, i);
    if (r < 0) {
      out += `\\x${hex(b[i] ?? 0, 2)}`;
    } else if (r === 0x22 || r === 0x5c) {
      out += `\\${String.fromCharCode(r)}`;
    } else if (isGoPrint(r)) {
      out += String.fromCodePoint(r);
    } else if (shortEscapes[r] !== undefined) {
      out += shortEscapes[r];
    } else if (r < 0x20 || r === 0x7f) {
      out += `\\x${hex(r, 2)}`;
    } else if (r < 0x10000) {
      out += `\\u${hex(r, 4)}`;
    } else {
      out += `\\U${hex(r, 8)}`;
    }
    i += size;
  }
  return `${out}"`;
}

/**
 * Go's `time.Duration.String` of a duration in nanoseconds: `0s`, `850ns`, `946.217µs`, `1.467343ms`,
 * `1.000369089s`, `2m3.5s`, `1h0m0s`.
 */
export function goDuration(nanoseconds: bigint | number): string {
  let ns = BigInt(nanoseconds);
  if (ns === 0n) return '0s';
  const sign = ns < 0n ? '-' : '';
  if (ns < 0n) ns = -ns;
  // The fractional digits of `v` below `10^prec`, without trailing zeros, and with the dot only when needed.
  const frac = (v: bigint, prec: number): [string, bigint] => {
    const p = 10n ** BigInt(prec);
    const digits = (v % p).toString().padStart(prec, '0').replace(/0+$/, '');
    return [digits === '' ? '' : `.${digits}`, v / p];
  };
  if (ns < 1_000_000_000n) {
    if (ns < 1_000n) return `${sign}${ns}ns`;
    const [prec, unit] = ns < 1_000_000n ? [3, 'µs'] : [6, 'ms'];
    const [f, whole] = frac(ns, prec);
    return `${sign}${whole}${f}${unit}`;
  }
  const [f, totalSeconds] = frac(ns, 9);
  const seconds = totalSeconds % 60n;
  const totalMinutes = totalSeconds / 60n;
  let out = `${seconds}${f}s`;
  if (totalMinutes > 0n) {
    out = `${totalMinutes % 60n}m${out}`;
    const hours = totalMinutes / 60n;
    if (hours > 0n) out = `${hours}h${out}`;
  }
  return sign + out;
}

/** Go's `%.Nf` for a value that has at most one decimal digit of its own: rounds a tie to even, as Go does. */
function formatFixed(v: number, digits: 0 | 1): string {
  if (digits === 1) return v.toFixed(1);
  const floor = Math.floor(v);
  const diff = v - floor;
  const rounded = diff > 0.5 || (diff === 0.5 && floor % 2 === 1) ? floor + 1 : floor;
  return rounded.toFixed(0);
}

/** go-humanize's `Bytes`: SI units (`20 kB`, `1.5 MB`, `9 B`), as etcdctl's `DB SIZE` column shows them. */
export function humanizeBytes(size: bigint | number): string {
  const s = Number(size);
  if (s < 10) return `${s} B`;
  const sizes = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  const e = Math.floor(Math.log(s) / Math.log(1000));
  const suffix = sizes[e] ?? 'EB';
  const val = Math.floor((s / 1000 ** e) * 10 + 0.5) / 10;
  return `${formatFixed(val, val < 10 ? 1 : 0)} ${suffix}`;
}

/**
 * A JSON string literal as Go's encoding/json writes it: `<`, `>`, `&`, U+2028 and U+2029 escaped, control
 * characters as `\n`, `\r`, `\t` or `\u00XX`, everything else as is.
 */
export function goJsonString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || ch === '<' || ch === '>' || ch === '&' || c === 0x2028 || c === 0x2029) out += `\\u${hex(c, 4)}`;
    else if (c >= 0xd800 && c <= 0xdfff) out += '\\ufffd';
    else out += ch;
  }
  return `${out}"`;
}

/** An error with the text Go's strconv or time package gives. */
export class GoParseError extends Error {}

/** Go's `strconv.ParseInt(s, base, 64)` (base 10 or 16), with its error texts. */
export function goParseInt(s: string, base: 10 | 16): bigint {
  const fail = (why: string): GoParseError => new GoParseError(`strconv.ParseInt: parsing ${goQuote(s)}: ${why}`);
  const m = (base === 10 ? /^([+-]?)([0-9]+)$/ : /^([+-]?)([0-9a-fA-F]+)$/).exec(s);
  if (!m) throw fail('invalid syntax');
  const magnitude = BigInt(base === 10 ? (m[2] ?? '') : `0x${m[2] ?? ''}`);
  const v = m[1] === '-' ? -magnitude : magnitude;
  if (v > 0x7fffffffffffffffn || v < -0x8000000000000000n) throw fail('value out of range');
  return v;
}

const durationUnits: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Go's `time.ParseDuration` (`2s`, `500ms`, `1m30s`, `1.5h`), in milliseconds, with Go's error texts. */
export function parseGoDuration(input: string): number {
  const invalid = (): GoParseError => new GoParseError(`time: invalid duration ${goQuote(input)}`);
  let s = input;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    sign = s.startsWith('-') ? -1 : 1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw invalid();
  let total = 0;
  while (s !== '') {
    const num = /^([0-9]*)(\.[0-9]*)?/.exec(s);
    const digits = `${num?.[1] ?? ''}${num?.[2] ?? ''}`;
    if (digits === '' || digits === '.') throw invalid();
    s = s.slice(digits.length);
    const unit = /^[^0-9.]*/.exec(s)?.[0] ?? '';
    if (unit === '') throw new GoParseError(`time: missing unit in duration ${goQuote(input)}`);
    const factor = durationUnits[unit];
    if (factor === undefined) throw new GoParseError(`time: unknown unit ${goQuote(unit)} in duration ${goQuote(input)}`);
    total += Number(digits) * factor;
    s = s.slice(unit.length);
  }
  return sign * total;
}

/**
 * Reads one Go quoted string (`"..."` with Go's escapes, or a back-quoted raw string) at the start of `s`, as
 * fmt's `%q` scanning does. Returns the bytes and the rest of the input, or undefined when `s` does not start with
 * a well-formed quoted string.
 */
export function scanGoQuoted(s: string): { value: Buffer; rest: string } | undefined {
  if (s.startsWith('`')) {
    const end = s.indexOf('`', 1);
    return end < 0 ? undefined : { value: Buffer.from(s.slice(1, end), 'utf8'), rest: s.slice(end + 1) };
  }
  if (!s.startsWith('"')) return undefined;
  const bytes: number[] = [];
  const pushRune = (r: number): void => {
    bytes.push(...Buffer.from(String.fromCodePoint(r), 'utf8'));
  };
  const simple: Readonly<Record<string, number>> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92, '"': 34, "'": 39 };
  for (let i = 1; i < s.length; ) {
    const ch = s[i] ?? '';
    if (ch === '"') return { value: Buffer.from(bytes), rest: s.slice(i + 1) };
    if (ch === '\n') return undefined;
    if (ch !== '\\') {
      const cp = s.codePointAt(i) ?? 0;
      pushRune(cp);
      i += cp > 0xffff ? 2 : 1;
      continue;
    }
    const e = s[i + 1] ?? '';
    const short = simple[e];
    if (short !== undefined && e !== "'") {
      bytes.push(short);
      i += 2;
    } else if (e === 'x') {
      const h = s.slice(i + 2, i + 4);
      if (!/^[0-9a-fA-F]{2}$/.test(h)) return undefined;
      bytes.push(parseInt(h, 16));
      i += 4;
    } else if (/[0-7]/.test(e)) {
      const o = s.slice(i + 1, i + 4);
      if (!/^[0-7]{3}$/.test(o) || parseInt(o, 8) > 255) return undefined;
      bytes.push(parseInt(o, 8));
      i += 4;
    } else if (e === 'u' || e === 'U') {
      const n = e === 'u' ? 4 : 8;
      const h = s.slice(i + 2, i + 2 + n);
      const cp = parseInt(h, 16);
      if (h.length !== n || !/^[0-9a-fA-F]+$/.test(h) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return undefined;
      pushRune(cp);
      i += 2 + n;
    } else {
      return undefined;
    }
  }
  return undefined;
}
