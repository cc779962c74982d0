import type { MessageStatus, StatsSampleRecord, StatsSampleStore } from '../types.js';
import type { Database } from './database.js';

interface StatsSampleRow {
  at: number;
  instance: string;
  counts: Record<MessageStatus, number>;
  queue_depth: number;
  oldest_due_age_ms: number;
  attempts: Record<string, number>;
}

/** The dashboard's stats samples on PostgreSQL. */
export class PostgresStatsSampleStore implements StatsSampleStore {
  constructor(private readonly db: Database) {}

  async record(sample: StatsSampleRecord): Promise<void> {
    await this.db.query(
      `INSERT INTO stats_samples (at, instance, counts, queue_depth, oldest_due_age_ms, attempts)
       VALUES ($1, $2, $3::jsonb, $4, $5, $6::jsonb)
       ON CONFLICT (at, instance) DO NOTHING`,
      [
        sample.at,
        sample.instance,
        JSON.stringify(sample.counts),
        sample.queueDepth,
        sample.oldestDueAgeMs,
        JSON.stringify(sample.attempts),
      ],
    );
  }

  async list(since: number): Promise<StatsSampleRecord[]> {
    const result = await this.db.query<StatsSampleRow>(
      'SELECT * FROM stats_samples WHERE at >= $1 ORDER BY at, instance',
      [since],
    );
    return result.rows.map((row) => ({
      at: row.at,
      instance: row.instance,
      counts: row.counts,
      queueDepth: row.queue_depth,
      oldestDueAgeMs: row.oldest_due_age_ms,
      attempts: row.attempts,
    }));
  }

  async purge(before: number): Promise<number> {
    return (await this.db.query('DELETE FROM stats_samples WHERE at < $1', [before])).rowCount ?? 0;
  }
}
