// test tier: full (the reliability suite: npm test and npm run test:reliability)
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { AttemptErrorKind } from '../src/domain/attempt-error.js';
import {
  admin,
  firstRetryDelay,
  publish,
  register,
  startListener,
  type TestListener,
  waitForMessage,
} from './delivery-fixtures.js';
import { startTestServer, type TestServer } from './helpers.js';

/**
 * Listener faults (issue 12): each misbehaving listener gets its failed attempts recorded with a typed
 * reason and retried on the schedule, while a healthy listener's deliveries carry on meanwhile.
 */

const DELAY_MS = 150;
const TIMEOUT_MS = 600;
/** Attempts allowed: two retry delays + 1. */
const ATTEMPTS = 3;

const ok = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';

interface RawListener {
  url: string;
  /** Requests read completely so far. */
  requests: number;
  close(): Promise<void>;
}

/**
 * A TCP listener speaking just enough HTTP/1.1 to read each request (headers and a content-length
 * body, several per connection) and hand the socket to `answer`, which may misbehave at will.
 */
async function rawListener(answer: (socket: Socket, index: number) => void): Promise<RawListener> {
  const sockets = new Set<Socket>();
  const listener: RawListener = {
    url: '',
    requests: 0,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffered.subarray(0, end).toString('latin1');
        const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        buffered = buffered.subarray(end + 4 + length);
        answer(socket, listener.requests++);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  listener.url = `http://127.0.0.1:${port}/hook`;
  return listener;
}

/** An https:// URL whose listener answers in plain HTTP: the TLS handshake fails. */
async function plainTextTlsListener(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => socket.end(ok));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `https://127.0.0.1:${port}/hook`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

interface AttemptView {
  attemptNumber: number;
  startedAt: string;
  statusCode: number | null;
  error: { kind: AttemptErrorKind; detail: string } | null;
  responseExcerpt: string | null;
}
interface MessageView {
  status: string;
  reason: string | null;
  deliveryAttempts: AttemptView[];
}

async function attemptsTotals(server: TestServer): Promise<Map<string, number>> {
  const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
  const totals = new Map<string, number>();
  for (const match of text.matchAll(/^ccb_attempts_total\{outcome="([^"]+)"\} (\d+)/gm)) {
    totals.set(match[1], Number(match[2]));
  }
  return totals;
}

describe('listener faults', () => {
  let server: TestServer;
  const closers: (() => Promise<void>)[] = [];
  let account = 0;

  before(async () => {
    server = await startTestServer({
      env: { CCB_ALLOWED_PORTS: 'any' },
      flags: { retrySchedule: `${DELAY_MS}ms,${DELAY_MS}ms`, attemptTimeout: `${TIMEOUT_MS}ms` },
    });
  });
  after(async () => {
    await server.close();
    await Promise.all(closers.map((close) => close()));
  });

  const listen = async (reply: TestListener['reply']) => {
    const listener = await startListener(reply);
    closers.push(() => listener.close());
    return listener;
  };
  const raw = async (answer: (socket: Socket, index: number) => void) => {
    const listener = await rawListener(answer);
    closers.push(() => listener.close());
    return listener;
  };

  /**
   * Registers `url` for an account of its own, publishes one message and waits until it is done;
   * `retryDelay` is the wait the engine scheduled after the first attempt (see firstRetryDelay), read
   * when `watchRetry` is set.
   */
  async function deliverTo(
    url: string,
    { watchRetry = false }: { watchRetry?: boolean } = {},
  ): Promise<MessageView & { retryDelay?: number }> {
    const accountName = `faults-${++account}`;
    await register(server, url, 'CarrierService', { accountName });
    const id = await publish(server, { requestId: `r-${account}` }, 'CarrierService', accountName);
    const retryDelay = watchRetry ? await firstRetryDelay(server, id, 15_000) : undefined;
    await waitForMessage(server, id, (m) => m.status !== 'pending' && m.status !== 'delivering', 15_000);
    const { status, body } = await admin<MessageView>(server, 'GET', `/messages/${id}`);
    assert.equal(status, 200);
    return { ...body, retryDelay };
  }

  /** Every attempt failed with `kind`, the message failed after all of them, spaced by the schedule. */
  function assertRetriedThenFailed(message: MessageView, kind: AttemptErrorKind) {
    assert.equal(message.status, 'failed');
    assert.deepEqual(
      message.deliveryAttempts.map((a) => [a.attemptNumber, a.error?.kind]),
      Array.from({ length: ATTEMPTS }, (_, i) => [i + 1, kind]),
    );
    assert.ok(message.deliveryAttempts.every((a) => (a.error?.detail ?? '').length > 0));
    const starts = message.deliveryAttempts.map((a) => Date.parse(a.startedAt));
    for (let i = 1; i < starts.length; i++) {
      assert.ok(starts[i] - starts[i - 1] >= DELAY_MS * 0.9, `attempt ${i + 1} came too early`);
    }
    assert.match(message.reason ?? '', new RegExp(`^${kind}: `));
  }

  it('records each fault with its typed reason and retries on schedule, while a healthy listener is unaffected', async () => {
    const healthy = await listen(() => ({ status: 200, body: 'ok' }));
    const healthyAccount = 'faults-healthy';
    await register(server, healthy.url, 'DeviceUsage', { accountName: healthyAccount });
    const before = await attemptsTotals(server);

    const retryAfterDate = () => new Date(Date.now() + 2_000).toUTCString();
    const [status5xx, seconds429, date429, gone, hang, reset, slowHeaders, hugeBody, hugeHeaders, tls] =
      await Promise.all([
        listen(() => ({ status: 503, body: 'down for maintenance' })),
        listen((_r, i) => (i === 0 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 })),
        listen((_r, i) => (i === 0 ? { status: 429, headers: { 'retry-after': retryAfterDate() } } : { status: 200 })),
        listen(() => ({ status: 410 })),
        listen(() => 'hang'),
        raw((socket) => socket.resetAndDestroy()),
        // The status line, then a header byte now and then, never the end of the headers.
        raw((socket) => {
          socket.write('HTTP/1.1 200 OK\r\n');
          const drip = setInterval(() => socket.write('x'), 100);
          socket.on('close', () => clearInterval(drip));
        }),
        raw((socket) => {
          const size = 8 * 1024 * 1024;
          socket.write(`HTTP/1.1 500 Internal Server Error\r\ncontent-length: ${size}\r\n\r\n`);
          socket.write(Buffer.alloc(size, 'a'));
        }),
        raw((socket) =>
          socket.write(`HTTP/1.1 200 OK\r\nx-filler: ${'f'.repeat(100_000)}\r\ncontent-length: 0\r\n\r\n`),
        ),
        plainTextTlsListener(),
      ]);
    closers.push(() => tls.close());
    const healthyIds: string[] = [];
    const publishing = (async () => {
      for (let i = 0; i < 40; i++) {
        healthyIds.push(await publish(server, { requestId: `h-${i}` }, 'DeviceUsage', healthyAccount));
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();

    const [m5xx, m429s, m429d, m410, mHang, mReset, mSlow, mHugeBody, mHugeHeaders, mTls] = await Promise.all([
      deliverTo(status5xx.url),
      deliverTo(seconds429.url, { watchRetry: true }),
      deliverTo(date429.url, { watchRetry: true }),
      deliverTo(gone.url),
      deliverTo(hang.url),
      deliverTo(reset.url),
      deliverTo(slowHeaders.url),
      deliverTo(hugeBody.url),
      deliverTo(hugeHeaders.url),
      deliverTo(tls.url),
    ]);

    assertRetriedThenFailed(m5xx, 'http_status');
    assert.ok(m5xx.deliveryAttempts.every((a) => a.statusCode === 503 && a.responseExcerpt === 'down for maintenance'));

    // The retry is scheduled when the 429 is read: 1 s on, or at the date (whole seconds, 1 to 2 s after
    // the listener's clock). Bounds on the engine's own decision; the real gap between the requests can
    // only grow on a loaded machine, so it is bounded from below only.
    for (const [message, delayAtLeast, delayAtMost, gapAtLeast] of [
      [m429s, 995, 1_100, 950],
      [m429d, 0, 2_100, 900],
    ] as const) {
      assert.equal(message.status, 'delivered');
      assert.deepEqual(
        message.deliveryAttempts.map((a) => [a.statusCode, a.error?.kind ?? null]),
        [
          [429, 'http_status'],
          [200, null],
        ],
      );
      const delay = message.retryDelay ?? Number.NaN;
      assert.ok(
        delay > delayAtLeast && delay <= delayAtMost,
        `Retry-After asked for the wait; scheduled ${delay} ms on`,
      );
      const gap = Date.parse(message.deliveryAttempts[1].startedAt) - Date.parse(message.deliveryAttempts[0].startedAt);
      assert.ok(gap >= gapAtLeast, `the retry came after ${gap} ms`);
    }

    assert.equal(m410.status, 'failed');
    assert.equal(m410.deliveryAttempts.length, 1, '410 Gone is not retried');
    assert.equal(m410.deliveryAttempts[0].error?.kind, 'http_status');
    assert.match(m410.reason ?? '', /^gone/);

    assertRetriedThenFailed(mHang, 'timeout');
    assertRetriedThenFailed(mReset, 'connection_reset');
    assertRetriedThenFailed(mSlow, 'timeout');
    // The status counts; the 8 MB body is cut after its excerpt instead of being read whole.
    assertRetriedThenFailed(mHugeBody, 'http_status');
    assert.ok(mHugeBody.deliveryAttempts.every((a) => a.responseExcerpt?.length === 1024));
    assertRetriedThenFailed(mHugeHeaders, 'too_large');
    assertRetriedThenFailed(mTls, 'tls');

    await publishing;
    for (const id of healthyIds) {
      const found = await waitForMessage(server, id, (m) => m.status === 'delivered', 10_000);
      assert.equal(found.attempts.length, 1, 'a healthy delivery needed no retry');
    }
    assert.equal(healthy.received.length, healthyIds.length);

    const after = await attemptsTotals(server);
    const delta = (outcome: string) => (after.get(outcome) ?? 0) - (before.get(outcome) ?? 0);
    assert.equal(delta('timeout'), 2 * ATTEMPTS);
    assert.equal(delta('connection_reset'), ATTEMPTS);
    assert.equal(delta('too_large'), ATTEMPTS);
    assert.equal(delta('tls'), ATTEMPTS);
    assert.equal(delta('http_5xx'), 2 * ATTEMPTS);
    assert.equal(delta('http_4xx'), 3);
    assert.equal(delta('success'), healthyIds.length + 2);
  });

  it('accepts an unsolicited 100 Continue before the real answer', async () => {
    const listener = await raw((socket) => socket.write(`HTTP/1.1 100 Continue\r\n\r\n${ok}`));
    const first = await deliverTo(listener.url);
    assert.equal(first.status, 'delivered');
    assert.deepEqual(
      first.deliveryAttempts.map((a) => [a.statusCode, a.error]),
      [[200, null]],
    );
    // Later deliveries to that origin go once each.
    const seen = listener.requests;
    const accountName = `faults-${account}`;
    const id = await publish(server, { requestId: 'again' }, 'CarrierService', accountName);
    const second = await waitForMessage(server, id, (m) => m.status === 'delivered');
    assert.equal(second.attempts.length, 1);
    assert.equal(listener.requests, seen + 1);
  });
});
