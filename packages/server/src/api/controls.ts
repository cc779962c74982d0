import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type, { type Static } from 'typebox';
import type { AppContext } from '../context.js';
import {
  type ControlSettings,
  type HealthView,
  type OperatorEventEntry,
  ORDERINGS,
  type RegistrationHealthView,
} from '../domain/delivery-controls.js';
import { InvalidSettingsError, MAX_RATE, toSettings } from '../services/delivery-controls.js';
import { HEALTH_WINDOW, successRatio } from '../services/endpoint-health.js';
import { OPERATOR_ACCOUNT, OPERATOR_SERVICE } from '../services/operator-events.js';
import type { RegistrationWithHealth } from '../services/registrations.js';
import type { RegistrationHealth } from '../store/types.js';
import { ErrorCodes, errorBodySchema, HttpError } from './errors.js';
import { registrationSummary } from './registrations.js';
import { accountName } from './schemas.js';

/** Admin requests are refused, not trimmed, when they carry a field the route does not know. */
const closed = { additionalProperties: false } as const;
const Timestamp = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);
const Rate = Type.Integer({ minimum: 1, maximum: MAX_RATE });
const Duration = Type.String({
  minLength: 1,
  maxLength: 32,
  description: 'A duration like 30s, 15m, 12h or 5d (at least 1s)',
});

const Ordering = Type.Enum([...ORDERINGS], {
  description: 'fifo: one message at a time, in publish order (docs/delivery-controls.md)',
});
const RateLimit = Type.Union(
  [Type.Object({ perSecond: Rate }, closed), Type.Object({ perMinute: Rate }, closed), Type.Null()],
  { description: 'At most this many attempts per second or per minute, evenly spaced; null = no limit' },
);
const AutoDisable = Type.Union([Type.Object({ after: Duration, warnAfter: Duration }, closed), Type.Null()], {
  description:
    'With all attempts failing for warnAfter: registration.failing; for after: disabled. warnAfter < after; null = never',
});
const Enabled = Type.Boolean({
  description: 'false: no attempts; new messages are stored failed (registration_disabled)',
});

const SettingsBody = Type.Object(
  { ordering: Ordering, rateLimit: RateLimit, autoDisable: AutoDisable, enabled: Enabled },
  closed,
);
const SettingsPatch = Type.Object(
  {
    ordering: Type.Optional(Ordering),
    rateLimit: Type.Optional(RateLimit),
    autoDisable: Type.Optional(AutoDisable),
    enabled: Type.Optional(Enabled),
  },
  { ...closed, description: 'The settings to change; keys left out keep their value' },
);

export const HealthBody = Type.Object({
  consecutiveFailures: Type.Integer({ description: 'Failed attempts since the last success' }),
  failingSince: Type.Union([Timestamp], { description: 'First failed attempt of the current streak' }),
  lastSuccessAt: Timestamp,
  lastFailureAt: Timestamp,
  recentAttempts: Type.Integer({
    description: `Attempts counted in recentSuccessRatio (the last ${HEALTH_WINDOW} at most)`,
  }),
  recentSuccessRatio: Type.Union([Type.Number(), Type.Null()], { description: 'null before the first attempt' }),
  warnedAt: Type.Union([Timestamp], { description: 'When registration.failing was sent for this streak' }),
  disabledAt: Type.Union([Timestamp], { description: 'When auto-disable turned the registration off' }),
});

const RegistrationView = Type.Object({
  accountName: Type.String(),
  serviceName: Type.String(),
  url: Type.String(),
  credentialsSet: Type.Boolean(),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
  settings: SettingsBody,
  health: HealthBody,
});

const OperatorEventBody = Type.Object({
  messageId: Type.String(),
  type: Type.String(),
  timestamp: Type.String(),
  status: Type.String({ description: 'Delivery status of the event to the operator webhook' }),
  attempts: Type.Integer(),
  createdAt: Type.String({ format: 'date-time' }),
  event: Type.Object({}, { additionalProperties: true, description: 'The event as sent (docs/delivery-controls.md)' }),
});
const OperatorEventsQuery = Type.Object(
  { limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,2}$', description: '1 to 999, default 50' })) },
  closed,
);

const RegistrationParams = Type.Object({
  aname: accountName(),
  sname: Type.String({ minLength: 1, maxLength: 64, description: 'Callback service name' }),
});

const security = [{ adminToken: [] }];
const tags = ['Delivery controls'];

