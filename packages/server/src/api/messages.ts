import type { FastifyPluginAsync } from 'fastify';
import type { AppContext } from '../context.js';

/** Admin messages API (SPEC §4): publish, list, show, replay, secrets, stats. Built by issue 4. */
export const messagesRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async () => {};
