import { describeBytes, ErrorCodes, errorBody, errorStatus } from './api/errors.js';
import { DEV_CREDENTIALS } from './dev.js';

/**
 * What the API reference (/docs, /openapi.json) says beyond the route schemas: how to authenticate,
 * one tag per resource, an operation id per route, and example bodies built on the dev profile's
 * seed, so that "Try it out" against `npm start` works as shown.
 */

export const API_TITLE = 'Connectivity Callbacks';

export const API_DESCRIPTION = `Register callback listeners (ThingSpace-compatible, under \`/api\`), publish and inspect
callback messages (admin API, under \`/admin/v1\`), and watch the service (\`/healthz\`, \`/readyz\`, \`/metrics\`).

## How to authenticate

The callback routes need two credentials, obtained in two calls:

1. **Access token**: \`POST /api/ts/v1/oauth2/token\` with the OAuth client's id and secret as HTTP Basic
   credentials and the form body \`grant_type=client_credentials\`. The answer's \`access_token\` lives one hour.
2. **Session token**: \`POST /api/m2m/v1/session/login\` with \`Authorization: Bearer <access_token>\` and
   \`{"username", "password"}\`. The answer's \`sessionToken\` lives 20 idle minutes.
3. **Call**: every callback route takes both, \`Authorization: Bearer <access_token>\` and
   \`VZ-M2M-Token: <sessionToken>\`.

The admin routes take \`Authorization: Bearer <admin token>\` (\`CCB_ADMIN_TOKEN\`, the root key) or a scoped API key
(\`ccbk_…\`, from \`POST /admin/v1/keys\`) instead; each admin operation names the scope it needs (\`x-ccb-scope\`).

With \`npm start\` (the dev profile), the OAuth client is \`${DEV_CREDENTIALS.clientId}\` / \`${DEV_CREDENTIALS.clientSecret}\`,
the user \`${DEV_CREDENTIALS.username}\` / \`${DEV_CREDENTIALS.password}\` (account \`${DEV_CREDENTIALS.accountName}\`) and the
admin token \`${DEV_CREDENTIALS.adminToken}\`. Here: **Authorize** → *basicAuth* with the client, call the token route,
then *bearerAuth* with its \`access_token\`; log in, then *sessionToken* with the \`sessionToken\`.

Errors are \`{"errorCode", "errorMessage"}\`; match on \`errorCode\`.`;

export const API_TAGS = [
  { name: 'OAuth', description: 'Access tokens (client credentials): the first step of every callback call.' },
  { name: 'Session', description: 'Session tokens (VZ-M2M-Token): the second step.' },
  { name: 'Callbacks', description: 'Listener URLs registered per account and callback service.' },
  { name: 'Clients', description: 'OAuth clients that may call the callback routes (admin).' },
  { name: 'Users', description: 'Users and the accounts each may manage (admin).' },
  { name: 'Registrations', description: "Every account's registrations, without their secrets (admin)." },
  { name: 'Messages', description: 'Publishing, listing, inspecting and replaying callback messages (admin).' },
  { name: 'Replays', description: 'Bulk replay jobs (admin).' },
  { name: 'Signing secrets', description: "Each registration's Standard Webhooks secret (admin)." },
  {
    name: 'Delivery controls',
    description:
      "Each registration's ordering, rate limit, auto-disable and health; operator events (admin, docs/delivery-controls.md).",
  },
  { name: 'Keys', description: 'Scoped API keys of the admin API (admin).' },
  { name: 'Audit', description: 'Who changed what, when and from where (admin).' },
  { name: 'Portal', description: "One account's portal: links, sessions and the account's own data (docs/portal.md)." },
  { name: 'Dashboard', description: 'What the dashboard page (/ui) reads before signing in.' },
  { name: 'Operations', description: 'Liveness, readiness and Prometheus metrics.' },
];

/** Example bodies of one operation, declared on its route's schema as `'x-examples'`: request, and answers by status. */
export interface OperationExamples {
  request?: unknown;
  responses?: Record<number, unknown>;
}

