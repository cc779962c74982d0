import { createHmac } from 'node:crypto';
import { LRUCache } from 'lru-cache';

const PREFIX = 'whsec_';

/** The key bytes of a `whsec_…` secret (a secret without the prefix is taken as base64 as well). */
export function secretKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret, 'base64');
}

/** The secrets a registration signs with at `now`: the current one, and the previous one during its grace. */
export interface SigningSecrets {
  signingSecret: string;
  previousSecret: string | null;
  previousSecretExpiresAt: number | null;
}

/**
 * Standard Webhooks signatures: `v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>`, one per valid
 * secret, space-separated. Decoded keys are cached so each delivery costs one HMAC per secret.
 */
/** What a signature covers (`id.timestamp.body`) and when it is made (for the previous secret's grace). */
export interface SignedContent {
  id: string;
  timestampSeconds: number;
  body: string;
  now: number;
}

export class Signer {
  /** Rotations add keys over the life of a process; a bounded cache keeps that from growing forever. */
  private readonly keys = new LRUCache<string, Buffer>({ max: 10_000 });

  sign(secrets: SigningSecrets, { id, timestampSeconds, body, now }: SignedContent): string {
    const current = this.signWith(secrets.signingSecret, id, timestampSeconds, body);
    const previous = secrets.previousSecret;
    if (previous && secrets.previousSecretExpiresAt !== null && secrets.previousSecretExpiresAt > now) {
      return `${current} ${this.signWith(previous, id, timestampSeconds, body)}`;
    }
    return current;
  }

  signWith(secret: string, id: string, timestampSeconds: number, body: string): string {
    let key = this.keys.get(secret);
    if (!key) {
      key = secretKey(secret);
      this.keys.set(secret, key);
    }
    const mac = createHmac('sha256', key).update(`${id}.${timestampSeconds}.`).update(body).digest('base64');
    return `v1,${mac}`;
  }
}
