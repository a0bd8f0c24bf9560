// Unit tests of the agent's pure parts: template rendering, spec checks, cluster plans, the token proof.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { AgentInputError, PlanError } from '../../src/agent/errors.js';
import { checkPlan, initialCluster, localMembers, memberSpec, parseMemberArg, planWarnings, type ClusterPlan } from '../../src/agent/plan.js';
import { parseEnvFile, renderTemplate, renderText } from '../../src/agent/render.js';
import { checkSpec, envValues, memberLayout } from '../../src/agent/spec.js';
import { newNonce, newToken, sameSecret, tokenProof } from '../../src/agent/trust.js';

const plan = (over: Partial<ClusterPlan> = {}): ClusterPlan => ({
  clusterName: 'c',
  tls: false,
  runtime: 'kvctl',
  image: '',
  mode: { kind: 'static' },
  members: localMembers(3),
  settings: {},
  ...over,
});

describe('render', () => {
  test('required placeholders are replaced; a line with an empty optional one is dropped', () => {
    assert.equal(renderText('A={{a}}\nB={{b?}}\nC={{c?}}', { a: '1', b: '', c: '3' }), 'A=1\nC=3');
    assert.throws(() => renderText('X={{missing}}', {}), /no value for \{\{missing\}\}/);
  });

  test('the env file template renders etcd variables and parses back', () => {
    const p = plan();
    const spec = memberSpec(p, p.members[0] as never, { state: 'new', initialCluster: initialCluster(p), token: 'kvctl-c-12345678', tls: undefined });
    const text = renderTemplate('etcd.env', envValues(spec, memberLayout('/var/lib/a'), 'a1'));
    const env = parseEnvFile(text);
    assert.equal(env.get('ETCD_NAME'), 'm1');
    assert.equal(env.get('ETCD_DATA_DIR'), '/var/lib/a/data');
    assert.equal(env.get('ETCD_INITIAL_CLUSTER'), 'm1=http://127.0.0.1:2380,m2=http://127.0.0.2:2380,m3=http://127.0.0.3:2380');
    assert.equal(env.has('ETCD_DISCOVERY'), false);
    assert.equal(env.has('ETCD_CERT_FILE'), false);
    assert.throws(() => parseEnvFile('garbage'), /not NAME=value/);
  });

  test('discovery and DNS SRV specs carry no initial cluster', () => {
    const d = plan({ mode: { kind: 'discovery', url: 'http://127.0.0.9:2379/v2/keys/_etcd/registry/t' } });
    const spec = memberSpec(d, d.members[1] as never, { state: 'new', initialCluster: initialCluster(d), token: 'kvctl-c-12345678', tls: undefined });
    const env = parseEnvFile(renderTemplate('etcd.env', envValues(spec, memberLayout('/x'), 'a')));
    assert.equal(env.get('ETCD_DISCOVERY'), 'http://127.0.0.9:2379/v2/keys/_etcd/registry/t');
    assert.equal(env.has('ETCD_INITIAL_CLUSTER'), false);
    const s = plan({ mode: { kind: 'dns-srv', domain: 'example.test', serviceName: '', dnsServer: '127.0.0.1:5353' } });
    const srv = parseEnvFile(renderTemplate('etcd.env', envValues(memberSpec(s, s.members[0] as never, { state: 'new', initialCluster: '', token: 'kvctl-c-12345678', tls: undefined }), memberLayout('/x'), 'a')));
    assert.equal(srv.get('ETCD_DISCOVERY_SRV'), 'example.test');
    assert.equal(srv.get('ETCD_DNS_SERVER'), '127.0.0.1:5353');
  });
});

