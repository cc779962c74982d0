// test tier: full (starts ccb serve processes on PostgreSQL)
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { eventually } from './helpers.js';
import { postgresForTests } from './postgres.js';
import {
  ADMIN_HEADERS,
  type CountingListener,
  DEV_ACCOUNT,
  killHard,
  registerAsDevUser,
  type ServerProcess,
  spawnServer,
  startCountingListener,
} from './server-process.js';

const pg = await postgresForTests();

/** Several `ccb serve` processes on one PostgreSQL database, as on several machines. */
describe('scale-out: three ccb serve processes on one PostgreSQL', { skip: pg.skip }, () => {
  let dropDatabase: () => Promise<void> = async () => {};
  let databaseUrl = '';
  const servers: ServerProcess[] = [];
  const listeners: CountingListener[] = [];
  // One key for all instances, as a deployment would configure it. The lease is short so that a killed
  // instance's claims come back soon, yet long enough that a loaded test machine's pauses (a process
  // holds its leases while it stalls less than two thirds of one: docs/scaling-out.md) are not mistaken
  // for a dead instance.
  const env = { CCB_ENCRYPTION_KEY: randomBytes(32).toString('hex'), CCB_POLL_INTERVAL: '500ms', CCB_LEASE: '5s' };
  const serve = (flags: string[] = [], extraEnv: NodeJS.ProcessEnv = {}) =>
    spawnServer(databaseUrl, ['--attempt-timeout', '1s', '--retry-schedule', '200ms,200ms,200ms', ...flags], {
      ...env,
      ...extraEnv,
    });

  before(async () => {
    if (pg.skip !== false) return;
    const database = await pg.postgres.createTestDatabase();
    databaseUrl = database.url;
    dropDatabase = database.drop;
    // Started together: migrations and dev seeding must happen once, whoever comes first.
    servers.push(...(await Promise.all([serve(), serve(), serve()])));
  });
  after(async () => {
    for (const server of servers) await killHard(server);
    await Promise.all(listeners.map((l) => l.close()));
    await dropDatabase();
  });

  const listen = async (delayMs = 0) => {
    const listener = await startCountingListener(delayMs);
    listeners.push(listener);
    return listener;
  };
  const publishBatch = async (server: ServerProcess, serviceName: string, count: number, tag: string) => {
    const messages = Array.from({ length: count }, (_, i) => ({
      accountName: DEV_ACCOUNT,
      serviceName,
      payload: { requestId: `${tag}-${i}` },
    }));
    const response = await fetch(`${server.baseUrl}/admin/v1/messages/batch`, {
      method: 'POST',
      headers: ADMIN_HEADERS,
      body: JSON.stringify({ messages }),
    });
    const text = await response.text();
    assert.equal(response.status, 202, text);
    return (JSON.parse(text) as { messageIds: string[] }).messageIds;
  };
  const listAt = async (server: ServerProcess) => {
    const token = await (
      await fetch(`${server.baseUrl}/api/ts/v1/oauth2/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from('demo-client:demo-secret').toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: 'grant_type=client_credentials',
      })
    ).json();
    const session = await (
      await fetch(`${server.baseUrl}/api/m2m/v1/session/login`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token.access_token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'demo', password: 'demo-password' }),
      })
    ).json();
    const auth = { authorization: `Bearer ${token.access_token}`, 'vz-m2m-token': session.sessionToken };
    const list = async () =>
      (await (await fetch(`${server.baseUrl}/api/m2m/v1/callbacks/${DEV_ACCOUNT}`, { headers: auth })).json()) as {
        serviceName: string;
        url: string;
      }[];
    const deregister = (service: string) =>
      fetch(`${server.baseUrl}/api/m2m/v1/callbacks/${DEV_ACCOUNT}/name/${service}`, {
        method: 'DELETE',
        headers: auth,
      });
    return { list, deregister };
  };
  const waitUntil = (what: string, done: () => boolean, timeout = 60_000) => eventually(done, { what, timeout });
  /** Attempts the instances have finished: the sum of their ccb_attempts_total counters, all outcomes. */
  const attemptsFinished = async () => {
    const texts = await Promise.all(servers.map(async (server) => (await fetch(`${server.baseUrl}/metrics`)).text()));
    return texts
      .flatMap((text) => [...text.matchAll(/^ccb_attempts_total\{[^}]*\} (\d+)$/gm)])
      .reduce((sum, match) => sum + Number(match[1]), 0);
  };
  const arrivals = (listener: CountingListener) => [...listener.received.values()].reduce((sum, n) => sum + n, 0);

  it('lists a registration made through one instance on the others, and a deregistration stops deliveries from all', async () => {
    const listener = await listen();
    const [a, b, c] = servers;
    const registered = await registerAsDevUser(a.baseUrl, 'PromoChanges', listener.url);
    assert.equal(registered.status, 200, await registered.text());
    for (const server of [b, c]) {
      const listed = await (await listAt(server)).list();
      assert.deepEqual(
        listed.filter((r) => r.serviceName === 'PromoChanges').map((r) => r.url),
        [listener.url],
      );
    }
    const removed = await (await listAt(b)).deregister('PromoChanges');
    assert.equal(removed.status, 200, await removed.text());
    // Published through every instance right after the deregistration: none may be delivered.
    const ids = [
      ...(await publishBatch(a, 'PromoChanges', 20, 'dereg-a')),
      ...(await publishBatch(c, 'PromoChanges', 20, 'dereg-c')),
    ];
    for (const id of ids) {
      const found = await (await fetch(`${a.baseUrl}/admin/v1/messages/${id}`, { headers: ADMIN_HEADERS })).json();
      assert.equal(found.status, 'failed');
      assert.equal(found.reason, 'no_registration');
    }
    assert.equal((await (await listAt(c)).list()).filter((r) => r.serviceName === 'PromoChanges').length, 0);
    assert.equal(listener.received.size, 0);
  });

  it('delivers 2,000 messages published across the instances exactly once each', async () => {
    const listener = await listen();
    const registered = await registerAsDevUser(servers[0].baseUrl, 'DeviceUsage', listener.url);
    assert.equal(registered.status, 200, await registered.text());
    const sizes = [667, 667, 666];
    const finishedBefore = await attemptsFinished();
    const accepted = (
      await Promise.all(servers.map((server, s) => publishBatch(server, 'DeviceUsage', sizes[s], `once-${s}`)))
    ).flat();
    assert.equal(accepted.length, 2_000);
    await waitUntil('every message arrived', () => accepted.every((id) => listener.received.has(id)));
    // Before counting repeats: every request that reached the listener has been answered and counted by
    // the instance that sent it, and nothing is left to claim, so a repeat already sent is among them.
    let finished = 0;
    await eventually(
      async () => {
        finished = (await attemptsFinished()) - finishedBefore;
        const stats = await (await fetch(`${servers[0].baseUrl}/admin/v1/stats`, { headers: ADMIN_HEADERS })).json();
        return finished === arrivals(listener) && stats.queueDepth === 0;
      },
      { what: () => `${finished} attempts counted for ${arrivals(listener)} arrivals, and an empty queue` },
    );
    const repeated = [...listener.received.entries()].filter(([, n]) => n > 1);
    assert.deepEqual(repeated, [], 'no message is delivered twice while every instance is up');
    assert.equal(listener.received.size, 2_000);
    assert.equal(finished, 2_000);
  });

  it('delivers every accepted message at least once when one instance is killed mid-run', async () => {
    const listener = await listen(2);
    const registered = await registerAsDevUser(servers[1].baseUrl, 'CarrierService', listener.url);
    assert.equal(registered.status, 200, await registered.text());
    const accepted = (
      await Promise.all(servers.map((server, s) => publishBatch(server, 'CarrierService', 700, `kill-${s}`)))
    ).flat();
    await waitUntil('deliveries are under way', () => listener.received.size >= 100, 20_000);
    const victim = servers.shift() as ServerProcess;
    await killHard(victim);
    assert.ok(listener.received.size < accepted.length, 'the kill came before every message was delivered');
    await waitUntil('every accepted message arrived', () => accepted.every((id) => listener.received.has(id)));
  });

  it('delivers a single message published through an api process by a worker process on its wake-up, not its next poll', async (t) => {
    const listener = await listen();
    const api = await serve(['--role', 'api']);
    // A minute between the worker's polls: a delivery within seconds can only be the wake-up.
    const worker = await serve(['--role', 'worker'], { CCB_POLL_INTERVAL: '60s' });
    servers.push(api, worker);
    // Only the worker process delivers: the others stop, so no instance of role all takes the message.
    for (const server of servers.splice(0, servers.length - 2)) await killHard(server);
    const registered = await registerAsDevUser(api.baseUrl, 'AlertService', listener.url);
    assert.equal(registered.status, 200, await registered.text());
    const latencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      const [id] = await publishBatch(api, 'AlertService', 1, `idle-${i}`);
      await waitUntil('the message arrived', () => listener.received.has(id), 10_000);
      latencies.push(performance.now() - started);
      // The next publish finds the worker idle again: this one's outcome is stored.
      await eventually(
        async () =>
          (await (await fetch(`${api.baseUrl}/admin/v1/messages/${id}`, { headers: ADMIN_HEADERS })).json()).status ===
          'delivered',
        { what: `message ${id} delivered` },
      );
    }
    latencies.sort((x, y) => x - y);
    t.diagnostic(
      `publish → listener through api and worker processes: ${latencies.map((l) => l.toFixed(1)).join(', ')} ms`,
    );
    // How fast the wake-up is stays a figure (above, and in the benchmarks): a loaded machine stretches it.
    assert.equal(latencies.length, 5);
    assert.ok(latencies[4] < 10_000, `slowest ${latencies[4].toFixed(1)} ms, with the next poll a minute away`);
  });
});
