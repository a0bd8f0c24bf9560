/**
 * What the auth store needs of the backend: three buckets with etcd's names and layout (`auth` holds
 * `authEnabled` = [1]/[0] and `authRevision` = 8-byte big-endian; `authUsers` maps a user name to an
 * authpb.User; `authRoles` a role name to an authpb.Role). The node passes its lmdb buckets (writes happen
 * inside the apply batch); tests pass `memoryAuthBuckets()`.
 */

export interface AuthBucket {
  get(key: Uint8Array): Buffer | undefined;
  put(key: Uint8Array, value: Uint8Array): void;
  delete(key: Uint8Array): boolean;
  /** Every entry in key byte order. */
  entries(): Iterable<[Buffer, Buffer]>;
}

export interface AuthBuckets {
  readonly auth: AuthBucket;
  readonly users: AuthBucket;
  readonly roles: AuthBucket;
}

/** An in-memory bucket (sorted by key bytes on read), for tests and simulations. */
export class MemoryAuthBucket implements AuthBucket {
  private readonly data = new Map<string, Buffer>();

  get(key: Uint8Array): Buffer | undefined {
    return this.data.get(Buffer.from(key).toString('hex'));
  }

  put(key: Uint8Array, value: Uint8Array): void {
    this.data.set(Buffer.from(key).toString('hex'), Buffer.from(value));
  }

  delete(key: Uint8Array): boolean {
    return this.data.delete(Buffer.from(key).toString('hex'));
  }

  entries(): Iterable<[Buffer, Buffer]> {
    // Hex of bytes sorts like the bytes themselves.
    return [...this.data.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]): [Buffer, Buffer] => [Buffer.from(k, 'hex'), v]);
  }
}

export function memoryAuthBuckets(): AuthBuckets {
  return { auth: new MemoryAuthBucket(), users: new MemoryAuthBucket(), roles: new MemoryAuthBucket() };
}
