import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Sender } from '../src/delivery/attempt-stage.js';
import { Dispatcher } from '../src/delivery/dispatcher.js';
import { RetrySchedule } from '../src/delivery/retry-schedule.js';
import type { SendResult } from '../src/delivery/send-result.js';
import { statusError } from '../src/domain/attempt-error.js';
import { newMessageId } from '../src/domain/message-id.js';
import { createServices, type Services } from '../src/services/index.js';
import type { MessageService } from '../src/services/messages.js';
import { SqliteStore } from '../src/store/sqlite/index.js';
import { eventually } from './helpers.js';

const ACCOUNT = '0000123456-00001';
const silent = { debug() {}, info() {}, warn() {}, error() {} };

/** A sender that answers after `delayMs`, recording how many requests each origin had in flight at once. */
class FakeSender implements Sender {
  inFlight = new Map<string, number>();
  peak = new Map<string, number>();
  peakTotal = 0;
  sent: { url: string; headers: Record<string, string>; body: string }[] = [];
  /** The origin of every answered request, in the order the answers came. */
  answered: string[] = [];
  constructor(private readonly answer: (url: string) => { delayMs: number; status: number | null }) {}
  originOf(url: string) {
    return new URL(url).origin;
  }
  async send(url: string, headers: Record<string, string>, body: string): Promise<SendResult> {
    const origin = this.originOf(url);
    this.inFlight.set(origin, (this.inFlight.get(origin) ?? 0) + 1);
    this.peak.set(origin, Math.max(this.peak.get(origin) ?? 0, this.inFlight.get(origin)!));
    this.peakTotal = Math.max(
      this.peakTotal,
      [...this.inFlight.values()].reduce((a, b) => a + b, 0),
    );
    this.sent.push({ url, headers, body });
    const { delayMs, status } = this.answer(url);
    await sleep(delayMs);
    this.inFlight.set(origin, this.inFlight.get(origin)! - 1);
    this.answered.push(origin);
    return {
      statusCode: status,
      retryAfter: null,
      error: status === null ? { kind: 'timeout', detail: 'no response' } : statusError(status),
      responseExcerpt: null,
      latencyMs: delayMs,
    };
  }
}

/** The answers from `other` that came before the last answer from `origin`. */
function answersBeforeLast(answered: string[], origin: string, other: string): string[] {
  return answered.slice(0, answered.lastIndexOf(origin)).filter((o) => o === other);
}

