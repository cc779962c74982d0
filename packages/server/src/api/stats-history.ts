import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type, { type Static } from 'typebox';
import type { AppContext } from '../context.js';
import { StatsHistory } from '../stats-history.js';
import { MESSAGE_STATUSES } from '../store/types.js';
import { errorBodySchema } from './errors.js';

const Point = Type.Object({
  at: Type.String({ format: 'date-time' }),
  counts: Type.Object(Object.fromEntries(MESSAGE_STATUSES.map((s) => [s, Type.Integer()]))),
  queueDepth: Type.Integer(),
  oldestDueAgeMs: Type.Integer(),
  intervalMs: Type.Integer({ description: 'Time since the previous point (0 for the first)' }),
  attempts: Type.Record(Type.String(), Type.Integer(), {
    description: 'Attempts made by this process since the previous point, by outcome: success, http_5xx, timeout, …',
  }),
});

/** `GET /admin/v1/stats/history`: the last minutes of /stats, sampled when read (see stats-history.ts). */
export const statsHistoryRoutes: FastifyPluginAsyncTypebox<{ ctx: AppContext }> = async (app, { ctx }) => {
  const history = new StatsHistory(
    (now) => ctx.store.messages.stats(now),
    () => ctx.metrics.attemptTotals(),
  );
  app.get(
    '/stats/history',
    {
      schema: {
        tags: ['Messages'],
        summary: 'Recent samples of the stats with the attempts made in between (the dashboard chart)',
        description:
          'Each read adds a sample unless the last one is under a second old; samples older than 10 minutes are dropped.',
        security: [{ adminToken: [] }],
        response: { 200: Type.Object({ points: Type.Array(Point) }), 401: errorBodySchema },
      },
    },
    async () => ({
      points: (await history.read()).map((s) => ({
        at: new Date(s.at).toISOString(),
        counts: s.stats.counts,
        queueDepth: s.stats.queueDepth,
        oldestDueAgeMs: s.stats.oldestDueAgeMs,
        intervalMs: s.intervalMs,
        attempts: s.attempts,
      })),
    }),
  );
};

/** One point of the history, for the dashboard. */
export type HistoryPointView = Static<typeof Point>;
