import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  ApiError,
  ArgumentError,
  AuthenticationError,
  Client,
  type ClientOptions,
  ConnectionError,
  ConnectivityManagementResultError,
  ConnectivityManagementResultException,
  Environment,
  type HttpClient,
  type HttpRequest,
  TimeoutError,
} from '../src/index.js';
import { CREDENTIALS, closedPort, FakePlatform, reply } from './fake-platform.js';

const ACCOUNT = '0000123456-00001';

describe('Client: connectivity callbacks', () => {
  let platform: FakePlatform;
  let client: Client;

  beforeEach(async () => {
    platform = await FakePlatform.start();
    client = new Client({ baseUrl: platform.baseUrl, ...CREDENTIALS, retries: { initialDelayMs: 1 } });
  });
  afterEach(() => platform.close());

  it('registers with POST /m2m/v1/callbacks/{aname}, both auth headers and a JSON body', async () => {
    const res = await client.connectivityCallbacks.registerCallback(ACCOUNT, {
      name: 'CarrierService',
      url: 'http://127.0.0.1:9001/hook',
      username: 'acme',
      password: 'secret',
    });

    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.data, { accountName: ACCOUNT, serviceName: 'CarrierService' });
    const [call] = platform.callbackRequests;
    assert.equal(call.method, 'POST');
    assert.equal(call.url, `/api/m2m/v1/callbacks/${ACCOUNT}`);
    assert.match(String(call.headers.authorization), /^Bearer token-\d+$/);
    assert.match(String(call.headers['vz-m2m-token']), /^session-\d+$/);
    assert.equal(call.headers['content-type'], 'application/json');
    assert.equal(call.headers.accept, 'application/json');
    assert.deepEqual(JSON.parse(call.body), {
      name: 'CarrierService',
      url: 'http://127.0.0.1:9001/hook',
      username: 'acme',
      password: 'secret',
    });
  });

  it('sends only the fields that were given, and none the model does not have', async () => {
    const body = { name: 'DeviceUsage', url: 'http://127.0.0.1:9002/usage', extra: 'dropped', password: undefined };
    await client.connectivityCallbacks.registerCallback(ACCOUNT, body);

    assert.equal(platform.callbackRequests[0].body, '{"name":"DeviceUsage","url":"http://127.0.0.1:9002/usage"}');
  });

  it('lists with GET and answers an ApiResponse with statusCode, headers, data, result and raw body', async () => {
    await client.connectivityCallbacks.registerCallback(ACCOUNT, {
      name: 'CarrierService',
      url: 'http://127.0.0.1:9001/hook',
    });
    const res = await client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);

    const list = platform.callbackRequests[1];
    assert.equal(list.method, 'GET');
    assert.equal(list.url, `/api/m2m/v1/callbacks/${ACCOUNT}`);
    assert.equal(list.body, '');
    assert.equal(list.headers['content-type'], 'application/json');
    assert.match(String(list.headers.authorization), /^Bearer /);
    assert.ok(list.headers['vz-m2m-token']);
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    const expected = [
      {
        accountName: ACCOUNT,
        serviceName: 'CarrierService',
        name: 'CarrierService',
        url: 'http://127.0.0.1:9001/hook',
      },
    ];
    assert.deepEqual(res.data, expected);
    assert.equal(res.result, res.data);
    assert.deepEqual(JSON.parse(res.body), expected);
  });

  it('treats the empty body the platform sends when nothing is registered as []', async () => {
    const res = await client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);

    assert.equal(res.body, '');
    assert.deepEqual(res.data, []);
    assert.deepEqual(res.result, []);
  });

  it('deregisters with DELETE /m2m/v1/callbacks/{aname}/name/{sname}', async () => {
    await client.connectivityCallbacks.registerCallback(ACCOUNT, { name: 'CarrierService', url: 'http://x.test/' });
    const res = await client.connectivityCallbacks.deregisterCallback(ACCOUNT, 'CarrierService');

    const call = platform.callbackRequests[1];
    assert.equal(call.method, 'DELETE');
    assert.equal(call.url, `/api/m2m/v1/callbacks/${ACCOUNT}/name/CarrierService`);
    assert.equal(call.headers['content-type'], 'application/json');
    assert.deepEqual(res.data, { accountName: ACCOUNT, serviceName: 'CarrierService' });
  });

  it('URL-encodes path parameters', async () => {
    await client.connectivityCallbacks.listRegisteredCallbacks('acct/1 ?#%');
    await client.connectivityCallbacks.registerCallback('a b', { name: 'Carrier/Service x', url: 'http://x.test/' });
    await client.connectivityCallbacks.deregisterCallback('a b', 'Carrier/Service x');

    assert.deepEqual(
      platform.callbackRequests.map((r) => r.url),
      [
        '/api/m2m/v1/callbacks/acct%2F1%20%3F%23%25',
        '/api/m2m/v1/callbacks/a%20b',
        '/api/m2m/v1/callbacks/a%20b/name/Carrier%2FService%20x',
      ],
    );
  });

  it('accepts a base URL with a trailing slash', async () => {
    const slashed = new Client({ ...CREDENTIALS, baseUrl: `${platform.baseUrl}/` });
    await slashed.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);

    assert.equal(platform.callbackRequests[0].url, `/api/m2m/v1/callbacks/${ACCOUNT}`);
  });

  it('throws ConnectivityManagementResultError with errorCode and errorMessage on a 400', async () => {
    const error = await client.connectivityCallbacks.deregisterCallback(ACCOUNT, 'DeviceUsage').catch((e) => e);

    assert.ok(error instanceof ConnectivityManagementResultError);
    assert.ok(error instanceof ConnectivityManagementResultException);
    assert.ok(error instanceof ApiError);
    assert.equal(ConnectivityManagementResultException, ConnectivityManagementResultError);
    assert.equal(error.name, 'ConnectivityManagementResultError');
    assert.equal(error.statusCode, 400);
    assert.equal(error.errorCode, 'REQUEST_FAILED.RegistrationNotFound');
    assert.equal(error.errorMessage, `DeviceUsage is not registered for ${ACCOUNT}`);
    assert.equal(error.code, 'REQUEST_FAILED.RegistrationNotFound');
    assert.match(error.message, /DeviceUsage is not registered/);
    assert.deepEqual(JSON.parse(error.body), error.result);
    assert.equal(error.headers['content-type'], 'application/json');
  });

  for (const status of [403, 404, 413, 500]) {
    it(`throws a plain ApiError on a ${status}`, async () => {
      platform.intercept = (req, res) => {
        if (!req.url.startsWith('/api/m2m/v1/callbacks')) return false;
        reply(res, status, { errorCode: `E${status}`, errorMessage: `status ${status}` });
        return true;
      };
      const error = await client.connectivityCallbacks
        .registerCallback(ACCOUNT, { name: 'CarrierService', url: 'http://x.test/' })
        .catch((e) => e);

      assert.ok(error instanceof ApiError);
      assert.ok(!(error instanceof ConnectivityManagementResultError));
      assert.equal(error.name, 'ApiError');
      assert.equal(error.statusCode, status);
      assert.equal(error.errorCode, `E${status}`);
      assert.equal(error.errorMessage, `status ${status}`);
    });
  }

  it('throws ApiError with code HTTP_<status> when the error body is not JSON', async () => {
    platform.intercept = (req, res) => {
      if (!req.url.startsWith('/api/m2m/v1/callbacks')) return false;
      res.writeHead(403, { 'content-type': 'text/html' }).end('<h1>Forbidden</h1>');
      return true;
    };
    const error = await client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT).catch((e) => e);

    assert.ok(error instanceof ApiError);
    assert.equal(error.code, 'HTTP_403');
    assert.equal(error.body, '<h1>Forbidden</h1>');
    assert.equal(error.result, undefined);
  });

  it('throws ApiError when a 2xx body is not JSON', async () => {
    platform.intercept = (req, res) => {
      if (!req.url.startsWith('/api/m2m/v1/callbacks')) return false;
      res.writeHead(200).end('not json');
      return true;
    };
    const error = await client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT).catch((e) => e);

    assert.ok(error instanceof ApiError);
    assert.equal(error.code, 'INVALID_RESPONSE_BODY');
    assert.equal(error.body, 'not json');
  });

  it('throws TimeoutError when the server does not answer within timeout', async () => {
    // The server never answers (its connection is cut when the test ends): only the timeout can end the call.
    platform.intercept = (req) => req.url.startsWith('/api/m2m/v1/callbacks');
    const impatient = new Client({
      baseUrl: platform.baseUrl,
      ...CREDENTIALS,
      timeout: 100,
      retries: { maxRetries: 0 },
    });
    const error = await impatient.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT).catch((e) => e);

    assert.ok(error instanceof TimeoutError);
    assert.ok(error instanceof ConnectionError);
    assert.ok(!(error instanceof ApiError));
    assert.equal(error.code, 'ETIMEDOUT');
    assert.equal(error.timeoutMs, 100);
  });

  it('times out a response whose body stalls', async () => {
    platform.intercept = (req, res) => {
      if (!req.url.startsWith('/api/m2m/v1/callbacks')) return false;
      res.writeHead(200, { 'content-type': 'application/json' });
      // The rest of the body never comes (the connection is cut when the test ends).
      res.write('[');
      return true;
    };
    const impatient = new Client({
      baseUrl: platform.baseUrl,
      ...CREDENTIALS,
      timeout: 100,
      retries: { maxRetries: 0 },
    });
    const error = await impatient.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT).catch((e) => e);

    assert.ok(error instanceof TimeoutError);
  });

  it('throws ConnectionError with the system code when the connection is refused', async () => {
    const port = await closedPort();
    const offline = new Client({
      baseUrl: `http://127.0.0.1:${port}/api`,
      ...CREDENTIALS,
      retries: { maxRetries: 0 },
    });
    const error = await offline.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT).catch((e) => e);

    assert.ok(error instanceof ConnectionError);
    assert.ok(!(error instanceof TimeoutError));
    assert.equal(error.name, 'ConnectionError');
    assert.equal(error.code, 'ECONNREFUSED');
    assert.match(error.message, /ECONNREFUSED/);
  });

  describe('argument validation, before any request', () => {
    const invalidCalls: [string, (c: Client) => Promise<unknown>, string][] = [
      ['an empty aname to list', (c) => c.connectivityCallbacks.listRegisteredCallbacks(''), 'aname'],
      ['a blank aname to list', (c) => c.connectivityCallbacks.listRegisteredCallbacks('  '), 'aname'],
      ['a non-string aname', (c) => c.connectivityCallbacks.listRegisteredCallbacks(42 as never), 'aname'],
      [
        'an empty aname to register',
        (c) => c.connectivityCallbacks.registerCallback('', { name: 'CarrierService', url: 'http://x.test/' }),
        'aname',
      ],
      ['a missing body', (c) => c.connectivityCallbacks.registerCallback(ACCOUNT, undefined as never), 'body'],
      ['a null body', (c) => c.connectivityCallbacks.registerCallback(ACCOUNT, null as never), 'body'],
      ['an array body', (c) => c.connectivityCallbacks.registerCallback(ACCOUNT, [] as never), 'body'],
      ['a string body', (c) => c.connectivityCallbacks.registerCallback(ACCOUNT, '{}' as never), 'body'],
      [
        'a body without name',
        (c) => c.connectivityCallbacks.registerCallback(ACCOUNT, { url: 'http://x.test/' } as never),
        'body.name',
      ],
      [
        'a body without url',
        (c) => c.connectivityCallbacks.registerCallback(ACCOUNT, { name: 'CarrierService' } as never),
        'body.url',
      ],
      [
        'a non-string username',
        (c) =>
          c.connectivityCallbacks.registerCallback(ACCOUNT, {
            name: 'CarrierService',
            url: 'http://x.test/',
            username: 7 as never,
          }),
        'body.username',
      ],
      [
        'an empty aname to deregister',
        (c) => c.connectivityCallbacks.deregisterCallback('', 'CarrierService'),
        'aname',
      ],
      ['an empty sname', (c) => c.connectivityCallbacks.deregisterCallback(ACCOUNT, ''), 'sname'],
    ];
    for (const [what, call, argument] of invalidCalls) {
      it(`rejects ${what} with ArgumentError`, async () => {
        const error = await call(client).catch((e) => e);

        assert.ok(error instanceof ArgumentError, String(error));
        assert.ok(error instanceof TypeError);
        assert.equal(error.code, 'INVALID_ARGUMENT');
        assert.equal(error.argument, argument);
        assert.deepEqual(platform.requests, [], 'nothing was sent, not even a token request');
      });
    }
  });
});

