import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { ACCOUNT, admin, listenerPool, publish, register, waitForMessage } from './delivery-fixtures.js';
import { eventually, inject, startTestServer, type TestServer } from './helpers.js';

interface ErrorBody {
  errorCode: string;
  errorMessage: string;
}

describe('admin messages API', () => {
  let server: TestServer;
  const { listen, closeAll: closeListeners } = listenerPool();

  before(async () => {
    server = await startTestServer({
      env: { CCB_ALLOWED_PORTS: 'any' },
      flags: { retrySchedule: '50ms', attemptTimeout: '1s' },
    });
  });
  after(async () => {
    await server.close();
    await closeListeners();
  });

  it('refuses a publish without the admin token', async () => {
    const response = await fetch(`${server.baseUrl}/admin/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ accountName: ACCOUNT, serviceName: 'CarrierService', payload: {} }),
    });
    assert.equal(response.status, 401);
  });

  it('refuses a payload that is not a JSON object, an unknown service and a malformed account name', async () => {
    const cases = [
      { accountName: ACCOUNT, serviceName: 'CarrierService', payload: [1, 2] },
      { accountName: ACCOUNT, serviceName: 'CarrierService', payload: 'text' },
      { accountName: ACCOUNT, serviceName: 'NoSuchService', payload: {} },
      { accountName: 'bad name!', serviceName: 'CarrierService', payload: {} },
      { accountName: ACCOUNT, serviceName: 'CarrierService' },
    ];
    for (const body of cases) {
      const response = await admin<ErrorBody>(server, 'POST', '/messages', body);
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.match(response.body.errorCode, /^INPUT_INVALID\./);
    }
  });

  it('returns the first message for a repeated Idempotency-Key', async () => {
    const body = { accountName: ACCOUNT, serviceName: 'DeviceService', payload: { requestId: 'idem' } };
    const first = await admin<{ messageId: string }>(server, 'POST', '/messages', body, { 'idempotency-key': 'k-1' });
    const second = await admin<{ messageId: string }>(server, 'POST', '/messages', body, { 'idempotency-key': 'k-1' });
    const other = await admin<{ messageId: string }>(server, 'POST', '/messages', body, { 'idempotency-key': 'k-2' });
    assert.equal(first.status, 202);
    assert.equal(second.status, 202);
    assert.equal(second.body.messageId, first.body.messageId);
    assert.equal(second.headers.get('idempotent-replayed'), 'true');
    assert.notEqual(other.body.messageId, first.body.messageId);
  });

  it('answers 422 for an Idempotency-Key reused with another payload, also inside a batch, and stores nothing', async () => {
    const body = { accountName: ACCOUNT, serviceName: 'DeviceService', payload: { requestId: 'idem-a' } };
    const before = await admin<{ queueDepth: number; counts: Record<string, number> }>(server, 'GET', '/stats');
    await admin(server, 'POST', '/messages', body, { 'idempotency-key': 'k-422' });
    const reused = await admin<ErrorBody>(
      server,
      'POST',
      '/messages',
      { ...body, payload: { requestId: 'idem-b' } },
      { 'idempotency-key': 'k-422' },
    );
    assert.equal(reused.status, 422);
    assert.equal(reused.body.errorCode, 'INPUT_INVALID.IdempotencyKey');
    assert.match(reused.body.errorMessage, /k-422.*different payload/);
    const batch = await admin<ErrorBody>(server, 'POST', '/messages/batch', {
      messages: [
        { ...body, payload: { n: 1 }, idempotencyKey: 'k-batch' },
        { ...body, payload: { n: 2 }, idempotencyKey: 'k-batch' },
      ],
    });
    assert.equal(batch.status, 422);
    assert.match(batch.body.errorMessage, /messages\[1\]/);
    const after = await admin<{ counts: Record<string, number> }>(server, 'GET', '/stats');
    const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
    assert.equal(sum(after.body.counts), sum(before.body.counts) + 1);
  });

  it('refuses a cursor it did not make with a 400 envelope', async () => {
    for (const cursor of ['123', '99999999999999999999', 'not-a-cursor']) {
      const response = await admin<ErrorBody>(server, 'GET', `/messages?cursor=${cursor}`);
      assert.equal(response.status, 400, cursor);
      assert.equal(response.body.errorCode, 'INPUT_INVALID.Request.Query');
    }
  });

  it('publishes a batch in one call and refuses empty or oversized batches', async () => {
    const listener = await listen();
    await register(server, listener.url, 'DeviceUsage');
    const messages = Array.from({ length: 25 }, (_, i) => ({
      accountName: ACCOUNT,
      serviceName: 'DeviceUsage',
      payload: { requestId: `b-${i}` },
    }));
    const response = await admin<{ messageIds: string[] }>(server, 'POST', '/messages/batch', { messages });
    assert.equal(response.status, 202);
    assert.equal(response.body.messageIds.length, 25);
    assert.equal(new Set(response.body.messageIds).size, 25);
    const received = await listener.waitFor(25);
    assert.deepEqual(new Set(received.map((r) => r.headers['webhook-id'])), new Set(response.body.messageIds));

    assert.equal((await admin(server, 'POST', '/messages/batch', { messages: [] })).status, 400);
    const tooMany = Array.from({ length: 1001 }, () => messages[0]);
    assert.equal((await admin(server, 'POST', '/messages/batch', { messages: tooMany })).status, 400);
  });

  it('lists messages newest first with a cursor, filtered by account, service and status', async () => {
    const account = '0000999999-00001';
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await publish(server, { requestId: `l-${i}` }, 'CarrierService', account));
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 5; page++) {
      const query: string = `accountName=${account}&serviceName=CarrierService&status=failed&limit=2${
        cursor ? `&cursor=${cursor}` : ''
      }`;
      const response = await admin<{ items: { id: string; payload: { requestId: string } }[]; nextCursor: string }>(
        server,
        'GET',
        `/messages?${query}`,
      );
      assert.equal(response.status, 200);
      seen.push(...response.body.items.map((m) => m.id));
      cursor = response.body.nextCursor;
      if (!cursor) break;
    }
    assert.deepEqual(seen, [...ids].reverse());
    const one = await admin<{ items: { payload: { requestId: string }; status: string; reason: string }[] }>(
      server,
      'GET',
      `/messages?accountName=${account}&limit=1`,
    );
    assert.deepEqual(one.body.items[0].payload, { requestId: 'l-4' });
    assert.equal(one.body.items[0].status, 'failed');
    assert.equal(one.body.items[0].reason, 'no_registration');
    assert.equal((await admin(server, 'GET', '/messages?status=lost')).status, 400);
  });

  it('shows one message with every attempt, and 404 for an unknown id', async () => {
    const listener = await listen((_r, index) =>
      index === 0 ? { status: 500, body: 'first fails' } : { status: 200 },
    );
    await register(server, listener.url, 'NiddService');
    const id = await publish(server, { requestId: 'show' }, 'NiddService');
    await waitForMessage(server, id, (m) => m.status === 'delivered');
    const response = await admin<{
      id: string;
      status: string;
      attempts: number;
      deliveredAt: string;
      deliveryAttempts: {
        attemptNumber: number;
        statusCode: number;
        error: { kind: string; detail: string } | null;
        responseExcerpt: string;
      }[];
    }>(server, 'GET', `/messages/${id}`);
    assert.equal(response.status, 200);
    assert.equal(response.body.status, 'delivered');
    assert.equal(response.body.attempts, 2);
    assert.ok(!Number.isNaN(Date.parse(response.body.deliveredAt)));
    assert.deepEqual(
      response.body.deliveryAttempts.map((a) => [a.attemptNumber, a.statusCode, a.error, a.responseExcerpt]),
      [
        [1, 500, { kind: 'http_status', detail: 'the listener answered 500' }, 'first fails'],
        [2, 200, null, null],
      ],
    );
    const missing = await admin<ErrorBody>(server, 'GET', '/messages/msg_nope');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.errorCode, 'REQUEST_FAILED.ResourceNotFound');
  });

  it('replays every matching message in a background job and reports its progress', async () => {
    const account = '0000777777-00001';
    const messages = Array.from({ length: 30 }, (_, i) => ({
      accountName: account,
      serviceName: 'AlertService',
      payload: { requestId: `bulk-${i}` },
    }));
    const published = await admin<{ messageIds: string[] }>(server, 'POST', '/messages/batch', { messages });
    const listener = await listen();
    await register(server, listener.url, 'AlertService', { accountName: account });
    const started = await admin<{ jobId: string }>(server, 'POST', '/messages/replay', {
      filter: { status: 'failed', accountName: account, since: new Date(Date.now() - 60_000).toISOString() },
    });
    assert.equal(started.status, 202);
    const job = await eventually(async () => {
      const { body } = await admin<{ status: string; matched: number; replayed: number }>(
        server,
        'GET',
        `/replays/${started.body.jobId}`,
      );
      return body.status !== 'running' ? body : undefined;
    });
    assert.deepEqual(job && { status: job.status, matched: job.matched, replayed: job.replayed }, {
      status: 'done',
      matched: 30,
      replayed: 30,
    });
    const received = await listener.waitFor(30);
    assert.deepEqual(new Set(received.map((r) => r.headers['webhook-id'])), new Set(published.body.messageIds));
    assert.equal((await admin(server, 'GET', '/replays/rpl_unknown')).status, 404);
    const badFilter = await admin(server, 'POST', '/messages/replay', { filter: { since: 'yesterday-ish' } });
    assert.equal(badFilter.status, 400);
  });

  it('leaves alone, and counts, the messages a replay would only fail again for want of a listener', async () => {
    const account = '0000888888-00001';
    const publishTo = async (serviceName: string, n: number) =>
      (
        await admin<{ messageIds: string[] }>(server, 'POST', '/messages/batch', {
          messages: Array.from({ length: n }, (_, i) => ({ accountName: account, serviceName, payload: { i } })),
        })
      ).body.messageIds;
    const heard = await publishTo('StateService', 2);
    const unheard = await publishTo('PromoChanges', 3);
    const listener = await listen();
    await register(server, listener.url, 'StateService', { accountName: account });

    const started = await admin<{ jobId: string }>(server, 'POST', '/messages/replay', {
      filter: { status: 'failed', accountName: account },
    });
    const job = await eventually(async () => {
      const { body } = await admin<{ status: string }>(server, 'GET', `/replays/${started.body.jobId}`);
      return body.status !== 'running' ? body : undefined;
    });
    assert.deepEqual(job && { ...job, startedAt: undefined, finishedAt: undefined }, {
      jobId: started.body.jobId,
      status: 'done',
      matched: 5,
      replayed: 2,
      noListener: 3,
      startedAt: undefined,
      finishedAt: undefined,
      error: null,
    });
    const received = await listener.waitFor(2);
    assert.deepEqual(new Set(received.map((r) => r.headers['webhook-id'])), new Set(heard));
    for (const id of unheard) {
      const { body } = await admin<{ status: string; reason: string; maxAttempts: number }>(
        server,
        'GET',
        `/messages/${id}`,
      );
      assert.deepEqual([body.status, body.reason], ['failed', 'no_registration'], 'not queued, still replayable');
    }

    const single = await admin<ErrorBody>(server, 'POST', `/messages/${unheard[0]}/replay`);
    assert.equal(single.status, 400);
    assert.equal(single.body.errorCode, 'REQUEST_FAILED.CallbackNotFound');
    assert.match(single.body.errorMessage, /no listener is registered for PromoChanges of account 0000888888-00001/);
    assert.equal((await admin<{ status: string }>(server, 'GET', `/messages/${unheard[0]}`)).body.status, 'failed');

    await register(server, listener.url, 'PromoChanges', { accountName: account });
    assert.equal((await admin(server, 'POST', `/messages/${unheard[0]}/replay`)).status, 202);
    await listener.waitFor(3);
  });

  it('lists by time range, reason kind, message id and payload field, and refuses a bad search', async () => {
    const account = '0000888888-00077';
    const start = Date.now();
    // No registration: both fail at once with reason no_registration.
    const published = await admin<{ messageIds: string[] }>(server, 'POST', '/messages/batch', {
      messages: ['find-1', 'find-2'].map((requestId, n) => ({
        accountName: account,
        serviceName: 'AlertService',
        payload: { requestId, n },
      })),
    });
    const [first, second] = published.body.messageIds;
    const list = async (query: string) => {
      const response = await admin<{ items: { id: string }[] }>(
        server,
        'GET',
        `/messages?accountName=${account}&${query}`,
      );
      assert.equal(response.status, 200, `${query}: ${JSON.stringify(response.body)}`);
      return response.body.items.map((m) => m.id);
    };
    assert.deepEqual(await list('reason=no_registration'), [second, first]);
    assert.deepEqual(await list('reason=timeout'), []);
    assert.deepEqual(await list(`q=${first}`), [first]);
    assert.deepEqual(await list(`q=${encodeURIComponent('requestId=find-2')}`), [second]);
    assert.deepEqual(await list(`q=${encodeURIComponent('n=0')}`), [first]);
    assert.deepEqual(await list(`since=${start - 1000}`), [second, first]);
    assert.deepEqual(await list(`since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`), []);
    assert.deepEqual(await list(`until=${start - 60_000}`), []);

    for (const query of ['q=find-1', 'q=%20', 'since=yesterday-ish', 'reason=no_such_reason', 'until=']) {
      const refused = await admin<ErrorBody>(server, 'GET', `/messages?${query}`);
      assert.equal(refused.status, 400, query);
      assert.equal(refused.body.errorCode, 'INPUT_INVALID.Request.Query', query);
    }
  });

  it('rotates a signing secret and signs with both secrets during the grace period', async () => {
    const listener = await listen();
    await register(server, listener.url, 'EnhancedConnectivityService');
    const path = `/callbacks/${ACCOUNT}/EnhancedConnectivityService/secret`;
    const before = await admin<{ secret: string; previousSecret?: string }>(server, 'GET', path);
    assert.equal(before.status, 200);
    assert.match(before.body.secret, /^whsec_[A-Za-z0-9+/]+=*$/);
    assert.equal(before.body.previousSecret, undefined);

    const rotated = await admin<{ secret: string; previousSecret: string; previousSecretExpiresAt: string }>(
      server,
      'POST',
      `${path}/rotate`,
    );
    assert.equal(rotated.status, 200);
    assert.notEqual(rotated.body.secret, before.body.secret);
    assert.equal(rotated.body.previousSecret, before.body.secret);
    const grace = Date.parse(rotated.body.previousSecretExpiresAt) - Date.now();
    assert.ok(grace > 23.9 * 3600_000 && grace <= 24 * 3600_000);

    await publish(server, { requestId: 'rotated' }, 'EnhancedConnectivityService');
    const [request] = await listener.waitFor(1);
    const signatures = String(request.headers['webhook-signature']).split(' ');
    assert.equal(signatures.length, 2);
    for (const [secret, signature] of [
      [rotated.body.secret, signatures[0]],
      [before.body.secret, signatures[1]],
    ]) {
      const headers = {
        'webhook-id': String(request.headers['webhook-id']),
        'webhook-timestamp': String(request.headers['webhook-timestamp']),
        'webhook-signature': signature,
      };
      assert.doesNotThrow(() => new Webhook(secret).verify(request.raw, headers));
    }

    const unknown = await admin<ErrorBody>(server, 'GET', `/callbacks/${ACCOUNT}/AlertService/secret`);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.errorCode, 'REQUEST_FAILED.ResourceNotFound');
    assert.equal((await admin(server, 'POST', `/callbacks/${ACCOUNT}/AlertService/secret/rotate`)).status, 404);
  });

  it('reports counts by status, queue depth and the oldest due age', async () => {
    const response = await admin<{
      counts: Record<string, number>;
      queueDepth: number;
      oldestDueAgeMs: number;
    }>(server, 'GET', '/stats');
    assert.equal(response.status, 200);
    assert.deepEqual(Object.keys(response.body.counts).sort(), [
      'cancelled',
      'delivered',
      'delivering',
      'failed',
      'pending',
    ]);
    const stats = await server.ctx.messages.stats(Date.now());
    assert.equal(response.body.counts.failed, stats.counts.failed);
    assert.ok(response.body.counts.delivered > 0);
    assert.ok(response.body.counts.failed > 0);
    assert.equal(response.body.queueDepth, response.body.counts.pending + response.body.counts.delivering);
  });

  it('exposes delivery metrics in the Prometheus format', async () => {
    const response = await fetch(`${server.baseUrl}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await response.text();
    assert.match(text, /^ccb_messages_published_total\{service="DeviceUsage"\} \d+/m);
    assert.match(text, /^ccb_attempts_total\{outcome="success"\} \d+/m);
    assert.match(text, /^ccb_attempts_total\{outcome="http_5xx"\} \d+/m);
    assert.match(text, /^ccb_attempt_duration_seconds_bucket\{le="0.005"\} \d+/m);
    assert.match(text, /^ccb_queue_depth \d+/m);
    assert.match(text, /^ccb_oldest_due_message_age_seconds \d+/m);
    assert.match(text, /^ccb_messages\{status="pending"\} \d+/m);
    assert.match(text, /^process_cpu_user_seconds_total /m);
  });

  it('keeps the counters of each server apart, even in one process', async () => {
    const other = await startTestServer();
    try {
      const before = (await inject(other, '/metrics')).text;
      assert.doesNotMatch(before, /^ccb_messages_published_total\{/m, 'a new server has counted nothing');
      await publish(server, { requestId: 'r-apart' }, 'DeviceUsage');
      assert.equal((await inject(other, '/metrics')).text.match(/^ccb_messages_published_total\{/m), null);
      const own = (await inject(server, '/metrics')).text;
      assert.match(own, /^ccb_messages_published_total\{service="DeviceUsage"\} [1-9]\d*/m);
    } finally {
      await other.close();
    }
  });
});
