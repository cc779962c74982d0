import type { MessageStats } from './store/types.js';

/** One sample of the recent history: the store's stats then, and the attempts made since the sample before. */
export interface StatsSample {
  at: number;
  stats: MessageStats;
  /** Attempts by outcome label (`success`, `http_5xx`, `timeout`, …) since the previous sample. */
  attempts: Record<string, number>;
  /** Length of the interval those attempts fall into; 0 for the first sample. */
  intervalMs: number;
}

export interface StatsHistoryOptions {
  /** Reads closer together than this share one sample. */
  minIntervalMs?: number;
  /** Samples older than this are dropped. */
  windowMs?: number;
}

/**
 * The short time series behind the dashboard's charts (GET /admin/v1/stats/history). It is sampled
 * when read, not on a timer, so a server nobody watches does no extra counting; with the page open,
 * it gains one sample per poll. Attempts come from this process's counter (the role that delivers).
 */
export class StatsHistory {
  private readonly samples: StatsSample[] = [];
  private previousTotals: Map<string, number> | null = null;
  private inFlight: Promise<void> | null = null;
  private readonly minIntervalMs: number;
  private readonly windowMs: number;

  constructor(
    private readonly readStats: (now: number) => Promise<MessageStats>,
    /** Totals of the server's attempt counter by outcome (Metrics.attemptTotals). */
    private readonly attemptTotals: () => Promise<Map<string, number>>,
    options: StatsHistoryOptions = {},
  ) {
    this.minIntervalMs = options.minIntervalMs ?? 1_000;
    this.windowMs = options.windowMs ?? 10 * 60_000;
  }

  /** Takes a sample unless the last one is recent, then returns the window, oldest first. */
  async read(now: number = Date.now()): Promise<StatsSample[]> {
    const last = this.samples.at(-1);
    if (!last || now - last.at >= this.minIntervalMs) {
      // Concurrent readers wait for one sample instead of each counting.
      this.inFlight ??= this.take(now).finally(() => {
        this.inFlight = null;
      });
      await this.inFlight;
    }
    return [...this.samples];
  }

  private async take(now: number): Promise<void> {
    const [stats, totals] = await Promise.all([this.readStats(now), this.attemptTotals()]);
    const previous = this.samples.at(-1);
    const attempts: Record<string, number> = {};
    if (this.previousTotals) {
      for (const [outcome, total] of totals) {
        // A counter reset (a test's registry reset) counts from zero rather than negative.
        const delta = total - (this.previousTotals.get(outcome) ?? 0);
        if (delta > 0) attempts[outcome] = delta;
      }
    }
    this.previousTotals = totals;
    this.samples.push({ at: now, stats, attempts, intervalMs: previous ? now - previous.at : 0 });
    while (this.samples.length > 0 && this.samples[0].at < now - this.windowMs) this.samples.shift();
  }
}
