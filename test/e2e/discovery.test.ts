// End-to-end: etcd's v2 discovery protocol between kvctl nodes and real etcd 3.4, in every direction.
// - the discovery subset of /v2/keys on a kvctl node answers what etcd 3.4 --enable-v2 answers, byte for byte
//   (indexes compared relative to the first answer: both count one per write from there);
// - three kvctl nodes bootstrap from a URL served by a kvctl node (`kvctl discovery new`); the member list,
//   ids (derived with the URL as token, as etcd derives them) and cluster id are checked with etcdctl; a fourth
//   member is refused ("cluster is full") and exits non-zero without registering; a member that lost its data
//   dir is refused ("found duplicate id"); a member restarted on its data dir comes back with the discovery
//   service gone;
// - three kvctl nodes bootstrap from a URL served by a real etcd 3.4 with --enable-v2;
// - three real etcd members bootstrap from a URL served by a kvctl node, and a fourth etcd, a token without a
//   size and a URL that is not a v2 endpoint fail in etcd with the same words as in kvctl.
// Hosts are 127.0.0.1/.2/.3/.4; every process is stopped at the end of its test, even on failure.
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { clusterIdFor, idHex, memberIdFor } from '../../src/server/kvserver/ids.js';
import { startEtcd, type EtcdHandle } from '../support/etcd.js';
import { etcdctl } from '../support/etcdctl.js';
import { type KvNode, removeDir, startKvNode } from '../support/kvnode.js';
import { type MemberKind, type MemberProcess, spawnMember } from '../support/member-process.js';
import { type TlsFixtures, makeTlsFixtures } from '../support/tls-fixtures.js';
import { kvctl } from './kvctl.js';

const READY_MS = 40_000;

/** `kvctl discovery new --json` against one endpoint: the URL. */
async function newToken(endpoint: string, size: number, token?: string): Promise<string> {
  const r = await kvctl(['discovery', 'new', '--size', String(size), '--endpoints', endpoint, '--json', ...(token !== undefined ? ['--token', token] : [])]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const out = JSON.parse(r.stdout) as { url: string; token: string; size: number };
  assert.equal(out.size, size);
  assert.equal(out.url, `http://${endpoint}/v2/keys/_etcd/registry/${out.token}`);
  return out.url;
}

/** Members on 127.0.0.1, .2, ...; the last one takes the URL from ETCD_DISCOVERY instead of the flag. */
async function startMembers(kind: MemberKind, url: string, names: readonly string[]): Promise<MemberProcess[]> {
  const members: MemberProcess[] = [];
  for (const [i, name] of names.entries()) {
    const last = i === names.length - 1;
    members.push(
      await spawnMember({ kind, name, host: `127.0.0.${i + 1}`, args: last ? [] : ['--discovery', url], ...(last ? { env: { ETCD_DISCOVERY: url } } : {}) }),
    );
  }
  return members;
}

async function stopAll(members: ReadonlyArray<{ stop(): Promise<unknown> } | undefined>): Promise<void> {
  await Promise.all(members.map((m) => m?.stop()));
}

/** The registrations under a token, as the v2 API lists them: member id hex -> value. */
async function registrations(url: string): Promise<Map<string, string>> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { node: { nodes?: Array<{ key: string; value: string }> } };
  return new Map((body.node.nodes ?? []).map((n) => [n.key.slice(n.key.lastIndexOf('/') + 1), n.value]));
}

/**
 * Checks with etcdctl that `members` form one cluster of exactly them, with the ids etcd derives for a
 * discovery bootstrap (peer URL + the discovery URL as token) and the cluster id of those ids.
 */
