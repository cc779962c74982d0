import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hashToken } from '../src/security/tokens.js';
import {
  accessToken,
  createUser,
  DEV_CREDENTIALS,
  inject,
  login,
  send,
  startTestServer,
  type TestServer,
} from './helpers.js';

const account = DEV_CREDENTIALS.accountName;
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
const form = 'application/x-www-form-urlencoded';

describe('OAuth token endpoint', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  const token = (headers: Record<string, string>, body = 'grant_type=client_credentials') =>
    inject(server, `/api/ts/v1/oauth2/token`, { method: 'POST', headers, body });

  it('issues a bearer token for one hour to valid client credentials', async () => {
    const response = await token({ authorization: basic('demo-client', 'demo-secret'), 'content-type': form });
    assert.equal(response.status, 200);
    assert.deepEqual(Object.keys(response.body).sort(), ['access_token', 'expires_in', 'scope', 'token_type']);
    assert.equal(response.body.token_type, 'bearer');
    assert.equal(response.body.expires_in, 3600);
    assert.ok(response.body.access_token.length >= 32);
  });

  it('answers 400 to a grant type other than client_credentials', async () => {
    const response = await token(
      { authorization: basic('demo-client', 'demo-secret'), 'content-type': form },
      'grant_type=password',
    );
    assert.equal(response.status, 400);
    assert.equal(response.body.errorCode, 'INPUT_INVALID.GrantType');
  });

  it('answers 401 without Basic credentials, with a wrong secret and with an unknown client', async () => {
    const attempts: Record<string, string>[] = [
      { 'content-type': form },
      { authorization: 'Bearer something', 'content-type': form },
      { authorization: basic('demo-client', 'wrong'), 'content-type': form },
      { authorization: basic('nobody', 'demo-secret'), 'content-type': form },
    ];
    for (const headers of attempts) {
      const response = await token(headers);
      assert.equal(response.status, 401, JSON.stringify(headers));
      assert.equal(response.body.errorCode, 'REQUEST_FAILED.ClientCredentials');
    }
  });

  it('stores access tokens only as hashes', async () => {
    const value = await accessToken(server);
    const stored = await server.ctx.store.auth.getAccessToken(hashToken(value));
    assert.equal(stored?.clientId, 'demo-client');
    assert.equal(await server.ctx.store.auth.getAccessToken(value), null);
  });
});

