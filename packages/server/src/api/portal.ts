import { examplePayload, SERVICE_NAMES, type ServiceName } from '@ccb/sdk';
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import Type, { type Static } from 'typebox';
import { bearerToken } from '../access/platform.js';
import type { AccessService, PortalSession } from '../access/service.js';
import type { AppContext } from '../context.js';
import { DEV_CREDENTIALS } from '../dev.js';
import { Publisher } from '../services/publisher.js';
import type { Registration } from '../services/registrations.js';
import { InvalidCursorError, type MessageStatus } from '../store/types.js';
import { requireAccount } from './access-hooks.js';
import { CallbackCredential, registerListener } from './callbacks.js';
import { HealthBody, healthView } from './controls.js';
import { ErrorCodes, errorBodySchema, HttpError } from './errors.js';
import {
  attemptBody,
  MessagePageBody,
  MessageWithAttempts,
  messageBody,
  noListenerError,
  PublishResponse,
  ReplayJobBody,
  replayJobBody,
  ServiceName as ServiceNameSchema,
  Status,
} from './message-schemas.js';
import { accountName } from './schemas.js';
import { SecretBody, secretBody } from './secrets.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the portal's session hook. */
    portalSession?: PortalSession;
  }
}

const AccountName = accountName();
const closed = { additionalProperties: false } as const;
const Timestamp = Type.String({ format: 'date-time' });
const SessionBody = Type.Object({
  sessionToken: Type.Optional(Type.String({ description: 'Send as Authorization: Bearer on every portal call' })),
  kind: Type.Enum(['portal-link', 'portal-user']),
  name: Type.String(),
  accounts: Type.Array(Type.String()),
  expiresAt: Timestamp,
  services: Type.Array(Type.String()),
});
const LinkRequest = Type.Object({ token: Type.String({ minLength: 1, maxLength: 200 }) }, closed);
const LoginRequest = Type.Object(
  {
    clientId: Type.String({ minLength: 1, maxLength: 128 }),
    clientSecret: Type.String({ minLength: 1, maxLength: 256 }),
    username: Type.String({ minLength: 1, maxLength: 128 }),
    password: Type.String({ minLength: 1, maxLength: 256 }),
  },
  closed,
);
const AccountParams = Type.Object({ aname: AccountName });
const RegistrationParams = Type.Object({ aname: AccountName, sname: ServiceNameSchema });
const MessageParams = Type.Object({ aname: AccountName, id: Type.String({ minLength: 1, maxLength: 128 }) });
const JobParams = Type.Object({ aname: AccountName, jobId: Type.String({ minLength: 1, maxLength: 128 }) });
const RegistrationBody = Type.Object({
  accountName: Type.String(),
  serviceName: Type.String(),
  url: Type.String(),
  credentialsSet: Type.Boolean({ description: 'Whether a username or password was registered (never shown)' }),
  health: Type.Union([HealthBody, Type.Null()], {
    description: 'The endpoint health (docs/delivery-controls.md), null when the registration is gone meanwhile',
  }),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
const RegisterRequest = Type.Object(
  {
    url: Type.String({ description: 'Listener URL: absolute http(s), on an allowed port.' }),
    username: Type.Optional(CallbackCredential),
    password: Type.Optional(CallbackCredential),
  },
  closed,
);
const MessagesQuery = Type.Object(
  {
    serviceName: Type.Optional(ServiceNameSchema),
    status: Type.Optional(Status),
    limit: Type.Optional(
      Type.String({ pattern: '^(?:[1-9][0-9]{0,2}|1000)$', description: 'Items per page: 1 to 1000 (default 50)' }),
    ),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  },
  closed,
);
const BulkReplayRequest = Type.Object({ serviceName: Type.Optional(ServiceNameSchema) }, closed);

const errors = { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema };
const security = [{ portalSession: [] }];
const tags = ['Portal'];
const ACCOUNT = DEV_CREDENTIALS.accountName;
const SESSION_EXAMPLE = {
  kind: 'portal-user',
  name: DEV_CREDENTIALS.username,
  accounts: [ACCOUNT],
  expiresAt: '2026-12-01T10:00:00.000Z',
  services: ['CarrierService', 'DeviceService'],
};
const REGISTRATION_EXAMPLE = {
  accountName: ACCOUNT,
  serviceName: 'CarrierService',
  url: 'https://listener.example.com/callbacks',
  credentialsSet: true,
  health: null,
  createdAt: '2026-12-01T09:29:50.000Z',
  updatedAt: '2026-12-01T09:29:50.000Z',
};
/** What the example listener answered (a listener's status, not one of ours). */
const LISTENER_FAILURE = 500;
const SECRET_EXAMPLE = { secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' };
const MESSAGE_ID = 'msg_01a21478d1c222deb8f583d448698944';
const MESSAGE_EXAMPLE = {
  id: MESSAGE_ID,
  accountName: ACCOUNT,
  serviceName: 'CarrierService',
  status: 'failed',
  attempts: 4,
  maxAttempts: 4,
  nextAttemptAt: null,
  reason: 'http_status',
  idempotencyKey: null,
  createdAt: '2026-12-01T09:30:05.120Z',
  updatedAt: '2026-12-01T09:45:05.131Z',
  deliveredAt: null,
  payload: { requestId: '595f5c44-c31c-4552-8670-020a1545a84d', status: 'Success' },
};
const JOB_EXAMPLE = {
  jobId: 'rpl_01a2b3c4d5e6f708',
  status: 'done',
  matched: 3,
  replayed: 3,
  noListener: 0,
  startedAt: '2026-12-01T09:40:00.000Z',
  finishedAt: '2026-12-01T09:40:00.210Z',
  error: null,
};

const unauthorized = () =>
  new HttpError(
    ErrorCodes.unauthorized,
    'the portal needs Authorization: Bearer <a portal session token>; sign in or open a new portal link',
  );

function sessionBody(session: PortalSession, token?: string) {
  return {
    ...(token === undefined ? {} : { sessionToken: token }),
    kind: session.record.kind,
    name: session.record.name,
    accounts: session.record.accounts,
    expiresAt: new Date(session.record.expiresAt).toISOString(),
    services: [...SERVICE_NAMES],
  };
}

/** A registration as the portal shows it, with its endpoint health read from the store. */
async function registrationBody(ctx: AppContext, registration: Registration) {
  const stored = await ctx.registrations.getWithHealth(registration.accountName, registration.serviceName);
  return {
    accountName: registration.accountName,
    serviceName: registration.serviceName,
    url: registration.url,
    credentialsSet: registration.username !== null || registration.password !== null,
    health: stored ? healthView(stored.health) : null,
    createdAt: new Date(registration.createdAt).toISOString(),
    updatedAt: new Date(registration.updatedAt).toISOString(),
  };
}

/**
 * `/portal/api`: the account portal's API (docs/portal.md). Every account route is for the session's
 * own accounts only; another account's name is refused (403) and another account's ids are unknown (404).
 */
export const portalRoutes: FastifyPluginAsyncTypebox<{ ctx: AppContext; access: AccessService }> = async (
  app,
  { ctx, access },
) => {
  const noRegistration = (aname: string, sname: string) =>
    new HttpError(ErrorCodes.notFound, `account ${aname} has no registration for ${sname}`);
  const publisher = new Publisher({
    messages: ctx.messages,
    maxAttempts: ctx.config.delivery.maxAttempts,
    onPublished: (service, count) => ctx.metrics.messagesPublished.inc({ service }, count),
    onDue: () => ctx.notifyPublished(),
  });
  const noMessage = (id: string) => new HttpError(ErrorCodes.notFound, `message ${id} does not exist`);

  /** onRequest hook of every route but the two ways in: a live portal session, and its own accounts. */
  const requirePortalSession = async (request: FastifyRequest): Promise<void> => {
    const token = bearerToken(request.headers.authorization);
    const session = token ? await access.portalSession(token) : null;
    if (!session) throw unauthorized();
    request.portalSession = session;
    request.principal = session.principal;
    const aname = (request.params as { aname?: unknown }).aname;
    if (typeof aname === 'string') requireAccount(request, aname);
  };

  app.post(
    '/session/link',
    {
      schema: {
        tags,
        operationId: 'openPortalLink',
        summary: 'Exchange a portal link (once, before it expires) for a portal session of its account',
        'x-examples': {
          request: { token: 'ccbl_pQ2x7Vb9Nc4Lm8Kj1Hg5Fd3Sa6Zw0Er2Ty4Ui7Op9As' },
          responses: {
            200: {
              sessionToken: 'ccbp_Yh4Tg7Rf2Ed9Ws5Qa1Zx8Cv3Bn6Mk0Lj2Hg4Fd7Sa9',
              kind: 'portal-link',
              name: `link for ${ACCOUNT}`,
              accounts: [ACCOUNT],
              expiresAt: '2026-12-01T10:00:00.000Z',
              services: ['CarrierService', 'DeviceService'],
            },
          },
        },
        body: LinkRequest,
        response: { 200: SessionBody, ...errors },
      },
    },
    async (request) => {
      const opened = await access.openLinkSession(request.body.token);
      if (!opened) {
        throw new HttpError(ErrorCodes.unauthorized, 'this portal link is unknown, used or expired; ask for a new one');
      }
      request.principal = opened.session.principal;
      request.audit = { accountName: opened.session.record.accounts[0], target: null, summary: 'portal link opened' };
      return sessionBody(opened.session, opened.token);
    },
  );

  app.post(
    '/session/login',
    {
      schema: {
        tags,
        operationId: 'portalLogIn',
        summary: "Sign in with an OAuth client and an M2M user's password: a portal session for the user's accounts",
        description:
          'The platform rules apply: five wrong passwords in a row lock the user for 15 minutes; failed attempts are throttled per address.',
        'x-examples': {
          request: {
            clientId: DEV_CREDENTIALS.clientId,
            clientSecret: DEV_CREDENTIALS.clientSecret,
            username: DEV_CREDENTIALS.username,
            password: DEV_CREDENTIALS.password,
          },
          responses: { 200: { sessionToken: 'ccbp_Yh4Tg7Rf2Ed9Ws5Qa1Zx8Cv3Bn6Mk0Lj2Hg4Fd7Sa9', ...SESSION_EXAMPLE } },
        },
        body: LoginRequest,
        response: { 200: SessionBody, ...errors, 429: errorBodySchema },
      },
    },
    async (request) => {
      const { clientId, clientSecret, username, password } = request.body;
      const opened = await access.openUserSession({ clientId, clientSecret, username, password, source: request.ip });
      request.principal = opened.session.principal;
      request.audit = { accountName: null, target: username, summary: `portal sign-in through client ${clientId}` };
      return sessionBody(opened.session, opened.token);
    },
  );

  await app.register(async (scope) => {
    const portal = scope.withTypeProvider<TypeBoxTypeProvider>();
    portal.addHook('onRequest', requirePortalSession);

    portal.get(
      '/session',
      {
        schema: {
          tags,
          operationId: 'getPortalSession',
          'x-examples': { responses: { 200: SESSION_EXAMPLE } },
          summary: 'The portal session: who, which accounts, until when',
          security,
          response: { 200: SessionBody, ...errors },
        },
      },
      async (request) => sessionBody(request.portalSession!),
    );

    portal.post(
      '/session/logout',
      {
        schema: {
          tags,
          operationId: 'portalLogOut',
          'x-examples': { responses: { 200: { ended: true } } },
          summary: 'End the portal session',
          security,
          response: { 200: Type.Object({ ended: Type.Boolean() }), ...errors },
        },
      },
      async (request) => {
        await access.endPortalSession(request.portalSession!.record.tokenHash);
        request.audit = { accountName: null, target: null, summary: 'portal session ended' };
        return { ended: true };
      },
    );

    portal.get(
      '/accounts/:aname/registrations',
      {
        schema: {
          tags,
          operationId: 'portalListRegistrations',
          'x-examples': { responses: { 200: { items: [REGISTRATION_EXAMPLE] } } },
          summary: "The account's registrations (credentials and secrets left out)",
          security,
          params: AccountParams,
          response: { 200: Type.Object({ items: Type.Array(RegistrationBody) }), ...errors },
        },
      },
      async (request) => ({
        items: await Promise.all(
          (await ctx.registrations.list(request.params.aname)).map((r) => registrationBody(ctx, r)),
        ),
      }),
    );

    portal.put(
      '/accounts/:aname/registrations/:sname',
      {
        schema: {
          tags,
          operationId: 'portalRegister',
          'x-examples': {
            request: { url: 'https://listener.example.com/callbacks', username: 'acme', password: 's3cret' },
            responses: { 200: REGISTRATION_EXAMPLE },
          },
          summary: 'Register a listener for a service, or change it (the platform register call)',
          security,
          params: RegistrationParams,
          body: RegisterRequest,
          response: { 200: RegistrationBody, ...errors },
        },
      },
      async (request) => {
        const { aname, sname } = request.params;
        const { url, username, password } = request.body;
        const registration = await registerListener(ctx, {
          accountName: aname,
          serviceName: sname,
          url,
          username,
          password,
        });
        return registrationBody(ctx, registration);
      },
    );

    portal.delete(
      '/accounts/:aname/registrations/:sname',
      {
        schema: {
          tags,
          operationId: 'portalDeregister',
          'x-examples': { responses: { 200: { accountName: ACCOUNT, serviceName: 'CarrierService' } } },
          summary: 'Remove a listener (its undelivered messages are cancelled)',
          security,
          params: RegistrationParams,
          response: {
            200: Type.Object({ accountName: Type.String(), serviceName: Type.String() }),
            ...errors,
            404: errorBodySchema,
          },
        },
      },
      async (request) => {
        const { aname, sname } = request.params;
        if (!(await ctx.registrations.remove(aname, sname))) throw noRegistration(aname, sname);
        return { accountName: aname, serviceName: sname };
      },
    );

    portal.get(
      '/accounts/:aname/registrations/:sname/secret',
      {
        schema: {
          tags,
          operationId: 'portalGetSigningSecret',
          'x-examples': { responses: { 200: SECRET_EXAMPLE } },
          summary: "The registration's signing secret (and the previous one during its grace period)",
          security,
          params: RegistrationParams,
          response: { 200: SecretBody, ...errors, 404: errorBodySchema },
        },
      },
      async (request) => {
        const { aname, sname } = request.params;
        const registration = await ctx.registrations.get(aname, sname);
        if (!registration) throw noRegistration(aname, sname);
        return secretBody(registration);
      },
    );

    portal.post(
      '/accounts/:aname/registrations/:sname/secret/rotate',
      {
        schema: {
          tags,
          operationId: 'portalRotateSigningSecret',
          'x-examples': {
            responses: {
              200: {
                secret: 'whsec_2bX9yQm4Vt7LkPz0Nc3Hr8Jd5Ws1Fa6E',
                previousSecret: SECRET_EXAMPLE.secret,
                previousSecretExpiresAt: '2026-12-02T09:30:00.000Z',
              },
            },
          },
          summary: 'Rotate the signing secret; the previous one keeps signing for 24 hours',
          security,
          params: RegistrationParams,
          response: { 200: SecretBody, ...errors, 404: errorBodySchema },
        },
      },
      async (request) => {
        const { aname, sname } = request.params;
        const registration = await ctx.registrations.rotateSecret(aname, sname);
        if (!registration) throw noRegistration(aname, sname);
        return secretBody(registration);
      },
    );

    portal.post(
      '/accounts/:aname/registrations/:sname/test',
      {
        schema: {
          tags,
          operationId: 'portalSendTestMessage',
          'x-examples': {
            responses: { 202: { messageId: MESSAGE_ID, status: 'pending', payload: MESSAGE_EXAMPLE.payload } },
          },
          summary: "Publish the service's example message from the catalogue to this registration",
          security,
          params: RegistrationParams,
          response: {
            202: Type.Object({
              ...PublishResponse.properties,
              payload: Type.Object({}, { additionalProperties: true }),
            }),
            ...errors,
            404: errorBodySchema,
          },
        },
      },
      async (request, reply) => {
        const { aname, sname } = request.params;
        if (!(await ctx.registrations.get(aname, sname))) throw noRegistration(aname, sname);
        const payload = examplePayload(sname as ServiceName, { accountName: aname });
        const [result] = await publisher.publish(
          [{ accountName: aname, serviceName: sname, payload: JSON.stringify(payload), idempotencyKey: null }],
          Date.now(),
        );
        request.audit = { target: result.id, summary: `test message to ${sname}` };
        return reply.code(202).send({ messageId: result.id, status: result.status, payload });
      },
    );

    portal.get(
      '/accounts/:aname/messages',
      {
        schema: {
          tags,
          operationId: 'portalListMessages',
          'x-examples': { responses: { 200: { items: [MESSAGE_EXAMPLE], nextCursor: null } } },
          summary: "The account's messages, newest first",
          security,
          params: AccountParams,
          querystring: MessagesQuery,
          response: { 200: MessagePageBody, ...errors },
        },
      },
      async (request) => {
        const { serviceName, status, limit, cursor } = request.query;
        try {
          const page = await ctx.messages.list(
            { accountName: request.params.aname, serviceName, status: status as MessageStatus | undefined },
            limit === undefined ? 50 : Number(limit),
            cursor ?? null,
          );
          return { items: page.items.map(messageBody), nextCursor: page.nextCursor };
        } catch (error) {
          if (error instanceof InvalidCursorError) throw new HttpError(ErrorCodes.requestQuery, error.message);
          throw error;
        }
      },
    );

    portal.get(
      '/accounts/:aname/messages/:id',
      {
        schema: {
          tags,
          operationId: 'portalGetMessage',
          'x-examples': {
            responses: {
              200: {
                ...MESSAGE_EXAMPLE,
                deliveryAttempts: [
                  {
                    attemptNumber: 4,
                    startedAt: '2026-12-01T09:45:05.125Z',
                    url: REGISTRATION_EXAMPLE.url,
                    statusCode: LISTENER_FAILURE,
                    latencyMs: 41,
                    error: { kind: 'http_status', detail: 'the listener answered 500' },
                    responseExcerpt: 'upstream unavailable',
                  },
                ],
              },
            },
          },
          summary: 'One message of the account with every attempt and the listener’s answers',
          security,
          params: MessageParams,
          response: { 200: MessageWithAttempts, ...errors, 404: errorBodySchema },
        },
      },
      async (request) => {
        const { aname, id } = request.params;
        const found = await ctx.messages.get(id);
        if (!found || found.message.accountName !== aname) throw noMessage(id);
        return { ...messageBody(found.message), deliveryAttempts: found.attempts.map(attemptBody) };
      },
    );

    portal.post(
      '/accounts/:aname/messages/:id/replay',
      {
        schema: {
          tags,
          operationId: 'portalReplayMessage',
          'x-examples': { responses: { 202: { messageId: MESSAGE_ID, status: 'pending' } } },
          summary: 'Deliver one of the account’s messages again',
          security,
          params: MessageParams,
          response: { 202: PublishResponse, ...errors, 404: errorBodySchema, 409: errorBodySchema },
        },
      },
      async (request, reply) => {
        const { aname, id } = request.params;
        const found = await ctx.messages.get(id);
        if (!found || found.message.accountName !== aname) throw noMessage(id);
        const { replayed, noListener } = await ctx.messages.replay([id], ctx.config.delivery.maxAttempts, Date.now());
        if (noListener.length > 0) throw noListenerError(id, found.message);
        if (replayed.length === 0) {
          throw new HttpError(
            ErrorCodes.messageDelivering,
            `message ${id} is being delivered right now; replay it once this attempt has ended`,
          );
        }
        ctx.notifyPublished();
        return reply.code(202).send({ messageId: id, status: 'pending' as const });
      },
    );

    portal.post(
      '/accounts/:aname/messages/replay',
      {
        schema: {
          tags,
          operationId: 'portalReplayFailed',
          'x-examples': {
            request: { serviceName: 'CarrierService' },
            responses: { 202: { jobId: JOB_EXAMPLE.jobId } },
          },
          summary: 'Replay every failed message of the account (or of one service), as a background job',
          security,
          params: AccountParams,
          body: Type.Optional(BulkReplayRequest),
          response: { 202: Type.Object({ jobId: Type.String() }), ...errors },
        },
      },
      async (request, reply) => {
        const job = await ctx.replays.start({
          accountName: request.params.aname,
          serviceName: request.body?.serviceName,
          status: 'failed',
        });
        request.audit = { target: job.jobId };
        return reply.code(202).send({ jobId: job.jobId });
      },
    );

    portal.get(
      '/accounts/:aname/replays/:jobId',
      {
        schema: {
          tags,
          operationId: 'portalGetReplayJob',
          'x-examples': { responses: { 200: JOB_EXAMPLE } },
          summary: 'Progress of a replay job of the account',
          security,
          params: JobParams,
          response: { 200: ReplayJobBody, ...errors, 404: errorBodySchema },
        },
      },
      async (request) => {
        const { aname, jobId } = request.params;
        const job = await ctx.replays.get(jobId);
        if (!job || job.filter.accountName !== aname) {
          throw new HttpError(ErrorCodes.notFound, `replay job ${jobId} does not exist`);
        }
        return replayJobBody(job);
      },
    );
  });
};

/** The portal API's answers, for the portal page (through views.ts). */
export type PortalSessionView = Static<typeof SessionBody>;
export type PortalRegistrationView = Static<typeof RegistrationBody>;
export type PortalLoginRequest = Static<typeof LoginRequest>;
