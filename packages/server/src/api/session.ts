import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { type Authenticator, sessionTokenOf } from '../access/platform.js';
import { DEV_CREDENTIALS } from '../dev.js';
import { errorBodySchema } from './errors.js';

const LoginRequest = Type.Object({
  username: Type.String({ minLength: 1, maxLength: 128 }),
  password: Type.String({ minLength: 1, maxLength: 256 }),
});

const LoginResponse = Type.Object({
  sessionToken: Type.String(),
  expiresIn: Type.Integer({ description: 'Idle seconds before the session expires (1200).' }),
});

const LogoutResponse = Type.Object({ sessionToken: Type.String() });

const errors = { 400: errorBodySchema, 401: errorBodySchema };
const SESSION_TOKEN = 'c3a1f0e2-9b7d-4e55-8f3a-2d6c1b0a9e87';

/** `POST /m2m/v1/session/login` and `/logout`: the Connectivity Management session (SPEC §3). */
export const sessionRoutes: FastifyPluginAsyncTypebox<{ authenticator: Authenticator }> = async (
  app,
  { authenticator },
) => {
  app.addHook('onRequest', authenticator.requireBearer);

  app.post(
    '/m2m/v1/session/login',
    {
      config: { audit: false },
      schema: {
        tags: ['Session'],
        operationId: 'logIn',
        'x-examples': {
          request: { username: DEV_CREDENTIALS.username, password: DEV_CREDENTIALS.password },
          responses: { 200: { sessionToken: SESSION_TOKEN, expiresIn: 1200 } },
        },
        summary: 'Log in and get a session token (VZ-M2M-Token)',
        description:
          'Five wrong passwords in a row lock the user for 15 minutes. The session expires after 20 idle minutes.',
        security: [{ bearerAuth: [] }],
        body: LoginRequest,
        response: { 200: LoginResponse, ...errors },
      },
    },
    async (request) => {
      const { username, password } = request.body;
      const { token, expiresIn } = await authenticator.login(username, password, request.clientId!, request.ip);
      return { sessionToken: token, expiresIn };
    },
  );

  app.post(
    '/m2m/v1/session/logout',
    {
      // The same checks as every session route (missing, unknown, expired, another client's), then the end.
      onRequest: authenticator.requireSession,
      config: { audit: false },
      schema: {
        tags: ['Session'],
        operationId: 'logOut',
        'x-examples': { responses: { 200: { sessionToken: SESSION_TOKEN } } },
        summary: 'End a session',
        security: [{ bearerAuth: [], sessionToken: [] }],
        response: { 200: LogoutResponse, ...errors },
      },
    },
    async (request) => {
      await authenticator.logout(request.session!.tokenHash);
      return { sessionToken: sessionTokenOf(request) };
    },
  );
};
