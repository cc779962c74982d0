import type { MessageFilter, ReplayJobRecord, ReplayJobStatus, ReplayJobStore } from '../types.js';
import type { Database } from './database.js';

interface ReplayJobRow {
  job_id: string;
  status: ReplayJobStatus;
  filter: MessageFilter;
  matched: number;
  replayed: number;
  no_listener: number;
  after_id: string | null;
  leased_until: number | null;
  started_at: number;
  finished_at: number | null;
  error: string | null;
}

function toRecord(row: ReplayJobRow): ReplayJobRecord {
  return {
    jobId: row.job_id,
    status: row.status,
    filter: row.filter,
    matched: row.matched,
    replayed: row.replayed,
    noListener: row.no_listener,
    afterId: row.after_id,
    leasedUntil: row.leased_until,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    error: row.error,
  };
}

/** Bulk replay jobs on PostgreSQL; an abandoned job is taken over by one instance (SKIP LOCKED). */
export class PostgresReplayJobStore implements ReplayJobStore {
  constructor(private readonly db: Database) {}

  async create(job: ReplayJobRecord): Promise<void> {
    await this.db.query(
      `INSERT INTO replay_jobs (job_id, status, filter, matched, replayed, after_id, leased_until, started_at,
         finished_at, error, no_listener)
       VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [
        job.jobId,
        job.status,
        JSON.stringify(job.filter),
        job.matched,
        job.replayed,
        job.afterId,
        job.leasedUntil,
        job.startedAt,
        job.finishedAt,
        job.error,
        job.noListener,
      ],
    );
  }

  async get(jobId: string): Promise<ReplayJobRecord | null> {
    const result = await this.db.query<ReplayJobRow>('SELECT * FROM replay_jobs WHERE job_id = $1', [jobId]);
    return result.rows[0] ? toRecord(result.rows[0]) : null;
  }

  async claimAbandoned(now: number, leasedUntil: number): Promise<ReplayJobRecord | null> {
    const result = await this.db.query<ReplayJobRow>(
      `UPDATE replay_jobs SET leased_until = $2
       WHERE job_id = (SELECT job_id FROM replay_jobs WHERE status = 'running' AND leased_until <= $1
         ORDER BY leased_until LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING *`,
      [now, leasedUntil],
    );
    return result.rows[0] ? toRecord(result.rows[0]) : null;
  }

  async save(job: ReplayJobRecord): Promise<void> {
    await this.db.query(
      `UPDATE replay_jobs SET status = $2, matched = $3, replayed = $4, after_id = $5, leased_until = $6,
         finished_at = $7, error = $8, no_listener = $9
       WHERE job_id = $1`,
      [
        job.jobId,
        job.status,
        job.matched,
        job.replayed,
        job.afterId,
        job.leasedUntil,
        job.finishedAt,
        job.error,
        job.noListener,
      ],
    );
  }

  async purge(finishedBefore: number): Promise<number> {
    const result = await this.db.query("DELETE FROM replay_jobs WHERE status <> 'running' AND finished_at < $1", [
      finishedBefore,
    ]);
    return result.rowCount ?? 0;
  }
}