describe('spec checks', () => {
  const p = plan();
  const good = memberSpec(p, p.members[0] as never, { state: 'new', initialCluster: initialCluster(p), token: 'kvctl-c-12345678', tls: undefined });
  test('a good spec passes', () => {
    assert.equal(checkSpec(good, ['kvctl']), good);
  });
  test('bad specs are refused with what is wrong', () => {
    assert.throws(() => checkSpec(undefined, ['kvctl']), AgentInputError);
    assert.throws(() => checkSpec({ ...good, memberName: '../etc' }, ['kvctl']), /member name/);
    assert.throws(() => checkSpec({ ...good, runtime: 'etcd' }, ['kvctl']), /runtime "etcd" is not available on this agent \(it runs: kvctl\)/);
    assert.throws(() => checkSpec({ ...good, listenClientUrls: ['ftp://x:1'] }, ['kvctl']), /neither http nor https/);
    assert.throws(() => checkSpec({ ...good, advertiseClientUrls: ['https://127.0.0.1:2379'] }, ['kvctl']), /client URLs are https but the spec has no client certificate/);
    assert.throws(() => checkSpec({ ...good, discovery: 'http://d/' }, ['kvctl']), /exactly one of initial cluster, discovery URL and DNS SRV domain/);
    assert.throws(() => checkSpec({ ...good, settings: { NAME: 'x' } }, ['kvctl']), /setting NAME is part of the spec itself/);
    assert.throws(() => checkSpec({ ...good, settings: { 'heartbeat-interval': '1' } }, ['kvctl']), /not an ETCD_\* variable name/);
    assert.throws(() => checkSpec({ ...good, initialClusterToken: 'a\nETCD_X=1' }, ['kvctl']), /line break/);
    assert.throws(() => checkSpec({ ...good, runtime: 'etcd', dnsServer: '127.0.0.1:53' }, ['kvctl', 'etcd']), /kvctl runtime only/);
  });
});

describe('plans', () => {
  test('--member forms', () => {
    assert.deepEqual(parseMemberArg('a=10.0.0.1'), { name: 'a', host: '10.0.0.1', clientPort: 2379, peerPort: 2380, agentPort: 2390 });
    assert.deepEqual(parseMemberArg('a=[::1]:1:2:3'), { name: 'a', host: '::1', clientPort: 1, peerPort: 2, agentPort: 3 });
    assert.throws(() => parseMemberArg('10.0.0.1'), /expected name=host/);
    assert.throws(() => parseMemberArg('a=h:99999'), /client port "99999" is not a port number/);
  });
  test('bad plans are refused, risky ones warned about', () => {
    assert.throws(() => checkPlan(plan({ members: [] })), PlanError);
    assert.throws(() => checkPlan(plan({ members: [parseMemberArg('a=h'), parseMemberArg('a=g')] })), /member name a is given twice/);
    assert.throws(() => checkPlan(plan({ members: [parseMemberArg('a=h'), parseMemberArg('b=h')] })), /client port h:2379 is already used by a \(client\)/);
    assert.throws(() => checkPlan(plan({ members: [parseMemberArg('a=h:1:1')] })), /ports must differ/);
    assert.throws(() => checkPlan(plan({ runtime: 'docker' })), /--runtime docker needs --image/);
    assert.match(planWarnings(4).join(), /even-sized cluster \(4\) tolerates no more failures than 3 members \(quorum 3\)/);
    assert.match(planWarnings(1).join(), /tolerates no failure/);
    assert.deepEqual(planWarnings(3), []);
    assert.throws(() => localMembers(0), /between 1 and 9/);
  });
});

describe('token proof', () => {
  test('only the token holder proves the pinned certificate', () => {
    const token = newToken();
    const nonce = newNonce();
    const cert = Buffer.from('certificate bytes');
    const proof = tokenProof(token, nonce, cert);
    assert.ok(sameSecret(proof, tokenProof(token, nonce, cert)));
    assert.ok(!sameSecret(proof, tokenProof(newToken(), nonce, cert)), 'another token');
    assert.ok(!sameSecret(proof, tokenProof(token, newNonce(), cert)), 'another nonce (replay)');
    assert.ok(!sameSecret(proof, tokenProof(token, nonce, Buffer.from('a man in the middle'))), 'another certificate');
    assert.ok(!sameSecret('abc', 'abcd'));
  });
});
