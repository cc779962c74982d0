import type { RetentionConfig } from '../config.js';
import type { StructuredLogger } from '../logger.js';
import type { MessageStore } from '../store/types.js';

/**
 * Deletes messages (and their attempts) past retention: delivered after 7 days, failed/cancelled
 * after 30 by default; and expired idempotency keys (services/messages.ts). Each backend deletes in
 * chunks that concurrent instances do not share, so every instance may run it.
 */
export async function purgeExpiredMessages(
  store: MessageStore,
  retention: RetentionConfig,
  now: number = Date.now(),
): Promise<number> {
  return store.purge({
    deliveredBefore: now - retention.deliveredMs,
    failedBefore: now - retention.failedMs,
    keysExpiredBy: now,
  });
}

/**
 * Runs the purge at start and then every `purgeIntervalMs`; `onPurged` hears of each run that
 * succeeded (messages removed, seconds taken). Returns a function that stops it.
 */
export function startRetention(
  store: MessageStore,
  retention: RetentionConfig,
  logger: StructuredLogger,
  onPurged?: (purged: number, seconds: number) => void,
): () => void {
  let running: Promise<void> | null = null;
  const run = () => {
    if (running) return;
    const started = performance.now();
    running = purgeExpiredMessages(store, retention)
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
