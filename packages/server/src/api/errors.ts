/**
 * Every error the API answers with, as `{errorCode, errorMessage}` (SPEC §3), each declared once with
 * its HTTP status and a default text. Codes follow the platform's `INPUT_INVALID.*` /
 * `REQUEST_FAILED.*` style so programs can switch on them. The platform answers every error of its
 * own routes with 400 (reference: thingspace-callbacks.md §1.4); the admin API and the HTTP layer use
 * the status that says what happened. A route that needs another status for the same situation uses
 * another code: the status is never paired with a code by hand at a throw site.
 */
export const ERRORS = {
  requestBody: { code: 'INPUT_INVALID.Request.Body', status: 400, text: 'the request body is not valid' },
  requestUndefined: {
    code: 'INPUT_INVALID.RequestUndefined',
    status: 400,
    text: 'the request body must be a JSON object',
  },
  requestJson: { code: 'INPUT_INVALID.Request.Json', status: 400, text: 'the request body is not valid JSON' },
  requestEncoding: { code: 'INPUT_INVALID.Request.Encoding', status: 400, text: 'the request body is not valid UTF-8' },
  requestNumber: { code: 'INPUT_INVALID.Request.Number', status: 400, text: 'a number cannot be kept exactly' },
  requestDepth: { code: 'INPUT_INVALID.Request.Depth', status: 400, text: 'the JSON is nested too deep' },
  unknownField: { code: 'INPUT_INVALID.Request.UnknownField', status: 400, text: 'the request has an unknown field' },
  requestTooLarge: { code: 'INPUT_INVALID.Request.TooLarge', status: 413, text: 'the request body is too large' },
  contentType: {
    code: 'INPUT_INVALID.Request.ContentType',
    status: 415,
    text: 'the request body must be sent as application/json',
  },
  requestParams: { code: 'INPUT_INVALID.Request.Params', status: 400, text: 'a path parameter is not valid' },
  requestQuery: { code: 'INPUT_INVALID.Request.Query', status: 400, text: 'the query is not valid' },
  requestHeaders: { code: 'INPUT_INVALID.Request.Headers', status: 400, text: 'a request header is not valid' },
  requestUrl: { code: 'INPUT_INVALID.Request.Url', status: 400, text: 'the URL is not valid' },
  uriTooLong: { code: 'INPUT_INVALID.Request.UriTooLong', status: 414, text: 'the URL is too long' },
  headersTooLarge: {
    code: 'INPUT_INVALID.Request.HeadersTooLarge',
    status: 431,
    text: 'the request headers are larger than allowed',
  },
  malformedRequest: { code: 'INPUT_INVALID.Request.Malformed', status: 400, text: 'the request is not valid HTTP/1.1' },
  missingHost: { code: 'INPUT_INVALID.Request.Host', status: 400, text: 'an HTTP/1.1 request needs a Host header' },
  accountName: { code: 'INPUT_INVALID.AccountName', status: 400, text: 'the account name is not valid' },
  serviceName: { code: 'INPUT_INVALID.ServiceName', status: 400, text: 'not a callback service' },
  url: { code: 'INPUT_INVALID.Url', status: 400, text: 'the listener URL is not allowed' },
  username: { code: 'INPUT_INVALID.Username', status: 400, text: 'the username is not valid' },
  password: { code: 'INPUT_INVALID.Password', status: 400, text: 'the password is not valid' },
  grantType: { code: 'INPUT_INVALID.GrantType', status: 400, text: 'grant_type must be client_credentials' },
  clientName: { code: 'INPUT_INVALID.ClientName', status: 400, text: 'the client name is not valid' },
  clientId: { code: 'INPUT_INVALID.ClientId', status: 400, text: 'the client id is not valid' },
  clientSecret: { code: 'INPUT_INVALID.ClientSecret', status: 400, text: 'the client secret is not valid' },
  idempotencyKey: {
    code: 'INPUT_INVALID.IdempotencyKey',
    status: 422,
    text: 'the Idempotency-Key was used with another request',
  },
  settings: { code: 'INPUT_INVALID.Settings', status: 400, text: 'the delivery settings are not valid' },
  clientCredentials: { code: 'REQUEST_FAILED.ClientCredentials', status: 401, text: 'invalid client id or secret' },
  accessTokenMissing: {
    code: 'REQUEST_FAILED.AccessToken.Missing',
    status: 401,
    text: 'missing access token: send Authorization: Bearer',
  },
  accessTokenInvalid: {
    code: 'REQUEST_FAILED.AccessToken.Invalid',
    status: 401,
    text: 'the access token is not valid',
  },
  accessTokenExpired: { code: 'REQUEST_FAILED.AccessToken.Expired', status: 401, text: 'the access token has expired' },
  sessionTokenFormat: { code: 'REQUEST_FAILED.SessionToken.Format', status: 400, text: 'missing session token' },
  sessionTokenInvalid: {
    code: 'INPUT_INVALID.SessionToken.Invalid',
    status: 400,
    text: 'the session token is not valid; log in again',
  },
  sessionTokenExpired: {
    code: 'REQUEST_FAILED.SessionToken.Expired',
    status: 400,
    text: 'the session has expired; log in again',
  },
  loginFailed: { code: 'REQUEST_FAILED.Login.InvalidCredentials', status: 400, text: 'invalid username or password' },
  userLocked: { code: 'REQUEST_FAILED.Login.UserLocked', status: 400, text: 'the user is locked' },
  accountForbidden: { code: 'REQUEST_FAILED.AccountName', status: 400, text: 'the user may not manage this account' },
  /** The platform's deregistration of a service that is not registered (the platform answers 400). */
  callbackNotFound: { code: 'REQUEST_FAILED.CallbackNotFound', status: 400, text: 'no callback is registered' },
  unauthorized: {
    code: 'REQUEST_FAILED.Unauthorized',
    status: 401,
    text: 'the admin API needs Authorization: Bearer <CCB_ADMIN_TOKEN>',
  },
  forbidden: { code: 'REQUEST_FAILED.Forbidden', status: 403, text: 'this may not be served' },
  /** An API key limited to accounts, or a portal session, naming another account (admin API, portal). */
  accountNotAllowed: {
    code: 'REQUEST_FAILED.AccountForbidden',
    status: 403,
    text: 'this key or portal session may not use this account',
  },
  conflict: { code: 'REQUEST_FAILED.AlreadyExists', status: 409, text: 'it already exists' },
  messageDelivering: {
    code: 'REQUEST_FAILED.MessageDelivering',
    status: 409,
    text: 'the message is being delivered right now',
  },
  /** An unknown route, or a resource of the admin API (message, replay job, registration, client, user). */
  notFound: { code: 'REQUEST_FAILED.ResourceNotFound', status: 404, text: 'not found' },
  methodNotAllowed: {
    code: 'REQUEST_FAILED.MethodNotAllowed',
    status: 405,
    text: 'the path does not accept this method',
  },
  requestTimeout: { code: 'REQUEST_FAILED.RequestTimeout', status: 408, text: 'the request was not received in time' },
  unexpected: {
    code: 'REQUEST_FAILED.UnexpectedError',
    status: 500,
    text: 'an unexpected error occurred; the server log has the details',
  },
  unavailable: { code: 'REQUEST_FAILED.Unavailable', status: 503, text: 'the service is unavailable; try again' },
  tooManyAttempts: { code: 'REQUEST_FAILED.TooManyAttempts', status: 429, text: 'too many failed attempts' },
} as const satisfies Record<string, { code: string; status: number; text: string }>;

