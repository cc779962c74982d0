import { AuthenticationError, errorFromResponse, parseJson } from '../errors.js';
import type { HttpResponse } from '../http/http-client.js';

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
    /** The clock in ms, injectable for tests. */
    private readonly now: () => number = () => Date.now(),
  ) {}

  get(): Promise<string> {
    const now = this.now();
    if (this.current && now < this.current.refreshAt) {
      if (this.sliding) this.current.refreshAt = now + usableFor(this.current.lifetimeMs);
      return Promise.resolve(this.current.value);
    }
    this.inflight ??= this.issue()
      .then(({ value, lifetimeMs }) => {
        this.current = { value, lifetimeMs, refreshAt: this.now() + usableFor(lifetimeMs) };
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

export interface TokenResponseShape {
  /** Starts the error message, e.g. `Session login failed`. */
  failure: string;
  /** The `code` of the error when a 2xx lacks the token. */
  invalidCode: string;
  tokenField: string;
  /** Seconds; `defaultLifetimeS` when absent or not a positive number. */
  lifetimeField: string;
  defaultLifetimeS: number;
}

/** Reads a token out of a token or login response, or throws `AuthenticationError` with the server's error. */
export function readIssuedToken(response: HttpResponse, shape: TokenResponseShape): IssuedToken {
  if (response.statusCode < 200 || response.statusCode >= 300) {
    throw errorFromResponse(response, AuthenticationError, shape.failure);
  }
  const result = parseJson(response.body) as Record<string, unknown> | undefined;
  const value = result?.[shape.tokenField];
  if (typeof value !== 'string' || value === '') {
    throw new AuthenticationError({
      ...response,
      result,
      code: shape.invalidCode,
      message: `${shape.failure}: the response has no ${shape.tokenField}`,
    });
  }
  const lifetimeS = Number(result?.[shape.lifetimeField]);
  return {
    value,
    lifetimeMs: (Number.isFinite(lifetimeS) && lifetimeS > 0 ? lifetimeS : shape.defaultLifetimeS) * 1000,
  };
}
