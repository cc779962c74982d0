import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { eventually } from './helpers.js';
import { postgresForTests } from './postgres.js';
import {
  ADMIN_HEADERS,
  DEV_ACCOUNT,
  killHard,
  registerAsDevUser,
  type ServerProcess,
  spawnServer,
} from './server-process.js';

const pg = await postgresForTests();

/**
 * Slots are exact between attempts; the first one starts at the time the admitting claim began, which
 * may be a little before the publish was acknowledged (docs/delivery-controls.md, precision).
 */
const SLOT_TOLERANCE_MS = 50;

/** A listener that answers after `delayMs`, recording each request's payload, attempt, arrival time and overlap. */
async function startOrderListener(refuse: (requestId: string, attempt: number) => boolean, delayMs = 20) {
  const seen: { requestId: string; attempt: number; at: number }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const server = createServer((request, response) => {
    let raw = '';
    request.on('data', (chunk) => {
      raw += chunk;
    });
    request.on('end', () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const body = JSON.parse(raw) as { requestId: string; callbackCount: number };
      seen.push({ requestId: body.requestId, attempt: body.callbackCount, at: Date.now() });
      setTimeout(() => {
        inFlight--;
        response.writeHead(refuse(body.requestId, body.callbackCount) ? 503 : 200).end();
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/callbacks`,
    seen,
    maxInFlight: () => maxInFlight,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Three `ccb serve` processes on one PostgreSQL database: the controls hold across instances. */
describe('delivery controls with three ccb serve processes on one PostgreSQL', { skip: pg.skip }, () => {
  let drop: () => Promise<void> = async () => {};
  const servers: ServerProcess[] = [];
  const closers: (() => Promise<void>)[] = [];

  before(async () => {
    if (pg.skip !== false) return;
    const database = await pg.postgres.createTestDatabase();
    drop = database.drop;
    const env = { CCB_ENCRYPTION_KEY: randomBytes(32).toString('hex'), CCB_POLL_INTERVAL: '200ms', CCB_LEASE: '3s' };
    const flags = ['--attempt-timeout', '1s', '--retry-schedule', '150ms,150ms,150ms'];
    servers.push(...(await Promise.all([0, 1, 2].map(() => spawnServer(database.url, flags, env)))));
  });
  after(async () => {
    for (const server of servers) await killHard(server);
    await Promise.all(closers.map((close) => close()));
    await drop();
  });

  const admin = async (server: ServerProcess, method: string, path: string, body?: unknown) => {
    const response = await fetch(`${server.baseUrl}/admin/v1${path}`, {
      method,
      headers: ADMIN_HEADERS,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: JSON.parse(text) };
  };

  it('FIFO: strict publish order and one attempt at a time over three workers, the first attempt of every third message refused', async () => {
    const listener = await startOrderListener((id, attempt) => Number(id.slice(1)) % 3 === 0 && attempt === 1);
    closers.push(listener.close);
    const [a, b, c] = servers;
    assert.equal((await registerAsDevUser(a.baseUrl, 'DeviceService', listener.url)).status, 200);
    const set = await admin(b, 'PATCH', `/callbacks/${DEV_ACCOUNT}/DeviceService/settings`, { ordering: 'fifo' });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    const count = 15;
    // Each publish answered before the next starts, through all three instances in turn.
    for (let i = 0; i < count; i++) {
      const published = await admin(servers[i % 3], 'POST', '/messages', {
        accountName: DEV_ACCOUNT,
        serviceName: 'DeviceService',
        payload: { requestId: `m${i}` },
      });
      assert.equal(published.status, 202);
    }
    const expected = Array.from({ length: count }, (_, i) => (i % 3 === 0 ? [i, i] : [i])).flat();
    await eventually(() => listener.seen.length >= expected.length, {
      timeout: 60_000,
      what: () => `${expected.length} requests (got ${listener.seen.length})`,
    });
    assert.deepEqual(
      listener.seen.map((s) => Number(s.requestId.slice(1))),
      expected,
    );
    assert.equal(listener.maxInFlight(), 1, 'never two requests at once');
    void c;
  });

  it('rate limit 5/s over three instances: the k-th delivery comes at least k × 200 ms after the publish', async () => {
    const listener = await startOrderListener(() => false, 0);
    closers.push(listener.close);
    const [a, b] = servers;
    assert.equal((await registerAsDevUser(a.baseUrl, 'DevicePRLInformation', listener.url)).status, 200);
    const set = await admin(b, 'PATCH', `/callbacks/${DEV_ACCOUNT}/DevicePRLInformation/settings`, {
      rateLimit: { perSecond: 5 },
    });
    assert.equal(set.status, 200);
    const count = 15;
    const publishedAt = Date.now();
    const batch = await admin(a, 'POST', '/messages/batch', {
      messages: Array.from({ length: count }, (_, i) => ({
        accountName: DEV_ACCOUNT,
        serviceName: 'DevicePRLInformation',
        payload: { requestId: `r${i}` },
      })),
    });
    assert.equal(batch.status, 202);
    await eventually(() => listener.seen.length >= count, {
      timeout: 60_000,
      what: () => `${count} deliveries (got ${listener.seen.length})`,
    });
    const times = listener.seen.map((s) => s.at - publishedAt).sort((x, y) => x - y);
    for (const [k, t] of times.entries())
      assert.ok(t >= k * 200 - SLOT_TOLERANCE_MS, `delivery ${k} came ${t} ms after the publish`);
    assert.ok(times.filter((t) => t < 1_000 - SLOT_TOLERANCE_MS).length <= 5, JSON.stringify(times));
    assert.ok(times.filter((t) => t < 2_000 - SLOT_TOLERANCE_MS).length <= 10, JSON.stringify(times));
    assert.equal(new Set(listener.seen.map((s) => s.requestId)).size, count, 'each delivered once');
  });
});
