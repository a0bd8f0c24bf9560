/**
 * etcd's safety checks before a membership change is proposed (etcd's --strict-reconfig-check, on by
 * default): a change must not leave the cluster without a quorum of started, connected voters. Pure
 * functions over the member list and what the peer transport knows of each member's connection, so the
 * rules can be read (and tested) apart from the server.
 */
import { EtcdApiError } from '../../proto/errors.js';
import { type Member, Membership } from './membership.js';

/** How long a peer must have been connected to count as healthy for a reconfiguration (etcd's HealthInterval). */
export const HEALTH_INTERVAL_MS = 5000;

/** A learner may be promoted once its log reaches this share of the leader's (etcd's readyPercent). */
export const LEARNER_READY_PERCENT = 0.9;

/** When the stream to a member connected (ms), or undefined when it is not connected now. */
export type ActiveSince = (id: bigint) => number | undefined;

/** etcd's IsReadyToAddVotingMember: the started voters stay a quorum of the grown cluster. */
export function readyToAddVoter(voters: readonly Member[]): boolean {
  const members = voters.length + 1;
  const started = voters.filter(Membership.isStarted).length;
  // Adding a second member to a one-member cluster (restoring a cluster member by member) is allowed.
  if (started === 1 && members === 2) return true;
  return started >= Math.floor(members / 2) + 1;
}

/** etcd's IsReadyToRemoveVotingMember: the started voters left are a quorum of the shrunk cluster. */
export function readyToRemoveVoter(voters: readonly Member[], id: bigint): boolean {
  const rest = voters.filter((m) => m.id !== id);
  const started = rest.filter(Membership.isStarted).length;
  return started >= Math.floor(rest.length / 2) + 1;
}

/** etcd's IsReadyToPromoteMember: counting the learner as a started voter, the quorum holds. */
export function readyToPromote(voters: readonly Member[]): boolean {
  const members = voters.length + 1;
  const started = voters.filter(Membership.isStarted).length + 1;
  return started >= Math.floor(members / 2) + 1;
}

/** etcd's isConnectedFullySince: this member has been connected to every other voter for a while. */
export function connectedToAllSince(self: bigint, voters: readonly Member[], activeSince: ActiveSince, since: number): boolean {
  return voters.every((m) => {
    if (m.id === self) return true;
    const t = activeSince(m.id);
    return t !== undefined && t <= since;
  });
}

/** etcd's numConnectedSince: voters (this one included) connected since `since`. */
export function connectedSince(self: bigint, voters: readonly Member[], activeSince: ActiveSince, since: number): number {
  return voters.filter((m) => {
    if (m.id === self) return true;
    const t = activeSince(m.id);
    return t !== undefined && t <= since;
  }).length;
}

/** etcd's mayAddMember. */
export function checkAdd(self: bigint, members: readonly Member[], isLearner: boolean, activeSince: ActiveSince, now: number): void {
  const voters = members.filter((m) => !m.isLearner);
  if (!isLearner && !readyToAddVoter(voters)) throw new EtcdApiError('memberNotEnoughStarted');
  if (!connectedToAllSince(self, voters, activeSince, now - HEALTH_INTERVAL_MS)) throw new EtcdApiError('unhealthy');
}

/** etcd's mayRemoveMember. */
export function checkRemove(self: bigint, members: readonly Member[], id: bigint, activeSince: ActiveSince, now: number): void {
  const target = members.find((m) => m.id === id);
  // Removing a learner never costs a quorum.
  if (target?.isLearner === true) return;
  const voters = members.filter((m) => !m.isLearner);
  if (!readyToRemoveVoter(voters, id)) throw new EtcdApiError('memberNotEnoughStarted');
  // A member that is down is not part of the active quorum: removing it is safe.
  if (id !== self && activeSince(id) === undefined) return;
  const active = connectedSince(self, voters, activeSince, now - HEALTH_INTERVAL_MS);
  if (active - 1 < 1 + Math.floor((voters.length - 1) / 2)) throw new EtcdApiError('unhealthy');
}

/** etcd's mayPromoteMember (run on the leader, which knows each member's progress). */
export function checkPromote(members: readonly Member[], learnerMatch: number | undefined, leaderMatch: number): void {
  if (learnerMatch !== undefined && learnerMatch < leaderMatch * LEARNER_READY_PERCENT) throw new EtcdApiError('learnerNotReady');
  if (!readyToPromote(members.filter((m) => !m.isLearner))) throw new EtcdApiError('memberNotEnoughStarted');
}
