import type { FastifyPluginAsync } from 'fastify';
import type { AppContext } from '../context.js';

/** `GET /metrics` (Prometheus text format): delivery counters, queue gauges and process metrics. */
export const metricsRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (app, { ctx }) => {
  const source = () => ctx.store.messages.stats(Date.now());
  const { metrics } = ctx;
  metrics.setQueueStatsSource(source);
  app.addHook('onClose', async () => metrics.clearQueueStatsSource(source));
  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics',
        tags: ['Operations'],
        operationId: 'getMetrics',
        'x-examples': { responses: { 200: '# TYPE ccb_queue_depth gauge\nccb_queue_depth 0\n' } },
      },
    },
    async (_request, reply) => {
      const text = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(text);
    },
  );
};
