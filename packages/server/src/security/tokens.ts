import { hash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

/**
 * Bearer tokens and session tokens: random, handed to the caller once, stored only as a SHA-256
 * hash so a copy of the database does not let anyone in.
 */
export function newAccessToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Session tokens look like the platform's (a GUID), which some clients expect. */
export function newSessionToken(): string {
  return randomUUID();
}

/** SHA-256, base64url. Runs on every authenticated request, hence the one-shot `crypto.hash`. */
export function hashToken(token: string): string {
  return hash('sha256', token, 'base64url');
}

/** Random client secret for OAuth clients. */
export function newClientSecret(): string {
  return randomBytes(24).toString('base64url');
}

/**
 * A constant-time check of candidates against one secret (the admin token, checked on every admin
 * request). Digests of equal length are compared, so the secret's length does not leak either; the
 * secret's own digest is computed once.
 */
export function secretMatcher(secret: string): (candidate: string) => boolean {
  const right = digestOf(secret);
  return (candidate) => timingSafeEqual(digestOf(candidate), right);
}

const digestOf = (text: string): Buffer => hash('sha256', text, 'buffer') as unknown as Buffer;
