import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { AppContext } from '../context.js';
import { StoreUnavailableError } from '../store/errors.js';
import { ErrorCodes, errorBody, errorBodySchema, errorStatus } from './errors.js';

const Status = Type.Object({ status: Type.String() });

/** `/healthz` (the process is up) and `/readyz` (the store answers). */
export const healthRoutes: FastifyPluginAsyncTypebox<{ ctx: AppContext }> = async (app, { ctx }) => {
  app.get(
    '/healthz',
    { schema: { tags: ['Operations'], summary: 'Liveness', response: { 200: Status } } },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['Operations'],
        summary: 'Readiness: the store answers and can write',
        response: { 200: Status, 503: errorBodySchema },
      },
    },
    async (request, reply) => {
      try {
        await ctx.store.checkReady();
        return { status: 'ready' };
      } catch (error) {
        request.log.warn({ err: error }, 'store is not ready');
        const detail = error instanceof StoreUnavailableError ? error.message : 'the store is not answering';
        return reply.code(errorStatus(ErrorCodes.unavailable)).send(errorBody(ErrorCodes.unavailable, detail));
      }
    },
  );
};
