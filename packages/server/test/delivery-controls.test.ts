import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { registerCallbacksCommand } from '../src/cli/callbacks.js';
import { type AttemptError, formatAttemptError, storedAttemptError } from '../src/domain/attempt-error.js';
import { OPERATOR_ACCOUNT, OPERATOR_SERVICE } from '../src/services/operator-events.js';
import type { Attempt } from '../src/store/types.js';
import { runCcbInProcess } from './ccb-in-process.js';
import {
  ACCOUNT,
  admin,
  listenerPool,
  publish,
  register,
  startListener,
  type TestListener,
  waitForMessage,
} from './delivery-fixtures.js';
import { eventually, startTestServer, type TestServer } from './helpers.js';
import { postgresForTests } from './postgres.js';

const pg = await postgresForTests();

/**
 * Slots are exact between attempts; the first one starts at the time the admitting claim began, which
 * may be a little before the publish was acknowledged (docs/delivery-controls.md, precision).
 */
const SLOT_TOLERANCE_MS = 50;

/** The operator webhook's secret in these tests (whsec_ + base64 of 32 bytes). */
const OPERATOR_SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;

interface Backend {
  name: string;
  skip: string | false;
  /** Environment for a server on a fresh database of this backend. */
  env(): Promise<{ env: Record<string, string>; drop(): Promise<void> }>;
}

const BACKENDS: Backend[] = [
  { name: 'SQLite', skip: false, env: async () => ({ env: {}, drop: async () => {} }) },
  {
    name: 'PostgreSQL',
    skip: pg.skip,
    env: async () => {
      if (pg.skip !== false) throw new Error('no PostgreSQL');
      const database = await pg.postgres.createTestDatabase();
      return { env: { DATABASE_URL: database.url }, drop: database.drop };
    },
  },
];

/** The payloads' requestId in the order the listener saw them. */
const order = (listener: TestListener, from = 0) => listener.received.slice(from).map((r) => String(r.body.requestId));

