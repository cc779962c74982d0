import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  accessToken,
  adminHeaders,
  DEV_CREDENTIALS,
  inject,
  login,
  startTestServer,
  type TestServer,
} from './helpers.js';

const ACCOUNT = DEV_CREDENTIALS.accountName;

describe('admin API: managing OAuth clients and users', () => {
  let server: TestServer;
  const adminCall = (method: string, path: string, body?: unknown) =>
    inject(server, `/admin/v1${path}`, {
      method,
      headers: body === undefined ? { authorization: adminHeaders(server).authorization } : adminHeaders(server),
      body,
    });
  const tokenStatus = async (clientId: string, clientSecret: string) =>
    (
      await inject(server, `/api/ts/v1/oauth2/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: 'grant_type=client_credentials',
      })
    ).status;

  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  it('lists clients without their secrets', async () => {
    const created = await adminCall('POST', '/clients', { name: 'billing', clientId: 'billing-app' });
    assert.equal(created.status, 201);
    const listed = await adminCall('GET', '/clients');
    assert.equal(listed.status, 200);
    const billing = listed.body.items.find((c: { clientId: string }) => c.clientId === 'billing-app');
    assert.deepEqual(Object.keys(billing).sort(), ['clientId', 'createdAt', 'name']);
    assert.equal(billing.name, 'billing');
    assert.ok(listed.body.items.some((c: { clientId: string }) => c.clientId === DEV_CREDENTIALS.clientId));
    assert.ok(!listed.text.includes(created.body.clientSecret), 'the secret is not listed');
  });

  it('rotates a client secret: the old secret and its access tokens stop working at once', async () => {
    const { clientSecret: oldSecret } = (await adminCall('POST', '/clients', { name: 'rotating', clientId: 'rot-app' }))
      .body;
    const oldToken = await accessToken(server, 'rot-app', oldSecret);
    const rotated = await adminCall('POST', '/clients/rot-app/secret/rotate');
    assert.equal(rotated.status, 200, rotated.text);
    assert.equal(rotated.body.clientId, 'rot-app');
    assert.notEqual(rotated.body.clientSecret, oldSecret);
    assert.equal(await tokenStatus('rot-app', oldSecret), 401);
    assert.equal(await tokenStatus('rot-app', rotated.body.clientSecret), 200);
    const withOldToken = await inject(server, `/api/m2m/v1/session/login`, {
      method: 'POST',
      headers: { authorization: `Bearer ${oldToken}`, 'content-type': 'application/json' },
      body: { username: DEV_CREDENTIALS.username, password: DEV_CREDENTIALS.password },
    });
    assert.equal(withOldToken.status, 401);
    assert.equal((await adminCall('POST', '/clients/nobody/secret/rotate')).status, 404);
  });

  it('deletes a client with its tokens and the sessions opened through it', async () => {
    const { clientSecret } = (await adminCall('POST', '/clients', { name: 'leaving', clientId: 'leaving-app' })).body;
    const bearer = await accessToken(server, 'leaving-app', clientSecret);
    const loggedIn = await inject(server, `/api/m2m/v1/session/login`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: { username: DEV_CREDENTIALS.username, password: DEV_CREDENTIALS.password },
    });
    assert.equal(loggedIn.status, 200);
    const deleted = await adminCall('DELETE', '/clients/leaving-app');
    assert.equal(deleted.status, 200);
    assert.deepEqual(deleted.body, { clientId: 'leaving-app' });
    assert.equal(await tokenStatus('leaving-app', clientSecret), 401);
    const listing = await inject(server, `/api/m2m/v1/callbacks/${ACCOUNT}`, {
      headers: { authorization: `Bearer ${bearer}`, 'vz-m2m-token': loggedIn.body.sessionToken },
    });
    assert.equal(listing.status, 401);
    assert.equal(await server.ctx.store.auth.getSession(loggedIn.body.sessionToken), null);
    const again = await adminCall('DELETE', '/clients/leaving-app');
    assert.equal(again.status, 404);
    assert.equal(again.body.errorCode, 'REQUEST_FAILED.ResourceNotFound');
  });

  it('lists users, changes their accounts and password, and deletes them with their sessions', async () => {
    assert.equal(
      (await adminCall('POST', '/users', { username: 'ops', password: 'ops-password', accounts: [ACCOUNT] })).status,
      201,
    );
    const listed = await adminCall('GET', '/users');
    const ops = listed.body.items.find((u: { username: string }) => u.username === 'ops');
    assert.deepEqual(ops.accounts, [ACCOUNT]);
    assert.equal(ops.lockedUntil, null);
    assert.doesNotMatch(listed.text, /ops-password|scrypt/);

    const changed = await adminCall('PATCH', '/users/ops', { accounts: [ACCOUNT, '0000000002-00001'] });
    assert.deepEqual(changed.body, { username: 'ops', accounts: [ACCOUNT, '0000000002-00001'] });
    const repassed = await adminCall('PATCH', '/users/ops', { password: 'new-ops-password' });
    assert.equal(repassed.status, 200);
    await assert.rejects(login(server, 'ops', 'ops-password'));
    const session = await login(server, 'ops', 'new-ops-password');

    const deleted = await adminCall('DELETE', '/users/ops');
    assert.deepEqual(deleted.body, { username: 'ops' });
    const refused = await inject(server, `/api/m2m/v1/callbacks/${ACCOUNT}`, { headers: session.headers });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.errorCode, 'INPUT_INVALID.SessionToken.Invalid');
    assert.equal((await adminCall('DELETE', '/users/ops')).status, 404);
    assert.equal((await adminCall('PATCH', '/users/ops', { accounts: [] })).status, 404);
  });

  it('answers validation errors with codes that name the field, and applies one password policy', async () => {
    const cases: Array<[string, string, unknown, string]> = [
      ['POST', '/clients', {}, 'INPUT_INVALID.ClientName'],
      ['POST', '/clients', { name: '' }, 'INPUT_INVALID.ClientName'],
      ['POST', '/clients', { name: 'x', clientId: 'has space' }, 'INPUT_INVALID.ClientId'],
      ['POST', '/clients', { name: 'x', clientSecret: 'short' }, 'INPUT_INVALID.ClientSecret'],
      ['POST', '/users', { username: 'u', password: 'short', accounts: [] }, 'INPUT_INVALID.Password'],
      ['POST', '/users', { username: 'u', password: 'bell\u0007-password', accounts: [] }, 'INPUT_INVALID.Password'],
      [
        'POST',
        '/users',
        { username: 'u', password: 'long-enough', accounts: ['bad name'] },
        'INPUT_INVALID.AccountName',
      ],
      ['POST', '/users', { password: 'long-enough', accounts: [] }, 'INPUT_INVALID.Username'],
      ['PATCH', '/users/demo', { password: 'short' }, 'INPUT_INVALID.Password'],
      ['PATCH', '/users/demo', {}, 'INPUT_INVALID.Request.Body'],
    ];
    for (const [method, path, body, errorCode] of cases) {
      const answer = await adminCall(method, path, body);
      assert.equal(answer.status, 400, `${method} ${path} ${JSON.stringify(body)}: ${answer.text}`);
      assert.equal(answer.body.errorCode, errorCode, `${method} ${path} ${JSON.stringify(body)}`);
      assert.equal(typeof answer.body.errorMessage, 'string');
    }
    const policy = await adminCall('POST', '/users', { username: 'u', password: 'short', accounts: [] });
    assert.match(policy.body.errorMessage, /8 to 256 characters/);
    assert.equal(await server.ctx.store.auth.getUser('u'), null, 'a refused request changes nothing');
  });

  it('documents every management route in the OpenAPI document', async () => {
    const spec = await inject(server, `/openapi.json`);
    const paths = spec.body.paths as Record<string, Record<string, unknown>>;
    assert.ok(paths['/admin/v1/clients'].get && paths['/admin/v1/clients'].post);
    assert.ok(paths['/admin/v1/clients/{clientId}'].delete);
    assert.ok(paths['/admin/v1/clients/{clientId}/secret/rotate'].post);
    assert.ok(paths['/admin/v1/users'].get && paths['/admin/v1/users'].post);
    assert.ok(paths['/admin/v1/users/{username}'].patch && paths['/admin/v1/users/{username}'].delete);
  });
});
