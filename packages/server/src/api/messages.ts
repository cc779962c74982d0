import { randomFillSync } from 'node:crypto';
import { type ServiceName as CatalogueServiceName, exampleMessage, SERVICE_NAMES } from '@ccb/sdk';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type, { type Static } from 'typebox';
import type { AppContext } from '../context.js';
import { ATTEMPT_ERROR_KINDS, storedAttemptError } from '../delivery/attempt-error.js';
import { IDEMPOTENCY_KEY_TTL_MS, IdempotencyConflictError, type NewMessage } from '../services/messages.js';
import { REASON_KINDS } from '../services/reasons.js';
import { ROTATION_GRACE_MS } from '../services/registrations.js';
import {
  type Attempt,
  type CallbackMessage,
  InvalidCursorError,
  MESSAGE_STATUSES,
  type MessageFilter,
  type MessageStatus,
} from '../store/types.js';
import { describeBytes, ErrorCodes, errorBodySchema, HttpError } from './errors.js';
import { accountName } from './schemas.js';

/** `86400000` → `24 hours`, for the route descriptions (the durations are the services' own). */
function hours(ms: number): string {
  return `${ms / 3_600_000} hours`;
}

/** A batch of 1,000 realistic messages is well over the 1 MiB limit of the other routes. */
const BATCH_BODY_LIMIT = 16 * 1024 * 1024;

const AccountName = accountName();
const ServiceName = Type.Enum([...SERVICE_NAMES], { description: 'A callback service of the catalogue' });
const Status = Type.Enum([...MESSAGE_STATUSES]);
const Payload = Type.Object(
  {},
  {
    additionalProperties: true,
    description: 'The message as the producer made it; the engine adds username, password and the counters',
  },
);
/** Admin requests are refused, not trimmed, when they carry a field the route does not know. */
const closed = { additionalProperties: false } as const;
const Timestamp = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);
const NullableString = Type.Union([Type.String(), Type.Null()]);

const PublishRequest = Type.Object({ accountName: AccountName, serviceName: ServiceName, payload: Payload }, closed);
const PublishResponse = Type.Object({ messageId: Type.String(), status: Status });
const BatchRequest = Type.Object(
  {
    messages: Type.Array(
      Type.Object(
        {
          accountName: AccountName,
          serviceName: ServiceName,
          payload: Payload,
          idempotencyKey: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
        },
        closed,
      ),
      { minItems: 1, maxItems: 1000 },
    ),
  },
  closed,
);
const BatchResponse = Type.Object({
  messageIds: Type.Array(Type.String()),
  statuses: Type.Array(Status, { description: 'Status of each message, in order: failed when it found no listener' }),
});

const MessageBody = Type.Object({
  id: Type.String(),
  accountName: Type.String(),
  serviceName: Type.String(),
  status: Status,
  attempts: Type.Integer(),
  maxAttempts: Type.Integer(),
  nextAttemptAt: Timestamp,
  reason: NullableString,
  idempotencyKey: NullableString,
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
  deliveredAt: Timestamp,
  payload: Payload,
});
const AttemptBody = Type.Object({
  attemptNumber: Type.Integer(),
  startedAt: Type.String({ format: 'date-time' }),
  url: Type.String(),
  statusCode: Type.Union([Type.Integer(), Type.Null()]),
  latencyMs: Type.Number(),
  error: Type.Union(
    [
      Type.Object(
        {
          kind: Type.Enum([...ATTEMPT_ERROR_KINDS], { description: 'What went wrong, for programs to switch on' }),
          detail: Type.String({ description: 'What went wrong, for people' }),
        },
        { additionalProperties: false },
      ),
      Type.Null(),
    ],
    { description: 'Why the attempt failed; null when it succeeded' },
  ),
  responseExcerpt: NullableString,
});
const MessageWithAttempts = Type.Object({
  ...MessageBody.properties,
  deliveryAttempts: Type.Array(AttemptBody),
});
const MessagePageBody = Type.Object({ items: Type.Array(MessageBody), nextCursor: NullableString });
const TimeBound = (description: string) =>
  Type.String({ minLength: 1, maxLength: 40, description: `${description}: ISO 8601 date-time or epoch milliseconds` });
