import type { ThingspaceOauthCredentials } from '../configuration.js';
import type { Exchange } from '../http/http-client.js';
import { type IssuedToken, readIssuedToken } from './token-cache.js';

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
  return readIssuedToken(response, {
    failure: 'OAuth token request failed',
    invalidCode: 'INVALID_TOKEN_RESPONSE',
    tokenField: 'access_token',
    lifetimeField: 'expires_in',
    // The platform's tokens live one hour.
    defaultLifetimeS: 3600,
  });
}

/** UTF-8 then base64, with what every runtime that has `fetch` also has (no `Buffer`). */
function base64(text: string): string {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}