async function checkCluster(members: readonly MemberProcess[], url: string): Promise<void> {
  const r = await etcdctl(members[0]?.endpoint ?? '', ['member', 'list']);
  assert.equal(r.code, 0, r.stderr);
  const rows = r.stdout.trimEnd().split('\n').map((l) => l.split(', '));
  const expected = members.map((m) => ({ id: idHex(memberIdFor([m.peerUrl], url)), name: m.name, peer: m.peerUrl, client: m.clientUrl }));
  assert.deepEqual(
    rows.map(([id, status, name, peer, client, learner]) => ({ id, status, name, peer, client, learner })).sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '')),
    expected.map((e) => ({ ...e, status: 'started', learner: 'false' })),
  );
  const status = await etcdctl(members.map((m) => m.endpoint).join(','), ['endpoint', 'status', '-w', 'json']);
  assert.equal(status.code, 0, status.stderr);
  const clusterIds = [...status.stdout.matchAll(/"cluster_id":(\d+)/g)].map((m) => BigInt(m[1] ?? '0'));
  const want = clusterIdFor(expected.map((e) => BigInt(`0x${e.id}`)));
  assert.deepEqual(clusterIds, members.map(() => want));
  // One write through the first member, read through the last.
  assert.equal((await etcdctl(members[0]?.endpoint ?? '', ['put', 'discovered', 'yes'])).code, 0);
  const get = await etcdctl(members[members.length - 1]?.endpoint ?? '', ['get', 'discovered', '--print-value-only']);
  assert.equal(get.stdout, 'yes\n');
}

// ---- the v2 subset against etcd, byte for byte --------------------------------------------------------

type Step = { method: string; path: string; body?: string; live?: Step[] };

/** Requests as etcd's discovery client and curl send them; `{n}` in a path is the first answer's index + n. */
function script(token: string): Step[] {
  const t = `/v2/keys/_etcd/registry/${token}`;
  const id1 = '8e9e05c52164694d';
  const id2 = '91bc3c398fb3c146';
  return [
    { method: 'GET', path: `${t}/_config/size?quorum=false&recursive=false&sorted=false` },
    { method: 'PUT', path: `${t}/_config/size?prevExist=false`, body: 'value=3' },
    { method: 'PUT', path: `${t}/_config/size?prevExist=false`, body: 'value=3' },
    { method: 'PUT', path: `${t}/${id1}?prevExist=false`, body: 'value=m1%3Dhttp%3A%2F%2F127.0.0.1%3A2380' },
    { method: 'GET', path: `${t}?quorum=false&recursive=false&sorted=false` },
    { method: 'GET', path: `${t}?recursive=true` },
    { method: 'GET', path: `${t}/_config` },
    { method: 'GET', path: `${t}/nope` },
    { method: 'GET', path: `/v2/keys/_etcd/registry/other-${token}/_config/size` },
    { method: 'GET', path: `${t}/_config/nope` },
    { method: 'GET', path: `${t}?wait=true&waitIndex=abc` },
    { method: 'GET', path: `${t}?recursive=maybe` },
    { method: 'PUT', path: `${t}/x?prevExist=maybe`, body: 'value=1' },
    { method: 'PUT', path: `${t}/x?wait=true`, body: 'value=1' },
    // History: a hidden (_config) change is delivered to a recursive wait that starts after it.
    { method: 'GET', path: `${t}?wait=true&recursive=true&waitIndex={1}` },
    { method: 'GET', path: `${t}/${id1}?recursive=false&wait=true&waitIndex={2}` },
    // Live: a hidden change while waiting is not delivered, the next registration is.
    {
      method: 'GET',
      path: `${t}?recursive=true&wait=true&waitIndex={3}`,
      live: [
        { method: 'PUT', path: `${t}/_config/size`, body: 'value=5' },
        { method: 'PUT', path: `${t}/${id2}?prevExist=false`, body: 'value=m2%3Dhttp%3A%2F%2F127.0.0.2%3A2380' },
      ],
    },
    { method: 'PUT', path: `${t}/zzz`, body: 'value=a%3Cb%26c' },
    { method: 'PUT', path: `${t}/zzz?prevExist=true`, body: 'value=2' },
    { method: 'PUT', path: `${t}/nv?noValueOnSuccess=true`, body: 'value=1' },
    { method: 'PUT', path: `${t}/q?value=fromquery` },
    { method: 'PUT', path: `${t}/nokey?prevExist=true`, body: 'value=2' },
    { method: 'DELETE', path: `${t}/zzz` },
    { method: 'DELETE', path: `${t}/zzz` },
    { method: 'DELETE', path: `${t}` },
    { method: 'DELETE', path: `${t}?dir=true` },
    { method: 'PUT', path: `${t}`, body: 'value=x' },
    { method: 'PUT', path: `${t}/_config`, body: 'value=x' },
    { method: 'PATCH', path: `${t}` },
    { method: 'HEAD', path: `${t}/_config/size` },
    { method: 'DELETE', path: `${t}?recursive=true` },
  ];
}

