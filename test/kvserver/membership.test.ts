// The membership's apply-time validation (etcd's ValidateConfigurationChange) and its bookkeeping of
// removed members, over a real backend.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { noopLogger } from '../../src/base/logger.js';
import { Membership, encodeMemberContext } from '../../src/server/kvserver/membership.js';
import { Backend } from '../../src/server/mvcc/backend.js';
import { type ConfChange, ConfChangeType } from '../../src/server/raft/index.js';

const dir = mkdtempSync(join(tmpdir(), 'kvctl-membership-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function open(name: string): { backend: Backend; m: Membership } {
  const backend = Backend.open({ path: join(dir, name) });
  return { backend, m: new Membership(backend.members, backend.membersRemoved, noopLogger) };
}

function cc(type: ConfChange['type'], id: bigint, urls: string[] = [], opts: { learner?: boolean; promote?: boolean } = {}): ConfChange {
  const context = type === ConfChangeType.RemoveNode ? new Uint8Array(0) : encodeMemberContext({ id, peerUrls: urls, isLearner: opts.learner ?? false, isPromote: opts.promote ?? false });
  return { type, nodeId: id, context, id: 0n };
}

function apply(b: Backend, m: Membership, change: ConfChange): string | undefined {
  const err = m.validateConfChange(change);
  if (err !== undefined) return err.message;
  b.batch(() => m.applyConfChange(change));
  return undefined;
}

describe('membership validation', () => {
  it('refuses duplicates, taken peer URLs, a second learner, and unknown or removed members', async () => {
    const { backend: b, m } = open('a');
    try {
      assert.equal(apply(b, m, cc(ConfChangeType.AddNode, 1n, ['http://h1:2380'])), undefined);
      assert.equal(apply(b, m, cc(ConfChangeType.AddNode, 1n, ['http://h9:2380'])), 'etcdserver: member ID already exist');
      assert.equal(apply(b, m, cc(ConfChangeType.AddNode, 2n, ['http://h1:2380'])), 'etcdserver: Peer URLs already exists');
      assert.equal(apply(b, m, cc(ConfChangeType.AddLearnerNode, 3n, ['http://h3:2380'], { learner: true })), undefined);
      assert.equal(apply(b, m, cc(ConfChangeType.AddLearnerNode, 4n, ['http://h4:2380'], { learner: true })), 'etcdserver: too many learner members in cluster');
      assert.equal(apply(b, m, cc(ConfChangeType.AddNode, 1n, ['http://h1:2380'], { promote: true })), 'etcdserver: can only promote a learner member');
      assert.equal(apply(b, m, cc(ConfChangeType.AddNode, 3n, ['http://h3:2380'], { promote: true })), undefined);
      assert.equal(m.get(3n)?.isLearner, false);
      assert.equal(apply(b, m, cc(ConfChangeType.UpdateNode, 3n, ['http://h1:2380'])), 'etcdserver: Peer URLs already exists');
      assert.equal(apply(b, m, cc(ConfChangeType.UpdateNode, 3n, ['http://h33:2380'])), undefined);
      assert.deepEqual(m.get(3n)?.peerUrls, ['http://h33:2380']);
      assert.equal(apply(b, m, cc(ConfChangeType.RemoveNode, 9n)), 'etcdserver: member not found');
      assert.equal(apply(b, m, cc(ConfChangeType.RemoveNode, 3n)), undefined);
      assert.equal(m.isRemoved(3n), true);
      // A removed id never comes back.
      assert.equal(apply(b, m, cc(ConfChangeType.AddNode, 3n, ['http://h3:2380'])), 'etcdserver: member not found');
    } finally {
      await b.close();
    }
  });

  it('keeps members and removed ids across a reopen, and reloads them after the backend changes', async () => {
    const first = open('b');
    first.backend.batch(() => {
      first.m.applyConfChange(cc(ConfChangeType.AddNode, 1n, ['http://h1:2380']));
      first.m.applyConfChange(cc(ConfChangeType.AddNode, 2n, ['http://h2:2380']));
      first.m.applyConfChange(cc(ConfChangeType.RemoveNode, 2n));
      first.m.setAttributes(1n, 'm1', ['http://h1:2379']);
    });
    await first.backend.close();
    const again = open('b');
    try {
      assert.deepEqual(again.m.list().map((x) => [x.id, x.name]), [[1n, 'm1']]);
      assert.equal(again.m.isRemoved(2n), true);
      again.backend.batch(() => again.backend.members.delete(Buffer.from('1')));
      again.m.reload();
      assert.deepEqual(again.m.list(), []);
    } finally {
      await again.backend.close();
    }
  });
});
