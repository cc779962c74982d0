import type { FastifyPluginAsync } from 'fastify';
import type { AppContext } from '../context.js';

/** `GET /metrics` (Prometheus). Built by the delivery issue (issue 4). */
export const metricsRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async () => {};
