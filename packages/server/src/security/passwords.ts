import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * Slow hashes for client secrets and user passwords (SPEC §3). Format:
 * `scrypt$N$r$p$<salt base64>$<hash base64>`, so the cost can be raised later without breaking
 * existing hashes.
 */
const COST = { N: 16384, r: 8, p: 1 };
const KEY_LENGTH = 32;
const SALT_LENGTH = 16;

function derive(secret: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, KEY_LENGTH, { ...options, maxmem: 64 * 1024 * 1024 }, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

export async function hashPassword(secret: string): Promise<string> {
  const salt = randomBytes(SALT_LENGTH);
  const key = await derive(secret, salt, COST);
  return `scrypt$${COST.N}$${COST.r}$${COST.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Constant-time check of a secret against a stored hash; false for a malformed hash. */
export async function verifyPassword(secret: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  const salt = Buffer.from(parts[4], 'base64');
  const expected = Buffer.from(parts[5], 'base64');
  if (expected.length !== KEY_LENGTH || !Number.isInteger(N) || !Number.isInteger(r) || !Number.isInteger(p)) {
    return false;
  }
  const key = await derive(secret, salt, { N, r, p });
  return timingSafeEqual(key, expected);
}

/**
 * scrypt runs on libuv's thread pool (four threads unless UV_THREADPOOL_SIZE says otherwise), which
 * also serves DNS lookups and file I/O. Credential checks take at most this many of its threads.
 */
export const HASH_CONCURRENCY = 2;
/** Checks waiting for a thread beyond this are refused at once rather than queued for seconds. */
export const MAX_WAITING_HASHES = 64;

/** Every hashing thread is busy and the queue is full; the caller answers 503 and counts nothing. */
export class HashQueueFullError extends Error {
  override name = 'HashQueueFullError';
}

/** Credential checks with bounded concurrency and a bounded queue (first come, first served). */
export class PasswordVerifier {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly concurrency = HASH_CONCURRENCY,
    private readonly maxWaiting = MAX_WAITING_HASHES,
  ) {}

  async verify(secret: string, stored: string): Promise<boolean> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxWaiting) throw new HashQueueFullError('every credential check slot is busy');
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await verifyPassword(secret, stored);
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

/**
 * The one policy for a user's password and an OAuth client's secret chosen through the admin API:
 * 8 to 256 characters, no control characters. Generated client secrets (32 characters) meet it.
 * Logins accept any stored password; the policy applies when one is set.
 */
export const SECRET_POLICY = {
  minLength: 8,
  maxLength: 256,
  pattern: '^\\P{Cc}*$',
  description: '8 to 256 characters, no control characters',
} as const;
