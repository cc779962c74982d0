import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ACCOUNT, admin } from './delivery-fixtures.js';
import { adminHeaders, inject, login, startTestServer, type TestServer } from './helpers.js';
import { testDatabaseBackends } from './postgres.js';

const backends = await testDatabaseBackends();
const NUL = '\u0000';
const LONE_HIGH = '\ud800';
const LONE_LOW = '\udfff';
const basic = (credentials: string) => `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;

interface Case {
  name: string;
  method: string;
  path: string;
  /** A JSON body (stringified as JSON.stringify does: NUL and lone surrogates become \u escapes) or raw text. */
  body?: unknown;
  headers?: (server: TestServer, m2m: Record<string, string>) => Record<string, string>;
  /** The error code expected with the 400 (default: the encoding rule's). */
  code?: string;
}

const adminJson = (server: TestServer) => adminHeaders(server);
const message = (payload: Record<string, unknown>) => ({
  accountName: ACCOUNT,
  serviceName: 'CarrierService',
  payload,
});

const CASES: Case[] = [
  {
    name: 'NUL in a payload value',
    method: 'POST',
    path: '/admin/v1/messages',
    body: message({ note: `a${NUL}b` }),
    headers: adminJson,
  },
  {
    name: 'NUL in a payload key',
    method: 'POST',
    path: '/admin/v1/messages',
    body: message({ [`k${NUL}`]: 1 }),
    headers: adminJson,
  },
  {
    name: 'NUL in a batch message deep in the payload',
    method: 'POST',
    path: '/admin/v1/messages/batch',
    body: { messages: [message({ ok: 1 }), message({ list: [{ deep: `x${NUL}` }] })] },
    headers: adminJson,
  },
  {
    name: 'a lone high surrogate in a batch idempotency key',
    method: 'POST',
    path: '/admin/v1/messages/batch',
    body: { messages: [{ ...message({ n: 1 }), idempotencyKey: `key-${LONE_HIGH}` }] },
    headers: adminJson,
  },
  {
    name: 'a lone low surrogate in a payload',
    method: 'POST',
    path: '/admin/v1/messages',
    body: message({ note: `x${LONE_LOW}` }),
    headers: adminJson,
  },
  {
    name: 'NUL in the Basic client id of the token route (no credentials needed)',
    method: 'POST',
    path: '/api/ts/v1/oauth2/token',
    body: 'grant_type=client_credentials',
    headers: () => ({
      authorization: basic(`demo${NUL}client:demo-secret`),
      'content-type': 'application/x-www-form-urlencoded',
    }),
  },
  {
    name: 'NUL in the token route form body',
    method: 'POST',
    path: '/api/ts/v1/oauth2/token',
    body: 'grant_type=client%00credentials',
    headers: () => ({
      authorization: basic('demo-client:demo-secret'),
      'content-type': 'application/x-www-form-urlencoded',
    }),
  },
  {
    name: 'NUL in the login user name',
    method: 'POST',
    path: '/api/m2m/v1/session/login',
    body: { username: `demo${NUL}`, password: 'demo-password' },
    headers: (_server, m2m) => ({ authorization: m2m.authorization, 'content-type': 'application/json' }),
  },
  {
    name: 'NUL in a registration URL',
    method: 'POST',
    path: `/api/m2m/v1/callbacks/${ACCOUNT}`,
    body: { name: 'CarrierService', url: `https://listener.example/${NUL}` },
    headers: (_server, m2m) => m2m,
  },
  {
    name: 'NUL in the service of a deregistration',
    method: 'DELETE',
    path: `/api/m2m/v1/callbacks/${ACCOUNT}/name/Carrier%00Service`,
    headers: (_server, m2m) => ({ authorization: m2m.authorization, 'vz-m2m-token': m2m['vz-m2m-token'] }),
  },
  {
    name: 'NUL in a message id',
    method: 'GET',
    path: '/admin/v1/messages/abc%00def',
    headers: (s) => ({ authorization: adminJson(s).authorization }),
  },
  {
    name: 'NUL in a list cursor',
    method: 'GET',
    path: '/admin/v1/messages?cursor=a%00b',
    headers: (s) => ({ authorization: adminJson(s).authorization }),
  },
  {
    name: 'NUL in a replayed message id',
    method: 'POST',
    path: '/admin/v1/messages/x%00y/replay',
    headers: (s) => ({ authorization: adminJson(s).authorization }),
  },
  {
    name: 'NUL in a new user name',
    method: 'POST',
    path: '/admin/v1/users',
    body: { username: `u${NUL}`, password: 'a-long-password-1', accounts: [ACCOUNT] },
    headers: adminJson,
  },
  {
    name: 'NUL in a new client name',
    method: 'POST',
    path: '/admin/v1/clients',
    body: { name: `c${NUL}` },
    headers: adminJson,
  },
  {
    name: 'a bulk replay since beyond the databases\u2019 integers (number)',
    method: 'POST',
    path: '/admin/v1/messages/replay',
    body: '{"filter":{"status":"failed","since":10000000000000000000}}',
    headers: adminJson,
    code: 'INPUT_INVALID.Request.Body',
  },
  {
    name: 'a bulk replay since beyond the databases\u2019 integers (digits as text)',
    method: 'POST',
    path: '/admin/v1/messages/replay',
    body: { filter: { status: 'failed', since: '99999999999999999999' } },
    headers: adminJson,
    code: 'INPUT_INVALID.Request.Body',
  },
];