/** A message id, or `field=value` for a top-level payload field (`requestId=r-42`). */
const SEARCH_FIELD = /^([A-Za-z0-9_$-]{1,64})=(.{0,256})$/s;
const ListQuery = Type.Object(
  {
    accountName: Type.Optional(AccountName),
    serviceName: Type.Optional(ServiceName),
    status: Type.Optional(Status),
    since: Type.Optional(TimeBound('Created at or after')),
    until: Type.Optional(TimeBound('Created before')),
    reason: Type.Optional(
      Type.Enum([...REASON_KINDS], {
        description:
          'The kind of the reason: no_registration, registration_removed, gone, or the kind of the last attempt error (timeout, http_status, …)',
      }),
    ),
    q: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 330,
        description:
          'A message id (msg_…), or field=value to match a top-level payload field, e.g. requestId=r-42 (a number or true/false as JSON writes it). ' +
          'A payload search reads every message the other filters leave: narrow it by account or time on a large store.',
      }),
    ),
    // Digits as sent, read by the route: query values are text and are never coerced.
    limit: Type.Optional(
      Type.String({ pattern: '^(?:[1-9][0-9]{0,2}|1000)$', description: 'Items per page: 1 to 1000 (default 50)' }),
    ),
    cursor: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: 'The nextCursor of the previous page (opaque)' }),
    ),
  },
  closed,
);
const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });
const EpochOrIso = Type.Union([Type.Integer({ minimum: 0 }), Type.String({ minLength: 1 })], {
  description: 'ISO 8601 date-time or epoch milliseconds',
});
const ReplayRequest = Type.Object(
  {
    filter: Type.Optional(
      Type.Object(
        {
          status: Type.Optional(Status),
          accountName: Type.Optional(AccountName),
          serviceName: Type.Optional(ServiceName),
          since: Type.Optional(EpochOrIso),
          until: Type.Optional(EpochOrIso),
          reason: Type.Optional(Type.Enum([...REASON_KINDS], { description: 'As in the list route' })),
        },
        closed,
      ),
    ),
    all: Type.Optional(
      Type.Boolean({ description: 'Replay every message: required when the filter is empty or left out' }),
    ),
  },
  closed,
);
const ReplayJobBody = Type.Object({
  jobId: Type.String(),
  status: Type.Enum(['running', 'done', 'failed']),
  matched: Type.Integer(),
  replayed: Type.Integer(),
  startedAt: Type.String({ format: 'date-time' }),
  finishedAt: Timestamp,
  error: NullableString,
});
const RegistrationParams = Type.Object({ aname: AccountName, sname: Type.String({ minLength: 1, maxLength: 64 }) });
const SecretBody = Type.Object({
  secret: Type.String(),
  previousSecret: Type.Optional(Type.String()),
  previousSecretExpiresAt: Type.Optional(Type.String({ format: 'date-time' })),
});
const StatsBody = Type.Object({
  counts: Type.Object(Object.fromEntries(MESSAGE_STATUSES.map((s) => [s, Type.Integer()]))),
  queueDepth: Type.Integer(),
  oldestDueAgeMs: Type.Integer({ description: 'How long the oldest due message has waited since it became due' }),
});

const security = [{ adminToken: [] }];
const tags = ['Messages'];
const errors = { 400: errorBodySchema, 401: errorBodySchema };

const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

function messageBody(message: CallbackMessage) {
  return {
    id: message.id,
    accountName: message.accountName,
    serviceName: message.serviceName,
    status: message.status,
    attempts: message.attempts,
    maxAttempts: message.maxAttempts,
    nextAttemptAt: message.status === 'pending' ? isoOrNull(message.nextAttemptAt) : null,
    reason: message.reason,
    idempotencyKey: message.idempotencyKey,
    createdAt: iso(message.createdAt),
    updatedAt: iso(message.updatedAt),
    deliveredAt: isoOrNull(message.deliveredAt),
    payload: JSON.parse(message.payload) as Record<string, unknown>,
  };
}

