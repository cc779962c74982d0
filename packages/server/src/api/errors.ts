import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { StoreUnavailableError } from '../store/errors.js';

/**
 * Every error the API answers with, as `{errorCode, errorMessage}` (SPEC §3). Codes follow the
 * platform's `INPUT_INVALID.*` / `REQUEST_FAILED.*` style so programs can switch on them.
 */
export const ErrorCodes = {
  requestBody: 'INPUT_INVALID.Request.Body',
  requestUndefined: 'INPUT_INVALID.RequestUndefined',
  requestJson: 'INPUT_INVALID.Request.Json',
  requestTooLarge: 'INPUT_INVALID.Request.TooLarge',
  contentType: 'INPUT_INVALID.Request.ContentType',
  requestParams: 'INPUT_INVALID.Request.Params',
  requestQuery: 'INPUT_INVALID.Request.Query',
  requestHeaders: 'INPUT_INVALID.Request.Headers',
  accountName: 'INPUT_INVALID.AccountName',
  serviceName: 'INPUT_INVALID.ServiceName',
  url: 'INPUT_INVALID.Url',
  username: 'INPUT_INVALID.Username',
  password: 'INPUT_INVALID.Password',
  grantType: 'INPUT_INVALID.GrantType',
  clientCredentials: 'REQUEST_FAILED.ClientCredentials',
  accessTokenMissing: 'REQUEST_FAILED.AccessToken.Missing',
  accessTokenInvalid: 'REQUEST_FAILED.AccessToken.Invalid',
  accessTokenExpired: 'REQUEST_FAILED.AccessToken.Expired',
  sessionTokenFormat: 'REQUEST_FAILED.SessionToken.Format',
  sessionTokenInvalid: 'INPUT_INVALID.SessionToken.Invalid',
  sessionTokenExpired: 'REQUEST_FAILED.SessionToken.Expired',
  loginFailed: 'REQUEST_FAILED.Login.InvalidCredentials',
  userLocked: 'REQUEST_FAILED.Login.UserLocked',
  accountForbidden: 'REQUEST_FAILED.AccountName',
  callbackNotFound: 'REQUEST_FAILED.CallbackNotFound',
  unauthorized: 'REQUEST_FAILED.Unauthorized',
  conflict: 'REQUEST_FAILED.AlreadyExists',
  notFound: 'REQUEST_FAILED.ResourceNotFound',
  unexpected: 'REQUEST_FAILED.UnexpectedError',
  unavailable: 'REQUEST_FAILED.Unavailable',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** An error with the status and body to answer with; thrown by routes and hooks. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly statusCode: number,
    readonly errorCode: string,
    readonly errorMessage: string,
    /** Sent with the error, e.g. `Retry-After` on a 429 or 503. */
    readonly headers: Record<string, string> = {},
  ) {
    super(errorMessage);
  }
}

/** The response schema of every error, for routes' OpenAPI entries and fast serialisation. */
export const errorBodySchema = {
  type: 'object',
  properties: { errorCode: { type: 'string' }, errorMessage: { type: 'string' } },
  required: ['errorCode', 'errorMessage'],
} as const;

/** Which code a validation error gets, by the name of the field it is about. */
const FIELD_CODES: Record<string, string> = {
  aname: ErrorCodes.accountName,
  accountName: ErrorCodes.accountName,
  sname: ErrorCodes.serviceName,
  name: ErrorCodes.serviceName,
  url: ErrorCodes.url,
  username: ErrorCodes.username,
  password: ErrorCodes.password,
  grant_type: ErrorCodes.grantType,
};

/** Pattern failures read badly as regular expressions; say what the rule is instead. */
const PATTERN_MESSAGES: Record<string, string> = {
  aname: 'aname must be 1 to 64 letters, digits, "-" or "_"',
  accountName: 'accountName must be 1 to 64 letters, digits, "-" or "_"',
  username: 'username must be at most 40 printable characters',
  password: 'password must be at most 40 printable characters',
};

const CONTEXT_CODES: Record<string, string> = {
  body: ErrorCodes.requestBody,
  params: ErrorCodes.requestParams,
  querystring: ErrorCodes.requestQuery,
  headers: ErrorCodes.requestHeaders,
};

interface ValidationIssue {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** Turns a Fastify schema-validation failure into the platform's error body. */
function validationError(error: FastifyError): HttpError {
  const issue = (error.validation?.[0] ?? {}) as ValidationIssue;
  const context = error.validationContext ?? 'body';
  const path = issue.instancePath ?? '';
  const missing = typeof issue.params?.missingProperty === 'string' ? issue.params.missingProperty : undefined;
  const field = missing ?? path.split('/').filter(Boolean)[0];
  if (context === 'body' && path === '' && !missing && issue.keyword === 'type') {
    return new HttpError(400, ErrorCodes.requestUndefined, 'the request body must be a JSON object');
  }
  const code = (field && FIELD_CODES[field]) || CONTEXT_CODES[context] || ErrorCodes.requestBody;
  const where = field ? `${field}` : context;
  const message = missing
    ? `${missing} is required`
    : issue.keyword === 'pattern'
      ? (PATTERN_MESSAGES[where] ?? `${where} has a form or characters that are not allowed`)
      : `${where} ${issue.message ?? 'is invalid'}`;
  return new HttpError(400, code, message);
}

/** Maps anything thrown into an HttpError; unknown failures become a 500 that reveals nothing. */
export function toHttpError(error: FastifyError | Error): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof StoreUnavailableError) {
    return new HttpError(503, ErrorCodes.unavailable, error.message, {
      'retry-after': String(error.retryAfterSeconds),
    });
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) return validationError(fastifyError);
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new HttpError(400, ErrorCodes.requestJson, 'the request body is not valid JSON');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new HttpError(400, ErrorCodes.requestUndefined, 'the request body is empty');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpError(413, ErrorCodes.requestTooLarge, 'the request body is larger than allowed (1 MiB)');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpError(415, ErrorCodes.contentType, 'the request body must be sent as application/json');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new HttpError(400, ErrorCodes.requestBody, 'the Content-Length header does not match the body');
  }
  // JSON.parse errors from a content-type parser (e.g. the form parser) and client-side aborts.
  if (fastifyError.statusCode && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    const status = fastifyError.statusCode;
    const code =
      status === 413 ? ErrorCodes.requestTooLarge : status === 415 ? ErrorCodes.contentType : ErrorCodes.requestBody;
    return new HttpError(status, code, fastifyError.message);
  }
  return new HttpError(500, ErrorCodes.unexpected, 'an unexpected error occurred; the server log has the details');
}

/** Installs the error and not-found handlers on an instance (the root one covers every plugin). */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const httpError = toHttpError(error);
    if (error instanceof StoreUnavailableError) {
      request.log.warn({ reason: error.reason, cause: error.cause }, 'store unavailable');
    } else if (httpError.statusCode >= 500) {
      request.log.error({ err: error }, 'request failed');
    } else if (!(error instanceof HttpError)) {
      request.log.info({ errorCode: httpError.errorCode, reason: error.message }, 'request refused');
    }
    return reply
      .code(httpError.statusCode)
      .headers(httpError.headers)
      .type('application/json; charset=utf-8')
      .send({ errorCode: httpError.errorCode, errorMessage: httpError.errorMessage });
  });
  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
    return reply.code(404).send({
      errorCode: ErrorCodes.notFound,
      errorMessage: `no route for ${request.method} ${request.url.split('?')[0]}`,
    });
  });
}
