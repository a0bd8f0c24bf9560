/**
 * The peer transport: raft messages, snapshots and unary calls between cluster members (gRPC on the peer
 * URLs). See transport.ts for the surface and types.ts for the contract with the node.
 */
export { PeerTransport, type PeerTransportOptions, callPeerUrl } from './transport.js';
export type { PeerStats } from './peer-link.js';
export { PeerCallError, PeerUnreachableError, refusal } from './errors.js';
export type { DeliveryReports, PeerHandler, SnapshotPayload } from './types.js';
export type { PeerDial, PeerTls } from './tls.js';