function attemptBody(attempt: Attempt) {
  return {
    attemptNumber: attempt.attemptNumber,
    startedAt: iso(attempt.startedAt),
    url: attempt.url,
    statusCode: attempt.statusCode,
    latencyMs: attempt.latencyMs,
    error: storedAttemptError(attempt),
    responseExcerpt: attempt.responseExcerpt,
  };
}

/**
 * Time-ordered message ids (`msg_` + 12 hex digits of epoch ms + 20 random hex digits): they sort by
 * creation and keep inserts into the id index sequential.
 */
export function newMessageId(now: number = Date.now()): string {
  return `msg_${now.toString(16).padStart(12, '0')}${randomHex10()}`;
}

/** Random bytes drawn a page at a time: one call into the system's generator per 409 ids, not per id. */
const ID_RANDOM = Buffer.alloc(4090);
let idRandomAt = ID_RANDOM.length;

/** 10 random bytes as 20 hex digits. */
function randomHex10(): string {
  if (idRandomAt + 10 > ID_RANDOM.length) {
    randomFillSync(ID_RANDOM);
    idRandomAt = 0;
  }
  idRandomAt += 10;
  return ID_RANDOM.toString('hex', idRandomAt - 10, idRandomAt);
}

function toEpochMs(value: number | string, field: string, code: string = ErrorCodes.requestBody): number {
  const ms = typeof value === 'number' ? value : /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms))
    throw new HttpError(400, code, `${field} must be an ISO 8601 date-time or epoch milliseconds`);
  return ms;
}

/** The list route's query as a store filter; a bad time or search is a 400 naming the parameter. */
function listFilter(query: Static<typeof ListQuery>): MessageFilter {
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
        400,
        ErrorCodes.requestQuery,
        'q must be a message id (msg_…) or field=value for a top-level payload field, e.g. requestId=r-42',
      );
    }
  }
  return filter;
}

