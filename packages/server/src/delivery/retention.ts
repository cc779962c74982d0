import type { RetentionConfig } from '../config.js';
import type { StructuredLogger } from '../logger.js';
import type { MessageStore } from '../store/types.js';

/**
 * Deletes messages (and their attempts) past retention: delivered after 7 days, failed/cancelled
 * after 30 by default; and expired idempotency keys (services/messages.ts). SQLite deletes in chunks;
 * PostgreSQL drops whole time partitions (see PostgresMessageStore.purge). Every instance may run it.
 */
export async function purgeExpiredMessages(
  store: MessageStore,
  retention: RetentionConfig,
  now: number = Date.now(),
): Promise<number> {
  // On a partitioned store, a cutoff between two partition boundaries would delete the older part of
  // a partition row by row; rounded down, it drops whole partitions only (rows stay at most one step
  // longer than their retention).
  const step = store.retentionStepMs;
  const floor = (cutoff: number) => (step ? cutoff - (((cutoff % step) + step) % step) : cutoff);
  return store.purge({
    deliveredBefore: floor(now - retention.deliveredMs),
    failedBefore: floor(now - retention.failedMs),
    keysExpiredBy: now,
  });
}

/** What `startRetention` runs with. */
export interface RetentionOptions {
  store: MessageStore;
  retention: RetentionConfig;
  logger: StructuredLogger;
  /** Hears of each run that succeeded (messages removed, seconds taken). */
  onPurged?: (purged: number, seconds: number) => void;
  /** `Date.now` by default. */
  clock?: () => number;
}

/**
 * Runs the purge at start and then every `purgeIntervalMs`; `onPurged` hears of each run that
 * succeeded. Returns a function that stops it.
 */
export function startRetention({ store, retention, logger, onPurged, clock = Date.now }: RetentionOptions): () => void {
  let running: Promise<void> | null = null;
  const run = () => {
    if (running) return;
    const started = performance.now();
    running = purgeExpiredMessages(store, retention, clock())
      .then((purged) => {
        const seconds = (performance.now() - started) / 1000;
        onPurged?.(purged, seconds);
        if (purged > 0) logger.info({ purged, ms: Math.round(seconds * 1000) }, 'purged messages past retention');
      })
      .catch((error) => logger.error({ err: error }, 'purging messages past retention failed'))
      .finally(() => {
        running = null;
      });
  };
  const first = setTimeout(run, 1_000);
  const timer = setInterval(run, retention.purgeIntervalMs);
  first.unref();
  timer.unref();
  return () => {
    clearTimeout(first);
    clearInterval(timer);
  };
}
