import type { FastifyPluginAsync } from 'fastify';
import type { AppContext } from '../context.js';
import { clearQueueStatsSource, metricsRegistry, setQueueStatsSource } from '../metrics.js';

/** `GET /metrics` (Prometheus text format): delivery counters, queue gauges and process metrics. */
export const metricsRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (app, { ctx }) => {
  const source = () => ctx.store.messages.stats(Date.now());
  setQueueStatsSource(source);
  app.addHook('onClose', async () => clearQueueStatsSource(source));
  app.get('/metrics', { schema: { summary: 'Prometheus metrics', tags: ['Operations'] } }, async (_request, reply) => {
    const text = await metricsRegistry.metrics();
    return reply.type(metricsRegistry.contentType).send(text);
  });
};
