import { type StatsSampleRow, statsSampleRow, toStatsSample } from '../rows.js';
import type { StatsSampleRecord, StatsSampleStore } from '../types.js';
import type { Database } from './database.js';

/** The dashboard's stats samples on PostgreSQL. */
export class PostgresStatsSampleStore implements StatsSampleStore {
  constructor(private readonly db: Database) {}

  async record(sample: StatsSampleRecord): Promise<void> {
    const row = statsSampleRow(sample);
    await this.db.query(
      `INSERT INTO stats_samples (at, instance, counts, queue_depth, oldest_due_age_ms, attempts)
       VALUES ($1, $2, $3::jsonb, $4, $5, $6::jsonb)
       ON CONFLICT (at, instance) DO NOTHING`,
      [row.at, row.instance, row.counts, row.queue_depth, row.oldest_due_age_ms, row.attempts],
    );
  }

  async list(since: number): Promise<StatsSampleRecord[]> {
    const result = await this.db.query<StatsSampleRow>(
      'SELECT * FROM stats_samples WHERE at >= $1 ORDER BY at, instance',
      [since],
    );
    return result.rows.map(toStatsSample);
  }

  async purge(before: number): Promise<number> {
    return (await this.db.query('DELETE FROM stats_samples WHERE at < $1', [before])).rowCount ?? 0;
  }
}
