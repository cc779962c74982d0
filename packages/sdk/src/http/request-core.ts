import { type M2mCredentials, M2mTokens } from '../auth/m2m-tokens.js';
import type { Configuration } from '../configuration.js';
import { ApiError, errorFromResponse, parseJson } from '../errors.js';
import type { ApiResponse } from './api-response.js';
import type { HttpMethod, HttpRequest, HttpResponse } from './http-client.js';
import { RetryPolicy } from './retry-policy.js';

export interface ApiCall<T> {
  method: HttpMethod;
  /** Path under the base URL, path parameters already encoded. */
  path: string;
  body?: unknown;
  /** What `data` is when a 2xx comes with an empty body. */
  emptyValue: T;
}

/**
 * Sends an authenticated JSON call to the platform: adds the credentials, retries per the policy, logs
 * in again once when the credentials are refused, maps non-2xx to errors and parses the body.
 */
export class RequestCore {
  private readonly retryPolicy: RetryPolicy;
  private readonly auth: M2mTokens;

  constructor(private readonly config: Configuration) {
    this.retryPolicy = new RetryPolicy(config.retries);
    this.auth = new M2mTokens(config.baseUrl, (request, options) => this.exchange(request, options), config);
  }

  async call<T>({ method, path, body, emptyValue }: ApiCall<T>): Promise<ApiResponse<T>> {
    const send = (credentials: M2mCredentials) =>
      this.exchange(
        {
          method,
          url: this.config.baseUrl + path,
          headers: {
            Authorization: `Bearer ${credentials.accessToken}`,
            'VZ-M2M-Token': credentials.sessionToken,
            'Content-Type': 'application/json',
            Accept: 'application/json',
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        },
        { idempotent: method !== 'POST' && method !== 'PATCH' },
      );

    const credentials = await this.auth.credentials();
    let response = await send(credentials);
    if (needsNewCredentials(response)) {
      // Sessions die after idle minutes and tokens can be revoked: renew once, then give up.
      this.auth.refused(credentials, response);
      response = await send(await this.auth.credentials());
    }
    if (response.statusCode < 200 || response.statusCode >= 300) throw errorFromResponse(response);
    const data = parseBody(response, emptyValue);
    return { statusCode: response.statusCode, headers: response.headers, data, result: data, body: response.body };
  }

  private exchange(request: Omit<HttpRequest, 'timeoutMs'>, { idempotent }: { idempotent: boolean }) {
    const timed = { ...request, timeoutMs: this.config.timeoutMs };
    return this.retryPolicy.send(timed, (r) => this.config.httpClient.send(r), { idempotent });
  }
}

/**
 * Whether the server refused the credentials rather than the call: a 401 (the access token), or the
 * platform's 400 with a `SessionToken` error code (missing, unknown, logged-out or expired session).
 * Any other 400, such as an account the user may not manage, is the caller's to see.
 */
function needsNewCredentials(response: HttpResponse): boolean {
  if (response.statusCode === 401) return true;
  if (response.statusCode !== 400) return false;
  const errorCode = (parseJson(response.body) as { errorCode?: unknown } | undefined)?.errorCode;
  return typeof errorCode === 'string' && /(^|\.)SessionToken(\.|$)/.test(errorCode);
}

function parseBody<T>(response: HttpResponse, emptyValue: T): T {
  if (response.body.trim() === '') return emptyValue;
  try {
    return JSON.parse(response.body) as T;
  } catch {
    throw new ApiError({
      ...response,
      code: 'INVALID_RESPONSE_BODY',
      message: `HTTP ${response.statusCode} with a body that is not JSON: ${response.body.slice(0, 200)}`,
    });
  }
}
