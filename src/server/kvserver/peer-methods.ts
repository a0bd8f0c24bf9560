/**
 * The unary calls members make to each other over the peer transport besides raft messages
 * (PeerHandler.call), and what they carry. Features add their own (the lease feature's renewals).
 */
/** The methods members call on each other besides raft (PeerHandler.call). */
export const PeerMethod = {
  /** The member list and cluster id, for a member joining with --initial-cluster-state=existing. */
  members: 'cluster.members',
  memberPromote: 'member.promote',
  /** Before the leader is removed: it hands leadership to another voter and answers once that one leads. */
  leaderHandOver: 'leader.handOver',
} as const;

/** What `cluster.members` answers. */
export interface ClusterInfo {
  clusterId: string;
  members: Array<{ id: string; name: string; peerURLs: string[]; clientURLs: string[]; isLearner: boolean }>;
}
