/**
 * Errors the SDK throws, one thin class per kind so callers can `instanceof` what they care about:
 *
 * - `ApiError`: the server answered with a non-2xx status (or a 2xx the SDK could not read).
 *   - `ConnectivityManagementResultError` (alias `ConnectivityManagementResultException`): HTTP 400,
 *     the platform's `{errorCode, errorMessage}` envelope.
 *   - `AuthenticationError`: the OAuth token or session login was refused, or a call stayed 401 after
 *     logging in again.
 * - `ConnectionError`: no HTTP response at all (refused, reset, DNS); `TimeoutError` when the
 *   request did not complete within `timeout`.
 * - `ArgumentError` (a `TypeError`): an invalid argument, thrown before any request is sent.
 */

export interface ApiErrorInit {
  message: string;
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  result?: unknown;
  code?: string;
  errorCode?: string;
  errorMessage?: string;
}

export class ApiError extends Error {
  static {
    // On the prototype, so stack traces name the class too.
    ApiError.prototype.name = 'ApiError';
  }
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  /** The raw response body. */
  readonly body: string;
  /** The parsed JSON body, when it was JSON. */
  readonly result: unknown;
  /** The server's error code when it sent one, otherwise `HTTP_<status>`: stable, for programs to switch on. */
  readonly code: string;
  readonly errorCode: string | undefined;
  readonly errorMessage: string | undefined;

  constructor(init: ApiErrorInit) {
    super(init.message);
    this.statusCode = init.statusCode;
    this.headers = init.headers;
    this.body = init.body;
    this.result = init.result;
    this.errorCode = init.errorCode;
    this.errorMessage = init.errorMessage;
    this.code = init.code ?? init.errorCode ?? `HTTP_${init.statusCode}`;
  }
}

/** HTTP 400 from a callback operation: the platform's `{errorCode, errorMessage}`. */
export class ConnectivityManagementResultError extends ApiError {
  static {
    ConnectivityManagementResultError.prototype.name = 'ConnectivityManagementResultError';
  }
}

/** The name the platform's published SDKs use for the same error. */
export const ConnectivityManagementResultException = ConnectivityManagementResultError;
export type ConnectivityManagementResultException = ConnectivityManagementResultError;

/** The OAuth token request or session login failed, or a call was still refused (401) after logging in again. */
export class AuthenticationError extends ApiError {
  static {
    AuthenticationError.prototype.name = 'AuthenticationError';
  }
}

/** No HTTP response was received. `code` is the system's code (`ECONNREFUSED`, `ENOTFOUND`, …) when known. */
export class ConnectionError extends Error {
  static {
    ConnectionError.prototype.name = 'ConnectionError';
  }
  readonly code: string;

  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** The request did not complete within the configured `timeout`; `code` is `ETIMEDOUT`. */
export class TimeoutError extends ConnectionError {
  static {
    TimeoutError.prototype.name = 'TimeoutError';
  }
  readonly timeoutMs: number;

  constructor(message: string, timeoutMs: number, options?: { cause?: unknown }) {
    super(message, 'ETIMEDOUT', options);
    this.timeoutMs = timeoutMs;
  }
}

/**
 * An argument is missing or has the wrong type. The client's constructor throws it; the operations reject
 * with it before sending any request. A `TypeError`, like Node's own argument errors.
 */
export class ArgumentError extends TypeError {
  static {
    ArgumentError.prototype.name = 'ArgumentError';
  }
  readonly code = 'INVALID_ARGUMENT';
  /** The argument at fault, e.g. `aname` or `body.url`. */
  readonly argument: string;

  constructor(argument: string, message: string) {
    super(`${argument}: ${message}`);
    this.argument = argument;
  }
}

interface ResponseLike {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

type ApiErrorClass = new (init: ApiErrorInit) => ApiError;

/**
 * Builds the error for a non-2xx response. Reads the platform's `{errorCode, errorMessage}`, the API
 * gateway's `{fault: {code, message}}` and OAuth's `{error, error_description}` envelopes.
 */
export function errorFromResponse(response: ResponseLike, errorClass?: ApiErrorClass, context?: string): ApiError {
  const result = parseJson(response.body);
  const { errorCode, errorMessage } = readEnvelope(result);
  const ErrorClass =
    errorClass ??
    (response.statusCode === 400
      ? ConnectivityManagementResultError
      : response.statusCode === 401
        ? AuthenticationError
        : ApiError);
  const detail = errorMessage ?? (errorCode ? undefined : response.body.slice(0, 200) || undefined);
  const summary = [`HTTP ${response.statusCode}`, errorCode, detail].filter(Boolean).join(' ');
  return new ErrorClass({
    message: context ? `${context}: ${summary}` : summary,
    statusCode: response.statusCode,
    headers: response.headers,
    body: response.body,
    result,
    errorCode,
    errorMessage,
  });
}

export function parseJson(body: string): unknown {
  if (body.trim() === '') return undefined;
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

function readEnvelope(result: unknown): { errorCode?: string; errorMessage?: string } {
  if (typeof result !== 'object' || result === null) return {};
  const r = result as Record<string, unknown>;
  const fault = typeof r.fault === 'object' && r.fault !== null ? (r.fault as Record<string, unknown>) : undefined;
  return {
    errorCode: firstString(r.errorCode, fault?.code, r.error),
    errorMessage: firstString(r.errorMessage, fault?.message, r.error_description),
  };
}

function firstString(...values: unknown[]): string | undefined {
  for (const value of values) {
    if (typeof value === 'string' && value !== '') return value;
    if (typeof value === 'number') return String(value);
  }
  return undefined;
}
