import { setTimeout as sleep } from 'node:timers/promises';
import { StoreUnavailableError, type StoreUnavailableReason } from '../errors.js';

/**
 * better-sqlite3 is synchronous: while it waits for a lock held by another process (busy_timeout), the
 * whole event loop waits with it, health checks included. So SQLite waits only this long at a time,
 * and the longer wait is a series of tries spaced out with timers, during which other requests run.
 */
export const BUSY_TIMEOUT_MS = 10;
/** How long a call keeps trying to get a lock held elsewhere before it is answered 503. */
export const MAX_LOCK_WAIT_MS = 5_000;
const FIRST_RETRY_MS = 5;
const MAX_RETRY_MS = 200;
/** Retry-After hints: a lock passes quickly; a full disk needs someone to act. */
const RETRY_AFTER_SECONDS: Record<StoreUnavailableReason, number> = {
  busy: 1,
  disk_full: 30,
  io_error: 30,
  unreachable: 5,
};
const MESSAGES: Record<StoreUnavailableReason, string> = {
  busy: 'the database is locked by another process; nothing was written, try again',
  disk_full: 'the database disk is full; nothing was written, try again later',
  io_error: 'the database cannot read or write its files; nothing was written, try again later',
  unreachable: 'the database cannot be reached; try again later',
};

/** Which SQLite failures mean "cannot serve now" rather than a bug; null for everything else. */
export function unavailableReason(error: unknown): StoreUnavailableReason | null {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return null;
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'busy';
  if (code === 'SQLITE_FULL') return 'disk_full';
  if (code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_READONLY')) {
    return 'io_error';
  }
  return null;
}

function unavailable(reason: StoreUnavailableReason, cause: unknown): StoreUnavailableError {
  return new StoreUnavailableError(reason, MESSAGES[reason], RETRY_AFTER_SECONDS[reason], { cause });
}

/**
 * Turns SQLite's lock, disk and I/O failures into `StoreUnavailableError`, after waiting for a lock
 * without blocking the event loop, and remembers a failed write so that readiness says so until a
 * write succeeds again.
 */
export class SqliteAvailability {
  /** Set when a call failed for lack of disk space or I/O; cleared by a successful write probe. */
  failing: StoreUnavailableReason | null = null;

  constructor(private readonly maxLockWaitMs = MAX_LOCK_WAIT_MS) {}

  /** Runs `call`, trying again on a lock held elsewhere until `maxLockWaitMs` has passed. */
  async run<R>(call: () => R | Promise<R>): Promise<R> {
    try {
      return await call();
    } catch (error) {
      return this.retry(call, error);
    }
  }

  /**
   * A view of `target` whose methods go through `run`. Methods are called on `target` itself, so
   * calls between them are not retried twice; a method that returns no promise is left as it is.
   */
  guard<T extends object>(target: T): T {
    const wrapped = new Map<PropertyKey, unknown>();
    return new Proxy(target, {
      get: (object, property) => {
        const value: unknown = Reflect.get(object, property, object);
        if (typeof value !== 'function' || property === 'constructor') return value;
        let wrapper = wrapped.get(property);
        if (!wrapper) {
          const method = value as (...args: unknown[]) => unknown;
          wrapper = (...args: unknown[]) => {
            const call = () => method.apply(object, args);
            let result: unknown;
            try {
              result = call();
            } catch (error) {
              const reason = unavailableReason(error);
              if (reason === null) throw error;
              return this.retry(call, error);
            }
            return result instanceof Promise ? result.catch((error: unknown) => this.retry(call, error)) : result;
          };
          wrapped.set(property, wrapper);
        }
        return wrapper;
      },
    });
  }

  private async retry<R>(call: () => R | Promise<R>, firstError: unknown): Promise<R> {
    const deadline = Date.now() + this.maxLockWaitMs;
    let error = firstError;
    let delay = FIRST_RETRY_MS;
    for (;;) {
      const reason = unavailableReason(error);
      if (reason === null) throw error;
      if (reason !== 'busy') {
        this.failing = reason;
        throw unavailable(reason, error);
      }
      if (Date.now() + delay > deadline) throw unavailable(reason, error);
      await sleep(delay);
      delay = Math.min(delay * 2, MAX_RETRY_MS);
      try {
        return await call();
      } catch (next) {
        error = next;
      }
    }
  }
}
