import type { SessionCredentials } from '../configuration.js';
import { AuthenticationError, errorFromResponse, parseJson } from '../errors.js';
import type { HttpResponse } from '../http/httpClient.js';
import type { Exchange } from '../http/requestCore.js';
import type { IssuedToken } from './tokenCache.js';

/** Sessions die after 20 idle minutes on the platform; assumed when a server leaves `expiresIn` out. */
const DEFAULT_IDLE_S = 1200;

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
  const context = 'Session login failed';
  if (response.statusCode < 200 || response.statusCode >= 300) {
    throw errorFromResponse(response, AuthenticationError, context);
  }
  const result = parseJson(response.body) as { sessionToken?: unknown; expiresIn?: unknown } | undefined;
  if (typeof result?.sessionToken !== 'string' || result.sessionToken === '') {
    throw new AuthenticationError({
      ...response,
      result,
      code: 'INVALID_SESSION_RESPONSE',
      message: `${context}: the response has no sessionToken`,
    });
  }
  const expiresIn = Number(result.expiresIn);
  const idleS = Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : DEFAULT_IDLE_S;
  return { value: result.sessionToken, lifetimeMs: idleS * 1000 };
}
