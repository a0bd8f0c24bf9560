/** Errors of the node's request path that are not etcd API errors by themselves. */
import { KvError } from '../../base/errors.js';

/** The data directory cannot be used (wrong layout, another node's data, refused by a check). */
export class DataDirError extends KvError {
  readonly code = 'DATA_DIR_INVALID';
}

/** The server stopped before a request finished. Maps to etcd's "server stopped". */
export class ServerStoppedError extends KvError {
  readonly code = 'SERVER_STOPPED';
  constructor() {
    super('etcdserver: server stopped');
  }
}