for (const backend of BACKENDS) {
  describe(`delivery controls on ${backend.name}`, { skip: backend.skip }, () => {
    let server: TestServer;
    let drop: () => Promise<void> = async () => {};
    let operator: TestListener;
    const { listen, closeAll: closeListeners } = listenerPool();

    before(async () => {
      operator = await startListener();
      const database = await backend.env();
      drop = database.drop;
      server = await startTestServer({
        env: {
          ...database.env,
          CCB_OPERATOR_WEBHOOK_URL: operator.url,
          CCB_OPERATOR_WEBHOOK_SECRET: OPERATOR_SECRET,
        },
        // Thirty-one attempts a message, a quarter of a second apart: failing streaks last long enough.
        flags: { retrySchedule: Array(30).fill('250ms').join(',') },
      });
    });
    after(async () => {
      await server?.close();
      await Promise.all([operator?.close(), closeListeners()]);
      await drop();
    });

    describe('settings API', () => {
      it('answers the defaults: every control off', async () => {
        await register(server, 'http://127.0.0.1:9001/a', 'DeviceUsage');
        const got = await admin(server, 'GET', `/callbacks/${ACCOUNT}/DeviceUsage/settings`);
        assert.equal(got.status, 200);
        assert.deepEqual(got.body, { ordering: 'none', rateLimit: null, autoDisable: null, enabled: true });
      });

      it('changes only the keys given, and the platform register call (URL replaced) keeps them', async () => {
        await register(server, 'http://127.0.0.1:9001/a', 'AlertService');
        const path = `/callbacks/${ACCOUNT}/AlertService/settings`;
        const first = await admin(server, 'PATCH', path, { ordering: 'fifo', rateLimit: { perMinute: 300 } });
        assert.equal(first.status, 200, JSON.stringify(first.body));
        const second = await admin(server, 'PATCH', path, { autoDisable: { after: '5d', warnAfter: '1d' } });
        const expected = {
          ordering: 'fifo',
          rateLimit: { perMinute: 300 },
          autoDisable: { after: '5d', warnAfter: '1d' },
          enabled: true,
        };
        assert.deepEqual(second.body, expected);
        await register(server, 'http://127.0.0.1:9002/replaced', 'AlertService');
        assert.deepEqual((await admin(server, 'GET', path)).body, expected);
        const view = await admin<{ url: string; settings: unknown }>(
          server,
          'GET',
          `/callbacks/${ACCOUNT}/AlertService`,
        );
        assert.equal(view.body.url, 'http://127.0.0.1:9002/replaced');
        assert.deepEqual(view.body.settings, expected);
      });

      it('refuses unknown keys, bad durations and a warning not before the disable, changing nothing', async () => {
        await register(server, 'http://127.0.0.1:9001/a', 'StateService');
        const path = `/callbacks/${ACCOUNT}/StateService/settings`;
        const before = (await admin(server, 'GET', path)).body;
        const refused: [unknown, string][] = [
          [{ ordering: 'fifo', order: 'fifo' }, 'INPUT_INVALID.Request.UnknownField'],
          [{ rateLimit: { perHour: 5 } }, 'INPUT_INVALID.Request.Body'],
          [{ rateLimit: { perSecond: 0 } }, 'INPUT_INVALID.Request.Body'],
          [{ ordering: 'lifo' }, 'INPUT_INVALID.Request.Body'],
          [{ enabled: 'yes' }, 'INPUT_INVALID.Request.Body'],
          [{ autoDisable: { after: '5 days', warnAfter: '1d' } }, 'INPUT_INVALID.Settings'],
          [{ autoDisable: { after: '1d', warnAfter: '1d' } }, 'INPUT_INVALID.Settings'],
          [{ autoDisable: { after: '5d' } }, 'INPUT_INVALID.Request.Body'],
          [{ ordering: 'fifo', autoDisable: { after: '1h', warnAfter: '2h' } }, 'INPUT_INVALID.Settings'],
        ];
        for (const [body, code] of refused) {
          const answer = await admin<{ errorCode: string; errorMessage: string }>(server, 'PATCH', path, body);
          assert.equal(answer.status, 400, JSON.stringify(body));
          assert.equal(answer.body.errorCode.startsWith('INPUT_INVALID.'), true, JSON.stringify(answer.body));
          if (code !== 'INPUT_INVALID.Request.Body') assert.equal(answer.body.errorCode, code, JSON.stringify(body));
          assert.ok(answer.body.errorMessage.length > 0);
        }
        assert.deepEqual((await admin(server, 'GET', path)).body, before);
      });

      it('answers 404 in the envelope for a registration that does not exist', async () => {
        const answer = await admin<{ errorCode: string }>(
          server,
          'PATCH',
          `/callbacks/${ACCOUNT}/NiddService/settings`,
          { ordering: 'fifo' },
        );
        assert.equal(answer.status, 404);
        assert.equal(answer.body.errorCode, 'REQUEST_FAILED.ResourceNotFound');
      });
    });

    it('FIFO: strict publish order, one at a time, while the first attempt of every third message is refused', async () => {
      // Refuses attempt 1 of messages 0, 3, 6, …: their retries must hold the rest back.
      const listener = await listen((request) =>
        Number(String(request.body.requestId).slice(1)) % 3 === 0 && request.body.callbackCount === 1
          ? { status: 503 }
          : { status: 200 },
      );
      await register(server, listener.url, 'DeviceService');
      const set = await admin(server, 'PATCH', `/callbacks/${ACCOUNT}/DeviceService/settings`, { ordering: 'fifo' });
      assert.equal(set.status, 200);
      const count = 12;
      for (let i = 0; i < count; i++) await publish(server, { requestId: `m${i}` }, 'DeviceService');
      // Every message once, and the refused ones twice.
      await listener.waitFor(count + count / 3, 30_000);
      const seen = order(listener).map((id) => Number(id.slice(1)));
      const expected = Array.from({ length: count }, (_, i) => (i % 3 === 0 ? [i, i] : [i])).flat();
      assert.deepEqual(seen, expected);
      // One at a time: each request arrived after the previous one was answered (the listener answers at once,
      // so a second request in flight would show as two arrivals with the same attempt pending).
      const attempts = listener.received.map((r) => r.body.callbackCount);
      assert.deepEqual(
        attempts,
        expected.map((i, n) => (i % 3 === 0 && expected[n - 1] !== i ? 1 : i % 3 === 0 ? 2 : 1)),
      );
    });

    it('rate limit 5/s: never more than the slots allow since the publish, all delivered, other registrations not held back', async () => {
      const limited = await listen();
      const other = await listen();
      await register(server, limited.url, 'DevicePRLInformation');
      await register(server, other.url, 'DiagnosticsService');
      const set = await admin(server, 'PATCH', `/callbacks/${ACCOUNT}/DevicePRLInformation/settings`, {
        rateLimit: { perSecond: 5 },
      });
      assert.equal(set.status, 200);
      const count = 15;
      const publishedAt = Date.now();
      const batch = await admin<{ messageIds: string[] }>(server, 'POST', '/messages/batch', {
        messages: Array.from({ length: count }, (_, i) => ({
          accountName: ACCOUNT,
          serviceName: 'DevicePRLInformation',
          payload: { requestId: `r${i}` },
        })),
      });
      assert.equal(batch.status, 202);
      const witness = await publish(server, { requestId: 'witness' }, 'DiagnosticsService');
      await other.waitFor(1, 10_000);
      // The unlimited registration was served while the limited one still had most of its messages waiting.
      assert.ok(limited.received.length < count, `witness came after ${limited.received.length} limited deliveries`);
      await waitForMessage(server, witness, (m) => m.status === 'delivered');
      await limited.waitFor(count, 30_000);
      // Slots are 200 ms apart and no attempt starts before its slot: the k-th delivery (from 0) comes at
      // least k × 200 ms after the publish, however late the machine ran any of them.
      const times = limited.received.map((r) => r.at - publishedAt).sort((a, b) => a - b);
      for (const [k, t] of times.entries())
        assert.ok(t >= k * 200 - SLOT_TOLERANCE_MS, `delivery ${k} came ${t} ms after the publish`);
      // Counted per window: at most 5 in the first second, 10 in the first two.
      assert.ok(times.filter((t) => t < 1_000 - SLOT_TOLERANCE_MS).length <= 5, JSON.stringify(times));
      assert.ok(times.filter((t) => t < 2_000 - SLOT_TOLERANCE_MS).length <= 10, JSON.stringify(times));
      for (const id of batch.body.messageIds) await waitForMessage(server, id, (m) => m.status === 'delivered');
      assert.deepEqual(new Set(order(limited)).size, count);
    });

    it('warns, disables, stores new messages failed, re-enables without replaying, recovers: operator events signed as documented', async () => {
      let failing = true;
      const listener = await listen(() => (failing ? { status: 500 } : { status: 200 }));
      const service = 'SMSDeliveryConfirmation';
      await register(server, listener.url, service);
      const path = `/callbacks/${ACCOUNT}/${service}`;
      const set = await admin(server, 'PATCH', `${path}/settings`, { autoDisable: { after: '3s', warnAfter: '1s' } });
      assert.equal(set.status, 200);
      const first = await publish(server, { requestId: 'f1' }, service);
      const eventsOf = (type: string) => operator.received.filter((r) => (r.body as { type?: string }).type === type);
      await eventually(() => eventsOf('registration.disabled').length === 1, {
        timeout: 20_000,
        what: 'registration.disabled',
      });
      // The event is stored before the health that decided it: the disable lands just after.
      const view = await eventually(
        async () => {
          const read = await admin<{
            settings: { enabled: boolean };
            health: { failingSince: string; consecutiveFailures: number; disabledAt: string; warnedAt: string };
          }>(server, 'GET', path);
          return read.body.settings.enabled === false ? read : undefined;
        },
        { timeout: 5_000, what: 'the registration disabled' },
      );
      assert.ok(view.body.health.consecutiveFailures >= 5, JSON.stringify(view.body.health));
      await waitForMessage(server, first, (m) => m.status === 'failed' && m.reason === 'registration_disabled');
      const attemptsWhenDisabled = listener.received.length;

      // New messages are stored failed, replayable.
      const later = await admin<{ messageId: string; status: string }>(server, 'POST', '/messages', {
        accountName: ACCOUNT,
        serviceName: service,
        payload: { requestId: 'f2' },
      });
      assert.equal(later.body.status, 'failed');
      assert.equal((await server.ctx.messages.get(later.body.messageId))?.message.reason, 'registration_disabled');

      // Enabled again: nothing is replayed by itself; a replay delivers, and the success is reported.
      failing = false;
      const enabled = await admin(server, 'PATCH', `${path}/settings`, { enabled: true });
      assert.equal((enabled.body as { enabled: boolean }).enabled, true);
      const replayed = await admin(server, 'POST', `/messages/${later.body.messageId}/replay`);
      assert.equal(replayed.status, 202, JSON.stringify(replayed.body));
      await waitForMessage(server, later.body.messageId, (m) => m.status === 'delivered', 10_000);
      // The only request since the disable is the replayed one: the first message was not replayed.
      assert.deepEqual(order(listener, attemptsWhenDisabled), ['f2']);
      await eventually(() => eventsOf('registration.recovered').length === 1, {
        timeout: 10_000,
        what: 'registration.recovered',
      });

      // Exhausted: a message answered 410 Gone fails for good at once.
      const gone = await listen(() => ({ status: 410 }));
      await register(server, gone.url, 'PromoChanges');
      const goneId = await publish(server, { requestId: 'g1' }, 'PromoChanges');
      await eventually(() => eventsOf('message.exhausted').length === 1, {
        timeout: 10_000,
        what: 'message.exhausted',
      });

      // Every event: signed with the operator secret, and exactly the documented body.
      const webhook = new Webhook(OPERATOR_SECRET);
      for (const request of operator.received) {
        const headers = Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k, String(v)])) as Record<
          string,
          string
        >;
        webhook.verify(request.raw, headers);
        assert.equal(request.headers['ccb-account'], OPERATOR_ACCOUNT);
        assert.equal(request.headers['ccb-service'], OPERATOR_SERVICE);
      }
      const engineKeys = { username: '', password: '', callbackCount: 1, maxCallbackThreshold: 31 };
      const [warning] = eventsOf('registration.failing');
      const [disabled] = eventsOf('registration.disabled');
      const [recovered] = eventsOf('registration.recovered');
      const [exhausted] = eventsOf('message.exhausted');
      const health = view.body.health;
      assert.ok(warning, 'registration.failing was sent');
      const w = warning.body as { timestamp: string; data: { consecutiveFailures: number; lastSuccessAt: null } };
      assert.deepEqual(warning.body, {
        type: 'registration.failing',
        timestamp: w.timestamp,
        data: {
          accountName: ACCOUNT,
          serviceName: service,
          url: listener.url,
          failingSince: health.failingSince,
          consecutiveFailures: w.data.consecutiveFailures,
          lastSuccessAt: null,
          disableAt: new Date(Date.parse(health.failingSince) + 3_000).toISOString(),
        },
        ...engineKeys,
      });
      assert.equal(w.timestamp, health.warnedAt);
      assert.ok(Date.parse(w.timestamp) - Date.parse(health.failingSince) >= 1_000);
      assert.deepEqual(disabled.body, {
        type: 'registration.disabled',
        timestamp: health.disabledAt,
        data: {
          accountName: ACCOUNT,
          serviceName: service,
          url: listener.url,
          failingSince: health.failingSince,
          consecutiveFailures: health.consecutiveFailures,
          lastSuccessAt: null,
          disabledAt: health.disabledAt,
        },
        ...engineKeys,
      });
      assert.ok(Date.parse(health.disabledAt) - Date.parse(health.failingSince) >= 3_000);
      const after = await admin<{ health: { lastSuccessAt: string; consecutiveFailures: number } }>(
        server,
        'GET',
        path,
      );
      assert.equal(after.body.health.consecutiveFailures, 0);
      assert.deepEqual(recovered.body, {
        type: 'registration.recovered',
        timestamp: after.body.health.lastSuccessAt,
        data: {
          accountName: ACCOUNT,
          serviceName: service,
          url: listener.url,
          recoveredAt: after.body.health.lastSuccessAt,
        },
        ...engineKeys,
      });
      const goneMessage = await server.ctx.messages.get(goneId);
      assert.deepEqual(exhausted.body, {
        type: 'message.exhausted',
        timestamp: new Date(goneMessage?.attempts[0].startedAt ?? 0).toISOString(),
        data: {
          messageId: goneId,
          accountName: ACCOUNT,
          serviceName: 'PromoChanges',
          attempts: 1,
          reason: goneMessage?.message.reason,
          lastStatusCode: 410,
          lastError: formatAttemptError(storedAttemptError(goneMessage?.attempts[0] as Attempt) as AttemptError),
        },
        ...engineKeys,
      });
      // The dashboard's list: the same events, newest first.
      const listed = await admin<{ items: { type: string; status: string }[] }>(server, 'GET', '/operator/events');
      assert.deepEqual(listed.body.items.map((i) => i.type).sort(), [
        'message.exhausted',
        'registration.disabled',
        'registration.failing',
        'registration.recovered',
      ]);
    });
  });
}

