import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { bearerToken } from '../access/platform.js';
import type { AppContext } from '../context.js';
import { secretMatcher } from '../security/tokens.js';
import { ErrorCodes, HttpError } from './errors.js';

/**
 * `GET /metrics` (Prometheus text format): delivery counters, queue gauges and process metrics. The
 * queue gauges read the open messages only, once at a time for all scrapers (see Metrics); with
 * CCB_METRICS_TOKEN set, a scrape needs `Authorization: Bearer <token>`.
 */
export const metricsRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (app, { ctx }) => {
  const source = () => ctx.store.messages.openStats(ctx.store.now());
  const { metrics } = ctx;
  metrics.setQueueStatsSource(source);
  app.addHook('onClose', async () => metrics.clearQueueStatsSource(source));
  const token = ctx.config.metricsToken;
  const matches = token === null ? null : secretMatcher(token);
  const requireToken = (request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void): void => {
    const given = bearerToken(request.headers.authorization);
    if (matches && (given === null || !matches(given))) {
      throw new HttpError(ErrorCodes.unauthorized, '/metrics needs Authorization: Bearer <CCB_METRICS_TOKEN>', {
        headers: { 'www-authenticate': 'Bearer realm="ccb-metrics"' },
      });
    }
    done();
  };
  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics',
        tags: ['Operations'],
        operationId: 'getMetrics',
        'x-examples': { responses: { 200: '# TYPE ccb_queue_depth gauge\nccb_queue_depth 0\n' } },
      },
      ...(matches ? { onRequest: requireToken } : {}),
    },
    async (_request, reply) => {
      const text = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(text);
    },
  );
};
