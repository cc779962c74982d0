/**
 * Why a store cannot take a request right now: the database is locked by another process for longer
 * than the store waits (`busy`), its disk is full (`disk_full`), it fails to read or write its files
 * (`io_error`), or it cannot be reached (`unreachable`, a network database). Nothing was written. The
 * API answers 503 with `Retry-After`; the caller may try again, and the store recovers without a
 * restart once the cause is gone.
 */
export type StoreUnavailableReason = 'busy' | 'disk_full' | 'io_error' | 'unreachable';

export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
  constructor(
    readonly reason: StoreUnavailableReason,
    message: string,
    /** A hint for `Retry-After`. */
    readonly retryAfterSeconds = 1,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