for (const backend of backends) {
  describe(`request text refused alike on every route (${backend.name})`, { skip: backend.skip }, () => {
    let server: TestServer;
    let database = { url: '', drop: async () => {} };
    let m2m: Record<string, string> = {};
    before(async () => {
      if (backend.skip !== false) return;
      database = await backend.create();
      server = await startTestServer({
        env: { DATABASE_URL: database.url, CCB_ENCRYPTION_KEY: randomBytes(32).toString('hex') },
        flags: { role: 'api' },
      });
      m2m = (await login(server)).headers;
    });
    after(async () => {
      await server?.close();
      await database.drop();
    });

    const stored = async () => {
      const stats = await admin<{ counts: Record<string, number> }>(server, 'GET', '/stats');
      const users = await admin<unknown[]>(server, 'GET', '/users');
      const clients = await admin<unknown[]>(server, 'GET', '/clients');
      return { messages: stats.body.counts, users: users.body, clients: clients.body };
    };

    for (const c of CASES) {
      it(`answers 400 in the envelope and stores nothing: ${c.name}`, async () => {
        const before = await stored();
        const response = await inject<{ errorCode: string; errorMessage: string }>(server, c.path, {
          method: c.method,
          headers: c.headers?.(server, m2m),
          body: c.body === undefined ? undefined : typeof c.body === 'string' ? c.body : JSON.stringify(c.body),
        });
        assert.equal(response.status, 400, response.text);
        assert.equal(response.body.errorCode, c.code ?? 'INPUT_INVALID.Request.Encoding', response.text);
        assert.ok(response.body.errorMessage.length > 0);
        assert.deepEqual(await stored(), before);
      });
    }

    it('keeps idempotency keys that differ only in a surrogate pair apart, and refuses the lone ones', async () => {
      const batch = async (keys: string[]) =>
        inject<{ messageIds: string[]; errorCode: string }>(server, '/admin/v1/messages/batch', {
          method: 'POST',
          headers: adminJson(server),
          body: JSON.stringify({
            messages: keys.map((idempotencyKey) => ({ ...message({ k: idempotencyKey }), idempotencyKey })),
          }),
        });
      // Well-formed pairs (two emoji) are two keys; each lone half is refused before anything is stored.
      const pairs = await batch(['k-\ud83d\ude00', 'k-\ud83d\ude01']);
      assert.equal(pairs.status, 202, pairs.text);
      assert.equal(new Set(pairs.body.messageIds).size, 2);
      for (const lone of [['k-\ud83d'], ['k-\ude00'], ['k-\ud83d', 'k-\ud83e']]) {
        const refused = await batch(lone);
        assert.equal(refused.status, 400, refused.text);
        assert.equal(refused.body.errorCode, 'INPUT_INVALID.Request.Encoding');
      }
      const again = await batch(['k-\ud83d\ude00']);
      assert.deepEqual(again.body.messageIds, [pairs.body.messageIds[0]], 'the same key is the same message');
    });

    it('takes the largest date as since', async () => {
      const response = await admin(server, 'POST', '/messages/replay', {
        filter: { status: 'failed', since: 8_640_000_000_000_000 },
      });
      assert.equal(response.status, 202, JSON.stringify(response.body));
    });
  });
}