/** Admin messages API (SPEC §4): publish, list, show, replay, signing secrets, stats. */
export const messagesRoutes: FastifyPluginAsyncTypebox<{ ctx: AppContext }> = async (app, { ctx }) => {
  const { messages: messageService, registrations, replays } = ctx;

  async function publish(messages: NewMessage[]) {
    let published: Awaited<ReturnType<typeof messageService.publish>>;
    try {
      published = await messageService.publish(messages, Date.now());
    } catch (error) {
      if (error instanceof IdempotencyConflictError) {
        const where = messages.length > 1 ? ` (messages[${error.index}])` : '';
        throw new HttpError(422, ErrorCodes.idempotencyKey, `${error.message}${where}`);
      }
      throw error;
    }
    let due = false;
    // One counter update per service of the batch, not one per message.
    let service = '';
    let count = 0;
    for (let i = 0; i < published.length; i++) {
      const result = published[i];
      if (result.duplicate) continue;
      if (result.status === 'pending' && !result.handedOver) due = true;
      if (messages[i].serviceName !== service) {
        if (count > 0) ctx.metrics.messagesPublished.inc({ service }, count);
        service = messages[i].serviceName;
        count = 0;
      }
      count++;
    }
    if (count > 0) ctx.metrics.messagesPublished.inc({ service }, count);
    if (due) ctx.notifyPublished();
    return published;
  }

  app.post(
    '/messages',
    {
      schema: {
        tags,
        security,
        summary: 'Publish a callback message',
        description:
          `Answers 202 once the message is committed. An Idempotency-Key is remembered for ${hours(IDEMPOTENCY_KEY_TTL_MS)} per account and ` +
          'service: repeated with the same payload it returns the first message, with another payload it answers 422. ' +
          'Without a registration for the account and service the message is stored failed (no_registration).',
        headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255 })) }),
        body: PublishRequest,
        response: { 202: PublishResponse, ...errors, 422: errorBodySchema },
      },
    },
    async (request, reply) => {
      const { accountName, serviceName, payload } = request.body;
      const [result] = await publish([
        {
          id: newMessageId(),
          accountName,
          serviceName,
          payload: JSON.stringify(payload),
          idempotencyKey: request.headers['idempotency-key'] ?? null,
          maxAttempts: ctx.config.delivery.maxAttempts,
        },
      ]);
      if (result.duplicate) reply.header('idempotent-replayed', 'true');
      return reply.code(202).send({ messageId: result.id, status: result.status });
    },
  );

  app.post(
    '/messages/batch',
    {
      bodyLimit: BATCH_BODY_LIMIT,
      schema: {
        tags,
        security,
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
      const now = Date.now();
      // Each message keeps the limit of a single publish, whatever the batch's own limit.
      const messageLimit = ctx.config.bodyLimitBytes;
      const messages = request.body.messages.map((m, i) => {
        const payload = JSON.stringify(m.payload);
        if (Buffer.byteLength(payload) > messageLimit) {
          throw new HttpError(
            413,
            ErrorCodes.requestTooLarge,
            `messages[${i}].payload is larger than ${describeBytes(messageLimit)}, the limit of one message`,
          );
        }
        return {
          id: newMessageId(now),
          accountName: m.accountName,
          serviceName: m.serviceName,
          payload,
          idempotencyKey: m.idempotencyKey ?? null,
          maxAttempts: ctx.config.delivery.maxAttempts,
        };
      });
      const published = await publish(messages);
      return reply.code(202).send({ messageIds: published.map((p) => p.id), statuses: published.map((p) => p.status) });
    },
  );

  app.get(
    '/messages',
    {
      schema: {
        tags,
        security,
        summary: 'List messages, newest first',
        querystring: ListQuery,
        response: { 200: MessagePageBody, ...errors },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query;
      const filter = listFilter(request.query);
      let page: Awaited<ReturnType<typeof messageService.list>>;
      try {
        page = await messageService.list(filter, limit === undefined ? 50 : Number(limit), cursor ?? null);
      } catch (error) {
        if (error instanceof InvalidCursorError) throw new HttpError(400, ErrorCodes.requestQuery, error.message);
        throw error;
      }
      return { items: page.items.map(messageBody), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/messages/:id',
    {
      schema: {
        tags,
        security,
        summary: 'One message with every attempt',
        params: IdParams,
        response: { 200: MessageWithAttempts, ...errors, 404: errorBodySchema },
      },
    },
    async (request) => {
      const found = await messageService.get(request.params.id);
      if (!found) throw new HttpError(404, ErrorCodes.notFound, `message ${request.params.id} does not exist`);
      return { ...messageBody(found.message), deliveryAttempts: found.attempts.map(attemptBody) };
    },
  );

  app.post(
    '/messages/:id/replay',
    {
      schema: {
        tags,
        security,
        summary: 'Deliver a message now: again once delivered, failed or cancelled, or without waiting when pending',
        description:
          'The replay is a new attempt of the same message id, due at once, with a fresh set of attempts on top of ' +
          'those made; callbackCount continues. A message being delivered right now answers 409.',
        params: IdParams,
        response: { 202: PublishResponse, ...errors, 404: errorBodySchema, 409: errorBodySchema },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      let replayed = await messageService.replay([id], ctx.config.delivery.maxAttempts, Date.now());
      if (replayed.length === 0) {
        const found = await messageService.get(id);
        if (!found) throw new HttpError(404, ErrorCodes.notFound, `message ${id} does not exist`);
        // Delivering is the only status a replay leaves alone; an attempt that ended in between is replayed now.
        if (found.message.status !== 'delivering')
          replayed = await messageService.replay([id], ctx.config.delivery.maxAttempts, Date.now());
        if (replayed.length === 0) {
          throw new HttpError(
            409,
            ErrorCodes.messageDelivering,
            `message ${id} is being delivered right now; replay it once this attempt has ended`,
          );
        }
      }
      ctx.notifyPublished();
      return reply.code(202).send({ messageId: id, status: 'pending' });
    },
  );

  app.post(
    '/messages/replay',
    {
      schema: {
        tags,
        security,
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
          400,
          ErrorCodes.requestBody,
          empty
            ? 'a bulk replay needs a filter, or "all": true to replay every message'
            : 'give either a filter or "all": true, not both',
        );
      }
      const { status, accountName, serviceName, since, until, reason } = given;
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
      schema: {
        tags,
        security,
        summary: 'Progress of a bulk replay job',
        params: Type.Object({ jobId: Type.String() }),
        response: { 200: ReplayJobBody, ...errors, 404: errorBodySchema },
      },
    },
    async (request) => {
      const job = await replays.get(request.params.jobId);
      if (!job) throw new HttpError(404, ErrorCodes.notFound, `replay job ${request.params.jobId} does not exist`);
      return {
        jobId: job.jobId,
        status: job.status,
        matched: job.matched,
        replayed: job.replayed,
        startedAt: iso(job.startedAt),
        finishedAt: isoOrNull(job.finishedAt),
        error: job.error,
      };
    },
  );

  const secretBody = (registration: {
    signingSecret: string;
    previousSecret: string | null;
    previousSecretExpiresAt: number | null;
  }) => {
    const body: { secret: string; previousSecret?: string; previousSecretExpiresAt?: string } = {
      secret: registration.signingSecret,
    };
    const expires = registration.previousSecretExpiresAt;
    if (registration.previousSecret && expires !== null && expires > Date.now()) {
      body.previousSecret = registration.previousSecret;
      body.previousSecretExpiresAt = iso(expires);
    }
    return body;
  };
  const noRegistration = (aname: string, sname: string) =>
    new HttpError(404, ErrorCodes.callbackNotFound, `account ${aname} has no registration for ${sname}`);

  app.get(
    '/callbacks/:aname/:sname/secret',
    {
      schema: {
        tags,
        security,
        summary: "A registration's signing secret (and the previous one during its grace period)",
        params: RegistrationParams,
        response: { 200: SecretBody, ...errors, 404: errorBodySchema },
      },
    },
    async (request) => {
      const { aname, sname } = request.params;
      const registration = await registrations.get(aname, sname);
      if (!registration) throw noRegistration(aname, sname);
      return secretBody(registration);
    },
  );

  app.post(
    '/callbacks/:aname/:sname/secret/rotate',
    {
      schema: {
        tags,
        security,
        summary: `Rotate a signing secret; the previous one keeps signing for ${hours(ROTATION_GRACE_MS)}`,
        params: RegistrationParams,
        response: { 200: SecretBody, ...errors, 404: errorBodySchema },
      },
    },
    async (request) => {
      const { aname, sname } = request.params;
      const registration = await registrations.rotateSecret(aname, sname);
      if (!registration) throw noRegistration(aname, sname);
      request.log.info({ account: aname, service: sname }, 'signing secret rotated');
      return secretBody(registration);
    },
  );

  app.post(
    '/callbacks/:aname/:sname/test-message',
    {
      schema: {
        tags,
        security,
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
      if (!(await registrations.get(aname, sname))) throw noRegistration(aname, sname);
      const payload = exampleMessage(sname as CatalogueServiceName, { accountName: aname });
      const [result] = await publish([
        {
          id: newMessageId(),
          accountName: aname,
          serviceName: sname,
          payload: JSON.stringify(payload),
          idempotencyKey: null,
          maxAttempts: ctx.config.delivery.maxAttempts,
        },
      ]);
      request.log.info({ account: aname, service: sname, messageId: result.id }, 'test message published');
      return reply.code(202).send({ messageId: result.id, status: result.status });
    },
  );

  app.get(
    '/stats',
    {
      schema: {
        tags,
        security,
        summary: 'Message counts by status, queue depth and the age of the oldest due message',
        response: { 200: StatsBody, ...errors },
      },
    },
    async () => messageService.stats(Date.now()),
  );
};

/** The shapes the message routes take and answer, for clients of the admin API (the CLI). */
export type MessageView = Static<typeof MessageBody>;
export type AttemptView = Static<typeof AttemptBody>;
export type MessageWithAttemptsView = Static<typeof MessageWithAttempts>;
export type MessagePageView = Static<typeof MessagePageBody>;
export type MessageQuery = Static<typeof ListQuery>;
export type NewMessageRequest = Static<typeof PublishRequest>;
export type PublishResponseView = Static<typeof PublishResponse>;
export type BatchResponseView = Static<typeof BatchResponse>;
export type ReplayFilter = Static<typeof ReplayRequest>['filter'];
export type ReplayJobView = Static<typeof ReplayJobBody>;
export type SecretView = Static<typeof SecretBody>;
export type StatsView = Static<typeof StatsBody>;
export type ReplayRequestBody = Static<typeof ReplayRequest>;