export type ErrorName = keyof typeof ERRORS;
export type ErrorCode = (typeof ERRORS)[ErrorName]['code'];

/** Each error's code by name (`ErrorCodes.callbackNotFound` is `REQUEST_FAILED.CallbackNotFound`). */
export const ErrorCodes = Object.fromEntries(Object.entries(ERRORS).map(([name, error]) => [name, error.code])) as {
  readonly [N in ErrorName]: (typeof ERRORS)[N]['code'];
};

const BY_CODE: ReadonlyMap<string, { status: number; text: string }> = new Map(
  Object.values(ERRORS).map((error) => [error.code, error]),
);

/** The HTTP status of a code, as its literal type (a route's response schema is keyed by it). */
export type ErrorStatus<C extends ErrorCode> = Extract<(typeof ERRORS)[ErrorName], { code: C }>['status'];

/** The HTTP status of a code (the registry's). */
export function errorStatus<C extends ErrorCode>(code: C): ErrorStatus<C> {
  return (BY_CODE.get(code) as { status: number }).status as ErrorStatus<C>;
}

/** The body of an error answered without throwing (`{errorCode, errorMessage}`), the default text if none. */
export function errorBody(code: ErrorCode, errorMessage?: string): { errorCode: ErrorCode; errorMessage: string } {
  return { errorCode: code, errorMessage: errorMessage ?? (BY_CODE.get(code) as { text: string }).text };
}

