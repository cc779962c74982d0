import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { SERVICE_NAMES } from '@ccb/sdk';
import Fastify from 'fastify';
import { MAX_BATCH_SIZE, runSimulation, SimulationError } from '../src/cli/simulate.js';
import { childProcessTest, runCcb } from './server-process.js';

interface PublishedMessage {
  accountName: string;
  serviceName: string;
  payload: Record<string, unknown>;
}

const closers: Array<() => Promise<void>> = [];
after(async () => {
  await Promise.all(closers.map((close) => close()));
});

/** A stand-in for the admin batch endpoint that records what it receives. */
async function startAdminApi(answer?: (batch: PublishedMessage[]) => { status: number; body: unknown }) {
  const batches: Array<{ at: number; messages: PublishedMessage[]; authorization?: string }> = [];
  const app = Fastify({ bodyLimit: 16 * 1024 * 1024 });
  let nextId = 0;
  app.post<{ Body: { messages: PublishedMessage[] } }>('/admin/v1/messages/batch', async (request, reply) => {
    batches.push({
      at: performance.now(),
      messages: request.body.messages,
      authorization: request.headers.authorization,
    });
    const { status, body } = answer?.(request.body.messages) ?? {
      status: 202,
      body: { messageIds: request.body.messages.map(() => `msg_${++nextId}`) },
    };
    return reply.code(status).send(body);
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  closers.push(() => app.close());
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, batches };
}

describe('runSimulation', () => {
  it('publishes example payloads for the account, cycling through every service in catalogue order', async () => {
    const api = await startAdminApi();
    const summary = await runSimulation({
      server: api.url,
      adminToken: 'dev-admin-token',
      account: '0000123456-00001',
      count: 40,
    });
    assert.equal(summary.published, 40);
    assert.equal(summary.failed, 0);
    const messages = api.batches.flatMap((batch) => batch.messages);
    assert.deepEqual(
      messages.map((message) => message.serviceName),
      Array.from({ length: 40 }, (_, i) => SERVICE_NAMES[i % SERVICE_NAMES.length]),
    );
    assert.ok(messages.every((message) => message.accountName === '0000123456-00001'));
    assert.equal(api.batches[0].authorization, 'Bearer dev-admin-token');
    const requestIds = new Set(messages.map((message) => message.payload.requestId).filter(Boolean));
    assert.ok(requestIds.size >= 30, 'fresh request ids');
  });

  it('leaves the keys the delivery engine sets out of the payload', async () => {
    const api = await startAdminApi();
    await runSimulation({ server: api.url, adminToken: 't', account: 'a-1', service: 'CarrierService', count: 5 });
    for (const { payload, serviceName } of api.batches[0].messages) {
      assert.equal(serviceName, 'CarrierService');
      for (const key of ['username', 'password', 'callbackCount', 'maxCallbackThreshold']) {
        assert.equal(key in payload, false, key);
      }
      assert.equal(payload.status, 'Success');
      assert.equal(typeof payload.deviceResponse, 'object');
    }
  });

  it('sends at most 1,000 messages per batch', async () => {
    const api = await startAdminApi();
    const summary = await runSimulation({ server: api.url, adminToken: 't', account: 'a-1', count: 2500 });
    assert.equal(summary.published, 2500);
    assert.deepEqual(
      api.batches.map((batch) => batch.messages.length),
      [MAX_BATCH_SIZE, MAX_BATCH_SIZE, 500],
    );
  });

  it('paces batches so the average rate holds', async () => {
    const api = await startAdminApi();
    // A fake clock: time moves only when the simulation sleeps, so each wait is exact.
    let now = 0;
    const waits: number[] = [];
    const clock = {
      now: () => now,
      sleep: async (ms: number) => {
        waits.push(ms);
        now += ms;
      },
    };
    const summary = await runSimulation({
      server: api.url,
      adminToken: 't',
      account: 'a-1',
      count: 100,
      rate: 200,
      clock,
    });
    // Batches of 20 (a tenth of a second's worth): each is due 100 ms after the one before at 200 msg/s.
    assert.deepEqual(
      api.batches.map((batch) => batch.messages.length),
      [20, 20, 20, 20, 20],
    );
    assert.deepEqual(waits, [100, 100, 100, 100]);
    assert.equal(summary.elapsedMs, 400);
    assert.equal(summary.ratePerSecond, 250);
  });

  it('catches up after a slow batch instead of losing the time', async () => {
    const api = await startAdminApi();
    let now = 0;
    const waits: number[] = [];
    const clock = {
      now: () => now,
      sleep: async (ms: number) => {
        waits.push(ms);
        now += ms;
      },
    };
    // The second batch takes 250 ms: the third and fourth are then due at once, the fifth on time.
    const summary = await runSimulation({
      server: api.url,
      adminToken: 't',
      account: 'a-1',
      count: 100,
      rate: 200,
      clock,
      onProgress: (published) => {
        if (published === 40) now += 250;
      },
    });
    assert.equal(summary.published, 100);
    assert.deepEqual(waits, [100, 50]);
  });

  it('stops with the server errorMessage when a batch is refused', async () => {
    const api = await startAdminApi(() => ({
      status: 401,
      body: { errorCode: 'UnAuthorized', errorMessage: 'Admin token is missing or invalid' },
    }));
    await assert.rejects(
      runSimulation({ server: api.url, adminToken: 'wrong', account: 'a-1', count: 10 }),
      (error: unknown) =>
        error instanceof SimulationError &&
        /Admin token is missing or invalid/.test(error.message) &&
        error.summary.published === 0 &&
        error.summary.failed === 10,
    );
  });

  it('says the server cannot be reached', async () => {
    const api = await startAdminApi();
    await closers.pop()?.();
    await assert.rejects(
      runSimulation({ server: api.url, adminToken: 't', account: 'a-1', count: 1 }),
      /Cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/,
    );
  });
});

describe('ccb simulate', childProcessTest, () => {
  it('publishes and prints a JSON summary', async () => {
    const api = await startAdminApi();
    const result = await runCcb(['simulate', '--account', '0000123456-00001', '--count', '20', '--json'], {
      CCB_SERVER: api.url,
      CCB_ADMIN_TOKEN: 'from-env',
    });
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout);
    assert.equal(summary.published, 20);
    assert.equal(summary.failed, 0);
    assert.equal(typeof summary.elapsedMs, 'number');
    assert.equal(api.batches[0].authorization, 'Bearer from-env');
  });

  it('prints the server errorMessage and exits non-zero without a stack trace', async () => {
    const api = await startAdminApi(() => ({
      status: 400,
      body: { errorCode: 'INPUT_INVALID.Account', errorMessage: 'Account is not known' },
    }));
    const result = await runCcb(['simulate', '--server', api.url, '--account', 'x', '--count', '3']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /Account is not known/);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
    assert.match(result.stdout, /^Published 0 messages in [\d.]+ s .*\n3 not published\n$/);
  });

  it('says how many messages found no listener', async () => {
    const api = await startAdminApi((batch) => ({
      status: 202,
      body: {
        messageIds: batch.map((_, i) => `msg_${i}`),
        statuses: batch.map((message) => (message.serviceName === 'CarrierService' ? 'pending' : 'failed')),
      },
    }));
    const count = SERVICE_NAMES.length * 2;
    const result = await runCcb(['simulate', '--server', api.url, '--account', 'x', '--count', String(count)]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^Published ${count} messages in `));
    assert.match(result.stdout, new RegExp(`\\n${count - 2} stored as failed: no_registration`));
    const json = await runCcb(['simulate', '--server', api.url, '--account', 'x', '--count', '3', '--json']);
    assert.equal(JSON.parse(json.stdout).noListener, 2);
  });

  it('lists only the options it uses, with defaults and environment variables in one format', async () => {
    const result = await runCcb(['simulate', '--help']);
    assert.equal(result.code, 0);
    const help = result.stdout.replace(/\s+/g, ' ');
    assert.match(help, /--account <aname> account the messages are for[^(]*\(required\)/);
    assert.match(help, /--server <url> [^(]*\(the SDK[^)]*\) \(default: http:\/\/127\.0\.0\.1:8080; env: CCB_SERVER\)/);
    assert.match(
      help,
      /--admin-token <token> admin API bearer token: CCB_ADMIN_TOKEN of the server, or an API key \(ccbk_…, from ccb keys create\) \(default: dev-admin-token; env: CCB_ADMIN_TOKEN\)/,
    );
    assert.doesNotMatch(help, /--client-id|--username/);
    assert.match(result.stdout, /Examples:\n {2}ccb simulate /);
  });

  it('refuses an unknown service name and lists the known ones', async () => {
    const result = await runCcb(['simulate', '--account', 'x', '--count', '1', '--service', 'AlertsService']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /unknown service; expected one of: CarrierService/);
  });
});
