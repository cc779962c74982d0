import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hashPassword } from '../src/security/passwords.js';
import { DEV_CREDENTIALS, inject, login, send, startTestServer, type TestServer } from './helpers.js';

const account = DEV_CREDENTIALS.accountName;

describe('input validation (SPEC §3): refused with 400/413/415 and nothing changes', () => {
  let server: TestServer;
  let headers: Record<string, string>;
  let callbacks: string;
  let before_: string;

  before(async () => {
    // Not the dev profile: loopback listeners are refused like in production.
    server = await startTestServer({ dev: false });
    await server.ctx.store.auth.upsertUser({
      username: 'val',
      passwordHash: await hashPassword('val-password'),
      accounts: [account],
      createdAt: Date.now(),
    });
    await server.ctx.store.auth.createClient({
      clientId: DEV_CREDENTIALS.clientId,
      name: 'test',
      secretHash: await hashPassword(DEV_CREDENTIALS.clientSecret),
      createdAt: Date.now(),
    });
    ({ headers } = await login(server, 'val', 'val-password'));
    callbacks = `${server.apiUrl}/m2m/v1/callbacks/${account}`;
    const registered = await send(callbacks, {
      method: 'POST',
      headers,
      body: { name: 'CarrierService', url: 'https://hooks.example.net/carrier', username: 'u', password: 'p' },
    });
    assert.equal(registered.status, 200);
    before_ = (await send(callbacks, { headers })).text;
  });
  after(() => server.close());

  async function assertRefused(
    body: unknown,
    status: number,
    errorCode: string,
    message?: RegExp,
    extraHeaders: Record<string, string> = {},
  ) {
    const response = await send(callbacks, { method: 'POST', headers: { ...headers, ...extraHeaders }, body });
    assert.equal(response.status, status, response.text);
    assert.equal(response.body.errorCode, errorCode, response.text);
    assert.equal(typeof response.body.errorMessage, 'string');
    if (message) assert.match(response.body.errorMessage, message);
    assert.equal((await send(callbacks, { headers })).text, before_, 'the registrations changed');
  }

  const valid = { name: 'CarrierService', url: 'https://hooks.example.net/replaced' };

  it('refuses a name that is not a known callback service', async () => {
    await assertRefused({ ...valid, name: 'CarrierServices' }, 400, 'INPUT_INVALID.ServiceName', /CarrierService/);
    await assertRefused({ ...valid, name: 'AlertsService' }, 400, 'INPUT_INVALID.ServiceName');
    await assertRefused({ ...valid, name: '' }, 400, 'INPUT_INVALID.ServiceName');
  });

  it('refuses a missing name or url', async () => {
    await assertRefused({ url: valid.url }, 400, 'INPUT_INVALID.ServiceName', /name is required/);
    await assertRefused({ name: valid.name }, 400, 'INPUT_INVALID.Url', /url is required/);
  });

  it('refuses fields of the wrong type', async () => {
    await assertRefused({ ...valid, url: { href: 'https://x.example' } }, 400, 'INPUT_INVALID.Url');
    await assertRefused({ ...valid, username: ['a'] }, 400, 'INPUT_INVALID.Username');
  });

  it('refuses relative, non-http, over-long, credentialed and control-character URLs', async () => {
    const cases: [string, RegExp][] = [
      ['/relative/path', /absolute http or https/],
      ['ftp://hooks.example.net/', /absolute http or https/],
      ['javascript:alert(1)', /absolute http or https/],
      [`https://hooks.example.net/${'x'.repeat(2030)}`, /2048/],
      ['https://user:secret@hooks.example.net/', /credentials/],
      ['https://hooks.example.net/a b', /whitespace or control/],
      ['https://hooks.example.net/\u0007', /whitespace or control/],
    ];
    for (const [url, message] of cases) await assertRefused({ ...valid, url }, 400, 'INPUT_INVALID.Url', message);
  });

  it('refuses ports outside the allowed list and names the allowed ports', async () => {
    await assertRefused(
      { ...valid, url: 'https://hooks.example.net:8443/' },
      400,
      'INPUT_INVALID.Url',
      /80, 443, 9001-9006, 28200-28220, 50551-50559/,
    );
  });

  it('refuses forbidden addresses in any spelling', async () => {
    for (const url of [
      'http://127.0.0.1/',
      'http://localhost/',
      'http://2130706433/',
      'http://0x7f.0.0.1/',
      'http://[::ffff:127.0.0.1]/',
      'http://169.254.169.254/',
      'http://10.0.0.8/',
      'http://[fc00::8]/',
      'http://100.64.3.4/',
      'http://224.1.1.1/',
      'http://0.0.0.0/',
    ]) {
      await assertRefused({ ...valid, url }, 400, 'INPUT_INVALID.Url');
    }
  });

  it('refuses usernames and passwords over 40 characters or with non-printable characters', async () => {
    await assertRefused({ ...valid, username: 'u'.repeat(41) }, 400, 'INPUT_INVALID.Username', /40/);
    await assertRefused({ ...valid, password: 'p'.repeat(41) }, 400, 'INPUT_INVALID.Password', /40/);
    await assertRefused({ ...valid, password: 'tab\there' }, 400, 'INPUT_INVALID.Password', /printable/);
    await assertRefused({ ...valid, username: 'nul\u0000' }, 400, 'INPUT_INVALID.Username');
  });

  it('accepts 40 printable characters, including non-ASCII letters', async () => {
    const response = await inject(server, `/api/m2m/v1/callbacks/${account}`, {
      method: 'POST',
      headers,
      body: {
        name: 'DeviceUsage',
        url: 'https://hooks.example.net/usage',
        username: 'é'.repeat(40),
        password: 'p'.repeat(40),
      },
    });
    assert.equal(response.status, 200);
    await send(`${callbacks}/name/DeviceUsage`, { method: 'DELETE', headers });
  });

  it('refuses account names that are not 1-64 letters, digits, "-" or "_"', async () => {
    for (const aname of ['a'.repeat(65), 'bad%21name', 'with.dot', 'sp%20ace']) {
      const response = await inject(server, `/api/m2m/v1/callbacks/${aname}`, { headers });
      assert.equal(response.status, 400, aname);
      assert.equal(response.body.errorCode, 'INPUT_INVALID.AccountName');
      assert.match(response.body.errorMessage, /1 to 64/);
    }
  });

  it('refuses bodies over 1 MiB with 413', async () => {
    await assertRefused({ ...valid, padding: 'x'.repeat(1024 * 1024) }, 413, 'INPUT_INVALID.Request.TooLarge');
  });

  it('refuses a content type other than JSON with 415', async () => {
    await assertRefused(JSON.stringify(valid), 415, 'INPUT_INVALID.Request.ContentType', undefined, {
      'content-type': 'text/plain',
    });
    await assertRefused(
      'name=CarrierService&url=https://x.example',
      415,
      'INPUT_INVALID.Request.ContentType',
      undefined,
      {
        'content-type': 'application/x-www-form-urlencoded',
      },
    );
  });

  it('refuses malformed JSON, an empty body and a body that is not an object with 400', async () => {
    await assertRefused('{"name": "CarrierService",', 400, 'INPUT_INVALID.Request.Json');
    await assertRefused('', 400, 'INPUT_INVALID.RequestUndefined');
    await assertRefused([valid], 400, 'INPUT_INVALID.RequestUndefined');
    await assertRefused('"text"', 400, 'INPUT_INVALID.RequestUndefined');
  });

  it('refuses JSON that tries prototype poisoning', async () => {
    await assertRefused(
      '{"name":"CarrierService","url":"https://a.example/","__proto__":{"x":1}}',
      400,
      'INPUT_INVALID.Request.Json',
    );
  });
});
