// The discovery subset of the v2 keys API, without a server: path mapping, etcd's JSON text and errors,
// request checks, and v3 events as v2 watch events. The answers of a running node are compared with a real
// etcd's in test/e2e/discovery.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { parseKeyRequest, toV2Event } from '../../src/server/api/v2-keys.js';
import {
  V2Error,
  classify,
  cleanPath,
  eventJson,
  goJsonString,
  isHiddenBelow,
  nodeJson,
  unsupported,
  v2PathOf,
} from '../../src/server/api/v2-registry.js';
import { type Event, Event_EventType, type KeyValue } from '../../src/proto/gen/mvccpb/kv.js';

const T = '/_etcd/registry/tok';

function kv(key: string, value: string, create: number, mod: number, version: number): KeyValue {
  return { key: Buffer.from(key), value: Buffer.from(value), createRevision: BigInt(create), modRevision: BigInt(mod), version: BigInt(version), lease: 0n };
}

function form(entries: Record<string, string>): Map<string, string[]> {
  return new Map(Object.entries(entries).map(([k, v]) => [k, [v]]));
}

function v2Error(fn: () => unknown): V2Error {
  try {
    fn();
  } catch (err) {
    if (err instanceof V2Error) return err;
    throw err;
  }
  throw new Error('expected a V2Error');
}

