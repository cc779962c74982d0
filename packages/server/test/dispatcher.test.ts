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

/**
 * A sender that answers after `delayMs`, recording how many requests each origin had in flight at
 * once. `delayMs: HANG` never answers by itself: the request hangs until the test ends
 * (`FakeSender.endHangs`, before the dispatcher stops), then ends as a timeout.
 */
const HANG = Number.POSITIVE_INFINITY;
class FakeSender implements Sender {
  private static readonly hanging = new Set<() => void>();
  /** Ends every hanging request (as the attempt timeout would). */
  static endHangs(): void {
    for (const end of FakeSender.hanging) end();
    FakeSender.hanging.clear();
  }

  inFlight = new Map<string, number>();
  peak = new Map<string, number>();
  peakTotal = 0;
  sent: { url: string; headers: Record<string, string>; body: string }[] = [];
  /** The origin of every answered request, in the order the answers came. */
  answered: string[] = [];
  constructor(
    private readonly answer: (url: string) => { delayMs: number; status: number | null },
    /** Runs at every send before the answer is awaited (a busy loop, a clock moved on). */
    private readonly onSend?: () => void,
  ) {}
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
    this.onSend?.();
    const started = performance.now();
    if (delayMs === HANG) await new Promise<void>((resolve) => FakeSender.hanging.add(resolve));
    else await sleep(delayMs);
    this.inFlight.set(origin, this.inFlight.get(origin)! - 1);
    this.answered.push(origin);
    return {
      statusCode: status,
      retryAfter: null,
      error: status === null ? { kind: 'timeout', detail: 'no response' } : statusError(status),
      responseExcerpt: null,
      latencyMs: delayMs === HANG ? Math.round(performance.now() - started) : delayMs,
      // The origin's own time, as the HTTP sender measures it from the request's write.
      firstByteMs: status === null ? undefined : delayMs,
    };
  }
}

/** The answers from `other` that came before the last answer from `origin`. */
function answersBeforeLast(answered: string[], origin: string, other: string): string[] {
  return answered.slice(0, answered.lastIndexOf(origin)).filter((o) => o === other);
}

