import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { hashToken } from '../src/security/tokens.js';
import {
  accessToken,
  adminHeaders,
  createUser,
  DEV_CREDENTIALS,
  type JsonResponse,
  login,
  send,
  startTestServer,
  type TestServer,
} from './helpers.js';

const account = DEV_CREDENTIALS.accountName;
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
const form = 'application/x-www-form-urlencoded';

// biome-ignore lint/suspicious/noExplicitAny: the body's shape is what is being checked
function assertEnvelope(response: JsonResponse<any>, status: number, errorCode: string, label = '') {
  assert.equal(response.status, status, `${label} ${response.text}`);
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/, label);
  assert.equal(response.body?.errorCode, errorCode, `${label} ${response.text}`);
  assert.equal(typeof response.body.errorMessage, 'string', label);
  assert.ok(response.body.errorMessage.length > 0, label);
}

/** Writes raw bytes on a new connection and returns everything the server sends before it closes. */
function rawExchange(baseUrl: string, request: string): Promise<string> {
  const { port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      // One response is enough; a kept-alive connection would otherwise wait for the idle timeout.
      const text = Buffer.concat(chunks).toString('utf8');
      const length = /content-length: (\d+)/i.exec(text);
      const head = text.indexOf('\r\n\r\n');
      if (length && head >= 0 && Buffer.byteLength(text.slice(head + 4)) >= Number(length[1])) socket.end();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

function parseRaw(text: string): {
  status: number;
  headers: string;
  body: { errorCode?: string; errorMessage?: string };
} {
  const head = text.indexOf('\r\n\r\n');
  return {
    status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]),
    headers: text.slice(0, head),
    body: JSON.parse(text.slice(head + 4)),
  };
}

