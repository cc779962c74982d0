import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { openStore } from '../src/store/index.js';
import {
  type ApiKeyRecord,
  type Attempt,
  type AuditRecord,
  DEFAULT_CONTROLS,
  EMPTY_HEALTH,
  IdempotencyKeyTakenError,
  InvalidCursorError,
  type MessageInsert,
  type ReplayJobRecord,
  type Store,
} from '../src/store/types.js';
import { postgresForTests } from './postgres.js';

/**
 * The store contract: every method of `Store`, the same tests on every backend. A backend gives a
 * fresh, migrated store and a second store on the same database (another process, as it were).
 */
interface Backend {
  name: string;
  skip: string | false;
  open(): Promise<{ store: Store; second(): Promise<Store>; close(): Promise<void> }>;
}

const pg = await postgresForTests();
const backends: Backend[] = [
  {
    name: 'SQLite',
    skip: false,
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'ccb-contract-'));
      const url = `sqlite:${join(dir, 'ccb.sqlite')}`;
      const opened: Store[] = [];
      const open = async () => {
        const store = await openStore(url);
        await store.migrate();
        opened.push(store);
        return store;
      };
      return {
        store: await open(),
        second: open,
        async close() {
          for (const store of opened) await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'PostgreSQL',
    skip: pg.skip,
    async open() {
      if (pg.skip !== false) throw new Error(pg.skip);
      const database = await pg.postgres.createTestDatabase();
      const opened: Store[] = [];
      const open = async () => {
        const store = await openStore(database.url, { poolSize: 4 });
        opened.push(store);
        await store.migrate();
        return store;
      };
      return {
        store: await open(),
        second: open,
        async close() {
          for (const store of opened) await store.close();
          await database.drop();
        },
      };
    },
  },
];

const T0 = 1_700_000_000_000;
const LEASE = 10_000;
const A = 'A-1';

let counter = 0;
const row = (overrides: Partial<MessageInsert> = {}): MessageInsert => ({
  id: `msg_${String(++counter).padStart(8, '0')}`,
  accountName: A,
  serviceName: 'CarrierService',
  payload: '{"n":1}',
  status: 'pending',
  maxAttempts: 4,
  nextAttemptAt: T0,
  reason: null,
  idempotency: null,
  ...overrides,
});
const attempt = (messageId: string, attemptNumber: number, overrides: Partial<Attempt> = {}): Attempt => ({
  messageId,
  attemptNumber,
  startedAt: T0,
  url: 'https://a.test/cb',
  statusCode: 500,
  latencyMs: 2.5,
  errorKind: 'http_status',
  error: 'the listener answered 500',
  responseExcerpt: 'oops',
  ...overrides,
});
const fields = (serviceName: string, url: string) => ({
  accountName: A,
  serviceName,
  url,
  username: 'u',
  passwordEnc: 'enc-pw',
  updatedAt: T0,
});

