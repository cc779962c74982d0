import { LRUCache } from 'lru-cache';

/**
 * Failed credential checks allowed per key (a source address, an OAuth client id) within one window,
 * at the token endpoint and at login together. Each check costs a slow hash, so the limit is what keeps
 * a flood of wrong secrets from taking the hashing threads away from everyone else.
 */
export const MAX_FAILED_ATTEMPTS = 10;
export const FAILED_ATTEMPTS_WINDOW_MS = 60_000;
/** Keys remembered at once; the oldest are forgotten first, which only ever lets an attempt through. */
const MAX_KEYS = 50_000;

interface Window {
  attempts: number;
  resetsAt: number;
}

/**
 * Counts credential attempts per key in fixed windows. An attempt is counted when it starts (before the
 * hash), so a burst sent at once cannot get more checks than the limit; a success gives its count back.
 */
export class AttemptThrottle {
  private readonly windows = new LRUCache<string, Window>({ max: MAX_KEYS });

  constructor(
    private readonly maxAttempts = MAX_FAILED_ATTEMPTS,
    private readonly windowMs = FAILED_ATTEMPTS_WINDOW_MS,
  ) {}

  /**
   * Counts one attempt under every key; when any key is at its limit nothing is counted and the
   * answer is the number of seconds until that key's window ends.
   */
  reserve(keys: readonly string[], now: number): number | null {
    const windows = keys.map((key) => {
      const current = this.windows.get(key);
      return current && current.resetsAt > now ? current : { attempts: 0, resetsAt: now + this.windowMs };
    });
    const full = windows.filter((window) => window.attempts >= this.maxAttempts);
    if (full.length > 0) return Math.ceil((Math.max(...full.map((w) => w.resetsAt)) - now) / 1000);
    keys.forEach((key, i) => {
      windows[i].attempts++;
      this.windows.set(key, windows[i]);
    });
    return null;
  }

  /** Gives back attempts that succeeded, or that were never checked (the server was too busy). */
  release(keys: readonly string[]): void {
    for (const key of keys) {
      const window = this.windows.get(key);
      if (window && window.attempts > 0) window.attempts--;
    }
  }
}
