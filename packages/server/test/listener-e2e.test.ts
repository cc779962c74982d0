import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { exampleMessage, SERVICE_NAMES, type ServiceName } from '@ccb/sdk';
import { createListener, type ListenerMessage, type ListenerOptions } from '@ccb/sdk/listener';
import { runSimulation } from '../src/cli/simulate.js';
import { ACCOUNT, admin, waitForMessage } from './delivery-fixtures.js';
import { eventually, type Login, login, send, startTestServer, type TestServer } from './helpers.js';
import { childProcessTest, runCcb, spawnCcb } from './server-process.js';

/** A createListener-based listener on 127.0.0.1 that records what onMessage received. */
async function startKitListener(
  options: Omit<ListenerOptions, 'onMessage'> & { onMessage?: ListenerOptions['onMessage'] },
) {
  const received: ListenerMessage[] = [];
  const server: Server = createServer(
    createListener({
      onError: () => {},
      ...options,
      onMessage: async (message) => {
        await options.onMessage?.(message);
        received.push(message);
      },
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/callbacks`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('listener kit against the real delivery engine', () => {
  let server: TestServer;
  let session: Login;
  const cleanups: Array<() => Promise<void>> = [];

  before(async () => {
    server = await startTestServer({
      env: { CCB_ALLOWED_PORTS: 'any' },
      flags: { retrySchedule: '100ms,200ms,300ms', attemptTimeout: '2s' },
    });
    session = await login(server);
  });
  after(async () => {
    await Promise.all(cleanups.map((cleanup) => cleanup()));
    await server.close();
  });

  /** Registers through the ThingSpace-compatible API and returns the registration's signing secret. */
  async function registerCallback(
    name: ServiceName,
    url: string,
    credentials: { username?: string; password?: string } = {},
  ): Promise<string> {
    const registered = await send(`${server.apiUrl}/m2m/v1/callbacks/${ACCOUNT}`, {
      method: 'POST',
      headers: session.headers,
      body: { name, url, ...credentials },
    });
    assert.equal(registered.status, 200, registered.text);
    const secret = await admin<{ secret: string }>(server, 'GET', `/callbacks/${ACCOUNT}/${name}/secret`);
    assert.equal(secret.status, 200);
    return secret.body.secret;
  }

  async function publish(serviceName: ServiceName, payload: object): Promise<string> {
    const response = await admin<{ messageId: string }>(server, 'POST', '/messages', {
      accountName: ACCOUNT,
      serviceName,
      payload,
    });
    assert.equal(response.status, 202, JSON.stringify(response.body));
    return response.body.messageId;
  }

  /** A kit listener that knows the registration's secret: register, read the secret, then point the registration at it. */
  async function signedListener(
    name: ServiceName,
    options: Omit<ListenerOptions, 'onMessage' | 'signingSecrets'> & { onMessage?: ListenerOptions['onMessage'] } = {},
  ) {
    const credentials = { username: options.username, password: options.password };
    const secret = await registerCallback(name, 'http://127.0.0.1:9/not-yet', credentials);
    const listener = await startKitListener({ ...options, signingSecrets: secret });
    cleanups.push(listener.close);
    await registerCallback(name, listener.url, credentials);
    return listener;
  }

  it('accepts what the engine delivers: signature, credentials and typed body verified', async () => {
    const verified = await signedListener('DeviceUsage', { username: 'acme-prod', password: 'k9Vd2mQ7tR4z' });

    const payload = exampleMessage('DeviceUsage');
    const id = await publish('DeviceUsage', payload);
    await eventually(() => verified.received.length === 1, { what: 'the message' });
    const [message] = verified.received;
    assert.equal(message.id, id);
    assert.equal(message.account, ACCOUNT);
    assert.equal(message.service, 'DeviceUsage');
    assert.equal(message.attempt, 1);
    assert.equal(message.body.requestId, payload.requestId);
    assert.equal(message.body.maxCallbackThreshold, 4);
    if (message.service === 'DeviceUsage') {
      assert.equal(
        message.body.deviceResponse?.usageResponse.dataUsage,
        payload.deviceResponse?.usageResponse.dataUsage,
      );
    }
    const stored = await waitForMessage(server, id, (m) => m.status === 'delivered');
    assert.equal(stored.message.attempts, 1);
  });

  it('gets the message retried by the engine when the handler throws, and processes the retry once', async () => {
    let calls = 0;
    const retried = await signedListener('CarrierService', {
      onMessage: () => {
        calls++;
        if (calls === 1) throw new Error('downstream unavailable');
      },
    });

    const id = await publish('CarrierService', exampleMessage('CarrierService'));
    const stored = await waitForMessage(server, id, (m) => m.status === 'delivered');
    assert.equal(stored.message.attempts, 2);
    assert.equal(calls, 2);
    assert.equal(retried.received.length, 1);
    assert.equal(retried.received[0].attempt, 2);
    const shown = await admin<{ deliveryAttempts: Array<{ statusCode: number | null }> }>(
      server,
      'GET',
      `/messages/${id}`,
    );
    assert.deepEqual(shown.body.deliveryAttempts.map((attempt) => attempt.statusCode).sort(), [204, 500]);
  });

  it('refuses deliveries signed with another secret, so the engine records 401 attempts', async () => {
    const listener = await startKitListener({
      signingSecrets: `whsec_${Buffer.from('not the secret').toString('base64')}`,
    });
    cleanups.push(listener.close);
    await registerCallback('PromoChanges', listener.url);
    const id = await publish('PromoChanges', exampleMessage('PromoChanges'));
    const stored = await waitForMessage(server, id, (m) => m.status === 'failed');
    assert.equal(stored.message.attempts, 4);
    assert.equal(listener.received.length, 0);
  });

  it('keeps accepting during a secret rotation, whichever secret the listener knows', async () => {
    const oldSecret = await registerCallback('AlertService', 'http://127.0.0.1:9/placeholder');
    const rotated = await admin<{ secret: string; previousSecret?: string }>(
      server,
      'POST',
      `/callbacks/${ACCOUNT}/AlertService/secret/rotate`,
    );
    assert.equal(rotated.status, 200);
    assert.equal(rotated.body.previousSecret, oldSecret);
    const knowsOld = await startKitListener({ signingSecrets: oldSecret });
    const knowsNew = await startKitListener({ signingSecrets: rotated.body.secret });
    cleanups.push(knowsOld.close, knowsNew.close);
    for (const listener of [knowsOld, knowsNew]) {
      // Re-registering keeps the registration's secrets; only the URL changes.
      const registered = await send(`${server.apiUrl}/m2m/v1/callbacks/${ACCOUNT}`, {
        method: 'POST',
        headers: session.headers,
        body: { name: 'AlertService', url: listener.url },
      });
      assert.equal(registered.status, 200);
      const id = await publish('AlertService', exampleMessage('AlertService'));
      await waitForMessage(server, id, (m) => m.status === 'delivered');
      assert.equal(listener.received.length, 1);
    }
  });

  it('receives every simulated message, one per service, typed by the ccb-service header', async () => {
    const listener = await startKitListener({});
    cleanups.push(listener.close);
    for (const name of SERVICE_NAMES) await registerCallback(name, listener.url);
    const summary = await runSimulation({
      server: server.baseUrl,
      adminToken: server.adminToken,
      account: ACCOUNT,
      count: SERVICE_NAMES.length * 2,
    });
    assert.equal(summary.published, 34);
    await eventually(() => listener.received.length === 34, { what: 'the simulated messages' });
    const perService = new Map<string, number>();
    for (const message of listener.received)
      perService.set(String(message.service), (perService.get(String(message.service)) ?? 0) + 1);
    assert.deepEqual([...perService.keys()].sort(), [...SERVICE_NAMES].sort());
    assert.ok([...perService.values()].every((count) => count === 2));
    const nidd = listener.received.find((message) => message.service === 'NiddService');
    assert.ok(nidd && 'niddResponse' in nidd.body, 'the NIDD body has its NIDD payload');
  });

  it('carries messages from ccb simulate to ccb listen', childProcessTest, async () => {
    const child = spawnCcb(['listen', '--port', '0']);
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr?.on('data', (chunk) => {
      stderr += chunk;
    });
    await eventually(() => /Listening on http/.test(stderr), { what: 'ccb listen to start', timeout: 15_000 });
    const url = /Listening on (\S+)/.exec(stderr)![1];
    await registerCallback('StateService', url);

    const simulate = await runCcb(
      ['simulate', '--account', ACCOUNT, '--service', 'StateService', '--count', '5', '--json'],
      { CCB_SERVER: server.baseUrl, CCB_ADMIN_TOKEN: server.adminToken },
    );
    assert.equal(simulate.code, 0, simulate.stderr);
    const summary = simulate.stdout;
    assert.equal(JSON.parse(summary).published, 5);

    await eventually(() => stdout.trim().split('\n').filter(Boolean).length === 5, { what: 'five printed messages' });
    const lines = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    assert.ok(lines.every((line) => line.service === 'StateService' && line.account === ACCOUNT));
    child.kill('SIGTERM');
    const [listenCode] = await once(child, 'close');
    assert.equal(listenCode, 0);
  });
});
