import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import type { Config } from './config.js';
import type { AppContext } from './context.js';
import { type Delivery, startDelivery } from './delivery/index.js';
import { ReplayJobs } from './delivery/replay.js';
import { UrlGuard } from './delivery/url-guard.js';
import { seedDevData } from './dev.js';
import { createLogger } from './logger.js';
import { Metrics } from './metrics.js';
import { createServices } from './services/index.js';
import { setUpOperatorWebhook } from './services/operator-events.js';
import { StatsHistory } from './stats-history.js';
import { openStore } from './store/index.js';
import { startTracing, type Tracer } from './tracing.js';

export interface RunningServer {
  app: FastifyInstance;
  ctx: AppContext;
  /** `http://host:port` as actually bound. */
  address: string;
  delivery: Delivery | null;
  close(): Promise<void>;
}

export interface StartServerOptions {
  /** Defaults to JSON lines on stdout at `config.logLevel`, secrets redacted (see logger.ts). */
  logger?: FastifyBaseLogger;
  /** Clock for token and session expiry (tests). */
  clock?: () => number;
  /** Where spans go when tracing is on, instead of the configured exporter (tests). */
  spanExporter?: SpanExporter;
}

const AUTH_PURGE_INTERVAL_MS = 10 * 60 * 1000;

/**
 * Opens the store, seeds the dev profile, serves the API (role api/all; a worker serves only health
 * and metrics) and starts delivery (role worker/all). `close()` undoes all of it, in order.
 */
export async function startServer(config: Config, options: StartServerOptions = {}): Promise<RunningServer> {
  // Short lines for a person at a terminal in the dev profile; JSON lines for everything else.
  const format = config.dev && process.stdout.isTTY ? 'pretty' : 'json';
  const logger = options.logger ?? createLogger(config.logLevel, undefined, format);
  const store = await openStore(config.databaseUrl, {
    poolSize: config.databasePoolSize,
    partitionIntervalMs: config.partitionIntervalMs,
    ...config.databaseTimeouts,
  });
  let delivery: Delivery | null = null;
  let app: FastifyInstance | null = null;
  let replays: ReplayJobs | null = null;
  let stopListening: (() => void) | null = null;
  let statsHistory: StatsHistory | null = null;
  let tracer: Tracer | null = null;
  const purgeTimer = setInterval(() => {
    store.auth.purgeExpired(Date.now()).catch((error) => logger.warn({ err: error }, 'purging expired tokens failed'));
    // Audit entries past CCB_AUDIT_RETENTION, used portal links, ended portal sessions, old attempt windows.
    const now = Date.now();
    store.access
      .purge(now - config.access.auditRetentionMs, now)
      .catch((error) => logger.warn({ err: error }, 'purging the audit log and portal sessions failed'));
  }, AUTH_PURGE_INTERVAL_MS);
  purgeTimer.unref();
  try {
    await store.migrate();
    if (config.dev) await seedDevData(store);
    const { registrations, messages } = await createServices(store, config.encryptionKey);
    // OpenTelemetry is loaded only when tracing is on.
    if (config.tracing) tracer = await startTracing(config.tracing, logger, { exporter: options.spanExporter });
    if (config.role !== 'api') await setUpOperatorWebhook(registrations, config.operatorWebhook);
    replays = new ReplayJobs({
      jobs: store.replayJobs,
      messages,
      maxAttempts: config.delivery.maxAttempts,
      onQueued: () => ctx.notifyPublished(),
      logger,
    });
    const metrics = new Metrics();
    statsHistory = new StatsHistory({
      samples: store.statsSamples,
      readStats: (now) => messages.stats(now),
      attemptTotals: () => metrics.attemptTotals(),
      ...config.statsHistory,
      logger,
    });
    const ctx: AppContext = {
      config,
      store,
      registrations,
      messages,
      replays,
      urlGuard: UrlGuard.fromConfig(config),
      logger,
      metrics,
      statsHistory,
      tracer,
      notifyPublished() {},
    };
    app = await buildApp(ctx, { routes: config.role === 'worker' ? 'worker' : 'all', clock: options.clock });
    if (config.role !== 'api') {
      const started = startDelivery(ctx);
      delivery = started;
      ctx.notifyPublished = () => started.wake();
      // Publishes through other instances (PostgreSQL) wake this worker too.
      stopListening = store.onPublished?.(() => started.wake()) ?? null;
    }
    await app.listen({ port: config.port, host: config.host });
    statsHistory.start();
    if (config.role !== 'worker') replays.startResuming();
    const bound = app.server.address();
    const port = typeof bound === 'object' && bound ? bound.port : config.port;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    const address = `http://${host}:${port}`;

    let closing: Promise<void> | null = null;
    const running: RunningServer = {
      app,
      ctx,
      address,
      delivery,
      close() {
        closing ??= (async () => {
          clearInterval(purgeTimer);
          // Requests still running after the grace period are cut, so no client can hold the exit.
          const cut = setTimeout(() => app?.server.closeAllConnections(), config.http.shutdownGraceMs);
          cut.unref();
          try {
            stopListening?.();
            await statsHistory?.stop();
            await replays?.stop();
            await delivery?.stop();
            await app?.close();
          } finally {
            clearTimeout(cut);
          }
          await store.close();
          await tracer?.shutdown().catch((error) => logger.warn({ err: error }, 'exporting the last spans failed'));
        })();
        return closing;
      },
    };
    return running;
  } catch (error) {
    clearInterval(purgeTimer);
    await statsHistory?.stop().catch(() => {});
    await replays?.stop().catch(() => {});
    await delivery?.stop().catch(() => {});
    await app?.close().catch(() => {});
    await store.close();
    await tracer?.shutdown().catch(() => {});
    throw error;
  }
}
