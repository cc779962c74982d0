import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { eventually } from './helpers.js';
import {
  ADMIN_HEADERS,
  DEV_ACCOUNT,
  processFixture,
  registerAsDevUser,
  spawnServer,
  startCountingListener,
} from './server-process.js';

const MESSAGES = 600;

describe('api and worker processes on one SQLite file', () => {
  const fixture = processFixture('ccb-roles-');
  const { dbPath, servers } = fixture;
  after(() => fixture.cleanUp());

  it('delivers every message published through the api process exactly once with two workers', async () => {
    const listener = await startCountingListener(0);
    fixture.listeners.push(listener);
    const { received, url: listenerUrl } = listener;

    // The api process creates the schema and seeds the dev data before the workers open the file.
    const api = await spawnServer(dbPath, ['--role', 'api']);
    servers.push(api);
    const workers = await Promise.all([
      spawnServer(dbPath, ['--role', 'worker'], { CCB_POLL_INTERVAL: '50ms' }),
      spawnServer(dbPath, ['--role', 'worker'], { CCB_POLL_INTERVAL: '50ms' }),
    ]);
    servers.push(...workers);

    const registered = await registerAsDevUser(api.baseUrl, 'DeviceUsage', listenerUrl);
    assert.equal(registered.status, 200, await registered.text());

    const accepted: string[] = [];
    for (let batch = 0; batch < MESSAGES / 200; batch++) {
      const messages = Array.from({ length: 200 }, (_, i) => ({
        accountName: DEV_ACCOUNT,
        serviceName: 'DeviceUsage',
        payload: { requestId: `roles-${batch}-${i}` },
      }));
      const response = await fetch(`${api.baseUrl}/admin/v1/messages/batch`, {
        method: 'POST',
        headers: ADMIN_HEADERS,
        body: JSON.stringify({ messages }),
      });
      const text = await response.text();
      assert.equal(response.status, 202, text);
      accepted.push(...(JSON.parse(text) as { messageIds: string[] }).messageIds);
    }

    await eventually(() => accepted.every((id) => received.has(id)), {
      timeout: 30_000,
      interval: 50,
      what: () => `every message reaching the listener (${accepted.filter((id) => !received.has(id)).length} missing)`,
    });
    const repeated = [...received.entries()].filter(([, n]) => n > 1);
    assert.deepEqual(repeated, [], 'no message is delivered twice while no process crashes');

    // The api process sees the workers' acknowledgements through the shared file.
    let delivered = 0;
    await eventually(
      async () => {
        const stats = await (await fetch(`${api.baseUrl}/admin/v1/stats`, { headers: ADMIN_HEADERS })).json();
        delivered = stats.counts.delivered;
        return delivered === MESSAGES;
      },
      { timeout: 30_000, interval: 50, what: () => `the api process counting ${MESSAGES} delivered (${delivered})` },
    );
  });
});
