import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type, { type Static } from 'typebox';
import type { AppContext } from '../context.js';
import { MESSAGE_STATUSES } from '../domain/statuses.js';
import { ErrorCodes, errorBodySchema, HttpError } from './errors.js';
import { COUNTS, refuseLimited } from './messages.js';

const Point = Type.Object({
  at: Type.String({ format: 'date-time' }),
  counts: Type.Object(Object.fromEntries(MESSAGE_STATUSES.map((s) => [s, Type.Integer()]))),
  queueDepth: Type.Integer(),
  oldestDueAgeMs: Type.Integer(),
  intervalMs: Type.Integer({ description: 'Time since the previous point (0 for the first)' }),
  attempts: Type.Record(Type.String(), Type.Integer(), {
    description:
      'Attempts made since the previous point by outcome (success, http_5xx, timeout, …): every process for stored points, ' +
      'the process answering for the live one',
  }),
  live: Type.Boolean({ description: 'The last point, taken for this answer and not stored' }),
});

const HistoryQuery = Type.Object(
  {
    since: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 40,
        description:
          'From when (ISO 8601 or epoch milliseconds); default one hour ago, at most CCB_STATS_RETENTION back',
      }),
    ),
  },
  { additionalProperties: false },
);

const HistoryBody = Type.Object({
  sampleIntervalMs: Type.Integer({ description: 'CCB_STATS_INTERVAL: points further apart than this mark a gap' }),
  points: Type.Array(Point),
});

const DEFAULT_WINDOW_MS = 3_600_000;

/** `GET /admin/v1/stats/history`: the stored samples of /stats, and one taken now (see stats-history.ts). */
export const statsHistoryRoutes: FastifyPluginAsyncTypebox<{ ctx: AppContext }> = async (app, { ctx }) => {
  app.get(
    '/stats/history',
    {
      config: { scope: 'messages:read' },
      schema: {
        tags: ['Messages'],
        operationId: 'getStatsHistory',
        'x-examples': {
          responses: {
            200: {
              sampleIntervalMs: 10000,
              points: [
                {
                  at: '2026-12-01T09:30:00.000Z',
                  counts: COUNTS,
                  queueDepth: 4,
                  oldestDueAgeMs: 12,
                  intervalMs: 10000,
                  attempts: { success: 480, http_5xx: 2 },
                  live: false,
                },
                {
                  at: '2026-12-01T09:30:06.120Z',
                  counts: { ...COUNTS, delivered: COUNTS.delivered + 290 },
                  queueDepth: 3,
                  oldestDueAgeMs: 0,
                  intervalMs: 6120,
                  attempts: { success: 290 },
                  live: true,
                },
              ],
            },
          },
        },
        summary: 'The stats over the last hours, with the attempts made in between (the dashboard charts)',
        description:
          'Every server process stores a sample every CCB_STATS_INTERVAL (default 10 s), kept for CCB_STATS_RETENTION ' +
          '(default 24 h), so the history covers the time before anyone read it. One point per interval, then a live ' +
          'point for now; an interval without a point is a time when no process ran.',
        querystring: HistoryQuery,
        response: { 200: HistoryBody, 400: errorBodySchema, 401: errorBodySchema },
      },
    },
    async (request) => {
      refuseLimited(request, 'stats');
      const now = Date.now();
      const { since } = request.query;
      let from = now - DEFAULT_WINDOW_MS;
      if (since !== undefined) {
        from = /^\d+$/.test(since) ? Number(since) : Date.parse(since);
        if (!Number.isFinite(from)) {
          throw new HttpError(ErrorCodes.requestQuery, 'since must be an ISO 8601 date-time or epoch milliseconds');
        }
      }
      const points = await ctx.statsHistory.read(from, now);
      return {
        sampleIntervalMs: ctx.statsHistory.sampleIntervalMs,
        points: points.map((p) => ({
          at: new Date(p.at).toISOString(),
          counts: p.stats.counts,
          queueDepth: p.stats.queueDepth,
          oldestDueAgeMs: p.stats.oldestDueAgeMs,
          intervalMs: p.intervalMs,
          attempts: p.attempts,
          live: p.live,
        })),
      };
    },
  );
};

/** The history as the dashboard reads it. */
export type HistoryView = Static<typeof HistoryBody>;
export type HistoryPointView = Static<typeof Point>;
