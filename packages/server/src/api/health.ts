import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { AppContext } from '../context.js';
import { StoreUnavailableError } from '../store/errors.js';
import { ErrorCodes, errorBody, errorBodySchema, errorStatus } from './errors.js';

const Status = Type.Object({ status: Type.String() });

/**
 * `/readyz` answers within this, whatever the store does: a store that has not answered by then (a
 * frozen or unreachable database still inside its own timeouts) is reported not ready.
 */
export const READY_TIMEOUT_MS = 2_000;

/** Resolves when the store is ready; rejects when it is not, or has not said so within READY_TIMEOUT_MS. */
function readyWithin(ctx: AppContext): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new StoreUnavailableError(
            'unreachable',
            `the store did not answer within ${READY_TIMEOUT_MS / 1000} s`,
            Math.ceil(READY_TIMEOUT_MS / 1000),
          ),
        ),
      READY_TIMEOUT_MS,
    );
    ctx.store.checkReady().then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** `/healthz` (the process is up) and `/readyz` (the store answers). */
export const healthRoutes: FastifyPluginAsyncTypebox<{ ctx: AppContext }> = async (app, { ctx }) => {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['Operations'],
        operationId: 'getHealth',
        summary: 'Liveness',
        'x-examples': { responses: { 200: { status: 'ok' } } },
        response: { 200: Status },
      },
    },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['Operations'],
        operationId: 'getReadiness',
        summary: 'Readiness: the store answers and can write',
        'x-examples': {
          responses: {
            200: { status: 'ready' },
            503: { errorCode: ErrorCodes.unavailable, errorMessage: 'the store does not answer' },
          },
        },
        response: { 200: Status, 503: errorBodySchema },
      },
    },
    async (request, reply) => {
      try {
        await readyWithin(ctx);
        return { status: 'ready' };
      } catch (error) {
        request.log.warn({ err: error }, 'store is not ready');
        const detail = error instanceof StoreUnavailableError ? error.message : 'the store is not answering';
        const retryAfter = error instanceof StoreUnavailableError ? error.retryAfterSeconds : 1;
        return reply
          .code(errorStatus(ErrorCodes.unavailable))
          .header('retry-after', String(retryAfter))
          .send(errorBody(ErrorCodes.unavailable, detail));
      }
    },
  );
};
