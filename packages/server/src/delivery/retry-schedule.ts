import { parseRetryAfter } from '@ccb/sdk';
import { type AttemptError, formatAttemptError } from '../domain/attempt-error.js';
import { MessageReasons } from '../domain/reasons.js';
import type { AttemptDecision } from '../services/messages.js';

/** What one attempt looked like, as far as retrying is concerned. */
export interface AttemptResult {
  /** HTTP status, or null when no response arrived (timeout, refused connection, …). */
  statusCode: number | null;
  /** The response's `Retry-After` header, if any. */
  retryAfter?: string | null;
  /** Why the attempt failed (null when it succeeded). */
  error: AttemptError | null;
}

/** Jitter spreads retries of many messages failing together, so a recovering listener is not hit at once. */
const JITTER = 0.1;
/** A `Retry-After` asking for longer than this is shortened to it (or to the longest scheduled delay). */
const MAX_RETRY_AFTER_MS = 60 * 60 * 1000;

/**
 * The retry policy (SPEC §5): the delays between attempts, ±10% jitter, `Retry-After` honoured on
 * 429/503, and `410 Gone` ending a message at once. How many attempts a message gets is stored with it
 * (`config.delivery.maxAttempts` when published).
 */
export class RetrySchedule {
  private readonly retryAfterCapMs: number;

  constructor(
    readonly delays: readonly number[],
    private readonly random: () => number = Math.random,
  ) {
    this.retryAfterCapMs = Math.max(MAX_RETRY_AFTER_MS, ...delays);
  }

  /**
   * Decides what follows attempt `attemptNumber` of a message allowed `maxAttempts` attempts. A
   * replayed message is allowed more attempts than the schedule's; its delays restart from the first.
   */
  decide(attemptNumber: number, maxAttempts: number, result: AttemptResult, now: number): AttemptDecision {
    const status = result.statusCode;
    if (result.error === null) return { kind: 'delivered' };
    if (status === 410) return { kind: 'failed', reason: MessageReasons.gone };
    const left = maxAttempts - attemptNumber;
    if (left <= 0) return { kind: 'failed', reason: formatAttemptError(result.error) };
    return { kind: 'retry', nextAttemptAt: now + this.delayBefore(left, status, result.retryAfter ?? null, now) };
  }

  /** The wait before the next attempt when `attemptsLeft` remain. */
  delayBefore(attemptsLeft: number, statusCode: number | null, retryAfter: string | null, now: number): number {
    if ((statusCode === 429 || statusCode === 503) && retryAfter) {
      const asked = parseRetryAfter(retryAfter, now);
      if (asked !== undefined) return Math.min(asked, this.retryAfterCapMs);
    }
    if (this.delays.length === 0) return 0;
    const index = Math.min(Math.max(this.delays.length - attemptsLeft, 0), this.delays.length - 1);
    const base = this.delays[index];
    return Math.max(0, Math.round(base * (1 + JITTER * (2 * this.random() - 1))));
  }
}
