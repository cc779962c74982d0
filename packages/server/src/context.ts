import type { FastifyBaseLogger } from 'fastify';
import type { Config } from './config.js';
import type { ReplayJobs } from './delivery/replay.js';
import type { UrlGuard } from './delivery/url-guard.js';
import type { Metrics } from './metrics.js';
import type { MessageService } from './services/messages.js';
import type { RegistrationService } from './services/registrations.js';
import type { StatsHistory } from './stats-history.js';
import type { Store } from './store/types.js';
import type { Tracer } from './tracing.js';

/**
 * What every part of the server is given: configuration, the services (the product's rules over
 * the store), the store itself (auth rows, health) and the logger. Routes receive it as the `ctx`
 * plugin option; the dispatcher receives it when it starts.
 */
export interface AppContext {
  config: Config;
  store: Store;
  registrations: RegistrationService;
  messages: MessageService;
  replays: ReplayJobs;
  /** The listener-URL rules from the configuration, built once: registration and delivery check with the same guard. */
  urlGuard: UrlGuard;
  logger: FastifyBaseLogger;
  /** This server's Prometheus metrics (its own registry). */
  metrics: Metrics;
  /** The dashboard charts' samples: taken by every process, read by the stats history route. */
  statsHistory: StatsHistory;
  /** OpenTelemetry spans of publishes and attempts; null when tracing is off (the default). */
  tracer: Tracer | null;
  /** Tells the delivery side that new messages are due now (wakes an idle dispatcher). */
  notifyPublished(): void;
}
