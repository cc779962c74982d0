import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { purgeExpiredMessages } from '../src/delivery/retention.js';
import { newMessageId } from '../src/domain/message-id.js';
import { FieldCipher } from '../src/security/encryption.js';
import { createServices, type Services } from '../src/services/index.js';
import {
  IDEMPOTENCY_KEY_TTL_MS,
  IdempotencyConflictError,
  MessageService,
  type NewMessage,
} from '../src/services/messages.js';
import { RegistrationService } from '../src/services/registrations.js';
import { openStore } from '../src/store/index.js';
import type { Attempt, RegistrationKey, Store } from '../src/store/types.js';
import { testDatabaseBackends } from './postgres.js';

const ACCOUNT = '0000123456-00001';
const T0 = 1_700_000_000_000;
const LEASE = 10_000;

for (const backend of await testDatabaseBackends()) {
  describe(`Message service: ${backend.name}`, { skip: backend.skip }, () => {
    let backendStore: Store;
    let drop: () => Promise<void>;
    let store: Services;
    let key: Buffer;
    beforeEach(async () => {
      const database = await backend.create();
      drop = database.drop;
      // PostgreSQL retention drops whole time partitions: a millisecond wide, it works to the
      // millisecond, as SQLite's does, for the retention tests below.
      backendStore = await openStore(database.url, { poolSize: 4, partitionIntervalMs: 1 });
      await backendStore.migrate();
      key = randomBytes(32);
      store = await createServices(backendStore, key);
      await store.registrations.upsert({
        accountName: ACCOUNT,
        serviceName: 'CarrierService',
        url: 'https://a.test/cb',
      });
    });
    afterEach(async () => {
      await backendStore.close();
      await drop();
    });

    const message = (overrides: Partial<NewMessage> = {}): NewMessage => ({
      id: newMessageId(),
      accountName: ACCOUNT,
      serviceName: 'CarrierService',
      payload: '{"requestId":"r"}',
      maxAttempts: 4,
      ...overrides,
    });
    const attempt = (messageId: string, attemptNumber: number, at: number): Attempt => ({
      messageId,
      attemptNumber,
      startedAt: at,
      url: 'https://a.test/cb',
      statusCode: 500,
      latencyMs: 3,
      errorKind: 'http_status',
      error: 'the listener answered 500',
      responseExcerpt: null,
    });

    it('stores messages pending, or failed with no_registration when nobody is registered', async () => {
      const [registered, orphan] = await store.messages.publish(
        [message(), message({ serviceName: 'DeviceUsage' })],
        T0,
      );
      assert.deepEqual([registered.status, orphan.status], ['pending', 'failed']);
      assert.equal((await store.messages.get(orphan.id))?.message.reason, 'no_registration');
    });

    it('claims due messages in batches with a lease, and retakes them only when the lease has passed', async () => {
      const published = await store.messages.publish(
        Array.from({ length: 5 }, () => message()),
        T0,
      );
      const first = await store.messages.claimDue(T0, 3, LEASE);
      assert.equal(first.length, 3);
      assert.equal(first[0].registration.url, 'https://a.test/cb');
      assert.ok(first.every((c) => c.message.status === 'delivering' && c.message.lockedUntil === T0 + LEASE));
      const second = await store.messages.claimDue(T0 + 1, 10, LEASE);
      assert.equal(second.length, 2);
      assert.equal((await store.messages.claimDue(T0 + LEASE - 1, 10, LEASE)).length, 0);
      assert.equal(await store.messages.nextDueAt(), T0 + LEASE);
      // A crashed worker's claims come back once the lease is over.
      const retaken = await store.messages.claimDue(T0 + LEASE + 1, 10, LEASE);
      assert.deepEqual(new Set(retaken.map((c) => c.message.id)), new Set(published.map((p) => p.id)));
    });

    it('does not claim messages due later', async () => {
      const [p] = await store.messages.publish([message()], T0);
      const [claimed] = await store.messages.claimDue(T0, 1, LEASE);
      const next = T0 + 60_000;
      await store.messages.complete([{ kind: 'retry', attempt: attempt(p.id, 1, T0), nextAttemptAt: next }], T0 + 5);
      assert.equal(claimed.message.attempts, 0);
      assert.equal((await store.messages.claimDue(next - 1, 10, LEASE)).length, 0);
      assert.equal(await store.messages.nextDueAt(), next);
      const [again] = await store.messages.claimDue(next, 10, LEASE);
      assert.equal(again.message.attempts, 1);
      assert.equal(again.message.reason, 'http_status: the listener answered 500');
    });

    it('records outcomes of many messages in one call', async () => {
      const published = await store.messages.publish([message(), message(), message()], T0);
      await store.messages.claimDue(T0, 10, LEASE);
      const [a, b, c] = published.map((p) => p.id);
      await store.messages.complete(
        [
          { kind: 'delivered', attempt: { ...attempt(a, 1, T0), statusCode: 200, errorKind: null, error: null } },
          { kind: 'failed', attempt: attempt(b, 1, T0), reason: 'gone' },
          { kind: 'retry', attempt: attempt(c, 1, T0), nextAttemptAt: T0 + 100 },
        ],
        T0 + 10,
      );
      const [ma, mb, mc] = await Promise.all([a, b, c].map((id) => store.messages.get(id)));
      assert.equal(ma?.message.status, 'delivered');
      assert.equal(ma?.message.deliveredAt, T0 + 10);
      assert.equal(mb?.message.status, 'failed');
      assert.equal(mb?.message.reason, 'gone');
      assert.equal(mc?.message.status, 'pending');
      assert.deepEqual(
        [ma, mb, mc].map((m) => m?.attempts.length),
        [1, 1, 1],
      );
    });

    it('cancels pending and delivering messages on deregistration and keeps them cancelled when an attempt ends', async () => {
      const [inFlight, waiting] = await store.messages.publish([message(), message()], T0);
      await store.messages.claimDue(T0, 1, LEASE);
      assert.equal(await store.registrations.remove(ACCOUNT, 'CarrierService'), true);
      await store.messages.complete(
        [{ kind: 'retry', attempt: attempt(inFlight.id, 1, T0), nextAttemptAt: T0 }],
        T0 + 1,
      );
      const a = await store.messages.get(inFlight.id);
      const b = await store.messages.get(waiting.id);
      assert.equal(a?.message.status, 'cancelled');
      assert.equal(a?.message.attempts, 1);
      assert.equal(a?.attempts.length, 1);
      assert.equal(b?.message.status, 'cancelled');
      assert.equal((await store.messages.claimDue(T0 + LEASE * 2, 10, LEASE)).length, 0);
    });

    it('leaves a message failed, counted as without a listener, when its registration is still missing', async () => {
      const [orphan] = await store.messages.publish([message({ serviceName: 'DeviceUsage' })], T0);
      assert.deepEqual(await store.messages.replay([orphan.id], 4, T0), { replayed: [], noListener: [orphan.id] });
      assert.equal((await store.messages.claimDue(T0, 10, LEASE)).length, 0);
      const found = await store.messages.get(orphan.id);
      assert.equal(found?.message.status, 'failed');
      assert.equal(found?.message.reason, 'no_registration');
    });

    it('replays finished and pending messages (deliver now), granting a fresh set of attempts, never one in flight', async () => {
      const [done, inFlight, waiting] = await store.messages.publish([message(), message(), message()], T0);
      await store.messages.claimDue(T0, 1, LEASE);
      await store.messages.complete([{ kind: 'failed', attempt: attempt(done.id, 1, T0), reason: 'gone' }], T0);
      assert.deepEqual(
        (await store.messages.claimDue(T0, 1, LEASE)).map((claimed) => claimed.message.id),
        [inFlight.id],
      );
      const ids = [done.id, inFlight.id, waiting.id, 'msg_missing'];
      assert.deepEqual(await store.messages.replay(ids, 4, T0 + 1), {
        replayed: [done.id, waiting.id],
        noListener: [],
      });
      const replayed = await store.messages.get(done.id);
      assert.equal(replayed?.message.status, 'pending');
      assert.equal(replayed?.message.maxAttempts, 5);
      assert.equal(replayed?.message.reason, null);
      const now = await store.messages.get(waiting.id);
      assert.equal(now?.message.status, 'pending');
      assert.equal(now?.message.nextAttemptAt, T0 + 1);
      assert.equal((await store.messages.get(inFlight.id))?.message.status, 'delivering');
    });

    it('hands claimed messages back without counting an attempt', async () => {
      const [p] = await store.messages.publish([message()], T0);
      await store.messages.claimDue(T0, 1, LEASE);
      await store.messages.release([p.id], T0 + 500);
      const found = await store.messages.get(p.id);
      assert.equal(found?.message.status, 'pending');
      assert.equal(found?.message.attempts, 0);
      assert.equal((await store.messages.claimDue(T0 + 499, 1, LEASE)).length, 0);
      assert.equal((await store.messages.claimDue(T0 + 500, 1, LEASE)).length, 1);
    });

    it('pages through ids oldest first with a filter', async () => {
      const published = await store.messages.publish(
        Array.from({ length: 7 }, () => message({ serviceName: 'DeviceUsage' })),
        T0,
      );
      const ids: string[] = [];
      let after: string | null = null;
      for (;;) {
        const page = await store.messages.findIds({ status: 'failed', serviceName: 'DeviceUsage' }, 3, after);
        ids.push(...page);
        if (page.length < 3) break;
        after = page[page.length - 1];
      }
      assert.deepEqual(
        ids,
        published.map((p) => p.id),
      );
      assert.deepEqual(await store.messages.findIds({ status: 'failed', until: T0 }, 10, null), []);
    });

    it('stores a message failed, not pending, when its registration is removed between the check and the insert', async () => {
      let checked: boolean[] = [];
      // The store as the message service sees it, but the removal commits right after the check found
      // the registration, before the message's row is written.
      const racingStore = new Proxy(backendStore, {
        get(target, property) {
          if (property !== 'registrations') return Reflect.get(target, property, target);
          return {
            async gates(keys: RegistrationKey[]) {
              const gates = await target.registrations.gates(keys);
              checked = gates.map((gate) => gate !== null);
              assert.equal(await store.registrations.remove(ACCOUNT, 'CarrierService'), true);
              return gates;
            },
          };
        },
      });
      const racing = new MessageService(racingStore, store.registrations);
      const [published] = await racing.publish([message()], T0);
      assert.deepEqual(checked, [true], 'the check found the registration');
      assert.equal(published.status, 'failed');
      const stored = await store.messages.get(published.id);
      assert.deepEqual([stored?.message.status, stored?.message.reason], ['failed', 'no_registration']);
      assert.deepEqual(await store.messages.claimDue(T0 + 1, 10, LEASE), [], 'nothing is left queued for nobody');
    });

    it('purges delivered and failed messages past their retention, with their attempts', async () => {
      const [delivered, failed, pending] = await store.messages.publish([message(), message(), message()], T0);
      await store.messages.claimDue(T0, 2, LEASE);
      await store.messages.complete(
        [
          {
            kind: 'delivered',
            attempt: { ...attempt(delivered.id, 1, T0), statusCode: 200, errorKind: null, error: null },
          },
          { kind: 'failed', attempt: attempt(failed.id, 1, T0), reason: 'gone' },
        ],
        T0,
      );
      const retention = { deliveredMs: 1_000, failedMs: 10_000, purgeIntervalMs: 60_000 };
      assert.equal(await purgeExpiredMessages(backendStore.messages, retention, T0 + 999), 0);
      assert.equal(await purgeExpiredMessages(backendStore.messages, retention, T0 + 1_001), 1);
      assert.equal(await store.messages.get(delivered.id), null);
      assert.ok(await store.messages.get(failed.id));
      assert.equal(await purgeExpiredMessages(backendStore.messages, retention, T0 + 10_001), 1);
      assert.equal(await store.messages.get(failed.id), null);
      assert.ok(await store.messages.get(pending.id), 'pending messages are never purged');
      // A message published again under a purged message's id would show its attempts if any were left.
      const [again] = await store.messages.publish([message({ id: delivered.id })], T0 + 10_002);
      assert.deepEqual([again.id, again.status, again.duplicate], [delivered.id, 'pending', false]);
      assert.deepEqual((await store.messages.get(delivered.id))?.attempts, []);
    });

    it('counts messages by status and measures how long the oldest due one has waited', async () => {
      await store.messages.publish([message(), message(), message({ serviceName: 'DeviceUsage' })], T0);
      await store.messages.claimDue(T0, 1, LEASE);
      const stats = await store.messages.stats(T0 + 2_000);
      assert.deepEqual(stats.counts, { pending: 1, delivering: 1, delivered: 0, failed: 1, cancelled: 0 });
      assert.equal(stats.queueDepth, 2);
      assert.equal(stats.oldestDueAgeMs, 2_000);
    });

    describe('idempotency keys', () => {
      const keyed = (key: string, overrides: Partial<NewMessage> = {}) =>
        message({ idempotencyKey: key, ...overrides });
      const total = async () => Object.values((await store.messages.stats(T0)).counts).reduce((a, b) => a + b, 0);

      it('returns the first message for a repeated key with the same payload', async () => {
        const [first] = await store.messages.publish([keyed('k1')], T0);
        const [again] = await store.messages.publish([keyed('k1')], T0 + 1);
        assert.deepEqual(again, { id: first.id, status: 'pending', duplicate: true });
        assert.equal(await total(), 1);
      });

      it('scopes keys to the account and the service', async () => {
        await store.registrations.upsert({
          accountName: 'OTHER-1',
          serviceName: 'CarrierService',
          url: 'https://b.test/cb',
        });
        const [a] = await store.messages.publish([keyed('k1')], T0);
        const [otherAccount] = await store.messages.publish([keyed('k1', { accountName: 'OTHER-1' })], T0);
        const [otherService] = await store.messages.publish([keyed('k1', { serviceName: 'DeviceUsage' })], T0);
        assert.equal(new Set([a.id, otherAccount.id, otherService.id]).size, 3);
        assert.ok(!otherAccount.duplicate && !otherService.duplicate);
        assert.equal(otherAccount.status, 'pending');
      });

      it('refuses a reused key with another payload and stores nothing', async () => {
        await store.messages.publish([keyed('k1', { payload: '{"a":1}' })], T0);
        await assert.rejects(
          store.messages.publish([message(), keyed('k1', { payload: '{"a":2}' })], T0 + 1),
          (error: unknown) => error instanceof IdempotencyConflictError && error.key === 'k1' && error.index === 1,
        );
        assert.equal(await total(), 1);
      });

      it('applies keys between the messages of one batch too', async () => {
        const [one, two] = await store.messages.publish([keyed('b1'), keyed('b1')], T0);
        assert.equal(two.id, one.id);
        assert.deepEqual([one.duplicate, two.duplicate], [false, true]);
        assert.equal(await total(), 1);
        await assert.rejects(
          store.messages.publish([keyed('b2', { payload: '{"x":1}' }), keyed('b2', { payload: '{"x":2}' })], T0),
          IdempotencyConflictError,
        );
        assert.equal(await total(), 1);
      });

      it('forgets a key once it has expired', async () => {
        const [first] = await store.messages.publish([keyed('k1', { payload: '{"v":1}' })], T0);
        const later = T0 + IDEMPOTENCY_KEY_TTL_MS;
        const [second] = await store.messages.publish([keyed('k1', { payload: '{"v":2}' })], later);
        assert.notEqual(second.id, first.id);
        assert.equal(second.duplicate, false);
        const [third] = await store.messages.publish([keyed('k1', { payload: '{"v":2}' })], later + 1);
        assert.equal(third.id, second.id);
      });
    });

    it('never fails a claimed message as no_registration because its cache missed the registration', async () => {
      // A second process on the same store: its cache knew the account before the registration existed.
      const registrations = new RegistrationService(backendStore, new FieldCipher(key));
      const worker = new MessageService(backendStore, registrations);
      assert.equal(await registrations.get(ACCOUNT, 'DeviceUsage'), null);
      assert.deepEqual(
        (await registrations.list(ACCOUNT)).map((r) => r.serviceName),
        ['CarrierService'],
      );
      await store.registrations.upsert({ accountName: ACCOUNT, serviceName: 'DeviceUsage', url: 'https://d.test/cb' });
      const [published] = await store.messages.publish([message({ serviceName: 'DeviceUsage' })], T0);
      assert.equal(published.status, 'pending');
      const claimed = await worker.claimDue(T0, 10, LEASE);
      assert.deepEqual(
        claimed.map((c) => [c.message.id, c.registration.url]),
        [[published.id, 'https://d.test/cb']],
      );
      assert.equal((await store.messages.get(published.id))?.message.status, 'delivering');
    });

    it('claims while the registrations change mark is read, not after it', async () => {
      // A worker whose mark is stale (its clock moved past the staleness bound): the read of the mark
      // is held until the claim starts, or 2 s at most; awaited before the claim, it would end first.
      let clock = T0;
      const events: string[] = [];
      let claimStarted = () => {};
      const started = new Promise<void>((resolve) => {
        claimStarted = resolve;
      });
      const registrationsStore = Object.create(backendStore.registrations);
      registrationsStore.changeMark = async () => {
        events.push('mark read');
        await Promise.race([started, new Promise((resolve) => setTimeout(resolve, 2_000))]);
        events.push('mark answered');
        return backendStore.registrations.changeMark();
      };
      const messagesStore = Object.create(backendStore.messages);
      messagesStore.claim = (...args: Parameters<Store['messages']['claim']>) => {
        events.push('claim');
        claimStarted();
        return backendStore.messages.claim(...args);
      };
      const spied: Store = Object.create(backendStore);
      Object.assign(spied, { registrations: registrationsStore, messages: messagesStore });
      const registrations = new RegistrationService(spied, new FieldCipher(key), () => clock);
      const worker = new MessageService(spied, registrations);
      const [published] = await store.messages.publish([message()], T0);
      clock += 60_000;
      events.length = 0;
      const claimed = await worker.claimDue(T0, 10, LEASE);
      assert.deepEqual(
        claimed.map((c) => c.message.id),
        [published.id],
      );
      assert.deepEqual(events, ['mark read', 'claim', 'mark answered']);
    });

    it('claims held messages admitted in the same call, and hands the claim back when admission fails', async () => {
      await store.registrations.updateSettings(ACCOUNT, 'CarrierService', { ordering: 'fifo' });
      const [first] = await store.messages.publish([message()], T0);
      const claimed = await store.messages.claimDue(T0, 10, LEASE);
      assert.deepEqual(
        claimed.map((c) => c.message.id),
        [first.id],
        'the FIFO head is admitted and claimed by one call',
      );
      // A message due to a plain claim beside a failing admission: claimed, then handed back at once.
      await store.registrations.updateSettings(ACCOUNT, 'CarrierService', { ordering: 'none' });
      const [plain] = await store.messages.publish([message()], T0 + 1);
      await store.registrations.updateSettings(ACCOUNT, 'CarrierService', { ordering: 'fifo' });
      // Through a view of the store whose admission fails (a store's own methods may be bound).
      let failed = 0;
      const failing = Object.create(backendStore.messages);
      failing.admitHeld = async () => {
        failed++;
        throw new Error('admission failed');
      };
      const spied: Store = Object.create(backendStore);
      Object.assign(spied, { messages: failing });
      const worker = new MessageService(spied, store.registrations);
      await assert.rejects(worker.claimDue(T0 + 2, 10, LEASE), /admission failed/);
      assert.equal(failed, 1, 'admission ran (and failed) after the claim');
      const again = await backendStore.messages.claim(T0 + 2, 10, LEASE);
      assert.deepEqual(
        again.map((m) => m.id),
        [plain.id],
        'the message claimed before the failure was handed back, not left leased',
      );
    });
  });
}
