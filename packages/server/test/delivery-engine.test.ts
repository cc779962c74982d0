import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it, mock } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { RetrySchedule } from '../src/delivery/retry-schedule.js';
import { USER_AGENT } from '../src/version.js';
import {
  ACCOUNT,
  admin,
  firstRetryDelay,
  listenerPool,
  publish,
  register,
  type TestListener,
  waitForMessage,
} from './delivery-fixtures.js';
import { startTestServer, type TestServer } from './helpers.js';
import { testDatabaseBackends } from './postgres.js';

/** The account of the witness messages (see `witness`). */
const WITNESS = '0000123456-00009';

for (const backend of await testDatabaseBackends()) {
  describe(`delivery engine: ${backend.name}`, { skip: backend.skip }, () => {
    let server: TestServer;
    let drop = async () => {};
    const { listen, closeAll: closeListeners } = listenerPool();
    const attemptsOf = (listener: TestListener, id: string) =>
      listener.received.filter((r) => r.headers['webhook-id'] === id).length;
    /**
     * The positive signal behind "no further attempt": a witness message of another account to the same
     * listener, published now and tried until its `attempts`-th attempt is recorded. The retry schedule
     * makes that attempt due later than any attempt the engine could still owe the message under test,
     * and the engine claims due messages in due order, so by then such an attempt would have reached
     * the listener, however loaded the machine (a fixed sleep is only long enough on an idle one).
     */
    const witness = async (listener: TestListener, serviceName: string, attempts: number) => {
      await register(server, listener.url, serviceName, { accountName: WITNESS });
      const id = await publish(server, { requestId: 'witness' }, serviceName, WITNESS);
      await waitForMessage(server, id, (m) => m.attempts >= attempts);
      assert.equal(attemptsOf(listener, id), attempts);
    };

    before(async () => {
      if (backend.skip !== false) return;
      const database = await backend.create();
      drop = database.drop;
      server = await startTestServer({
        // A key of its own: the dev profile would otherwise keep one in ./data for a non-SQLite database.
        env: {
          CCB_ALLOWED_PORTS: 'any',
          DATABASE_URL: database.url,
          CCB_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
        },
        flags: { retrySchedule: '100ms,200ms,300ms', attemptTimeout: '500ms' },
      });
    });
    after(async () => {
      await server?.close();
      await closeListeners();
      await drop();
    });

    it('posts the payload with credentials and counters, signed, with the documented headers', async () => {
      const listener = await listen();
      const registration = await register(server, listener.url, 'CarrierService', {
        username: 'listener-user',
        password: 'listener-pass',
      });
      const id = await publish(server, {
        requestId: 'req-1',
        status: 'Success',
        deviceIds: [{ id: '1', kind: 'iccid' }],
      });
      const [request] = await listener.waitFor(1);
      assert.deepEqual(request.body, {
        requestId: 'req-1',
        status: 'Success',
        deviceIds: [{ id: '1', kind: 'iccid' }],
        username: 'listener-user',
        password: 'listener-pass',
        callbackCount: 1,
        maxCallbackThreshold: 4,
      });
      assert.equal(request.headers['content-type'], 'application/json');
      assert.equal(request.headers['webhook-id'], id);
      assert.equal(request.headers['ccb-account'], ACCOUNT);
      assert.equal(request.headers['ccb-service'], 'CarrierService');
      assert.equal(request.headers['user-agent'], USER_AGENT);
      assert.match(USER_AGENT, /^ccb\/\d+\.\d+\.\d+/);
      const timestamp = Number(request.headers['webhook-timestamp']);
      assert.ok(Math.abs(timestamp - Date.now() / 1000) < 5, 'timestamp is the current unix time in seconds');
      const verified = new Webhook(registration.signingSecret).verify(request.raw, {
        'webhook-id': String(request.headers['webhook-id']),
        'webhook-timestamp': String(request.headers['webhook-timestamp']),
        'webhook-signature': String(request.headers['webhook-signature']),
      });
      assert.equal((verified as { requestId: string }).requestId, 'req-1');
      const done = await waitForMessage(server, id, (m) => m.status === 'delivered');
      assert.equal(done.attempts.length, 1);
      assert.equal(done.attempts[0].statusCode, 200);
      assert.equal(done.attempts[0].responseExcerpt, 'ok');
      assert.equal(done.attempts[0].error, null);
      assert.equal(done.attempts[0].errorKind, null);
    });

    it('sends empty strings for credentials not registered and overrides payload keys with the same names', async () => {
      const listener = await listen();
      await register(server, listener.url, 'DeviceUsage');
      await publish(server, { username: 'spoofed', callbackCount: 99, nested: { password: 'kept' } }, 'DeviceUsage');
      const [request] = await listener.waitFor(1);
      assert.deepEqual(request.body, {
        nested: { password: 'kept' },
        username: '',
        password: '',
        callbackCount: 1,
        maxCallbackThreshold: 4,
      });
    });

    it('retries failed attempts on the schedule and fails the message when attempts run out', async (t) => {
      // The engine's decisions, recorded: what it scheduled, whatever a loaded machine does to the timers.
      const decide = mock.method(RetrySchedule.prototype, 'decide');
      t.after(() => decide.mock.restore());
      const listener = await listen(() => ({ status: 500, body: 'broken' }));
      await register(server, listener.url, 'DeviceService');
      const id = await publish(server, { requestId: 'r' }, 'DeviceService');
      const requests = await listener.waitFor(4, 5_000);
      assert.deepEqual(
        requests.map((r) => r.body.callbackCount),
        [1, 2, 3, 4],
      );
      assert.ok(requests.every((r) => r.headers['webhook-id'] === id && r.body.maxCallbackThreshold === 4));
      const failed = await waitForMessage(server, id, (m) => m.status === 'failed');
      // This listener's answers only (an earlier test's last outcome may be decided meanwhile).
      const decisions = decide.mock.calls
        .filter((call) => call.arguments[2].statusCode === 500)
        .map((call) => ({ now: call.arguments[3], decision: call.result }));
      decide.mock.restore();
      // Delays 100/200/300 ms with ±10% jitter, then no more: as scheduled, and as seen by the listener
      // (never sooner; later by however long a loaded machine takes).
      assert.deepEqual(
        decisions.map(({ decision }) => decision?.kind),
        ['retry', 'retry', 'retry', 'failed'],
      );
      const gaps = requests.slice(1).map((r, i) => r.at - requests[i].at);
      [100, 200, 300].forEach((delay, i) => {
        const { now, decision } = decisions[i];
        const scheduled = decision?.kind === 'retry' ? decision.nextAttemptAt - now : Number.NaN;
        assert.ok(scheduled >= delay * 0.9 && scheduled <= delay * 1.1, `delay ${i + 1} was ${scheduled} ms`);
        assert.ok(gaps[i] >= delay * 0.9 - 5, `gap ${i + 1} was ${gaps[i]} ms`);
      });
      assert.equal(failed.message.reason, 'http_status: the listener answered 500');
      assert.equal(failed.attempts.length, 4);
      assert.deepEqual(
        failed.attempts.map((a) => [a.attemptNumber, a.statusCode, a.errorKind, a.error, a.responseExcerpt]),
        [1, 2, 3, 4].map((n) => [n, 500, 'http_status', 'the listener answered 500', 'broken']),
      );
      // A 5th attempt would be due within 330 ms of the 4th; the witness's 4th is due 540 ms or more after it.
      await witness(listener, 'DeviceService', 4);
      assert.equal(attemptsOf(listener, id), 4, 'no attempt after the last one');
    });

    it('replays a failed message as further attempts of the same id until it is delivered', async () => {
      let healthy = false;
      const listener = await listen(() => (healthy ? { status: 204 } : { status: 503 }));
      await register(server, listener.url, 'StateService');
      const id = await publish(server, { requestId: 'r' }, 'StateService');
      await waitForMessage(server, id, (m) => m.status === 'failed');
      healthy = true;
      const replay = await admin(server, 'POST', `/messages/${id}/replay`);
      assert.equal(replay.status, 202);
      assert.deepEqual(replay.body, { messageId: id, status: 'pending' });
      const delivered = await waitForMessage(server, id, (m) => m.status === 'delivered');
      assert.equal(delivered.attempts.length, 5);
      const last = listener.received[4];
      assert.equal(last.headers['webhook-id'], id);
      assert.equal(last.body.callbackCount, 5);
      assert.equal(last.body.maxCallbackThreshold, 8);
      const again = await admin(server, 'POST', '/messages/msg_unknown/replay');
      assert.equal(again.status, 404);
      assert.equal((again.body as { errorCode: string }).errorCode, 'REQUEST_FAILED.ResourceNotFound');
    });

    it('stops retrying when the listener answers 410 Gone', async () => {
      // The witness is answered 500, so it is retried.
      const listener = await listen((r) => ({ status: r.headers['ccb-account'] === WITNESS ? 500 : 410 }));
      await register(server, listener.url, 'NiddService');
      const id = await publish(server, { requestId: 'r' }, 'NiddService');
      const failed = await waitForMessage(server, id, (m) => m.status === 'failed');
      assert.match(failed.message.reason ?? '', /^gone/);
      assert.equal(failed.attempts.length, 1);
      // A retry would be due within 110 ms of the 410; the witness's 3rd attempt is due 270 ms or more after it.
      await witness(listener, 'NiddService', 3);
      assert.equal(attemptsOf(listener, id), 1);
    });

    it('waits as long as Retry-After asks on a 429', async () => {
      const listener = await listen((_r, index) =>
        index === 0 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 },
      );
      await register(server, listener.url, 'AlertService');
      const id = await publish(server, { requestId: 'r' }, 'AlertService');
      // Scheduled one second after the 429 was read; the real gap between the requests can only be longer.
      // Never sooner; later only by how late a loaded event loop makes the decision after reading the answer.
      const delay = await firstRetryDelay(server, id);
      assert.ok(delay >= 995 && delay < 1_500, `the retry was scheduled ${delay} ms after the 429`);
      const [first, second] = await listener.waitFor(2, 4_000);
      const gap = second.at - first.at;
      assert.ok(gap >= 950, `the retry came ${gap} ms after the 429`);
      await waitForMessage(server, id, (m) => m.status === 'delivered');
    });

    it('records a timeout when the listener does not answer within the attempt timeout', async () => {
      const listener = await listen((_r, index) => (index === 0 ? 'hang' : { status: 200 }));
      await register(server, listener.url, 'PromoChanges');
      const id = await publish(server, { requestId: 'r' }, 'PromoChanges');
      const delivered = await waitForMessage(server, id, (m) => m.status === 'delivered', 5_000);
      assert.equal(delivered.attempts.length, 2);
      assert.equal(delivered.attempts[0].errorKind, 'timeout');
      assert.equal(delivered.attempts[0].error, 'no response within 500 ms');
      assert.equal(delivered.attempts[0].statusCode, null);
      // Cut at the attempt timeout, not sooner (a loaded machine can only make the timer fire later).
      assert.ok(delivered.attempts[0].latencyMs >= 450, `cut after ${delivered.attempts[0].latencyMs} ms`);
    });

    it('records a refused connection as a failed attempt', async () => {
      const listener = await listen();
      await listener.close();
      await register(server, listener.url, 'DiagnosticsService');
      const id = await publish(server, { requestId: 'r' }, 'DiagnosticsService');
      const failed = await waitForMessage(server, id, (m) => m.status === 'failed');
      assert.equal(failed.attempts.length, 4);
      assert.equal(failed.attempts[0].errorKind, 'connection_refused');
      assert.match(failed.message.reason ?? '', /^connection_refused/);
    });

    it('treats a redirect as a failed attempt and does not follow it', async () => {
      const target = await listen();
      const listener = await listen(() => ({ status: 302, headers: { location: target.url } }));
      await register(server, listener.url, 'IntelligenceService');
      const id = await publish(server, { requestId: 'r' }, 'IntelligenceService');
      const failed = await waitForMessage(server, id, (m) => m.status === 'failed');
      assert.equal(failed.attempts[0].errorKind, 'redirect');
      assert.equal(failed.attempts[0].error, 'the listener answered 302 (redirects are not followed)');
      assert.equal(target.received.length, 0);
    });

    it('cancels pending messages when the registration is removed', async () => {
      const listener = await listen(() => ({ status: 500 }));
      await register(server, listener.url, 'SMSDeliveryConfirmation');
      const id = await publish(server, { requestId: 'r' }, 'SMSDeliveryConfirmation');
      await listener.waitFor(1);
      await waitForMessage(server, id, (m) => m.status === 'pending' && m.attempts === 1);
      assert.equal(await server.ctx.registrations.remove(ACCOUNT, 'SMSDeliveryConfirmation'), true);
      const cancelled = await waitForMessage(server, id, (m) => m.status === 'cancelled');
      assert.equal(cancelled.message.reason, 'registration_removed');
      // The retry was due within 110 ms of the first attempt; the witness's 3rd attempt is due 270 ms or more after it.
      await witness(listener, 'SMSDeliveryConfirmation', 3);
      assert.equal(attemptsOf(listener, id), 1, 'no attempt after deregistration');
    });

    it('keeps a message cancelled when its in-flight attempt ends after deregistration', async () => {
      const listener = await listen(() => 'hang');
      await register(server, listener.url, 'ExternalProvisioningChanges');
      const id = await publish(server, { requestId: 'r' }, 'ExternalProvisioningChanges');
      await listener.waitFor(1);
      await server.ctx.registrations.remove(ACCOUNT, 'ExternalProvisioningChanges');
      // The hanging attempt times out (500 ms) and is recorded, but the status stays cancelled.
      const found = await waitForMessage(server, id, (m) => m.attempts === 1, 3_000);
      assert.equal(found.message.status, 'cancelled');
      assert.equal(found.attempts[0].errorKind, 'timeout');
    });

    it('stores a message without a registration as failed, and delivers it on replay once registered', async () => {
      const published = await admin<{ messageId: string; status: string }>(server, 'POST', '/messages', {
        accountName: ACCOUNT,
        serviceName: 'ResumeTrackingNotification',
        payload: { requestId: 'r' },
      });
      assert.equal(published.status, 202);
      assert.equal(published.body.status, 'failed');
      const id = published.body.messageId;
      const stored = await server.ctx.messages.get(id);
      assert.equal(stored?.message.reason, 'no_registration');
      const listener = await listen();
      await register(server, listener.url, 'ResumeTrackingNotification');
      assert.equal((await admin(server, 'POST', `/messages/${id}/replay`)).status, 202);
      const [request] = await listener.waitFor(1);
      assert.equal(request.headers['webhook-id'], id);
      assert.equal(request.body.callbackCount, 1);
      await waitForMessage(server, id, (m) => m.status === 'delivered');
    });
  });
}