/** Counts calls to the store's claim and ack methods, and collects the ids handed back. */
function counting(store: MessageService) {
  const calls = { claimDue: 0, complete: 0 };
  const released = new Set<string>();
  const proxy = new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (key === 'claimDue' || key === 'complete') {
        return (...args: unknown[]) => {
          calls[key]++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      if (key === 'release') {
        return (ids: string[], at: number) => {
          for (const id of ids) released.add(id);
          return (value as (...a: unknown[]) => unknown).apply(target, [ids, at]);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { proxy, calls, released };
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
    FakeSender.endHangs();
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
    overrides: Partial<{
      concurrency: number;
      pollIntervalMs: number;
      attemptTimeoutMs: number;
      leaseMs: number;
      now: () => number;
      onHandBack: (count: number, reason: string) => void;
    }> = {},
  ) {
    dispatcher = new Dispatcher({
      store: messages,
      sender,
      schedule: new RetrySchedule([50]),
      logger: silent,
      concurrency: overrides.concurrency ?? 16,
      originConcurrency: 4,
      batchSize: 32,
      leaseMs: overrides.leaseMs ?? 10_000,
      attemptTimeoutMs: overrides.attemptTimeoutMs ?? 1_000,
      pollIntervalMs: overrides.pollIntervalMs ?? 100,
      userAgent: 'ccb/test',
      now: overrides.now,
      onHandBack: overrides.onHandBack,
    });
    dispatcher.start();
    return dispatcher;
  }

  it('claims and acknowledges in batches, not message by message', async () => {
    await store.registrations.upsert({ accountName: ACCOUNT, serviceName: 'CarrierService', url: 'http://a.test/cb' });
    await publish('CarrierService', 300);
    const { proxy, calls } = counting(store.messages);
    const sender = new FakeSender(() => ({ delayMs: 1, status: 200 }));
    // No poll within the test: every claim counted is one the dispatcher made for more work.
    start(sender, proxy, { pollIntervalMs: 60_000 });
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
    // No poll within the test: a claim counted is one the publishes caused, however long the rounds take.
    const running = start(sender, proxy, { concurrency: 16, pollIntervalMs: 60_000 });
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
      url.includes('slow') ? { delayMs: 300 + Math.random() * 100, status: 200 } : { delayMs: 2, status: 200 },
    );
    // Answers spread over 300–400 ms, so the slow origin never looks stuck, only slow: at most about 12
    // answers a second, so under 50 while the fast origin's 100 take up to 4 s on a loaded machine.
    start(sender, store.messages, { concurrency: 12 });
    const fastDone = async () =>
      (await store.messages.list({ serviceName: 'DeviceUsage', status: 'delivered' }, 200, null)).items.length === 100;
    await eventually(fastDone, { timeout: 10_000, what: 'the fast origin delivered while the slow one answers' });
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
      url.includes('hang') ? { delayMs: HANG, status: null } : { delayMs: 2, status: 200 },
    );
    // No poll and no attempt timeout within the test: only the dispatcher's own shedding can free the room.
    start(sender, store.messages, { concurrency: 8, pollIntervalMs: 60_000, attemptTimeoutMs: 8_000 });
    // The hanging origin answers only when the test ends: waiting for it would time out here.
    await eventually(async () => (await store.messages.stats(Date.now())).counts.delivered === 40, {
      timeout: 12_000,
      what: 'the healthy origin delivered while the other one hangs',
    });
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

  /**
   * A saturated event loop, simulated: every send spins the CPU for 1 ms (the loop really is busy)
   * and moves the dispatcher's clock on by `lateMs` (the time a loaded machine's loop would lose),
   * while the origin itself answers within a few ms (its time to first byte).
   */
  function saturated(answer: (url: string) => { delayMs: number; status: number | null }, lateMs: number) {
    let skew = 0;
    const sender = new FakeSender(answer, () => {
      const until = performance.now() + 1;
      while (performance.now() < until) {
        // busy: the loop runs late
      }
      skew += lateMs;
    });
    return { clock: () => Date.now() + skew, sender, late: () => skew };
  }

  it('hands nothing back for the one busy origin while this process, not the origin, is slow', async () => {
    await store.registrations.upsert({
      accountName: ACCOUNT,
      serviceName: 'CarrierService',
      url: 'http://busy.test/cb',
    });
    await publish('CarrierService', 200);
    const { proxy, released } = counting(store.messages);
    const { clock, sender, late } = saturated(() => ({ delayMs: 1, status: 200 }), 60);
    start(sender, proxy, { concurrency: 16, now: clock, leaseMs: 600_000 });
    await eventually(async () => (await store.messages.stats(Date.now())).counts.delivered === 200);
    // The fault happened: by the dispatcher's clock the loop lost 60 ms per send, 12 s in all.
    assert.equal(late(), 200 * 60);
    assert.equal(released.size, 0, `${released.size} messages handed back`);
    assert.equal(sender.sent.length, 200);
  });

  it('still sheds a hanging origin among ten while this process is slow', async () => {
    const services = [
      'CarrierService',
      'DeviceUsage',
      'StateService',
      'NiddService',
      'AlertService',
      'PromoChanges',
      'DeviceService',
      'DiagnosticsService',
      'SMSDeliveryConfirmation',
      'IntelligenceService',
    ];
    for (const [i, serviceName] of services.entries()) {
      await store.registrations.upsert({ accountName: ACCOUNT, serviceName, url: `http://origin-${i}.test/cb` });
    }
    const hanging = new Set<string>();
    for (let round = 0; round < 20; round++) {
      for (const serviceName of services) {
        const [published] = await publish(serviceName, 1);
        if (serviceName === 'CarrierService') hanging.add(published.id);
      }
    }
    const { proxy, released } = counting(store.messages);
    const { clock, sender, late } = saturated(
      (url) => (url.includes('origin-0.') ? { delayMs: HANG, status: null } : { delayMs: 1, status: 200 }),
      30,
    );
    const reasons = new Map<string, number>();
    // No poll within the test: only the dispatcher's shedding can free the hanging origin's room.
    start(sender, proxy, {
      onHandBack: (count, reason) => reasons.set(reason, (reasons.get(reason) ?? 0) + count),
      concurrency: 40,
      pollIntervalMs: 60_000,
      attemptTimeoutMs: 4_000,
      now: clock,
      leaseMs: 600_000,
    });
    await eventually(async () => (await store.messages.stats(Date.now())).counts.delivered === 180, {
      timeout: 12_000,
      what: 'the healthy origins delivered while origin-0 hangs',
    });
    assert.ok(late() >= 180 * 30, `${late()} ms of loop delay simulated`);
    assert.deepEqual(
      answersBeforeLast(sender.answered, 'http://origin-1.test', 'http://origin-0.test'),
      [],
      'the healthy origins finished before the hanging one answered once',
    );
    assert.equal(sender.peak.get('http://origin-0.test'), 4);
    // What went back to the store was the hanging origin's, and only that.
    assert.ok(released.size > 0, 'the hanging origin was shed');
    assert.deepEqual(
      [...released].filter((id) => !hanging.has(id)),
      [],
      'no healthy message handed back',
    );
    // Counted for the metrics by reason: shed as stuck, none for a short lease.
    assert.ok((reasons.get('origin_stuck') ?? 0) > 0, JSON.stringify([...reasons]));
    assert.equal(reasons.get('lease_short'), undefined);
  });
});