describe('session and callback authentication', () => {
  let server: TestServer;
  let now = Date.now();
  const callbacks = () => `${server.apiUrl}/m2m/v1/callbacks/${account}`;

  before(async () => {
    server = await startTestServer({ clock: () => now });
  });
  after(() => server.close());

  it('logs in with a bearer token and answers {sessionToken, expiresIn: 1200}', async () => {
    const bearer = await accessToken(server);
    const response = await inject(server, `/api/m2m/v1/session/login`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: { username: 'demo', password: 'demo-password' },
    });
    assert.equal(response.status, 200);
    assert.deepEqual(Object.keys(response.body).sort(), ['expiresIn', 'sessionToken']);
    assert.equal(response.body.expiresIn, 1200);
  });

  it('refuses login without a bearer token', async () => {
    const response = await inject(server, `/api/m2m/v1/session/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: { username: 'demo', password: 'demo-password' },
    });
    assert.equal(response.status, 401);
    assert.equal(response.body.errorCode, 'REQUEST_FAILED.AccessToken.Missing');
  });

  it('takes the login body as JSON only (a form body gets 415)', async () => {
    const bearer = await accessToken(server);
    const response = await inject(server, `/api/m2m/v1/session/login`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'username=demo&password=demo-password',
    });
    assert.equal(response.status, 415);
    assert.equal(response.body.errorCode, 'INPUT_INVALID.Request.ContentType');
  });

  it('answers 401 AccessToken.Missing / Invalid / Expired on the callback endpoints', async () => {
    const { sessionToken } = await login(server);
    const missing = await send(callbacks(), { headers: { 'vz-m2m-token': sessionToken } });
    assert.equal(missing.status, 401);
    assert.equal(missing.body.errorCode, 'REQUEST_FAILED.AccessToken.Missing');

    const invalid = await send(callbacks(), {
      headers: { authorization: 'Bearer not-a-token', 'vz-m2m-token': sessionToken },
    });
    assert.equal(invalid.status, 401);
    assert.equal(invalid.body.errorCode, 'REQUEST_FAILED.AccessToken.Invalid');

    await server.ctx.store.auth.saveAccessToken({
      tokenHash: hashToken('expired-token'),
      clientId: 'demo-client',
      expiresAt: now - 1,
    });
    const expired = await send(callbacks(), {
      headers: { authorization: 'Bearer expired-token', 'vz-m2m-token': sessionToken },
    });
    assert.equal(expired.status, 401);
    assert.equal(expired.body.errorCode, 'REQUEST_FAILED.AccessToken.Expired');
  });

  it('lets an access token expire after one hour', async () => {
    const { headers } = await login(server);
    assert.equal((await send(callbacks(), { headers })).status, 200);
    now += 60 * 60 * 1000 + 1;
    const response = await send(callbacks(), { headers });
    assert.equal(response.status, 401);
    assert.equal(response.body.errorCode, 'REQUEST_FAILED.AccessToken.Expired');
  });

  it('answers 400 SessionToken.Format / Invalid / Expired for missing, unknown and expired sessions', async () => {
    const bearer = await accessToken(server);
    const missing = await send(callbacks(), { headers: { authorization: `Bearer ${bearer}` } });
    assert.equal(missing.status, 400);
    assert.equal(missing.body.errorCode, 'REQUEST_FAILED.SessionToken.Format');

    const unknown = await send(callbacks(), {
      headers: { authorization: `Bearer ${bearer}`, 'vz-m2m-token': '9a0c6a3c-0000-4000-8000-000000000000' },
    });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.errorCode, 'INPUT_INVALID.SessionToken.Invalid');

    await server.ctx.store.auth.saveSession({
      tokenHash: hashToken('stale-session'),
      username: 'demo',
      clientId: 'demo-client',
      expiresAt: now - 1,
    });
    const expired = await send(callbacks(), {
      headers: { authorization: `Bearer ${bearer}`, 'vz-m2m-token': 'stale-session' },
    });
    assert.equal(expired.status, 400);
    assert.equal(expired.body.errorCode, 'REQUEST_FAILED.SessionToken.Expired');
  });

  it('keeps a session alive while it is used and expires it after 20 idle minutes', async () => {
    const { headers } = await login(server);
    for (let i = 0; i < 3; i++) {
      now += 15 * 60 * 1000;
      // The access token lasts one hour: refresh it, keep the session.
      const bearer = await accessToken(server);
      const used = await send(callbacks(), { headers: { ...headers, authorization: `Bearer ${bearer}` } });
      assert.equal(used.status, 200, `use ${i + 1}`);
    }
    now += 20 * 60 * 1000 + 1;
    const bearer = await accessToken(server);
    const idle = await send(callbacks(), { headers: { ...headers, authorization: `Bearer ${bearer}` } });
    assert.equal(idle.status, 400);
    assert.equal(idle.body.errorCode, 'REQUEST_FAILED.SessionToken.Expired');
  });

  it('ends a session at logout, echoing the token, after which it is refused', async () => {
    const { headers, sessionToken } = await login(server);
    assert.equal((await send(callbacks(), { headers })).status, 200);
    const out = await inject(server, `/api/m2m/v1/session/logout`, { method: 'POST', headers });
    assert.equal(out.status, 200);
    assert.deepEqual(out.body, { sessionToken });
    const after = await send(callbacks(), { headers });
    assert.equal(after.status, 400);
    assert.equal(after.body.errorCode, 'INPUT_INVALID.SessionToken.Invalid');
    const again = await inject(server, `/api/m2m/v1/session/logout`, { method: 'POST', headers });
    assert.equal(again.status, 400);
    assert.equal(again.body.errorCode, 'INPUT_INVALID.SessionToken.Invalid');
  });

  it('answers 400 REQUEST_FAILED.AccountName for an account the user may not manage, on every operation', async () => {
    const { headers } = await login(server);
    const other = `${server.apiUrl}/m2m/v1/callbacks/0000999999-00001`;
    const responses = [
      await send(other, { headers }),
      await send(other, { method: 'POST', headers, body: { name: 'CarrierService', url: 'https://a.example.net/' } }),
      await send(`${other}/name/CarrierService`, { method: 'DELETE', headers }),
    ];
    for (const response of responses) {
      assert.equal(response.status, 400);
      assert.equal(response.body.errorCode, 'REQUEST_FAILED.AccountName');
      assert.equal(response.body.errorMessage, 'account 0000999999-00001 is not managed by user demo');
    }
    assert.deepEqual(await server.ctx.registrations.list('0000999999-00001'), []);
  });

  it('answers 400 to a wrong password and to an unknown user alike', async () => {
    const bearer = await accessToken(server);
    for (const body of [
      { username: 'demo', password: 'nope' },
      { username: 'ghost', password: 'nope' },
    ]) {
      const response = await inject(server, `/api/m2m/v1/session/login`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
        body,
      });
      assert.equal(response.status, 400);
      assert.equal(response.body.errorCode, 'REQUEST_FAILED.Login.InvalidCredentials');
    }
    // One failure is forgotten after a good login.
    await login(server);
    assert.equal((await server.ctx.store.auth.getUser('demo'))?.failedLogins, 0);
  });

  it('locks a user for 15 minutes after five wrong passwords in a row, even against the right password', async () => {
    await createUser(server, 'locky', 'right-password', [account]);
    const bearer = await accessToken(server);
    const attempt = (password: string) =>
      inject(server, `/api/m2m/v1/session/login`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
        body: { username: 'locky', password },
      });
    for (let i = 1; i <= 4; i++) {
      assert.equal((await attempt('wrong')).body.errorCode, 'REQUEST_FAILED.Login.InvalidCredentials', `try ${i}`);
    }
    const fifth = await attempt('wrong');
    assert.equal(fifth.status, 400);
    assert.equal(fifth.body.errorCode, 'REQUEST_FAILED.Login.UserLocked');

    const locked = await attempt('right-password');
    assert.equal(locked.status, 400);
    assert.equal(locked.body.errorCode, 'REQUEST_FAILED.Login.UserLocked');
    assert.match(locked.body.errorMessage, /locked/);

    now += 14 * 60 * 1000;
    assert.equal((await attempt('right-password')).body.errorCode, 'REQUEST_FAILED.Login.UserLocked');
    now += 60 * 1000 + 1;
    const unlocked = await attempt('right-password');
    assert.equal(unlocked.status, 200);
    // The count starts again from zero after the lockout.
    assert.equal((await attempt('wrong')).body.errorCode, 'REQUEST_FAILED.Login.InvalidCredentials');
  });

  it('refuses the admin API without the admin token, or with a wrong one', async () => {
    const attempts: Record<string, string>[] = [
      {},
      { authorization: 'Bearer wrong' },
      { authorization: `Basic ${server.adminToken}` },
    ];
    for (const headers of attempts) {
      const response = await inject(server, `/admin/v1/clients`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: { name: 'x' },
      });
      assert.equal(response.status, 401);
      assert.equal(response.body.errorCode, 'REQUEST_FAILED.Unauthorized');
    }
  });

  it('requires the admin token on the messages API mounted under /admin/v1', async () => {
    const response = await inject(server, `/admin/v1/stats`);
    assert.equal(response.status, 401);
    assert.equal(response.body.errorCode, 'REQUEST_FAILED.Unauthorized');
  });
});
