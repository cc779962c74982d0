import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyError } from 'fastify';
import Type, { type Static } from 'typebox';
import type { AccessService } from '../access/service.js';
import { DEV_CREDENTIALS } from '../dev.js';
import { SECRET_POLICY } from '../security/passwords.js';
import { newClientSecret } from '../security/tokens.js';
import type { OAuthClient, User } from '../store/types.js';
import { type FieldRules, validationError } from './error-handlers.js';
import { ErrorCodes, errorBodySchema, HttpError } from './errors.js';
import { accountName } from './schemas.js';

const AccountName = accountName();
const ClientId = Type.String({ pattern: '^[A-Za-z0-9._~-]{1,128}$', description: 'Letters, digits, . _ ~ -' });
const Username = Type.String({ minLength: 1, maxLength: 128 });
const Secret = (description: string) =>
  Type.String({
    minLength: SECRET_POLICY.minLength,
    maxLength: SECRET_POLICY.maxLength,
    pattern: SECRET_POLICY.pattern,
    description: `${description}: ${SECRET_POLICY.description}.`,
  });
const Accounts = Type.Array(AccountName, { maxItems: 10_000, uniqueItems: true });
const Timestamp = Type.String({ format: 'date-time' });

/** Admin requests are refused, not trimmed, when they carry a field the route does not know. */
const closed = { additionalProperties: false } as const;

const CreateClientRequest = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    clientId: Type.Optional(ClientId),
    clientSecret: Type.Optional(Secret('Chosen secret; generated when omitted')),
  },
  closed,
);
const ClientCredentials = Type.Object({ clientId: Type.String(), clientSecret: Type.String() });
const ClientBody = Type.Object({ clientId: Type.String(), name: Type.String(), createdAt: Timestamp });
const ClientParams = Type.Object({ clientId: ClientId });

const CreateUserRequest = Type.Object({ username: Username, password: Secret('Password'), accounts: Accounts }, closed);
const UpdateUserRequest = Type.Object(
  { password: Type.Optional(Secret('New password')), accounts: Type.Optional(Accounts) },
  { ...closed, minProperties: 1, description: 'What to change: password, accounts, or both.' },
);
const UserResponse = Type.Object({ username: Type.String(), accounts: Type.Array(Type.String()) });
const UserBody = Type.Object({
  username: Type.String(),
  accounts: Type.Array(Type.String()),
  lockedUntil: Type.Union([Timestamp, Type.Null()], { description: 'Set while failed logins lock the user' }),
  createdAt: Timestamp,
});
const UserParams = Type.Object({ username: Username });

const errors = { 400: errorBodySchema, 401: errorBodySchema };
const notFound = { 404: errorBodySchema };
const config = { scope: 'admin' } as const;
const ACCOUNT = DEV_CREDENTIALS.accountName;
const CREATED_AT = '2026-12-01T09:00:00.000Z';

/** Validation codes of these routes: `name` is a client's name here, not a service name. */
const FIELDS: FieldRules = {
  codes: {
    name: ErrorCodes.clientName,
    clientId: ErrorCodes.clientId,
    clientSecret: ErrorCodes.clientSecret,
    username: ErrorCodes.username,
    password: ErrorCodes.password,
    accounts: ErrorCodes.accountName,
  },
  patternMessages: {
    clientId: 'clientId must be 1 to 128 letters, digits, ".", "_", "~" or "-"',
    accounts: 'accounts must be account names of 1 to 64 letters, digits, "-" or "_"',
  },
};

const POLICY_CODES: ReadonlySet<string> = new Set([ErrorCodes.password, ErrorCodes.clientSecret]);

const iso = (ms: number) => new Date(ms).toISOString();
const clientBody = (client: OAuthClient) => ({
  clientId: client.clientId,
  name: client.name,
  createdAt: iso(client.createdAt),
});
const userBody = (user: User, now: number) => ({
  username: user.username,
  accounts: user.accounts,
  lockedUntil: user.lockedUntil !== null && user.lockedUntil > now ? iso(user.lockedUntil) : null,
  createdAt: iso(user.createdAt),
});

