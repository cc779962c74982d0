import type { ThingspaceOauthCredentials } from '../configuration.js';
import { AuthenticationError, errorFromResponse, parseJson } from '../errors.js';
import type { Exchange } from '../http/requestCore.js';
import type { IssuedToken } from './tokenCache.js';

/** The platform's tokens live one hour; assumed when a server leaves `expires_in` out. */
const DEFAULT_LIFETIME_S = 3600;

/** OAuth 2.0 client credentials grant at `{base}/ts/v1/oauth2/token`. */
export async function requestAccessToken(
  exchange: Exchange,
  baseUrl: string,
  { oauthClientId, oauthClientSecret }: ThingspaceOauthCredentials,
): Promise<IssuedToken> {
  const response = await exchange(
    {
      method: 'POST',
      url: `${baseUrl}/ts/v1/oauth2/token`,
      headers: {
        Authorization: `Basic ${base64(`${oauthClientId}:${oauthClientSecret}`)}`,
        'Content-Type': 'application/x-www-form-urlencoded',
        Accept: 'application/json',
      },
      body: 'grant_type=client_credentials',
    },
    { idempotent: true },
  );
  const context = 'OAuth token request failed';
  if (response.statusCode < 200 || response.statusCode >= 300) {
    throw errorFromResponse(response, AuthenticationError, context);
  }
  const result = parseJson(response.body) as { access_token?: unknown; expires_in?: unknown } | undefined;
  if (typeof result?.access_token !== 'string' || result.access_token === '') {
    throw new AuthenticationError({
      ...response,
      result,
      code: 'INVALID_TOKEN_RESPONSE',
      message: `${context}: the response has no access_token`,
    });
  }
  const expiresIn = Number(result.expires_in);
  const lifetimeS = Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : DEFAULT_LIFETIME_S;
  return { value: result.access_token, lifetimeMs: lifetimeS * 1000 };
}

/** UTF-8 then base64, with what every runtime that has `fetch` also has (no `Buffer`). */
function base64(text: string): string {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}
