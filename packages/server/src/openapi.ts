import { ErrorCodes } from './api/errors.js';
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

The admin routes take \`Authorization: Bearer <admin token>\` (\`CCB_ADMIN_TOKEN\`) instead.

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
  { name: 'Dashboard', description: 'What the dashboard page (/ui) reads before signing in.' },
  { name: 'Operations', description: 'Liveness, readiness and Prometheus metrics.' },
];

const ACCOUNT = DEV_CREDENTIALS.accountName;
const MESSAGE_ID = 'msg_01a21478d1c222deb8f583d448698944';
const PAYLOAD = {
  requestId: '595f5c44-c31c-4552-8670-020a1545a84d',
  deviceIds: [{ id: '89148000000800139708', kind: 'iccid' }],
  status: 'Success',
};
const CALLBACK = { name: 'CarrierService', url: 'http://127.0.0.1:9001/', username: 'acme', password: 's3cret' };
const ACTION_RESULT = { accountName: ACCOUNT, serviceName: 'CarrierService' };
const MESSAGE = {
  id: MESSAGE_ID,
  accountName: ACCOUNT,
  serviceName: 'CarrierService',
  status: 'delivered',
  attempts: 1,
  maxAttempts: 4,
  nextAttemptAt: null,
  reason: null,
  idempotencyKey: 'order-4711',
  createdAt: '2026-12-01T09:30:05.120Z',
  updatedAt: '2026-12-01T09:30:05.131Z',
  deliveredAt: '2026-12-01T09:30:05.131Z',
  payload: PAYLOAD,
};
const REPLAY_JOB = {
  jobId: 'rpl_01a2b3c4d5e6f708',
  status: 'done',
  matched: 12,
  replayed: 12,
  startedAt: '2026-12-01T09:40:00.000Z',
  finishedAt: '2026-12-01T09:40:00.210Z',
  error: null,
};
const SECRET = { secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' };

/** An error of the token route: our envelope plus the RFC 6749 fields. */
function oauthError(errorCode: string, error: string, message: string) {
  return { errorCode, errorMessage: message, error, error_description: message };
}

/** What each operation adds to its schema: id, tag, and example bodies (request, and answers by status). */
interface OperationDoc {
  operationId: string;
  tag: string;
  request?: unknown;
  responses: Record<number, unknown>;
}

const OPERATIONS: Record<string, OperationDoc> = {
  'GET /healthz': { operationId: 'getHealth', tag: 'Operations', responses: { 200: { status: 'ok' } } },
  'GET /readyz': {
    operationId: 'getReadiness',
    tag: 'Operations',
    responses: {
      200: { status: 'ready' },
      503: { errorCode: ErrorCodes.unavailable, errorMessage: 'the store does not answer' },
    },
  },
  'GET /metrics': {
    operationId: 'getMetrics',
    tag: 'Operations',
    responses: { 200: '# TYPE ccb_queue_depth gauge\nccb_queue_depth 0\n' },
  },
  'POST /api/ts/v1/oauth2/token': {
    operationId: 'getAccessToken',
    tag: 'OAuth',
    request: { grant_type: 'client_credentials' },
    responses: {
      200: { access_token: 'H5p0n7c0Rk2vQ1xJ9aLmZ8uY', token_type: 'bearer', expires_in: 3600, scope: 'm2m' },
      400: oauthError(ErrorCodes.grantType, 'unsupported_grant_type', 'grant_type must be client_credentials'),
      401: oauthError(ErrorCodes.clientCredentials, 'invalid_client', 'the client id or secret is wrong'),
      413: oauthError(ErrorCodes.requestTooLarge, 'invalid_request', 'the body is larger than 1048576 bytes'),
      415: oauthError(ErrorCodes.contentType, 'invalid_request', 'the body must be application/x-www-form-urlencoded'),
    },
  },
  'POST /api/m2m/v1/session/login': {
    operationId: 'logIn',
    tag: 'Session',
    request: { username: DEV_CREDENTIALS.username, password: DEV_CREDENTIALS.password },
    responses: { 200: { sessionToken: 'c3a1f0e2-9b7d-4e55-8f3a-2d6c1b0a9e87', expiresIn: 1200 } },
  },
  'POST /api/m2m/v1/session/logout': {
    operationId: 'logOut',
    tag: 'Session',
    responses: { 200: { sessionToken: 'c3a1f0e2-9b7d-4e55-8f3a-2d6c1b0a9e87' } },
  },
  'GET /api/m2m/v1/callbacks/{aname}': {
    operationId: 'listRegisteredCallbacks',
    tag: 'Callbacks',
    responses: {
      200: [
        {
          accountName: ACCOUNT,
          serviceName: 'CarrierService',
          url: CALLBACK.url,
          username: 'acme',
          password: 's3cret',
        },
      ],
    },
  },
  'POST /api/m2m/v1/callbacks/{aname}': {
    operationId: 'registerCallback',
    tag: 'Callbacks',
    request: CALLBACK,
    responses: {
      200: ACTION_RESULT,
      400: { errorCode: ErrorCodes.url, errorMessage: 'url: port 8443 is not an allowed listener port' },
    },
  },
  'DELETE /api/m2m/v1/callbacks/{aname}/name/{sname}': {
    operationId: 'deregisterCallback',
    tag: 'Callbacks',
    responses: {
      200: ACTION_RESULT,
      400: { errorCode: ErrorCodes.callbackNotFound, errorMessage: 'CarrierService is not registered' },
    },
  },
  'POST /admin/v1/clients': {
    operationId: 'createClient',
    tag: 'Clients',
    request: { name: 'integration team' },
    responses: { 201: { clientId: 'client-4f2a9c1e', clientSecret: 'Qm9yZWFsLXNlY3JldC1zaG93bi1vbmNl' } },
  },
  'GET /admin/v1/clients': {
    operationId: 'listClients',
    tag: 'Clients',
    responses: {
      200: {
        items: [
          {
            clientId: DEV_CREDENTIALS.clientId,
            name: 'Demo client (dev profile)',
            createdAt: '2026-12-01T09:00:00.000Z',
          },
        ],
      },
    },
  },
  'POST /admin/v1/clients/{clientId}/secret/rotate': {
    operationId: 'rotateClientSecret',
    tag: 'Clients',
    responses: { 200: { clientId: 'client-4f2a9c1e', clientSecret: 'TmV3LXNlY3JldC1zaG93bi1vbmNlLW9ubHk' } },
  },
  'DELETE /admin/v1/clients/{clientId}': {
    operationId: 'deleteClient',
    tag: 'Clients',
    responses: { 200: { clientId: 'client-4f2a9c1e' } },
  },
  'GET /admin/v1/users': {
    operationId: 'listUsers',
    tag: 'Users',
    responses: {
      200: {
        items: [
          {
            username: DEV_CREDENTIALS.username,
            accounts: [ACCOUNT],
            lockedUntil: null,
            createdAt: '2026-12-01T09:00:00.000Z',
          },
        ],
      },
    },
  },
  'PATCH /admin/v1/users/{username}': {
    operationId: 'updateUser',
    tag: 'Users',
    request: { accounts: [ACCOUNT, '0000123456-00002'] },
    responses: { 200: { username: 'ops', accounts: [ACCOUNT, '0000123456-00002'] } },
  },
  'DELETE /admin/v1/users/{username}': {
    operationId: 'deleteUser',
    tag: 'Users',
    responses: { 200: { username: 'ops' } },
  },
  'POST /admin/v1/users': {
    operationId: 'putUser',
    tag: 'Users',
    request: { username: 'ops', password: 'a long passphrase', accounts: [ACCOUNT] },
    responses: { 200: { username: 'ops', accounts: [ACCOUNT] }, 201: { username: 'ops', accounts: [ACCOUNT] } },
  },
  'POST /admin/v1/messages': {
    operationId: 'publishMessage',
    tag: 'Messages',
    request: { accountName: ACCOUNT, serviceName: 'CarrierService', payload: PAYLOAD },
    responses: { 202: { messageId: MESSAGE_ID, status: 'pending' } },
  },
  'GET /admin/v1/messages': {
    operationId: 'listMessages',
    tag: 'Messages',
    responses: { 200: { items: [MESSAGE], nextCursor: null } },
  },
  'POST /admin/v1/messages/batch': {
    operationId: 'publishMessages',
    tag: 'Messages',
    request: {
      messages: [
        { accountName: ACCOUNT, serviceName: 'DeviceUsage', payload: { requestId: 'r-1' }, idempotencyKey: 'usage-1' },
      ],
    },
    responses: { 202: { messageIds: ['msg_01a2147900000000000000000000002b'], statuses: ['failed'] } },
  },
  'GET /admin/v1/messages/{id}': {
    operationId: 'getMessage',
    tag: 'Messages',
    responses: {
      200: {
        ...MESSAGE,
        deliveryAttempts: [
          {
            attemptNumber: 1,
            startedAt: '2026-12-01T09:30:05.125Z',
            url: CALLBACK.url,
            statusCode: 204,
            latencyMs: 3,
            error: null,
            responseExcerpt: '',
          },
        ],
      },
      404: { errorCode: ErrorCodes.notFound, errorMessage: `message ${MESSAGE_ID} does not exist` },
    },
  },
  'POST /admin/v1/messages/{id}/replay': {
    operationId: 'replayMessage',
    tag: 'Messages',
    responses: {
      202: { messageId: MESSAGE_ID, status: 'pending' },
      409: {
        errorCode: ErrorCodes.messageDelivering,
        errorMessage: `message ${MESSAGE_ID} is being delivered right now; replay it once this attempt has ended`,
      },
    },
  },
  'POST /admin/v1/messages/replay': {
    operationId: 'replayMessages',
    tag: 'Replays',
    request: { filter: { status: 'failed', serviceName: 'DeviceUsage', since: '2026-12-01T00:00:00Z' } },
    responses: { 202: { jobId: REPLAY_JOB.jobId } },
  },
  'GET /admin/v1/replays/{jobId}': { operationId: 'getReplayJob', tag: 'Replays', responses: { 200: REPLAY_JOB } },
  'GET /admin/v1/callbacks/{aname}/{sname}/secret': {
    operationId: 'getSigningSecret',
    tag: 'Signing secrets',
    responses: { 200: SECRET },
  },
  'POST /admin/v1/callbacks/{aname}/{sname}/secret/rotate': {
    operationId: 'rotateSigningSecret',
    tag: 'Signing secrets',
    responses: {
      200: {
        secret: 'whsec_2bX9yQm4Vt7LkPz0Nc3Hr8Jd5Ws1Fa6E',
        previousSecret: SECRET.secret,
        previousSecretExpiresAt: '2026-12-02T09:30:00.000Z',
      },
    },
  },
  'GET /admin/v1/registrations': {
    operationId: 'listAllRegistrations',
    tag: 'Registrations',
    responses: {
      200: {
        items: [
          {
            accountName: ACCOUNT,
            serviceName: 'CarrierService',
            url: CALLBACK.url,
            credentialsSet: true,
            createdAt: '2026-12-01T09:29:50.000Z',
            updatedAt: '2026-12-01T09:29:50.000Z',
          },
        ],
      },
    },
  },
  'PUT /admin/v1/callbacks/{aname}/{sname}': {
    operationId: 'putRegistration',
    tag: 'Registrations',
    request: { url: CALLBACK.url, username: 'listener-user' },
    responses: {
      200: {
        accountName: ACCOUNT,
        serviceName: 'CarrierService',
        url: CALLBACK.url,
        credentialsSet: true,
        createdAt: '2026-12-01T09:29:50.000Z',
        updatedAt: '2026-12-01T09:31:02.000Z',
      },
    },
  },
  'DELETE /admin/v1/callbacks/{aname}/{sname}': {
    operationId: 'removeRegistration',
    tag: 'Registrations',
    responses: {
      200: { accountName: ACCOUNT, serviceName: 'CarrierService' },
      404: {
        errorCode: ErrorCodes.notFound,
        errorMessage: `account ${ACCOUNT} has no registration for CarrierService`,
      },
    },
  },
  'POST /admin/v1/callbacks/{aname}/{sname}/test-message': {
    operationId: 'sendTestMessage',
    tag: 'Messages',
    responses: {
      202: { messageId: MESSAGE.id, status: 'pending' },
      404: {
        errorCode: ErrorCodes.notFound,
        errorMessage: `account ${ACCOUNT} has no registration for CarrierService`,
      },
    },
  },
  'GET /admin/v1/stats/history': {
    operationId: 'getStatsHistory',
    tag: 'Messages',
    responses: {
      200: {
        sampleIntervalMs: 10000,
        points: [
          {
            at: '2026-12-01T09:30:00.000Z',
            counts: { pending: 3, delivering: 1, delivered: 1200, failed: 4, cancelled: 0 },
            queueDepth: 4,
            oldestDueAgeMs: 12,
            intervalMs: 10000,
            attempts: { success: 480, http_5xx: 2 },
            live: false,
          },
          {
            at: '2026-12-01T09:30:06.120Z',
            counts: { pending: 2, delivering: 1, delivered: 1490, failed: 4, cancelled: 0 },
            queueDepth: 3,
            oldestDueAgeMs: 0,
            intervalMs: 6120,
            attempts: { success: 290 },
            live: true,
          },
        ],
      },
    },
  },
  'GET /ui/profile.json': {
    operationId: 'getDashboardProfile',
    tag: 'Dashboard',
    responses: {
      200: {
        version: '0.1.0',
        userAgent: 'ccb/0.1.0',
        services: ['CarrierService', 'DeviceService', 'DeviceUsage'],
        devAdminToken: DEV_CREDENTIALS.adminToken,
      },
    },
  },
  'GET /admin/v1/stats': {
    operationId: 'getStats',
    tag: 'Messages',
    responses: {
      200: {
        counts: { pending: 3, delivering: 1, delivered: 1200, failed: 4, cancelled: 0 },
        queueDepth: 4,
        oldestDueAgeMs: 12,
      },
    },
  },
};

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

/** Generic error bodies for the statuses a route declares without an example of its own. */
const ERROR_EXAMPLES: Record<string, { errorCode: string; errorMessage: string }> = {
  400: { errorCode: ErrorCodes.requestBody, errorMessage: "body must have required property 'name'" },
  401: { errorCode: ErrorCodes.accessTokenInvalid, errorMessage: 'the access token is not valid' },
  403: { errorCode: ErrorCodes.accountForbidden, errorMessage: 'this user may not manage account 0000999999-00001' },
  404: { errorCode: ErrorCodes.notFound, errorMessage: 'not found' },
  409: { errorCode: ErrorCodes.conflict, errorMessage: 'client client-4f2a9c1e already exists' },
  413: { errorCode: ErrorCodes.requestTooLarge, errorMessage: 'the body is larger than 1048576 bytes' },
  415: { errorCode: ErrorCodes.contentType, errorMessage: 'the body must be application/json' },
  422: {
    errorCode: ErrorCodes.idempotencyKey,
    errorMessage: 'Idempotency-Key "order-4711" was already used with a different payload for this account and service',
  },
  429: { errorCode: ErrorCodes.tooManyAttempts, errorMessage: 'too many failed attempts: try again in 30 seconds' },
  503: { errorCode: ErrorCodes.unavailable, errorMessage: 'the store does not answer' },
};

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

type Json = Record<string, unknown>;

/** `DELETE /a/{b}/c` → `deleteABC`: an id for a route that OPERATIONS does not name. */
function derivedOperationId(method: string, path: string): string {
  const words = path.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return method + words.map((w) => w[0].toUpperCase() + w.slice(1)).join('');
}

/** Adds ids, tags, response names and example bodies to the generated document (@fastify/swagger transformObject). */
export function describeOperations(document: Json): Json {
  const paths = (document.paths ?? {}) as Record<string, Record<string, Json>>;
  for (const [path, operations] of Object.entries(paths)) {
    for (const method of METHODS) {
      const operation = operations[method];
      if (!operation) continue;
      const doc = OPERATIONS[`${method.toUpperCase()} ${path}`];
      operation.operationId = doc?.operationId ?? derivedOperationId(method, path);
      if (doc) operation.tags = [doc.tag];
      const requestContent = (operation.requestBody as Json | undefined)?.content as Record<string, Json> | undefined;
      if (requestContent && doc?.request !== undefined) {
        for (const media of Object.values(requestContent)) media.example = doc.request;
      }
      const responses = (operation.responses ?? {}) as Record<string, Json>;
      for (const [status, response] of Object.entries(responses)) {
        if (!response.description || response.description === 'Default Response') {
          response.description = RESPONSE_NAMES[status] ?? `HTTP ${status}`;
        }
        const example = doc?.responses[Number(status)] ?? ERROR_EXAMPLES[status];
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
