import type { RetrySettings } from '../configuration.js';
import { ConnectionError, TimeoutError } from '../errors.js';
import type { HttpRequest, HttpResponse } from './http-client.js';

/**
 * Re-sends a request after a connection error, a timeout or a retryable status, with exponential
 * backoff and full jitter, or after the server's `Retry-After`; every wait is capped at `maxDelayMs`.
 * Requests that are not idempotent are sent once unless `retryPost` is set.
 */
export class RetryPolicy {
  constructor(
    readonly settings: RetrySettings,
    /** Time and chance, injectable so tests can check every wait without waiting. */
    private readonly clock: RetryClock = SYSTEM_CLOCK,
  ) {}

  async send(
    request: HttpRequest,
    send: (request: HttpRequest) => Promise<HttpResponse>,
    { idempotent }: { idempotent: boolean },
  ): Promise<HttpResponse> {
    const retryable = idempotent || this.settings.retryPost;
    for (let attempt = 0; ; attempt++) {
      const mayRetry = retryable && attempt < this.settings.maxRetries;
      let response: HttpResponse;
      try {
        response = await send(request);
      } catch (error) {
        if (!mayRetry || !this.retriesError(error)) throw error;
        await this.clock.sleep(this.backoff(attempt));
        continue;
      }
      if (!mayRetry || !this.settings.retryOnStatus.includes(response.statusCode)) return response;
      const retryAfter = parseRetryAfter(response.headers['retry-after'], this.clock.now());
      await this.clock.sleep(Math.min(retryAfter ?? this.backoff(attempt), this.settings.maxDelayMs));
    }
  }

  private retriesError(error: unknown): boolean {
    if (error instanceof TimeoutError) return this.settings.retryOnTimeout;
    if (error instanceof ConnectionError) return this.settings.retryOnConnectionError;
    return false;
  }

  /** Full jitter: uniform in [0, min(maxDelayMs, initialDelayMs · 2^attempt)). */
  private backoff(attempt: number): number {
    return this.clock.random() * Math.min(this.settings.maxDelayMs, this.settings.initialDelayMs * 2 ** attempt);
  }
}

/** What RetryPolicy needs of time and chance. */
export interface RetryClock {
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Uniform in [0, 1), for the jitter. */
  random(): number;
}

const SYSTEM_CLOCK: RetryClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: () => Math.random(),
};

/**
 * `Retry-After` in milliseconds from now: delay-seconds (whole seconds, RFC 9110) or an HTTP date (never
 * negative); `undefined` when absent or unreadable. The one reading of the header, shared by the SDK's
 * retries and the server's delivery engine.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // An HTTP date always names its month; this keeps lenient Date.parse from reading "-5" as a year.
  if (!/[a-z]{3}/i.test(trimmed)) return undefined;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
