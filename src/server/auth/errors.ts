/** Auth errors that etcd's API table (src/proto/errors.ts) has no entry for. */
import { KvError } from '../../base/errors.js';

export class AuthError extends KvError {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
