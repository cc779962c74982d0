import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  adminHeaders,
  createUser,
  DEV_CREDENTIALS,
  inject,
  login,
  send,
  startTestServer,
  type TestServer,
} from './helpers.js';

describe('registration API: the seed examples, request by request', () => {
  let server: TestServer;
  let headers: Record<string, string>;

  before(async () => {
    // The seed's listeners are on a private network and port 50569, so this server allows both.
    server = await startTestServer({ env: { CCB_ALLOWED_PORTS: 'any', CCB_ALLOW_PRIVATE_TARGETS: '1' } });
    await createUser(server, 'seed-user', 'seed-password', ['0252012345-00001', 'TestAccount-2', '1223334444-00001']);
    ({ headers } = await login(server, 'seed-user', 'seed-password'));
  });
  after(() => server.close());

  it('lists registered callbacks exactly as the seed example, credentials only where registered', async () => {
    const callbacks = `${server.apiUrl}/m2m/v1/callbacks/0252012345-00001`;
    const carrier = await send(callbacks, {
      method: 'POST',
      headers,
      body: { name: 'CarrierService', url: 'http://10.120.102.147:50569/CallbackListener/Carrier.asmx' },
    });
    assert.equal(carrier.status, 200);
    const usage = await send(callbacks, {
      method: 'POST',
      headers,
      body: {
        name: 'DeviceUsage',
        url: 'http://10.120.102.147:50569/CallbackListener/Usage.asmx',
        username: 'zaffod',
        password: 'drowssap',
      },
    });
    assert.equal(usage.status, 200);

    const listed = await send(callbacks, { headers });
    assert.equal(listed.status, 200);
    assert.match(listed.headers.get('content-type') ?? '', /application\/json/);
    assert.deepEqual(listed.body, [
      {
        accountName: '0252012345-00001',
        serviceName: 'CarrierService',
        url: 'http://10.120.102.147:50569/CallbackListener/Carrier.asmx',
      },
      {
        accountName: '0252012345-00001',
        password: 'drowssap',
        serviceName: 'DeviceUsage',
        url: 'http://10.120.102.147:50569/CallbackListener/Usage.asmx',
        username: 'zaffod',
      },
    ]);
  });

  it('registers a callback and answers {accountName, serviceName} as the seed example', async () => {
    const response = await inject(server, `/api/m2m/v1/callbacks/TestAccount-2`, {
      method: 'POST',
      headers,
      body: { name: 'CarrierService', url: 'http://10.120.102.183:50559/CallbackListener/CarrierServiceMessages.asmx' },
    });
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, { accountName: 'TestAccount-2', serviceName: 'CarrierService' });
  });

  it('deregisters a callback and answers {accountName, serviceName} as the seed example', async () => {
    const callbacks = `${server.apiUrl}/m2m/v1/callbacks/1223334444-00001`;
    await send(callbacks, {
      method: 'POST',
      headers,
      body: { name: 'CarrierService', url: 'https://hooks.example.net/vz/carrier' },
    });
    const response = await send(`${callbacks}/name/CarrierService`, { method: 'DELETE', headers });
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, { accountName: '1223334444-00001', serviceName: 'CarrierService' });
    assert.deepEqual((await send(callbacks, { headers })).body, []);
  });
});

