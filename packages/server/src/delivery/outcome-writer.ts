import type { StructuredLogger } from '../logger.js';
import type { AttemptOutcome, DeliveryQueue } from '../services/messages.js';
import type { AttemptRecord } from './attempt-stage.js';
import type { SendResult } from './send-result.js';

export interface OutcomeWriterOptions {
  store: Pick<DeliveryQueue, 'complete'>;
  logger: StructuredLogger;
  now: () => number;
  /** Called with the attempts of each recorded batch (metrics), once per batch rather than per attempt. */
  onAttempts?: (results: readonly SendResult[]) => void;
  /** A written batch held a retry: one may be due before the dispatcher's current sleep ends. */
  onRetries?: () => void;
}

/**
 * Records attempt outcomes in batches: everything that finished in the same turn of the event loop
 * goes to the store in one transaction (`complete`), at most one write at a time; what finishes
 * during a write goes in the next.
 */
export class OutcomeWriter {
  private outcomes: AttemptOutcome[] = [];
  private results: SendResult[] = [];
  /** The batched write in progress (at most one at a time). */
  private flushing: Promise<void> | null = null;

  constructor(private readonly options: OutcomeWriterOptions) {}

  /** Queues an attempt's outcome for the next batched write. */
  add(record: AttemptRecord): void {
    this.outcomes.push(record.outcome);
    this.results.push(record.result);
    if (this.flushing) return;
    this.flushing = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.write());
  }

  /** Waits for the write in progress and writes what is still queued. */
  async flush(): Promise<void> {
    if (this.flushing) await this.flushing;
    if (this.outcomes.length > 0) await this.write();
  }

  /** Records every collected outcome, one store transaction per batch. */
  private async write(): Promise<void> {
    let retries = false;
    try {
      while (this.outcomes.length > 0) {
        const batch = this.outcomes;
        const results = this.results;
        this.outcomes = [];
        this.results = [];
        retries ||= batch.some((outcome) => outcome.kind === 'retry');
        try {
          await this.options.store.complete(batch, this.options.now());
        } catch (error) {
          // The messages stay claimed; their leases lapse and they are delivered again (at least once).
          this.options.logger.error({ err: error, count: batch.length }, 'recording attempt outcomes failed');
        }
        this.options.onAttempts?.(results);
      }
    } finally {
      this.flushing = null;
    }
    if (retries) this.options.onRetries?.();
  }
}
