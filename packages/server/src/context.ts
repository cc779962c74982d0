import type { FastifyBaseLogger } from 'fastify';
import type { Config } from './config.js';
import type { Store } from './store/types.js';

/**
 * What every part of the server is given: configuration, the store and the logger. Routes receive it
 * as the `ctx` plugin option; the dispatcher receives it when it starts.
 */
export interface AppContext {
  config: Config;
  store: Store;
  logger: FastifyBaseLogger;
  /** Tells the delivery side that new messages are due now (wakes an idle dispatcher). */
  notifyPublished(): void;
}
