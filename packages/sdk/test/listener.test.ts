import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import Fastify from 'fastify';
import { Webhook } from 'standardwebhooks';
import { eventually } from '../../../test/eventually.js';
import {
  createListener,
  type ListenerHandler,
  type ListenerMessage,
  type ListenerOptions,
  MemoryDedupeStore,
  signWebhook,
  verifyWebhook,
  WebhookVerificationError,
} from '../src/listener/index.js';
import { exampleMessage, type ServiceName } from '../src/services/index.js';

const SECRET = `whsec_${randomBytes(24).toString('base64')}`;
const OTHER_SECRET = `whsec_${randomBytes(24).toString('base64')}`;

const closers: Array<() => Promise<void>> = [];
after(async () => {
  await Promise.all(closers.map((close) => close()));
});

/** Request bodies fully received by the servers of `serve` (for tests that must know a request arrived). */
let bodiesReceived = 0;

/** Starts a node:http server on 127.0.0.1 around the handler; `prepare` plays a framework's body parser. */
async function serve(
  handler: ListenerHandler,
  prepare?: (req: IncomingMessage & { body?: unknown }) => Promise<void>,
): Promise<string> {
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    // An 'end' listener does not start the flow of the body; the handler still reads it itself.
    req.once('end', () => {
      bodiesReceived += 1;
    });
    if (prepare) await prepare(req);
    await handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
}

/** Starts a listener that records what onMessage receives. */
async function startListener<S extends ServiceName = ServiceName>(
  options: Omit<ListenerOptions<S>, 'onMessage'> & { onMessage?: ListenerOptions<S>['onMessage'] } = {},
) {
  const received: ListenerMessage<S>[] = [];
  const url = await serve(
    createListener<S>({
      onError: () => {},
      ...options,
      onMessage: async (message) => {
        received.push(message);
        await options.onMessage?.(message);
      },
    }),
  );
  return { url, received };
}

interface Delivery {
  body?: string;
  id?: string;
  timestamp?: Date;
  secret?: string | null;
  headers?: Record<string, string>;
  method?: string;
}

/** Delivers like the engine: signed with the standardwebhooks library unless told otherwise. */
async function deliver(url: string, delivery: Delivery = {}): Promise<{ status: number; text: string }> {
  const body = delivery.body ?? JSON.stringify(exampleMessage('CarrierService'));
  const id = delivery.id ?? `msg_${randomUUID()}`;
  const timestamp = delivery.timestamp ?? new Date();
  const headers: Record<string, string> = { 'content-type': 'application/json', ...delivery.headers };
  if (delivery.secret !== null) {
    headers['webhook-id'] = id;
    headers['webhook-timestamp'] = String(Math.floor(timestamp.getTime() / 1000));
    headers['webhook-signature'] ??= new Webhook(delivery.secret ?? SECRET).sign(id, timestamp, body);
  }
  const method = delivery.method ?? 'POST';
  const response = await fetch(url, { method, headers, body: method === 'GET' ? undefined : body });
  return { status: response.status, text: await response.text() };
}

