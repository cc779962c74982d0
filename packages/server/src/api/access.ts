import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyError, FastifyRequest } from 'fastify';
import Type, { type Static } from 'typebox';
import { SCOPE_DESCRIPTIONS, SCOPES, type Scope } from '../access/principal.js';
import { type AccessService, PORTAL_LINK_DEFAULT_TTL_MS, PORTAL_LINK_MAX_TTL_MS } from '../access/service.js';
import type { AppContext } from '../context.js';
import { DEV_CREDENTIALS } from '../dev.js';
import { type ApiKeyRecord, type AuditRecord, InvalidCursorError } from '../store/types.js';
import { validationError } from './error-handlers.js';
import { ErrorCodes, errorBodySchema, HttpError } from './errors.js';
import { accountName } from './schemas.js';

const AccountName = accountName();
/** Admin requests are refused, not trimmed, when they carry a field the route does not know. */
const closed = { additionalProperties: false } as const;
const Timestamp = Type.String({ format: 'date-time' });
const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);
const ScopeName = Type.Enum([...SCOPES], {
  description: SCOPES.map((scope) => `\`${scope}\`: ${SCOPE_DESCRIPTIONS[scope]}`).join('; '),
});

const CreateKeyRequest = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200, description: 'What the key is for (shown in the audit log)' }),
    scopes: Type.Array(ScopeName, { minItems: 1, uniqueItems: true }),
    accounts: Type.Optional(
      Type.Array(AccountName, {
        minItems: 1,
        maxItems: 1000,
        uniqueItems: true,
        description: 'Limits the key to these accounts; without it the key covers every account',
      }),
    ),
    expiresAt: Type.Optional(Type.String({ format: 'date-time', description: 'When the key stops working' })),
  },
  closed,
);
const KeyBody = Type.Object({
  id: Type.String(),
  name: Type.String(),
  scopes: Type.Array(Type.String()),
  accounts: Type.Union([Type.Array(Type.String()), Type.Null()]),
  expiresAt: NullableTimestamp,
  createdAt: Timestamp,
  revokedAt: NullableTimestamp,
});
const CreatedKeyBody = Type.Object({
  ...KeyBody.properties,
  key: Type.String({ description: 'The key itself: shown only in this answer, stored only as a hash' }),
});
const KeyParams = Type.Object({ keyId: Type.String({ minLength: 1, maxLength: 64 }) });

const EpochOrIso = Type.String({
  minLength: 1,
  maxLength: 40,
  description: 'ISO 8601 date-time or epoch milliseconds',
});
const AuditQuery = Type.Object(
  {
    actor: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: "The actor's name" })),
    action: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'An operation id' })),
    accountName: Type.Optional(AccountName),
    target: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'A message id, client id, …' })),
    since: Type.Optional(EpochOrIso),
    until: Type.Optional(EpochOrIso),
    limit: Type.Optional(
      Type.String({ pattern: '^(?:[1-9][0-9]{0,2}|1000)$', description: 'Entries per page: 1 to 1000 (default 50)' }),
    ),
    cursor: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: 'The nextCursor of the previous page' }),
    ),
  },
  closed,
);
const AuditEntryBody = Type.Object({
  id: Type.String(),
  at: Timestamp,
  actor: Type.Object({
    kind: Type.Enum(['root', 'key', 'portal-user', 'portal-link', 'm2m-user']),
    name: Type.String(),
  }),
  address: Type.String({ description: "The caller's address (see CCB_TRUST_PROXY)" }),
  action: Type.String({ description: "The route's operation id, as in /openapi.json" }),
  method: Type.String(),
  route: Type.String(),
  accountName: Type.Union([Type.String(), Type.Null()]),
  target: Type.Union([Type.String(), Type.Null()]),
  summary: Type.String({ description: 'What the call asked for; secrets appear only as "set"' }),
  statusCode: Type.Integer(),
  outcome: Type.Enum(['ok', 'refused', 'failed']),
  errorCode: Type.Union([Type.String(), Type.Null()]),
});
const AuditPage = Type.Object({
  items: Type.Array(AuditEntryBody),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});

const PortalLinkRequest = Type.Object(
  {
    ttlSeconds: Type.Optional(
      Type.Integer({
        minimum: 30,
        maximum: PORTAL_LINK_MAX_TTL_MS / 1000,
        description: `How long the link may be used (default ${PORTAL_LINK_DEFAULT_TTL_MS / 1000})`,
      }),
    ),
  },
  closed,
);
const PortalLinkBody = Type.Object({
  url: Type.String({ description: 'The link to open (or to embed in an iframe); usable once' }),
  path: Type.String({ description: 'The same link without the scheme and host' }),
  expiresAt: Timestamp,
});

