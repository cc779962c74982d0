import { formatAttemptError } from '../domain/attempt-error.js';
import type { StructuredLogger } from '../logger.js';
import type { AttemptOutcome, ClaimedMessage } from '../services/messages.js';
import type { Attempt } from '../store/types.js';
import type { AttemptSpan, Tracer } from '../tracing.js';
import { callbackRequest } from './callback-request.js';
import type { RetrySchedule } from './retry-schedule.js';
import type { SendResult } from './send-result.js';
import type { Signer } from './signer.js';

/** What the dispatcher needs from the HTTP side (HttpSender in production, fakes in tests). */
export interface Sender {
  originOf(url: string): string;
  send(url: string, headers: Record<string, string>, body: string): Promise<SendResult>;
}

/** Where attempt spans are started (tracing.ts's Tracer when tracing is on). */
export type AttemptTracer = Pick<Tracer, 'startAttempt'>;

export interface AttemptStageOptions {
  sender: Sender;
  /** null when tracing is off: then an attempt starts no span and sends no traceparent. */
  tracer: AttemptTracer | null;
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

  /**
   * One attempt. Without a tracer it takes the untraced path, whose suspended frames are those of an
   * engine without tracing: tracing off costs one comparison per attempt and no allocation.
   */
  run(item: ClaimedMessage, startedAt: number): Promise<AttemptRecord> {
    return this.options.tracer === null ? this.attempt(item, startedAt) : this.tracedAttempt(item, startedAt);
  }

  private async attempt(item: ClaimedMessage, startedAt: number): Promise<AttemptRecord> {
    const attemptNumber = item.message.attempts + 1;
    const result = await this.send(item, attemptNumber, startedAt);
    return this.decide(item, attemptNumber, startedAt, result);
  }

  /** The same attempt inside a span, its `traceparent` sent to the listener. */
  private async tracedAttempt(item: ClaimedMessage, startedAt: number): Promise<AttemptRecord> {
    const attemptNumber = item.message.attempts + 1;
    const span = this.startSpan(item, attemptNumber);
    const result = span
      ? await this.sendTraced(item, attemptNumber, startedAt, span.traceparent)
      : await this.send(item, attemptNumber, startedAt);
    const record = this.decide(item, attemptNumber, startedAt, result);
    span?.end(result, record.outcome.kind);
    return record;
  }

  /** decide: the retry policy's verdict on what the sender saw, and the attempt's record. */
  private decide(item: ClaimedMessage, attemptNumber: number, startedAt: number, result: SendResult): AttemptRecord {
    const { message, registration } = item;
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
    return { outcome: { ...decision, attempt, registration }, result };
  }

  /** prepare → send; a request that cannot be built or sent is an `internal` failure, never a throw. */
  private async send(item: ClaimedMessage, attemptNumber: number, startedAt: number): Promise<SendResult> {
    try {
      const { signer, userAgent, sender } = this.options;
      const request = callbackRequest(item, { attemptNumber, now: startedAt, signer, userAgent });
      return await sender.send(item.registration.url, request.headers, request.body);
    } catch (error) {
      return this.internalFailure(error, startedAt);
    }
  }

  private async sendTraced(
    item: ClaimedMessage,
    attemptNumber: number,
    startedAt: number,
    traceparent: string,
  ): Promise<SendResult> {
    try {
      const { signer, userAgent, sender } = this.options;
      const request = callbackRequest(item, { attemptNumber, now: startedAt, signer, userAgent });
      request.headers.traceparent = traceparent;
      return await sender.send(item.registration.url, request.headers, request.body);
    } catch (error) {
      return this.internalFailure(error, startedAt);
    }
  }

  private internalFailure(error: unknown, startedAt: number): SendResult {
    return {
      statusCode: null,
      retryAfter: null,
      error: { kind: 'internal', detail: (error as Error).message },
      responseExcerpt: null,
      latencyMs: this.options.now() - startedAt,
    };
  }

  /** A span for this attempt; a tracer that fails costs the trace, never the delivery. */
  private startSpan(item: ClaimedMessage, attemptNumber: number): AttemptSpan | null {
    try {
      return (this.options.tracer as AttemptTracer).startAttempt(item.message, attemptNumber, item.registration.url);
    } catch (error) {
      this.options.logger.warn({ err: error, messageId: item.message.id }, 'starting an attempt span failed');
      return null;
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