const SETTINGS = {
  ordering: 'fifo',
  rateLimit: { perSecond: 5 },
  autoDisable: { after: '5d', warnAfter: '1d' },
  enabled: true,
};
const HEALTH = {
  consecutiveFailures: 3,
  failingSince: '2026-12-01T10:02:11.000Z',
  lastSuccessAt: '2026-12-01T09:58:40.000Z',
  lastFailureAt: '2026-12-01T10:12:11.000Z',
  recentAttempts: 32,
  recentSuccessRatio: 0.906,
  warnedAt: null,
  disabledAt: null,
};
const EXAMPLE_EVENT = {
  type: 'registration.failing',
  timestamp: '2026-12-02T10:02:11.000Z',
  data: {
    accountName: '0000123456-00001',
    serviceName: 'CarrierService',
    url: 'http://127.0.0.1:9001/',
    failingSince: '2026-12-01T10:02:11.000Z',
    consecutiveFailures: 212,
    lastSuccessAt: '2026-12-01T09:58:40.000Z',
    disableAt: '2026-12-06T10:02:11.000Z',
  },
};
const errors = { 400: errorBodySchema, 401: errorBodySchema, 404: errorBodySchema };

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function healthView(health: RegistrationHealth): HealthView {
  return {
    consecutiveFailures: health.consecutiveFailures,
    failingSince: iso(health.failingSince),
    lastSuccessAt: iso(health.lastSuccessAt),
    lastFailureAt: iso(health.lastFailureAt),
    recentAttempts: health.recentCount,
    recentSuccessRatio: successRatio(health),
    warnedAt: iso(health.warnedAt),
    disabledAt: iso(health.disabledAt),
  };
}

function registrationView(r: RegistrationWithHealth): RegistrationHealthView {
  return { ...registrationSummary(r), settings: toSettings(r.controls), health: healthView(r.health) };
}

/**
 * `/admin/v1/callbacks/{aname}/{sname}` (a registration with its settings and health) and its
 * `/settings` (SPEC §11), and `/admin/v1/operator/*` (the operator webhook and its recent events).
 */