declare module 'fastify' {
  interface FastifySchema {
    /** Shown as the examples of the operation in /openapi.json, then removed from it (see describeOperations). */
    'x-examples'?: OperationExamples;
    /** The scope an admin route needs (set from its config by api/access-hooks.ts). */
    'x-ccb-scope'?: string;
  }
}

/** Names of the answers, by status, where a route's schema gives none. */
const RESPONSE_NAMES: Record<string, string> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted: stored, delivered in the background',
  204: 'No content',
  400: 'Invalid input or request',
  401: 'Missing or invalid credentials',
  403: 'Not allowed for this account',
  404: 'Not found',
  409: 'Conflict with the current state',
  413: 'Body too large (over 1 MiB)',
  415: 'Body is not application/json',
  422: 'Conflicts with an earlier request',
  429: 'Too many attempts: wait as Retry-After says',
  503: 'Not ready: the store does not answer',
};

/**
 * Generic error bodies for the statuses a route declares without an example of its own, keyed by the
 * status each code is answered with (ERRORS).
 */
const ERROR_EXAMPLES: Record<string, { errorCode: string; errorMessage: string }> = Object.fromEntries(
  [
    errorBody(ErrorCodes.requestBody, "body must have required property 'name'"),
    errorBody(ErrorCodes.accessTokenInvalid, 'the access token is not valid'),
    errorBody(ErrorCodes.forbidden, 'the key billing does not have the admin scope'),
    errorBody(ErrorCodes.notFound, 'not found'),
    errorBody(ErrorCodes.conflict, 'client client-4f2a9c1e already exists'),
    errorBody(ErrorCodes.requestTooLarge, `the body is larger than ${describeBytes(1024 * 1024)}`),
    errorBody(ErrorCodes.contentType, 'the body must be application/json'),
    errorBody(
      ErrorCodes.idempotencyKey,
      'Idempotency-Key "order-4711" was already used with a different payload for this account and service',
    ),
    errorBody(ErrorCodes.tooManyAttempts, 'too many failed attempts: try again in 30 seconds'),
    errorBody(ErrorCodes.unavailable, 'the store does not answer'),
  ].map((body) => [String(errorStatus(body.errorCode)), body]),
);

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

type Json = Record<string, unknown>;

/** `DELETE /a/{b}/c` → `deleteABC`: an id for a route that declares none. */
function derivedOperationId(method: string, path: string): string {
  const words = path.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return method + words.map((w) => w[0].toUpperCase() + w.slice(1)).join('');
}

/**
 * Completes the generated document (@fastify/swagger transformObject) from what each route declares on
 * its schema: an operation id where a route has none, response names, and the route's `x-examples`
 * (falling back to a generic error body per status); then the tag list.
 */
export function describeOperations(document: Json): Json {
  const paths = (document.paths ?? {}) as Record<string, Record<string, Json>>;
  for (const [path, operations] of Object.entries(paths)) {
    for (const method of METHODS) {
      const operation = operations[method];
      if (!operation) continue;
      const doc = (operation['x-examples'] ?? {}) as OperationExamples;
      delete operation['x-examples'];
      operation.operationId ??= derivedOperationId(method, path);
      const requestContent = (operation.requestBody as Json | undefined)?.content as Record<string, Json> | undefined;
      if (requestContent && doc.request !== undefined) {
        for (const media of Object.values(requestContent)) media.example = doc.request;
      }
      const responses = (operation.responses ?? {}) as Record<string, Json>;
      for (const [status, response] of Object.entries(responses)) {
        if (!response.description || response.description === 'Default Response') {
          response.description = RESPONSE_NAMES[status] ?? `HTTP ${status}`;
        }
        const example = doc.responses?.[Number(status)] ?? ERROR_EXAMPLES[status];
        if (example === undefined) continue;
        const content = (response.content ?? {}) as Record<string, Json>;
        const media = Object.keys(content).length > 0 ? Object.values(content) : [];
        if (media.length === 0) {
          response.content =
            typeof example === 'string' ? { 'text/plain': { example } } : { 'application/json': { example } };
        } else for (const entry of media) entry.example = example;
      }
    }
  }
  document.tags = API_TAGS;
  return document;
}
