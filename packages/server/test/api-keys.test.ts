import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SCOPES, type Scope } from '../src/access/principal.js';
import { hashToken } from '../src/security/tokens.js';
import {
  adminHeaders,
  DEV_CREDENTIALS,
  eventually,
  inject,
  send,
  startTestServer,
  type TestServer,
} from './helpers.js';
import { postgresForTests } from './postgres.js';
import { twoProcessesOnOneDatabase } from './server-process.js';

const ACCOUNT = DEV_CREDENTIALS.accountName;
const OTHER = '0000999999-00001';
const pg = await postgresForTests();

// biome-ignore lint/suspicious/noExplicitAny: answers are read without declaring each shape
type Json = Record<string, any>;

async function createKey(server: TestServer, body: Json): Promise<Json> {
  const created = await inject(server, '/admin/v1/keys', { method: 'POST', headers: adminHeaders(server), body });
  assert.equal(created.status, 201, created.text);
  return created.body;
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}`, 'content-type': 'application/json' });

/** Every admin operation of the server, from its OpenAPI document (made from the routes themselves). */
async function adminOperations(server: TestServer) {
  const document = (await inject<Json>(server, '/openapi.json')).body;
  const operations: Array<{ method: string; path: string; scope: Scope; id: string }> = [];
  for (const [path, item] of Object.entries<Json>(document.paths)) {
    if (!path.startsWith('/admin/v1/')) continue;
    for (const [method, operation] of Object.entries<Json>(item)) {
      operations.push({
        method: method.toUpperCase(),
        path,
        scope: operation['x-ccb-scope'],
        id: operation.operationId,
      });
    }
  }
  return operations;
}

/** A concrete URL for an OpenAPI path: parameters filled with names that exist nowhere (nothing is changed). */
function concrete(path: string): string {
  const values: Record<string, string> = {
    aname: ACCOUNT,
    sname: 'CarrierService',
    id: 'msg_000000000000nothing000000',
    clientId: 'no-such-client',
    username: 'no-such-user',
    keyId: 'key_nothing',
    jobId: 'rpl_nothing',
  };
  return path.replace(/\{(\w+)\}/g, (_, name: string) => values[name] ?? 'x');
}

describe('scoped API keys', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  it('shows a key once, stores only its hash, lists keys without it and revokes it at once', async () => {
    const created = await createKey(server, { name: 'publisher', scopes: ['messages:publish'] });
    assert.match(created.key, /^ccbk_[A-Za-z0-9_-]{43}$/);
    assert.deepEqual([created.scopes, created.accounts, created.revokedAt], [['messages:publish'], null, null]);
    const stored = await server.ctx.store.access.getKeyByHash(hashToken(created.key));
    assert.equal(stored?.id, created.id);
    const rows = JSON.stringify(await server.ctx.store.access.listKeys());
    assert.ok(!rows.includes(created.key), 'the store does not hold the key itself');

    const listed = await inject(server, '/admin/v1/keys', { headers: adminHeaders(server) });
    assert.equal(listed.status, 200);
    assert.ok(!listed.text.includes(created.key), 'the list does not show the key');
    assert.ok(listed.body.items.some((item: Json) => item.id === created.id && item.key === undefined));

    const publish = () =>
      inject(server, '/admin/v1/messages', {
        method: 'POST',
        headers: bearer(created.key),
        body: { accountName: ACCOUNT, serviceName: 'CarrierService', payload: { n: 1 } },
      });
    assert.equal((await publish()).status, 202);
    const revoked = await inject(server, `/admin/v1/keys/${created.id}`, {
      method: 'DELETE',
      headers: adminHeaders(server),
    });
    assert.equal(revoked.status, 200);
    assert.ok(revoked.body.revokedAt);
    const refused = await publish();
    assert.equal(refused.status, 401);
    assert.equal(refused.body.errorCode, 'REQUEST_FAILED.Unauthorized');
  });

  it('refuses an expired key, an unknown key, and bad key requests (changing nothing)', async () => {
    const before = (await server.ctx.store.access.listKeys()).length;
    for (const body of [
      { name: 'x', scopes: [] },
      { name: 'x', scopes: ['everything'] },
      { name: 'x', scopes: ['admin'], accounts: [ACCOUNT] },
      { name: 'x', scopes: ['messages:read'], expiresAt: '2000-01-01T00:00:00Z' },
      { name: 'x', scopes: ['messages:read'], accounts: ['not an account'] },
      { name: 'x', scopes: ['messages:read'], extra: true },
    ]) {
      const answer = await inject(server, '/admin/v1/keys', { method: 'POST', headers: adminHeaders(server), body });
      assert.equal(answer.status, 400, `${JSON.stringify(body)}: ${answer.text}`);
    }
    assert.equal((await server.ctx.store.access.listKeys()).length, before);

    const expiring = await createKey(server, {
      name: 'expiring',
      scopes: ['messages:read'],
      expiresAt: new Date(Date.now() + 1_000).toISOString(),
    });
    const list = () => inject(server, '/admin/v1/messages', { headers: bearer(expiring.key) });
    assert.equal((await list()).status, 200);
    // Refused from its expiry on, without anything else happening (no cache to age out).
    await eventually(async () => (await list()).status === 401, {
      timeout: 5_000,
      what: 'the key is refused once expired',
    });
    assert.ok(Date.now() >= Date.parse(expiring.expiresAt));
    assert.equal((await inject(server, '/admin/v1/messages', { headers: bearer('ccbk_unknown') })).status, 401);
  });

  it('lets each scope call exactly the admin routes that declare it (every admin route, from the server)', async () => {
    const operations = await adminOperations(server);
    assert.ok(operations.length >= 25, `${operations.length} admin operations`);
    for (const operation of operations) {
      assert.ok(SCOPES.includes(operation.scope), `${operation.method} ${operation.path} declares a scope`);
    }
    const keys = new Map<Scope, string>();
    for (const scope of SCOPES)
      keys.set(scope, (await createKey(server, { name: `only ${scope}`, scopes: [scope] })).key);
    for (const operation of operations) {
      const url = concrete(operation.path);
      const body = ['POST', 'PATCH', 'PUT'].includes(operation.method) ? {} : undefined;
      for (const scope of SCOPES) {
        const answer = await inject(server, url, { method: operation.method, headers: bearer(keys.get(scope)!), body });
        const what = `${operation.method} ${operation.path} (${operation.scope}) with a ${scope} key: ${answer.text}`;
        if (scope === operation.scope) {
          assert.ok(answer.status !== 401 && answer.status !== 403, what);
        } else {
          assert.equal(answer.status, 403, what);
          assert.equal(answer.body.errorCode, 'REQUEST_FAILED.Forbidden', what);
        }
      }
      const root = await inject(server, url, { method: operation.method, headers: adminHeaders(server), body });
      assert.ok(root.status !== 401 && root.status !== 403, `the root key may call ${operation.path}: ${root.text}`);
    }
  });

  it('shows each admin route’s scope in OpenAPI with the bearer security scheme', async () => {
    const document = (await inject<Json>(server, '/openapi.json')).body;
    const keys = document.paths['/admin/v1/keys'].post;
    assert.equal(keys['x-ccb-scope'], 'admin');
    assert.deepEqual(keys.security, [{ adminToken: [] }]);
    assert.equal(document.paths['/admin/v1/messages'].post['x-ccb-scope'], 'messages:publish');
    assert.equal(document.paths['/admin/v1/callbacks/{aname}/{sname}/secret'].get['x-ccb-scope'], 'secrets:read');
  });

  it('limits a key to its accounts: it sees and changes only theirs, lists filter to them', async () => {
    const headers = adminHeaders(server);
    const published: Record<string, string> = {};
    for (const account of [ACCOUNT, OTHER]) {
      const answer = await inject(server, '/admin/v1/messages', {
        method: 'POST',
        headers,
        body: { accountName: account, serviceName: 'DeviceUsage', payload: { account } },
      });
      published[account] = answer.body.messageId;
    }
    const limited = await createKey(server, {
      name: 'one account',
      scopes: ['messages:publish', 'messages:read', 'messages:replay', 'registrations:read', 'secrets:read'],
      accounts: [ACCOUNT],
    });
    const as = bearer(limited.key);
    const list = await inject(server, '/admin/v1/messages?limit=1000', { headers: as });
    assert.equal(list.status, 200);
    assert.ok(list.body.items.length > 0);
    assert.ok(list.body.items.every((item: Json) => item.accountName === ACCOUNT));
    assert.equal((await inject(server, `/admin/v1/messages?accountName=${OTHER}`, { headers: as })).status, 403);
    assert.equal((await inject(server, `/admin/v1/messages/${published[OTHER]}`, { headers: as })).status, 404);
    assert.equal((await inject(server, `/admin/v1/messages/${published[ACCOUNT]}`, { headers: as })).status, 200);
    const otherBefore = await server.ctx.messages.get(published[OTHER]);
    const replay = await inject(server, `/admin/v1/messages/${published[OTHER]}/replay`, {
      method: 'POST',
      headers: as,
    });
    assert.equal(replay.status, 404);
    assert.deepEqual(await server.ctx.messages.get(published[OTHER]), otherBefore, 'nothing changed');
    const publishOther = await inject(server, '/admin/v1/messages', {
      method: 'POST',
      headers: as,
      body: { accountName: OTHER, serviceName: 'DeviceUsage', payload: {} },
    });
    assert.equal(publishOther.status, 403);
    assert.equal(publishOther.body.errorCode, 'REQUEST_FAILED.AccountForbidden');
    const batch = await inject(server, '/admin/v1/messages/batch', {
      method: 'POST',
      headers: as,
      body: {
        messages: [
          { accountName: ACCOUNT, serviceName: 'DeviceUsage', payload: {} },
          { accountName: OTHER, serviceName: 'DeviceUsage', payload: {} },
        ],
      },
    });
    assert.equal(batch.status, 403);
    const secret = await inject(server, `/admin/v1/callbacks/${OTHER}/CarrierService/secret`, { headers: as });
    assert.equal(secret.status, 403);
    assert.equal((await inject(server, '/admin/v1/stats', { headers: as })).status, 403);
    const bulk = await inject(server, '/admin/v1/messages/replay', {
      method: 'POST',
      headers: as,
      body: { filter: { accountName: OTHER } },
    });
    assert.equal(bulk.status, 403);
    const registrations = await inject(server, '/admin/v1/registrations', { headers: as });
    assert.equal(registrations.status, 200);
    assert.ok(registrations.body.items.every((item: Json) => item.accountName === ACCOUNT));
  });
});

describe('API keys on two processes sharing one PostgreSQL', { skip: pg.skip }, () => {
  const servers = twoProcessesOnOneDatabase(pg);

  it('refuses a revoked key at once on the other process', async () => {
    const [a, b] = servers;
    const root = { authorization: `Bearer ${DEV_CREDENTIALS.adminToken}`, 'content-type': 'application/json' };
    const created = await send(`${a.baseUrl}/admin/v1/keys`, {
      method: 'POST',
      headers: root,
      body: { name: 'shared', scopes: ['messages:read'] },
    });
    assert.equal(created.status, 201, created.text);
    const list = () => send(`${b.baseUrl}/admin/v1/messages`, { headers: bearer(created.body.key) });
    assert.equal((await list()).status, 200, 'the other process takes the key');
    const revoked = await send(`${a.baseUrl}/admin/v1/keys/${created.body.id}`, { method: 'DELETE', headers: root });
    assert.equal(revoked.status, 200);
    const after = await list();
    assert.equal(after.status, 401, 'the next request to the other process is refused');
  });
});
