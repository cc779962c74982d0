import assert from 'node:assert/strict';
import type { ClientRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import axios, { type AxiosError, type AxiosInstance, type AxiosResponse } from 'axios';
import { DEV_CREDENTIALS, login, startTestServer, type TestServer } from './helpers.js';

/**
 * The published, generated SDKs talk HTTP through axios 1.x with its defaults: a bare POST gets a form
 * Content-Type, and an error body is read only when it is JSON. This drives the server the same way.
 */
describe('a client shaped like the published SDKs (axios 1.x)', () => {
  let server: TestServer;
  let http: AxiosInstance;
  before(async () => {
    server = await startTestServer();
    http = axios.create({ baseURL: server.apiUrl, validateStatus: () => true });
  });
  after(() => server.close());

  function sentContentType(response: AxiosResponse): unknown {
    return (response.request as ClientRequest).getHeader('content-type');
  }

  async function refusal(request: Promise<AxiosResponse>, status: number, errorCode: string) {
    const response = await request;
    assert.equal(response.status, status, JSON.stringify(response.data));
    assert.equal(typeof response.data, 'object', 'the body was parsed as JSON');
    assert.equal(response.data.errorCode, errorCode);
    assert.equal(typeof response.data.errorMessage, 'string');
    return response;
  }

  it('logs out with a bare POST, which axios sends with a form Content-Type', async () => {
    const { headers, sessionToken } = await login(server);
    const response = await http.post('/m2m/v1/session/logout', undefined, {
      headers: { Authorization: headers.authorization, 'VZ-M2M-Token': sessionToken },
    });
    assert.equal(response.status, 200, JSON.stringify(response.data));
    assert.deepEqual(response.data, { sessionToken });
    assert.match(String(sentContentType(response)), /^application\/x-www-form-urlencoded/);
  });

  it('reads the envelope of one error of each kind', async () => {
    const { headers, accessToken } = await login(server);
    const m2m = { Authorization: headers.authorization, 'VZ-M2M-Token': headers['vz-m2m-token'] };
    const callbacks = `/m2m/v1/callbacks/${DEV_CREDENTIALS.accountName}`;

    await refusal(
      http.get(callbacks, { headers: { Authorization: `Bearer ${accessToken}`, 'VZ-M2M-Token': 'unknown' } }),
      400,
      'INPUT_INVALID.SessionToken.Invalid',
    );
    await refusal(
      http.post(
        '/m2m/v1/session/login',
        { username: 'demo', password: 'wrong' },
        { headers: { Authorization: `Bearer ${accessToken}` } },
      ),
      400,
      'REQUEST_FAILED.Login.InvalidCredentials',
    );
    await refusal(http.get('/m2m/v1/callbacks/0000999999-00001', { headers: m2m }), 400, 'REQUEST_FAILED.AccountName');
    await refusal(
      http.post(callbacks, { name: 'CarrierService', url: 'ftp://x.example/' }, { headers: m2m }),
      400,
      'INPUT_INVALID.Url',
    );
    await refusal(
      http.delete(`${callbacks}/name/DeviceUsage`, { headers: m2m }),
      400,
      'REQUEST_FAILED.CallbackNotFound',
    );
    await refusal(http.get(callbacks), 401, 'REQUEST_FAILED.AccessToken.Missing');

    const token = await refusal(
      http.post('/ts/v1/oauth2/token', 'grant_type=client_credentials', {
        auth: { username: DEV_CREDENTIALS.clientId, password: 'wrong' },
      }),
      401,
      'REQUEST_FAILED.ClientCredentials',
    );
    assert.equal(token.data.error, 'invalid_client');
    assert.equal(typeof token.data.error_description, 'string');
    assert.match(String(token.headers['www-authenticate']), /^Basic /);

    await refusal(http.put(callbacks, {}, { headers: m2m }), 405, 'REQUEST_FAILED.MethodNotAllowed');
    await refusal(http.get('/m2m/v1/nowhere', { headers: m2m }), 404, 'REQUEST_FAILED.ResourceNotFound');
  });

  it('gets the token with axios defaults and an error it can throw with the body attached', async () => {
    const strict = axios.create({ baseURL: server.apiUrl });
    const ok = await strict.post('/ts/v1/oauth2/token', 'grant_type=client_credentials', {
      auth: { username: DEV_CREDENTIALS.clientId, password: DEV_CREDENTIALS.clientSecret },
    });
    assert.equal(ok.data.token_type, 'bearer');
    const error = (await strict
      .get(`/m2m/v1/callbacks/${DEV_CREDENTIALS.accountName}`, {
        headers: { Authorization: `Bearer ${ok.data.access_token}` },
      })
      .catch((e: unknown) => e)) as AxiosError<{ errorCode: string }>;
    assert.ok(axios.isAxiosError(error));
    assert.equal(error.response?.status, 400);
    assert.equal(error.response?.data.errorCode, 'REQUEST_FAILED.SessionToken.Format');
  });
});
