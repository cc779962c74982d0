/** JSON over fetch with a Bearer token and the server's error envelope, for the dashboard and the portal. */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
  ) {
    super(message);
  }
}

/** Any thrown value as an ApiError, for the pages' error notices. */
export function asApiError(caught: unknown): ApiError {
  return caught instanceof ApiError ? caught : new ApiError(0, 'unexpected', String(caught));
}

export type Requester = <T>(method: string, path: string, body?: unknown, token?: string | null) => Promise<T>;

/**
 * A request function that sends `token()` as `Authorization: Bearer …` and calls `onUnauthorized`
 * when the server refuses the token it was given (401) while that token is still the current one.
 */
export function requester(token: () => string | null, onUnauthorized: () => void): Requester {
  return async <T>(method: string, path: string, body?: unknown, given: string | null = token()): Promise<T> => {
    const headers: Record<string, string> = {};
    if (given) headers.authorization = `Bearer ${given}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch {
      throw new ApiError(0, 'network', 'The server does not answer. Is `ccb serve` still running?');
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      const envelope = (parsed ?? {}) as { errorCode?: string; errorMessage?: string };
      if (response.status === 401 && given && given === token()) onUnauthorized();
      throw new ApiError(
        response.status,
        envelope.errorCode ?? 'unknown',
        envelope.errorMessage ?? `The server answered ${response.status}.`,
      );
    }
    return parsed as T;
  };
}

/** `?a=1&b=2` of the values given (empty ones left out), or ''. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params))
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** A path segment. */
export const seg = (value: string) => encodeURIComponent(value);
