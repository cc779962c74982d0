/**
 * The soak's readings of PostgreSQL, kept apart from the I/O so the arithmetic is tested
 * (packages/server/test/bench-stats.test.ts).
 */

export interface SoakOptions {
  minutes: number;
  /** Messages published per second. */
  rate: number;
  /** Seconds between two printed readings. */
  everyS: number;
  /** How long delivered and failed messages are kept (a duration: 2m); unset: the environment's, else 2m. */
  retention?: string;
}

/**
 * The soak's retention when neither --retention nor the environment gives one, its purge interval and
 * its history partitions on PostgreSQL (CCB_PARTITION_INTERVAL: a server without partitions ignores it).
 */
export const SOAK_DEFAULTS = { retention: '2m', purgeInterval: '30s', partitionInterval: '1m' } as const;

/**
 * The retention settings the soak gives the server (its process inherits the environment, so every
 * other CCB_* variable reaches it as given): --retention first, then the environment, then minutes.
 */
export function soakServerEnv(options: SoakOptions, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return {
    CCB_RETENTION_DELIVERED: options.retention ?? env.CCB_RETENTION_DELIVERED ?? SOAK_DEFAULTS.retention,
    CCB_RETENTION_FAILED: options.retention ?? env.CCB_RETENTION_FAILED ?? SOAK_DEFAULTS.retention,
    CCB_PURGE_INTERVAL: env.CCB_PURGE_INTERVAL ?? SOAK_DEFAULTS.purgeInterval,
    CCB_PARTITION_INTERVAL: env.CCB_PARTITION_INTERVAL ?? SOAK_DEFAULTS.partitionInterval,
  };
}

/** One row of pg_stat_user_tables with the table it belongs to (a partition's parent, else itself). */
export interface TableRow {
  relid: number;
  /** The parent table for a partition, otherwise the table's own name. */
  table: string;
  live: number;
  dead: number;
  autovacuums: number;
}

/** Live and dead tuples per table, partitions summed into their parent, by name. */
export function tuplesByTable(rows: TableRow[]): Map<string, { live: number; dead: number }> {
  const tables = new Map<string, { live: number; dead: number }>();
  for (const row of rows) {
    const t = tables.get(row.table) ?? { live: 0, dead: 0 };
    t.live += row.live;
    t.dead += row.dead;
    tables.set(row.table, t);
  }
  return new Map([...tables].sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * Autovacuum runs since the last reading. Counted per table or partition (by its oid), so a
 * partition dropped by the retention does not take its runs off the total, and a new one adds all of
 * its own. `seen` is updated in place.
 */
export function autovacuumRunsSince(seen: Map<number, number>, rows: TableRow[]): number {
  let runs = 0;
  for (const row of rows) {
    runs += Math.max(0, row.autovacuums - (seen.get(row.relid) ?? 0));
    seen.set(row.relid, row.autovacuums);
  }
  return runs;
}

/**
 * Whether the database size stayed flat once retention was reached: the growth from the first
 * reading at or after `retentionReachedS` to the last, as a share of the first (0.05 = 5 % larger).
 * Null when no reading is that late.
 */
export function growthAfter(samples: { atS: number; bytes: number }[], retentionReachedS: number): number | null {
  const after = samples.filter((s) => s.atS >= retentionReachedS);
  if (after.length < 2) return null;
  const first = after[0].bytes;
  return (after[after.length - 1].bytes - first) / first;
}
