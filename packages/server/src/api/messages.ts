import { type ServiceName as CatalogueServiceName, exampleMessage } from '@ccb/sdk';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import { mayUseAccount } from '../access/principal.js';
import type { AppContext } from '../context.js';
import { DEV_CREDENTIALS } from '../dev.js';
import { MessageReasons } from '../domain/reasons.js';
import type { MessageStatus } from '../domain/statuses.js';
import { IDEMPOTENCY_KEY_TTL_MS, IdempotencyConflictError } from '../services/messages.js';
import { Publisher, type PublishRequest } from '../services/publisher.js';
import { InvalidCursorError, type MessageFilter } from '../store/types.js';
import { accountsOf, listAccount, requireAccount } from './access-hooks.js';
import { describeBytes, type ErrorCode, ErrorCodes, errorBodySchema, HttpError } from './errors.js';
import {
  attemptBody,
  BatchRequest,
  BatchResponse,
  IdParams,
  ListQuery,
  MAX_EPOCH_MS,
  MessagePageBody,
  type MessageQuery,
  MessageWithAttempts,
  messageBody,
  noListenerError,
  PublishRequest as PublishBody,
  PublishResponse,
  RegistrationParams,
  ReplayJobBody,
  ReplayRequest,
  replayJobBody,
  StatsBody,
} from './message-schemas.js';

/** `86400000` → `24 hours`, for the route descriptions (the durations are the services' own). */
function hours(ms: number): string {
  return `${ms / 3_600_000} hours`;
}

/** A batch of 1,000 realistic messages is well over the 1 MiB limit of the other routes. */
const BATCH_BODY_LIMIT = 16 * 1024 * 1024;

const errors = { 400: errorBodySchema, 401: errorBodySchema };

const ACCOUNT = DEV_CREDENTIALS.accountName;
const MESSAGE_ID = 'msg_01a21478d1c222deb8f583d448698944';
const PAYLOAD = {
  requestId: '595f5c44-c31c-4552-8670-020a1545a84d',
  deviceIds: [{ id: '89148000000800139708', kind: 'iccid' }],
  status: 'Success',
};
const MESSAGE = {
  id: MESSAGE_ID,
  accountName: ACCOUNT,
  serviceName: 'CarrierService',
  status: 'delivered',
  attempts: 1,
  maxAttempts: 4,
  nextAttemptAt: null,
  reason: null,
  idempotencyKey: 'order-4711',
  createdAt: '2026-12-01T09:30:05.120Z',
  updatedAt: '2026-12-01T09:30:05.131Z',
  deliveredAt: '2026-12-01T09:30:05.131Z',
  payload: PAYLOAD,
};
const ATTEMPT = {
  attemptNumber: 1,
  startedAt: '2026-12-01T09:30:05.125Z',
  url: 'http://127.0.0.1:9001/',
  statusCode: 204,
  latencyMs: 3,
  error: null,
  responseExcerpt: '',
};
const REPLAY_JOB = {
  jobId: 'rpl_01a2b3c4d5e6f708',
  status: 'done',
  matched: 12,
  replayed: 12,
  noListener: 0,
  startedAt: '2026-12-01T09:40:00.000Z',
  finishedAt: '2026-12-01T09:40:00.210Z',
  error: null,
};
/** Example counts by status (also the stats history's). */
export const COUNTS = { pending: 3, delivering: 1, delivered: 1200, failed: 4, cancelled: 0 };

/** Counts over every account are not for a caller limited to some (403). */
export function refuseLimited(request: FastifyRequest, what: string): void {
  if (accountsOf(request) !== null) {
    throw new HttpError(ErrorCodes.forbidden, `${what} cover every account: not for a key limited to accounts`);
  }
}

function toEpochMs(value: number | string, field: string, code: ErrorCode = ErrorCodes.requestBody): number {
  const ms = typeof value === 'number' ? value : /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms) || ms < 0 || ms > MAX_EPOCH_MS) {
    throw new HttpError(code, `${field} must be an ISO 8601 date-time or epoch milliseconds from 0 to ${MAX_EPOCH_MS}`);
  }
  return ms;
}

/** A message id, or `field=value` for a top-level payload field (`requestId=r-42`). */
const SEARCH_FIELD = /^([A-Za-z0-9_$-]{1,64})=(.{0,256})$/s;

