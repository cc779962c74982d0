import type { Database } from './database.js';

/**
 * The time-partitioned history tables and the fill factor of their partitions: messages leave half of
 * each page free for the one update a message gets when it ends, so that update stays on its page
 * (HOT: no index entries, and a WAL record of the changed columns only instead of the whole row with
 * its payload). Measured with bench/pg-wal.ts, 10,000 deliveries: fill factor 100 → 2,932 WAL bytes
 * per delivery, 90 → 2,869, 70 → 2,617, 60 → 2,312, 50 → 2,108 (every final update HOT), at the
 * price of history partitions about twice as large on disk. Attempts are only appended.
 */
export const HISTORY_TABLES = [
  { name: 'messages', fillfactor: 50 },
  { name: 'attempts', fillfactor: 100 },
] as const;

/** One day: the partition width unless configured (CCB_PARTITION_INTERVAL). */
export const DEFAULT_PARTITION_INTERVAL_MS = 24 * 60 * 60 * 1000;

/** Partitions made ahead of the current one. */
export const PARTITIONS_AHEAD = 2;

/** PostgreSQL's answer to a row whose time has no partition (there is no DEFAULT partition). */
export function isMissingPartition(error: unknown): boolean {
  return (
    (error as { code?: string }).code === '23514' && /no partition of relation/.test(String((error as Error).message))
  );
}

/**
 * The partitions of the history tables (migration 6: range partitions on `part_at`, epoch
 * milliseconds, no DEFAULT partition). They are made ahead of time by the maintenance task, and on
 * demand for a row whose time has none yet (a clock far off, a test's fixed times), by the database
 * function `ccb_ensure_partition`, which never takes more than a SHARE UPDATE EXCLUSIVE lock on the
 * live parent.
 */
export class HistoryPartitions {
  constructor(
    private readonly db: Database,
    readonly widthMs: number,
  ) {}

  /**
   * Makes the partitions of now and of the next PARTITIONS_AHEAD widths, so publishes never wait for
   * one to be made.
   */
  async createAhead(now: number): Promise<string[]> {
    return this.ensure(Array.from({ length: PARTITIONS_AHEAD + 1 }, (_, i) => now + i * this.widthMs));
  }

  /** Makes sure every history table has a partition holding each of these times. */
  async ensure(times: Iterable<number>): Promise<string[]> {
    // The earliest and latest time of each width-aligned bucket (a partition made with another width
    // may cover only part of a bucket).
    const buckets = new Map<number, [number, number]>();
    for (const t of times) {
      const bucket = t - (((t % this.widthMs) + this.widthMs) % this.widthMs);
      const seen = buckets.get(bucket);
      buckets.set(bucket, seen ? [Math.min(seen[0], t), Math.max(seen[1], t)] : [t, t]);
    }
    const made: string[] = [];
    for (const at of [...new Set([...buckets.values()].flat())].sort((a, b) => a - b)) {
      for (const table of HISTORY_TABLES) {
        const result = await this.db.query<{ made: string | null }>(
          'SELECT ccb_ensure_partition($1, $2::bigint, $3::bigint, $4::int) AS made',
          [table.name, at, this.widthMs, table.fillfactor],
        );
        if (result.rows[0].made) made.push(result.rows[0].made);
      }
    }
    return made;
  }
}

/** A partition of a history table and the range of `part_at` it holds: [from, to). */
export interface PartitionRange {
  name: string;
  from: number;
  to: number;
}

/** The partitions of a history table, oldest first. */
export async function listPartitions(db: Database, parent: string): Promise<PartitionRange[]> {
  const result = await db.query<{ name: string; bound: string }>({
    name: 'partitions_list',
    text: `SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
           FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = $1::regclass`,
    values: [parent],
  });
  const ranges: PartitionRange[] = [];
  for (const row of result.rows) {
    const match = /FROM \('?(-?\d+)'?\) TO \('?(-?\d+)'?\)/.exec(row.bound);
    if (match) ranges.push({ name: row.name, from: Number(match[1]), to: Number(match[2]) });
  }
  return ranges.sort((a, b) => a.from - b.from);
}
