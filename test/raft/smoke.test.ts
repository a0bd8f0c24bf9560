import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StateType } from '../../src/server/raft/index.js';
import { Network } from '../sim/network.js';

test('three nodes elect a leader and replicate a proposal', () => {
  const nt = new Network([null, null, null]);
  nt.campaign(1);
  assert.equal(nt.raft(1).state, StateType.Leader);
  assert.equal(nt.raft(2).state, StateType.Follower);
  nt.propose(1, 'hello');
  for (const id of [1, 2, 3]) {
    assert.equal(nt.raft(id).raftLog.committed, 2, `node ${id}`);
  }
});
