// etcd's reconfiguration safety rules (--strict-reconfig-check), as pure functions over the member list.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { EtcdApiError } from '../../src/proto/errors.js';
import {
  HEALTH_INTERVAL_MS,
  checkAdd,
  checkPromote,
  checkRemove,
  readyToAddVoter,
  readyToPromote,
  readyToRemoveVoter,
} from '../../src/server/kvserver/member-checks.js';
import type { Member } from '../../src/server/kvserver/membership.js';

function member(id: bigint, started = true, isLearner = false): Member {
  return { id, name: started ? `m${id}` : '', peerUrls: [`http://127.0.0.${id}:2380`], clientUrls: [], isLearner };
}

const NOW = 1_000_000;
const long = NOW - HEALTH_INTERVAL_MS - 1;
const allUp = () => long;

function refusal(fn: () => void): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof EtcdApiError);
    return err.message;
  }
  return 'allowed';
}

describe('member checks (etcd strict reconfig)', () => {
  it('adding a voter needs the started voters to stay a quorum of the grown cluster', () => {
    assert.equal(readyToAddVoter([member(1n)]), true); // 1 -> 2: allowed (restoring member by member)
    assert.equal(readyToAddVoter([member(1n), member(2n)]), true); // 2 started of 3
    assert.equal(readyToAddVoter([member(1n), member(2n, false)]), false); // 1 started of 3
    assert.equal(readyToAddVoter([member(1n), member(2n), member(3n, false)]), false); // 2 started of 4
  });

  it('removing a voter needs the started voters left to be a quorum', () => {
    assert.equal(readyToRemoveVoter([member(1n), member(2n), member(3n)], 3n), true);
    assert.equal(readyToRemoveVoter([member(1n), member(2n, false), member(3n)], 3n), false);
    assert.equal(readyToRemoveVoter([member(1n)], 1n), false); // the last member cannot go
  });

  it('promoting counts the learner as a started voter', () => {
    assert.equal(readyToPromote([member(1n)]), true);
    assert.equal(readyToPromote([member(1n), member(2n, false), member(3n, false)]), false);
  });

  it('checkAdd refuses with etcd messages: not enough started, then unhealthy', () => {
    const three = [member(1n), member(2n, false), member(3n, false)];
    assert.equal(refusal(() => checkAdd(1n, three, false, allUp, NOW)), 'etcdserver: re-configuration failed due to not enough started members');
    const two = [member(1n), member(2n)];
    assert.equal(refusal(() => checkAdd(1n, two, false, () => undefined, NOW)), 'etcdserver: unhealthy cluster');
    assert.equal(refusal(() => checkAdd(1n, two, false, () => NOW - 10, NOW)), 'etcdserver: unhealthy cluster'); // connected too recently
    assert.equal(refusal(() => checkAdd(1n, two, false, allUp, NOW)), 'allowed');
    assert.equal(refusal(() => checkAdd(1n, two, true, allUp, NOW)), 'allowed');
  });

  it('checkRemove: a learner or a member that is down can go; a healthy voter only if the rest stay a quorum', () => {
    const members = [member(1n), member(2n), member(3n), member(4n, true, true)];
    assert.equal(refusal(() => checkRemove(1n, members, 4n, () => undefined, NOW)), 'allowed');
    assert.equal(refusal(() => checkRemove(1n, members, 3n, (id) => (id === 3n ? undefined : long), NOW)), 'allowed');
    // 3 voters, 2 connected (1 and 3): removing 3 leaves 1 active of the needed 2.
    assert.equal(refusal(() => checkRemove(1n, members, 3n, (id) => (id === 3n ? long : undefined), NOW)), 'etcdserver: unhealthy cluster');
    assert.equal(refusal(() => checkRemove(1n, members, 3n, allUp, NOW)), 'allowed');
  });

  it('checkPromote refuses a learner whose log is behind 90% of the leader', () => {
    const members = [member(1n), member(2n), member(3n, true, true)];
    assert.equal(refusal(() => checkPromote(members, 80, 100)), 'etcdserver: can only promote a learner member which is in sync with leader');
    assert.equal(refusal(() => checkPromote(members, 90, 100)), 'allowed');
  });
});