const errors = { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema };
const KEY_EXAMPLE = {
  id: 'key_3f9c1a7e5b2d4c60',
  name: 'billing publisher',
  scopes: ['messages:publish'],
  accounts: [DEV_CREDENTIALS.accountName],
  expiresAt: '2027-06-01T00:00:00.000Z',
  createdAt: '2026-12-01T09:00:00.000Z',
  revokedAt: null,
};

const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

function keyBody(key: ApiKeyRecord): Static<typeof KeyBody> {
  return {
    id: key.id,
    name: key.name,
    scopes: key.scopes,
    accounts: key.accounts,
    expiresAt: isoOrNull(key.expiresAt),
    createdAt: iso(key.createdAt),
    revokedAt: isoOrNull(key.revokedAt),
  };
}

function auditBody(entry: AuditRecord): Static<typeof AuditEntryBody> {
  return {
    id: entry.id,
    at: iso(entry.at),
    actor: { kind: entry.actorKind as Static<typeof AuditEntryBody>['actor']['kind'], name: entry.actorName },
    address: entry.address,
    action: entry.action,
    method: entry.method,
    route: entry.route,
    accountName: entry.accountName,
    target: entry.target,
    summary: entry.summary,
    statusCode: entry.statusCode,
    outcome: entry.outcome,
    errorCode: entry.errorCode,
  };
}

function epochMs(value: string, field: string): number {
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isSafeInteger(ms)) {
    throw new HttpError(ErrorCodes.requestQuery, `${field} must be an ISO 8601 date-time or epoch milliseconds`);
  }
  return ms;
}

/** The server's base URL for links: CCB_PUBLIC_URL, else the request's own scheme and host. */
function publicBase(ctx: AppContext, request: FastifyRequest): string {
  return ctx.config.access.publicUrl ?? `${request.protocol}://${request.host}`;
}

/**
 * `/admin/v1/keys`, `/admin/v1/audit` and `/admin/v1/accounts/{aname}/portal-links`: scoped API keys,
 * the audit log and portal links (docs/access.md, docs/portal.md).
 */