describe('Client: options', () => {
  const valid: ClientOptions = { baseUrl: 'http://127.0.0.1:1/api', ...CREDENTIALS };
  const invalidOptions: [string, unknown, string][] = [
    ['no options', undefined, 'options'],
    ['both baseUrl and environment', { ...valid, environment: Environment.Staging }, 'baseUrl'],
    ['a relative baseUrl', { ...valid, baseUrl: '/api' }, 'baseUrl'],
    ['a non-http baseUrl', { ...valid, baseUrl: 'ftp://example.com/api' }, 'baseUrl'],
    ['an unknown environment', { ...CREDENTIALS, environment: 'qa' }, 'environment'],
    ['no OAuth credentials', { ...valid, thingspaceOauthCredentials: undefined }, 'thingspaceOauthCredentials'],
    [
      'an empty OAuth secret',
      { ...valid, thingspaceOauthCredentials: { oauthClientId: 'id', oauthClientSecret: '' } },
      'thingspaceOauthCredentials.oauthClientSecret',
    ],
    ['no session credentials', { ...valid, sessionCredentials: undefined }, 'sessionCredentials'],
    ['both session kinds', { ...valid, vZM2mTokenCredentials: { 'VZ-M2M-Token': 't' } }, 'sessionCredentials'],
    [
      'an empty static session token',
      { ...valid, sessionCredentials: undefined, vZM2mTokenCredentials: { 'VZ-M2M-Token': '' } },
      "vZM2mTokenCredentials['VZ-M2M-Token']",
    ],
    ['a negative timeout', { ...valid, timeout: -1 }, 'timeout'],
    ['a fractional maxRetries', { ...valid, retries: { maxRetries: 1.5 } }, 'retries.maxRetries'],
    ['a retryOnStatus that is not a list', { ...valid, retries: { retryOnStatus: 503 } }, 'retries.retryOnStatus'],
  ];
  for (const [what, options, argument] of invalidOptions) {
    it(`throws ArgumentError for ${what}`, () => {
      assert.throws(
        () => new Client(options as ClientOptions),
        (error: unknown) => error instanceof ArgumentError && error.argument === argument,
      );
    });
  }

  for (const [environment, expected] of [
    [Environment.Production, 'https://thingspace.verizon.com/api'],
    [Environment.Staging, 'https://staging.thingspace.verizon.com/api'],
    [undefined, 'https://thingspace.verizon.com/api'],
  ] as const) {
    it(`sends requests for environment ${environment ?? '(default)'} to ${expected}`, async () => {
      const sent: HttpRequest[] = [];
      const httpClient: HttpClient = {
        async send(request) {
          sent.push(request);
          if (request.url.endsWith('/oauth2/token')) {
            return { statusCode: 200, headers: {}, body: '{"access_token":"t","expires_in":3600}' };
          }
          return { statusCode: 200, headers: {}, body: '' };
        },
      };
      const client = new Client({
        environment,
        ...CREDENTIALS,
        sessionCredentials: undefined,
        vZM2mTokenCredentials: { 'VZ-M2M-Token': 's' },
        httpClient,
      });
      await client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);

      assert.deepEqual(
        sent.map((r) => r.url),
        [`${expected}/ts/v1/oauth2/token`, `${expected}/m2m/v1/callbacks/${ACCOUNT}`],
      );
    });
  }

  it('passes the timeout to the HTTP client, per request', async () => {
    const timeouts: number[] = [];
    const httpClient: HttpClient = {
      async send(request) {
        timeouts.push(request.timeoutMs);
        return { statusCode: 200, headers: {}, body: '{"access_token":"t","sessionToken":"s"}' };
      },
    };
    const client = new Client({ ...valid, timeout: 1234, httpClient });
    await client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);

    assert.deepEqual(timeouts, [1234, 1234, 1234]);
  });

  it('reports a refused token request as AuthenticationError before any callback call', async () => {
    const platform = await FakePlatform.start();
    try {
      const client = new Client({
        ...CREDENTIALS,
        baseUrl: platform.baseUrl,
        thingspaceOauthCredentials: { oauthClientId: 'test-client', oauthClientSecret: 'wrong' },
      });
      const error = await client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT).catch((e) => e);

      assert.ok(error instanceof AuthenticationError);
      assert.ok(error instanceof ApiError);
      assert.equal(error.statusCode, 401);
      assert.equal(error.errorCode, 'invalid_client');
      assert.match(error.message, /^OAuth token request failed: .*Unknown client or wrong secret/);
      assert.equal(platform.callbackRequests.length, 0);
    } finally {
      await platform.close();
    }
  });
});
