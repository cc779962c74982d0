import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { AppContext } from '../context.js';
import { DEV_CREDENTIALS } from '../dev.js';
import { accountsOf, requireAccount } from './access-hooks.js';
import { errorBodySchema } from './errors.js';
import { accountName } from './schemas.js';

const RegistrationSummary = Type.Object({
  accountName: Type.String(),
  serviceName: Type.String(),
  url: Type.String(),
  credentialsSet: Type.Boolean({ description: 'Whether a username or password was registered (never shown)' }),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

const ListQuery = Type.Object(
  { accountName: Type.Optional(accountName('Only this account')) },
  { additionalProperties: false },
);

/**
 * `GET /admin/v1/registrations`: every account's registrations without their secrets, for operators
 * (the dashboard's accounts page). The platform API lists one account at a time and only for its users.
 */
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
      return {
        items: registrations.map((r) => ({
          accountName: r.accountName,
          serviceName: r.serviceName,
          url: r.url,
          credentialsSet: r.username !== null || r.password !== null,
          createdAt: new Date(r.createdAt).toISOString(),
          updatedAt: new Date(r.updatedAt).toISOString(),
        })),
      };
    },
  );
};