/** What a client can depend on in one answer, with indexes made relative to `base`. */
async function answer(endpoint: string, step: Step, base: number): Promise<string> {
  const rel = (n: number) => (n === 0 ? 0 : n - base);
  const path = step.path.replace(/\{(\d+)\}/g, (_, k: string) => String(base + Number(k)));
  const init = (s: Step): RequestInit => ({
    method: s.method,
    ...(s.body !== undefined ? { body: s.body, headers: { 'content-type': 'application/x-www-form-urlencoded' } } : {}),
    signal: AbortSignal.timeout(10_000),
  });
  const res = await fetch(`http://${endpoint}${path}`, init(step));
  for (const s of step.live ?? []) await (await fetch(`http://${endpoint}${s.path}`, init(s))).text();
  const raw = await res.text();
  const text = raw.replace(/"(modifiedIndex|createdIndex|index)":(\d+)/g, (_, f: string, n: string) => `"${f}":${rel(Number(n))}`);
  const h = res.headers;
  // Indexes differ in digits between the two servers: the length is checked against the body instead.
  const length = h.get('content-length');
  const lengthOk = length === null ? 'chunked' : step.method === 'HEAD' || Number(length) === Buffer.byteLength(raw) ? 'matches the body' : `${length} for ${Buffer.byteLength(raw)} bytes`;
  const index = h.get('x-etcd-index');
  return [
    `${step.method} ${step.path} -> ${res.status}`,
    `content-type: ${h.get('content-type')}`,
    `x-etcd-index: ${index === null ? 'none' : rel(Number(index))}`,
    `raft headers: ${h.has('x-raft-index') && h.has('x-raft-term')}, cluster id: ${/^[0-9a-f]+$/.test(h.get('x-etcd-cluster-id') ?? '')}`,
    `allow: ${h.get('allow')}`,
    `content-length: ${lengthOk}`,
    text,
  ].join('\n');
}

async function runScript(endpoint: string, token: string): Promise<string[]> {
  const steps = script(token);
  const first = await fetch(`http://${endpoint}${steps[0]?.path ?? ''}`);
  const base = Number(first.headers.get('x-etcd-index'));
  await first.text();
  const out: string[] = [];
  for (const step of steps) out.push(await answer(endpoint, step, base));
  return out;
}

/** What a test gets from `withKvctlDiscovery`: the discovery node, the token's URL and the members it formed. */
interface DiscoveredCluster {
  readonly disc: KvNode;
  readonly url: string;
  readonly members: MemberProcess[];
  /** Members the test starts on top; stopped with the others. */
  readonly extra: MemberProcess[];
}

/**
 * A kvctl node serving discovery and a cluster of `names` (`kind` members) bootstrapped from a token of that
 * size on it, checked; runs `body`, then stops every member and the node, whatever happened.
 */
async function withKvctlDiscovery(kind: MemberKind, names: readonly string[], body: (c: DiscoveredCluster) => Promise<void>): Promise<void> {
  let disc: KvNode | undefined;
  let members: MemberProcess[] = [];
  const extra: MemberProcess[] = [];
  try {
    disc = await startKvNode({ name: 'disc' });
    const url = await newToken(disc.endpoint, names.length);
    members = await startMembers(kind, url, names);
    await Promise.all(members.map((m) => m.waitHealthy(READY_MS)));
    await checkCluster(members, url);
    await body({ disc, url, members, extra });
  } finally {
    await stopAll([...members, ...extra]);
    await disc?.stop();
    if (disc !== undefined) removeDir(disc.dataDir);
  }
}

