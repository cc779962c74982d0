import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { SendResult } from './delivery/send-result.js';
import type { AttemptError } from './domain/attempt-error.js';
import { type HandBackReason, HandBackReasons } from './domain/hand-back.js';
import type { OpenMessageStats } from './store/types.js';

/** Scrapes closer together than this share one reading of the open messages. */
const STATS_CACHE_MS = 1_000;

/**
 * A server's Prometheus metrics, in a registry of its own (GET /metrics), so two servers in one
 * process (tests) count apart. Counters are bumped where things happen; the queue gauges are read
 * from the store when scraped.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly messagesPublished = new Counter({
    name: 'ccb_messages_published_total',
    help: 'Callback messages accepted by the publish endpoints',
    labelNames: ['service'] as const,
    registers: [this.registry],
  });

  readonly attemptsTotal = new Counter({
    name: 'ccb_attempts_total',
    help: 'Delivery attempts by outcome: success, http_4xx, http_5xx, or the failure kind (redirect, timeout, connection_refused, url_guard, …)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly attemptDuration = new Histogram({
    name: 'ccb_attempt_duration_seconds',
    help: 'Duration of delivery attempts, from sending the request to reading the response excerpt',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30],
    registers: [this.registry],
  });

  readonly messagesHandedBack = new Counter({
    name: 'ccb_messages_handed_back_total',
    help: `Claimed messages the dispatcher gave back to the store undelivered, by reason (${Object.values(HandBackReasons).join(', ')})`,
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly purgeDuration = new Histogram({
    name: 'ccb_retention_purge_duration_seconds',
    help: 'Duration of each run of the retention purge',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });

  readonly messagesPurged = new Counter({
    name: 'ccb_messages_purged_total',
    help: 'Messages removed by the retention purge',
    registers: [this.registry],
  });

  /** Where the queue gauges read from; set by the metrics route of the running server. */
  private statsSource: (() => Promise<OpenMessageStats>) | null = null;
  /** The last reading, shared by the scrapes of the next STATS_CACHE_MS. */
  private cached: { at: number; stats: OpenMessageStats } | null = null;
  /** The reading under way: scrapes that arrive meanwhile wait for it instead of starting their own. */
  private reading: Promise<OpenMessageStats> | null = null;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    const queueStats = () => this.queueStats();
    const queueGauge = (name: string, help: string, value: (stats: OpenMessageStats | null) => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        async collect() {
          this.set(value(await queueStats()));
        },
      });
    queueGauge('ccb_queue_depth', 'Messages waiting for delivery (pending + delivering)', (stats) =>
      stats ? stats.pending + stats.delivering : 0,
    );
    queueGauge(
      'ccb_oldest_due_message_age_seconds',
      'How long the oldest due message has been waiting since it became due (0 when none)',
      (stats) => (stats?.oldestDueAgeMs ?? 0) / 1000,
    );
    new Gauge({
      name: 'ccb_messages',
      // Finished messages are not counted here: that would read the whole retained history on every scrape.
      help: 'Open messages by status (pending, delivering); finished ones are counted by GET /admin/v1/stats',
      labelNames: ['status'] as const,
      registers: [this.registry],
      async collect() {
        const stats = await queueStats();
        if (!stats) return;
        this.set({ status: 'pending' }, stats.pending);
        this.set({ status: 'delivering' }, stats.delivering);
      },
    });
  }

  setQueueStatsSource(source: () => Promise<OpenMessageStats>): void {
    this.statsSource = source;
    this.cached = null;
  }

  /** Forgets `source` if it is still the current one (a closed server's store must not be read). */
  clearQueueStatsSource(source: () => Promise<OpenMessageStats>): void {
    if (this.statsSource === source) {
      this.statsSource = null;
      this.cached = null;
      this.reading = null;
    }
  }

  /**
   * The open messages' counts for one scrape: the cached reading while it is fresh, else one reading
   * shared by every scrape that asks before it ends (single flight), so concurrent scrapers never
   * run more than one query at a time.
   */
  private async queueStats(): Promise<OpenMessageStats | null> {
    const source = this.statsSource;
    if (!source) return null;
    if (this.cached && Date.now() - this.cached.at <= STATS_CACHE_MS) return this.cached.stats;
    if (!this.reading) {
      const reading = source().then((stats) => {
        if (this.statsSource === source) this.cached = { at: Date.now(), stats };
        return stats;
      });
      this.reading = reading;
      void reading
        .finally(() => {
          if (this.reading === reading) this.reading = null;
        })
        .catch(() => {});
    }
    return this.reading;
  }

  /** Counts a batch of attempts: one counter update per outcome label, not one per attempt. */
  recordAttempts(results: readonly Pick<SendResult, 'error' | 'statusCode' | 'latencyMs'>[]): void {
    const byOutcome = new Map<string, number>();
    for (const result of results) {
      const outcome = attemptOutcomeLabel(result.error, result.statusCode);
      byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + 1);
      this.attemptDuration.observe(result.latencyMs / 1000);
    }
    for (const [outcome, count] of byOutcome) this.attemptsTotal.inc({ outcome }, count);
  }

  /** Claimed messages a dispatcher gave back to the store undelivered. */
  recordHandBack(count: number, reason: HandBackReason): void {
    this.messagesHandedBack.inc({ reason }, count);
  }

  /** One run of the retention purge: how many messages it removed and how long it took. */
  recordPurge(purged: number, seconds: number): void {
    this.purgeDuration.observe(seconds);
    if (purged > 0) this.messagesPurged.inc(purged);
  }

  /** Totals of the attempt counter so far, by outcome. */
  async attemptTotals(): Promise<Map<string, number>> {
    const totals = new Map<string, number>();
    for (const value of (await this.attemptsTotal.get()).values) {
      const outcome = String(value.labels.outcome ?? 'unknown');
      totals.set(outcome, (totals.get(outcome) ?? 0) + value.value);
    }
    return totals;
  }
}

/** The `outcome` label of an attempt: `success`, `http_4xx`/`http_5xx`, or the error kind (`timeout`, `redirect`, …). */
export function attemptOutcomeLabel(error: AttemptError | null, statusCode: number | null): string {
  if (error === null) return 'success';
  if (error.kind === 'http_status' && statusCode !== null) return `http_${Math.floor(statusCode / 100)}xx`;
  return error.kind;
}
