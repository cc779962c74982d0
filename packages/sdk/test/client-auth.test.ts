import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { eventually } from '../../../test/eventually.js';
import {
  ApiError,
  AuthenticationError,
  Client,
  type ClientOptions,
  ConnectivityManagementResultError,
} from '../src/index.js';
import { CREDENTIALS, FakePlatform, reply, STATIC_SESSION_TOKEN, UNMANAGED_ACCOUNT } from './fake-platform.js';

const ACCOUNT = '0000123456-00001';

describe('Client: authentication', () => {
  let platform: FakePlatform;
  const makeClient = (options: Partial<ClientOptions> = {}) =>
    new Client({ baseUrl: platform.baseUrl, ...CREDENTIALS, retries: { initialDelayMs: 1 }, ...options });

  beforeEach(async () => {
    platform = await FakePlatform.start();
  });
  afterEach(() => platform.close());

  it('fetches the OAuth token with HTTP Basic, a client_credentials form and Accept JSON', async () => {
    await makeClient().connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);

    const [token] = platform.tokenRequests;
    assert.equal(token.url, '/api/ts/v1/oauth2/token');
    assert.equal(token.headers.authorization, `Basic ${Buffer.from('test-client:test-secret').toString('base64')}`);
    assert.equal(token.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(token.headers.accept, 'application/json');
    assert.equal(token.body, 'grant_type=client_credentials');
  });

  it('logs in with the bearer token and a JSON {username, password}, then sends both tokens', async () => {
    await makeClient().connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);

    const [login] = platform.logins;
    assert.equal(login.headers.authorization, 'Bearer token-1');
    assert.equal(login.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(login.body), { username: 'alice', password: 'alice-password' });
    const [call] = platform.callbackRequests;
    assert.equal(call.headers.authorization, 'Bearer token-1');
    assert.equal(call.headers['vz-m2m-token'], 'session-2');
  });

  it('fetches the token and logs in once, then reuses both', async () => {
    const client = makeClient();
    await client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);
    await client.connectivityCallbacks.registerCallback(ACCOUNT, { name: 'CarrierService', url: 'http://x.test/' });
    await client.connectivityCallbacks.deregisterCallback(ACCOUNT, 'CarrierService');

    assert.equal(platform.tokenRequests.length, 1);
    assert.equal(platform.logins.length, 1);
    assert.deepEqual(
      platform.callbackRequests.map((r) => [r.headers.authorization, r.headers['vz-m2m-token']]),
      Array(3).fill(['Bearer token-1', 'session-2']),
    );
  });

  it('shares one token fetch and one login among concurrent calls', async () => {
    // Token answers wait until the first token request has reached the platform: by then every call
    // has looked for a token, and one that did not share the fetch has sent its own request.
    const held: Array<() => void> = [];
    let holding = true;
    platform.intercept = (req, res) => {
      if (!req.url.endsWith('/oauth2/token')) return false;
      if (holding) held.push(() => platform.answer(req, res));
      else platform.answer(req, res);
      return true;
    };
    const client = makeClient();
    const calls = Promise.all(
      Array.from({ length: 10 }, () => client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT)),
    );
    await eventually(() => held.length > 0);
    holding = false;
    for (const answer of held) answer();
    const results = await calls;

    assert.equal(results.length, 10);
    assert.equal(platform.tokenRequests.length, 1);
    assert.equal(platform.logins.length, 1);
    assert.equal(platform.callbackRequests.length, 10);
  });

  it('refreshes the access token shortly before expires_in', async (t) => {
    // Only Date is faked: the token cache reads the clock, while the HTTP exchanges keep real timers.
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    t.after(() => mock.timers.reset());
    await platform.close();
    platform = await FakePlatform.start({ tokenExpiresIn: 1 });
    const client = makeClient();
    await client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);
    await client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);
    assert.equal(platform.tokenRequests.length, 1, 'reused while fresh');

    // A 1 s token is renewed a tenth of its life early: at 900 ms, before the server would refuse it.
    mock.timers.tick(899);
    await client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);
    assert.equal(platform.tokenRequests.length, 1, 'still fresh at 899 ms');
    mock.timers.tick(51);
    await client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);

    assert.equal(platform.tokenRequests.length, 2);
    assert.deepEqual(
      platform.callbackRequests.map((r) => r.headers.authorization),
      ['Bearer token-1', 'Bearer token-1', 'Bearer token-1', 'Bearer token-3'],
    );
    assert.equal(platform.logins.length, 1, 'the session outlives the token');
  });

  it('logs in again once and retries once when the session expired (400 with a SessionToken code)', async () => {
    const client = makeClient();
    await client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);
    platform.expireSessions();

    const res = await client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);

    assert.equal(res.statusCode, 200);
    assert.equal(platform.logins.length, 2);
    assert.equal(platform.tokenRequests.length, 1, 'the bearer token was still good');
    assert.deepEqual(
      platform.callbackRequests.map((r) => [r.headers['vz-m2m-token'], r.headers['vz-m2m-token'] && r.method]),
      [
        ['session-2', 'GET'],
        ['session-2', 'GET'],
        ['session-3', 'GET'],
      ],
    );
  });

  it('logs in again once and retries once when the server answers 401 about the session', async () => {
    const client = makeClient();
    await client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);
    let refuse = true;
    platform.intercept = (req, res) => {
      if (!req.url.startsWith('/api/m2m/v1/callbacks') || !refuse) return false;
      refuse = false;
      reply(res, 401, { errorCode: 'REQUEST_FAILED.SessionToken.Expired', errorMessage: 'Session expired' });
      return true;
    };

    const res = await client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);

    assert.equal(res.statusCode, 200);
    assert.equal(platform.logins.length, 2);
  });

  it('does not log in again on a 400 that is not about the session, and keeps its errorCode', async () => {
    const client = makeClient();
    await client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);

    const error = await client.connectivityCallbacks.listRegisteredCallbacks(UNMANAGED_ACCOUNT).catch((e) => e);

    assert.ok(error instanceof ConnectivityManagementResultError);
    assert.equal(error.statusCode, 400);
    assert.equal(error.errorCode, 'REQUEST_FAILED.AccountName');
    assert.equal(error.errorMessage, `account ${UNMANAGED_ACCOUNT} is not managed by user alice`);
    assert.equal(platform.logins.length, 1, 'no new login');
    assert.equal(platform.callbackRequests.length, 2, 'the refused call was not repeated');
  });

  it('retries a POST after logging in again, since a refused session means nothing was done', async () => {
    const client = makeClient();
    await client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);
    platform.expireSessions();

    const res = await client.connectivityCallbacks.registerCallback(ACCOUNT, {
      name: 'CarrierService',
      url: 'http://x.test/',
    });

    assert.equal(res.statusCode, 200);
    assert.equal(platform.seen('POST', '/m2m/v1/callbacks').length, 2);
  });

  it('logs in again only once for concurrent calls refused with the same session', async () => {
    const client = makeClient();
    await client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);
    platform.expireSessions();

    await Promise.all(Array.from({ length: 5 }, () => client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT)));

    assert.equal(platform.logins.length, 2);
  });

  it('renews the access token and the session when a call is refused for its access token', async () => {
    const client = makeClient();
    await client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);
    platform.revokeTokens();

    const res = await client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);

    assert.equal(res.statusCode, 200);
    assert.equal(platform.tokenRequests.length, 2);
    assert.deepEqual(
      platform.logins.map((r) => r.headers.authorization),
      ['Bearer token-1', 'Bearer token-3'],
    );
    assert.deepEqual(
      platform.callbackRequests.map((r) => r.headers.authorization),
      ['Bearer token-1', 'Bearer token-1', 'Bearer token-3'],
    );
  });

  it('renews the access token and logs in once more when the login is refused for the token', async () => {
    const client = makeClient();
    await client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);
    platform.revokeTokens();
    let expiredOnce = false;
    platform.intercept = (req, res) => {
      // The call only says the session expired: the stale token shows at the login.
      if (!req.url.startsWith('/api/m2m/v1/callbacks') || expiredOnce) return false;
      expiredOnce = true;
      reply(res, 401, { errorCode: 'REQUEST_FAILED.SessionToken.Expired', errorMessage: 'log in again' });
      return true;
    };

    const res = await client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);

    assert.equal(res.statusCode, 200);
    assert.deepEqual(
      platform.logins.map((r) => r.headers.authorization),
      ['Bearer token-1', 'Bearer token-1', 'Bearer token-3'],
    );
    assert.equal(platform.callbackRequests.at(-1)?.headers['vz-m2m-token'], 'session-4');
  });

  it("recognises the platform gateway's fault 900901 as a refused access token", async () => {
    let faulted = false;
    platform.intercept = (req, res) => {
      if (!req.url.endsWith('/session/login') || faulted) return false;
      faulted = true;
      reply(res, 401, { fault: { code: '900901', message: 'Invalid Credentials', description: 'Access failure' } });
      return true;
    };
    const res = await makeClient().connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);

    assert.equal(res.statusCode, 200);
    assert.equal(platform.logins.length, 2);
    assert.equal(platform.tokenRequests.length, 2);
  });

  it('gives up with AuthenticationError when the call is still refused after logging in again', async () => {
    platform.intercept = (req, res) => {
      if (!req.url.startsWith('/api/m2m/v1/callbacks')) return false;
      reply(res, 401, { errorCode: 'REQUEST_FAILED.SessionToken.Expired', errorMessage: 'Session expired' });
      return true;
    };
    const error = await makeClient()
      .connectivityCallbacks.listRegisteredCallbacks(ACCOUNT)
      .catch((e) => e);

    assert.ok(error instanceof AuthenticationError);
    assert.ok(error instanceof ApiError);
    assert.equal(error.statusCode, 401);
    assert.equal(error.errorCode, 'REQUEST_FAILED.SessionToken.Expired');
    assert.equal(platform.callbackRequests.length, 2, 'the call was retried exactly once');
    assert.equal(platform.logins.length, 2, 'one login, then exactly one more');
  });

  it('surfaces a refused login as AuthenticationError and never sends a wrong password twice', async () => {
    const client = makeClient({ sessionCredentials: { username: 'alice', password: 'wrong' } });
    const error = await client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT).catch((e) => e);

    assert.ok(error instanceof AuthenticationError);
    assert.ok(error instanceof ApiError);
    assert.equal(error.statusCode, 400);
    assert.equal(error.errorCode, 'REQUEST_FAILED.Login.InvalidCredentials');
    assert.equal(error.errorMessage, 'Wrong username or password');
    assert.match(error.message, /^Session login failed: /);
    assert.equal(platform.logins.length, 1, 'the platform locks a user after five wrong passwords');
    assert.equal(platform.callbackRequests.length, 0);

    await assert.rejects(client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT), AuthenticationError);
    assert.equal(platform.logins.length, 2, 'one login per call');
  });

  it('does not cache a failed login: the next call logs in again', async () => {
    let refuse = true;
    platform.intercept = (req, res) => {
      if (!req.url.endsWith('/session/login') || !refuse) return false;
      refuse = false;
      reply(res, 400, { errorCode: 'REQUEST_FAILED.UnexpectedError', errorMessage: 'Try again' });
      return true;
    };
    const client = makeClient();
    await assert.rejects(client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT), AuthenticationError);
    const res = await client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);

    assert.equal(res.statusCode, 200);
    assert.equal(platform.logins.length, 2);
  });

  it('rejects a token response without access_token as AuthenticationError', async () => {
    platform.intercept = (req, res) => {
      if (!req.url.endsWith('/oauth2/token')) return false;
      reply(res, 200, { token_type: 'bearer' });
      return true;
    };
    const error = await makeClient()
      .connectivityCallbacks.listRegisteredCallbacks(ACCOUNT)
      .catch((e) => e);

    assert.ok(error instanceof AuthenticationError);
    assert.equal(error.code, 'INVALID_TOKEN_RESPONSE');
  });

  describe('with a static VZ-M2M-Token', () => {
    const staticOptions = {
      sessionCredentials: undefined,
      vZM2mTokenCredentials: { 'VZ-M2M-Token': STATIC_SESSION_TOKEN },
    };

    it('sends it as is and never logs in', async () => {
      const client = makeClient(staticOptions);
      await client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);
      await client.connectivityCallbacks.registerCallback(ACCOUNT, { name: 'CarrierService', url: 'http://x.test/' });

      assert.equal(platform.logins.length, 0);
      assert.equal(platform.tokenRequests.length, 1);
      assert.deepEqual(
        platform.callbackRequests.map((r) => [r.headers.authorization, r.headers['vz-m2m-token']]),
        Array(2).fill(['Bearer token-1', STATIC_SESSION_TOKEN]),
      );
    });

    it('renews the bearer token once on a 401', async () => {
      const client = makeClient(staticOptions);
      await client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);
      platform.revokeTokens();

      const res = await client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);

      assert.equal(res.statusCode, 200);
      assert.equal(platform.logins.length, 0);
      assert.deepEqual(
        platform.callbackRequests.map((r) => r.headers.authorization),
        ['Bearer token-1', 'Bearer token-1', 'Bearer token-2'],
      );
    });
  });
});