describe('discovery (etcd v2 discovery protocol)', { timeout: 300_000 }, () => {
  test('the v2 keys subset answers as etcd 3.4 --enable-v2 does', async () => {
    let etcd: EtcdHandle | undefined;
    let node: KvNode | undefined;
    try {
      etcd = await startEtcd({ extraArgs: ['--enable-v2'] });
      node = await startKvNode({ name: 'v2' });
      const token = 'cmp-token';
      const want = await runScript(etcd.endpoint, token);
      const got = await runScript(node.endpoint, token);
      for (let i = 0; i < want.length; i++) assert.equal(got[i], want[i], `step ${i}`);
      // A path outside the subset is a v2 error that names the limit, never a success.
      const res = await fetch(`http://${node.endpoint}/v2/keys/foo`, { method: 'PUT', body: 'value=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      assert.equal(res.status, 400);
      const body = (await res.json()) as { errorCode: number; message: string; cause: string };
      assert.equal(body.errorCode, 209);
      assert.equal(body.message, 'Invalid field');
      assert.match(body.cause, /^kvctl: the path \/foo is not supported: this node serves only the part of the v2 keys API that etcd's discovery protocol uses/);
      const ttl = (await (await fetch(`http://${node.endpoint}/v2/keys/_etcd/registry/t/x?ttl=5`, { method: 'PUT' })).json()) as { cause: string };
      assert.match(ttl.cause, /^kvctl: ttl is not supported/);
      // With v3 auth on, v2 requests (which carry no v3 credentials) are refused as etcd refuses them without.
      for (const args of [['user', 'add', 'root:pw'], ['auth', 'enable']]) assert.equal((await etcdctl(node.endpoint, args)).code, 0);
      const denied = await fetch(`http://${node.endpoint}/v2/keys/_etcd/registry/${token}?recursive=true`);
      assert.equal(denied.status, 401);
      assert.equal(await denied.text(), '{"errorCode":110,"message":"The request requires user authentication","cause":"Insufficient credentials","index":0}\n');
    } finally {
      await etcd?.stop();
      await node?.stop();
      if (node !== undefined) removeDir(node.dataDir);
    }
  });

  test('kvctl nodes bootstrap from a kvctl node; a fourth is refused; a restart needs no discovery service', async () => {
    await withKvctlDiscovery('kvctl', ['m1', 'm2', 'm3'], async ({ disc, url, members, extra }) => {
      const regs = await registrations(url);
      assert.deepEqual(
        [...regs].sort(),
        members.map((m) => [idHex(memberIdFor([m.peerUrl], url)), `${m.name}=${m.peerUrl}`]).sort(),
      );

      // A fourth member: refused before it registers, with etcd's words and kvctl's reason for not proxying.
      for (const fallback of [[], ['--discovery-fallback', 'exit']]) {
        const m4 = await spawnMember({ kind: 'kvctl', name: 'm4', host: '127.0.0.4', args: ['--discovery', url, ...fallback] });
        extra.push(m4);
        const code = await m4.waitExited(30_000);
        assert.equal(code, 1, m4.lastLog());
        assert.match(m4.lastLog(), /Error \[DISCOVERY_FAILED\]: failed to join discovery cluster \(discovery: cluster is full\)/);
        assert.equal(/kvctl node has no proxy mode/.test(m4.lastLog()), fallback.length === 0, m4.lastLog());
        assert.match(m4.lastLog(), /please generate a new discovery token and try to bootstrap again\./);
        assert.equal(existsSync(join(m4.dataDir, 'member', 'wal')), false);
      }
      assert.equal((await registrations(url)).size, 3, 'the refused member did not register');
      await checkCluster(members, url);

      // A member that lost its data dir cannot register again (its id is taken): etcd's duplicate id.
      const m1 = members[0] as MemberProcess;
      await m1.stopProcess();
      rmSync(join(m1.dataDir, 'member'), { recursive: true, force: true });
      await m1.restart();
      assert.equal(await m1.waitExited(30_000), 1, m1.lastLog());
      assert.match(m1.lastLog(), /Error \[DISCOVERY_FAILED\]: failed to join discovery cluster \(discovery: found duplicate id\)/);
      assert.ok(m1.lastLog().includes(`member "m1" has previously registered with discovery service token (${url}).`), m1.lastLog());

      // The discovery service goes away; a member restarted on its data dir does not need it.
      await disc.stop();
      const [m2, m3] = members.slice(1) as [MemberProcess, MemberProcess];
      await m2.restart();
      await m2.waitHealthy(READY_MS);
      assert.doesNotMatch(m2.lastLog(), /discovery:/);
      const list = await etcdctl(m2.endpoint, ['member', 'list']);
      assert.deepEqual(list.stdout.trimEnd().split('\n').map((l) => l.split(', ')[2]).sort(), ['m1', 'm2', 'm3']);
      assert.equal((await etcdctl(m2.endpoint, ['put', 'after-restart', 'ok'])).code, 0);
      assert.equal((await etcdctl(m3.endpoint, ['get', 'after-restart', '--print-value-only'])).stdout, 'ok\n');
    });
  });

  test('kvctl discovery new over https, with a client certificate', async () => {
    let pki: TlsFixtures | undefined;
    let node: KvNode | undefined;
    try {
      pki = makeTlsFixtures({ serverIps: ['127.0.0.1'] });
      const client = pki.client('root');
      node = await startKvNode({
        name: 'tls',
        clientScheme: 'https',
        args: ['--cert-file', pki.server.cert, '--key-file', pki.server.key, '--trusted-ca-file', pki.ca.cert, '--client-cert-auth'],
      });
      const endpoint = `https://${node.endpoint}`;
      const tls = ['--cacert', pki.ca.cert, '--cert', client.cert, '--key', client.key];
      const made = await kvctl(['discovery', 'new', '--size', '3', '--token', 'tls-token', '--endpoints', endpoint, ...tls]);
      assert.equal(made.code, 0, made.stderr);
      assert.equal(made.stdout, `https://${node.endpoint}/v2/keys/_etcd/registry/tls-token\n`);
      assert.match(made.stderr, /Discovery token tls-token for 3 member\(s\) created on https:\/\/127\.0\.0\.1:\d+\. Start each member with:/);
      const again = await kvctl(['discovery', 'new', '--size', '3', '--token', 'tls-token', '--endpoints', endpoint, ...tls]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /discovery token "tls-token" already exists on https:\/\/127\.0\.0\.1:\d+ \(a token bootstraps one cluster\): choose another --token/);
      const unverified = await kvctl(['discovery', 'new', '--size', '3', '--endpoints', endpoint]);
      assert.equal(unverified.code, 1);
      assert.match(unverified.stderr, /no endpoint could create the discovery token: .*certificate/);
    } finally {
      await node?.stop();
      if (node !== undefined) removeDir(node.dataDir);
      pki?.remove();
    }
  });

  test('kvctl nodes bootstrap from a real etcd 3.4 with --enable-v2', async () => {
    let etcd: EtcdHandle | undefined;
    let members: MemberProcess[] = [];
    try {
      etcd = await startEtcd({ extraArgs: ['--enable-v2'] });
      const url = await newToken(etcd.endpoint, 3);
      members = await startMembers('kvctl', url, ['k1', 'k2', 'k3']);
      await Promise.all(members.map((m) => m.waitHealthy(READY_MS)));
      await checkCluster(members, url);
      assert.equal((await registrations(url)).size, 3);
    } finally {
      await stopAll(members);
      await etcd?.stop();
    }
  });

  test('real etcd members bootstrap from a kvctl node, and fail with the same words as kvctl', async () => {
    await withKvctlDiscovery('etcd', ['e1', 'e2', 'e3'], async ({ disc, url, extra }) => {
      assert.equal((await registrations(url)).size, 3);

      // The same failure, one etcd and one kvctl member each: etcd's text is the reference.
      const failBoth = async (discoveryUrl: string, reason: string) => {
        const e = await spawnMember({ kind: 'etcd', name: 'x1', host: '127.0.0.4', args: ['--discovery', discoveryUrl, '--discovery-fallback', 'exit'] });
        const k = await spawnMember({ kind: 'kvctl', name: 'x2', host: '127.0.0.4', args: ['--discovery', discoveryUrl, '--discovery-fallback', 'exit'] });
        extra.push(e, k);
        assert.equal(await e.waitExited(30_000), 1, e.lastLog());
        assert.equal(await k.waitExited(30_000), 1, k.lastLog());
        const line = `failed to join discovery cluster (${reason})`;
        assert.ok(e.lastLog().includes(line), `etcd: ${e.lastLog()}`);
        assert.ok(k.lastLog().includes(line), `kvctl: ${k.lastLog()}`);
        for (const hint of [`discovery token ${discoveryUrl} was used, but failed to bootstrap the cluster.`, 'please generate a new discovery token and try to bootstrap again.']) {
          assert.ok(e.lastLog().includes(hint) && k.lastLog().includes(hint), hint);
        }
      };
      await failBoth(url, 'discovery: cluster is full');
      // No size: etcd 3.4 reports the v2 error itself (its size-not-found check never matches).
      const bare = `http://${disc.endpoint}/v2/keys/_etcd/registry/no-size`;
      const index = (await fetch(`${bare}/_config/size`)).headers.get('x-etcd-index');
      await failBoth(bare, `100: Key not found (/_etcd/registry/no-size) [${index}]`);
      // Not a v2 endpoint (a plain-text 404).
      await failBoth(`http://${disc.endpoint}/nothing-here`, 'discovery: bad discovery endpoint');
      assert.equal((await registrations(url)).size, 3);
    });
  });
});
