import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ACCOUNT, startListener, type TestListener } from './delivery-fixtures.js';
import { adminHeaders, eventually, inject, login, startTestServer, type TestServer } from './helpers.js';
import { childProcessTest, runCcb } from './server-process.js';

// "Deliver now": replaying a pending message makes it due at once instead of after its retry delay.
describe('deliver a pending message now', () => {
  let server: TestServer;
  let listener: TestListener;

  before(async () => {
    // A retry delay far longer than the test: only a replay can bring the second attempt.
    server = await startTestServer({ env: { CCB_ALLOWED_PORTS: 'any' }, flags: { retrySchedule: '1h,1h' } });
    listener = await startListener();
    const session = await login(server);
    const registered = await inject(server, `/api/m2m/v1/callbacks/${ACCOUNT}`, {
      method: 'POST',
      headers: session.headers,
      body: { name: 'CarrierService', url: listener.url },
    });
    assert.equal(registered.status, 200, registered.text);
  });
  after(async () => {
    await listener.close();
    await server.close();
  });

  async function publish(): Promise<string> {
    const published = await inject(server, `/admin/v1/messages`, {
      method: 'POST',
      headers: adminHeaders(server),
      body: { accountName: ACCOUNT, serviceName: 'CarrierService', payload: { requestId: 'r-1' } },
    });
    assert.equal(published.status, 202, published.text);
    return published.body.messageId;
  }

  const message = (id: string) => inject(server, `/admin/v1/messages/${id}`, { headers: adminHeaders(server) });
  const replay = (id: string) =>
    inject(server, `/admin/v1/messages/${id}/replay`, { method: 'POST', headers: adminHeaders(server) });

  it('a message waiting for its next attempt is delivered at once, under the same id', async () => {
    listener.reply = (_request, index) => (index === 0 ? { status: 503 } : { status: 204 });
    const id = await publish();
    const waiting = await eventually(
      async () => {
        const found = await message(id);
        return found.body.status === 'pending' && found.body.attempts === 1 ? found : undefined;
      },
      { what: 'the first attempt failed and the message waits' },
    );
    assert.ok(Date.parse(waiting.body.nextAttemptAt) - Date.now() > 30 * 60_000, waiting.text);

    const replayed = await replay(id);
    assert.equal(replayed.status, 202, replayed.text);
    assert.deepEqual(replayed.body, { messageId: id, status: 'pending' });
    const delivered = await eventually(
      async () => {
        const found = await message(id);
        return found.body.status === 'delivered' ? found : undefined;
      },
      { what: 'the replayed message delivered' },
    );
    assert.deepEqual(
      delivered.body.deliveryAttempts.map((a: { statusCode: number }) => a.statusCode),
      [503, 204],
    );
    const received = listener.received.filter((r) => r.headers['webhook-id'] === id);
    assert.deepEqual(
      received.map((r) => r.body.callbackCount),
      [1, 2],
    );
  });

  it('a message being delivered right now answers 409 MessageDelivering and is left alone', async () => {
    listener.reply = () => 'hang';
    const before = listener.received.length;
    const id = await publish();
    await listener.waitFor(before + 1);
    const refused = await replay(id);
    assert.equal(refused.status, 409, refused.text);
    assert.equal(refused.body.errorCode, 'REQUEST_FAILED.MessageDelivering');
    assert.match(refused.body.errorMessage, /being delivered right now/);
    assert.equal((await message(id)).body.status, 'delivering');
  });

  it('an unknown id answers 404', async () => {
    const missing = await replay('msg_does_not_exist');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.errorCode, 'REQUEST_FAILED.ResourceNotFound');
  });

  it('ccb messages replay <id> delivers a pending message now', childProcessTest, async () => {
    listener.reply = () => ({ status: 503 });
    const id = await publish();
    await eventually(async () => (await message(id)).body.attempts === 1, { what: 'the first attempt failed' });
    listener.reply = () => ({ status: 204 });
    const run = await runCcb([
      'messages',
      'replay',
      id,
      '--server',
      server.baseUrl,
      '--admin-token',
      server.adminToken,
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`Queued ${id} for delivery again \\(pending\\)`));
    await eventually(async () => (await message(id)).body.status === 'delivered', {
      what: 'delivered after the CLI replay',
    });
  });
});
