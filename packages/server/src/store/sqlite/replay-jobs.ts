import type { Database, Statement } from 'better-sqlite3';
import { type ReplayJobRow, replayJobRow, toReplayJob } from '../rows.js';
import type { ReplayJobRecord, ReplayJobStore } from '../types.js';

/** Bulk replay jobs on SQLite. */
export class SqliteReplayJobStore implements ReplayJobStore {
  private readonly statements: {
    insert: Statement<[ReplayJobRow]>;
    get: Statement<[string], ReplayJobRow>;
    claim: Statement<[{ now: number; leasedUntil: number }], ReplayJobRow>;
    save: Statement<[ReplayJobRow]>;
    purge: Statement<[number]>;
  };

  constructor(db: Database) {
    this.statements = {
      insert: db.prepare(
        `INSERT INTO replay_jobs (job_id, status, filter, matched, replayed, no_listener, after_id, leased_until,
           started_at, finished_at, error)
         VALUES (@job_id, @status, @filter, @matched, @replayed, @no_listener, @after_id, @leased_until, @started_at,
           @finished_at, @error)`,
      ),
      get: db.prepare('SELECT * FROM replay_jobs WHERE job_id = ?'),
      claim: db.prepare(
        `UPDATE replay_jobs SET leased_until = @leasedUntil
         WHERE job_id = (SELECT job_id FROM replay_jobs WHERE status = 'running' AND leased_until <= @now
           ORDER BY leased_until LIMIT 1)
         RETURNING *`,
      ),
      save: db.prepare(
        `UPDATE replay_jobs SET status = @status, matched = @matched, replayed = @replayed,
           no_listener = @no_listener, after_id = @after_id,
           leased_until = @leased_until, finished_at = @finished_at, error = @error
         WHERE job_id = @job_id`,
      ),
      purge: db.prepare("DELETE FROM replay_jobs WHERE status != 'running' AND finished_at < ?"),
    };
  }

  async create(job: ReplayJobRecord): Promise<void> {
    this.statements.insert.run(replayJobRow(job));
  }

  async get(jobId: string): Promise<ReplayJobRecord | null> {
    const row = this.statements.get.get(jobId);
    return row ? toReplayJob(row) : null;
  }

  async claimAbandoned(now: number, leasedUntil: number): Promise<ReplayJobRecord | null> {
    const row = this.statements.claim.get({ now, leasedUntil });
    return row ? toReplayJob(row) : null;
  }

  async save(job: ReplayJobRecord): Promise<void> {
    this.statements.save.run(replayJobRow(job));
  }

  async purge(finishedBefore: number): Promise<number> {
    return this.statements.purge.run(finishedBefore).changes;
  }
}
