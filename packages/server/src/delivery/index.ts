import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config.js';
import type { HandBackReason } from '../domain/hand-back.js';
import { EndpointHealth } from '../services/endpoint-health.js';
import type { MessageService } from '../services/messages.js';
import { OperatorEvents } from '../services/operator-events.js';
import type { RegistrationService } from '../services/registrations.js';
import type { MessageStore } from '../store/types.js';
import { USER_AGENT } from '../version.js';
import type { AttemptTracer } from './attempt-stage.js';
import { Dispatcher } from './dispatcher.js';
import type { Resolver } from './guarded-lookup.js';
import { HttpSender } from './http-sender.js';
import { startRetention } from './retention.js';
import { RetrySchedule } from './retry-schedule.js';
import type { SendResult } from './send-result.js';
import type { UrlGuard } from './url-guard.js';

/** A running delivery engine (dispatcher + retention purge). */
export interface Delivery {
  /** New messages are due: claim now instead of waiting for the next poll. */
  wake(): void;
  /** Stops claiming, lets in-flight attempts finish (or their leases lapse), records outcomes. */
  stop(): Promise<void>;
}

export interface DeliveryOptions {
  /** DNS resolver for listener hosts (tests stub it to check the URL guard). */
  resolve?: Resolver;
}

/**
 * What the delivery engine is given (the server's `AppContext` has all of it): the delivery and
 * retention settings, the message service, the URL guard, the logger and where attempts are counted.
 */
export interface DeliveryContext {
  config: Pick<Config, 'delivery' | 'retention' | 'operatorWebhook'> & Partial<Pick<Config, 'egressProxy'>>;
  store: { messages: MessageStore };
  messages: MessageService;
  /** Endpoint health is written through it (and auto-disable decided). */
  registrations: RegistrationService;
  /** Operator events published by the engine wake the dispatchers like any publish. */
  notifyPublished(): void;
  urlGuard: UrlGuard;
  logger: FastifyBaseLogger;
  metrics: {
    recordAttempts(results: readonly SendResult[]): void;
    recordHandBack(count: number, reason: HandBackReason): void;
    recordPurge(purged: number, seconds: number): void;
  };
  /** Attempt spans; null when tracing is off. */
  tracer?: AttemptTracer | null;
}

/** Starts the dispatcher and the retention purge. */
export function startDelivery(ctx: DeliveryContext, options: DeliveryOptions = {}): Delivery {
  const { config, store, logger } = ctx;
  const delivery = config.delivery;
  const sender = new HttpSender({
    guard: ctx.urlGuard,
    timeoutMs: delivery.attemptTimeoutMs,
    connectionsPerOrigin: delivery.originConcurrency,
    resolve: options.resolve,
    egressProxy: config.egressProxy ?? null,
  });
  const dispatcher = new Dispatcher({
    store: ctx.messages,
    sender,
    schedule: new RetrySchedule(delivery.retrySchedule),
    logger,
    concurrency: delivery.concurrency,
    originConcurrency: delivery.originConcurrency,
    batchSize: delivery.batchSize,
    leaseMs: delivery.leaseMs,
    attemptTimeoutMs: delivery.attemptTimeoutMs,
    pollIntervalMs: delivery.pollIntervalMs,
    userAgent: USER_AGENT,
    tracer: ctx.tracer ?? null,
    // Leases and due times in the store's clock (the database's on PostgreSQL), not this process's.
    now: () => ctx.messages.now(),
    onAttempts: (results) => ctx.metrics.recordAttempts(results),
    onHandBack: (count, reason) => ctx.metrics.recordHandBack(count, reason),
  });
  const events = config.operatorWebhook.url
    ? new OperatorEvents(async (messages, now) => {
        const published = await ctx.messages.publish(messages, now);
        if (published.some((p) => !p.handedOver && !p.duplicate)) ctx.notifyPublished();
        return published;
      }, delivery.maxAttempts)
    : null;
  const health = new EndpointHealth({ store, registrations: ctx.registrations, events, logger });
  ctx.messages.observe(health, events);
  const stopRetention = startRetention({
    store: store.messages,
    retention: ctx.config.retention,
    logger,
    onPurged: (purged, seconds) => ctx.metrics.recordPurge(purged, seconds),
    clock: () => ctx.messages.now(),
  });
  dispatcher.start();
  // Fresh publishes of this process go straight to its dispatcher (the publish fast path).
  ctx.messages.setHandoff(dispatcher);
  let stopping: Promise<void> | null = null;
  return {
    wake: () => dispatcher.wake(),
    stop() {
      stopping ??= (async () => {
        stopRetention();
        ctx.messages.setHandoff(null);
        await dispatcher.stop();
        await health.stop();
        ctx.messages.observe(null, null);
        await sender.close();
      })();
      return stopping;
    },
  };
}
