// test tier: full (mounts a small tmpfs and changes file modes with child processes)
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { ACCOUNT, admin, register, startListener } from './delivery-fixtures.js';
import { eventually, login, send, startTestServer, type TestServer } from './helpers.js';

const mode = (path: string) => statSync(path).mode & 0o777;

async function timed<T>(work: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const started = performance.now();
  const result = await work();
  return { result, ms: performance.now() - started };
}

async function countMessages(server: TestServer): Promise<number> {
  const stats = await server.ctx.store.messages.stats(Date.now());
  return Object.values(stats.counts).reduce((sum, n) => sum + n, 0);
}

describe('reliability: a database locked by another process', () => {
  let server: TestServer;
  after(() => server?.close());

  it('keeps the event loop free, answers writes 503 with Retry-After after a bounded wait, and loses nothing', async () => {
    server = await startTestServer();
    const session = await login(server);
    const before = await countMessages(server);
    const other = new BetterSqlite3(server.dbPath);
    other.prepare('BEGIN IMMEDIATE').run();
    try {
      const publishing = timed(() =>
        admin(server, 'POST', '/messages', { accountName: ACCOUNT, serviceName: 'CarrierService', payload: { n: 1 } }),
      );
      const registering = send(`${server.apiUrl}/m2m/v1/callbacks/${ACCOUNT}`, {
        method: 'POST',
        headers: session.headers,
        body: { name: 'DeviceUsage', url: 'https://listener.example.com/usage' },
      });
      // While both writes wait for the lock, the process keeps answering.
      for (let i = 0; i < 5; i++) {
        const health = await timed(() => send(`${server.baseUrl}/healthz`));
        assert.equal(health.result.status, 200);
        assert.ok(health.ms < 2_000, `/healthz took ${Math.round(health.ms)} ms while the database was locked`);
      }
      const published = await publishing;
      assert.equal(published.result.status, 503, JSON.stringify(published.result.body));
      assert.equal((published.result.body as { errorCode: string }).errorCode, 'REQUEST_FAILED.Unavailable');
      assert.equal(published.result.headers.get('retry-after'), '1');
      assert.ok(published.ms < 10_000, `the publish waited ${Math.round(published.ms)} ms`);
      const registered = await registering;
      assert.equal(registered.status, 503, registered.text);
      assert.ok(registered.headers.get('retry-after'));
    } finally {
      other.prepare('ROLLBACK').run();
      other.close();
    }
    assert.equal(await countMessages(server), before, 'a refused publish stored nothing');
    assert.equal(await server.ctx.registrations.get(ACCOUNT, 'DeviceUsage'), null);
    const retried = await admin(server, 'POST', '/messages', {
      accountName: ACCOUNT,
      serviceName: 'CarrierService',
      payload: { n: 2 },
    });
    assert.equal(retried.status, 202, 'the same publish succeeds once the lock is gone, without a restart');
  });

  it('completes a write that waited for a lock released within the wait', async () => {
    const other = new BetterSqlite3(server.dbPath);
    other.prepare('BEGIN IMMEDIATE').run();
    let released = false;
    try {
      const publishing = admin(server, 'POST', '/messages', {
        accountName: ACCOUNT,
        serviceName: 'CarrierService',
        payload: { n: 3 },
      });
      // The publish is waiting once a health check has gone through after it.
      assert.equal((await send(`${server.baseUrl}/healthz`)).status, 200);
      other.prepare('COMMIT').run();
      released = true;
      const published = await publishing;
      assert.equal(published.status, 202, JSON.stringify(published.body));
    } finally {
      if (!released) other.prepare('ROLLBACK').run();
      other.close();
    }
  });
});

describe('reliability: database files are private', () => {
  const root = mkdtempSync(join(tmpdir(), 'ccb-modes-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  it('creates the folder 0700 and the database, WAL and SHM files 0600', async () => {
    const dbPath = join(root, 'fresh', 'ccb.sqlite');
    const server = await startTestServer({ env: { DATABASE_URL: `sqlite:${dbPath}` } });
    try {
      await admin(server, 'POST', '/messages', { accountName: ACCOUNT, serviceName: 'CarrierService', payload: {} });
      assert.equal(mode(join(root, 'fresh')).toString(8), '700');
      for (const file of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`]) {
        assert.equal(mode(file).toString(8), '600', file);
      }
      assert.equal(mode(join(root, 'fresh', 'encryption.key')).toString(8), '600');
    } finally {
      await server.close();
    }
  });

  it('narrows a world-readable database left by an older version to 0600', async () => {
    const folder = join(root, 'old');
    mkdirSync(folder, { mode: 0o700 });
    const dbPath = join(folder, 'ccb.sqlite');
    const old = new BetterSqlite3(dbPath);
    old.pragma('journal_mode = WAL');
    old.close();
    execFileSync('chmod', ['0644', dbPath]);
    writeFileSync(`${dbPath}-wal`, '', { mode: 0o644 });
    const server = await startTestServer({ env: { DATABASE_URL: `sqlite:${dbPath}` } });
    try {
      for (const file of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`]) {
        assert.equal(mode(file).toString(8), '600', file);
      }
    } finally {
      await server.close();
    }
  });
});

