import type { Database, Statement } from 'better-sqlite3';
import type { MessageStatus, StatsSampleRecord, StatsSampleStore } from '../types.js';

interface StatsSampleRow {
  at: number;
  instance: string;
  counts: string;
  queue_depth: number;
  oldest_due_age_ms: number;
  attempts: string;
}

/** The dashboard's stats samples on SQLite. */
export class SqliteStatsSampleStore implements StatsSampleStore {
  private readonly insert: Statement<[StatsSampleRow]>;
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
    this.insert.run({
      at: sample.at,
      instance: sample.instance,
      counts: JSON.stringify(sample.counts),
      queue_depth: sample.queueDepth,
      oldest_due_age_ms: sample.oldestDueAgeMs,
      attempts: JSON.stringify(sample.attempts),
    });
  }

  async list(since: number): Promise<StatsSampleRecord[]> {
    return this.since.all(since).map((row) => ({
      at: row.at,
      instance: row.instance,
      counts: JSON.parse(row.counts) as Record<MessageStatus, number>,
      queueDepth: row.queue_depth,
      oldestDueAgeMs: row.oldest_due_age_ms,
      attempts: JSON.parse(row.attempts) as Record<string, number>,
    }));
  }

  async purge(before: number): Promise<number> {
    return this.purgeBefore.run(before).changes;
  }
}
