import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { publish, register, startListener, type TestListener, waitForMessage } from './delivery-fixtures.js';
import { eventually, startTestServer, type TestServer } from './helpers.js';

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
    await eventually(async () => (await server.ctx.messages.get(delivered)) === null, {
      timeout: 5_000,
      interval: 50,
      what: 'the delivered message being purged',
    });
    assert.equal((await server.ctx.messages.get(failed))?.message.status, 'failed');
  });
});
