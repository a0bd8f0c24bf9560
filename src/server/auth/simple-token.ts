/**
 * etcd's simple tokens (server/auth/simple_token.go): `<16 random letters>.<raft index of the authenticate
 * entry>`, kept in memory by every member that applied the entry, and forgotten after --auth-token-ttl
 * (300 s by default) without use. Each use restarts the TTL. Tokens never reach the disk: after a restart
 * (or `auth disable`) clients authenticate again, as they do with etcd.
 *
 * The random prefix is drawn by the member that receives the Authenticate call, before proposing, so that
 * applying the entry is deterministic. Time comes from an injected clock so that expiry can be tested.
 */

/** etcd's default --auth-token-ttl, in milliseconds. */
export const DEFAULT_TOKEN_TTL_MS = 300_000;

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const PREFIX_LENGTH = 16;

/** A token prefix: 16 letters drawn with `randomInt(n)` (uniform in [0, n)). */
export function genTokenPrefix(randomInt: (n: number) => number): string {
  let s = '';
  for (let i = 0; i < PREFIX_LENGTH; i++) s += LETTERS[randomInt(LETTERS.length)] ?? 'a';
  return s;
}

interface Entry {
  readonly username: string;
  expiresAt: number;
}

export interface SimpleTokensOptions {
  readonly ttlMs?: number;
  /** Milliseconds on any monotonic scale (Date.now by default). */
  readonly now?: () => number;
}

export class SimpleTokens {
  readonly ttlMs: number;
  private readonly now: () => number;
  private readonly tokens = new Map<string, Entry>();
  private enabled = false;

  constructor(opts: SimpleTokensOptions = {}) {
    this.ttlMs = opts.ttlMs ?? DEFAULT_TOKEN_TTL_MS;
    this.now = opts.now ?? Date.now;
  }

  /** Auth was turned on (or found on at start): tokens may be assigned. */
  enable(): void {
    this.enabled = true;
  }

  /** Auth was turned off: every token is void. */
  disable(): void {
    this.enabled = false;
    this.tokens.clear();
  }

  get size(): number {
    return this.tokens.size;
  }

  /** Records the token `<prefix>.<index>` for `username` and returns it. */
  assign(prefix: string, index: number, username: string): string {
    this.sweep();
    const token = `${prefix}.${index}`;
    if (this.enabled) this.tokens.set(token, { username, expiresAt: this.now() + this.ttlMs });
    return token;
  }

  /** The user a live token belongs to (its TTL restarts), or undefined for an unknown or expired token. */
  info(token: string): string | undefined {
    const e = this.tokens.get(token);
    if (e === undefined) return undefined;
    const now = this.now();
    if (now >= e.expiresAt) {
      this.tokens.delete(token);
      return undefined;
    }
    e.expiresAt = now + this.ttlMs;
    return e.username;
  }

  /** Voids every token of a user (deleted, or its password changed). */
  invalidateUser(username: string): void {
    for (const [t, e] of this.tokens) if (e.username === username) this.tokens.delete(t);
  }

  /** Drops expired tokens, so that the map stays bounded by the tokens used within one TTL. */
  private sweep(): void {
    const now = this.now();
    for (const [t, e] of this.tokens) if (now >= e.expiresAt) this.tokens.delete(t);
  }
}
