// A 3-member kvctl cluster with TLS everywhere, its certificates made by kvctl's own CA (src/pki):
// https client URLs with --client-cert-auth, https peer URLs with --peer-client-cert-auth, driven by the real
// etcdctl with --cacert/--cert/--key; a member restarted with a peer certificate for the wrong address is
// refused by the others (the log says why) while the cluster keeps serving, and comes back with the right one;
// and a cluster on --auto-tls/--peer-auto-tls, whose self-signed certificates are made once and kept.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { initCa, issueCertificate, issueMemberCertificates } from '../../src/pki/index.js';
import { startCluster } from '../support/cluster.js';
import { etcdctl, withoutClientLogs } from '../support/etcdctl.js';
import { kvctl } from './kvctl.js';
import { waitFor } from '../support/wait.js';

const HOSTS = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];

describe('kvctl cluster over TLS', { timeout: 180_000 }, () => {
  let pki: string;
  let clientTls: { ca: Buffer; cert: Buffer; key: Buffer };
  let ctlTls: string[];
  /** Flags of member `mN` with its own certificates (or another peer certificate). */
  const tlsArgs = (name: string, peerCert = `${name}-peer`): string[] => [
    '--cert-file', join(pki, `${name}.crt`),
    '--key-file', join(pki, `${name}.key`),
    '--trusted-ca-file', join(pki, 'ca.crt'),
    '--client-cert-auth',
    '--peer-cert-file', join(pki, `${peerCert}.crt`),
    '--peer-key-file', join(pki, `${peerCert}.key`),
    '--peer-trusted-ca-file', join(pki, 'ca.crt'),
    '--peer-client-cert-auth',
  ];

  before(async () => {
    pki = mkdtempSync(join(tmpdir(), 'kvctl-tls-cluster-'));
    await initCa(pki);
    for (const [i, ip] of HOSTS.entries()) await issueMemberCertificates(pki, { name: `m${i + 1}`, ips: [ip] });
    // m3's peer certificate for the wrong address (a member moved without new certificates).
    await issueCertificate(pki, { profile: 'peer', name: 'm3-moved', ips: ['127.0.0.9'] });
    await issueCertificate(pki, { profile: 'client', name: 'root' });
    clientTls = { ca: readFileSync(join(pki, 'ca.crt')), cert: readFileSync(join(pki, 'root.crt')), key: readFileSync(join(pki, 'root.key')) };
    ctlTls = ['--cacert', join(pki, 'ca.crt'), '--cert', join(pki, 'root.crt'), '--key', join(pki, 'root.key')];
  });
  after(() => rmSync(pki, { recursive: true, force: true }));

  test('etcdctl with --cacert/--cert/--key against three members on https client and peer URLs', async (t) => {
    const cluster = await startCluster({
      kind: 'kvctl',
      tls: { clientUrls: true, peerUrls: true, client: clientTls },
      extraArgs: ({ name }) => tlsArgs(name),
    });
    t.after(() => cluster.stop());
    const eps = cluster.members.map((m) => `https://${m.endpoint}`);

    const list = await etcdctl(eps[0]!, [...ctlTls, 'member', 'list', '-w', 'json']);
    assert.equal(list.code, 0, list.stderr);
    const members = (JSON.parse(list.stdout) as { members: Array<{ peerURLs: string[]; clientURLs: string[] }> }).members;
    assert.deepEqual(members.map((m) => m.peerURLs[0]!.slice(0, 8)).sort(), ['https://', 'https://', 'https://']);
    assert.deepEqual(members.map((m) => m.clientURLs[0]!.slice(0, 8)).sort(), ['https://', 'https://', 'https://']);

    const health = await etcdctl(eps[0]!, [...ctlTls, 'endpoint', 'health', '--cluster']);
    assert.equal(health.code, 0, health.stderr);
    assert.equal(withoutClientLogs(health.stderr).match(/is healthy/g)?.length, 3, health.stderr);

    assert.equal((await etcdctl(eps[0]!, [...ctlTls, 'put', 'tls/k', 'v1'])).code, 0);
    const got = await etcdctl(eps[2]!, [...ctlTls, 'get', 'tls/k', '--print-value-only']);
    assert.equal(got.stdout, 'v1\n', got.stderr);

    // Without a client certificate, the member refuses and says why in its log.
    const refused = await etcdctl(eps[1]!, ['--cacert', join(pki, 'ca.crt'), 'get', 'tls/k'], { timeoutMs: 20_000 });
    assert.notEqual(refused.code, 0);
    assert.match(cluster.members[1]!.log(), /rejected connection from "127\.0\.0\.1:\d+"/);
  });

  test('a member whose peer certificate names another address is refused by the others; the cluster keeps serving', async (t) => {
    const cluster = await startCluster({
      kind: 'kvctl',
      tls: { clientUrls: true, peerUrls: true, client: clientTls },
      extraArgs: ({ name }) => tlsArgs(name),
    });
    t.after(() => cluster.stop());
    const m1 = cluster.members[0]!;
    const m3 = cluster.members[2]!;

    const swap = (from: string, to: string) => (args: readonly string[]) => args.map((a) => a.replace(join(pki, from), join(pki, to)));
    await m3.restart({ waitReady: false, editArgs: swap('m3-peer.', 'm3-moved.') });
    await waitFor(() => /rejected connection from 127\.0\.0\.3: the peer's certificate \(.*\) is valid for 127\.0\.0\.9, not 127\.0\.0\.3/.test(m1.log()), {
      timeoutMs: 15_000,
      what: "m1 refusing m3's certificate",
    });
    // Two of three members: writes go on.
    const client = cluster.client({ endpoints: [m1.endpoint] });
    await client.put('tls/while-m3-refused', 'yes');

    await m3.restart({ editArgs: swap('m3-moved.', 'm3-peer.') });
    await cluster.waitConverged();
    const local = await cluster.client({ endpoints: [m3.endpoint] }).range('tls/while-m3-refused', { serializable: true });
    assert.equal(local.kvs[0]?.value.toString(), 'yes', 'm3 caught up once its certificate was right');
  });

  test('member add --pki issues the new member\'s certificates; it joins over TLS with the printed settings', async (t) => {
    const cluster = await startCluster({
      kind: 'kvctl',
      tls: { clientUrls: true, peerUrls: true, client: clientTls },
      // m4 gets its TLS settings from what member add printed, as an operator would.
      extraArgs: ({ name }) => (name === 'm4' ? [] : tlsArgs(name)),
    });
    t.after(() => cluster.stop());
    const m4 = await cluster.prepareMember({ name: 'm4' });
    const eps = `--endpoints=${cluster.members.map((m) => m.endpoint).join(',')}`;
    // The cluster refuses changes until its members have been up for a while ("unhealthy cluster"): the
    // same command is run again, reusing the certificates it issued the first time.
    let add = await kvctl([eps, ...ctlTls, 'member', 'add', 'm4', `--peer-urls=${m4.peerUrl}`, '--learner', '--pki', pki]);
    for (let i = 0; i < 30 && /unhealthy cluster/.test(add.stderr); i++) {
      assert.match(add.stderr, /certificates for m4 are in .* but the member was not added; fix the cause and run the same command again/);
      await new Promise((r) => setTimeout(r, 500));
      add = await kvctl([eps, ...ctlTls, 'member', 'add', 'm4', `--peer-urls=${m4.peerUrl}`, '--learner', '--pki', pki]);
    }
    assert.equal(add.code, 0, add.stderr);
    const env = Object.fromEntries(
      add.stdout.split('\n').filter((l) => l.startsWith('ETCD_')).map((l) => [l.slice(0, l.indexOf('=')), JSON.parse(l.slice(l.indexOf('=') + 1)) as string]),
    );
    assert.equal(env.ETCD_PEER_CERT_FILE, join(pki, 'm4-peer.crt'));
    assert.equal(env.ETCD_CERT_FILE, join(pki, 'm4.crt'));
    assert.equal(env.ETCD_PEER_CLIENT_CERT_AUTH, 'true');
    // The peer certificate names the address of the peer URL without being told (--ip not given).
    const inspect = await kvctl(['cert', 'inspect', join(pki, 'm4-peer.crt'), '--json']);
    assert.match(inspect.stdout, /127\.0\.0\.4/);

    await cluster.startJoining(m4, { env });
    // A learner answers Status (not the health check's read), over TLS with the certificates it was given.
    const status = await etcdctl(`https://${m4.endpoint}`, [...ctlTls, 'endpoint', 'status', '-w', 'json']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /"isLearner":true/);
    const list = await etcdctl(`https://${cluster.members[0]!.endpoint}`, [...ctlTls, 'member', 'list']);
    assert.match(list.stdout, /, started, m4, https:\/\/127\.0\.0\.4:\d+, https:\/\/127\.0\.0\.4:\d+, true/);

    // Certificates that exist but do not cover the new peer URL: refused before the cluster changes.
    const again = await kvctl([eps, ...ctlTls, 'member', 'add', 'm4', '--peer-urls=https://127.0.0.5:2380', '--learner', '--pki', pki]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /certificates for m4 exist in .* but do not cover 127\.0\.0\.5/);
    const after = await etcdctl(`https://${cluster.members[0]!.endpoint}`, [...ctlTls, 'member', 'list']);
    assert.equal(after.stdout.trim().split('\n').length, 4, after.stdout);
  });

  test('--auto-tls and --peer-auto-tls: self-signed certificates made once under fixtures/ and kept across restarts', async (t) => {
    const cluster = await startCluster({
      kind: 'kvctl',
      tls: { clientUrls: true, peerUrls: true, client: { insecureSkipVerify: true } },
      extraArgs: ['--auto-tls', '--peer-auto-tls'],
    });
    t.after(() => cluster.stop());
    const m1 = cluster.members[0]!;
    const certFile = join(m1.dataDir, 'fixtures', 'peer', 'cert.pem');
    const before = readFileSync(certFile);
    assert.ok(readFileSync(join(m1.dataDir, 'fixtures', 'client', 'cert.pem')).length > 0);
    await cluster.client().put('auto/k', 'v');
    await m1.restart();
    assert.deepEqual(readFileSync(certFile), before, 'the same certificate after a restart');
    await cluster.waitConverged();
    const got = await cluster.client({ endpoints: [m1.endpoint] }).range('auto/k', { serializable: true });
    assert.equal(got.kvs[0]?.value.toString(), 'v');
  });
});
