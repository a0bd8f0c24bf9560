/**
 * First contact between the CLI and an agent that is not enrolled yet. Both hold the bootstrap token; the
 * agent serves TLS with a self-signed certificate. The CLI pins that certificate for the connection and sends
 * a nonce; the agent answers HMAC-SHA256(token, label || nonce || SHA-256(certificate DER)). Only a holder of
 * the token can answer for the pinned certificate, so a man in the middle (with its own certificate) cannot
 * pass, and the token itself never crosses the wire except as the caller's bearer credential, which the agent
 * checks in constant time. Once enrolled, mutual TLS with the cluster's CA replaces all of this.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const label = Buffer.from('kvctl-agent-hello\0');

export function newNonce(): Buffer {
  return randomBytes(32);
}

/** A fresh bootstrap token: 32 random bytes, URL-safe. */
export function newToken(): string {
  return `kvat_${randomBytes(32).toString('base64url')}`;
}

export function tokenProof(token: string, nonce: Uint8Array, certDer: Uint8Array): Buffer {
  const certHash = createHash('sha256').update(certDer).digest();
  return createHmac('sha256', token).update(label).update(nonce).update(certHash).digest();
}

export function sameSecret(a: string | Uint8Array, b: string | Uint8Array): boolean {
  // Compared as digests: equal lengths for timingSafeEqual, and the time says nothing about the secret.
  const digest = (v: string | Uint8Array) => createHash('sha256').update(v).digest();
  return timingSafeEqual(digest(a), digest(b));
}

export const tokenMetadataKey = 'authorization';

export function bearer(token: string): string {
  return `Bearer ${token}`;
}
