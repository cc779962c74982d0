import pg from 'pg';
import { round, sleep } from './stats.js';

/**
 * What a system wrote to PostgreSQL during one measured round: the write-ahead log position of the
 * cluster (`pg_current_wal_lsn()`) and the database's own counters from `pg_stat_database`, read before
 * and after the round. The WAL position is cluster-wide: the sections run one system at a time, so
 * the difference is that system's (plus whatever background work, autovacuum or a checkpoint, ran
 * meanwhile, which is part of what a delivery costs).
 */
export interface PgSnapshot {
  /** Bytes since the start of the WAL (from the LSN). */
  walBytes: bigint;
  commits: number;
  /** Tuples written: inserted + updated + deleted. */
  tuples: number;
}

export interface PgWrites {
  wal_bytes_per_delivery: number;
  commits_per_delivery: number;
  tuples_per_delivery: number;
}

/**
 * A PostgreSQL LSN (`16/B374D848`: the high and low 32 bits in hexadecimal) as a byte position.
 * Throws on anything else, so a changed server answer cannot turn into a silent zero.
 */
export function parseLsn(lsn: string): bigint {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn.trim());
  if (!match) throw new Error(`not a PostgreSQL LSN: "${lsn}"`);
  return (BigInt(`0x${match[1]}`) << 32n) + BigInt(`0x${match[2]}`);
}

/** What some rounds wrote, and how many deliveries they made. */
export interface PgDelta {
  walBytes: bigint;
  commits: number;
  tuples: number;
  deliveries: number;
}

export const NO_DELTA: PgDelta = { walBytes: 0n, commits: 0, tuples: 0, deliveries: 0 };

/** What was written between two snapshots (taken in this order) for `deliveries` deliveries. */
export function delta(before: PgSnapshot, after: PgSnapshot, deliveries: number): PgDelta {
  if (after.walBytes < before.walBytes) throw new Error('the WAL position went backwards: snapshots swapped?');
  return {
    walBytes: after.walBytes - before.walBytes,
    commits: after.commits - before.commits,
    tuples: after.tuples - before.tuples,
    deliveries,
  };
}

/** Rounds add up before the division, so a figure is per delivery over all of them. */
export function sumDeltas(a: PgDelta, b: PgDelta): PgDelta {
  return {
    walBytes: a.walBytes + b.walBytes,
    commits: a.commits + b.commits,
    tuples: a.tuples + b.tuples,
    deliveries: a.deliveries + b.deliveries,
  };
}

/** Per-delivery writes of some rounds; NaN when they made no delivery. */
export function perDelivery(d: PgDelta): PgWrites {
  if (!(d.deliveries > 0)) {
    return { wal_bytes_per_delivery: Number.NaN, commits_per_delivery: Number.NaN, tuples_per_delivery: Number.NaN };
  }
  return {
    wal_bytes_per_delivery: Math.round(Number(d.walBytes) / d.deliveries),
    commits_per_delivery: round(d.commits / d.deliveries, 3),
    tuples_per_delivery: round(d.tuples / d.deliveries, 3),
  };
}

/**
 * PostgreSQL 15 backends report their counters to `pg_stat_database` at most once a second, and one
 * that goes idle right after a report holds the rest until a timer 10 s later: counters read sooner
 * miss the end of a round.
 */
export const STATS_REPORT_LAG_MS = 11_000;

/**
 * Reads the cluster's WAL position and its databases' counters through an admin connection
 * (superuser URL).
 */
export class PgStats {
  private constructor(private readonly client: pg.Client) {}

  static async open(adminUrl: string): Promise<PgStats> {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    return new PgStats(client);
  }

  /** Bytes written to the WAL since the cluster began. */
  async walBytes(): Promise<bigint> {
    const result = await this.client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    return parseLsn(result.rows[0].lsn);
  }

  /**
   * The WAL position once it has not moved for `quietMs` (the system's last acknowledgements are
   * written: an idle poll that changes nothing writes no WAL), or after `limitMs` whatever it is.
   */
  async walSettled(quietMs = 1_000, limitMs = 8_000): Promise<bigint> {
    const deadline = Date.now() + limitMs;
    let last = await this.walBytes();
    while (Date.now() < deadline) {
      await sleep(quietMs);
      const next = await this.walBytes();
      if (next === last) return next;
      last = next;
    }
    return last;
  }

  /** The commits and written tuples `database` has reported so far (see STATS_REPORT_LAG_MS). */
  async counters(database: string): Promise<Pick<PgSnapshot, 'commits' | 'tuples'>> {
    const result = await this.client.query<{ commits: string; tuples: string }>(
      `SELECT xact_commit::text AS commits, (tup_inserted + tup_updated + tup_deleted)::text AS tuples
         FROM pg_stat_database WHERE datname = $1`,
      [database],
    );
    const row = result.rows[0];
    if (!row) throw new Error(`no pg_stat_database row for ${database}`);
    return { commits: Number(row.commits), tuples: Number(row.tuples) };
  }

  close(): Promise<void> {
    return this.client.end();
  }
}