describe('v2 keys subset', () => {
  test('paths: cleaned as Go cleans them, and mapped onto the v3 discovery layout', () => {
    assert.equal(cleanPath(''), '/');
    assert.equal(cleanPath('//_etcd/./registry//tok/'), T);
    assert.equal(cleanPath('/_etcd/registry/x/../tok'), T);
    assert.deepEqual(classify(T), { kind: 'token-dir', path: T, token: 'tok' });
    assert.deepEqual(classify(`${T}/_config`), { kind: 'config-dir', path: `${T}/_config`, token: 'tok' });
    assert.deepEqual(classify(`${T}/_config/size`), { kind: 'key', path: `${T}/_config/size`, token: 'tok', v3Key: `${T}/_config/size`, underConfig: true });
    assert.deepEqual(classify(`${T}/8e9e05c52164694d`), {
      kind: 'key',
      path: `${T}/8e9e05c52164694d`,
      token: 'tok',
      v3Key: `${T}/members/8e9e05c52164694d`,
      underConfig: false,
    });
    for (const outside of ['/', '/foo', '/_etcd', '/_etcd/registry', '/_etcd/other/tok', `${T}/a/b`, `${T}/_config/a/b`]) {
      assert.equal(classify(outside).kind, 'outside', outside);
    }
    assert.equal(v2PathOf('tok', `${T}/members/abc`), `${T}/abc`);
    assert.equal(v2PathOf('tok', `${T}/_config/size`), `${T}/_config/size`);
    for (const stray of [`${T}/other`, `${T}/members/a/b`, `${T}/members/`, `${T}/stuff/x`, '/_etcd/registry/tok2/members/a']) {
      assert.equal(v2PathOf('tok', stray), undefined, stray);
    }
  });

  test('hidden names: `_` below the directory, not the directory itself', () => {
    assert.equal(isHiddenBelow(T, `${T}/_config/size`), true);
    assert.equal(isHiddenBelow(`${T}/_config`, `${T}/_config/size`), false);
    assert.equal(isHiddenBelow(T, `${T}/abc`), false);
    assert.equal(isHiddenBelow(T, `${T}/_abc`), true);
    assert.equal(isHiddenBelow('/', '/_etcd/registry'), true);
  });

  test("JSON as Go's encoding/json writes it: field order, HTML escapes, trailing newline", () => {
    assert.equal(goJsonString('a<b>&"\\\n\t\u0001\u2028é'), '"a\\u003cb\\u003e\\u0026\\"\\\\\\n\\t\\u0001\\u2028é"');
    assert.equal(
      nodeJson({ key: `${T}/a`, value: 'v', modifiedIndex: 7, createdIndex: 6 }),
      `{"key":"${T}/a","value":"v","modifiedIndex":7,"createdIndex":6}`,
    );
    // An empty value is written; a directory has no value, and no `nodes` when it lists nothing.
    assert.equal(nodeJson({ key: 'k', value: '', modifiedIndex: 1, createdIndex: 1 }), '{"key":"k","value":"","modifiedIndex":1,"createdIndex":1}');
    assert.equal(nodeJson({ key: T, dir: true, nodes: [], modifiedIndex: 4, createdIndex: 4 }), `{"key":"${T}","dir":true,"modifiedIndex":4,"createdIndex":4}`);
    assert.equal(
      eventJson({ action: 'get', node: { key: T, dir: true, nodes: [{ key: `${T}/a`, value: 'x', modifiedIndex: 6, createdIndex: 6 }], modifiedIndex: 4, createdIndex: 4 } }),
      `{"action":"get","node":{"key":"${T}","dir":true,"nodes":[{"key":"${T}/a","value":"x","modifiedIndex":6,"createdIndex":6}],"modifiedIndex":4,"createdIndex":4}}\n`,
    );
    assert.equal(eventJson({ action: 'set' }), '{"action":"set"}\n');
  });

  test("errors: etcd's codes, messages, statuses and body (cause omitted when empty)", () => {
    const e = new V2Error(100, `${T}/nope`, 6);
    assert.equal(e.status, 404);
    assert.equal(e.body(), `{"errorCode":100,"message":"Key not found","cause":"${T}/nope","index":6}\n`);
    assert.equal(new V2Error(105, 'k', 6).status, 412);
    assert.equal(new V2Error(102, 'k', 6).status, 403);
    assert.equal(new V2Error(108, 'k', 6).status, 403);
    assert.equal(new V2Error(110, 'Insufficient credentials', 0).status, 401);
    assert.equal(new V2Error(300, 'x', 0).status, 500);
    assert.equal(new V2Error(203, 'x', 0).status, 400);
    assert.equal(new V2Error(401, 'x', 0).body(), '{"errorCode":401,"message":"The event in requested index is outdated and cleared","cause":"x","index":0}\n');
    assert.equal(new V2Error(300, '', 0).body(), '{"errorCode":300,"message":"Raft Internal Error","index":0}\n');
    const u = unsupported('ttl');
    assert.equal(u.errorCode, 209);
    assert.equal(u.status, 400);
    assert.match(u.errorCause, /^kvctl: ttl is not supported: this node serves only the part of the v2 keys API that etcd's discovery protocol uses/);
  });

  test("request checks in etcd's order, with etcd's causes", () => {
    const check = (method: string, f: Record<string, string>) => v2Error(() => parseKeyRequest(method, T, form(f)));
    assert.deepEqual([check('GET', { waitIndex: 'abc' }).errorCode, check('GET', { waitIndex: 'abc' }).errorCause], [203, 'invalid value for "waitIndex"']);
    assert.equal(check('GET', { waitIndex: '-1' }).errorCode, 203);
    assert.equal(check('GET', { waitIndex: '' }).errorCode, 203);
    assert.equal(check('GET', { prevIndex: 'x', waitIndex: 'y' }).errorCause, 'invalid value for "prevIndex"');
    assert.deepEqual([check('GET', { recursive: 'maybe' }).errorCode, check('GET', { recursive: 'maybe' }).errorCause], [209, 'invalid value for "recursive"']);
    assert.equal(check('PUT', { wait: 'true' }).errorCause, '"wait" can only be used with GET requests');
    assert.deepEqual([check('PUT', { prevValue: '' }).errorCode, check('PUT', { prevValue: '' }).errorCause], [201, '"prevValue" cannot be empty']);
    assert.deepEqual([check('PUT', { ttl: 'abc' }).errorCode, check('PUT', { ttl: 'abc' }).errorCause], [202, 'invalid value for "ttl"']);
    assert.equal(check('PUT', { prevExist: 'maybe' }).errorCause, 'invalid value for prevExist');
    assert.equal(check('PUT', { refresh: 'true', value: 'x', ttl: '5' }).errorCode, 211);
    assert.equal(check('PUT', { refresh: 'true' }).errorCode, 212);
    for (const e of [check('GET', { waitIndex: 'abc' }), check('PUT', { prevExist: 'x' })]) assert.equal(e.index, 0);
    // Go's ParseBool spellings, the first value of a repeated field.
    const rr = parseKeyRequest('GET', T, new Map([['recursive', ['T', 'nope']], ['wait', ['1']], ['waitIndex', ['12']]]));
    assert.deepEqual([rr.recursive, rr.wait, rr.waitIndex], [true, true, 12]);
    const put = parseKeyRequest('PUT', `${T}/a`, form({ value: 'm1=http://127.0.0.1:2380', prevExist: 'false' }));
    assert.deepEqual([put.value, put.prevExist], ['m1=http://127.0.0.1:2380', false]);
  });

  test('v3 watch events as v2 events: actions, prevNode, hidden names live but not in history', () => {
    const dir = classify(T);
    const key = classify(`${T}/abc`);
    const put = (k: KeyValue, prev?: KeyValue): Event => ({ type: Event_EventType.PUT, kv: k, prevKv: prev });
    const created = put(kv(`${T}/members/abc`, 'm1=http://a:1', 6, 6, 1));
    assert.deepEqual(toV2Event(dir, created, 5), { action: 'create', node: { key: `${T}/abc`, value: 'm1=http://a:1', modifiedIndex: 6, createdIndex: 6 } });
    assert.deepEqual(toV2Event(key, created, 5)?.action, 'create');
    assert.equal(toV2Event(classify(`${T}/other`), created, 5), undefined);
    const updated = put(kv(`${T}/_config/size`, '5', 4, 9, 2), kv(`${T}/_config/size`, '3', 4, 4, 1));
    // A change under _config: delivered from history (at or before the watch's start), not live.
    assert.deepEqual(toV2Event(dir, updated, 9), {
      action: 'set',
      node: { key: `${T}/_config/size`, value: '5', modifiedIndex: 9, createdIndex: 4 },
      prevNode: { key: `${T}/_config/size`, value: '3', modifiedIndex: 4, createdIndex: 4 },
    });
    assert.equal(toV2Event(dir, updated, 8), undefined);
    assert.equal(toV2Event(classify(`${T}/_config`), updated, 8)?.action, 'set');
    const deleted: Event = { type: Event_EventType.DELETE, kv: kv(`${T}/members/abc`, '', 0, 11, 0), prevKv: kv(`${T}/members/abc`, 'v', 6, 6, 1) };
    assert.deepEqual(toV2Event(dir, deleted, 10), {
      action: 'delete',
      node: { key: `${T}/abc`, modifiedIndex: 11, createdIndex: 6 },
      prevNode: { key: `${T}/abc`, value: 'v', modifiedIndex: 6, createdIndex: 6 },
    });
    // v3 keys under the token that are not in the layout are not v2 events.
    assert.equal(toV2Event(dir, put(kv(`${T}/stray`, 'x', 12, 12, 1)), 11), undefined);
  });
});
