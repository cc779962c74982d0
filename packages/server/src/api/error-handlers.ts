import { STATUS_CODES as STATUS_CODES_TEXT } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import FindMyWay, { type HTTPMethod } from 'find-my-way';
import { StoreUnavailableError } from '../store/errors.js';
import { describeBytes, type ErrorCode, ErrorCodes, errorBody, errorStatus, HttpError } from './errors.js';

/** Which code a validation error gets, by the name of the field it is about. */
const FIELD_CODES: Record<string, ErrorCode> = {
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
  limit: 'limit must be a whole number from 1 to 1000',
};

const CONTEXT_CODES: Record<string, ErrorCode> = {
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

/** Which code and pattern message a validation error gets, by field name; routes with other fields pass their own. */
export interface FieldRules {
  codes: Record<string, ErrorCode>;
  patternMessages: Record<string, string>;
}

/** Turns a Fastify schema-validation failure into the platform's error body. */
export function validationError(
  error: FastifyError,
  rules: FieldRules = { codes: FIELD_CODES, patternMessages: PATTERN_MESSAGES },
): HttpError {
  const issue = (error.validation?.[0] ?? {}) as ValidationIssue;
  const context = error.validationContext ?? 'body';
  const path = issue.instancePath ?? '';
  const missing = typeof issue.params?.missingProperty === 'string' ? issue.params.missingProperty : undefined;
  const field = missing ?? path.split('/').filter(Boolean)[0];
  if (context === 'body' && path === '' && !missing && issue.keyword === 'type') {
    return new HttpError(ErrorCodes.requestUndefined, 'the request body must be a JSON object');
  }
  if (issue.keyword === 'additionalProperties') {
    const where = path
      ? path.slice(1).replaceAll('/', '.')
      : context === 'querystring'
        ? 'the query'
        : `the ${context}`;
    return new HttpError(
      ErrorCodes.unknownField,
      `${where} has an unknown field "${String(issue.params?.additionalProperty)}"`,
    );
  }
  const code = (field && rules.codes[field]) || CONTEXT_CODES[context] || ErrorCodes.requestBody;
  const where = field ? `${field}` : context;
  const message = missing
    ? `${missing} is required`
    : issue.keyword === 'pattern'
      ? (rules.patternMessages[where] ?? `${where} has a form or characters that are not allowed`)
      : `${where} ${issue.message ?? 'is invalid'}`;
  return new HttpError(code, message);
}

/** The code of a 4xx that the framework or a plugin raised with only a status. */
const STATUS_CODES: Record<number, ErrorCode> = {
  403: ErrorCodes.forbidden,
  404: ErrorCodes.notFound,
  405: ErrorCodes.methodNotAllowed,
  408: ErrorCodes.requestTimeout,
  413: ErrorCodes.requestTooLarge,
  414: ErrorCodes.uriTooLong,
  415: ErrorCodes.contentType,
  431: ErrorCodes.headersTooLarge,
};

/** Maps anything thrown into an HttpError; unknown failures become a 500 that reveals nothing. */
export function toHttpError(error: FastifyError | Error, request?: FastifyRequest): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof StoreUnavailableError) {
    return new HttpError(ErrorCodes.unavailable, error.message, {
      headers: { 'retry-after': String(error.retryAfterSeconds) },
    });
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) return validationError(fastifyError);
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new HttpError(ErrorCodes.requestJson, 'the request body is not valid JSON');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new HttpError(ErrorCodes.requestUndefined, 'the request body is empty');
    case 'FST_ERR_CTP_BODY_TOO_LARGE': {
      const limit = request?.routeOptions.bodyLimit;
      const allowed = limit ? describeBytes(limit) : 'the limit';
      return new HttpError(ErrorCodes.requestTooLarge, `the request body is larger than ${allowed}`);
    }
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpError(ErrorCodes.contentType, 'the request body must be sent as application/json');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new HttpError(ErrorCodes.requestBody, 'the Content-Length header does not match the body');
  }
  const status = fastifyError.statusCode;
  if (status && status >= 400 && status < 500) {
    const code = STATUS_CODES[status];
    return code
      ? new HttpError(code, fastifyError.message)
      : HttpError.withFrameworkStatus(status, ErrorCodes.requestBody, fastifyError.message);
  }
  return new HttpError(ErrorCodes.unexpected, 'an unexpected error occurred; the server log has the details');
}