describe('createListener', () => {
  it('accepts a message signed by the standardwebhooks library and hands it to onMessage', async () => {
    const { url, received } = await startListener({ signingSecrets: SECRET });
    const payload = { ...exampleMessage('DeviceUsage'), callbackCount: 2 };
    const timestamp = new Date();
    const response = await deliver(url, {
      id: 'msg_1',
      body: JSON.stringify(payload),
      timestamp,
      headers: { 'ccb-account': '0000123456-00001', 'ccb-service': 'DeviceUsage' },
    });
    assert.equal(response.status, 204);
    assert.equal(received.length, 1);
    const [message] = received;
    assert.equal(message.id, 'msg_1');
    assert.equal(message.account, '0000123456-00001');
    assert.equal(message.service, 'DeviceUsage');
    assert.equal(message.attempt, 2);
    assert.equal(message.timestamp.getTime(), Math.floor(timestamp.getTime() / 1000) * 1000);
    assert.deepEqual(message.body, payload);
    if (message.service === 'DeviceUsage') {
      // Narrowing on service types the body.
      assert.equal(typeof message.body.deviceResponse?.usageResponse.dataUsage, 'number');
    }
  });

  it('refuses a forged signature with 401 without calling onMessage', async () => {
    const { url, received } = await startListener({ signingSecrets: SECRET });
    const response = await deliver(url, { secret: OTHER_SECRET });
    assert.equal(response.status, 401);
    assert.equal(JSON.parse(response.text).errorCode, 'SIGNATURE_INVALID');
    assert.ok(!response.text.includes(SECRET.slice(6, 20)), 'the secret is not echoed');
    assert.equal((await deliver(url, { secret: null })).status, 401, 'unsigned');
    const tampered = await deliver(url, {
      headers: { 'webhook-signature': `v1,${randomBytes(32).toString('base64')}` },
    });
    assert.equal(tampered.status, 401);
    assert.equal(received.length, 0);
  });

  it('refuses a body signed for another message id', async () => {
    const { url, received } = await startListener({ signingSecrets: SECRET });
    const body = JSON.stringify(exampleMessage('CarrierService'));
    const timestamp = new Date();
    const signature = new Webhook(SECRET).sign('msg_original', timestamp, body);
    const response = await deliver(url, {
      id: 'msg_replayed',
      body,
      timestamp,
      headers: { 'webhook-signature': signature },
    });
    assert.equal(response.status, 401);
    assert.equal(received.length, 0);
  });

  it('refuses stale and future timestamps beyond the tolerance with 401', async () => {
    const { url, received } = await startListener({ signingSecrets: SECRET, toleranceSeconds: 300 });
    assert.equal((await deliver(url, { timestamp: new Date(Date.now() - 301_000) })).status, 401);
    assert.equal((await deliver(url, { timestamp: new Date(Date.now() + 310_000) })).status, 401);
    assert.equal((await deliver(url, { timestamp: new Date(Date.now() - 200_000) })).status, 204);
    assert.equal(received.length, 1);
  });

  it('checks the body credentials and refuses wrong ones with 401', async () => {
    const { url, received } = await startListener({ username: 'acme-prod', password: 'k9Vd2mQ7tR4z' });
    const message = exampleMessage('CarrierService');
    const send = (username: string, password: string) =>
      deliver(url, { secret: null, body: JSON.stringify({ ...message, username, password }) });
    assert.equal((await send('acme-prod', 'wrong')).status, 401);
    assert.equal((await send('someone', 'k9Vd2mQ7tR4z')).status, 401);
    assert.equal((await send('', '')).status, 401);
    const refused = await send('acme-prod', 'k9Vd2mQ7tR4');
    assert.equal(refused.status, 401);
    assert.doesNotMatch(refused.text, /k9Vd2mQ7tR4z/);
    assert.equal((await send('acme-prod', 'k9Vd2mQ7tR4z')).status, 204);
    assert.equal(received.length, 1);
  });

  it('accepts deliveries signed with either secret during a rotation', async () => {
    const { url, received } = await startListener({ signingSecrets: [OTHER_SECRET, SECRET] });
    assert.equal((await deliver(url, { secret: SECRET })).status, 204);
    assert.equal((await deliver(url, { secret: OTHER_SECRET })).status, 204);
    const body = JSON.stringify(exampleMessage('AlertService'));
    const timestamp = new Date();
    const unknown = new Webhook(`whsec_${randomBytes(24).toString('base64')}`).sign('msg_both', timestamp, body);
    const current = new Webhook(SECRET).sign('msg_both', timestamp, body);
    const both = await deliver(url, {
      id: 'msg_both',
      body,
      timestamp,
      headers: { 'webhook-signature': `${unknown} ${current}` },
    });
    assert.equal(both.status, 204);
    assert.equal(received.length, 3);
  });

  it('answers a duplicate delivery 2xx without calling onMessage again', async () => {
    const { url, received } = await startListener({ signingSecrets: SECRET });
    const body = JSON.stringify(exampleMessage('StateService'));
    const first = await deliver(url, { id: 'msg_dup', body });
    const second = await deliver(url, { id: 'msg_dup', body });
    assert.equal(first.status, 204);
    assert.equal(second.status, 204);
    assert.equal(received.length, 1);
  });

  it('runs a duplicate that arrives while the first is in progress only once', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const duplicates: string[] = [];
    const { url, received } = await startListener({
      signingSecrets: SECRET,
      onMessage: () => gate,
      onDuplicate: (message) => duplicates.push(message.id),
    });
    const body = JSON.stringify(exampleMessage('StateService'));
    const before = bodiesReceived;
    const first = deliver(url, { id: 'msg_concurrent', body });
    const second = deliver(url, { id: 'msg_concurrent', body });
    // Both bodies are in while the first is still held by the gate; what follows a body's end up to
    // the in-flight check is promise callbacks only, so after one setImmediate both have passed it.
    await eventually(() => bodiesReceived - before === 2, { what: 'both deliveries arriving' });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(received.length, 1, 'the second delivery waits for the first instead of running onMessage');
    release();
    assert.deepEqual(
      (await Promise.all([first, second])).map((response) => response.status),
      [204, 204],
    );
    assert.equal(received.length, 1);
    assert.deepEqual(duplicates, ['msg_concurrent']);
  });

  it('reports refused deliveries with their reason, and duplicates once answered', async () => {
    const refusals: { statusCode: number; errorCode: string; reason: string; messageId: string | undefined }[] = [];
    const duplicates: string[] = [];
    const { url } = await startListener({
      signingSecrets: SECRET,
      username: 'acme',
      password: 'right',
      onRefused: (refusal) => refusals.push(refusal),
      onDuplicate: (message) => duplicates.push(message.id),
    });
    const good = JSON.stringify({ ...exampleMessage('StateService'), username: 'acme', password: 'right' });
    const wrong = JSON.stringify({ ...exampleMessage('StateService'), username: 'acme', password: 'wrong' });
    assert.equal((await deliver(url, { id: 'msg_badsig', body: good, secret: OTHER_SECRET })).status, 401);
    assert.equal((await deliver(url, { id: 'msg_badcred', body: wrong })).status, 401);
    assert.equal((await deliver(url, { id: 'msg_ok', body: good })).status, 204);
    assert.equal((await deliver(url, { id: 'msg_ok', body: good })).status, 204);
    assert.deepEqual(
      refusals.map(({ statusCode, errorCode, messageId }) => [statusCode, errorCode, messageId]),
      [
        [401, 'SIGNATURE_INVALID', 'msg_badsig'],
        [401, 'CREDENTIALS_INVALID', 'msg_badcred'],
      ],
    );
    assert.match(refusals[1].reason, /username or password/);
    assert.deepEqual(duplicates, ['msg_ok']);
  });

  it('answers 500 when onMessage throws, then processes the retry with the same id', async () => {
    let failures = 1;
    const errors: string[] = [];
    const { url, received } = await startListener({
      signingSecrets: SECRET,
      onMessage: () => {
        if (failures-- > 0) throw new Error('database unavailable');
      },
      onError: (_error, id) => errors.push(id),
    });
    const body = JSON.stringify(exampleMessage('CarrierService'));
    assert.equal((await deliver(url, { id: 'msg_retry', body })).status, 500);
    assert.equal((await deliver(url, { id: 'msg_retry', body })).status, 204);
    assert.equal((await deliver(url, { id: 'msg_retry', body })).status, 204);
    assert.equal(received.length, 2, 'the failed attempt and the successful retry; the third is a duplicate');
    assert.deepEqual(errors, ['msg_retry']);
  });

  it('acknowledges only after onMessage resolved', async () => {
    const order: string[] = [];
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { url } = await startListener({
      onMessage: async (message) => {
        if (message.id !== 'msg_slow') return;
        order.push('handling');
        await released;
        order.push('handled');
      },
    });
    const slow = deliver(url, { id: 'msg_slow' }).then((response) => {
      order.push('acknowledged');
      return response;
    });
    await eventually(() => order.includes('handling'));
    // A later message's answer, while the first handler still waits: an acknowledgement that did not
    // wait for onMessage would have come back before it.
    assert.equal((await deliver(url, { id: 'msg_quick' })).status, 204);
    assert.deepEqual(order, ['handling']);
    release();
    assert.equal((await slow).status, 204);
    assert.deepEqual(order, ['handling', 'handled', 'acknowledged']);
  });

  it('answers 400 for a body that is not a JSON object', async () => {
    const { url, received } = await startListener({ signingSecrets: SECRET });
    assert.equal((await deliver(url, { body: 'not json' })).status, 400);
    assert.equal((await deliver(url, { body: '[1,2]' })).status, 400);
    assert.equal(received.length, 0);
  });

  it('answers 413 for a body over the limit, declared or streamed', async () => {
    const { url, received } = await startListener({ maxBodyBytes: 1024 });
    const big = JSON.stringify({ ...exampleMessage('CarrierService'), comment: 'x'.repeat(4096) });
    assert.equal((await deliver(url, { secret: null, body: big })).status, 413);
    const streamed = await new Promise<number>((resolve, reject) => {
      const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      for (let i = 0; i < 8; i++) req.write('x'.repeat(512));
      req.end();
    });
    assert.equal(streamed, 413);
    assert.equal(received.length, 0);
  });

  it('answers 405 to anything but POST', async () => {
    const { url } = await startListener();
    const response = await deliver(url, { method: 'GET', secret: null });
    assert.equal(response.status, 405);
  });

  it('types the body by the service option and refuses messages for another service', async () => {
    const { url, received } = await startListener({ service: 'PromoChanges' });
    const body = JSON.stringify(exampleMessage('PromoChanges'));
    assert.equal(
      (await deliver(url, { secret: null, body, headers: { 'ccb-service': 'CarrierService' } })).status,
      400,
    );
    assert.equal((await deliver(url, { secret: null, body })).status, 204);
    assert.equal(received.length, 1);
    assert.equal(received[0].service, 'PromoChanges');
    assert.match(received[0].body.deviceResponse.promoChange.change, /^PROMO-/);
  });

  it('recognises a retry without webhook-id headers by the body, whatever its callbackCount', async () => {
    const { url, received } = await startListener();
    const message = exampleMessage('NiddService');
    assert.equal(
      (await deliver(url, { secret: null, body: JSON.stringify({ ...message, callbackCount: 1 }) })).status,
      204,
    );
    assert.equal(
      (await deliver(url, { secret: null, body: JSON.stringify({ ...message, callbackCount: 2 }) })).status,
      204,
    );
    assert.equal(received.length, 1);
    assert.match(received[0].id, /^sha256:/);
  });

  it('verifies a body a framework kept raw (express.raw) and refuses to verify one it already parsed', async () => {
    const readAll = async (req: IncomingMessage) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    };
    const received: unknown[] = [];
    const handler = createListener({
      signingSecrets: SECRET,
      onMessage: (m) => void received.push(m),
      onError: () => {},
    });
    const rawUrl = await serve(handler, async (req) => {
      req.body = await readAll(req);
    });
    const parsedUrl = await serve(handler, async (req) => {
      req.body = JSON.parse((await readAll(req)).toString());
    });
    assert.equal((await deliver(rawUrl)).status, 204);
    const parsed = await deliver(parsedUrl);
    assert.equal(parsed.status, 500);
    assert.equal(JSON.parse(parsed.text).errorCode, 'BODY_ALREADY_PARSED');
    assert.equal(received.length, 1);
  });

  it('works mounted in Fastify through an onRequest hook', async () => {
    const received: ListenerMessage[] = [];
    const handler = createListener({ signingSecrets: SECRET, onMessage: (message) => void received.push(message) });
    const fastify = Fastify();
    fastify.get('/healthz', async () => ({ ok: true }));
    fastify.post('/hook', {
      onRequest: async (request, reply) => {
        reply.hijack();
        await handler(request.raw, reply.raw);
      },
      handler: async () => {},
    });
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    closers.push(() => fastify.close());
    const base = `http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}`;
    assert.equal((await deliver(`${base}/hook`, { id: 'msg_fastify' })).status, 204);
    assert.equal((await deliver(`${base}/hook`, { secret: OTHER_SECRET })).status, 401);
    assert.equal((await deliver(`${base}/hook`, { body: '{' })).status, 400);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.deepEqual(
      received.map((message) => message.id),
      ['msg_fastify'],
    );
  });
});

