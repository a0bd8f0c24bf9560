// The Go formatting that etcdctl's output is made of. Expected strings are what Go prints for the same input
// (fmt %q, time.Duration.String, go-humanize Bytes, encoding/json, strconv.ParseInt, time.ParseDuration).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  GoParseError,
  goDuration,
  goJsonString,
  goParseInt,
  goQuote,
  humanizeBytes,
  parseGoDuration,
  scanGoQuoted,
} from '../../src/base/go-format.js';

const b = (...bytes: number[]): Buffer => Buffer.from(bytes);

describe('goQuote (%q)', () => {
  it('keeps printable runes and escapes quotes, backslashes and control characters', () => {
    assert.equal(goQuote('foo'), '"foo"');
    assert.equal(goQuote('q"\n€'), '"q\\"\\n€"');
    assert.equal(goQuote('a\\b\tc\x00\x07\x7f'), '"a\\\\b\\tc\\x00\\a\\x7f"');
  });

  it('escapes invalid UTF-8 byte by byte', () => {
    assert.equal(goQuote(b(0x61, 0x01, 0xff, 0x62)), '"a\\x01\\xffb"');
    assert.equal(goQuote(b(0xe2, 0x82)), '"\\xe2\\x82"'); // truncated sequence
    assert.equal(goQuote(b(0xed, 0xa0, 0x80)), '"\\xed\\xa0\\x80"'); // UTF-16 surrogate encoded in UTF-8
    assert.equal(goQuote(b(0xc0, 0x80)), '"\\xc0\\x80"'); // overlong
  });

  it('uses \\u and \\U for non-printable runes', () => {
    assert.equal(goQuote('\u00a0\u200b\ue000'), '"\\u00a0\\u200b\\ue000"');
    assert.equal(goQuote('\u{f0000}'), '"\\U000f0000"');
    assert.equal(goQuote('😀日本'), '"😀日本"');
  });
});

describe('goDuration (time.Duration.String)', () => {
  it('formats like Go', () => {
    const cases: [bigint, string][] = [
      [0n, '0s'],
      [850n, '850ns'],
      [1_000n, '1µs'],
      [946_217n, '946.217µs'],
      [1_000_000n, '1ms'],
      [1_467_343n, '1.467343ms'],
      [1_500_000n, '1.5ms'],
      [1_000_369_089n, '1.000369089s'],
      [2_000_000_000n, '2s'],
      [123_500_000_000n, '2m3.5s'],
      [3_600_000_000_000n, '1h0m0s'],
      [-1_500_000n, '-1.5ms'],
    ];
    for (const [ns, text] of cases) assert.equal(goDuration(ns), text, String(ns));
  });
});

describe('humanizeBytes (go-humanize Bytes)', () => {
  it('uses SI units with one decimal below 10', () => {
    const cases: [number, string][] = [
      [0, '0 B'],
      [9, '9 B'],
      [10, '10 B'],
      [999, '999 B'],
      [1000, '1.0 kB'],
      [1540, '1.5 kB'],
      [20480, '20 kB'],
      [20500, '20 kB'], // 20.5 rounds to even, as Go's %.0f does
      [21500, '22 kB'],
      [999_999, '1000 kB'],
      [1_500_000, '1.5 MB'],
      [2_147_483_648, '2.1 GB'],
    ];
    for (const [n, text] of cases) assert.equal(humanizeBytes(n), text, String(n));
  });
});

describe('goJsonString (encoding/json)', () => {
  it('escapes HTML characters, line separators and control characters like Go', () => {
    assert.equal(goJsonString('<a&b>'), '"\\u003ca\\u0026b\\u003e"');
    assert.equal(goJsonString('x\u2028y\u2029'), '"x\\u2028y\\u2029"');
    assert.equal(goJsonString('"\\\n\r\t\x01\x08'), '"\\"\\\\\\n\\r\\t\\u0001\\u0008"');
    assert.equal(goJsonString('946.217µs'), '"946.217µs"');
  });
});

describe('goParseInt (strconv.ParseInt)', () => {
  it('parses decimal and hexadecimal int64', () => {
    assert.equal(goParseInt('42', 10), 42n);
    assert.equal(goParseInt('-5', 10), -5n);
    assert.equal(goParseInt('+7', 10), 7n);
    assert.equal(goParseInt('694d77aa9e38260f', 16), 0x694d77aa9e38260fn);
    assert.equal(goParseInt('7fffffffffffffff', 16), (1n << 63n) - 1n);
  });

  it('fails with Go messages', () => {
    assert.throws(() => goParseInt('abc', 10), { name: 'Error', message: 'strconv.ParseInt: parsing "abc": invalid syntax' });
    assert.throws(() => goParseInt('0x10', 16), /invalid syntax/);
    assert.throws(() => goParseInt('', 10), /parsing "": invalid syntax/);
    assert.throws(() => goParseInt('8000000000000000', 16), /parsing "8000000000000000": value out of range/);
    assert.throws(() => goParseInt('1 2', 10), (e: unknown) => e instanceof GoParseError);
  });
});

describe('parseGoDuration (time.ParseDuration)', () => {
  it('parses to milliseconds', () => {
    assert.equal(parseGoDuration('2s'), 2000);
    assert.equal(parseGoDuration('500ms'), 500);
    assert.equal(parseGoDuration('1m30s'), 90_000);
    assert.equal(parseGoDuration('1.5h'), 5_400_000);
    assert.equal(parseGoDuration('.5s'), 500);
    assert.equal(parseGoDuration('1500us'), 1.5);
    assert.equal(parseGoDuration('0'), 0);
  });

  it('fails with Go messages', () => {
    assert.throws(() => parseGoDuration('abc'), { message: 'time: invalid duration "abc"' });
    assert.throws(() => parseGoDuration('5'), { message: 'time: missing unit in duration "5"' });
    assert.throws(() => parseGoDuration('5x'), { message: 'time: unknown unit "x" in duration "5x"' });
    assert.throws(() => parseGoDuration(''), { message: 'time: invalid duration ""' });
  });
});

describe('scanGoQuoted (%q scanning)', () => {
  it('reads a Go string literal and returns the rest', () => {
    const r = scanGoQuoted('"a\\x00b\\u20ac\\t\\101") > "0"');
    assert.deepEqual(r?.value, Buffer.concat([Buffer.from('a'), b(0), Buffer.from('b€\tA')]));
    assert.equal(r?.rest, ') > "0"');
    assert.deepEqual(scanGoQuoted('"\\xff"')?.value, b(0xff));
    assert.deepEqual(scanGoQuoted('`raw\\n`x')?.value, Buffer.from('raw\\n'));
  });

  it('rejects malformed literals', () => {
    for (const s of ['"open', 'bare', '"bad \\q escape"', '"\\x1"', "'single'"]) assert.equal(scanGoQuoted(s), undefined, s);
  });
});