describe('ccb callbacks settings', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server?.close());
  const ccb = (...args: string[]) =>
    runCcbInProcess([registerCallbacksCommand], ['callbacks', 'settings', ...args, '--server', server.baseUrl]);

  it('shows the settings and health, changes them by flags, and refuses bad ones without changing anything', async () => {
    await register(server, 'http://127.0.0.1:9001/cb', 'CarrierService');
    const shown = await ccb(ACCOUNT, 'CarrierService');
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /ordering\s+none/);
    assert.match(shown.stdout, /rate limit\s+none/);
    assert.match(shown.stdout, /no attempts yet/);
    const changed = await ccb(
      ACCOUNT,
      'CarrierService',
      '--fifo',
      '--rate',
      '300/m',
      '--auto-disable',
      'after=5d,warn=1d',
      '--json',
    );
    assert.equal(changed.code, 0, changed.stderr);
    assert.deepEqual(JSON.parse(changed.stdout).settings, {
      ordering: 'fifo',
      rateLimit: { perMinute: 300 },
      autoDisable: { after: '5d', warnAfter: '1d' },
      enabled: true,
    });
    for (const bad of [
      ['--rate', '5/h'],
      ['--auto-disable', 'after=1d'],
      ['--auto-disable', 'after=1d,warn=2d'],
      ['--enable', '--disable'],
    ]) {
      const refused = await ccb(ACCOUNT, 'CarrierService', ...bad);
      assert.equal(refused.code, 1, bad.join(' '));
      assert.match(refused.stderr, /^Error: /, bad.join(' '));
    }
    const back = await ccb(
      ACCOUNT,
      'CarrierService',
      '--no-fifo',
      '--rate',
      'none',
      '--auto-disable',
      'none',
      '--disable',
    );
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stdout, /ordering\s+none/);
    assert.match(back.stdout, /enabled\s+no/);
  });
});

