import { newMessageId } from '../domain/message-id.js';
import type { MessageService, PublishedMessage } from './messages.js';

/** A message as a producer publishes it: the publisher gives it its id and its attempts. */
export interface PublishRequest {
  accountName: string;
  serviceName: string;
  /** The payload as JSON text. */
  payload: string;
  idempotencyKey: string | null;
}

export interface PublisherOptions {
  messages: MessageService;
  /** Attempts each new message is allowed (the retry schedule's length + 1). */
  maxAttempts: number;
  /** Counts new messages per service (metrics): one call per run of one service, not per message. */
  onPublished(service: string, count: number): void;
  /** New messages are due now and not handed to a dispatcher: wake the delivery side. */
  onDue(): void;
}

/**
 * Publishing as the admin API does it: mints the time-ordered ids, stores the messages through the
 * message service (one transaction), then does the bookkeeping: new messages counted per service,
 * the delivery side woken when something is due that no dispatcher took.
 */
export class Publisher {
  constructor(private readonly options: PublisherOptions) {}

  async publish(requests: readonly PublishRequest[], now: number): Promise<PublishedMessage[]> {
    const { maxAttempts } = this.options;
    const messages = requests.map((request) => ({ ...request, id: newMessageId(now), maxAttempts }));
    const published = await this.options.messages.publish(messages, now);
    let due = false;
    // One counter update per service of the batch, not one per message.
    let service = '';
    let count = 0;
    for (let i = 0; i < published.length; i++) {
      const result = published[i];
      if (result.duplicate) continue;
      if (result.status === 'pending' && !result.handedOver) due = true;
      if (messages[i].serviceName !== service) {
        if (count > 0) this.options.onPublished(service, count);
        service = messages[i].serviceName;
        count = 0;
      }
      count++;
    }
    if (count > 0) this.options.onPublished(service, count);
    if (due) this.options.onDue();
    return published;
  }
}