/** Counts calls to the store's claim and ack methods. */
function counting(store: MessageService) {
  const calls = { claimDue: 0, complete: 0 };
  const proxy = new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (key === 'claimDue' || key === 'complete') {
        return (...args: unknown[]) => {
          calls[key]++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { proxy, calls };
}

describe('Dispatcher', () => {
  let sqlite: SqliteStore;
  let store: Services;
  let dispatcher: Dispatcher | null = null;
  beforeEach(async () => {
    sqlite = new SqliteStore(':memory:');
    store = await createServices(sqlite, randomBytes(32));
  });
  afterEach(async () => {
    await dispatcher?.stop();
    dispatcher = null;
    await sqlite.close();
  });

  async function publish(serviceName: string, count: number) {
    const now = Date.now();
    return store.messages.publish(
      Array.from({ length: count }, (_, i) => ({
        id: newMessageId(now),
        accountName: ACCOUNT,
        serviceName,
        payload: JSON.stringify({ i }),
        maxAttempts: 2,
      })),
      now,
    );
  }

  function start(
    sender: Sender,
    messages: MessageService,
    overrides: Partial<{ concurrency: number; pollIntervalMs: number; attemptTimeoutMs: number }> = {},
  ) {
    dispatcher = new Dispatcher({
      store: messages,
      sender,
      schedule: new RetrySchedule([50]),
      logger: silent,
      concurrency: overrides.concurrency ?? 16,
      originConcurrency: 4,
      batchSize: 32,
      leaseMs: 10_000,
      attemptTimeoutMs: overrides.attemptTimeoutMs ?? 1_000,
      pollIntervalMs: overrides.pollIntervalMs ?? 100,
      userAgent: 'ccb/test',
    });
    dispatcher.start();
    return dispatcher;
  }

  it('claims and acknowledges in batches, not message by message', async () => {
    await store.registrations.upsert({ accountName: ACCOUNT, serviceName: 'CarrierService', url: 'http://a.test/cb' });
    await publish('CarrierService', 300);
    const { proxy, calls } = counting(store.messages);
    const sender = new FakeSender(() => ({ delayMs: 1, status: 200 }));
    start(sender, proxy);
    await eventually(async () => (await store.messages.stats(Date.now())).counts.delivered === 300);
    assert.equal(sender.sent.length, 300);
    // Message by message would be 300 of each; a loaded machine spreads completions over more turns.
    assert.ok(calls.complete <= 300 / 2, `${calls.complete} store.complete calls for 300 deliveries`);
    assert.ok(calls.claimDue <= 300 / 2, `${calls.claimDue} store.claimDue calls for 300 deliveries`);
  });

  it('delivers publishes handed over by the message service without a claim query each', async () => {
    await store.registrations.upsert({ accountName: ACCOUNT, serviceName: 'CarrierService', url: 'http://a.test/cb' });
    const { proxy, calls } = counting(store.messages);
    const sender = new FakeSender(() => ({ delayMs: 1, status: 200 }));
    const running = start(sender, proxy, { concurrency: 16 });
    await eventually(async () => running.state === 'idle');
    const claimsBefore = calls.claimDue;
    store.messages.setHandoff(running);
    // 40 single publishes in rounds of 10 (the dispatcher has room for 16).
    const published = [];
    for (let round = 1; round <= 4; round++) {
      for (let i = 0; i < 10; i++) published.push(...(await publish('CarrierService', 1)));
      await eventually(async () => (await store.messages.stats(Date.now())).counts.delivered === 10 * round);
    }
    assert.deepEqual(
      published.filter((p) => !(p.handedOver && p.status === 'pending')),
      [],
    );
    assert.equal(sender.sent.length, 40);
    assert.ok(
      calls.claimDue - claimsBefore <= 2,
      `${calls.claimDue - claimsBefore} claims for 40 handed-over publishes`,
    );
    // Beyond its room a publish stays pending for a claim.
    store.messages.setHandoff({ room: 0, leaseMs: 10_000, accept: () => assert.fail('no room, nothing handed over') });
    const [later] = await publish('CarrierService', 1);
    assert.equal(later.handedOver, undefined);
    running.wake();
    await eventually(async () => (await store.messages.stats(Date.now())).counts.delivered === 41);
  });

  it('hands back what it is given while it stops, so nothing waits for a lease', async () => {
    await store.registrations.upsert({ accountName: ACCOUNT, serviceName: 'CarrierService', url: 'http://a.test/cb' });
    const sender = new FakeSender(() => ({ delayMs: 1, status: 200 }));
    const running = start(sender, store.messages);
    store.messages.setHandoff({ room: 1, leaseMs: 10_000, accept: (claimed) => running.accept(claimed) });
    await running.stop();
    dispatcher = null;
    const [message] = await publish('CarrierService', 1);
    assert.equal(message.handedOver, true);
    await eventually(async () => (await store.messages.get(message.id))?.message.status === 'pending');
    assert.equal(sender.sent.length, 0);
  });

  it('never exceeds the global and per-origin limits', async () => {
    const services = ['CarrierService', 'DeviceUsage', 'StateService', 'NiddService', 'AlertService', 'PromoChanges'];
    for (const [i, serviceName] of services.entries()) {
      await store.registrations.upsert({ accountName: ACCOUNT, serviceName, url: `http://origin-${i}.test/cb` });
    }
    for (let round = 0; round < 40; round++) for (const serviceName of services) await publish(serviceName, 1);
    const sender = new FakeSender(() => ({ delayMs: 5, status: 200 }));
    start(sender, store.messages, { concurrency: 16 });
    await eventually(async () => (await store.messages.stats(Date.now())).counts.delivered === 240);
    assert.ok(sender.peakTotal <= 16, `peak ${sender.peakTotal} in flight`);
    for (const [origin, peak] of sender.peak) assert.ok(peak <= 4, `${origin} had ${peak} in flight`);
    assert.equal(sender.peakTotal, 16, 'the global limit is used fully');
  });

  it('does not let a slow but answering origin hold the room of a fast one', async () => {
    await store.registrations.upsert({
      accountName: ACCOUNT,
      serviceName: 'CarrierService',
      url: 'http://slow.test/cb',
    });
    await store.registrations.upsert({ accountName: ACCOUNT, serviceName: 'DeviceUsage', url: 'http://fast.test/cb' });
    await publish('CarrierService', 100);
    await publish('DeviceUsage', 100);
    const sender = new FakeSender((url) =>
      url.includes('slow') ? { delayMs: 100 + Math.random() * 100, status: 200 } : { delayMs: 2, status: 200 },
    );
    // Answers spread over 100–200 ms, so the slow origin never looks stuck, only slow.
    start(sender, store.messages, { concurrency: 12 });
    const fastDone = async () =>
      (await store.messages.list({ serviceName: 'DeviceUsage', status: 'delivered' }, 200, null)).items.length === 100;
    await eventually(fastDone, { timeout: 3_000 });
    const slow = await store.messages.list({ serviceName: 'CarrierService', status: 'delivered' }, 200, null);
    assert.ok(slow.items.length < 50, `the slow origin had ${slow.items.length} delivered meanwhile`);
    assert.equal(sender.peak.get('http://slow.test'), 4);
  });

  it('keeps serving other origins while one origin never answers in time', async () => {
    await store.registrations.upsert({
      accountName: ACCOUNT,
      serviceName: 'CarrierService',
      url: 'http://stuck.test/cb',
    });
    await store.registrations.upsert({ accountName: ACCOUNT, serviceName: 'DeviceUsage', url: 'http://fine.test/cb' });
    await publish('CarrierService', 100);
    await publish('DeviceUsage', 100);
    const sender = new FakeSender((url) =>
      url.includes('stuck') ? { delayMs: 1_000, status: null } : { delayMs: 2, status: 200 },
    );
    start(sender, store.messages, { concurrency: 8 });
    await eventually(async () => (await store.messages.stats(Date.now())).counts.delivered === 100, { timeout: 3_000 });
    assert.deepEqual(
      answersBeforeLast(sender.answered, 'http://fine.test', 'http://stuck.test'),
      [],
      'the healthy origin finished before the stuck one answered once',
    );
    assert.equal(sender.peak.get('http://stuck.test'), 4);
  });

  it('sheds what waits for an origin that never answers without waiting for the poll or a timeout', async () => {
    await store.registrations.upsert({
      accountName: ACCOUNT,
      serviceName: 'CarrierService',
      url: 'http://hang.test/cb',
    });
    await store.registrations.upsert({ accountName: ACCOUNT, serviceName: 'DeviceUsage', url: 'http://fine.test/cb' });
    // Interleaved, so every claim brings messages of both; the hanging origin's fill the room it has.
    for (let i = 0; i < 40; i++) {
      await publish('CarrierService', 1);
      await publish('DeviceUsage', 1);
    }
    const sender = new FakeSender((url) =>
      url.includes('hang') ? { delayMs: 8_000, status: null } : { delayMs: 2, status: 200 },
    );
    // No poll and no attempt timeout within the test: only the dispatcher's own shedding can free the room.
    start(sender, store.messages, { concurrency: 8, pollIntervalMs: 60_000, attemptTimeoutMs: 8_000 });
    // The ceiling lies past the hanging answers, so waiting for them shows as the order below, not a timeout.
    await eventually(async () => (await store.messages.stats(Date.now())).counts.delivered === 40, { timeout: 12_000 });
    assert.deepEqual(
      answersBeforeLast(sender.answered, 'http://fine.test', 'http://hang.test'),
      [],
      'the healthy origin finished before the hanging one answered once',
    );
    assert.equal(sender.peak.get('http://hang.test'), 4);
  });

  it('records the outcomes of attempts in flight when stopped', async () => {
    await store.registrations.upsert({ accountName: ACCOUNT, serviceName: 'CarrierService', url: 'http://a.test/cb' });
    const [published] = await publish('CarrierService', 1);
    const sender = new FakeSender(() => ({ delayMs: 200, status: 200 }));
    const running = start(sender, store.messages);
    await eventually(async () => sender.sent.length === 1);
    await running.stop();
    assert.equal((await store.messages.get(published.id))?.message.status, 'delivered');
  });
});