describe('verifyWebhook and signWebhook', () => {
  it('signs exactly as the standardwebhooks library does', () => {
    const timestamp = new Date();
    const body = JSON.stringify(exampleMessage('CarrierService'));
    const ours = signWebhook(SECRET, 'msg_x', Math.floor(timestamp.getTime() / 1000), body);
    assert.equal(ours, new Webhook(SECRET).sign('msg_x', timestamp, body));
    const headers = {
      'webhook-id': 'msg_x',
      'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
      'webhook-signature': ours,
    };
    assert.deepEqual(new Webhook(SECRET).verify(body, headers), JSON.parse(body));
  });

  it('names the reason of each refusal with a code', () => {
    const now = Date.now();
    const seconds = Math.floor(now / 1000);
    const check = (headers: { id?: string; timestamp?: string; signature?: string }, code: string) =>
      assert.throws(
        () =>
          verifyWebhook({ id: undefined, timestamp: undefined, signature: undefined, ...headers }, '{}', {
            secrets: SECRET,
            now,
          }),
        (error: unknown) => error instanceof WebhookVerificationError && error.code === code,
      );
    const good = signWebhook(SECRET, 'm', seconds, '{}');
    check({ id: 'm', timestamp: String(seconds) }, 'missing_headers');
    check({ id: 'm', timestamp: 'soon', signature: good }, 'invalid_timestamp');
    check({ id: 'm', timestamp: String(seconds - 301), signature: good }, 'timestamp_too_old');
    check({ id: 'm', timestamp: String(seconds + 301), signature: good }, 'timestamp_in_future');
    check({ id: 'm', timestamp: String(seconds), signature: `v1a,${good.slice(3)}` }, 'invalid_signature');
    assert.equal(
      verifyWebhook({ id: 'm', timestamp: String(seconds), signature: good }, '{}', { secrets: SECRET, now }).getTime(),
      seconds * 1000,
    );
  });
});

describe('MemoryDedupeStore', () => {
  it('forgets the oldest ids beyond its capacity', () => {
    const store = new MemoryDedupeStore({ maxEntries: 3 });
    for (const id of ['a', 'b', 'c', 'd']) store.add(id);
    assert.equal(store.has('a'), false);
    assert.deepEqual(
      ['b', 'c', 'd'].map((id) => store.has(id)),
      [true, true, true],
    );
    assert.equal(store.size, 3);
  });

  it('counts adding an id again as seeing it, and a lookup not', () => {
    const store = new MemoryDedupeStore({ maxEntries: 3 });
    for (const id of ['a', 'b', 'c']) store.add(id);
    store.add('a');
    assert.equal(store.has('b'), true);
    store.add('d');
    assert.deepEqual(
      ['a', 'b', 'c', 'd'].map((id) => store.has(id)),
      [true, false, true, true],
    );
  });

  it('forgets ids after their time to live', () => {
    let now = 1_000;
    const store = new MemoryDedupeStore({ ttlMs: 500, now: () => now });
    store.add('a');
    now += 499;
    assert.equal(store.has('a'), true);
    now += 1;
    assert.equal(store.has('a'), false);
  });
});
