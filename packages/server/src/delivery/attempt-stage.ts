import { formatAttemptError } from '../domain/attempt-error.js';
import type { StructuredLogger } from '../logger.js';
import type { AttemptOutcome, ClaimedMessage } from '../services/messages.js';
import type { Attempt } from '../store/types.js';
import { callbackRequest } from './callback-request.js';
import type { RetrySchedule } from './retry-schedule.js';
import type { SendResult } from './send-result.js';
import type { Signer } from './signer.js';

/** What the dispatcher needs from the HTTP side (HttpSender in production, fakes in tests). */
export interface Sender {
  originOf(url: string): string;
  send(url: string, headers: Record<string, string>, body: string): Promise<SendResult>;
}

export interface AttemptStageOptions {
  sender: Sender;
  schedule: RetrySchedule;
  signer: Signer;
  logger: StructuredLogger;
  userAgent: string;
  now: () => number;
}

/** One attempt's outcome (for the store) and what the sender saw (for the metrics). */
export interface AttemptRecord {
  outcome: AttemptOutcome;
  result: SendResult;
}

/**
 * One delivery attempt in three stages, after Svix's worker: `prepare` (the signed request, built
 * once), `send` (the HTTP call, which never throws: failures come back typed) and `decide` (the retry
 * policy's verdict). It writes nothing: the dispatcher hands the record to its outcome writer.
 */
export class AttemptStage {
  constructor(private readonly options: AttemptStageOptions) {}

  async run(item: ClaimedMessage, startedAt: number): Promise<AttemptRecord> {
    const { message, registration } = item;
    const attemptNumber = message.attempts + 1;
    const result = await this.send(item, attemptNumber, startedAt);
    const attempt: Attempt = {
      messageId: message.id,
      attemptNumber,
      startedAt,
      url: registration.url,
      statusCode: result.statusCode,
      latencyMs: result.latencyMs,
      errorKind: result.error?.kind ?? null,
      error: result.error?.detail ?? null,
      responseExcerpt: result.responseExcerpt,
    };
    const decision = this.options.schedule.decide(attemptNumber, message.maxAttempts, result, this.options.now());
    this.log(item, attemptNumber, result, decision);
    return { outcome: { ...decision, attempt }, result };
  }

  /** prepare → send; a request that cannot be built or sent is an `internal` failure, never a throw. */
  private async send(item: ClaimedMessage, attemptNumber: number, startedAt: number): Promise<SendResult> {
    try {
      const { signer, userAgent, sender } = this.options;
      const request = callbackRequest(item, { attemptNumber, now: startedAt, signer, userAgent });
      return await sender.send(item.registration.url, request.headers, request.body);
    } catch (error) {
      return {
        statusCode: null,
        retryAfter: null,
        error: { kind: 'internal', detail: (error as Error).message },
        responseExcerpt: null,
        latencyMs: this.options.now() - startedAt,
      };
    }
  }

  /** One line per outcome; built only when info is on (benchmarks and quiet deployments run at warn). */
  private log(
    { message, registration }: ClaimedMessage,
    attemptNumber: number,
    result: SendResult,
    decision: ReturnType<RetrySchedule['decide']>,
  ): void {
    const { logger, now } = this.options;
    if (logger.isLevelEnabled?.('info') === false) return;
    logger.info(
      {
        messageId: message.id,
        account: message.accountName,
        service: message.serviceName,
        attempt: attemptNumber,
        url: registration.url,
        statusCode: result.statusCode,
        error: result.error && formatAttemptError(result.error),
        ms: Math.round(result.latencyMs),
        outcome: decision.kind,
        ...(decision.kind === 'failed' ? { reason: decision.reason } : {}),
        ...(decision.kind === 'retry' ? { retryIn: `${Math.round((decision.nextAttemptAt - now()) / 1000)}s` } : {}),
      },
      decision.kind === 'delivered'
        ? 'message delivered'
        : decision.kind === 'failed'
          ? 'message failed'
          : 'attempt failed',
    );
  }
}
