/**
 * The root of kvctl's error hierarchy.
 *
 * Every module defines its own subclasses (in its `errors.ts`) whose messages carry the module prefix
 * ("raft: ...", "wal: ...", "mvcc: ..."). The gRPC edge maps classes to etcd's exact messages and codes in
 * one place; nothing inside the server matches on message text.
 */
export abstract class KvError extends Error {
  /** A stable machine-readable code, e.g. `RAFT_PROPOSAL_DROPPED`. */
  abstract readonly code: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}
