import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { AppContext } from '../context.js';
import { hashPassword } from '../security/passwords.js';
import { newClientSecret } from '../security/tokens.js';
import type { Authenticator } from './auth.js';
import { ErrorCodes, errorBodySchema, HttpError } from './errors.js';

const AccountName = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' });

const CreateClientRequest = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 200 }),
  clientId: Type.Optional(
    Type.String({ pattern: '^[A-Za-z0-9._~-]{1,128}$', description: 'Chosen id; generated when omitted.' }),
  ),
  clientSecret: Type.Optional(
    Type.String({ minLength: 8, maxLength: 256, description: 'Chosen secret; generated when omitted.' }),
  ),
});

const CreateClientResponse = Type.Object({ clientId: Type.String(), clientSecret: Type.String() });

const CreateUserRequest = Type.Object({
  username: Type.String({ minLength: 1, maxLength: 128 }),
  password: Type.String({ minLength: 1, maxLength: 256 }),
  accounts: Type.Array(AccountName, { maxItems: 10_000, uniqueItems: true }),
});

const UserResponse = Type.Object({ username: Type.String(), accounts: Type.Array(Type.String()) });

const errors = { 400: errorBodySchema, 401: errorBodySchema };
const security = [{ adminToken: [] }];

/** `/admin/v1/clients` and `/admin/v1/users`: who may call the platform API (SPEC §4). */
export const adminRoutes: FastifyPluginAsyncTypebox<{ ctx: AppContext; authenticator: Authenticator }> = async (
  app,
  { ctx, authenticator },
) => {
  app.post(
    '/clients',
    {
      schema: {
        tags: ['Admin'],
        summary: 'Create an OAuth client; the secret is shown only in this response',
        security,
        body: CreateClientRequest,
        response: { 201: CreateClientResponse, ...errors, 409: errorBodySchema },
      },
    },
    async (request, reply) => {
      const clientId = request.body.clientId ?? `client-${randomBytes(9).toString('base64url')}`;
      const clientSecret = request.body.clientSecret ?? newClientSecret();
      if (await ctx.store.auth.getClient(clientId)) {
        throw new HttpError(409, ErrorCodes.conflict, `client ${clientId} already exists`);
      }
      await ctx.store.auth.createClient({
        clientId,
        name: request.body.name,
        secretHash: await hashPassword(clientSecret),
        createdAt: Date.now(),
      });
      return reply.code(201).send({ clientId, clientSecret });
    },
  );

  app.post(
    '/users',
    {
      schema: {
        tags: ['Admin'],
        summary: 'Create or replace a user and the accounts it may manage',
        description: '201 when created, 200 when an existing user was replaced (which also clears a lockout).',
        security,
        body: CreateUserRequest,
        response: { 200: UserResponse, 201: UserResponse, ...errors },
      },
    },
    async (request, reply) => {
      const { username, password, accounts } = request.body;
      const existing = await ctx.store.auth.getUser(username);
      await ctx.store.auth.upsertUser({
        username,
        passwordHash: await hashPassword(password),
        accounts,
        createdAt: existing?.createdAt ?? Date.now(),
      });
      authenticator.forgetUser(username);
      return reply.code(existing ? 200 : 201).send({ username, accounts });
    },
  );
};
