import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { MessageStats, StatsSampleStore } from './store/types.js';

/** One point of the history: the store's stats then, and the attempts made since the point before. */
export interface StatsPoint {
  at: number;
  stats: MessageStats;
  /** Attempts by outcome label (`success`, `http_5xx`, `timeout`, …) since the previous point, every process. */
  attempts: Record<string, number>;
  /** Time since the previous point; 0 for the first. */
  intervalMs: number;
  /** True for the last point of a read: taken for that read, not stored. */
  live: boolean;
}

export interface StatsHistoryOptions {
  samples: StatsSampleStore;
  /** The store's stats (MessageService.stats). */
  readStats(now: number): Promise<MessageStats>;
  /** Totals of this process's attempt counter by outcome (Metrics.attemptTotals). */
  attemptTotals(): Promise<Map<string, number>>;
  sampleIntervalMs: number;
  /** Samples older than this are deleted. */
  keepMs: number;
  logger: FastifyBaseLogger;
  clock?: () => number;
}

/** The purge runs on every this many samples. */
const PURGE_EVERY = 30;

/**
 * The history behind the dashboard's charts (GET /admin/v1/stats/history), kept in the store so the
 * charts show the hours before the page was opened. Every process (api, worker or both) stores one
 * sample per interval: the store's stats, which are the same for every process, and the attempts it
 * made itself, which are summed over processes when read. A time without samples (no process
 * running) stays a gap.
 *
 * State kept here: `previousTotals`, this process's attempt totals at its last stored sample (the
 * next sample stores the difference), and `lastBucket`, so one bucket gets one sample per process.
 */
export class StatsHistory {
  /** Random per start: processes sharing a store never write over each other's samples. */
  readonly instance = randomBytes(6).toString('hex');
  private previousTotals: Map<string, number> | null = null;
  private lastBucket = -1;
  private sampled = 0;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private readonly clock: () => number;

  constructor(private readonly options: StatsHistoryOptions) {
    this.clock = options.clock ?? Date.now;
  }

  get sampleIntervalMs(): number {
    return this.options.sampleIntervalMs;
  }

  /** Samples now and then every interval, until `stop()`. */
  start(): void {
    if (this.timer) return;
    this.tick();
    this.timer = setInterval(() => this.tick(), this.options.sampleIntervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  private tick(): void {
    // A sample still being written (a slow database) is not doubled up.
    this.running ??= this.sample()
      .catch((error: unknown) => this.options.logger.warn({ err: error }, 'storing a stats sample failed'))
      .finally(() => {
        this.running = null;
      });
  }

  /** Stores this process's sample of the current bucket, unless it has one. */
  async sample(now: number = this.clock()): Promise<void> {
    const interval = this.options.sampleIntervalMs;
    const bucket = Math.floor(now / interval) * interval;
    if (bucket === this.lastBucket) return;
    const [stats, totals] = await Promise.all([this.options.readStats(now), this.options.attemptTotals()]);
    await this.options.samples.record({
      at: bucket,
      instance: this.instance,
      counts: stats.counts,
      queueDepth: stats.queueDepth,
      oldestDueAgeMs: stats.oldestDueAgeMs,
      attempts: this.previousTotals ? difference(totals, this.previousTotals) : {},
    });
    this.previousTotals = totals;
    this.lastBucket = bucket;
    if (this.sampled++ % PURGE_EVERY === 0) await this.options.samples.purge(now - this.options.keepMs);
  }

  /**
   * The points since `since` (at most as far back as samples are kept), oldest first, one per
   * bucket with the attempts of every process summed, then a live point for now.
   */
  async read(since: number, now: number = this.clock()): Promise<StatsPoint[]> {
    const [rows, stats, totals] = await Promise.all([
      this.options.samples.list(Math.max(since, now - this.options.keepMs)),
      this.options.readStats(now),
      this.options.attemptTotals(),
    ]);
    const points: StatsPoint[] = [];
    for (const row of rows) {
      const last = points.at(-1);
      if (last && last.at === row.at) {
        for (const [outcome, n] of Object.entries(row.attempts))
          last.attempts[outcome] = (last.attempts[outcome] ?? 0) + n;
        continue;
      }
      points.push({
        at: row.at,
        stats: { counts: row.counts, queueDepth: row.queueDepth, oldestDueAgeMs: row.oldestDueAgeMs },
        attempts: { ...row.attempts },
        intervalMs: last ? row.at - last.at : 0,
        live: false,
      });
    }
    const last = points.at(-1);
    points.push({
      at: now,
      stats,
      attempts: this.previousTotals ? difference(totals, this.previousTotals) : {},
      intervalMs: last ? now - last.at : 0,
      live: true,
    });
    return points;
  }
}

/** What each outcome's total rose by; a counter reset (a test's registry reset) counts from zero. */
function difference(totals: Map<string, number>, previous: Map<string, number>): Record<string, number> {
  const attempts: Record<string, number> = {};
  for (const [outcome, total] of totals) {
    const delta = total - (previous.get(outcome) ?? 0);
    if (delta > 0) attempts[outcome] = delta;
  }
  return attempts;
}