export const accessRoutes: FastifyPluginAsyncTypebox<{ ctx: AppContext; access: AccessService }> = async (
  app,
  { ctx, access },
) => {
  app.setErrorHandler((error: FastifyError) => {
    if (!error.validation) throw error;
    throw validationError(error, {
      codes: { accounts: ErrorCodes.accountName, accountName: ErrorCodes.accountName, aname: ErrorCodes.accountName },
      patternMessages: {
        accounts: 'accounts must be account names of 1 to 64 letters, digits, "-" or "_"',
        accountName: 'accountName must be 1 to 64 letters, digits, "-" or "_"',
        aname: 'aname must be 1 to 64 letters, digits, "-" or "_"',
        limit: 'limit must be a whole number from 1 to 1000',
      },
    });
  });

  app.post(
    '/keys',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['Keys'],
        operationId: 'createKey',
        summary: 'Create a scoped API key; the key is shown only in this answer',
        description:
          'Use the key as the admin token (Authorization: Bearer). A key with the admin scope covers every account.',
        'x-examples': {
          request: { name: 'billing publisher', scopes: ['messages:publish'], accounts: [DEV_CREDENTIALS.accountName] },
          responses: { 201: { ...KEY_EXAMPLE, key: 'ccbk_Xq3v9QyJ0m2c8T1pWk5sZr7uLb4nDf6hGa0eVi2oYtM' } },
        },
        body: CreateKeyRequest,
        response: { 201: CreatedKeyBody, ...errors },
      },
    },
    async (request, reply) => {
      const { name, scopes, accounts, expiresAt } = request.body;
      const expires = expiresAt === undefined ? null : Date.parse(expiresAt);
      if (expires !== null && expires <= Date.now()) {
        throw new HttpError(ErrorCodes.requestBody, 'expiresAt must be in the future');
      }
      if (accounts !== undefined && scopes.includes('admin')) {
        throw new HttpError(
          ErrorCodes.requestBody,
          'a key with the admin scope covers every account: leave accounts out, or the admin scope',
        );
      }
      const created = await access.createKey({
        name,
        scopes: scopes as Scope[],
        accounts: accounts ?? null,
        expiresAt: expires,
      });
      request.log.info({ keyId: created.record.id, scopes }, 'api key created');
      return reply.code(201).send({ ...keyBody(created.record), key: created.key });
    },
  );

  app.get(
    '/keys',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['Keys'],
        operationId: 'listKeys',
        summary: 'List API keys, revoked ones included (never the keys themselves)',
        'x-examples': { responses: { 200: { items: [KEY_EXAMPLE] } } },
        response: { 200: Type.Object({ items: Type.Array(KeyBody) }), ...errors },
      },
    },
    async () => ({ items: (await access.listKeys()).map(keyBody) }),
  );

  app.delete(
    '/keys/:keyId',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['Keys'],
        operationId: 'revokeKey',
        summary: 'Revoke an API key: refused at once, on every instance',
        'x-examples': { responses: { 200: { ...KEY_EXAMPLE, revokedAt: '2026-12-02T10:00:00.000Z' } } },
        params: KeyParams,
        response: { 200: KeyBody, ...errors, 404: errorBodySchema },
      },
    },
    async (request) => {
      const key = await access.revokeKey(request.params.keyId);
      if (!key) throw new HttpError(ErrorCodes.notFound, `key ${request.params.keyId} does not exist`);
      request.log.info({ keyId: key.id }, 'api key revoked');
      return keyBody(key);
    },
  );

  app.get(
    '/audit',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['Audit'],
        operationId: 'listAudit',
        summary: 'The audit log: state-changing calls of the admin API, the portal and the platform API, newest first',
        description: 'Filters combine; since/until take ISO 8601 or epoch milliseconds; page with nextCursor.',
        'x-examples': {
          responses: {
            200: {
              items: [
                {
                  id: 'aud_0194a1b2c3d4e5f6a7b8c9d0',
                  at: '2026-12-01T09:41:02.120Z',
                  actor: { kind: 'key', name: 'support desk' },
                  address: '203.0.113.7',
                  action: 'replayMessage',
                  method: 'POST',
                  route: '/admin/v1/messages/:id/replay',
                  accountName: DEV_CREDENTIALS.accountName,
                  target: 'msg_01a21478d1c222deb8f583d448698944',
                  summary: '',
                  statusCode: 202,
                  outcome: 'ok',
                  errorCode: null,
                },
              ],
              nextCursor: null,
            },
          },
        },
        querystring: AuditQuery,
        response: { 200: AuditPage, ...errors },
      },
    },
    async (request) => {
      const { actor, action, accountName, target, since, until, limit, cursor } = request.query;
      try {
        const page = await access.listAudit(
          {
            actorName: actor,
            action,
            accountName,
            target,
            since: since === undefined ? undefined : epochMs(since, 'since'),
            until: until === undefined ? undefined : epochMs(until, 'until'),
          },
          limit === undefined ? 50 : Number(limit),
          cursor ?? null,
        );
        return { items: page.items.map(auditBody), nextCursor: page.nextCursor };
      } catch (error) {
        if (error instanceof InvalidCursorError) throw new HttpError(ErrorCodes.requestQuery, error.message);
        throw error;
      }
    },
  );

  app.post(
    '/accounts/:aname/portal-links',
    {
      config: { scope: 'portal:links' },
      schema: {
        tags: ['Portal'],
        operationId: 'createPortalLink',
        summary: 'A short-lived, single-use link to the portal for one account (e.g. for an iframe in your app)',
        description:
          'The token is in the URL fragment, so it reaches neither logs nor Referer headers. Embedding needs ' +
          'CCB_PORTAL_FRAME_ANCESTORS (docs/portal.md).',
        'x-examples': {
          request: { ttlSeconds: 600 },
          responses: {
            201: {
              url: 'https://ccb.example.com/portal/#link=ccbl_pQ2x7Vb9Nc4Lm8Kj1Hg5Fd3Sa6Zw0Er2Ty4Ui7Op9As',
              path: '/portal/#link=ccbl_pQ2x7Vb9Nc4Lm8Kj1Hg5Fd3Sa6Zw0Er2Ty4Ui7Op9As',
              expiresAt: '2026-12-01T09:50:00.000Z',
            },
          },
        },
        params: Type.Object({ aname: AccountName }),
        body: Type.Optional(PortalLinkRequest),
        response: { 201: PortalLinkBody, ...errors },
      },
    },
    async (request, reply) => {
      const ttlMs = (request.body?.ttlSeconds ?? PORTAL_LINK_DEFAULT_TTL_MS / 1000) * 1000;
      const link = await access.createPortalLink(request.params.aname, ttlMs, request.principal!);
      const path = `/portal/#link=${link.token}`;
      request.audit = { target: null, summary: `ttlSeconds=${ttlMs / 1000}` };
      return reply.code(201).send({ url: `${publicBase(ctx, request)}${path}`, path, expiresAt: iso(link.expiresAt) });
    },
  );
};

export type ApiKeyView = Static<typeof KeyBody>;
export type CreatedApiKeyView = Static<typeof CreatedKeyBody>;
export type AuditEntryView = Static<typeof AuditEntryBody>;
export type AuditPageView = Static<typeof AuditPage>;
export type PortalLinkView = Static<typeof PortalLinkBody>;
