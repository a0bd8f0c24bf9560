/** CRC-32C against published vectors (RFC 3720 appendix B.4 and the usual check value) and its chaining. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32c } from '../../src/base/crc32c.js';

test('known vectors', () => {
  assert.equal(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(0)), 0);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
});

test('chaining equals one pass, at every split point and length (both loops of the slicing code)', () => {
  const data = Uint8Array.from({ length: 67 }, (_, i) => (i * 151 + 7) & 0xff);
  for (let len = 0; len <= data.length; len++) {
    const whole = crc32c(data.subarray(0, len));
    for (let split = 0; split <= len; split++) {
      assert.equal(crc32c(data.subarray(split, len), crc32c(data.subarray(0, split))), whole);
    }
    // The start/end arguments are the same as a subarray.
    assert.equal(crc32c(data, 0, 0, len), whole);
  }
  assert.equal(crc32c(new Uint8Array(0), 0xdeadbeef), 0xdeadbeef, 'no data leaves the running value unchanged');
});

test('matches a bitwise reference on random-ish data', () => {
  const ref = (d: Uint8Array) => {
    let c = ~0;
    for (const b of d) {
      c ^= b;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    }
    return ~c >>> 0;
  };
  let x = 12345;
  const d = Uint8Array.from({ length: 1000 }, () => {
    x = (x * 1103515245 + 12345) >>> 0;
    return x >>> 24;
  });
  for (const len of [1, 7, 8, 9, 63, 64, 65, 999, 1000]) assert.equal(crc32c(d.subarray(0, len)), ref(d.subarray(0, len)));
});
