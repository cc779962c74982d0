// test tier: full (the reliability suite: npm test and npm run test:reliability)
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startListener, type TestListener } from './delivery-fixtures.js';
import {
  adminHeaders,
  DEV_CREDENTIALS,
  eventually,
  type JsonResponse,
  login,
  send,
  startTestServer,
  type TestServer,
} from './helpers.js';

/**
 * The HTTP defects the reliability review found (issue 12: 2, 8, 11, 12, 16, 17), each pinned by the
 * request that showed it: every answer a 4xx in the envelope, and nothing stored or changed.
 */
const account = DEV_CREDENTIALS.accountName;

// biome-ignore lint/suspicious/noExplicitAny: the body's shape is what is being checked
function assertRefused(response: JsonResponse<any>, status: number, errorCode: string, message?: RegExp) {
  assert.equal(response.status, status, response.text);
  assert.equal(response.body?.errorCode, errorCode, response.text);
  assert.equal(typeof response.body.errorMessage, 'string');
  if (message) assert.match(response.body.errorMessage, message);
}

describe('reliability: the HTTP surface refuses what it cannot keep exactly', () => {
  let server: TestServer;
  let admin: Record<string, string>;
  const url = (path: string) => `${server.baseUrl}/admin/v1${path}`;
  const publish = (body: unknown) => send(url('/messages'), { method: 'POST', headers: admin, body });
  const messageCount = async () => {
    const stats = await server.ctx.store.messages.stats(Date.now());
    return Object.values(stats.counts).reduce((sum, n) => sum + n, 0);
  };

  before(async () => {
    server = await startTestServer({ env: { CCB_ALLOWED_PORTS: 'any' } });
    admin = adminHeaders(server);
  });
  after(() => server.close());

  describe('unknown keys are refused, never stripped (defect 2)', () => {
    it('refuses a misspelled bulk-replay filter and re-queues nothing', async () => {
      const published = await publish({ accountName: account, serviceName: 'CarrierService', payload: { n: 1 } });
      assert.equal(published.status, 202);
      const before_ = await server.ctx.store.messages.get(published.body.messageId);
      const response = await send(url('/messages/replay'), {
        method: 'POST',
        headers: admin,
        body: { filter: { stauts: 'failed' } },
      });
      assertRefused(response, 400, 'INPUT_INVALID.Request.UnknownField', /stauts/);
      const after_ = await server.ctx.store.messages.get(published.body.messageId);
      assert.deepEqual(after_?.message, before_?.message);
    });

    it('needs an explicit "all": true to replay with an empty filter, and refuses both at once', async () => {
      for (const body of [{}, { filter: {} }, { all: false }, { filter: {}, all: false }]) {
        const response = await send(url('/messages/replay'), { method: 'POST', headers: admin, body });
        assertRefused(response, 400, 'INPUT_INVALID.Request.Body', /"all": true/);
      }
      const both = await send(url('/messages/replay'), {
        method: 'POST',
        headers: admin,
        body: { filter: { status: 'failed' }, all: true },
      });
      assertRefused(both, 400, 'INPUT_INVALID.Request.Body', /either/);
      const all = await send(url('/messages/replay'), { method: 'POST', headers: admin, body: { all: true } });
      assert.equal(all.status, 202, all.text);
      const filtered = await send(url('/messages/replay'), {
        method: 'POST',
        headers: admin,
        body: { filter: { status: 'failed' } },
      });
      assert.equal(filtered.status, 202, filtered.text);
    });

    it('refuses unknown keys in every admin body and in the message list filter', async () => {
      const count = await messageCount();
      assertRefused(
        await send(url('/clients'), { method: 'POST', headers: admin, body: { name: 'x', clientID: 'typo' } }),
        400,
        'INPUT_INVALID.Request.UnknownField',
        /clientID/,
      );
      assertRefused(
        await send(url('/users'), {
          method: 'POST',
          headers: admin,
          body: { username: 'strict', password: 'long password', accounts: [], acounts: [account] },
        }),
        400,
        'INPUT_INVALID.Request.UnknownField',
      );
      assertRefused(
        await publish({ accountName: account, serviceName: 'CarrierService', payload: {}, idempotencyKey: 'k' }),
        400,
        'INPUT_INVALID.Request.UnknownField',
      );
      assertRefused(
        await send(url('/messages/batch'), {
          method: 'POST',
          headers: admin,
          body: { messages: [{ accountName: account, serviceName: 'CarrierService', payload: {}, status: 'x' }] },
        }),
        400,
        'INPUT_INVALID.Request.UnknownField',
        /messages\.0/,
      );
      assertRefused(
        await send(url('/messages?stauts=failed'), { headers: admin }),
        400,
        'INPUT_INVALID.Request.UnknownField',
      );
      assertRefused(
        await send(url('/registrations?acountName=x'), { headers: admin }),
        400,
        'INPUT_INVALID.Request.UnknownField',
      );
      assert.equal(await messageCount(), count);
      assert.equal(await server.ctx.store.auth.getUser('strict'), null);
    });
  });

  describe('inputs that used to answer 500 (defect 8)', () => {
    it('refuses a payload nested 5,000 deep with 400', async () => {
      const count = await messageCount();
      const body = `{"accountName":"${account}","serviceName":"CarrierService","payload":{"n":${'['.repeat(5000)}${']'.repeat(5000)}}}`;
      assertRefused(await publish(body), 400, 'INPUT_INVALID.Request.Depth', /64/);
      assert.equal(await messageCount(), count);
    });

    it('refuses a limit that is not plain digits from 1 to 1000, never reading it loosely', async () => {
      for (const limit of ['1e400', 'Infinity', '0x10', '1e3', '1.5', '-1', '0', '1001', ' 5']) {
        assertRefused(
          await send(url(`/messages?limit=${limit.replace(' ', '%20')}`), { headers: admin }),
          400,
          'INPUT_INVALID.Request.Query',
          /1 to 1000/,
        );
      }
      assertRefused(
        await send(url('/messages?limit=5&limit=6'), { headers: admin }),
        400,
        'INPUT_INVALID.Request.Query',
      );
      assert.equal((await send(url('/messages?limit=1000'), { headers: admin })).status, 200);
    });

    it('refuses a cursor above 2^53 with 400', async () => {
      for (const cursor of ['9999999999999999', '9007199254740993', '1'.repeat(40)]) {
        assertRefused(
          await send(url(`/messages?cursor=${cursor}`), { headers: admin }),
          400,
          'INPUT_INVALID.Request.Query',
        );
      }
    });

    it('creates a client once when the same id is created concurrently; the others get 409', async () => {
      const responses = await Promise.all(
        Array.from({ length: 12 }, () =>
          send(url('/clients'), { method: 'POST', headers: admin, body: { name: 'race', clientId: 'raced-client' } }),
        ),
      );
      const statuses = responses.map((r) => r.status).sort();
      assert.deepEqual(statuses, [201, ...Array(11).fill(409)], JSON.stringify(responses.map((r) => r.text)));
      for (const response of responses.filter((r) => r.status === 409)) {
        assertRefused(response, 409, 'REQUEST_FAILED.AlreadyExists');
      }
    });
  });

  it('answers a static path it may not serve in the envelope, not with a 5xx (defect 11)', async () => {
    // A NUL in any part of a request is refused by the one text rule (api/request-text.ts), here too.
    assertRefused(await send(`${server.baseUrl}/ui/a%00b`), 400, 'INPUT_INVALID.Request.Encoding');
  });

  it('refuses a publish that is not UTF-8, or declares another charset, and stores nothing (defect 12)', async () => {
    const count = await messageCount();
    const bytes = Buffer.concat([
      Buffer.from(`{"accountName":"${account}","serviceName":"CarrierService","payload":{"name":"caf`),
      Buffer.from([0xe9]),
      Buffer.from('"}}'),
    ]);
    const invalid = await fetch(url('/messages'), { method: 'POST', headers: admin, body: bytes });
    const text = await invalid.text();
    assertRefused(
      { status: invalid.status, headers: invalid.headers, text, body: JSON.parse(text) },
      400,
      'INPUT_INVALID.Request.Encoding',
    );
    const latin1 = await send(url('/messages'), {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json; charset=windows-1252' },
      body: { accountName: account, serviceName: 'CarrierService', payload: {} },
    });
    assertRefused(latin1, 415, 'INPUT_INVALID.Request.ContentType', /windows-1252/);
    assert.equal(await messageCount(), count);
  });

  describe('limits (defect 16)', () => {
    it('enforces the 1 MiB message limit inside a batch, and says so', async () => {
      const count = await messageCount();
      const big = 'x'.repeat(1024 * 1024);
      const response = await send(url('/messages/batch'), {
        method: 'POST',
        headers: admin,
        body: {
          messages: [
            { accountName: account, serviceName: 'CarrierService', payload: { small: true } },
            { accountName: account, serviceName: 'CarrierService', payload: { big } },
          ],
        },
      });
      assertRefused(response, 413, 'INPUT_INVALID.Request.TooLarge', /messages\[1\]\.payload .*1 MiB/);
      assert.equal(await messageCount(), count, 'the batch is refused whole');
    });

    it('names the real limit of the route in every 413', async () => {
      const batch = await send(url('/messages/batch'), {
        method: 'POST',
        headers: admin,
        body: {
          messages: [
            { accountName: account, serviceName: 'CarrierService', payload: { big: 'y'.repeat(17 * 1024 * 1024) } },
          ],
        },
      });
      assertRefused(batch, 413, 'INPUT_INVALID.Request.TooLarge', /16 MiB/);
      const single = await publish({
        accountName: account,
        serviceName: 'CarrierService',
        payload: { big: 'y'.repeat(1024 * 1024) },
      });
      assertRefused(single, 413, 'INPUT_INVALID.Request.TooLarge', /1 MiB/);
      for (const type of ['application/x-www-form-urlencoded', 'application/json']) {
        const token = await send(`${server.apiUrl}/ts/v1/oauth2/token`, {
          method: 'POST',
          headers: { 'content-type': type },
          body: `grant_type=client_credentials&padding=${'z'.repeat(20_000)}`,
        });
        assertRefused(token, 413, 'INPUT_INVALID.Request.TooLarge', /16 KiB/);
      }
    });
  });

  describe('no value changes on the way (defect 17)', () => {
    let listener: TestListener;
    before(async () => {
      listener = await startListener(() => ({ status: 204 }));
    });
    after(() => listener.close());

    it('refuses values of the wrong JSON type instead of coercing them', async () => {
      const { headers } = await login(server);
      const callbacks = `${server.apiUrl}/m2m/v1/callbacks/${account}`;
      const before_ = await server.ctx.store.registrations.list(account);
      assertRefused(
        await send(callbacks, {
          method: 'POST',
          headers,
          body: { name: 'CarrierService', url: ['https://hooks.example.net/'] },
        }),
        400,
        'INPUT_INVALID.Url',
      );
      assertRefused(
        await send(callbacks, {
          method: 'POST',
          headers,
          body: { name: 'CarrierService', url: 'https://hooks.example.net/', username: 1234 },
        }),
        400,
        'INPUT_INVALID.Username',
      );
      assertRefused(
        await send(callbacks, {
          method: 'POST',
          headers,
          body: { name: ['CarrierService'], url: 'https://hooks.example.net/' },
        }),
        400,
        'INPUT_INVALID.ServiceName',
      );
      assert.deepEqual(await server.ctx.store.registrations.list(account), before_);
      assertRefused(
        await send(url('/users'), {
          method: 'POST',
          headers: admin,
          body: { username: 'coerced', password: 12345678, accounts: [] },
        }),
        400,
        'INPUT_INVALID.Password',
      );
      assertRefused(
        await send(url('/users'), {
          method: 'POST',
          headers: admin,
          body: { username: 'coerced', password: 'long password', accounts: account },
        }),
        400,
        'INPUT_INVALID.AccountName',
      );
      assert.equal(await server.ctx.store.auth.getUser('coerced'), null);
    });

    it('refuses numbers a 64-bit float cannot keep, naming them, and stores nothing', async () => {
      const count = await messageCount();
      for (const literal of [
        '1e400',
        '-1e400',
        '12345678901234567890123',
        '9007199254740993',
        '1e-400',
        '0.30000000000000000001',
      ]) {
        const response = await publish(
          `{"accountName":"${account}","serviceName":"CarrierService","payload":{"value":${literal}}}`,
        );
        assertRefused(response, 400, 'INPUT_INVALID.Request.Number', new RegExp(literal.replace(/[.+-]/g, '\\$&')));
      }
      assert.equal(await messageCount(), count);
    });

    it('delivers a payload with the numbers the producer sent', async () => {
      const { headers } = await login(server);
      const registered = await send(`${server.apiUrl}/m2m/v1/callbacks/${account}`, {
        method: 'POST',
        headers,
        body: { name: 'DeviceUsage', url: `http://127.0.0.1:${listener.port}/usage` },
      });
      assert.equal(registered.status, 200, registered.text);
      const payload =
        '{"bytes":9007199254740991,"ratio":0.1,"scaled":1.5e3,"tiny":5e-324,"large":1e21,"negative":-42,"text":"1e400"}';
      const published = await publish(`{"accountName":"${account}","serviceName":"DeviceUsage","payload":${payload}}`);
      assert.equal(published.status, 202, published.text);
      const [delivered] = await listener.waitFor(1, 10_000);
      const sent = JSON.parse(payload) as Record<string, unknown>;
      for (const [key, value] of Object.entries(sent)) assert.equal(delivered.body[key], value, key);
      assert.match(delivered.raw, /"bytes":9007199254740991/);
      await eventually(
        async () => (await server.ctx.store.messages.get(published.body.messageId))?.message.status === 'delivered',
      );
    });
  });
});
