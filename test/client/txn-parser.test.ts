// etcdctl's txn syntax: compares, operation lines with their flags, sections, and etcdctl's error texts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { CtlError } from '../../src/cli/ctl-error.js';
import { argify, parseCompare, parseOp, parseTxn, readTxn, txnPrompts } from '../../src/cli/txn-parser.js';
import {
  Compare_CompareResult as R,
  Compare_CompareTarget as T,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
} from '../../src/proto/gen/etcdserverpb/rpc.js';

const s = (text: string): Buffer => Buffer.from(text, 'utf8');

function fails(fn: () => unknown, message: string, exitCode = 3): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CtlError, String(err));
    assert.equal(err.message, message);
    assert.equal(err.exitCode, exitCode);
    return true;
  });
}

describe('parseCompare', () => {
  it('reads every target with its aliases', () => {
    const cases: [string, T, R, Partial<Record<'version' | 'createRevision' | 'modRevision' | 'lease', bigint>> | Buffer][] = [
      ['mod("k") > "0"', T.MOD, R.GREATER, { modRevision: 0n }],
      ['m("k") < "12"', T.MOD, R.LESS, { modRevision: 12n }],
      ['version("k") = "3"', T.VERSION, R.EQUAL, { version: 3n }],
      ['ver("k") == "3"', T.VERSION, R.EQUAL, { version: 3n }],
      ['create("k") != "7"', T.CREATE, R.NOT_EQUAL, { createRevision: 7n }],
      ['c("k") = "7"', T.CREATE, R.EQUAL, { createRevision: 7n }],
      ['lease("k") = "694d77aa9e38260f"', T.LEASE, R.EQUAL, { lease: 0x694d77aa9e38260fn }],
      ['value("k") = "v 1"', T.VALUE, R.EQUAL, s('v 1')],
      ['val("k") != "\\x00"', T.VALUE, R.NOT_EQUAL, Buffer.from([0])],
    ];
    for (const [line, target, result, want] of cases) {
      const c = parseCompare(line);
      assert.deepEqual([c.target, c.result, c.key], [target, result, s('k')], line);
      if (Buffer.isBuffer(want)) assert.deepEqual(c.value, want, line);
      else for (const [field, v] of Object.entries(want)) assert.equal(c[field as keyof typeof want], v, line);
    }
  });

  it('accepts Go escapes and raw strings in the key', () => {
    assert.deepEqual(parseCompare('value("a\\tb") = "x"').key, s('a\tb'));
    assert.deepEqual(parseCompare('value(`a\\tb`) = "x"').key, s('a\\tb'));
  });

  it('fails with etcdctl 3.4 messages (exit 3)', () => {
    fails(() => parseCompare('mod "k" > "0"'), 'malformed comparison: mod "k" > "0"');
    fails(() => parseCompare('mod(a) = "b"'), 'malformed comparison: mod(a) = "b"; got mod("")  ""');
    fails(() => parseCompare('mod("a") = b'), 'malformed comparison: mod("a") = b; got mod("a") = ""');
    fails(() => parseCompare('foo("a") = "b"'), 'malformed comparison: foo("a") = "b" (unknown target foo)');
    fails(() => parseCompare('mod("a") = "b"'), 'invalid txn compare request: mod("a") = "b"');
    fails(() => parseCompare('lease("a") = "xyz"'), 'invalid txn compare request: lease("a") = "xyz"');
    fails(() => parseCompare('mod("a") >= "1"'), 'invalid txn compare request: mod("a") >= "1" (unknown comparison operator >=)');
  });
});

describe('argify', () => {
  it('splits on spaces and honours both quotings', () => {
    assert.deepEqual(argify(`put 'abc' 'hello world'`), [s('put'), s('abc'), s('hello world')]);
    assert.deepEqual(argify('put k "a \\"b\\"\\n"  --prev-kv'), [s('put'), s('k'), s('a "b"\n'), s('--prev-kv')]);
    assert.deepEqual(argify('  get   k  '), [s('get'), s('k')]);
  });
});

