import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyError } from 'fastify';
import Type, { type Static } from 'typebox';
import type { AppContext } from '../context.js';
import { hashPassword, SECRET_POLICY } from '../security/passwords.js';
import { newClientSecret } from '../security/tokens.js';
import type { OAuthClient, User } from '../store/types.js';
import type { Authenticator } from './auth.js';
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
const security = [{ adminToken: [] }];
const tags = ['Admin'];

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
export const adminRoutes: FastifyPluginAsyncTypebox<{ ctx: AppContext; authenticator: Authenticator }> = async (
  app,
  { ctx, authenticator },
) => {
  const auth = ctx.store.auth;
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
      schema: {
        tags,
        summary: 'Create an OAuth client; the secret is shown only in this response',
        security,
        body: CreateClientRequest,
        response: { 201: ClientCredentials, ...errors, 409: errorBodySchema },
      },
    },
    async (request, reply) => {
      const clientId = request.body.clientId ?? `client-${randomBytes(9).toString('base64url')}`;
      const clientSecret = request.body.clientSecret ?? newClientSecret();
      const conflict = () => new HttpError(ErrorCodes.conflict, `client ${clientId} already exists`);
      if (await auth.getClient(clientId)) throw conflict();
      const created = await auth.createClient({
        clientId,
        name: request.body.name,
        secretHash: await hashPassword(clientSecret),
        createdAt: Date.now(),
      });
      // Two requests for the same id: the one that lost the race is told so.
      if (!created) throw conflict();
      return reply.code(201).send({ clientId, clientSecret });
    },
  );

  app.get(
    '/clients',
    {
      schema: {
        tags,
        summary: 'List OAuth clients (never their secrets)',
        security,
        response: { 200: Type.Object({ items: Type.Array(ClientBody) }), ...errors },
      },
    },
    async () => ({ items: (await auth.listClients()).map(clientBody) }),
  );

  app.post(
    '/clients/:clientId/secret/rotate',
    {
      schema: {
        tags,
        summary: "Give a client a new secret; the old one and the client's access tokens stop working at once",
        description:
          'The new secret is shown only in this response. Sessions opened through the client stay; its ' +
          'callers get a new access token with the new secret.',
        security,
        params: ClientParams,
        response: { 200: ClientCredentials, ...errors, ...notFound },
      },
    },
    async (request) => {
      const { clientId } = request.params;
      const clientSecret = newClientSecret();
      if (!(await auth.replaceClientSecret(clientId, await hashPassword(clientSecret)))) throw noClient(clientId);
      authenticator.forgetClient(clientId);
      request.log.info({ clientId }, 'client secret rotated');
      return { clientId, clientSecret };
    },
  );

  app.delete(
    '/clients/:clientId',
    {
      schema: {
        tags,
        summary: 'Delete an OAuth client, its access tokens and the sessions opened through it',
        security,
        params: ClientParams,
        response: { 200: Type.Object({ clientId: Type.String() }), ...errors, ...notFound },
      },
    },
    async (request) => {
      const { clientId } = request.params;
      if (!(await auth.deleteClient(clientId))) throw noClient(clientId);
      authenticator.forgetClient(clientId);
      request.log.info({ clientId }, 'client deleted');
      return { clientId };
    },
  );

  app.post(
    '/users',
    {
      schema: {
        tags,
        summary: 'Create or replace a user and the accounts it may manage',
        description:
          '201 when created, 200 when an existing user was replaced; a replacement clears a lockout and ends ' +
          "the user's sessions.",
        security,
        body: CreateUserRequest,
        response: { 200: UserResponse, 201: UserResponse, ...errors },
      },
    },
    async (request, reply) => {
      const { username, password, accounts } = request.body;
      const existing = await auth.getUser(username);
      await auth.upsertUser({
        username,
        passwordHash: await hashPassword(password),
        accounts,
        createdAt: existing?.createdAt ?? Date.now(),
      });
      if (existing) await auth.deleteUserSessions(username);
      authenticator.forgetUser(username);
      return reply.code(existing ? 200 : 201).send({ username, accounts });
    },
  );

  app.get(
    '/users',
    {
      schema: {
        tags,
        summary: 'List users with their accounts (never their passwords)',
        security,
        response: { 200: Type.Object({ items: Type.Array(UserBody) }), ...errors },
      },
    },
    async () => {
      const now = Date.now();
      return { items: (await auth.listUsers()).map((user) => userBody(user, now)) };
    },
  );

  app.patch(
    '/users/:username',
    {
      schema: {
        tags,
        summary: "Change a user's password or accounts",
        description:
          "A new password clears a lockout and ends the user's sessions; new accounts apply to its open " +
          'sessions at once.',
        security,
        params: UserParams,
        body: UpdateUserRequest,
        response: { 200: UserResponse, ...errors, ...notFound },
      },
    },
    async (request) => {
      const { username } = request.params;
      const { password, accounts } = request.body;
      const passwordHash = password === undefined ? undefined : await hashPassword(password);
      const user = await auth.updateUser(username, { passwordHash, accounts });
      if (!user) throw noUser(username);
      if (passwordHash !== undefined) await auth.deleteUserSessions(username);
      authenticator.forgetUser(username);
      return { username: user.username, accounts: user.accounts };
    },
  );

  app.delete(
    '/users/:username',
    {
      schema: {
        tags,
        summary: 'Delete a user and end its sessions',
        security,
        params: UserParams,
        response: { 200: Type.Object({ username: Type.String() }), ...errors, ...notFound },
      },
    },
    async (request) => {
      const { username } = request.params;
      if (!(await auth.deleteUser(username))) throw noUser(username);
      authenticator.forgetUser(username);
      return { username };
    },
  );
};

/** The shapes the admin routes answer, for clients of the admin API (the CLI). */
export type ClientView = Static<typeof ClientBody>;
export type ClientCredentialsView = Static<typeof ClientCredentials>;
export type UserView = Static<typeof UserBody>;
