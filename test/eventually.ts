import { setTimeout as sleep } from 'node:timers/promises';

export interface EventuallyOptions {
  /** How long to keep trying, in ms (default 10 s: generous, since a passing test returns at once). */
  timeout?: number;
  /** Pause between tries, in ms (default 10). */
  interval?: number;
  /** What is awaited, for the timeout message; a function is called at the timeout (to show the last state). */
  what?: string | (() => string);
}

/**
 * The one polling helper of the test suites: calls `fn` until it returns a truthy value (which it
 * resolves to) and fails after `timeout` with the last thrown error, if any, as the cause. `fn` may be
 * a predicate (`() => list.length === 3`), a finder (`() => store.get(id)`) or an assertion that
 * returns `true` once it stops throwing.
 */
export async function eventually<T>(
  fn: () => T | Promise<T>,
  options: EventuallyOptions = {},
): Promise<NonNullable<T>> {
  const timeout = options.timeout ?? 10_000;
  const interval = options.interval ?? 10;
  const deadline = performance.now() + timeout;
  let lastError: unknown;
  for (;;) {
    try {
      const result = await fn();
      if (result) return result as NonNullable<T>;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (performance.now() >= deadline) {
      const detail = lastError instanceof Error ? `: ${lastError.message}` : '';
      const what = typeof options.what === 'function' ? options.what() : (options.what ?? 'the condition');
      throw new Error(`${what} did not hold within ${timeout} ms${detail}`, {
        cause: lastError,
      });
    }
    await sleep(interval);
  }
}
