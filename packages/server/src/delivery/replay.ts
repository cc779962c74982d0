import { randomUUID } from 'node:crypto';
import type { MessageFilter, MessageStore } from '../store/types.js';
import type { DispatcherLogger } from './dispatcher.js';

export type ReplayJobStatus = 'running' | 'done' | 'failed';

export interface ReplayJob {
  jobId: string;
  status: ReplayJobStatus;
  filter: MessageFilter;
  /** Messages found by the filter so far. */
  matched: number;
  /** Of those, how many were queued again (pending and delivering ones are left alone). */
  replayed: number;
  startedAt: number;
  finishedAt: number | null;
  error: string | null;
}

/** Ids read and replayed per store call, so a large replay never holds one long transaction. */
const PAGE_SIZE = 500;
/** Finished jobs kept for progress queries; the oldest are forgotten first. */
const KEPT_JOBS = 100;

/**
 * Bulk replay as background jobs: walks the messages matching a filter page by page (oldest first),
 * queues each page again and wakes the dispatcher, so deliveries start while the walk goes on.
 * Jobs live in this process's memory; progress is read with `get(jobId)`.
 */
export class ReplayJobs {
  private readonly jobs = new Map<string, ReplayJob>();

  constructor(
    private readonly store: MessageStore,
    /** Attempts granted to each replayed message (the retry schedule's). */
    private readonly maxAttempts: number,
    private readonly onQueued: () => void,
    private readonly logger: DispatcherLogger,
  ) {}

  start(filter: MessageFilter): ReplayJob {
    const job: ReplayJob = {
      jobId: `rpl_${randomUUID().replaceAll('-', '')}`,
      status: 'running',
      filter,
      matched: 0,
      replayed: 0,
      startedAt: Date.now(),
      finishedAt: null,
      error: null,
    };
    this.jobs.set(job.jobId, job);
    this.forgetOldJobs();
    void this.run(job);
    return job;
  }

  get(jobId: string): ReplayJob | undefined {
    return this.jobs.get(jobId);
  }

  private async run(job: ReplayJob): Promise<void> {
    try {
      let after: string | null = null;
      for (;;) {
        const ids = await this.store.findIds(job.filter, PAGE_SIZE, after);
        if (ids.length === 0) break;
        job.matched += ids.length;
        const replayed = await this.store.replay(ids, this.maxAttempts, Date.now());
        job.replayed += replayed.length;
        if (replayed.length > 0) this.onQueued();
        after = ids[ids.length - 1];
        if (ids.length < PAGE_SIZE) break;
        // Give publishes and deliveries a turn between pages.
        await new Promise((resolve) => setImmediate(resolve));
      }
      job.status = 'done';
    } catch (error) {
      job.status = 'failed';
      job.error = (error as Error).message;
      this.logger.error({ err: error, jobId: job.jobId }, 'bulk replay failed');
    } finally {
      job.finishedAt = Date.now();
    }
  }

  private forgetOldJobs(): void {
    if (this.jobs.size <= KEPT_JOBS) return;
    for (const [id, job] of this.jobs) {
      if (this.jobs.size <= KEPT_JOBS) break;
      if (job.status !== 'running') this.jobs.delete(id);
    }
  }
}
