import type { Database, Statement } from 'better-sqlite3';
import { type StatsSampleRow, statsSampleRow, toStatsSample } from '../rows.js';
import type { StatsSampleRecord, StatsSampleStore } from '../types.js';

/** The dashboard's stats samples on SQLite. */
export class SqliteStatsSampleStore implements StatsSampleStore {
  private readonly insert: Statement<[ReturnType<typeof statsSampleRow>]>;
  private readonly since: Statement<[number], StatsSampleRow>;
  private readonly purgeBefore: Statement<[number]>;

  constructor(db: Database) {
    this.insert = db.prepare(
      `INSERT INTO stats_samples (at, instance, counts, queue_depth, oldest_due_age_ms, attempts)
       VALUES (@at, @instance, @counts, @queue_depth, @oldest_due_age_ms, @attempts)
       ON CONFLICT (at, instance) DO NOTHING`,
    );
    this.since = db.prepare('SELECT * FROM stats_samples WHERE at >= ? ORDER BY at, instance');
    this.purgeBefore = db.prepare('DELETE FROM stats_samples WHERE at < ?');
  }

  async record(sample: StatsSampleRecord): Promise<void> {
    this.insert.run(statsSampleRow(sample));
  }

  async list(since: number): Promise<StatsSampleRecord[]> {
    return this.since.all(since).map(toStatsSample);
  }

  async purge(before: number): Promise<number> {
    return this.purgeBefore.run(before).changes;
  }
}
