import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { publish, register, startListener, type TestListener, waitForMessage } from './delivery-fixtures.js';
import { startTestServer, type TestServer } from './helpers.js';

describe('retention', () => {
  let server: TestServer;
  let listener: TestListener;
  after(async () => {
    await server?.close();
    await listener?.close();
  });

  it('purges delivered messages past their retention while the server runs, keeping failed ones longer', async () => {
    server = await startTestServer({
      env: {
        CCB_ALLOWED_PORTS: 'any',
        CCB_RETENTION_DELIVERED: '300ms',
        CCB_RETENTION_FAILED: '1h',
        CCB_PURGE_INTERVAL: '200ms',
      },
    });
    listener = await startListener();
    await register(server, listener.url);
    const delivered = await publish(server);
    const failed = await publish(server, {}, 'DeviceUsage');
    await waitForMessage(server, delivered, (m) => m.status === 'delivered');
    const deadline = Date.now() + 5_000;
    while ((await server.ctx.store.messages.get(delivered)) !== null) {
      assert.ok(Date.now() < deadline, 'the delivered message was not purged within 5 s');
      await sleep(50);
    }
    assert.equal((await server.ctx.store.messages.get(failed))?.message.status, 'failed');
  });
});
