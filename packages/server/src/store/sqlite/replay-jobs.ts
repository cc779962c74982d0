import type { Database, Statement } from 'better-sqlite3';
import type { MessageFilter, ReplayJobRecord, ReplayJobStatus, ReplayJobStore } from '../types.js';

interface ReplayJobRow {
  job_id: string;
  status: ReplayJobStatus;
  filter: string;
  matched: number;
  replayed: number;
  no_listener: number;
  after_id: string | null;
  leased_until: number | null;
  started_at: number;
  finished_at: number | null;
  error: string | null;
}

function toRow(job: ReplayJobRecord): ReplayJobRow {
  return {
    job_id: job.jobId,
    status: job.status,
    filter: JSON.stringify(job.filter),
    matched: job.matched,
    replayed: job.replayed,
    no_listener: job.noListener,
    after_id: job.afterId,
    leased_until: job.leasedUntil,
    started_at: job.startedAt,
    finished_at: job.finishedAt,
    error: job.error,
  };
}

function toRecord(row: ReplayJobRow): ReplayJobRecord {
  return {
    jobId: row.job_id,
    status: row.status,
    filter: JSON.parse(row.filter) as MessageFilter,
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
    this.statements.insert.run(toRow(job));
  }

  async get(jobId: string): Promise<ReplayJobRecord | null> {
    const row = this.statements.get.get(jobId);
    return row ? toRecord(row) : null;
  }

  async claimAbandoned(now: number, leasedUntil: number): Promise<ReplayJobRecord | null> {
    const row = this.statements.claim.get({ now, leasedUntil });
    return row ? toRecord(row) : null;
  }

  async save(job: ReplayJobRecord): Promise<void> {
    this.statements.save.run(toRow(job));
  }

  async purge(finishedBefore: number): Promise<number> {
    return this.statements.purge.run(finishedBefore).changes;
  }
}
