import type { SessionCredentials } from '../configuration.js';
import type { Exchange, HttpResponse } from '../http/http-client.js';
import { type IssuedToken, readIssuedToken } from './token-cache.js';

/** Connectivity Management login at `{base}/m2m/v1/session/login`; returns the raw response. */
export function sendLogin(
  exchange: Exchange,
  baseUrl: string,
  { username, password }: SessionCredentials,
  accessToken: string,
): Promise<HttpResponse> {
  return exchange(
    {
      method: 'POST',
      url: `${baseUrl}/m2m/v1/session/login`,
      headers: {
        Authorization: `Bearer ${accessToken}`,
        'Content-Type': 'application/json',
        Accept: 'application/json',
      },
      body: JSON.stringify({ username, password }),
    },
    { idempotent: true },
  );
}

/** Reads the session token out of a login response, or throws `AuthenticationError` with the server's error. */
export function readSessionToken(response: HttpResponse): IssuedToken {
  return readIssuedToken(response, {
    failure: 'Session login failed',
    invalidCode: 'INVALID_SESSION_RESPONSE',
    tokenField: 'sessionToken',
    lifetimeField: 'expiresIn',
    // Sessions die after 20 idle minutes on the platform.
    defaultLifetimeS: 1200,
  });
}