export const controlsRoutes: FastifyPluginAsyncTypebox<{ ctx: AppContext }> = async (app, { ctx }) => {
  const registrations = ctx.registrations;
  const noRegistration = (aname: string, sname: string) =>
    new HttpError(ErrorCodes.notFound, `account ${aname} has no registration for ${sname}`);

  app.get(
    '/callbacks/:aname/:sname',
    {
      config: { scope: 'registrations:read' },
      schema: {
        tags,
        operationId: 'getRegistration',
        'x-examples': {
          responses: {
            200: {
              accountName: '0000123456-00001',
              serviceName: 'CarrierService',
              url: 'http://127.0.0.1:9001/',
              credentialsSet: true,
              createdAt: '2026-12-01T09:29:50.000Z',
              updatedAt: '2026-12-01T09:29:50.000Z',
              settings: SETTINGS,
              health: HEALTH,
            },
          },
        },
        security,
        summary: 'A registration with its delivery settings and endpoint health (no secrets)',
        params: RegistrationParams,
        response: { 200: RegistrationView, ...errors },
      },
    },
    async (request) => {
      const { aname, sname } = request.params;
      const registration = await registrations.getWithHealth(aname, sname);
      if (!registration) throw noRegistration(aname, sname);
      return registrationView(registration);
    },
  );

  app.get(
    '/callbacks/:aname/:sname/settings',
    {
      config: { scope: 'registrations:read' },
      schema: {
        tags,
        operationId: 'getDeliverySettings',
        'x-examples': { responses: { 200: SETTINGS } },
        security,
        summary: "A registration's delivery settings",
        params: RegistrationParams,
        response: { 200: SettingsBody, ...errors },
      },
    },
    async (request) => {
      const { aname, sname } = request.params;
      const registration = await registrations.get(aname, sname);
      if (!registration) throw noRegistration(aname, sname);
      return toSettings(registration.controls);
    },
  );

  app.patch(
    '/callbacks/:aname/:sname/settings',
    {
      config: { scope: 'registrations:write' },
      schema: {
        tags,
        operationId: 'changeDeliverySettings',
        'x-examples': {
          request: { ordering: 'fifo', rateLimit: { perSecond: 5 } },
          responses: {
            200: SETTINGS,
            400: { errorCode: ErrorCodes.unknownField, errorMessage: 'the body has an unknown field "order"' },
          },
        },
        security,
        summary: "Change a registration's delivery settings (keys left out keep their value)",
        description:
          'Unknown keys are refused (400) and nothing changes. enabled:false fails the pending messages with ' +
          'registration_disabled; enabled:true clears the failing streak and replays nothing.',
        params: RegistrationParams,
        body: SettingsPatch,
        response: { 200: SettingsBody, ...errors },
      },
    },
    async (request) => {
      const { aname, sname } = request.params;
      let updated: RegistrationWithHealth | null;
      try {
        updated = await registrations.updateSettings(aname, sname, request.body as Partial<ControlSettings>);
      } catch (error) {
        if (error instanceof InvalidSettingsError) throw new HttpError(ErrorCodes.settings, error.message);
        throw error;
      }
      if (!updated) throw noRegistration(aname, sname);
      request.log.info({ account: aname, service: sname, settings: toSettings(updated.controls) }, 'settings changed');
      ctx.notifyPublished();
      return toSettings(updated.controls);
    },
  );

  app.get(
    '/operator/events',
    {
      config: { scope: 'admin' },
      schema: {
        tags,
        operationId: 'listOperatorEvents',
        'x-examples': {
          responses: {
            200: {
              items: [
                {
                  messageId: 'msg_01a21478d1c222deb8f583d448698944',
                  type: EXAMPLE_EVENT.type,
                  timestamp: EXAMPLE_EVENT.timestamp,
                  status: 'delivered',
                  attempts: 1,
                  createdAt: EXAMPLE_EVENT.timestamp,
                  event: EXAMPLE_EVENT,
                },
              ],
            },
          },
        },
        security,
        summary: 'Recent operator events, newest first, with their delivery status',
        querystring: OperatorEventsQuery,
        response: {
          200: Type.Object({ items: Type.Array(OperatorEventBody) }),
          400: errorBodySchema,
          401: errorBodySchema,
        },
      },
    },
    async (request) => {
      const limit = Number(request.query.limit ?? 50);
      const page = await ctx.messages.list(
        { accountName: OPERATOR_ACCOUNT, serviceName: OPERATOR_SERVICE },
        limit,
        null,
      );
      return {
        items: page.items.map((m) => {
          const event = JSON.parse(m.payload) as { type?: string; timestamp?: string };
          return {
            messageId: m.id,
            type: event.type ?? '',
            timestamp: event.timestamp ?? '',
            status: m.status,
            attempts: m.attempts,
            createdAt: new Date(m.createdAt).toISOString(),
            event,
          };
        }),
      };
    },
  );

  app.get(
    '/operator/webhook',
    {
      config: { scope: 'admin' },
      schema: {
        tags,
        operationId: 'getOperatorWebhook',
        'x-examples': {
          responses: {
            200: {
              url: 'https://ops.example.com/ccb-events',
              secret: 'whsec_MfKQ9r8GKYqrTFhS2BbS8Ii0ugBLTjqZ',
              health: { ...HEALTH, consecutiveFailures: 0, failingSince: null, recentSuccessRatio: 1 },
            },
          },
        },
        security,
        summary: 'The operator webhook: URL, signing secret and endpoint health (404 when not configured)',
        response: {
          200: Type.Object({ url: Type.String(), secret: Type.String(), health: HealthBody }),
          ...errors,
        },
      },
    },
    async () => {
      const registration = await registrations.getWithHealth(OPERATOR_ACCOUNT, OPERATOR_SERVICE);
      if (!registration) {
        throw new HttpError(ErrorCodes.notFound, 'no operator webhook: set CCB_OPERATOR_WEBHOOK_URL');
      }
      return { url: registration.url, secret: registration.signingSecret, health: healthView(registration.health) };
    },
  );
};

/**
 * The shapes these routes take and answer, for clients of the admin API (the CLI; the dashboard reads
 * the same ones from domain/delivery-controls.ts). Each schema answers its domain shape:
 */
export type SettingsView = ControlSettings;
export type SettingsChange = Partial<ControlSettings>;
export type { RegistrationHealthView };
export type OperatorEventView = OperatorEventEntry;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const schemasAnswerTheDomainShapes: [
  Same<Static<typeof SettingsBody>, ControlSettings>,
  Same<Static<typeof SettingsPatch>, Partial<ControlSettings>>,
  Same<Static<typeof RegistrationView>, RegistrationHealthView>,
] = [true, true, true];
void schemasAnswerTheDomainShapes;