describe('registration API: behaviour', () => {
  let server: TestServer;
  let headers: Record<string, string>;
  const account = DEV_CREDENTIALS.accountName;
  let callbacks: string;

  before(async () => {
    server = await startTestServer();
    ({ headers } = await login(server));
    callbacks = `${server.apiUrl}/m2m/v1/callbacks/${account}`;
  });
  after(() => server.close());

  it('replaces the URL and credentials when a service is registered twice', async () => {
    await send(callbacks, {
      method: 'POST',
      headers,
      body: { name: 'AlertService', url: 'https://old.example.net/alerts', username: 'old', password: 'old-pw' },
    });
    const again = await send(callbacks, {
      method: 'POST',
      headers,
      body: { name: 'AlertService', url: 'https://new.example.net:9001/alerts' },
    });
    assert.equal(again.status, 200);
    const alerts = (await send(callbacks, { headers })).body.filter(
      (c: { serviceName: string }) => c.serviceName === 'AlertService',
    );
    assert.deepEqual(alerts, [
      { accountName: account, serviceName: 'AlertService', url: 'https://new.example.net:9001/alerts' },
    ]);
  });

  it('keeps the signing secret when a registration is replaced', async () => {
    await send(callbacks, { method: 'POST', headers, body: { name: 'PromoChanges', url: 'https://a.example.net/p' } });
    const first = await server.ctx.registrations.get(account, 'PromoChanges');
    await send(callbacks, { method: 'POST', headers, body: { name: 'PromoChanges', url: 'https://b.example.net/p' } });
    const second = await server.ctx.registrations.get(account, 'PromoChanges');
    assert.match(first?.signingSecret ?? '', /^whsec_[A-Za-z0-9+/]{40,}={0,2}$/);
    assert.equal(second?.signingSecret, first?.signingSecret);
    assert.equal(second?.url, 'https://b.example.net/p');
  });

  it('answers 400 REQUEST_FAILED.CallbackNotFound when deregistering a service that is not registered', async () => {
    for (const service of ['StateService', 'NoSuchService']) {
      const response = await send(`${callbacks}/name/${service}`, { method: 'DELETE', headers });
      assert.equal(response.status, 400);
      assert.equal(response.body.errorCode, 'REQUEST_FAILED.CallbackNotFound');
      assert.match(response.body.errorMessage, new RegExp(service));
    }
  });

  it('answers an empty array when nothing is registered', async () => {
    await createUser(server, 'empty-user', 'empty-password', ['0000000001-00001']);
    const other = await login(server, 'empty-user', 'empty-password');
    const response = await inject(server, `/api/m2m/v1/callbacks/0000000001-00001`, { headers: other.headers });
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, []);
  });

  it('accepts GET and DELETE sent with Content-Type: application/json and no body', async () => {
    const list = await send(callbacks, { headers });
    assert.equal(list.status, 200);
    await send(callbacks, { method: 'POST', headers, body: { name: 'StateService', url: 'https://s.example.net/' } });
    const removed = await send(`${callbacks}/name/StateService`, { method: 'DELETE', headers });
    assert.equal(removed.status, 200);
  });

  it('resolves the SDK base URL forms /api/m2m + /v1/callbacks and /api + /m2m/v1/callbacks alike', async () => {
    const a = await inject(server, `/api/m2m/v1/callbacks/${account}`, { headers });
    assert.equal(a.status, 200);
    assert.ok(Array.isArray(a.body));
  });

  it('answers 404 with the error body for unknown routes', async () => {
    const response = await inject(server, `/api/m2m/v2/nothing`);
    assert.equal(response.status, 404);
    assert.equal(response.body.errorCode, 'REQUEST_FAILED.ResourceNotFound');
    assert.equal(typeof response.body.errorMessage, 'string');
  });

  it('creates OAuth clients through the admin API whose credentials then get tokens', async () => {
    const created = await inject(server, `/admin/v1/clients`, {
      method: 'POST',
      headers: adminHeaders(server),
      body: { name: 'integration team' },
    });
    assert.equal(created.status, 201);
    const { clientId, clientSecret } = created.body;
    assert.equal(typeof clientId, 'string');
    assert.ok(clientSecret.length >= 24);
    const token = await inject(server, `/api/ts/v1/oauth2/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials',
    });
    assert.equal(token.status, 200);
    const duplicate = await inject(server, `/admin/v1/clients`, {
      method: 'POST',
      headers: adminHeaders(server),
      body: { name: 'again', clientId },
    });
    assert.equal(duplicate.status, 409);
  });

  it('creates users with 201 and replaces them with 200', async () => {
    const body = { username: 'ops', password: 'ops-password', accounts: ['0000000002-00001'] };
    const first = await inject(server, `/admin/v1/users`, {
      method: 'POST',
      headers: adminHeaders(server),
      body,
    });
    assert.equal(first.status, 201);
    assert.deepEqual(first.body, { username: 'ops', accounts: ['0000000002-00001'] });
    const second = await inject(server, `/admin/v1/users`, {
      method: 'POST',
      headers: adminHeaders(server),
      body: { ...body, accounts: ['0000000002-00001', '0000000003-00001'] },
    });
    assert.equal(second.status, 200);
    const ops = await login(server, 'ops', 'ops-password');
    const list = await inject(server, `/api/m2m/v1/callbacks/0000000003-00001`, { headers: ops.headers });
    assert.equal(list.status, 200);
  });

  it('publishes an OpenAPI 3.1 document listing every route, and an API reference page', async () => {
    const spec = await inject(server, `/openapi.json`);
    assert.equal(spec.status, 200);
    assert.match(spec.body.openapi, /^3\.1/);
    const paths = Object.keys(spec.body.paths);
    for (const path of [
      '/api/ts/v1/oauth2/token',
      '/api/m2m/v1/session/login',
      '/api/m2m/v1/session/logout',
      '/api/m2m/v1/callbacks/{aname}',
      '/api/m2m/v1/callbacks/{aname}/name/{sname}',
      '/admin/v1/clients',
      '/admin/v1/users',
      '/healthz',
      '/readyz',
    ]) {
      assert.ok(paths.includes(path), `${path} in ${paths.join(', ')}`);
    }
    const register = spec.body.paths['/api/m2m/v1/callbacks/{aname}'].post;
    assert.deepEqual(register.requestBody.content['application/json'].schema.required.sort(), ['name', 'url']);
    const docs = await fetch(`${server.baseUrl}/docs`);
    assert.equal(docs.status, 200);
    assert.match(await docs.text(), /<html/i);
  });

  it('answers /healthz and /readyz', async () => {
    assert.deepEqual((await inject(server, `/healthz`)).body, { status: 'ok' });
    const ready = await inject(server, `/readyz`);
    assert.equal(ready.status, 200);
  });
});

describe('server roles', () => {
  it('a worker answers health checks but not the API', async () => {
    const worker = await startTestServer({ flags: { role: 'worker' } });
    try {
      assert.equal((await send(`${worker.baseUrl}/healthz`)).status, 200);
      assert.equal((await send(`${worker.baseUrl}/readyz`)).status, 200);
      const api = await send(`${worker.apiUrl}/m2m/v1/callbacks/${DEV_CREDENTIALS.accountName}`);
      assert.equal(api.status, 404);
      assert.notEqual(worker.running.delivery, null);
    } finally {
      await worker.close();
    }
  });

  it('an api-only server does not start delivery', async () => {
    const api = await startTestServer({ flags: { role: 'api' } });
    try {
      assert.equal(api.running.delivery, null);
      assert.equal((await send(`${api.baseUrl}/healthz`)).status, 200);
    } finally {
      await api.close();
    }
  });
});
