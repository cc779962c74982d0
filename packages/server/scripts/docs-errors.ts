/**
 * The tables of error codes (docs/server-and-api.md, from ERRORS) and attempt-error kinds
 * (docs/delivery.md, from ATTEMPT_ERROR_KINDS), written by doc-tables.ts. The code and its status come
 * from their declaration; what this file adds is when each is answered, as the docs say it. Both
 * records are keyed by every name: a code or kind added without its text fails the type-check.
 */
import { ERRORS, type ErrorName } from '../src/api/errors.js';
import { ATTEMPT_ERROR_KINDS, type AttemptErrorKind } from '../src/domain/attempt-error.js';
import { code, table } from './markdown.js';

/** When each error is answered (Markdown; rows go by status, then in this order). */
export const ERROR_WHEN: { readonly [N in ErrorName]: string } = {
  serviceName: '`name` missing or not a callback service',
  url: '`url` missing, not a string, malformed, on a port not allowed (the message lists the ports) or aimed at a forbidden address',
  username: '`username` over 40 characters, not printable, or not a string',
  password:
    "`password` over 40 characters, not printable, or not a string; admin: a user's password outside the [policy](#managing-oauth-clients-and-users)",
  accountName: '`aname` is not 1–64 of `[A-Za-z0-9_-]`',
  requestBody:
    "a body that breaks the route's schema in a way no other code names, e.g. a number where a string is expected (values are never converted)",
  requestParams: "a path parameter that breaks the route's schema",
  requestQuery:
    "a query value that breaks the route's schema (values are never converted), or a cursor the server did not make",
  requestHeaders: "a header that breaks the route's schema",
  unknownField:
    'an admin request body, filter or query with a field the route does not know (nothing is silently dropped)',
  requestUndefined: 'body missing, empty or not a JSON object',
  requestJson: 'malformed JSON (or prototype-poisoning keys)',
  requestEncoding:
    "a body that is not valid UTF-8; a string anywhere in the request (a JSON value or key at any depth, a form field, a path segment, a query value, the Basic credentials) holding the character U+0000 (NUL) or a lone surrogate (`\\ud800`–`\\udfff` without its pair): refused alike on SQLite and PostgreSQL, never changed or stored. A field with a rule of its own (an account name, a registration's `username`, `password`) answers with its own code instead",
  requestNumber:
    'a JSON number that a 64-bit float cannot keep exactly (`1e400`, a 23-digit integer): send it as a string',
  requestDepth: 'JSON nested more than 64 levels deep',
  requestUrl: 'a URL with a malformed percent-encoding (`%zz`)',
  malformedRequest: 'a request that is not valid HTTP/1.1',
  missingHost:
    'an HTTP/1.1 request without `Host`, or a host name the server does not answer to (`CCB_ALLOWED_HOSTS`; the dev profile answers loopback names only)',
  clientName: "admin: a client's `name` missing or empty",
  clientId: 'admin: a client id that is not 1–128 of `[A-Za-z0-9._~-]`',
  clientSecret: 'admin: a client secret outside the [policy](#managing-oauth-clients-and-users)',
  grantType:
    'token request without `grant_type=client_credentials` (`error`: `invalid_request` when missing, `unsupported_grant_type` otherwise)',
  settings:
    'admin: delivery settings that do not hold together, e.g. a duration that does not parse or a `warnAfter` not shorter than `after` ([Delivery controls](delivery-controls.md))',
  sessionTokenFormat: 'no `VZ-M2M-Token` header',
  sessionTokenInvalid: "unknown or logged-out session token, or one used with another OAuth client's access token",
  sessionTokenExpired: 'session idle for more than 20 minutes',
  loginFailed: 'wrong username or password',
  userLocked: 'five wrong passwords in a row: locked for 15 minutes',
  accountForbidden:
    "the session's user may not manage that account (list, register, deregister): `account … is not managed by user …`",
  callbackNotFound:
    'deregistering a service that is not registered; replaying a message whose account and service have no registration',
  clientCredentials:
    'token request with missing or wrong Basic credentials (`error`: `invalid_client`, `WWW-Authenticate: Basic`)',
  accessTokenMissing: 'no `Authorization: Bearer` token (`WWW-Authenticate: Bearer`)',
  accessTokenInvalid:
    'an `Authorization: Bearer` token the server does not know: never issued, or revoked with its client (a new secret, the client deleted) (`WWW-Authenticate: Bearer` with `error="invalid_token"`)',
  accessTokenExpired:
    'an `Authorization: Bearer` token past its lifetime (`WWW-Authenticate: Bearer` with `error="invalid_token"`)',
  unauthorized:
    'admin API without `CCB_ADMIN_TOKEN` or a live API key (unknown, revoked or expired); portal without a live portal session, or a used or expired portal link; `/metrics` without the right `CCB_METRICS_TOKEN`, when one is set',
  forbidden:
    'an API key without the scope the admin route needs ([Access](access.md#scopes)), counts over every account asked by a key limited to accounts, or a static file that may not be served',
  accountNotAllowed: 'an API key limited to accounts, or a portal session, naming another account',
  notFound: 'unknown route (whatever the body), message, replay job, registration, client or user (admin API)',
  methodNotAllowed: 'a method the path does not serve; `Allow` lists those it does',
  requestTimeout:
    'headers not received within `CCB_HEADERS_TIMEOUT`, or the whole request within `CCB_REQUEST_TIMEOUT`; the connection is closed',
  conflict: 'creating a client whose id exists',
  messageDelivering: 'replaying a message while an attempt is in flight (replay it once the attempt ended)',
  requestTooLarge:
    "body over the route's limit, which the message names (1 MiB; 16 MiB for a batch, each of its payloads 1 MiB; 16 KiB for a token request)",
  uriTooLong: 'a URL over 8 KiB, or a path segment over 100 characters (e.g. an account name)',
  contentType:
    'a non-empty body that is not `application/json` (form only on the token call), or a `charset` other than UTF-8',
  idempotencyKey:
    'an `Idempotency-Key` used in the last 24 hours with another payload (a batch holding such a message stores nothing)',
  tooManyAttempts:
    'over 10 failed credential checks in a minute from this address, on every instance together (token requests, logins, portal sign-ins; see [Access](access.md#failed-attempts)); `Retry-After` says when to try again',
  headersTooLarge: 'request headers over 16 KiB',
  unexpected: 'a bug; details only in the server log',
  unavailable:
    'the store cannot answer or write: locked by another process for over 5 s, disk full, storage failing (with `Retry-After`; nothing was written); `/readyz` then; every credential-check slot busy, or every login slot of the user taken by checks still running for about 2 s; the server is shutting down',
};