/** The list route's query as a store filter; a bad time or search is a 400 naming the parameter. */
function listFilter(query: MessageQuery): MessageFilter {
  const { accountName, serviceName, status, since, until, reason, q } = query;
  const filter: MessageFilter = { accountName, serviceName, status: status as MessageStatus | undefined };
  if (since !== undefined) filter.since = toEpochMs(since, 'since', ErrorCodes.requestQuery);
  if (until !== undefined) filter.until = toEpochMs(until, 'until', ErrorCodes.requestQuery);
  if (reason !== undefined) filter.reasonKind = reason;
  if (q !== undefined) {
    const search = q.trim();
    const field = SEARCH_FIELD.exec(search);
    if (/^msg_[0-9a-f]{1,64}$/.test(search)) filter.id = search;
    else if (field) filter.payloadField = { name: field[1], value: field[2] };
    else {
      throw new HttpError(
        ErrorCodes.requestQuery,
        'q must be a message id (msg_…) or field=value for a top-level payload field, e.g. requestId=r-42',
      );
    }
  }
  return filter;
}

/** Admin messages API (SPEC §4): publish, list, show, replay, stats. */
export const messagesRoutes: FastifyPluginAsyncTypebox<{ ctx: AppContext }> = async (app, { ctx }) => {
  const { messages: messageService, replays } = ctx;

  const publisher = new Publisher({
    messages: messageService,
    maxAttempts: ctx.config.delivery.maxAttempts,
    onPublished: (service, count) => ctx.metrics.messagesPublished.inc({ service }, count),
    onDue: () => ctx.notifyPublished(),
  });

  /** Publishes through the service; a conflicting Idempotency-Key is a 422 naming the message. */
  async function publish(messages: PublishRequest[], traceparent: string | string[] | undefined) {
    const startedAt = Date.now();
    try {
      const results = await publisher.publish(messages, messageService.now());
      // A publish span per message newly stored (a repeated Idempotency-Key stored nothing).
      if (ctx.tracer !== null) {
        const stored = results.flatMap((result, i) =>
          result.duplicate ? [] : [{ ...messages[i], id: result.id, status: result.status }],
        );
        ctx.tracer.published(stored, startedAt, typeof traceparent === 'string' ? traceparent : undefined);
      }
      return results;
    } catch (error) {
      if (error instanceof IdempotencyConflictError) {
        const where = messages.length > 1 ? ` (messages[${error.index}])` : '';
        throw new HttpError(ErrorCodes.idempotencyKey, `${error.message}${where}`);
      }
      throw error;
    }
  }

  app.post(
    '/messages',
    {
      config: { scope: 'messages:publish', audit: false },
      schema: {
        tags: ['Messages'],
        operationId: 'publishMessage',
        'x-examples': {
          request: { accountName: ACCOUNT, serviceName: 'CarrierService', payload: PAYLOAD },
          responses: { 202: { messageId: MESSAGE_ID, status: 'pending' } },
        },
        summary: 'Publish a callback message',
        description:
          `Answers 202 once the message is committed. An Idempotency-Key is remembered for ${hours(IDEMPOTENCY_KEY_TTL_MS)} per account and ` +
          'service: repeated with the same payload it returns the first message, with another payload it answers 422. ' +
          `Without a registration for the account and service the message is stored failed (${MessageReasons.noRegistration}).`,
        headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255 })) }),
        body: PublishBody,
        response: { 202: PublishResponse, ...errors, 422: errorBodySchema },
      },
    },
    async (request, reply) => {
      const { accountName, serviceName, payload } = request.body;
      requireAccount(request, accountName);
      const [result] = await publish(
        [
          {
            accountName,
            serviceName,
            payload: JSON.stringify(payload),
            idempotencyKey: request.headers['idempotency-key'] ?? null,
          },
        ],
        request.headers.traceparent,
      );
      if (result.duplicate) reply.header('idempotent-replayed', 'true');
      return reply.code(202).send({ messageId: result.id, status: result.status });
    },
  );

  app.post(
    '/messages/batch',
    {
      config: { scope: 'messages:publish', audit: false },
      bodyLimit: BATCH_BODY_LIMIT,
      schema: {
        tags: ['Messages'],
        operationId: 'publishMessages',
        'x-examples': {
          request: {
            messages: [
              {
                accountName: ACCOUNT,
                serviceName: 'DeviceUsage',
                payload: { requestId: 'r-1' },
                idempotencyKey: 'usage-1',
              },
            ],
          },
          responses: { 202: { messageIds: ['msg_01a2147900000000000000000000002b'], statuses: ['failed'] } },
        },
        summary: 'Publish up to 1,000 callback messages in one transaction',
        description:
          'Idempotency keys work as on single publishes, also between messages of one batch; a conflicting key ' +
          'refuses the whole batch with 422. The body may be up to 16 MiB; each message payload at most 1 MiB, ' +
          'as for a single publish.',
        body: BatchRequest,
        response: { 202: BatchResponse, ...errors, 413: errorBodySchema, 422: errorBodySchema },
      },
    },
    async (request, reply) => {
      // Each message keeps the limit of a single publish, whatever the batch's own limit.
      const messageLimit = ctx.config.bodyLimitBytes;
      for (const m of request.body.messages) requireAccount(request, m.accountName);
      const messages = request.body.messages.map((m, i) => {
        const payload = JSON.stringify(m.payload);
        if (Buffer.byteLength(payload) > messageLimit) {
          throw new HttpError(
            ErrorCodes.requestTooLarge,
            `messages[${i}].payload is larger than ${describeBytes(messageLimit)}, the limit of one message`,
          );
        }
        return {
          accountName: m.accountName,
          serviceName: m.serviceName,
          payload,
          idempotencyKey: m.idempotencyKey ?? null,
        };
      });
      const published = await publish(messages, request.headers.traceparent);
      return reply.code(202).send({ messageIds: published.map((p) => p.id), statuses: published.map((p) => p.status) });
    },
  );

  app.get(
    '/messages',
    {
      config: { scope: 'messages:read' },
      schema: {
        tags: ['Messages'],
        operationId: 'listMessages',
        'x-examples': { responses: { 200: { items: [MESSAGE], nextCursor: null } } },
        summary: 'List messages, newest first',
        querystring: ListQuery,
        response: { 200: MessagePageBody, ...errors },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query;
      const filter = { ...listFilter(request.query), accountName: listAccount(request, request.query.accountName) };
      let page: Awaited<ReturnType<typeof messageService.list>>;
      try {
        page = await messageService.list(filter, limit === undefined ? 50 : Number(limit), cursor ?? null);
      } catch (error) {
        if (error instanceof InvalidCursorError) throw new HttpError(ErrorCodes.requestQuery, error.message);
        throw error;
      }
      return { items: page.items.map(messageBody), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/messages/:id',
    {
      config: { scope: 'messages:read' },
      schema: {
        tags: ['Messages'],
        operationId: 'getMessage',
        'x-examples': {
          responses: {
            200: { ...MESSAGE, deliveryAttempts: [ATTEMPT] },
            404: { errorCode: ErrorCodes.notFound, errorMessage: `message ${MESSAGE_ID} does not exist` },
          },
        },
        summary: 'One message with every attempt',
        params: IdParams,
        response: { 200: MessageWithAttempts, ...errors, 404: errorBodySchema },
      },
    },
    async (request) => {
      const found = await messageService.get(request.params.id);
      // Another account's message is as unknown to a key limited to accounts as one that does not exist.
      if (!found || !mayUseAccount(request.principal!, found.message.accountName)) {
        throw new HttpError(ErrorCodes.notFound, `message ${request.params.id} does not exist`);
      }
      return { ...messageBody(found.message), deliveryAttempts: found.attempts.map(attemptBody) };
    },
  );

  app.post(
    '/messages/:id/replay',
    {
      config: { scope: 'messages:replay' },
      schema: {
        tags: ['Messages'],
        operationId: 'replayMessage',
        'x-examples': {
          responses: {
            202: { messageId: MESSAGE_ID, status: 'pending' },
            409: {
              errorCode: ErrorCodes.messageDelivering,
              errorMessage: `message ${MESSAGE_ID} is being delivered right now; replay it once this attempt has ended`,
            },
          },
        },
        summary: 'Deliver a message now: again once delivered, failed or cancelled, or without waiting when pending',
        description:
          'The replay is a new attempt of the same message id, due at once, with a fresh set of attempts on top of ' +
          'those made; callbackCount continues. A message being delivered right now answers 409; one whose account ' +
          'and service have no registration answers 400 REQUEST_FAILED.CallbackNotFound (it would fail again at once).',
        params: IdParams,
        response: { 202: PublishResponse, ...errors, 404: errorBodySchema, 409: errorBodySchema },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      if (accountsOf(request) !== null) {
        const found = await messageService.get(id);
        if (!found || !mayUseAccount(request.principal!, found.message.accountName)) {
          throw new HttpError(ErrorCodes.notFound, `message ${id} does not exist`);
        }
        request.audit = { accountName: found.message.accountName };
      }
      const replay = () => messageService.replay([id], ctx.config.delivery.maxAttempts, messageService.now());
      const noListener = async () => {
        const message = (await messageService.get(id))?.message;
        // The refusal's audit entry names the message's account, as a replay's does.
        request.audit ??= { accountName: message?.accountName ?? null };
        return noListenerError(id, message);
      };
      let outcome = await replay();
      if (outcome.noListener.length > 0) throw await noListener();
      if (outcome.replayed.length === 0) {
        const found = await messageService.get(id);
        if (!found) throw new HttpError(ErrorCodes.notFound, `message ${id} does not exist`);
        // Delivering is the only status a replay leaves alone; an attempt that ended in between is replayed now.
        if (found.message.status !== 'delivering') outcome = await replay();
        if (outcome.noListener.length > 0) throw await noListener();
        if (outcome.replayed.length === 0) {
          throw new HttpError(
            ErrorCodes.messageDelivering,
            `message ${id} is being delivered right now; replay it once this attempt has ended`,
          );
        }
      }
      ctx.notifyPublished();
      // The audit entry names the message's account (a key limited to accounts has looked it up already).
      request.audit ??= { accountName: (await messageService.get(id))?.message.accountName ?? null };
      return reply.code(202).send({ messageId: id, status: 'pending' });
    },
  );

  app.post(
    '/messages/replay',
    {
      config: { scope: 'messages:replay' },
      schema: {
        tags: ['Replays'],
        operationId: 'replayMessages',
        'x-examples': {
          request: { filter: { status: 'failed', serviceName: 'DeviceUsage', since: '2026-12-01T00:00:00Z' } },
          responses: { 202: { jobId: REPLAY_JOB.jobId } },
        },
        summary: 'Replay every message matching a filter, as a background job',
        body: ReplayRequest,
        response: { 202: Type.Object({ jobId: Type.String() }), ...errors },
      },
    },
    async (request, reply) => {
      const given = request.body.filter ?? {};
      const empty = Object.keys(given).length === 0;
      if (empty !== (request.body.all === true)) {
        throw new HttpError(
          ErrorCodes.requestBody,
          empty
            ? 'a bulk replay needs a filter, or "all": true to replay every message'
            : 'give either a filter or "all": true, not both',
        );
      }
      const { status, serviceName, since, until, reason } = given;
      const accountName = listAccount(request, given.accountName);
      const filter: MessageFilter = { status: status as MessageStatus | undefined, accountName, serviceName };
      if (since !== undefined) filter.since = toEpochMs(since, 'filter.since');
      if (until !== undefined) filter.until = toEpochMs(until, 'filter.until');
      if (reason !== undefined) filter.reasonKind = reason;
      const job = await replays.start(filter);
      return reply.code(202).send({ jobId: job.jobId });
    },
  );

  app.get(
    '/replays/:jobId',
    {
      config: { scope: 'messages:read' },
      schema: {
        tags: ['Replays'],
        operationId: 'getReplayJob',
        'x-examples': { responses: { 200: REPLAY_JOB } },
        summary: 'Progress of a bulk replay job',
        params: Type.Object({ jobId: Type.String() }),
        response: { 200: ReplayJobBody, ...errors, 404: errorBodySchema },
      },
    },
    async (request) => {
      const job = await replays.get(request.params.jobId);
      const limited = accountsOf(request);
      const jobAccount = job?.filter.accountName;
      if (!job || (limited !== null && (jobAccount === undefined || !limited.has(jobAccount)))) {
        throw new HttpError(ErrorCodes.notFound, `replay job ${request.params.jobId} does not exist`);
      }
      return replayJobBody(job);
    },
  );

  app.post(
    '/callbacks/:aname/:sname/test-message',
    {
      config: { scope: 'messages:publish' },
      schema: {
        tags: ['Messages'],
        operationId: 'sendTestMessage',
        'x-examples': {
          responses: {
            202: { messageId: MESSAGE_ID, status: 'pending' },
            404: {
              errorCode: ErrorCodes.notFound,
              errorMessage: `account ${ACCOUNT} has no registration for CarrierService`,
            },
          },
        },
        summary: "Publish an example message of the registration's service (from the SDK's catalogue) to it",
        description:
          'The message is an ordinary one (exampleMessage(serviceName) of @ccb/sdk, with a fresh requestId): it is ' +
          'delivered, retried and listed like any other.',
        params: RegistrationParams,
        response: { 202: PublishResponse, ...errors, 404: errorBodySchema },
      },
    },
    async (request, reply) => {
      const { aname, sname } = request.params;
      requireAccount(request, aname);
      if (!(await ctx.registrations.get(aname, sname))) {
        throw new HttpError(ErrorCodes.notFound, `account ${aname} has no registration for ${sname}`);
      }
      const payload = exampleMessage(sname as CatalogueServiceName, { accountName: aname });
      const [result] = await publish(
        [{ accountName: aname, serviceName: sname, payload: JSON.stringify(payload), idempotencyKey: null }],
        request.headers.traceparent,
      );
      request.log.info({ account: aname, service: sname, messageId: result.id }, 'test message published');
      return reply.code(202).send({ messageId: result.id, status: result.status });
    },
  );

  app.get(
    '/stats',
    {
      config: { scope: 'messages:read' },
      schema: {
        tags: ['Messages'],
        operationId: 'getStats',
        'x-examples': { responses: { 200: { counts: COUNTS, queueDepth: 4, oldestDueAgeMs: 12 } } },
        summary: 'Message counts by status, queue depth and the age of the oldest due message',
        response: { 200: StatsBody, ...errors },
      },
    },
    async (request) => {
      refuseLimited(request, 'stats');
      return messageService.stats(messageService.now());
    },
  );
};
