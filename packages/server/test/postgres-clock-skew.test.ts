import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
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
const SKEWED_CLOCK = fileURLToPath(new URL('./skewed-clock.mjs', import.meta.url));
const SKEW_MS = 60_000;

/**
 * Issue 18 item 6: instances whose clocks disagree. Leases and due times are given in the database's
 * clock, so a worker whose own clock runs a minute ahead neither takes over the other worker's
 * leases (which it would see as long expired) nor delays anything.
 */
describe('PostgreSQL: a worker whose clock runs a minute ahead', { skip: pg.skip }, () => {
  let dropDatabase: () => Promise<void> = async () => {};
  const servers: ServerProcess[] = [];
  let listener: CountingListener | null = null;
  let startSkewed: () => Promise<ServerProcess> = () => Promise.reject(new Error('no database'));

  before(async () => {
    if (pg.skip !== false) return;
    const database = await pg.postgres.createTestDatabase();
    dropDatabase = database.drop;
    const env = { CCB_ENCRYPTION_KEY: randomBytes(32).toString('hex'), CCB_POLL_INTERVAL: '200ms', CCB_LEASE: '2s' };
    const serve = (role: string, extra: NodeJS.ProcessEnv = {}) =>
      spawnServer(database.url, ['--role', role, '--attempt-timeout', '1s'], { ...env, ...extra });
    servers.push(await serve('api'), await serve('worker'));
    startSkewed = () =>
      serve('worker', {
        NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${SKEWED_CLOCK}`,
        CCB_TEST_CLOCK_SKEW_MS: String(SKEW_MS),
      });
  });
  after(async () => {
    for (const server of servers) await killHard(server);
    await listener?.close();
    await dropDatabase();
  });

  it('delivers 400 messages exactly once each, and on time', async () => {
    const [api] = servers;
    // Slow answers: the first worker holds leases on most of the messages for seconds.
    listener = await startCountingListener(200);
    const registered = await registerAsDevUser(api.baseUrl, 'DeviceUsage', listener.url);
    assert.equal(registered.status, 200, await registered.text());
    const accepted: string[] = [];
    for (let batch = 0; batch < 4; batch++) {
      const response = await fetch(`${api.baseUrl}/admin/v1/messages/batch`, {
        method: 'POST',
        headers: ADMIN_HEADERS,
        body: JSON.stringify({
          messages: Array.from({ length: 100 }, (_, i) => ({
            accountName: DEV_ACCOUNT,
            serviceName: 'DeviceUsage',
            payload: { n: batch * 100 + i },
          })),
        }),
      });
      const text = await response.text();
      assert.equal(response.status, 202, text);
      accepted.push(...(JSON.parse(text) as { messageIds: string[] }).messageIds);
    }
    // The worker a minute ahead joins while the first one holds leases: to its own clock they ended
    // a minute ago.
    await eventually(() => (listener as CountingListener).received.size >= 10, { timeout: 30_000 });
    const skewed = await startSkewed();
    servers.push(skewed);
    assert.match(skewed.output?.() ?? '', new RegExp(`clock skewed by ${SKEW_MS} ms`), 'the skew is in place');
    const received = (listener as CountingListener).received;
    await eventually(() => accepted.every((id) => received.has(id)), {
      timeout: 60_000,
      what: () => `${accepted.filter((id) => received.has(id)).length} of 400 arrived`,
    });
    // Every outcome recorded, so a repeat already sent would have been counted by now.
    await eventually(
      async () =>
        (await (await fetch(`${api.baseUrl}/admin/v1/stats`, { headers: ADMIN_HEADERS })).json()).queueDepth === 0,
      { timeout: 30_000, what: 'an empty queue' },
    );
    const repeated = [...received.entries()].filter(([, n]) => n > 1);
    assert.deepEqual(repeated, [], 'no message is delivered twice');
  });
});
