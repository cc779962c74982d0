import { SERVICE_NAMES } from '@ccb/sdk';
import Type, { type Static } from 'typebox';
import { ATTEMPT_ERROR_KINDS, storedAttemptError } from '../domain/attempt-error.js';
import { REASON_KINDS, reasonKind } from '../domain/reason-kinds.js';
import { MessageReasons } from '../domain/reasons.js';
import { MESSAGE_STATUSES } from '../domain/statuses.js';
import type { Attempt, CallbackMessage, ReplayJobRecord } from '../store/types.js';
import { ErrorCodes, HttpError } from './errors.js';
import { accountName } from './schemas.js';

/**
 * The message routes' schemas (validation, types, OpenAPI entries) and how a stored message and
 * attempt are answered. The routes are in messages.ts.
 */

export const AccountName = accountName();
export const ServiceName = Type.Enum([...SERVICE_NAMES], { description: 'A callback service of the catalogue' });
export const Status = Type.Enum([...MESSAGE_STATUSES]);
export const Payload = Type.Object(
  {},
  {
    additionalProperties: true,
    description: 'The message as the producer made it; the engine adds username, password and the counters',
  },
);
/** Admin requests are refused, not trimmed, when they carry a field the route does not know. */
export const closed = { additionalProperties: false } as const;
export const Timestamp = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);
export const NullableString = Type.Union([Type.String(), Type.Null()]);

export const PublishRequest = Type.Object(
  { accountName: AccountName, serviceName: ServiceName, payload: Payload },
  closed,
);
export const PublishResponse = Type.Object({ messageId: Type.String(), status: Status });
export const BatchRequest = Type.Object(
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
export const BatchResponse = Type.Object({
  messageIds: Type.Array(Type.String()),
  statuses: Type.Array(Status, { description: 'Status of each message, in order: failed when it found no listener' }),
});

export const MessageBody = Type.Object({
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
export const AttemptBody = Type.Object({
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
export const MessageWithAttempts = Type.Object({
  ...MessageBody.properties,
  deliveryAttempts: Type.Array(AttemptBody),
});
export const MessagePageBody = Type.Object({ items: Type.Array(MessageBody), nextCursor: NullableString });
const TimeBound = (description: string) =>
  Type.String({ minLength: 1, maxLength: 40, description: `${description}: ISO 8601 date-time or epoch milliseconds` });
export const ReasonKind = Type.Enum([...REASON_KINDS], {
  description: `The kind of the reason: ${Object.values(MessageReasons).map(reasonKind).join(', ')}, or the kind of the last attempt error (${ATTEMPT_ERROR_KINDS.join(', ')})`,
});
export const ListQuery = Type.Object(
  {
    accountName: Type.Optional(AccountName),
    serviceName: Type.Optional(ServiceName),
    status: Type.Optional(Status),
    since: Type.Optional(TimeBound('Created at or after')),
    until: Type.Optional(TimeBound('Created before')),
    reason: Type.Optional(ReasonKind),
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
/** A registration of the catalogue: account and service name. */
export const RegistrationParams = Type.Object({ aname: AccountName, sname: ServiceName });
export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });
/**
 * The latest time a filter takes: the largest a JavaScript Date holds (year 275760), within both
 * databases' integers; a later one is refused when the request is made, not when the job runs.
 */
export const MAX_EPOCH_MS = 8_640_000_000_000_000;
export const EpochOrIso = Type.Union(
  [Type.Integer({ minimum: 0, maximum: MAX_EPOCH_MS }), Type.String({ minLength: 1, maxLength: 64 })],
  { description: `ISO 8601 date-time or epoch milliseconds (0 to ${MAX_EPOCH_MS})` },
);
export const ReplayRequest = Type.Object(
  {
    filter: Type.Optional(
      Type.Object(
        {
          status: Type.Optional(Status),
          accountName: Type.Optional(AccountName),
          serviceName: Type.Optional(ServiceName),
          since: Type.Optional(EpochOrIso),
          until: Type.Optional(EpochOrIso),
          reason: Type.Optional(ReasonKind),
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
export const ReplayJobBody = Type.Object({
  jobId: Type.String(),
  status: Type.Enum(['running', 'done', 'failed']),
  matched: Type.Integer({ description: 'Messages the filter found so far' }),
  replayed: Type.Integer({ description: 'Of those, the messages queued again' }),
  noListener: Type.Integer({
    description:
      'Of those, the messages left alone because no listener is registered for their account and service (they would fail again at once); replayable once one is',
  }),
  startedAt: Type.String({ format: 'date-time' }),
  finishedAt: Timestamp,
  error: NullableString,
});
export const StatsBody = Type.Object({
  counts: Type.Object(Object.fromEntries(MESSAGE_STATUSES.map((s) => [s, Type.Integer()]))),
  queueDepth: Type.Integer(),
  oldestDueAgeMs: Type.Integer({ description: 'How long the oldest due message has waited since it became due' }),
});

export const iso = (ms: number) => new Date(ms).toISOString();
export const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

export function messageBody(message: CallbackMessage) {
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

/** A replay refused because nobody listens for the message's account and service (see MessageService.replay). */
export function noListenerError(
  id: string,
  message: { accountName: string; serviceName: string } | undefined,
): HttpError {
  const whom = message ? `${message.serviceName} of account ${message.accountName}` : 'its account and service';
  return new HttpError(
    ErrorCodes.callbackNotFound,
    `no listener is registered for ${whom}, so message ${id} would fail again at once; register one, then replay it`,
  );
}

export function replayJobBody(job: ReplayJobRecord) {
  return {
    jobId: job.jobId,
    status: job.status,
    matched: job.matched,
    replayed: job.replayed,
    noListener: job.noListener,
    startedAt: iso(job.startedAt),
    finishedAt: isoOrNull(job.finishedAt),
    error: job.error,
  };
}

export function attemptBody(attempt: Attempt) {
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
export type StatsView = Static<typeof StatsBody>;
export type ReplayRequestBody = Static<typeof ReplayRequest>;
