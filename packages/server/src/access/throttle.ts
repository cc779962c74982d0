import type { AccessStore } from '../store/types.js';

/**
 * Failed credential checks allowed per caller address within one window, at the token endpoint and
 * at login together (also through the portal's sign-in). Each check costs a slow hash, so the limit keeps
 * one caller's flood of wrong secrets from taking the hashing threads away from everyone else.
 */
export const MAX_FAILED_ATTEMPTS = 10;
export const FAILED_ATTEMPTS_WINDOW_MS = 60_000;
/**
 * Failed checks of one OAuth client's secret per window, from every address together, beyond which
 * each further check waits `CLIENT_CEILING_DELAY_MS` first. A ceiling that only delays: callers a
 * stranger can name (a client id is not a secret) must never be refused because of them.
 */
export const CLIENT_CEILING = 100;
export const CLIENT_CEILING_DELAY_MS = 1_000;

/** What one attempt was counted under, to give back when it succeeds (or was never checked). */
export interface CountedAttempt {
  keys: string[];
}

export class TooManyAttemptsError extends Error {
  override name = 'TooManyAttemptsError';
  constructor(readonly retryAfterSeconds: number) {
    super(`too many failed attempts; try again in ${retryAfterSeconds} s`);
  }
}

/**
 * Counts credential attempts in fixed windows, in the database, so that every instance shares one
 * count (two instances allow the documented 10, not 20). An attempt is counted when it starts (before
 * the hash), so a burst sent at once cannot get more checks than the limit; a success gives its count
 * back. Keys are the caller's address (refused beyond the limit) and the OAuth client (delayed beyond
 * its ceiling, never refused); see docs/access.md.
 */
export class AttemptThrottle {
  constructor(
    private readonly store: AccessStore,
    private readonly clock: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  /**
   * Counts one attempt from `address` (for the client `clientId`, when the attempt checks a client
   * secret); throws TooManyAttemptsError when the address is over its limit, waits when the client is
   * over its ceiling.
   */
  async admit(address: string, clientId: string | null): Promise<CountedAttempt> {
    const now = this.clock();
    const addressKey = `address:${address}`;
    const counted = await this.store.countAttempt(addressKey, now, FAILED_ATTEMPTS_WINDOW_MS);
    if (counted.attempts > MAX_FAILED_ATTEMPTS) {
      // A refused attempt is not checked, so it does not count (as before it was counted).
      await this.store.releaseAttempt(addressKey, now);
      throw new TooManyAttemptsError(Math.max(1, Math.ceil((counted.windowEndsAt - now) / 1000)));
    }
    if (clientId === null) return { keys: [addressKey] };
    const clientKey = `client:${clientId}`;
    const client = await this.store.countAttempt(clientKey, now, FAILED_ATTEMPTS_WINDOW_MS);
    if (client.attempts > CLIENT_CEILING) await this.sleep(CLIENT_CEILING_DELAY_MS);
    return { keys: [addressKey, clientKey] };
  }

  /** Gives back an attempt that succeeded, or that was never checked (the server was too busy). */
  async release(attempt: CountedAttempt): Promise<void> {
    const now = this.clock();
    for (const key of attempt.keys) await this.store.releaseAttempt(key, now);
  }
}
