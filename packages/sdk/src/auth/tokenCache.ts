export interface IssuedToken {
  value: string;
  /** How long the token lives from now (or, for a sliding token, from its last use). */
  lifetimeMs: number;
}

/** Refresh this much before expiry: a tenth of the lifetime, at most one minute. */
function usableFor(lifetimeMs: number): number {
  return lifetimeMs - Math.min(60_000, lifetimeMs / 10);
}

/**
 * One credential, fetched on first use and reused until shortly before it expires. Concurrent callers
 * share a single fetch in flight. A `sliding` token (the session, which dies after idle minutes) has its
 * deadline pushed back on every use.
 */
export class TokenCache {
  private current: { value: string; lifetimeMs: number; refreshAt: number } | undefined;
  private inflight: Promise<string> | undefined;

  constructor(
    private readonly issue: () => Promise<IssuedToken>,
    private readonly sliding = false,
  ) {}

  get(): Promise<string> {
    const now = Date.now();
    if (this.current && now < this.current.refreshAt) {
      if (this.sliding) this.current.refreshAt = now + usableFor(this.current.lifetimeMs);
      return Promise.resolve(this.current.value);
    }
    this.inflight ??= this.issue()
      .then(({ value, lifetimeMs }) => {
        this.current = { value, lifetimeMs, refreshAt: Date.now() + usableFor(lifetimeMs) };
        return value;
      })
      .finally(() => {
        this.inflight = undefined;
      });
    return this.inflight;
  }

  /**
   * Forgets the token if it is still the one a refused request carried, so the next `get()` fetches a new
   * one; concurrent refusals of the same token cause a single new fetch.
   */
  invalidate(refused: string): void {
    if (this.current?.value === refused) this.current = undefined;
  }
}
