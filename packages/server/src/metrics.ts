import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { SendResult } from './delivery/send-result.js';
import type { AttemptError } from './domain/attempt-error.js';
import { type HandBackReason, HandBackReasons } from './domain/hand-back.js';
import type { MessageStats } from './store/types.js';

/** Counting messages by status scans an index; scrapes closer together than this share one count. */
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
  private statsSource: (() => Promise<MessageStats>) | null = null;
  private cached: { at: number; stats: MessageStats } | null = null;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    const queueStats = () => this.queueStats();
    const queueGauge = (name: string, help: string, value: (stats: MessageStats | null) => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        async collect() {
          this.set(value(await queueStats()));
        },
      });
    queueGauge(
      'ccb_queue_depth',
      'Messages waiting for delivery (pending + delivering)',
      (stats) => stats?.queueDepth ?? 0,
    );
    queueGauge(
      'ccb_oldest_due_message_age_seconds',
      'How long the oldest due message has been waiting since it became due (0 when none)',
      (stats) => (stats?.oldestDueAgeMs ?? 0) / 1000,
    );
    new Gauge({
      name: 'ccb_messages',
      help: 'Stored messages by status',
      labelNames: ['status'] as const,
      registers: [this.registry],
      async collect() {
        const stats = await queueStats();
        if (!stats) return;
        for (const [status, count] of Object.entries(stats.counts)) this.set({ status }, count);
      },
    });
  }

  setQueueStatsSource(source: () => Promise<MessageStats>): void {
    this.statsSource = source;
    this.cached = null;
  }

  /** Forgets `source` if it is still the current one (a closed server's store must not be read). */
  clearQueueStatsSource(source: () => Promise<MessageStats>): void {
    if (this.statsSource === source) {
      this.statsSource = null;
      this.cached = null;
    }
  }

  private async queueStats(): Promise<MessageStats | null> {
    if (!this.statsSource) return null;
    const now = Date.now();
    if (!this.cached || now - this.cached.at > STATS_CACHE_MS) {
      this.cached = { at: now, stats: await this.statsSource() };
    }
    return this.cached.stats;
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