/** RFC 6749 §5.2 error codes, which the token endpoint adds to its error bodies. */
export type OAuthErrorCode = 'invalid_request' | 'invalid_client' | 'unsupported_grant_type';

export interface HttpErrorOptions {
  /** Sent with the error, e.g. `Retry-After` on a 429 or 503, `WWW-Authenticate` on a 401. */
  headers?: Record<string, string>;
  /** The RFC 6749 `error` when this error comes from the token endpoint. */
  oauthError?: OAuthErrorCode;
}

/**
 * An error to answer with; thrown by routes and hooks. The status comes from the code's entry in
 * `ERRORS`; the message defaults to the entry's text.
 */
export class HttpError extends Error {
  override name = 'HttpError';
  readonly statusCode: number;
  readonly errorMessage: string;
  readonly headers: Record<string, string>;
  readonly oauthError?: OAuthErrorCode;

  constructor(
    readonly errorCode: ErrorCode,
    errorMessage?: string,
    options: HttpErrorOptions = {},
  ) {
    const body = errorBody(errorCode, errorMessage);
    super(body.errorMessage);
    this.errorMessage = body.errorMessage;
    this.statusCode = errorStatus(errorCode);
    this.headers = options.headers ?? {};
    this.oauthError = options.oauthError;
  }

  /**
   * A 4xx the framework or a plugin raised with a status of its own (a static file's 416, say) that no
   * code declares: answered with that status, not the code's.
   */
  static withFrameworkStatus(statusCode: number, errorCode: ErrorCode, errorMessage: string): HttpError {
    const error = new HttpError(errorCode, errorMessage);
    (error as { statusCode: number }).statusCode = statusCode;
    return error;
  }
}

/** The response schema of every error, for routes' OpenAPI entries and fast serialisation. */
export const errorBodySchema = {
  type: 'object',
  properties: { errorCode: { type: 'string' }, errorMessage: { type: 'string' } },
  required: ['errorCode', 'errorMessage'],
} as const;

/** The token endpoint's errors: the envelope plus the RFC 6749 §5.2 fields OAuth clients read. */
export const oauthErrorBodySchema = {
  type: 'object',
  properties: {
    ...errorBodySchema.properties,
    error: { type: 'string', enum: ['invalid_request', 'invalid_client', 'unsupported_grant_type'] },
    error_description: { type: 'string' },
  },
  required: ['errorCode', 'errorMessage', 'error', 'error_description'],
} as const;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route is an OAuth 2.0 token endpoint: its errors carry RFC 6749 fields. */
    oauthErrors?: boolean;
  }
}

/** `1 MiB`, `16 MiB`, `512 KiB`, or bytes: how limits are written in error messages. */
export function describeBytes(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}
