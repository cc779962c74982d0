import { type ReplayJobRow, replayJobRow, toReplayJob } from '../rows.js';
import type { ReplayJobRecord, ReplayJobStore } from '../types.js';
import type { Database } from './database.js';

/** Bulk replay jobs on PostgreSQL; an abandoned job is taken over by one instance (SKIP LOCKED). */
export class PostgresReplayJobStore implements ReplayJobStore {
  constructor(private readonly db: Database) {}

  async create(job: ReplayJobRecord): Promise<void> {
    const row = replayJobRow(job);
    await this.db.query(
      `INSERT INTO replay_jobs (job_id, status, filter, matched, replayed, after_id, leased_until, started_at,
         finished_at, error, no_listener)
       VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [
        row.job_id,
        row.status,
        row.filter,
        row.matched,
        row.replayed,
        row.after_id,
        row.leased_until,
        row.started_at,
        row.finished_at,
        row.error,
        row.no_listener,
      ],
    );
  }

  async get(jobId: string): Promise<ReplayJobRecord | null> {
    const result = await this.db.query<ReplayJobRow>('SELECT * FROM replay_jobs WHERE job_id = $1', [jobId]);
    return result.rows[0] ? toReplayJob(result.rows[0]) : null;
  }

  async claimAbandoned(now: number, leasedUntil: number): Promise<ReplayJobRecord | null> {
    const result = await this.db.query<ReplayJobRow>(
      `UPDATE replay_jobs SET leased_until = $2
       WHERE job_id = (SELECT job_id FROM replay_jobs WHERE status = 'running' AND leased_until <= $1
         ORDER BY leased_until LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING *`,
      [now, leasedUntil],
    );
    return result.rows[0] ? toReplayJob(result.rows[0]) : null;
  }

  async save(job: ReplayJobRecord): Promise<void> {
    const row = replayJobRow(job);
    await this.db.query(
      `UPDATE replay_jobs SET status = $2, matched = $3, replayed = $4, after_id = $5, leased_until = $6,
         finished_at = $7, error = $8, no_listener = $9
       WHERE job_id = $1`,
      [
        row.job_id,
        row.status,
        row.matched,
        row.replayed,
        row.after_id,
        row.leased_until,
        row.finished_at,
        row.error,
        row.no_listener,
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
