import formbody from '@fastify/formbody';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Authenticator } from '../access/platform.js';
import { describeBytes, ErrorCodes, HttpError, oauthErrorBodySchema } from './errors.js';

const TokenRequest = Type.Object({
  grant_type: Type.Optional(Type.String({ description: 'Must be `client_credentials`.' })),
});

const TokenResponse = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('bearer'),
  expires_in: Type.Integer({ description: 'Seconds until the token expires (3600).' }),
  scope: Type.String(),
});

const SCOPE = 'm2m';

/** An error of the token route: our envelope plus the RFC 6749 fields. */
function oauthError(errorCode: string, error: string, message: string) {
  return { errorCode, errorMessage: message, error, error_description: message };
}
/** A token request is a short form; nothing near this is legitimate. */
const TOKEN_BODY_LIMIT = 16 * 1024;

/** `POST /ts/v1/oauth2/token`: OAuth 2.0 client credentials (SPEC §3). */
export const oauthRoutes: FastifyPluginAsyncTypebox<{ authenticator: Authenticator }> = async (
  app,
  { authenticator },
) => {
  // Form bodies are accepted here only: the M2M routes stay JSON-only (415 otherwise).
  await app.register(formbody);

  app.post(
    '/ts/v1/oauth2/token',
    {
      config: { oauthErrors: true, audit: false },
      // On the route, not the form parser, so that a 413 names this limit whatever the body's type.
      bodyLimit: TOKEN_BODY_LIMIT,
      schema: {
        tags: ['OAuth'],
        operationId: 'getAccessToken',
        'x-examples': {
          request: { grant_type: 'client_credentials' },
          responses: {
            200: { access_token: 'H5p0n7c0Rk2vQ1xJ9aLmZ8uY', token_type: 'bearer', expires_in: 3600, scope: SCOPE },
            400: oauthError(ErrorCodes.grantType, 'unsupported_grant_type', 'grant_type must be client_credentials'),
            401: oauthError(ErrorCodes.clientCredentials, 'invalid_client', 'invalid client id or secret'),
            413: oauthError(
              ErrorCodes.requestTooLarge,
              'invalid_request',
              `the body is larger than ${describeBytes(TOKEN_BODY_LIMIT)}`,
            ),
            415: oauthError(
              ErrorCodes.contentType,
              'invalid_request',
              'the body must be application/x-www-form-urlencoded',
            ),
          },
        },
        summary: 'Issue an access token (client credentials)',
        description:
          'Form body `grant_type=client_credentials` with `Authorization: Basic base64(clientId:clientSecret)`. The token lasts one hour. ' +
          'Errors carry the RFC 6749 fields `error` and `error_description` besides `errorCode` and `errorMessage`; a 401 carries `WWW-Authenticate: Basic`.',
        security: [{ basicAuth: [] }],
        body: TokenRequest,
        response: {
          200: TokenResponse,
          400: oauthErrorBodySchema,
          401: oauthErrorBodySchema,
          413: oauthErrorBodySchema,
          415: oauthErrorBodySchema,
        },
      },
    },
    async (request) => {
      const grantType = request.body?.grant_type;
      if (grantType !== 'client_credentials') {
        const oauthError = grantType === undefined ? 'invalid_request' : 'unsupported_grant_type';
        throw new HttpError(ErrorCodes.grantType, 'grant_type must be client_credentials', { oauthError });
      }
      const clientId = await authenticator.authenticateClient(request.headers.authorization, request.ip);
      const { token, expiresInSeconds } = await authenticator.issueAccessToken(clientId);
      return { access_token: token, token_type: 'bearer' as const, expires_in: expiresInSeconds, scope: SCOPE };
    },
  );
};
