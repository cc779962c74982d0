import { ConnectionError, TimeoutError } from '../errors.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface HttpRequest {
  method: HttpMethod;
  url: string;
  headers: Record<string, string>;
  body?: string;
  /** Milliseconds for the whole exchange, body included; 0 means no limit. */
  timeoutMs: number;
}

export interface HttpResponse {
  statusCode: number;
  /** Lower-case header names. */
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends one HTTP request and returns whatever status came back. It knows nothing about retries,
 * authentication or the platform's error format. Throws `ConnectionError` when no response arrived and
 * `TimeoutError` when `timeoutMs` passed first. Swap it through the client's `httpClient` option
 * (a proxy-aware agent, a recording client in tests, another runtime).
 */
export interface HttpClient {
  send(request: HttpRequest): Promise<HttpResponse>;
}

/** The default `HttpClient`: the runtime's global `fetch`. */
export class FetchHttpClient implements HttpClient {
  async send(request: HttpRequest): Promise<HttpResponse> {
    const signal = request.timeoutMs > 0 ? AbortSignal.timeout(request.timeoutMs) : undefined;
    try {
      const response = await fetch(request.url, {
        method: request.method,
        headers: request.headers,
        body: request.body,
        signal,
      });
      // Read under the same signal, so a server that stalls mid-body also times out.
      const body = await response.text();
      return { statusCode: response.status, headers: Object.fromEntries(response.headers), body };
    } catch (error) {
      // The only abort source is the timeout, whatever shape the runtime gives the rejection.
      if (signal?.aborted) {
        throw new TimeoutError(`${describe(request)} timed out after ${request.timeoutMs} ms`, request.timeoutMs, {
          cause: error,
        });
      }
      throw toConnectionError(error, request);
    }
  }
}

function toConnectionError(error: unknown, request: HttpRequest): ConnectionError {
  const cause = error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  const code = typeof cause?.code === 'string' ? cause.code : 'ECONNECTION';
  const reason =
    typeof cause?.message === 'string' ? cause.message : error instanceof Error ? error.message : String(error);
  return new ConnectionError(`${describe(request)} failed: ${reason}`, code, { cause: error });
}

function describe(request: HttpRequest): string {
  return `${request.method} ${request.url}`;
}

/**
 * One HTTP exchange with the configured timeout and retries, and no authentication: what the auth
 * layer sends its token and login requests through (it sits on this layer, not the other way round).
 */
export type Exchange = (
  request: Omit<HttpRequest, 'timeoutMs'>,
  options: { idempotent: boolean },
) => Promise<HttpResponse>;