/** The body and headers an error is answered with, OAuth fields included on the token endpoint. */
function errorResponse(
  httpError: HttpError,
  oauth: boolean,
): { body: Record<string, string>; headers: Record<string, string> } {
  const body: Record<string, string> = { errorCode: httpError.errorCode, errorMessage: httpError.errorMessage };
  const headers: Record<string, string> = { ...httpError.headers };
  if (oauth && httpError.statusCode < 500) {
    body.error = httpError.oauthError ?? (httpError.statusCode === 401 ? 'invalid_client' : 'invalid_request');
    body.error_description = httpError.errorMessage;
    if (httpError.statusCode === 401) headers['www-authenticate'] = 'Basic realm="ccb", charset="UTF-8"';
  }
  return { body, headers };
}

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * Routes by path, whatever the method: a request that matches no route but whose path another method
 * serves gets 405 with `Allow`, not 404. Filled from Fastify's onRoute hook.
 */
class RouteMethods {
  private readonly router = FindMyWay({ ignoreTrailingSlash: true });
  private readonly methods = new Set<string>();

  add(methods: string | string[], url: string): void {
    for (const method of Array.isArray(methods) ? methods : [methods]) {
      if (this.router.hasRoute(method as HTTPMethod, url)) continue;
      this.router.on(method as HTTPMethod, url, () => {});
      this.methods.add(method);
    }
  }

  allowed(path: string): string[] {
    return [...this.methods].filter((method) => this.router.find(method as HTTPMethod, path) !== null);
  }
}

/**
 * Installs the error and not-found handlers on an instance (the root one covers every plugin); the
 * checks before routing are `installRequestGuards` (request-guards.ts).
 */
export function installErrorHandlers(app: FastifyInstance): void {
  const routes = new RouteMethods();
  app.addHook('onRoute', (route) => routes.add(route.method, route.url));

  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const httpError = toHttpError(error, request);
    if (error instanceof StoreUnavailableError) {
      request.log.warn({ reason: error.reason, cause: error.cause }, 'store unavailable');
    } else if (httpError.statusCode >= 500) {
      request.log.error({ err: error }, 'request failed');
    } else if (!(error instanceof HttpError)) {
      request.log.info({ errorCode: httpError.errorCode, reason: error.message }, 'request refused');
    }
    const { body, headers } = errorResponse(httpError, request.routeOptions.config?.oauthErrors === true);
    return reply.code(httpError.statusCode).headers(headers).type(JSON_TYPE).send(body);
  });
  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0];
    const allowed = routes.allowed(path);
    // A route of this very method that found nothing (e.g. a static file) is a 404, not a 405.
    if (allowed.length > 0 && !allowed.includes(request.method)) {
      return reply
        .code(errorStatus(ErrorCodes.methodNotAllowed))
        .header('allow', allowed.join(', '))
        .send(
          errorBody(
            ErrorCodes.methodNotAllowed,
            `${path} does not accept ${request.method}; use ${allowed.join(' or ')}`,
          ),
        );
    }
    return reply
      .code(errorStatus(ErrorCodes.notFound))
      .send(errorBody(ErrorCodes.notFound, `no route for ${request.method} ${path}`));
  });
}

/**
 * Fastify's `frameworkErrors`: a path with bad percent-encoding, or a path parameter longer than the
 * router allows, answered in the envelope instead of Fastify's own body.
 */
export function frameworkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const httpError =
    error.code === 'FST_ERR_BAD_URL'
      ? new HttpError(ErrorCodes.requestUrl, 'the URL is not valid: it has a malformed percent-encoding')
      : error.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? new HttpError(ErrorCodes.uriTooLong, 'a path segment of the URL is too long')
        : toHttpError(error, request);
  if (httpError.statusCode >= 500) request.log.error({ err: error }, 'request failed');
  reply
    .code(httpError.statusCode)
    .type(JSON_TYPE)
    .send(JSON.stringify({ errorCode: httpError.errorCode, errorMessage: httpError.errorMessage }));
}

/**
 * The HTTP server's `clientError`: a request Node could not parse or that did not arrive in time,
 * answered in the envelope (Node and Fastify would write their own bodies) and the connection closed.
 */
export function clientErrorHandler(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const errorCode =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? ErrorCodes.requestTimeout
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? ErrorCodes.headersTooLarge
        : ErrorCodes.malformedRequest;
  const status = errorStatus(errorCode);
  if (socket.writable) {
    const body = JSON.stringify(errorBody(errorCode));
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES_TEXT[status]}\r\nContent-Type: ${JSON_TYPE}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}