for (const backend of backends) {
  describe(`store contract: ${backend.name}`, { skip: backend.skip }, () => {
    let store: Store;
    let opened: Awaited<ReturnType<Backend['open']>>;
    beforeEach(async () => {
      opened = await backend.open();
      store = opened.store;
    });
    afterEach(() => opened.close());

    describe('store', () => {
      it('migrates again without change and answers readiness', async () => {
        await store.migrate();
        await store.migrate();
        await store.checkReady();
      });

      it('migrates once when two instances start together', async () => {
        const [a, b] = await Promise.all([opened.second(), opened.second()]);
        await Promise.all([a.migrate(), b.migrate()]);
        await a.registrations.insert({ ...fields('DeviceUsage', 'https://x/'), signingSecretEnc: 's' });
        assert.equal((await b.registrations.list(A)).length, 1);
      });
    });

    describe('registrations', () => {
      it('inserts, reads, lists by service and tells which exist', async () => {
        assert.equal(await store.registrations.sampleSecret(), null);
        const inserted = await store.registrations.insert({
          ...fields('StateService', 'https://s/'),
          signingSecretEnc: 'sec-1',
        });
        assert.deepEqual(inserted, {
          accountName: A,
          serviceName: 'StateService',
          url: 'https://s/',
          username: 'u',
          passwordEnc: 'enc-pw',
          signingSecretEnc: 'sec-1',
          previousSecretEnc: null,
          previousSecretExpiresAt: null,
          createdAt: T0,
          updatedAt: T0,
          controls: DEFAULT_CONTROLS,
          health: EMPTY_HEALTH,
        });
        await store.registrations.insert({ ...fields('CarrierService', 'https://c/'), signingSecretEnc: 'sec-2' });
        assert.deepEqual(await store.registrations.get(A, 'StateService'), inserted);
        assert.equal(await store.registrations.get(A, 'DeviceUsage'), null);
        assert.deepEqual(
          (await store.registrations.list(A)).map((r) => r.serviceName),
          ['CarrierService', 'StateService'],
        );
        assert.deepEqual(await store.registrations.list('A-2'), []);
        assert.deepEqual(
          await store.registrations.exists([
            { accountName: A, serviceName: 'StateService' },
            { accountName: A, serviceName: 'DeviceUsage' },
            { accountName: 'A-2', serviceName: 'StateService' },
            { accountName: A, serviceName: 'CarrierService' },
          ]),
          [true, false, false, true],
        );
        assert.ok(['sec-1', 'sec-2'].includes((await store.registrations.sampleSecret()) ?? ''));
      });

      it('applies updates made at once, each whole and answered for its own row', async () => {
        await store.registrations.insert({ ...fields('StateService', 'https://a/'), signingSecretEnc: 's1' });
        await store.registrations.insert({ ...fields('CarrierService', 'https://c/'), signingSecretEnc: 's2' });
        const answers = await Promise.all([
          ...Array.from({ length: 10 }, (_, i) =>
            store.registrations.update({ ...fields('StateService', `https://a/${i}`), updatedAt: T0 + i }),
          ),
          store.registrations.update(fields('DeviceUsage', 'https://none/')),
          store.registrations.update({ ...fields('CarrierService', 'https://c/2'), username: null }),
        ]);
        assert.deepEqual(answers, [...Array(10).fill(true), false, true]);
        // Concurrent calls have no order (PostgreSQL runs them on several connections): one of them is last, whole.
        const state = await store.registrations.get(A, 'StateService');
        const last = Number(state?.url.slice('https://a/'.length));
        assert.deepEqual(
          [state?.url, state?.updatedAt, state?.signingSecretEnc],
          [`https://a/${last}`, T0 + last, 's1'],
        );
        const carrier = await store.registrations.get(A, 'CarrierService');
        assert.deepEqual([carrier?.url, carrier?.username], ['https://c/2', null]);
        assert.equal(await store.registrations.get(A, 'DeviceUsage'), null);
      });

      it('updates URL and credentials but keeps the secrets, also when an insert finds the row', async () => {
        assert.equal(await store.registrations.update(fields('StateService', 'https://none/')), false);
        await store.registrations.insert({ ...fields('StateService', 'https://a/'), signingSecretEnc: 'first' });
        const later = { ...fields('StateService', 'https://b/'), username: null, passwordEnc: null, updatedAt: T0 + 5 };
        assert.equal(await store.registrations.update(later), true);
        const raced = await store.registrations.insert({
          ...fields('StateService', 'https://c/'),
          updatedAt: T0 + 9,
          signingSecretEnc: 'second',
        });
        assert.equal(raced.signingSecretEnc, 'first');
        assert.equal(raced.url, 'https://c/');
        assert.equal(raced.createdAt, T0);
        assert.equal(raced.updatedAt, T0 + 9);
        assert.equal((await store.registrations.list(A)).length, 1);
      });

      it('removes a row and rotates a secret, keeping the previous one with its expiry', async () => {
        await store.registrations.insert({ ...fields('StateService', 'https://a/'), signingSecretEnc: 'old' });
        const rotated = await store.registrations.rotateSecret({
          accountName: A,
          serviceName: 'StateService',
          signingSecretEnc: 'new',
          previousExpiresAt: T0 + 1_000,
          now: T0 + 1,
        });
        assert.equal(rotated?.signingSecretEnc, 'new');
        assert.equal(rotated?.previousSecretEnc, 'old');
        assert.equal(rotated?.previousSecretExpiresAt, T0 + 1_000);
        assert.equal(rotated?.updatedAt, T0 + 1);
        assert.equal(
          await store.registrations.rotateSecret({
            accountName: A,
            serviceName: 'Nothing',
            signingSecretEnc: 'x',
            previousExpiresAt: 1,
            now: 1,
          }),
          null,
        );
        assert.equal(await store.registrations.remove(A, 'StateService'), true);
        assert.equal(await store.registrations.remove(A, 'StateService'), false);
        assert.equal(await store.registrations.get(A, 'StateService'), null);
      });

      it('moves its change mark when another connection changes registrations', async () => {
        const other = await opened.second();
        const before = await store.registrations.changeMark();
        assert.equal(await store.registrations.changeMark(), before);
        await other.registrations.insert({ ...fields('StateService', 'https://a/'), signingSecretEnc: 's' });
        const afterInsert = await store.registrations.changeMark();
        assert.notEqual(afterInsert, before);
        await other.registrations.remove(A, 'StateService');
        assert.notEqual(await store.registrations.changeMark(), afterInsert);
      });
    });

    describe('auth', () => {
      it('creates a client once and tells a second creation of the same id', async () => {
        const client = { clientId: 'c-1', name: 'one', secretHash: 'h', createdAt: T0 };
        assert.equal(await store.auth.createClient(client), true);
        assert.equal(await store.auth.createClient({ ...client, name: 'two' }), false);
        assert.deepEqual(await store.auth.getClient('c-1'), client);
        assert.equal(await store.auth.getClient('nobody'), null);
      });

      it('stores users with their accounts and takes at most five login slots, never locking on its own', async () => {
        const user = { username: 'u', passwordHash: 'h', accounts: ['A-1', 'A-2'], createdAt: 1 };
        assert.equal(await store.auth.insertUserIfMissing(user), true);
        assert.equal(await store.auth.insertUserIfMissing({ ...user, passwordHash: 'other' }), false);
        for (let i = 1; i <= 5; i++) {
          const reserved = await store.auth.reserveLoginAttempt('u', 10, 5);
          assert.deepEqual(
            [reserved?.admitted, reserved?.user.failedLogins, reserved?.user.lockedUntil],
            [true, i, null],
          );
        }
        const full = await store.auth.reserveLoginAttempt('u', 20, 5);
        assert.deepEqual([full?.admitted, full?.user.failedLogins, full?.user.lockedUntil], [false, 5, null]);
        assert.deepEqual(full?.user.accounts, ['A-1', 'A-2']);
        await store.auth.resetFailedLogins('u');
        assert.deepEqual(await store.auth.getUser('u'), { ...user, failedLogins: 0, lockedUntil: null });
        assert.equal((await store.auth.reserveLoginAttempt('u', 30, 5))?.admitted, true, 'a success frees the slots');
        assert.equal(await store.auth.reserveLoginAttempt('ghost', 10, 5), null);
      });

      it('locks a user whose slots are all taken, once, and admits again when the lockout has ended', async () => {
        await store.auth.upsertUser({ username: 'l', passwordHash: 'h', accounts: [], createdAt: 1 });
        for (let i = 0; i < 4; i++) await store.auth.reserveLoginAttempt('l', 10, 5);
        const early = await store.auth.lockFailedLogins('l', 5, 999);
        assert.deepEqual([early?.failedLogins, early?.lockedUntil], [4, null], 'four failures do not lock');
        await store.auth.reserveLoginAttempt('l', 10, 5);
        assert.equal((await store.auth.lockFailedLogins('l', 5, 999))?.lockedUntil, 999);
        assert.equal((await store.auth.lockFailedLogins('l', 5, 5_000))?.lockedUntil, 999, 'a lockout is not extended');
        const refused = await store.auth.reserveLoginAttempt('l', 500, 5);
        assert.deepEqual([refused?.admitted, refused?.user.lockedUntil], [false, 999]);
        const afterLockout = await store.auth.reserveLoginAttempt('l', 1_000, 5);
        assert.deepEqual(
          [afterLockout?.admitted, afterLockout?.user.failedLogins, afterLockout?.user.lockedUntil],
          [true, 1, null],
          'an ended lockout starts a fresh count',
        );
        assert.equal(await store.auth.lockFailedLogins('ghost', 5, 999), null);
      });

      it('locks for slots abandoned before a time only when the latest slot was taken before it', async () => {
        await store.auth.upsertUser({ username: 'a', passwordHash: 'h', accounts: [], createdAt: 1 });
        for (let i = 0; i < 4; i++) await store.auth.reserveLoginAttempt('a', 100, 5);
        await store.auth.reserveLoginAttempt('a', 200, 5);
        assert.equal((await store.auth.lockFailedLogins('a', 5, 9_999, 200))?.lockedUntil, null, 'a slot is recent');
        assert.equal((await store.auth.lockFailedLogins('a', 5, 9_999, 201))?.lockedUntil, 9_999);
      });

      it('takes login slots one by one under concurrency, from two connections, and a failure among them locks once', async () => {
        await store.auth.upsertUser({ username: 'c', passwordHash: 'h', accounts: [], createdAt: 1 });
        const other = await opened.second();
        const stores = [store, other];
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => stores[i % 2].auth.reserveLoginAttempt('c', 10, 5)),
        );
        assert.equal(results.filter((r) => r?.admitted).length, 5);
        const locks = await Promise.all(
          Array.from({ length: 6 }, (_, i) => stores[i % 2].auth.lockFailedLogins('c', 5, 900 + i)),
        );
        assert.equal(new Set(locks.map((u) => u?.lockedUntil)).size, 1, 'one lock, kept by the others');
        assert.equal((await other.auth.reserveLoginAttempt('c', 20, 5))?.admitted, false);
      });

      it('replaces, updates, lists and deletes users (with their sessions)', async () => {
        await store.auth.upsertUser({ username: 'b', passwordHash: 'h', accounts: ['A-1'], createdAt: 1 });
        await store.auth.upsertUser({ username: 'a', passwordHash: 'h', accounts: [], createdAt: 2 });
        await store.auth.reserveLoginAttempt('b', 10, 1);
        await store.auth.lockFailedLogins('b', 1, 999);
        await store.auth.upsertUser({ username: 'b', passwordHash: 'h2', accounts: ['A-3'], createdAt: 1 });
        assert.deepEqual(await store.auth.getUser('b'), {
          username: 'b',
          passwordHash: 'h2',
          accounts: ['A-3'],
          failedLogins: 0,
          lockedUntil: null,
          createdAt: 1,
        });
        assert.deepEqual(
          (await store.auth.listUsers()).map((u) => u.username),
          ['a', 'b'],
        );
        await store.auth.reserveLoginAttempt('b', 10, 1);
        await store.auth.lockFailedLogins('b', 1, 999);
        const accountsOnly = await store.auth.updateUser('b', { accounts: ['A-4'] });
        assert.deepEqual(
          [accountsOnly?.accounts, accountsOnly?.lockedUntil, accountsOnly?.passwordHash],
          [['A-4'], 999, 'h2'],
        );
        const newPassword = await store.auth.updateUser('b', { passwordHash: 'h3' });
        assert.deepEqual(
          [newPassword?.passwordHash, newPassword?.lockedUntil, newPassword?.failedLogins],
          ['h3', null, 0],
        );
        assert.equal(await store.auth.updateUser('ghost', { accounts: [] }), null);
        await store.auth.saveSession({ tokenHash: 's-b1', username: 'b', clientId: 'c', expiresAt: 10 });
        await store.auth.saveSession({ tokenHash: 's-b2', username: 'b', clientId: 'c', expiresAt: 10 });
        await store.auth.saveSession({ tokenHash: 's-a', username: 'a', clientId: 'c', expiresAt: 10 });
        assert.equal(await store.auth.deleteUserSessions('a'), 1);
        assert.equal(await store.auth.deleteUser('b'), true);
        assert.equal(await store.auth.getSession('s-b1'), null);
        assert.equal(await store.auth.getUser('b'), null);
        assert.equal(await store.auth.deleteUser('b'), false);
      });

      it('lists clients, replaces a secret (revoking tokens) and deletes a client with its tokens and sessions', async () => {
        await store.auth.createClient({ clientId: 'z', name: 'z', secretHash: 'h', createdAt: 1 });
        await store.auth.createClient({ clientId: 'm', name: 'm', secretHash: 'h', createdAt: 1 });
        assert.deepEqual(
          (await store.auth.listClients()).map((c) => c.clientId),
          ['m', 'z'],
        );
        await store.auth.saveAccessToken({ tokenHash: 't-z', clientId: 'z', expiresAt: 10 });
        await store.auth.saveAccessToken({ tokenHash: 't-m', clientId: 'm', expiresAt: 10 });
        await store.auth.saveSession({ tokenHash: 's-m', username: 'u', clientId: 'm', expiresAt: 10 });
        assert.equal(await store.auth.replaceClientSecret('z', 'h2'), true);
        assert.equal((await store.auth.getClient('z'))?.secretHash, 'h2');
        assert.equal(await store.auth.getAccessToken('t-z'), null);
        assert.equal(await store.auth.replaceClientSecret('ghost', 'h'), false);
        assert.equal(await store.auth.deleteClient('m'), true);
        assert.equal(await store.auth.getAccessToken('t-m'), null);
        assert.equal(await store.auth.getSession('s-m'), null);
        assert.equal(await store.auth.getClient('m'), null);
        assert.equal(await store.auth.deleteClient('m'), false);
      });

      it('stores sessions and tokens, touches, deletes and purges expired ones', async () => {
        await store.auth.saveAccessToken({ tokenHash: 't1', clientId: 'c', expiresAt: 100 });
        await store.auth.saveAccessToken({ tokenHash: 't2', clientId: 'c', expiresAt: 10_000 });
        await store.auth.saveSession({ tokenHash: 's1', username: 'u', clientId: 'c', expiresAt: 100 });
        await store.auth.saveSession({ tokenHash: 's2', username: 'u', clientId: 'c', expiresAt: 100 });
        await store.auth.touchSession('s2', 10_000);
        assert.deepEqual(await store.auth.getSession('s2'), {
          tokenHash: 's2',
          username: 'u',
          clientId: 'c',
          expiresAt: 10_000,
        });
        assert.equal(await store.auth.purgeExpired(1_000), 2);
        assert.equal(await store.auth.getAccessToken('t1'), null);
        assert.deepEqual(await store.auth.getAccessToken('t2'), { tokenHash: 't2', clientId: 'c', expiresAt: 10_000 });
        assert.equal(await store.auth.getSession('s1'), null);
        assert.equal(await store.auth.deleteSession('s2'), true);
        assert.equal(await store.auth.deleteSession('s2'), false);
      });
    });

    describe('messages', () => {
      it('inserts messages as given and reads one back with no attempts', async () => {
        const pending = row();
        const failed = row({ status: 'failed', nextAttemptAt: null, reason: 'no_registration' });
        await store.messages.insert([pending, failed], T0);
        const found = await store.messages.get(pending.id);
        assert.deepEqual(found, {
          message: {
            id: pending.id,
            accountName: A,
            serviceName: 'CarrierService',
            payload: '{"n":1}',
            status: 'pending',
            attempts: 0,
            maxAttempts: 4,
            nextAttemptAt: T0,
            lockedUntil: null,
            reason: null,
            idempotencyKey: null,
            createdAt: T0,
            updatedAt: T0,
            deliveredAt: null,
          },
          attempts: [],
        });
        assert.equal((await store.messages.get(failed.id))?.message.reason, 'no_registration');
        assert.equal(await store.messages.get('msg_missing'), null);
      });

      it('keeps idempotency keys per account and service, refuses a live one and takes over an expired one', async () => {
        const key = (k: string, expiresAt = T0 + 1_000) => ({ key: k, fingerprint: `fp-${k}`, expiresAt });
        const first = row({ idempotency: key('k1') });
        await store.messages.insert([first], T0);
        const otherService = row({ serviceName: 'DeviceUsage', idempotency: key('k1') });
        await store.messages.insert([otherService], T0);
        const scope = { accountName: A, serviceName: 'CarrierService', key: 'k1' };
        assert.deepEqual(await store.messages.findIdempotencyKeys([scope, { ...scope, key: 'k2' }], T0), [
          { ...scope, messageId: first.id, fingerprint: 'fp-k1', status: 'pending' },
          null,
        ]);
        assert.equal((await store.messages.get(first.id))?.message.idempotencyKey, 'k1');
        // A live key fails the whole insert: the other message of the call is not stored either.
        const bystander = row();
        await assert.rejects(
          store.messages.insert([bystander, row({ idempotency: key('k1') })], T0 + 1),
          IdempotencyKeyTakenError,
        );
        assert.equal(await store.messages.get(bystander.id), null);
        // Expired: not found any more, and a new message takes the key.
        assert.deepEqual(await store.messages.findIdempotencyKeys([scope], T0 + 1_000), [null]);
        const later = row({ idempotency: key('k1', T0 + 5_000) });
        await store.messages.insert([later], T0 + 1_000);
        assert.equal((await store.messages.findIdempotencyKeys([scope], T0 + 1_001))[0]?.messageId, later.id);
      });

      it('commits concurrent inserts, each answered after its commit, and fails a bad one alone', async () => {
        const key = (k: string) => ({ key: k, fingerprint: `fp-${k}`, expiresAt: T0 + 1_000 });
        const holder = row({ idempotency: key('held') });
        await store.messages.insert([holder], T0);
        const reader = await opened.second();
        const plain = Array.from({ length: 6 }, () => [row(), row()]);
        const keyed = row({ idempotency: key('fresh') });
        const bystander = row();
        const refused = row({ idempotency: key('held') });
        // Two publishes racing for one key in the same turn: one takes it, the other is told.
        const racers = [row({ idempotency: key('raced') }), row({ idempotency: key('raced') })];
        const calls = [
          ...plain.map((rows) => ({ rows, ok: true })),
          { rows: [keyed], ok: true },
          { rows: [bystander, refused], ok: false },
          ...racers.map((r) => ({ rows: [r], ok: null })),
        ];
        const settled = await Promise.allSettled(
          calls.map(async ({ rows }) => {
            await store.messages.insert(rows, T0 + 1);
            // Answered only once committed: another connection reads every row of the call.
            for (const r of rows) assert.equal((await reader.messages.get(r.id))?.message.id, r.id);
          }),
        );
        calls.forEach(({ ok }, i) => {
          const outcome = settled[i];
          if (ok === true) assert.equal(outcome.status, 'fulfilled', String((outcome as PromiseRejectedResult).reason));
          if (ok === false) {
            assert.equal(outcome.status, 'rejected');
            assert.ok((outcome as PromiseRejectedResult).reason instanceof IdempotencyKeyTakenError);
          }
        });
        assert.equal(await store.messages.get(bystander.id), null);
        assert.equal(await store.messages.get(refused.id), null);
        const raced = settled.slice(-2);
        assert.equal(raced.filter((s) => s.status === 'fulfilled').length, 1);
        const lost = raced.find((s) => s.status === 'rejected') as PromiseRejectedResult;
        assert.ok(lost.reason instanceof IdempotencyKeyTakenError);
        const scope = { accountName: A, serviceName: 'CarrierService' };
        const [fresh, racedKey] = await store.messages.findIdempotencyKeys(
          [
            { ...scope, key: 'fresh' },
            { ...scope, key: 'raced' },
          ],
          T0 + 2,
        );
        assert.equal(fresh?.messageId, keyed.id);
        const winner = racers[raced.findIndex((s) => s.status === 'fulfilled')];
        assert.equal(racedKey?.messageId, winner.id);
        assert.equal((await store.messages.stats(T0 + 2)).counts.pending, 1 + 12 + 1 + 1);
      });

      it('claims due messages in batches with a lease, disjoint under concurrency, and takes over expired leases', async () => {
        const rows = Array.from({ length: 30 }, () => row());
        await store.messages.insert(rows, T0);
        await store.messages.insert([row({ nextAttemptAt: T0 + 60_000 })], T0);
        const claims = await Promise.all([1, 2, 3, 4].map(() => store.messages.claim(T0, 10, LEASE)));
        const ids = claims.flat().map((m) => m.id);
        assert.equal(ids.length, 30);
        assert.equal(new Set(ids).size, 30);
        assert.ok(claims.flat().every((m) => m.status === 'delivering' && m.lockedUntil === T0 + LEASE));
        assert.deepEqual(await store.messages.claim(T0 + LEASE - 1, 10, LEASE), []);
        assert.equal(await store.messages.nextDueAt(), T0 + LEASE);
        const retaken = await store.messages.claim(T0 + LEASE, 50, LEASE);
        assert.deepEqual(new Set(retaken.map((m) => m.id)), new Set(rows.map((r) => r.id)));
        assert.ok(retaken.every((m) => m.lockedUntil === T0 + 2 * LEASE));
        assert.deepEqual(await store.messages.claim(T0, 0, LEASE), []);
      });

      it('claims in due order', async () => {
        const late = row({ nextAttemptAt: T0 + 2 });
        const early = row({ nextAttemptAt: T0 + 1 });
        const first = row({ nextAttemptAt: T0 });
        await store.messages.insert([late, early, first], T0);
        assert.deepEqual(
          (await store.messages.claim(T0 + 5, 10, LEASE)).map((m) => m.id),
          [first.id, early.id, late.id],
        );
      });

      it('applies a batch of changes: attempts always recorded, status only while delivering', async () => {
        const [a, b, c] = [row(), row(), row()];
        await store.messages.insert([a, b, c], T0);
        await store.messages.claim(T0, 2, LEASE);
        await store.messages.update(
          [
            {
              id: a.id,
              attempt: attempt(a.id, 1, { statusCode: 200, errorKind: null, error: null }),
              status: 'delivered',
              nextAttemptAt: null,
              reason: null,
              deliveredAt: T0 + 3,
            },
            {
              id: b.id,
              attempt: attempt(b.id, 1),
              status: 'pending',
              nextAttemptAt: T0 + 500,
              reason: 'http_500',
              deliveredAt: null,
            },
            // c was never claimed: its attempt counts, its status stays.
            {
              id: c.id,
              attempt: attempt(c.id, 1),
              status: 'failed',
              nextAttemptAt: null,
              reason: 'gone',
              deliveredAt: null,
            },
          ],
          T0 + 3,
        );
        const [ma, mb, mc] = await Promise.all([a, b, c].map((m) => store.messages.get(m.id)));
        assert.deepEqual(
          [ma?.message.status, ma?.message.deliveredAt, ma?.message.lockedUntil, ma?.message.attempts],
          ['delivered', T0 + 3, null, 1],
        );
        assert.deepEqual(
          [mb?.message.status, mb?.message.nextAttemptAt, mb?.message.reason],
          ['pending', T0 + 500, 'http_500'],
        );
        assert.deepEqual([mc?.message.status, mc?.message.reason, mc?.message.attempts], ['pending', null, 1]);
        assert.deepEqual(mb?.attempts, [attempt(b.id, 1)]);
        // A change without an attempt (no registration at claim time).
        await store.messages.claim(T0 + 500, 10, LEASE);
        await store.messages.update(
          [
            {
              id: b.id,
              attempt: null,
              status: 'failed',
              nextAttemptAt: null,
              reason: 'no_registration',
              deliveredAt: null,
            },
          ],
          T0 + 600,
        );
        const failed = await store.messages.get(b.id);
        assert.deepEqual(
          [failed?.message.status, failed?.message.reason, failed?.message.attempts],
          ['failed', 'no_registration', 1],
        );
        assert.equal(failed?.message.updatedAt, T0 + 600);
      });

      it('keeps the history of every attempt in order, a redone attempt replacing the one of its number', async () => {
        const [m, once] = [row(), row()];
        await store.messages.insert([m, once], T0);
        await store.messages.claim(T0, 2, LEASE);
        const retry = (a: Attempt) => ({
          id: a.messageId,
          attempt: a,
          status: 'pending' as const,
          nextAttemptAt: T0 + 100,
          reason: 'http_status: the listener answered 500',
          deliveredAt: null,
        });
        const first = attempt(once.id, 1, { statusCode: 200, errorKind: null, error: null, responseExcerpt: 'ok' });
        await store.messages.update(
          [
            retry(attempt(m.id, 1)),
            {
              id: once.id,
              attempt: first,
              status: 'delivered',
              nextAttemptAt: null,
              reason: null,
              deliveredAt: T0 + 1,
            },
          ],
          T0 + 1,
        );
        // The same attempt number recorded again (a lease ran out mid-attempt and it was redone).
        const redone = attempt(m.id, 1, { startedAt: T0 + 2, statusCode: 503, latencyMs: 7.25, responseExcerpt: null });
        await store.messages.update([retry(redone)], T0 + 2);
        assert.equal((await store.messages.claim(T0 + 100, 10, LEASE)).length, 1);
        const second = attempt(m.id, 2, { startedAt: T0 + 100, statusCode: 200, errorKind: null, error: null });
        await store.messages.update(
          [
            {
              id: m.id,
              attempt: second,
              status: 'delivered',
              nextAttemptAt: null,
              reason: null,
              deliveredAt: T0 + 101,
            },
          ],
          T0 + 101,
        );
        const found = await store.messages.get(m.id);
        assert.deepEqual(found?.attempts, [redone, second]);
        assert.deepEqual(
          [found?.message.status, found?.message.attempts, found?.message.deliveredAt],
          ['delivered', 2, T0 + 101],
        );
        assert.deepEqual((await store.messages.get(once.id))?.attempts, [first]);
        // Replayed, the message goes on counting: its third attempt joins the history.
        assert.deepEqual(await store.messages.requeue([m.id], ['delivered'], 1, T0 + 200), [m.id]);
        assert.equal((await store.messages.claim(T0 + 200, 10, LEASE)).length, 1);
        const third = attempt(m.id, 3, { startedAt: T0 + 200 });
        await store.messages.update(
          [{ id: m.id, attempt: third, status: 'failed', nextAttemptAt: null, reason: 'exhausted', deliveredAt: null }],
          T0 + 201,
        );
        assert.deepEqual((await store.messages.get(m.id))?.attempts, [redone, second, third]);
      });

      it('releases claimed messages without an attempt', async () => {
        const m = row();
        await store.messages.insert([m], T0);
        await store.messages.claim(T0, 1, LEASE);
        await store.messages.release([m.id], T0 + 500);
        const found = await store.messages.get(m.id);
        assert.deepEqual(
          [found?.message.status, found?.message.attempts, found?.message.lockedUntil],
          ['pending', 0, null],
        );
        assert.equal(await store.messages.nextDueAt(), T0 + 500);
        assert.equal((await store.messages.claim(T0 + 499, 1, LEASE)).length, 0);
        assert.equal((await store.messages.claim(T0 + 500, 1, LEASE)).length, 1);
      });

      it('requeues only messages in the given statuses, granting more attempts', async () => {
        const [done, open] = [row(), row()];
        await store.messages.insert([done, open], T0);
        await store.messages.claim(T0, 1, LEASE);
        await store.messages.update(
          [
            {
              id: done.id,
              attempt: attempt(done.id, 1),
              status: 'failed',
              nextAttemptAt: null,
              reason: 'gone',
              deliveredAt: null,
            },
          ],
          T0,
        );
        assert.deepEqual(
          await store.messages.requeue(
            [open.id, done.id, 'msg_missing'],
            ['failed', 'delivered', 'cancelled'],
            4,
            T0 + 7,
          ),
          [done.id],
        );
        const found = await store.messages.get(done.id);
        assert.deepEqual(
          [found?.message.status, found?.message.maxAttempts, found?.message.reason, found?.message.nextAttemptAt],
          ['pending', 5, null, T0 + 7],
        );
      });

      it('cancels the open messages of one account and service only', async () => {
        const pending = row();
        const delivering = row();
        const otherService = row({ serviceName: 'DeviceUsage' });
        const otherAccount = row({ accountName: 'A-2' });
        const finished = row({ status: 'failed', nextAttemptAt: null, reason: 'gone' });
        await store.messages.insert([delivering, pending, otherService, otherAccount, finished], T0);
        await store.messages.claim(T0, 1, LEASE);
        assert.equal(await store.messages.cancelOpen(A, 'CarrierService', 'registration_removed', T0 + 1), 2);
        const status = async (id: string) => {
          const m = (await store.messages.get(id))?.message;
          return [m?.status, m?.reason];
        };
        assert.deepEqual(await status(pending.id), ['cancelled', 'registration_removed']);
        assert.deepEqual(await status(delivering.id), ['cancelled', 'registration_removed']);
        assert.deepEqual(await status(otherService.id), ['pending', null]);
        assert.deepEqual(await status(otherAccount.id), ['pending', null]);
        assert.deepEqual(await status(finished.id), ['failed', 'gone']);
        assert.equal((await store.messages.claim(T0 + 2 * LEASE, 10, LEASE)).length, 2);
      });

      it('removes a registration and cancels its open messages together, and cancels nothing without one', async () => {
        await store.registrations.insert({ ...fields('CarrierService', 'https://a/'), signingSecretEnc: 's' });
        const pending = row();
        const otherService = row({ serviceName: 'DeviceUsage' });
        await store.messages.insert([pending, otherService], T0);
        assert.equal(
          await store.registrations.removeAndCancelOpen(A, 'DeviceUsage', 'registration_removed', T0),
          false,
        );
        assert.equal((await store.messages.get(otherService.id))?.message.status, 'pending');
        assert.equal(
          await store.registrations.removeAndCancelOpen(A, 'CarrierService', 'registration_removed', T0),
          true,
        );
        assert.equal(await store.registrations.get(A, 'CarrierService'), null);
        const cancelled = (await store.messages.get(pending.id))?.message;
        assert.deepEqual([cancelled?.status, cancelled?.reason], ['cancelled', 'registration_removed']);
        assert.equal((await store.messages.get(otherService.id))?.message.status, 'pending');
      });

      it('lists newest first in pages with opaque cursors, filtered, and refuses a foreign cursor', async () => {
        const rows = Array.from({ length: 5 }, (_, i) =>
          row({ accountName: 'L-1', status: 'failed', nextAttemptAt: null, reason: `r${i}` }),
        );
        for (const r of rows) await store.messages.insert([r], T0);
        await store.messages.insert([row({ accountName: 'L-1' })], T0);
        const seen: string[] = [];
        let cursor: string | null = null;
        for (let page = 0; page < 5; page++) {
          const result = await store.messages.list({ accountName: 'L-1', status: 'failed' }, 2, cursor);
          assert.ok(result.items.length <= 2);
          seen.push(...result.items.map((m) => m.id));
          cursor = result.nextCursor;
          if (cursor === null) break;
          assert.doesNotMatch(cursor, /^\d+$/, 'cursors are opaque, not row numbers');
        }
        assert.deepEqual(seen, rows.map((r) => r.id).reverse());
        assert.equal((await store.messages.list({ serviceName: 'DeviceUsage' }, 10, null)).items.length, 0);
        assert.equal((await store.messages.list({ since: T0 + 1 }, 10, null)).items.length, 0);
        assert.equal((await store.messages.list({ until: T0 + 1 }, 10, null)).items.length, 6);
        for (const foreign of ['1', 'abc', '', 'czk5OTk5OTk5OTk5OTk5OTk5OTk5OQ']) {
          await assert.rejects(store.messages.list({}, 10, foreign), InvalidCursorError, foreign);
        }
      });

      it('lists by id, by reason kind and by a payload field, alone and with the other terms', async () => {
        const failed = (reason: string, payload: string) =>
          row({ accountName: 'F-1', status: 'failed', nextAttemptAt: null, reason, payload });
        const noRegistration = failed('no_registration', '{"requestId":"r-1","n":1}');
        const timeout = failed('timeout: no answer within 10 s', '{"requestId":"r-2","n":2,"ok":true}');
        const http = failed('http_status: the listener answered 500', '{"requestId":"r-1","n":"2","ok":false}');
        // `_` would match any character in a LIKE pattern: the kind must match as written.
        const lookalike = failed('no-registration', '{"requestId":"r-3","nested":{"requestId":"r-1"}}');
        const timeouts = failed('timeouts: not a kind', '{"requestId":"r-4"}');
        for (const r of [noRegistration, timeout, http, lookalike, timeouts]) await store.messages.insert([r], T0);
        const ids = async (filter: Parameters<Store['messages']['list']>[0]) =>
          (await store.messages.list(filter, 10, null)).items.map((m) => m.id);

        assert.deepEqual(await ids({ id: http.id }), [http.id]);
        assert.deepEqual(await ids({ id: 'msg_none' }), []);
        assert.deepEqual(await ids({ reasonKind: 'no_registration' }), [noRegistration.id]);
        assert.deepEqual(await ids({ reasonKind: 'timeout' }), [timeout.id]);
        assert.deepEqual(await ids({ reasonKind: 'http_status', accountName: 'F-1' }), [http.id]);
        assert.deepEqual(await ids({ reasonKind: 'http_status', accountName: 'F-2' }), []);
        const field = (name: string, value: string) => ids({ payloadField: { name, value } });
        assert.deepEqual(await field('requestId', 'r-1'), [http.id, noRegistration.id], 'top-level fields only');
        assert.deepEqual(await field('n', '2'), [http.id, timeout.id], 'a number as JSON writes it, or a string');
        assert.deepEqual(await field('ok', 'true'), [timeout.id]);
        assert.deepEqual(await field('ok', 'false'), [http.id]);
        assert.deepEqual(await field('missing', 'r-1'), []);
        assert.deepEqual(await ids({ payloadField: { name: 'requestId', value: 'r-1' }, reasonKind: 'http_status' }), [
          http.id,
        ]);
        assert.deepEqual(await store.messages.findIds({ reasonKind: 'timeout' }, 10, null), [timeout.id]);
      });

      it('pages through ids oldest first with a filter', async () => {
        const rows = Array.from({ length: 7 }, () => row({ serviceName: 'DeviceUsage' }));
        await store.messages.insert(rows, T0);
        await store.messages.insert([row()], T0);
        const ids: string[] = [];
        let after: string | null = null;
        for (;;) {
          const page = await store.messages.findIds({ serviceName: 'DeviceUsage', status: 'pending' }, 3, after);
          ids.push(...page);
          if (page.length < 3) break;
          after = page[page.length - 1];
        }
        assert.deepEqual(
          ids,
          rows.map((r) => r.id),
        );
        assert.deepEqual(await store.messages.findIds({ until: T0 }, 10, null), []);
      });

      it('counts by status and measures the oldest due age', async () => {
        await store.messages.insert(
          [row(), row({ nextAttemptAt: T0 + 500 }), row(), row({ status: 'failed', nextAttemptAt: null, reason: 'x' })],
          T0,
        );
        await store.messages.claim(T0, 1, LEASE);
        const stats = await store.messages.stats(T0 + 2_000);
        assert.deepEqual(stats.counts, { pending: 2, delivering: 1, delivered: 0, failed: 1, cancelled: 0 });
        assert.equal(stats.queueDepth, 3);
        assert.equal(stats.oldestDueAgeMs, 2_000);
        assert.equal((await store.messages.stats(T0 - 1)).oldestDueAgeMs, 0);
      });

      it('tells whom each existing message is for', async () => {
        const a = row();
        const b = row({ accountName: 'B-2', serviceName: 'DeviceUsage', status: 'failed', nextAttemptAt: null });
        await store.messages.insert([a, b], T0);
        const targets = await store.messages.targetsOf([b.id, 'msg_missing', a.id]);
        assert.deepEqual(
          targets.sort((x, y) => x.id.localeCompare(y.id)),
          [
            { id: a.id, accountName: A, serviceName: 'CarrierService' },
            { id: b.id, accountName: 'B-2', serviceName: 'DeviceUsage' },
          ],
        );
        assert.deepEqual(await store.messages.targetsOf([]), []);
      });

      it('counts the open messages alone for /metrics, with the same figures as the full stats', async () => {
        await store.messages.insert(
          [
            row(),
            row({ nextAttemptAt: T0 + 500 }),
            row(),
            row({ status: 'failed', nextAttemptAt: null, reason: 'x' }),
            row({ status: 'delivered', nextAttemptAt: null }),
          ],
          T0,
        );
        await store.messages.claim(T0, 1, LEASE);
        assert.deepEqual(await store.messages.openStats(T0 + 2_000), {
          pending: 2,
          delivering: 1,
          oldestDueAgeMs: 2_000,
        });
        assert.equal((await store.messages.openStats(T0 - 1)).oldestDueAgeMs, 0);
      });

      it('purges finished messages past their cutoffs with their attempts and keys, and expired keys', async () => {
        const delivered = row({ idempotency: { key: 'kd', fingerprint: 'f', expiresAt: T0 + 100_000 } });
        const failed = row();
        const pending = row();
        const keyOnly = row({ idempotency: { key: 'kp', fingerprint: 'f', expiresAt: T0 + 50 } });
        await store.messages.insert([delivered, failed, pending, keyOnly], T0);
        await store.messages.claim(T0, 2, LEASE);
        await store.messages.update(
          [
            {
              id: delivered.id,
              attempt: attempt(delivered.id, 1),
              status: 'delivered',
              nextAttemptAt: null,
              reason: null,
              deliveredAt: T0,
            },
            {
              id: failed.id,
              attempt: attempt(failed.id, 1),
              status: 'failed',
              nextAttemptAt: null,
              reason: 'gone',
              deliveredAt: null,
            },
          ],
          T0,
        );
        assert.equal(await store.messages.purge({ deliveredBefore: T0, failedBefore: T0, keysExpiredBy: T0 }), 0);
        assert.equal(
          await store.messages.purge({ deliveredBefore: T0 + 1, failedBefore: T0, keysExpiredBy: T0 + 50 }),
          1,
        );
        assert.equal(await store.messages.get(delivered.id), null);
        const scope = (key: string) => ({ accountName: A, serviceName: 'CarrierService', key });
        assert.deepEqual(await store.messages.findIdempotencyKeys([scope('kd'), scope('kp')], T0), [null, null]);
        // The purged message's key is gone too, so the key can be used again at once.
        await store.messages.insert([row({ idempotency: { key: 'kd', fingerprint: 'g', expiresAt: T0 + 10 } })], T0);
        assert.equal(
          await store.messages.purge({ deliveredBefore: T0 + 1, failedBefore: T0 + 1, keysExpiredBy: T0 }),
          1,
        );
        assert.equal(await store.messages.get(failed.id), null);
        assert.ok(await store.messages.get(pending.id), 'open messages are never purged');
        assert.ok(await store.messages.get(keyOnly.id));
      });
    });

    describe('delivery controls', () => {
      const key = (serviceName: string) => ({ accountName: A, serviceName });
      const registerWith = async (serviceName: string, controls: Partial<typeof DEFAULT_CONTROLS>) => {
        await store.registrations.insert({ ...fields(serviceName, 'https://c/'), signingSecretEnc: 's' });
        return store.registrations.setControls(key(serviceName), { ...DEFAULT_CONTROLS, ...controls }, T0);
      };
      const held = (serviceName: string, n: number) =>
        Array.from({ length: n }, () => row({ serviceName, nextAttemptAt: null }));
      const claimIds = async (now: number) => (await store.messages.claim(now, 100, LEASE)).map((m) => m.id);
      const deliver = (id: string, now: number) =>
        store.messages.update(
          [{ id, attempt: null, status: 'delivered', nextAttemptAt: null, reason: null, deliveredAt: now }],
          now,
        );

      it('keeps controls, tells gates and whether any registration holds its messages', async () => {
        await store.registrations.insert({ ...fields('DeviceUsage', 'https://d/'), signingSecretEnc: 's' });
        assert.equal(await store.registrations.anyHeld(), false);
        const controls = {
          ordering: 'fifo' as const,
          rateLimit: { count: 5, windowMs: 1_000 },
          autoDisable: { afterMs: 5_000, warnAfterMs: 1_000 },
          enabled: false,
        };
        const stored = await store.registrations.setControls(key('CarrierService'), controls, T0);
        assert.equal(stored, null);
        const set = await registerWith('CarrierService', controls);
        assert.deepEqual(set?.controls, controls);
        assert.equal(await store.registrations.anyHeld(), true);
        assert.deepEqual(
          await store.registrations.gates([key('CarrierService'), key('DeviceUsage'), key('NiddService')]),
          [{ held: true, enabled: false }, { held: false, enabled: true }, null],
        );
        // Asked at once (concurrent publishes, which SQLite reads in one transaction): each its own answer.
        assert.deepEqual(
          await Promise.all([
            store.registrations.gates([key('NiddService'), key('CarrierService')]),
            store.registrations.gates([]),
            store.registrations.gates([key('DeviceUsage')]),
          ]),
          [[null, { held: true, enabled: false }], [], [{ held: false, enabled: true }]],
        );
        // Registering again keeps the controls and enables.
        await store.registrations.update(fields('CarrierService', 'https://new/'));
        assert.deepEqual((await store.registrations.get(A, 'CarrierService'))?.controls, {
          ...controls,
          enabled: true,
        });
      });

      it('writes health only over the version it was read at', async () => {
        await registerWith('CarrierService', {});
        const health = { ...EMPTY_HEALTH, consecutiveFailures: 2, failingSince: T0, lastFailureAt: T0 + 5, version: 1 };
        assert.equal(await store.registrations.writeHealth(key('CarrierService'), health, false), true);
        assert.equal(await store.registrations.writeHealth(key('CarrierService'), { ...health, version: 1 }), false);
        const read = await store.registrations.get(A, 'CarrierService');
        assert.deepEqual(read?.health, health);
        assert.equal(read?.controls.enabled, false);
        // Enabled again by registering: the streak starts over.
        await store.registrations.update(fields('CarrierService', 'https://new/'));
        const after = await store.registrations.get(A, 'CarrierService');
        assert.equal(after?.health.consecutiveFailures, 0);
        assert.equal(after?.health.failingSince, null);
        assert.equal(after?.controls.enabled, true);
      });

      it('admits a FIFO registration its oldest held message, the next only once it ended, a held retry first', async () => {
        await registerWith('CarrierService', { ordering: 'fifo' });
        const messages = held('CarrierService', 3);
        await store.messages.insert(messages, T0);
        assert.deepEqual(await claimIds(T0 + 10), [], 'held messages are not claimed');
        assert.equal(await store.messages.admitHeld(T0 + 10, 1_000), 1);
        assert.equal(await store.messages.admitHeld(T0 + 11, 1_000), 0, 'one at a time');
        assert.deepEqual(await claimIds(T0 + 20), [messages[0].id]);
        // Its retry is held again: nothing else goes before it, and it goes once ready.
        await store.messages.update(
          [
            {
              id: messages[0].id,
              attempt: attempt(messages[0].id, 1),
              status: 'pending',
              nextAttemptAt: T0 + 500,
              reason: 'x',
              deliveredAt: null,
              heldUntil: T0 + 500,
            },
          ],
          T0 + 30,
        );
        assert.equal(await store.messages.admitHeld(T0 + 100, 1_000), 0);
        assert.equal(await store.messages.admitHeld(T0 + 500, 1_000), 1);
        assert.deepEqual(await claimIds(T0 + 500), [messages[0].id]);
        await deliver(messages[0].id, T0 + 600);
        assert.equal(await store.messages.admitHeld(T0 + 700, 1_000), 1);
        assert.deepEqual(await claimIds(T0 + 700), [messages[1].id]);
      });

      it('admits a rate-limited registration at slots window/count apart, within the horizon', async () => {
        await registerWith('CarrierService', { rateLimit: { count: 5, windowMs: 1_000 } });
        const messages = held('CarrierService', 12);
        await store.messages.insert(messages, T0);
        assert.equal(await store.messages.admitHeld(T0, 1_000), 5);
        // Slots T0, +200, …, +800: due one by one.
        assert.deepEqual(await claimIds(T0), [messages[0].id]);
        assert.deepEqual(await claimIds(T0 + 450), [messages[1].id, messages[2].id]);
        // The next pass goes on from the next free slot (T0 + 1000), not from now.
        assert.equal(await store.messages.admitHeld(T0 + 450, 1_000), 3);
        assert.deepEqual(await claimIds(T0 + 1_200), [messages[3].id, messages[4].id, messages[5].id, messages[6].id]);
      });

      it('releases the held messages of a registration that no longer holds them, a held retry at its time', async () => {
        await registerWith('CarrierService', { ordering: 'fifo' });
        const messages = held('CarrierService', 3);
        await store.messages.insert(messages, T0);
        assert.equal(await store.messages.admitHeld(T0, 1_000), 1);
        assert.deepEqual(await claimIds(T0), [messages[0].id]);
        await store.messages.update(
          [
            {
              id: messages[0].id,
              attempt: attempt(messages[0].id, 1),
              status: 'pending',
              nextAttemptAt: T0 + 900,
              reason: 'x',
              deliveredAt: null,
              heldUntil: T0 + 900,
            },
          ],
          T0 + 10,
        );
        await store.registrations.setControls(key('CarrierService'), DEFAULT_CONTROLS, T0 + 20);
        assert.equal(await store.messages.releaseHeld(A, 'CarrierService', T0 + 20), 3);
        assert.deepEqual((await claimIds(T0 + 20)).sort(), [messages[1].id, messages[2].id].sort());
        assert.deepEqual(await claimIds(T0 + 900), [messages[0].id], 'the retry keeps its time');
      });

      it('fails pending messages, held ones too, and holds replayed messages of a held registration', async () => {
        await registerWith('CarrierService', { ordering: 'fifo' });
        const messages = held('CarrierService', 2);
        await store.messages.insert(messages, T0);
        assert.equal(await store.messages.failPending(A, 'CarrierService', 'registration_disabled', T0 + 1), 2);
        const failed = await store.messages.get(messages[0].id);
        assert.equal(failed?.message.status, 'failed');
        assert.equal(failed?.message.reason, 'registration_disabled');
        await store.messages.requeue([messages[1].id, messages[0].id], ['failed'], 1, T0 + 2);
        assert.deepEqual(await claimIds(T0 + 10), [], 'replayed messages wait for their turn');
        assert.equal(await store.messages.admitHeld(T0 + 10, 1_000), 1);
        assert.deepEqual(await claimIds(T0 + 10), [messages[0].id]);
      });
    });

    describe('stats samples', () => {
      const sample = (at: number, instance: string, delivered: number, attempts: Record<string, number> = {}) => ({
        at,
        instance,
        counts: { pending: 1, delivering: 0, delivered, failed: 2, cancelled: 0 },
        queueDepth: 1,
        oldestDueAgeMs: 1500,
        attempts,
      });

      it('keeps one sample per bucket and process, lists them oldest first from any connection, and purges old ones', async () => {
        await store.statsSamples.record(sample(T0 + 20_000, 'b', 7, { success: 3 }));
        await store.statsSamples.record(sample(T0, 'a', 5, { success: 1, timeout: 2 }));
        await store.statsSamples.record(sample(T0 + 10_000, 'a', 6));
        await store.statsSamples.record(sample(T0 + 20_000, 'a', 7, { http_5xx: 1 }));
        // The same bucket and process again: the first sample stays.
        await store.statsSamples.record(sample(T0 + 20_000, 'a', 99, { success: 50 }));
        const other = await opened.second();
        const all = await other.statsSamples.list(T0);
        assert.deepEqual(
          all.map((s) => [s.at - T0, s.instance, s.counts.delivered, s.attempts]),
          [
            [0, 'a', 5, { success: 1, timeout: 2 }],
            [10_000, 'a', 6, {}],
            [20_000, 'a', 7, { http_5xx: 1 }],
            [20_000, 'b', 7, { success: 3 }],
          ],
        );
        assert.deepEqual(all[0], sample(T0, 'a', 5, { success: 1, timeout: 2 }));
        assert.equal((await store.statsSamples.list(T0 + 10_000)).length, 3);
        assert.equal(await store.statsSamples.purge(T0 + 20_000), 2);
        assert.deepEqual(
          (await store.statsSamples.list(0)).map((s) => s.at - T0),
          [20_000, 20_000],
        );
      });
    });

    describe('replay jobs', () => {
      const job = (overrides: Partial<ReplayJobRecord> = {}): ReplayJobRecord => ({
        jobId: `rpl_${++counter}`,
        status: 'running',
        filter: { status: 'failed', accountName: A, since: T0 },
        matched: 0,
        replayed: 0,
        noListener: 0,
        afterId: null,
        leasedUntil: T0 + 100,
        startedAt: T0,
        finishedAt: null,
        error: null,
        ...overrides,
      });

      it('stores jobs and their progress, readable from another connection', async () => {
        const j = job();
        await store.replayJobs.create(j);
        const progressed = {
          ...j,
          matched: 500,
          replayed: 480,
          noListener: 7,
          afterId: 'msg_x',
          leasedUntil: T0 + 200,
        };
        await store.replayJobs.save(progressed);
        const other = await opened.second();
        assert.deepEqual(await other.replayJobs.get(j.jobId), progressed);
        assert.equal(await other.replayJobs.get('rpl_missing'), null);
      });

      it('hands an abandoned running job to one claimer, and purges old finished jobs', async () => {
        const abandoned = job();
        await store.replayJobs.create(abandoned);
        await store.replayJobs.create(job({ leasedUntil: T0 + 10_000 }));
        await store.replayJobs.create(job({ status: 'done', leasedUntil: null, finishedAt: T0 }));
        assert.equal(await store.replayJobs.claimAbandoned(T0 + 99, T0 + 500), null);
        const claims = await Promise.all([1, 2, 3].map(() => store.replayJobs.claimAbandoned(T0 + 100, T0 + 500)));
        const taken = claims.filter((c) => c !== null);
        assert.equal(taken.length, 1);
        assert.deepEqual(taken[0], { ...abandoned, leasedUntil: T0 + 500 });
        assert.equal(await store.replayJobs.purge(T0), 0);
        assert.equal(await store.replayJobs.purge(T0 + 1), 1);
      });
    });

    describe('access', () => {
      const key = (id: string, overrides: Partial<ApiKeyRecord> = {}): ApiKeyRecord => ({
        id,
        name: `key ${id}`,
        keyHash: `hash-${id}`,
        scopes: ['messages:read'],
        accounts: null,
        expiresAt: null,
        createdAt: T0,
        revokedAt: null,
        ...overrides,
      });
      const entry = (id: string, at: number, overrides: Partial<AuditRecord> = {}): AuditRecord => ({
        id,
        at,
        actorKind: 'root',
        actorName: 'admin',
        address: '127.0.0.1',
        action: 'replayMessage',
        method: 'POST',
        route: '/admin/v1/messages/:id/replay',
        accountName: 'a1',
        target: null,
        summary: '',
        statusCode: 202,
        outcome: 'ok',
        errorCode: null,
        ...overrides,
      });

      it('keeps API keys by hash, lists them newest first and revokes once', async () => {
        await store.access.insertKey(key('k1', { accounts: ['a1', 'a2'], expiresAt: T0 + 5 }));
        await store.access.insertKey(key('k2', { createdAt: T0 + 1, scopes: ['admin', 'messages:publish'] }));
        assert.deepEqual(
          await store.access.getKeyByHash('hash-k1'),
          key('k1', { accounts: ['a1', 'a2'], expiresAt: T0 + 5 }),
        );
        assert.equal(await store.access.getKeyByHash('nothing'), null);
        // Looked up at once (concurrent requests, read together): each caller gets its own key.
        assert.deepEqual(
          (
            await Promise.all(
              ['hash-k2', 'nothing', 'hash-k1', 'hash-k2'].map((hash) => store.access.getKeyByHash(hash)),
            )
          ).map((k) => k?.id ?? null),
          ['k2', null, 'k1', 'k2'],
        );
        assert.deepEqual(
          (await store.access.listKeys()).map((k) => k.id),
          ['k2', 'k1'],
        );
        const [, revoked, after] = await Promise.all([
          store.access.getKeyByHash('hash-k1'),
          store.access.revokeKey('k1', T0 + 10),
          store.access.revokeKey('k1', T0 + 10).then(() => store.access.getKeyByHash('hash-k1')),
        ]);
        assert.equal(revoked?.revokedAt, T0 + 10);
        assert.equal(after?.revokedAt, T0 + 10, 'a lookup made after the revocation sees it');
        assert.equal((await store.access.revokeKey('k1', T0 + 20))?.revokedAt, T0 + 10, 'the first revocation stays');
        assert.equal(await store.access.revokeKey('nothing', T0), null);
        const other = await opened.second();
        assert.equal((await other.access.getKeyByHash('hash-k1'))?.revokedAt, T0 + 10, 'another instance reads it');
      });

      it('lets a portal link be used once, by one of two instances at once, and not after it expires', async () => {
        const link = {
          tokenHash: 'l1',
          accountName: 'a1',
          createdBy: 'root:admin',
          createdAt: T0,
          expiresAt: T0 + 600,
        };
        await store.access.insertPortalLink(link);
        await store.access.insertPortalLink({ ...link, tokenHash: 'l2' });
        const other = await opened.second();
        const uses = await Promise.all([
          store.access.consumePortalLink('l1', T0 + 1),
          other.access.consumePortalLink('l1', T0 + 1),
        ]);
        assert.deepEqual(
          uses.filter((use) => use !== null),
          [{ accountName: 'a1' }],
        );
        assert.equal(await store.access.consumePortalLink('l1', T0 + 2), null);
        assert.equal(await store.access.consumePortalLink('l2', T0 + 600), null, 'expired');
        assert.equal(await store.access.consumePortalLink('unknown', T0), null);
      });

      it('keeps portal sessions, moves their expiry only forward, and ends those of a user', async () => {
        const session = {
          tokenHash: 's1',
          kind: 'portal-user' as const,
          name: 'ops',
          username: 'ops',
          accounts: ['a1', 'a2'],
          expiresAt: T0 + 100,
          endsAt: T0 + 1000,
        };
        await store.access.savePortalSession(session);
        await store.access.savePortalSession({ ...session, tokenHash: 's2', kind: 'portal-link', username: null });
        assert.deepEqual(await store.access.getPortalSession('s1'), session);
        await store.access.touchPortalSession('s1', T0 + 200);
        await store.access.touchPortalSession('s1', T0 + 150);
        assert.equal((await store.access.getPortalSession('s1'))?.expiresAt, T0 + 200);
        assert.equal(await store.access.deleteUserPortalSessions('ops'), 1);
        assert.equal(await store.access.getPortalSession('s1'), null);
        assert.equal(await store.access.deletePortalSession('s2'), true);
        assert.equal(await store.access.deletePortalSession('s2'), false);
      });

      it('counts attempts per key in fixed windows shared by instances, and gives them back', async () => {
        const other = await opened.second();
        assert.deepEqual(await store.access.countAttempt('address:x', T0, 60_000), {
          attempts: 1,
          windowEndsAt: T0 + 60_000,
        });
        assert.deepEqual(await other.access.countAttempt('address:x', T0 + 5, 60_000), {
          attempts: 2,
          windowEndsAt: T0 + 60_000,
        });
        await store.access.releaseAttempt('address:x', T0 + 6);
        assert.equal((await other.access.countAttempt('address:x', T0 + 7, 60_000)).attempts, 2);
        assert.equal((await store.access.countAttempt('address:y', T0, 60_000)).attempts, 1, 'keys apart');
        assert.deepEqual(await store.access.countAttempt('address:x', T0 + 60_000, 60_000), {
          attempts: 1,
          windowEndsAt: T0 + 120_000,
        });
      });

      it('commits the audit entries appended in one turn together; a bad one fails only its own caller', async () => {
        await store.access.appendAudit(entry('taken', T0));
        const ids = Array.from({ length: 20 }, (_, i) => `g${String(i).padStart(2, '0')}`);
        const results = await Promise.allSettled([
          ...ids.slice(0, 10).map((id, i) => store.access.appendAudit(entry(id, T0 + 1 + i))),
          // The same id again: the UNIQUE constraint refuses it, in the middle of the group.
          store.access.appendAudit(entry('taken', T0 + 50)),
          ...ids.slice(10).map((id, i) => store.access.appendAudit(entry(id, T0 + 11 + i))),
        ]);
        assert.deepEqual(
          results.map((r) => r.status),
          [...Array(10).fill('fulfilled'), 'rejected', ...Array(10).fill('fulfilled')],
        );
        const stored = (await store.access.listAudit({}, 100, null)).items;
        assert.deepEqual(stored.map((e) => e.id).sort(), [...ids, 'taken']);
        assert.deepEqual(
          stored.find((e) => e.id === 'g07'),
          entry('g07', T0 + 8),
        );
      });

      it('lists audit entries newest first, filtered, in pages, and purges old ones with used links and old windows', async () => {
        for (let i = 0; i < 5; i++) {
          await store.access.appendAudit(
            entry(`e${i}`, T0 + i, i === 3 ? { accountName: 'a2', actorName: 'support', target: 'msg_1' } : {}),
          );
        }
        const first = await store.access.listAudit({}, 2, null);
        assert.deepEqual(
          first.items.map((e) => e.id),
          ['e4', 'e3'],
        );
        const second = await store.access.listAudit({}, 2, first.nextCursor);
        const third = await store.access.listAudit({}, 2, second.nextCursor);
        assert.deepEqual(
          [...second.items, ...third.items].map((e) => e.id),
          ['e2', 'e1', 'e0'],
        );
        assert.equal(third.nextCursor, null);
        assert.deepEqual(await store.access.listAudit({ actorName: 'support' }, 10, null), {
          items: [entry('e3', T0 + 3, { accountName: 'a2', actorName: 'support', target: 'msg_1' })],
          nextCursor: null,
        });
        const inWindow = await store.access.listAudit({ since: T0 + 1, until: T0 + 3, accountName: 'a1' }, 10, null);
        assert.deepEqual(
          inWindow.items.map((e) => e.id),
          ['e2', 'e1'],
        );
        const limited = await store.access.listAudit({ accounts: ['a2'] }, 10, null);
        assert.deepEqual(
          limited.items.map((e) => e.id),
          ['e3'],
        );
        assert.equal(
          (await store.access.listAudit({ target: 'msg_1', action: 'replayMessage' }, 10, null)).items.length,
          1,
        );
        await assert.rejects(store.access.listAudit({}, 10, 'made-up'), InvalidCursorError);

        await store.access.insertPortalLink({
          tokenHash: 'used',
          accountName: 'a1',
          createdBy: 'x',
          createdAt: T0,
          expiresAt: T0 + 10_000,
        });
        await store.access.consumePortalLink('used', T0 + 1);
        await store.access.countAttempt('address:z', T0, 1_000);
        const removed = await store.access.purge(T0 + 2, T0 + 5_000);
        assert.equal(removed, 2 + 1 + 1, 'two old entries, the used link, the ended window');
        assert.deepEqual(
          (await store.access.listAudit({}, 10, null)).items.map((e) => e.id),
          ['e4', 'e3', 'e2'],
        );
      });
    });
  });
}
