import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { after, describe, it } from 'node:test';
import type { AppContext } from '../src/context.js';
import { type Delivery, startDelivery } from '../src/delivery/index.js';
import { UrlGuard } from '../src/delivery/url-guard.js';
import { publish, register, startListener, type TestListener, waitForMessage } from './delivery-fixtures.js';
import { startTestServer, type TestServer } from './helpers.js';

describe('per-origin isolation', () => {
  let server: TestServer;
  const listeners: TestListener[] = [];
  after(async () => {
    // Listeners first: closing the hanging one ends its attempts, so stopping the server waits for no timeout.
    await Promise.all(listeners.map((l) => l.close()));
    await server?.close();
  });

  it('keeps delivering to a healthy listener while another origin hangs', async () => {
    server = await startTestServer({
      env: { CCB_ALLOWED_PORTS: 'any', CCB_BATCH_SIZE: '16' },
      flags: { retrySchedule: '5s', attemptTimeout: '3s', concurrency: 8, originConcurrency: 2 },
    });
    const hanging = await startListener(() => 'hang');
    const healthy = await startListener();
    listeners.push(hanging, healthy);
    await register(server, hanging.url, 'CarrierService');
    await register(server, healthy.url, 'DeviceUsage');

    // The hanging origin's messages go first, so they are claimed ahead of the healthy ones.
    const stuck = await Promise.all(Array.from({ length: 20 }, () => publish(server, {}, 'CarrierService')));
    const fine = await Promise.all(Array.from({ length: 20 }, () => publish(server, {}, 'DeviceUsage')));
    // Ceilings past the hanging origin's attempt timeout: waiting for it shows as the order below.
    await healthy.waitFor(20, 10_000);
    const delivered = await Promise.all(
      fine.map((id) => waitForMessage(server, id, (m) => m.status === 'delivered', 10_000)),
    );
    const endOf = (a: { startedAt: number; latencyMs: number }) => a.startedAt + a.latencyMs;
    const lastHealthyEnd = Math.max(...delivered.flatMap((m) => m.attempts.map(endOf)));
    const hangingRequests = hanging.received.length;
    // No attempt to the hanging origin had timed out (been recorded) when the last healthy one ended.
    const stuckAttempts = (await Promise.all(stuck.map((id) => server.ctx.messages.get(id)))).flatMap(
      (m) => m?.attempts ?? [],
    );
    assert.deepEqual(
      stuckAttempts.filter((a) => endOf(a) <= lastHealthyEnd),
      [],
      'the healthy deliveries waited for the hanging origin to time out',
    );
    // The hanging origin never had more than its own limit in flight (requests not yet recorded as attempts).
    assert.ok(hangingRequests >= 2, `${hangingRequests} requests reached the hanging origin`);
    assert.ok(
      hangingRequests - stuckAttempts.length <= 2,
      `${hangingRequests} requests, ${stuckAttempts.length} ended`,
    );
  });
});

describe('URL guard at delivery time', () => {
  let server: TestServer;
  let delivery: Delivery | null = null;
  let listener: TestListener;
  after(async () => {
    await delivery?.stop();
    await server?.close();
    await listener?.close();
  });

  /** A server without its own dispatcher, and one started here with a stub resolver and strict targets. */
  async function setUp(resolve: (hostname: string) => Promise<LookupAddress[]>, allowLoopback: boolean) {
    server = await startTestServer({
      env: { CCB_ALLOWED_PORTS: 'any' },
      flags: { role: 'api', retrySchedule: '50ms', attemptTimeout: '1s' },
    });
    const ctx: AppContext = { ...server.ctx, urlGuard: UrlGuard.fromConfig({ ...server.ctx.config, allowLoopback }) };
    delivery = startDelivery(ctx, { resolve });
    server.ctx.notifyPublished = () => delivery?.wake();
  }

  it('refuses to connect when the host resolves to a private address, recording why', async () => {
    listener = await startListener();
    await setUp(async () => [{ address: '10.0.0.5', family: 4 }], false);
    await register(server, `http://listener.example:${listener.port}/cb`, 'StateService');
    const id = await publish(server, {}, 'StateService');
    const failed = await waitForMessage(server, id, (m) => m.status === 'failed');
    assert.equal(failed.attempts.length, 2);
    assert.equal(failed.attempts[0].errorKind, 'url_guard');
    assert.equal(failed.attempts[0].error, '10.0.0.5 is a private (RFC 1918) address');
    assert.equal(failed.message.reason, 'url_guard: 10.0.0.5 is a private (RFC 1918) address');
    assert.equal(listener.received.length, 0);
    await delivery?.stop();
    await server.close();
  });

  it('refuses a loopback IP literal unless loopback targets are allowed', async () => {
    await setUp(async () => [], false);
    await register(server, `${listener.url}`, 'StateService');
    const id = await publish(server, {}, 'StateService');
    const failed = await waitForMessage(server, id, (m) => m.status === 'failed');
    assert.equal(failed.attempts[0].errorKind, 'url_guard');
    assert.equal(failed.attempts[0].error, '127.0.0.1 is a loopback address');
    assert.equal(listener.received.length, 0);
    await delivery?.stop();
    await server.close();
  });

  it('connects to the checked address while sending the host name', async () => {
    const lookups: string[] = [];
    await setUp(async (hostname) => {
      lookups.push(hostname);
      return [{ address: '127.0.0.1', family: 4 }];
    }, true);
    await register(server, `http://listener.example:${listener.port}/cb`, 'StateService');
    const id = await publish(server, {}, 'StateService');
    await waitForMessage(server, id, (m) => m.status === 'delivered');
    assert.deepEqual(lookups, ['listener.example']);
    assert.equal(listener.received[0].headers.host, `listener.example:${listener.port}`);
  });
});