/** `/admin/v1/clients` and `/admin/v1/users`: who may call the platform API (SPEC §4), and their upkeep. */
export const adminRoutes: FastifyPluginAsyncTypebox<{ access: AccessService }> = async (app, { access }) => {
  // Thrown on to the root handler, which answers in the envelope. A secret that breaks the policy in any
  // way (too short, too long, a control character) is told the whole policy.
  app.setErrorHandler((error: FastifyError) => {
    if (!error.validation) throw error;
    const refused = validationError(error, FIELDS);
    const field = refused.errorCode === ErrorCodes.password ? 'password' : 'clientSecret';
    if (POLICY_CODES.has(refused.errorCode) && !refused.errorMessage.endsWith('is required')) {
      throw new HttpError(refused.errorCode, `${field} must be ${SECRET_POLICY.description}`);
    }
    throw refused;
  });

  const noClient = (clientId: string) => new HttpError(ErrorCodes.notFound, `client ${clientId} does not exist`);
  const noUser = (username: string) => new HttpError(ErrorCodes.notFound, `user ${username} does not exist`);

  app.post(
    '/clients',
    {
      config,
      schema: {
        tags: ['Clients'],
        operationId: 'createClient',
        'x-examples': {
          request: { name: 'integration team' },
          responses: { 201: { clientId: 'client-4f2a9c1e', clientSecret: 'Qm9yZWFsLXNlY3JldC1zaG93bi1vbmNl' } },
        },
        summary: 'Create an OAuth client; the secret is shown only in this response',
        body: CreateClientRequest,
        response: { 201: ClientCredentials, ...errors, 409: errorBodySchema },
      },
    },
    async (request, reply) => {
      const clientId = request.body.clientId ?? `client-${randomBytes(9).toString('base64url')}`;
      const clientSecret = request.body.clientSecret ?? newClientSecret();
      const conflict = () => new HttpError(ErrorCodes.conflict, `client ${clientId} already exists`);
      if (await access.getClient(clientId)) throw conflict();
      const created = await access.createClient({ clientId, name: request.body.name, clientSecret });
      // Two requests for the same id: the one that lost the race is told so.
      if (!created) throw conflict();
      return reply.code(201).send({ clientId, clientSecret });
    },
  );

  app.get(
    '/clients',
    {
      config,
      schema: {
        tags: ['Clients'],
        operationId: 'listClients',
        'x-examples': {
          responses: {
            200: {
              items: [{ clientId: DEV_CREDENTIALS.clientId, name: 'Demo client (dev profile)', createdAt: CREATED_AT }],
            },
          },
        },
        summary: 'List OAuth clients (never their secrets)',
        response: { 200: Type.Object({ items: Type.Array(ClientBody) }), ...errors },
      },
    },
    async () => ({ items: (await access.listClients()).map(clientBody) }),
  );

  app.post(
    '/clients/:clientId/secret/rotate',
    {
      config,
      schema: {
        tags: ['Clients'],
        operationId: 'rotateClientSecret',
        'x-examples': {
          responses: { 200: { clientId: 'client-4f2a9c1e', clientSecret: 'TmV3LXNlY3JldC1zaG93bi1vbmNlLW9ubHk' } },
        },
        summary: "Give a client a new secret; the old one and the client's access tokens stop working at once",
        description:
          'The new secret is shown only in this response. Sessions opened through the client stay; its ' +
          'callers get a new access token with the new secret.',
        params: ClientParams,
        response: { 200: ClientCredentials, ...errors, ...notFound },
      },
    },
    async (request) => {
      const { clientId } = request.params;
      const clientSecret = await access.rotateClientSecret(clientId);
      if (clientSecret === null) throw noClient(clientId);
      request.log.info({ clientId }, 'client secret rotated');
      return { clientId, clientSecret };
    },
  );

  app.delete(
    '/clients/:clientId',
    {
      config,
      schema: {
        tags: ['Clients'],
        operationId: 'deleteClient',
        'x-examples': { responses: { 200: { clientId: 'client-4f2a9c1e' } } },
        summary: 'Delete an OAuth client, its access tokens and the sessions opened through it',
        params: ClientParams,
        response: { 200: Type.Object({ clientId: Type.String() }), ...errors, ...notFound },
      },
    },
    async (request) => {
      const { clientId } = request.params;
      if (!(await access.deleteClient(clientId))) throw noClient(clientId);
      request.log.info({ clientId }, 'client deleted');
      return { clientId };
    },
  );

  app.post(
    '/users',
    {
      config,
      schema: {
        tags: ['Users'],
        operationId: 'putUser',
        'x-examples': {
          request: { username: 'ops', password: 'a long passphrase', accounts: [ACCOUNT] },
          responses: { 200: { username: 'ops', accounts: [ACCOUNT] }, 201: { username: 'ops', accounts: [ACCOUNT] } },
        },
        summary: 'Create or replace a user and the accounts it may manage',
        description:
          '201 when created, 200 when an existing user was replaced; a replacement clears a lockout and ends ' +
          "the user's sessions.",
        body: CreateUserRequest,
        response: { 200: UserResponse, 201: UserResponse, ...errors },
      },
    },
    async (request, reply) => {
      const { username, password, accounts } = request.body;
      const created = await access.putUser({ username, password, accounts });
      return reply.code(created ? 201 : 200).send({ username, accounts });
    },
  );

  app.get(
    '/users',
    {
      config,
      schema: {
        tags: ['Users'],
        operationId: 'listUsers',
        'x-examples': {
          responses: {
            200: {
              items: [
                { username: DEV_CREDENTIALS.username, accounts: [ACCOUNT], lockedUntil: null, createdAt: CREATED_AT },
              ],
            },
          },
        },
        summary: 'List users with their accounts (never their passwords)',
        response: { 200: Type.Object({ items: Type.Array(UserBody) }), ...errors },
      },
    },
    async () => {
      const now = Date.now();
      return { items: (await access.listUsers()).map((user) => userBody(user, now)) };
    },
  );

  app.patch(
    '/users/:username',
    {
      config,
      schema: {
        tags: ['Users'],
        operationId: 'updateUser',
        'x-examples': {
          request: { accounts: [ACCOUNT, '0000123456-00002'] },
          responses: { 200: { username: 'ops', accounts: [ACCOUNT, '0000123456-00002'] } },
        },
        summary: "Change a user's password or accounts",
        description:
          "A new password clears a lockout and ends the user's sessions; new accounts apply to its open " +
          'sessions at once.',
        params: UserParams,
        body: UpdateUserRequest,
        response: { 200: UserResponse, ...errors, ...notFound },
      },
    },
    async (request) => {
      const { username } = request.params;
      const { password, accounts } = request.body;
      const user = await access.updateUser(username, { password, accounts });
      if (!user) throw noUser(username);
      return { username: user.username, accounts: user.accounts };
    },
  );

  app.delete(
    '/users/:username',
    {
      config,
      schema: {
        tags: ['Users'],
        operationId: 'deleteUser',
        'x-examples': { responses: { 200: { username: 'ops' } } },
        summary: 'Delete a user and end its sessions',
        params: UserParams,
        response: { 200: Type.Object({ username: Type.String() }), ...errors, ...notFound },
      },
    },
    async (request) => {
      const { username } = request.params;
      if (!(await access.deleteUser(username))) throw noUser(username);
      return { username };
    },
  );
};

/** The shapes the admin routes answer, for clients of the admin API (the CLI). */
export type ClientView = Static<typeof ClientBody>;
export type ClientCredentialsView = Static<typeof ClientCredentials>;
export type UserView = Static<typeof UserBody>;