describe('parseOp', () => {
  it('reads put, get and del with their flags', () => {
    const put = parseOp('put k "v w" --lease=1f --prev-kv');
    assert.deepEqual([put.requestPut?.key, put.requestPut?.value, put.requestPut?.lease, put.requestPut?.prevKv], [s('k'), s('v w'), 0x1fn, true]);
    assert.equal(parseOp('put k --ignore-value').requestPut?.ignoreValue, true);
    const get = parseOp('get k --prefix --limit 2 --sort-by=modify --order DESCEND --consistency=s --rev=5 --keys-only');
    const r = get.requestRange;
    assert.deepEqual(
      [r?.rangeEnd, r?.limit, r?.sortTarget, r?.sortOrder, r?.serializable, r?.revision, r?.keysOnly],
      [s('l'), 2n, RangeRequest_SortTarget.MOD, RangeRequest_SortOrder.DESCEND, true, 5n, true],
    );
    assert.deepEqual(parseOp('get a c').requestRange?.rangeEnd, s('c'));
    const del = parseOp('del k --from-key --prev-kv');
    assert.deepEqual([del.requestDeleteRange?.rangeEnd, del.requestDeleteRange?.prevKv], [Buffer.from([0]), true]);
    assert.deepEqual(parseOp('put -- k -v').requestPut?.value, s('-v'));
  });

  it('fails with etcdctl messages', () => {
    fails(() => parseOp('get'), 'invalid txn compare request: get');
    fails(() => parseOp('bogus k'), 'invalid txn request: bogus k');
    fails(() => parseOp('get k --nope'), 'invalid txn request: get k --nope');
    fails(() => parseOp('get k --limit'), 'invalid txn request: get k --limit');
    fails(() => parseOp('get k --limit=x'), 'invalid txn request: get k --limit=x');
    fails(() => parseOp('del k --prefix --from-key'), '`--prefix` and `--from-key` cannot be set at the same time, choose one', 128);
    fails(() => parseOp('put k'), 'put command needs 1 argument and input from stdin or 2 arguments', 128);
    fails(() => parseOp('put k v --lease=zz'), 'bad lease ID (strconv.ParseInt: parsing "zz": invalid syntax), expecting ID in Hex', 128);
  });
});

describe('parseTxn / readTxn', () => {
  it('reads the three sections separated by blank lines', async () => {
    const t = await parseTxn('mod("k") > "0"\nvalue("k") = "v"\n\nput k v2\nget k\n\nput k v1\ndel j\n\n');
    assert.equal(t.compares.length, 2);
    assert.deepEqual(t.success.map((o) => Object.keys(o)[0]), ['requestPut', 'requestRange']);
    assert.deepEqual(t.failure.map((o) => Object.keys(o)[0]), ['requestPut', 'requestDeleteRange']);
  });

  it('accepts empty sections and treats the end of input as the end of a section', async () => {
    const t = await parseTxn('\n\nput k v');
    assert.deepEqual([t.compares.length, t.success.length, t.failure.length], [0, 0, 1]);
    const none = await parseTxn('');
    assert.deepEqual([none.compares.length, none.success.length, none.failure.length], [0, 0, 0]);
  });

  it('trims lines and ignores CR line endings', async () => {
    const t = await parseTxn('  mod("k") > "0"  \r\n\r\n put k v \r\n\r\n\r\n');
    assert.deepEqual(t.success[0]?.requestPut?.value, s('v'));
  });

  it('prompts before each section (interactive mode)', async () => {
    const prompts: string[] = [];
    const lines = ['', 'put k v', ''];
    let i = 0;
    await readTxn(async () => lines[i++], (p) => prompts.push(p));
    assert.deepEqual(prompts, [...txnPrompts]);
  });
});
