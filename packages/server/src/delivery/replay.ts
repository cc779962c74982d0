import { randomUUID } from 'node:crypto';
import type { StructuredLogger } from '../logger.js';
import type { MessageService } from '../services/messages.js';
import type { MessageFilter, ReplayJobRecord, ReplayJobStore } from '../store/types.js';

export type { ReplayJobStatus } from '../store/types.js';
export type ReplayJob = ReplayJobRecord;

/** Ids read and replayed per store call, so a large replay never holds one long transaction. */
const PAGE_SIZE = 500;
/**
 * A running job belongs to the instance that renews its lease after every page; when that instance
 * stops, another one takes the job over once the lease is this old, and resumes after the last page.
 */
export const REPLAY_JOB_LEASE_MS = 30_000;
/** How often an instance looks for abandoned jobs. */
const RESUME_INTERVAL_MS = 10_000;
/** Finished jobs are kept this long for progress queries. */
const KEPT_FINISHED_MS = 7 * 24 * 60 * 60 * 1000;

/** What `ReplayJobs` works with. */
export interface ReplayJobsOptions {
  jobs: ReplayJobStore;
  messages: MessageService;
  /** Attempts granted to each replayed message (the retry schedule's). */
  maxAttempts: number;
  /** Called after each page queued again (wakes the dispatcher). */
  onQueued: () => void;
  logger: StructuredLogger;
}

/**
 * Bulk replay as background jobs: walks the messages matching a filter page by page (oldest first),
 * queues each page again and wakes the dispatcher, so deliveries start while the walk goes on. Jobs
 * and their progress are stored, so any instance can report them and a job survives a restart.
 */
export class ReplayJobs {
  private resumeTimer: NodeJS.Timeout | null = null;
  private readonly running = new Set<Promise<void>>();
  private stopped = false;
  private readonly jobs: ReplayJobStore;
  private readonly messages: MessageService;
  private readonly maxAttempts: number;
  private readonly onQueued: () => void;
  private readonly logger: StructuredLogger;

  constructor(options: ReplayJobsOptions) {
    this.jobs = options.jobs;
    this.messages = options.messages;
    this.maxAttempts = options.maxAttempts;
    this.onQueued = options.onQueued;
    this.logger = options.logger;
  }

  async start(filter: MessageFilter): Promise<ReplayJob> {
    const now = this.messages.now();
    const job: ReplayJob = {
      jobId: `rpl_${randomUUID().replaceAll('-', '')}`,
      status: 'running',
      filter,
      matched: 0,
      replayed: 0,
      noListener: 0,
      afterId: null,
      leasedUntil: now + REPLAY_JOB_LEASE_MS,
      startedAt: now,
      finishedAt: null,
      error: null,
    };
    await this.jobs.create(job);
    this.track(this.run(job));
    return job;
  }

  get(jobId: string): Promise<ReplayJob | null> {
    return this.jobs.get(jobId);
  }

  /** Looks for jobs whose instance stopped, now and then every RESUME_INTERVAL_MS, and finishes them. */
  startResuming(): void {
    const resume = async () => {
      try {
        for (;;) {
          if (this.stopped) return;
          const now = this.messages.now();
          const job = await this.jobs.claimAbandoned(now, now + REPLAY_JOB_LEASE_MS);
          if (!job) break;
          this.logger.info({ jobId: job.jobId, matched: job.matched }, 'resuming a bulk replay');
          this.track(this.run(job));
        }
        await this.jobs.purge(this.messages.now() - KEPT_FINISHED_MS);
      } catch (error) {
        this.logger.warn({ err: error }, 'looking for abandoned bulk replays failed');
      }
    };
    void resume();
    this.resumeTimer = setInterval(resume, RESUME_INTERVAL_MS);
    this.resumeTimer.unref();
  }

  /** Stops taking jobs over and waits for the pages in progress (an unfinished job is resumed later). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.resumeTimer) clearInterval(this.resumeTimer);
    await Promise.all([...this.running]);
  }

  private track(work: Promise<void>): void {
    this.running.add(work);
    void work.finally(() => this.running.delete(work));
  }

  private async run(job: ReplayJob): Promise<void> {
    try {
      for (;;) {
        if (this.stopped) return;
        const ids = await this.messages.findIds(job.filter, PAGE_SIZE, job.afterId);
        if (ids.length > 0) {
          const { replayed, noListener } = await this.messages.replay(ids, this.maxAttempts, this.messages.now());
          job.matched += ids.length;
          job.replayed += replayed.length;
          job.noListener += noListener.length;
          job.afterId = ids[ids.length - 1];
          if (replayed.length > 0) this.onQueued();
        }
        if (ids.length < PAGE_SIZE) break;
        job.leasedUntil = this.messages.now() + REPLAY_JOB_LEASE_MS;
        await this.jobs.save(job);
        // Give publishes and deliveries a turn between pages.
        await new Promise((resolve) => setImmediate(resolve));
      }
      job.status = 'done';
    } catch (error) {
      job.status = 'failed';
      job.error = (error as Error).message;
      this.logger.error({ err: error, jobId: job.jobId }, 'bulk replay failed');
    }
    job.finishedAt = this.messages.now();
    job.leasedUntil = null;
    try {
      await this.jobs.save(job);
    } catch (error) {
      // The lease lapses and another instance (or this one) finishes the job.
      this.logger.error({ err: error, jobId: job.jobId }, 'recording the end of a bulk replay failed');
    }
  }
}