describe('error statuses as the platform answers them (SPEC §3)', () => {
  let server: TestServer;
  let now = Date.now();
  const callbacks = (aname: string = account) => `${server.apiUrl}/m2m/v1/callbacks/${aname}`;

  before(async () => {
    server = await startTestServer({ clock: () => now });
  });
  after(() => server.close());

  it('answers 400 with a distinct code to every session-token problem: missing, unknown, logged out, expired', async () => {
    const bearer = await accessToken(server);
    const missing = await send(callbacks(), { headers: { authorization: `Bearer ${bearer}` } });
    assertEnvelope(missing, 400, 'REQUEST_FAILED.SessionToken.Format', 'missing');

    const unknown = await send(callbacks(), { headers: { authorization: `Bearer ${bearer}`, 'vz-m2m-token': 'nope' } });
    assertEnvelope(unknown, 400, 'INPUT_INVALID.SessionToken.Invalid', 'unknown');

    const { headers } = await login(server);
    assert.equal((await send(`${server.apiUrl}/m2m/v1/session/logout`, { method: 'POST', headers })).status, 200);
    assertEnvelope(await send(callbacks(), { headers }), 400, 'INPUT_INVALID.SessionToken.Invalid', 'logged out');

    await server.ctx.store.auth.saveSession({
      tokenHash: hashToken('expired-session'),
      username: 'demo',
      clientId: 'demo-client',
      expiresAt: now - 1,
    });
    const expired = await send(callbacks(), {
      headers: { authorization: `Bearer ${bearer}`, 'vz-m2m-token': 'expired-session' },
    });
    assertEnvelope(expired, 400, 'REQUEST_FAILED.SessionToken.Expired', 'expired');
  });

  it('answers 400 to a wrong password and to a locked user, with distinct codes', async () => {
    await createUser(server, 'statuses', 'right-password', [account]);
    const bearer = await accessToken(server);
    const attempt = (password: string) =>
      send(`${server.apiUrl}/m2m/v1/session/login`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
        body: { username: 'statuses', password },
      });
    for (let i = 0; i < 4; i++) assertEnvelope(await attempt('wrong'), 400, 'REQUEST_FAILED.Login.InvalidCredentials');
    assertEnvelope(await attempt('wrong'), 400, 'REQUEST_FAILED.Login.UserLocked', 'fifth');
    assertEnvelope(await attempt('right-password'), 400, 'REQUEST_FAILED.Login.UserLocked', 'locked');
  });

  it('answers 400 REQUEST_FAILED.AccountName naming the account and user on list, register and deregister', async () => {
    const { headers } = await login(server);
    const other = callbacks('0000999999-00001');
    const responses = [
      await send(other, { headers }),
      await send(other, { method: 'POST', headers, body: { name: 'CarrierService', url: 'https://a.example.net/' } }),
      await send(`${other}/name/CarrierService`, { method: 'DELETE', headers }),
    ];
    for (const response of responses) {
      assertEnvelope(response, 400, 'REQUEST_FAILED.AccountName');
      assert.equal(response.body.errorMessage, 'account 0000999999-00001 is not managed by user demo');
    }
  });

  it('answers 400 to invalid input and to an unknown registration', async () => {
    const { headers } = await login(server);
    const invalid = await send(callbacks(), {
      method: 'POST',
      headers,
      body: { name: 'Nope', url: 'https://a.example/' },
    });
    assertEnvelope(invalid, 400, 'INPUT_INVALID.ServiceName');
    const unknown = await send(`${callbacks()}/name/CarrierService`, { method: 'DELETE', headers });
    assertEnvelope(unknown, 400, 'REQUEST_FAILED.CallbackNotFound');
  });

  it('keeps 401 for the access token alone: missing, unknown or expired Bearer, with WWW-Authenticate', async () => {
    const { sessionToken } = await login(server);
    const missing = await send(callbacks(), { headers: { 'vz-m2m-token': sessionToken } });
    assertEnvelope(missing, 401, 'REQUEST_FAILED.AccessToken.Missing');
    assert.match(missing.headers.get('www-authenticate') ?? '', /^Bearer realm=/);

    const unknown = await send(callbacks(), {
      headers: { authorization: 'Bearer nope', 'vz-m2m-token': sessionToken },
    });
    assertEnvelope(unknown, 401, 'REQUEST_FAILED.AccessToken.Invalid');
    assert.match(unknown.headers.get('www-authenticate') ?? '', /error="invalid_token"/);

    const bearer = await accessToken(server);
    now += 60 * 60 * 1000 + 1;
    try {
      const expired = await send(callbacks(), { headers: { authorization: `Bearer ${bearer}`, 'vz-m2m-token': 'x' } });
      assertEnvelope(expired, 401, 'REQUEST_FAILED.AccessToken.Expired');
      assert.match(expired.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    } finally {
      now -= 60 * 60 * 1000 + 1;
    }
  });

  describe('token endpoint', () => {
    const token = (headers: Record<string, string>, body = 'grant_type=client_credentials') =>
      send(`${server.apiUrl}/ts/v1/oauth2/token`, { method: 'POST', headers, body });

    it('answers bad client credentials with 401, invalid_client and WWW-Authenticate: Basic', async () => {
      const attempts: Record<string, string>[] = [
        { 'content-type': form },
        { authorization: basic('demo-client', 'wrong'), 'content-type': form },
        { authorization: basic('nobody', 'demo-secret'), 'content-type': form },
      ];
      for (const headers of attempts) {
        const response = await token(headers);
        assertEnvelope(response, 401, 'REQUEST_FAILED.ClientCredentials', JSON.stringify(headers));
        assert.equal(response.body.error, 'invalid_client');
        assert.equal(response.body.error_description, response.body.errorMessage);
        assert.match(response.headers.get('www-authenticate') ?? '', /^Basic realm="[^"]+"/);
      }
    });

    it('answers a missing grant type with invalid_request and another with unsupported_grant_type', async () => {
      const headers = { authorization: basic('demo-client', 'demo-secret'), 'content-type': form };
      const missing = await token(headers, 'scope=m2m');
      assertEnvelope(missing, 400, 'INPUT_INVALID.GrantType');
      assert.equal(missing.body.error, 'invalid_request');
      assert.equal(missing.body.error_description, missing.body.errorMessage);
      assert.equal(missing.headers.get('www-authenticate'), null);

      const other = await token(headers, 'grant_type=password');
      assertEnvelope(other, 400, 'INPUT_INVALID.GrantType');
      assert.equal(other.body.error, 'unsupported_grant_type');
    });

    it('gives a body it cannot read the OAuth fields too', async () => {
      const response = await token(
        { authorization: basic('demo-client', 'demo-secret'), 'content-type': 'text/xml' },
        '<x/>',
      );
      assertEnvelope(response, 415, 'INPUT_INVALID.Request.ContentType');
      assert.equal(response.body.error, 'invalid_request');
    });
  });

  it('accepts a bodiless POST to logout whatever its Content-Type, and refuses a non-JSON body with 415', async () => {
    for (const contentType of [form, 'text/plain', 'application/json', 'multipart/form-data; boundary=x']) {
      const { headers, sessionToken } = await login(server);
      const out = await send(`${server.apiUrl}/m2m/v1/session/logout`, {
        method: 'POST',
        headers: { ...headers, 'content-type': contentType },
        body: '',
      });
      assert.equal(out.status, 200, `${contentType}: ${out.text}`);
      assert.deepEqual(out.body, { sessionToken });
    }
    const { headers } = await login(server);
    const refused = await send(callbacks(), {
      method: 'POST',
      headers: { ...headers, 'content-type': form },
      body: 'name=CarrierService&url=https://a.example/',
    });
    assertEnvelope(refused, 415, 'INPUT_INVALID.Request.ContentType');
  });

  describe('errors the HTTP framework raises, in the envelope', () => {
    it('answers an over-long account name or URL with 414', async () => {
      const { headers } = await login(server);
      assertEnvelope(await send(callbacks('a'.repeat(200)), { headers }), 414, 'INPUT_INVALID.Request.UriTooLong');
      assertEnvelope(
        await send(`${server.baseUrl}/healthz?x=${'a'.repeat(9000)}`),
        414,
        'INPUT_INVALID.Request.UriTooLong',
      );
    });

    it('answers a wrong method on a known path with 405 and Allow', async () => {
      const { headers } = await login(server);
      const response = await send(callbacks(), { method: 'PUT', headers, body: {} });
      assertEnvelope(response, 405, 'REQUEST_FAILED.MethodNotAllowed');
      assert.deepEqual(response.headers.get('allow')?.split(', ').sort(), ['GET', 'HEAD', 'POST']);
      assertEnvelope(await send(`${server.baseUrl}/nowhere`), 404, 'REQUEST_FAILED.ResourceNotFound');
    });

    it('answers a route it does not serve with 404, or 405 and Allow, whatever the body and its type', async () => {
      const { headers } = await login(server);
      const bodies: [string, string][] = [
        ['text/plain', 'hello'],
        [form, 'name=CarrierService'],
        ['application/json', '{not json'],
        ['application/json; charset=latin1', '{}'],
        ['application/xml', '<a/>'],
      ];
      for (const [contentType, body] of bodies) {
        const label = `${contentType} ${body}`;
        const nowhere = await send(`${server.baseUrl}/admin/v1/nowhere`, {
          method: 'POST',
          headers: { ...adminHeaders(server), 'content-type': contentType },
          body,
        });
        assertEnvelope(nowhere, 404, 'REQUEST_FAILED.ResourceNotFound', label);
        const wrongMethod = await send(callbacks(), {
          method: 'PUT',
          headers: { ...headers, 'content-type': contentType },
          body,
        });
        assertEnvelope(wrongMethod, 405, 'REQUEST_FAILED.MethodNotAllowed', label);
        assert.deepEqual(wrongMethod.headers.get('allow')?.split(', ').sort(), ['GET', 'HEAD', 'POST'], label);
      }
    });

    it('reads a JSON body sent as Content-Type */* (generated SDKs), and accepts */* on a bodiless call', async () => {
      const { headers } = await login(server);
      const anyType = { ...headers, 'content-type': '*/*' };
      const registered = await send(callbacks(), {
        method: 'POST',
        headers: anyType,
        body: { name: 'DeviceUsage', url: 'https://any-type.example/hook' },
      });
      assert.equal(registered.status, 200, registered.text);
      const listed = await send(callbacks(), { headers: anyType });
      assert.equal(listed.status, 200, listed.text);
      const removed = await send(`${callbacks()}/name/DeviceUsage`, { method: 'DELETE', headers: anyType });
      assert.equal(removed.status, 200, removed.text);
      assertEnvelope(
        await send(callbacks(), { method: 'POST', headers: anyType, body: 'name=DeviceUsage' }),
        400,
        'INPUT_INVALID.Request.Json',
      );
    });

    it('answers headers over the limit with 431', async () => {
      const response = await send(`${server.baseUrl}/healthz`, { headers: { 'x-padding': 'a'.repeat(20_000) } });
      assertEnvelope(response, 431, 'INPUT_INVALID.Request.HeadersTooLarge');
    });

    it('refuses a body that is not valid UTF-8 with 400 and one in another charset with 415', async () => {
      const invalid = await fetch(`${server.baseUrl}/admin/v1/users`, {
        method: 'POST',
        headers: adminHeaders(server),
        body: Buffer.concat([
          Buffer.from('{"username":"latin'),
          Buffer.from([0xe9]),
          Buffer.from('","password":"long enough","accounts":[]}'),
        ]),
      });
      const invalidText = await invalid.text();
      assertEnvelope(
        { status: invalid.status, headers: invalid.headers, text: invalidText, body: JSON.parse(invalidText) },
        400,
        'INPUT_INVALID.Request.Encoding',
      );
      const latin1 = await send(`${server.baseUrl}/admin/v1/users`, {
        method: 'POST',
        headers: { ...adminHeaders(server), 'content-type': 'application/json; charset=iso-8859-1' },
        body: { username: 'latin', password: 'long enough', accounts: [] },
      });
      assertEnvelope(latin1, 415, 'INPUT_INVALID.Request.ContentType');
      assert.match(latin1.body.errorMessage, /iso-8859-1/);
      assert.equal(await server.ctx.store.auth.getUser('latin\ufffd'), null);
      assert.equal(await server.ctx.store.auth.getUser('latin'), null);
      const utf8 = await send(`${server.baseUrl}/admin/v1/users`, {
        method: 'POST',
        headers: { ...adminHeaders(server), 'content-type': 'application/json; charset=UTF-8' },
        body: { username: 'latin', password: 'long enough', accounts: [] },
      });
      assert.equal(utf8.status, 201, utf8.text);
    });

    it('answers a malformed percent-encoding with 400', async () => {
      assertEnvelope(await send(`${server.apiUrl}/m2m/v1/callbacks/%zz`), 400, 'INPUT_INVALID.Request.Url');
    });

    it('answers a request that is not HTTP, or lacks Host, with 400 in the envelope', async () => {
      const garbage = parseRaw(await rawExchange(server.baseUrl, 'HELLO THERE\r\n\r\n'));
      assert.equal(garbage.status, 400);
      assert.equal(garbage.body.errorCode, 'INPUT_INVALID.Request.Malformed');

      const noHost = parseRaw(await rawExchange(server.baseUrl, 'GET /healthz HTTP/1.1\r\n\r\n'));
      assert.equal(noHost.status, 400);
      assert.equal(noHost.body.errorCode, 'INPUT_INVALID.Request.Host');
    });
  });
});

describe('a request that does not arrive in time', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ env: { CCB_HEADERS_TIMEOUT: '500ms', CCB_REQUEST_TIMEOUT: '1s' } });
  });
  after(() => server.close());

  it('is answered 408 in the envelope and its connection closed', async () => {
    const started = Date.now();
    const text = await rawExchange(
      server.baseUrl,
      `POST /admin/v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${server.adminToken}\r\n` +
        'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"acc',
    );
    const response = parseRaw(text);
    assert.equal(response.status, 408);
    assert.equal(response.body.errorCode, 'REQUEST_FAILED.RequestTimeout');
    assert.match(response.headers, /connection: close/i);
    assert.ok(Date.now() - started < 10_000, 'cut within the request timeout and the check interval');
  });
});