/** Mounts a small tmpfs (root only); null with the reason when this machine does not allow it. */
function mountTmpfs(sizeBytes: number): { path: string; unmount(): void } | { skip: string } {
  const path = mkdtempSync(join(tmpdir(), 'ccb-diskfull-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', path], { stdio: 'pipe' });
  } catch (error) {
    rmSync(path, { recursive: true, force: true });
    const detail = (error as { stderr?: Buffer }).stderr?.toString().trim() || (error as Error).message;
    return { skip: `disk-full test skipped: cannot mount a tmpfs here (needs root and mount rights): ${detail}` };
  }
  return {
    path,
    unmount() {
      execFileSync('umount', ['-l', path]);
      rmSync(path, { recursive: true, force: true });
    },
  };
}

/** Writes a filler file until the disk is full. */
function fillDisk(path: string): void {
  const chunk = Buffer.alloc(64 * 1024, 1);
  for (let i = 0; ; i++) {
    try {
      writeFileSync(join(path, `filler-${i}`), chunk);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOSPC') return;
      throw error;
    }
  }
}

describe('reliability: disk full', () => {
  it('answers 503 with Retry-After, reports not ready, recovers without a restart and delivers what it accepted', async (t) => {
    const disk = mountTmpfs(8 * 1024 * 1024);
    if ('skip' in disk) {
      t.skip(disk.skip);
      return;
    }
    const listener = await startListener();
    let server: TestServer | undefined;
    try {
      server = await startTestServer({
        env: { DATABASE_URL: `sqlite:${join(disk.path, 'ccb.sqlite')}`, CCB_LEASE: '3s' },
        flags: { attemptTimeout: '1s' },
      });
      await register(server, listener.url);
      // Accepted before the disk fills; the listener asks to be tried again later, so they stay undelivered
      // while the disk is full (and the outcomes of attempts then cannot be written either).
      listener.reply = () => ({ status: 503, headers: { 'retry-after': '2' } });
      const accepted: string[] = [];
      for (let i = 0; i < 20; i++) {
        const published: { status: number; body: { messageId: string } } = await admin(server, 'POST', '/messages', {
          accountName: ACCOUNT,
          serviceName: 'CarrierService',
          payload: { n: i },
        });
        assert.equal(published.status, 202);
        accepted.push(published.body.messageId);
      }
      fillDisk(disk.path);
      // Larger than any free room in the write-ahead log, so the write must grow a file.
      const big = { blob: 'x'.repeat(4_000) };
      const batch = Array.from({ length: 500 }, () => ({
        accountName: ACCOUNT,
        serviceName: 'CarrierService',
        payload: big,
      }));
      const refused = await admin(server, 'POST', '/messages/batch', { messages: batch });
      assert.equal(refused.status, 503, JSON.stringify(refused.body));
      assert.equal((refused.body as { errorCode: string }).errorCode, 'REQUEST_FAILED.Unavailable');
      assert.ok(Number(refused.headers.get('retry-after')) > 0);
      const notReady = await send(`${server.baseUrl}/readyz`);
      assert.equal(notReady.status, 503, notReady.text);
      assert.match(notReady.body.errorMessage, /disk/);
      assert.equal((await send(`${server.baseUrl}/healthz`)).status, 200, 'the process itself stays up');

      // Room again: readiness and writes come back by themselves.
      for (const name of execFileSync('ls', [disk.path]).toString().split('\n')) {
        if (name.startsWith('filler-')) rmSync(join(disk.path, name));
      }
      const running = server;
      await eventually(async () => (await send(`${running.baseUrl}/readyz`)).status === 200, {
        what: '/readyz ready again after space was freed',
        interval: 50,
      });
      const again = await admin(server, 'POST', '/messages/batch', { messages: batch.slice(0, 10) });
      assert.equal(again.status, 202, JSON.stringify(again.body));
      listener.reply = () => ({ status: 200 });
      const wanted = new Set([...accepted, ...(again.body as unknown as { messageIds: string[] }).messageIds]);
      const delivered = new Set<string>();
      await eventually(
        async () => {
          for (const id of wanted) {
            if ((await running.ctx.store.messages.get(id))?.message.status === 'delivered') delivered.add(id);
          }
          return delivered.size === wanted.size;
        },
        {
          timeout: 20_000,
          interval: 50,
          what: () => `every accepted message delivered (${delivered.size} of ${wanted.size})`,
        },
      );
    } finally {
      await server?.close();
      await listener.close();
      disk.unmount();
    }
  });
});
