import { SERVICE_NAMES } from '@ccb/sdk';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type, { type Static } from 'typebox';
import type { AppContext } from '../context.js';
import { DEV_CREDENTIALS } from '../dev.js';
import type { Registration } from '../services/registrations.js';
import { accountsOf, requireAccount } from './access-hooks.js';
import { CallbackCredential } from './callbacks.js';
import { ErrorCodes, errorBodySchema, HttpError } from './errors.js';
import { accountName } from './schemas.js';

const RegistrationSummary = Type.Object({
  accountName: Type.String(),
  serviceName: Type.String(),
  url: Type.String(),
  credentialsSet: Type.Boolean({ description: 'Whether a username or password was registered (never shown)' }),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

const RegistrationParams = Type.Object({
  aname: accountName(),
  sname: Type.Enum([...SERVICE_NAMES], { description: 'A callback service of the catalogue' }),
});

const ChangeRequest = Type.Object(
  {
    url: Type.String({ description: 'Listener URL: absolute http(s), on an allowed port.' }),
    username: Type.Optional(
      Type.Unsafe<string | null>({ ...CallbackCredential, description: 'null removes it; left out keeps it' }),
    ),
    password: Type.Optional(
      Type.Unsafe<string | null>({ ...CallbackCredential, description: 'null removes it; left out keeps it' }),
    ),
  },
  { additionalProperties: false },
);

const ListQuery = Type.Object(
  { accountName: Type.Optional(accountName('Only this account')) },
  { additionalProperties: false },
);

/**
 * `GET /admin/v1/registrations`: every account's registrations without their secrets, for operators
 * (the dashboard's accounts page). The platform API lists one account at a time and only for its users.
 */
export function registrationSummary(r: Registration): Static<typeof RegistrationSummary> {
  return {
    accountName: r.accountName,
    serviceName: r.serviceName,
    url: r.url,
    credentialsSet: r.username !== null || r.password !== null,
    createdAt: new Date(r.createdAt).toISOString(),
    updatedAt: new Date(r.updatedAt).toISOString(),
  };
}

export const registrationsRoutes: FastifyPluginAsyncTypebox<{ ctx: AppContext }> = async (app, { ctx }) => {
  app.get(
    '/registrations',
    {
      config: { scope: 'registrations:read' },
      schema: {
        tags: ['Registrations'],
        operationId: 'listAllRegistrations',
        'x-examples': {
          responses: {
            200: {
              items: [
                {
                  accountName: DEV_CREDENTIALS.accountName,
                  serviceName: 'CarrierService',
                  url: 'http://127.0.0.1:9001/',
                  credentialsSet: true,
                  createdAt: '2026-12-01T09:29:50.000Z',
                  updatedAt: '2026-12-01T09:29:50.000Z',
                },
              ],
            },
          },
        },
        summary: 'List registrations of every account (or one), by account then service',
        description: 'Credentials and signing secrets are left out; the secret has its own route.',
        querystring: ListQuery,
        response: {
          200: Type.Object({ items: Type.Array(RegistrationSummary) }),
          400: errorBodySchema,
          401: errorBodySchema,
        },
      },
    },
    async (request) => {
      const limited = accountsOf(request);
      const { accountName } = request.query;
      if (accountName !== undefined) requireAccount(request, accountName);
      const registrations = (
        accountName === undefined ? await ctx.registrations.listAll() : await ctx.registrations.list(accountName)
      ).filter((r) => limited === null || limited.has(r.accountName));
      return { items: registrations.map(registrationSummary) };
    },
  );

  app.put(
    '/callbacks/:aname/:sname',
    {
      config: { scope: 'registrations:write' },
      schema: {
        tags: ['Registrations'],
        operationId: 'putRegistration',
        'x-examples': {
          request: { url: 'http://127.0.0.1:9001/', username: 'listener-user' },
          responses: {
            200: {
              accountName: DEV_CREDENTIALS.accountName,
              serviceName: 'CarrierService',
              url: 'http://127.0.0.1:9001/',
              credentialsSet: true,
              createdAt: '2026-12-01T09:29:50.000Z',
              updatedAt: '2026-12-01T09:31:02.000Z',
            },
          },
        },
        summary: 'Register a listener for an account, or change its URL or credentials',
        description:
          'The URL is checked as on the platform route. Unlike the platform call, credentials left out are kept ' +
          '(none for a new registration) and null removes them; the signing secret of an existing registration is kept.',
        params: RegistrationParams,
        body: ChangeRequest,
        response: { 200: RegistrationSummary, 400: errorBodySchema, 401: errorBodySchema },
      },
    },
    async (request) => {
      const { aname, sname } = request.params;
      requireAccount(request, aname);
      const { url, username, password } = request.body;
      const problem = ctx.urlGuard.checkUrl(url);
      if (problem) throw new HttpError(ErrorCodes.url, problem);
      return registrationSummary(
        await ctx.registrations.change({ accountName: aname, serviceName: sname, url, username, password }),
      );
    },
  );

  app.delete(
    '/callbacks/:aname/:sname',
    {
      config: { scope: 'registrations:write' },
      schema: {
        tags: ['Registrations'],
        operationId: 'removeRegistration',
        'x-examples': {
          responses: {
            200: { accountName: DEV_CREDENTIALS.accountName, serviceName: 'CarrierService' },
            404: {
              errorCode: ErrorCodes.notFound,
              errorMessage: `account ${DEV_CREDENTIALS.accountName} has no registration for CarrierService`,
            },
          },
        },
        summary: "Remove an account's listener (cancels its undelivered messages)",
        params: RegistrationParams,
        response: {
          200: Type.Object({ accountName: Type.String(), serviceName: Type.String() }),
          400: errorBodySchema,
          401: errorBodySchema,
          404: errorBodySchema,
        },
      },
    },
    async (request) => {
      const { aname, sname } = request.params;
      requireAccount(request, aname);
      if (!(await ctx.registrations.remove(aname, sname))) {
        throw new HttpError(ErrorCodes.notFound, `account ${aname} has no registration for ${sname}`);
      }
      return { accountName: aname, serviceName: sname };
    },
  );
};

/** What the registration routes answer, for clients of the admin API (the dashboard). */
export type RegistrationView = Static<typeof RegistrationSummary>;
export type RegistrationChange = Static<typeof ChangeRequest>;
