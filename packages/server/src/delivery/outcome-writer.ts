import { TurnGroups, type Waiting } from '../common/turn-groups.js';
import type { StructuredLogger } from '../logger.js';
import type { DeliveryQueue } from '../services/messages.js';
import type { AttemptRecord } from './attempt-stage.js';
import type { SendResult } from './send-result.js';

export interface OutcomeWriterOptions {
  store: Pick<DeliveryQueue, 'complete'>;
  logger: StructuredLogger;
  now: () => number;
  /** Called with the attempts of each recorded batch (metrics), once per batch rather than per attempt. */
  onAttempts?: (results: readonly SendResult[]) => void;
  /**
   * A written batch held a retry, or ended a turn of a held registration: something may be due
   * before the dispatcher's current sleep ends.
   */
  onRetries?: () => void;
  /** The messages of a batch whose write ended (written, or failed: their leases then lapse). */
  onWritten?: (ids: string[]) => void;
}

/**
 * Records attempt outcomes in batches: everything that finished in the same turn of the event loop
 * goes to the store in one transaction (`complete`), at most one write at a time; what finishes
 * during a write goes in the next (the TurnGroups helper).
 */
export class OutcomeWriter {
  private readonly groups = new TurnGroups<AttemptRecord, void>((group) => this.write(group), 1);

  constructor(private readonly options: OutcomeWriterOptions) {}

  /** Queues an attempt's outcome for the next batched write. */
  add(record: AttemptRecord): void {
    this.groups.push(record);
  }

  /** Resolves once every queued outcome is written. */
  flush(): Promise<void> {
    return this.groups.idle();
  }

  /** Records one turn's outcomes in one store transaction. */
  private async write(group: Waiting<AttemptRecord, void>[]): Promise<void> {
    const outcomes = group.map((entry) => entry.input.outcome);
    let admitMore = false;
    try {
      // True when held messages may be admitted now (a FIFO turn ended): claim again, as after a retry.
      admitMore = await this.options.store.complete(outcomes, this.options.now());
    } catch (error) {
      // The messages stay claimed; their leases lapse and they are delivered again (at least once).
      this.options.logger.error({ err: error, count: outcomes.length }, 'recording attempt outcomes failed');
    }
    this.options.onWritten?.(outcomes.map((outcome) => outcome.attempt.messageId));
    this.options.onAttempts?.(group.map((entry) => entry.input.result));
    if (admitMore || outcomes.some((outcome) => outcome.kind === 'retry')) this.options.onRetries?.();
  }
}