describe('with every control off', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server?.close());

  it('adds no admission query to a claim while no registration holds its messages', async () => {
    const listener = await startListener();
    try {
      await register(server, listener.url, 'CarrierService');
      const store = server.ctx.store;
      const calls = { admitHeld: 0, claimDue: 0 };
      // admitHeld was never called on this server, so the store's guard picks up the spy.
      const admitHeld = store.messages.admitHeld.bind(store.messages);
      store.messages.admitHeld = (...args) => {
        calls.admitHeld++;
        return admitHeld(...args);
      };
      const messages = server.ctx.messages;
      const claimDue = messages.claimDue.bind(messages);
      messages.claimDue = (...args) => {
        calls.claimDue++;
        return claimDue(...args);
      };
      // Stored straight as due messages (not handed to the dispatcher by a publish): claims take them.
      const now = Date.now();
      await store.messages.insert(
        Array.from({ length: 50 }, (_, i) => ({
          id: `msg_off_${String(i).padStart(4, '0')}`,
          accountName: ACCOUNT,
          serviceName: 'CarrierService',
          payload: JSON.stringify({ requestId: `off-${i}` }),
          status: 'pending' as const,
          maxAttempts: 4,
          nextAttemptAt: now,
          reason: null,
          idempotency: null,
        })),
        now,
      );
      server.ctx.notifyPublished();
      await listener.waitFor(50, 30_000);
      assert.ok(calls.claimDue > 0, `the dispatcher claimed (${JSON.stringify(calls)})`);
      assert.equal(calls.admitHeld, 0, 'no admission while no registration holds its messages');
    } finally {
      await listener.close();
    }
  });
});