/** One row per error code, by HTTP status. */
export function errorCodesTable(): string {
  const names = Object.keys(ERROR_WHEN) as ErrorName[];
  const rows = names
    .map((name, order) => ({ ...ERRORS[name], when: ERROR_WHEN[name], order }))
    .sort((a, b) => a.status - b.status || a.order - b.order)
    .map((error) => [String(error.status), code(error.code), error.when]);
  return table(['HTTP', 'errorCode', 'when'], rows);
}

const NO_CONNECTION = 'the connection could not be made or broke before an answer';
const NOT_SENT = 'the engine could not build or send the request';

/** When an attempt fails with each kind (Markdown; kinds of the same text share a row). */
export const ATTEMPT_ERROR_WHEN: { readonly [K in AttemptErrorKind]: string } = {
  http_status: 'the listener answered a status other than 2xx or 3xx (`statusCode` says which)',
  redirect: 'the listener answered 3xx; redirects are never followed',
  timeout: 'no complete answer within the attempt timeout (connecting, headers, or a body still arriving)',
  connection_refused: NO_CONNECTION,
  connection_reset: NO_CONNECTION,
  dns: NO_CONNECTION,
  tls: 'the TLS handshake failed (e.g. an `https://` URL on a plain-HTTP listener, a bad certificate)',
  unreachable: NO_CONNECTION,
  too_large: 'the response headers were larger than the client reads (16 KiB)',
  url_guard: "the listener's address is refused by the URL guard",
  invalid_url: NOT_SENT,
  network: NO_CONNECTION,
  internal: NOT_SENT,
};

/** One row per text, naming every kind it covers (in the order of ATTEMPT_ERROR_KINDS). */
export function attemptErrorsTable(): string {
  const kinds = new Map<string, AttemptErrorKind[]>();
  for (const kind of ATTEMPT_ERROR_KINDS) {
    const when = ATTEMPT_ERROR_WHEN[kind];
    kinds.set(when, [...(kinds.get(when) ?? []), kind]);
  }
  return table(
    ['kind', 'when'],
    [...kinds].map(([when, named]) => [named.map(code).join(', '), when]),
  );
}
