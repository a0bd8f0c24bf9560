/**
 * Password hashes as etcd stores them: bcrypt (`$2a$<cost>$...`, Go's x/crypto/bcrypt format) with etcd's
 * default --bcrypt-cost of 10. The member that receives UserAdd/UserChangePassword hashes before proposing
 * and sends the hash base64-encoded in `hashed_password` (etcd 3.5's wire format), so that applying the
 * entry does no random work and every member stores the same bytes.
 */
import bcrypt from 'bcryptjs';

/** etcd's default --bcrypt-cost (Go's bcrypt.DefaultCost). */
export const DEFAULT_BCRYPT_COST = 10;

/** bcryptjs writes `$2b$`; Go writes `$2a$`. The two name the same algorithm for passwords under 255 bytes. */
function goSalt(salt: string): string {
  return salt.replace(/^\$2b\$/, '$2a$');
}

/** The `hashed_password` field for `password`: base64 of the bcrypt hash string. */
export async function hashPassword(password: string, cost = DEFAULT_BCRYPT_COST): Promise<string> {
  const hash = await bcrypt.hash(password, goSalt(await bcrypt.genSalt(cost)));
  return Buffer.from(hash, 'utf8').toString('base64');
}

/** The stored hash for a plain password met in apply (entries written by etcd before 3.5 carry those). */
export function hashPasswordSync(password: string, cost = DEFAULT_BCRYPT_COST): Buffer {
  return Buffer.from(bcrypt.hashSync(password, goSalt(bcrypt.genSaltSync(cost))), 'utf8');
}

/** Whether `password` matches a stored bcrypt hash (false for an empty or malformed hash). */
export async function passwordMatches(password: string, stored: Uint8Array): Promise<boolean> {
  if (stored.length === 0) return false;
  try {
    return await bcrypt.compare(password, Buffer.from(stored).toString('utf8'));
  } catch {
    return false;
  }
}
