import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { postgresBinaries, startThrowawayCluster, type ThrowawayCluster } from '../../../test/postgres-cluster.js';
import { eventually } from './helpers.js';
import {
  ADMIN_HEADERS,
  type CountingListener,
  DEV_ACCOUNT,
  killHard,
  registerAsDevUser,
  type ServerProcess,
  spawnServer,
  startCountingListener,
} from './server-process.js';

// Freezing stops every process of the cluster: this file needs one of its own, never a shared one.
const bin = postgresBinaries();
const skip = bin
  ? false
  : 'needs PostgreSQL binaries (/usr/lib/postgresql/*/bin) to start a cluster of its own to freeze';
if (skip && process.env.CI === 'true') throw new Error(`${skip} (CI=true requires them)`);

/** The timeouts the server runs with here (short, so that the test is quick; the defaults are longer). */
const SERVER_ENV = {
  CCB_DB_CONNECT_TIMEOUT: '1s',
  CCB_DB_STATEMENT_TIMEOUT: '2s',
  CCB_POLL_INTERVAL: '300ms',
  CCB_LEASE: '2s',
};
/** Far above every bound the server has (statement 2 s + 2 s margin, connection 1 s, /readyz 2 s): a hang, not a slow answer. */
const HANG_MS = 30_000;

/** The postmaster and its children (backends, background workers). */
function clusterProcesses(cluster: ThrowawayCluster): number[] {
  const postmaster = Number(readFileSync(join(cluster.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const children = readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === postmaster;
      } catch {
        return false;
      }
    })
    .map(Number);
  return [postmaster, ...children];
}
const stateOf = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
};

describe('reliability: a frozen PostgreSQL (SIGSTOP), then resumed (SIGCONT)', { skip }, () => {
  let cluster: ThrowawayCluster | undefined;
  let frozen: number[] = [];
  let server: ServerProcess | undefined;
  let listener: CountingListener | undefined;
  let databaseUrl = '';
  const thaw = () => {
    for (const pid of frozen) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {}
    }
    frozen = [];
  };

  before(async () => {
    if (!bin) return;
    cluster = await startThrowawayCluster(bin, { maxConnections: 100 });
    const admin = new pg.Client({ connectionString: cluster.url });
    await admin.connect();
    await admin.query('CREATE DATABASE ccb');
    await admin.end();
    const url = new URL(cluster.url);
    url.pathname = '/ccb';
    databaseUrl = url.toString();
    server = await spawnServer(
      databaseUrl,
      ['--attempt-timeout', '1s', '--retry-schedule', '200ms,200ms,200ms,200ms,200ms'],
      { ...SERVER_ENV, CCB_ENCRYPTION_KEY: randomBytes(32).toString('hex') },
    );
  });
  after(async () => {
    thaw();
    if (server) await killHard(server);
    await listener?.close();
    cluster?.stop();
  });

  const publish = (tag: string) =>
    fetch(`${server?.baseUrl}/admin/v1/messages`, {
      method: 'POST',
      headers: ADMIN_HEADERS,
      body: JSON.stringify({ accountName: DEV_ACCOUNT, serviceName: 'CarrierService', payload: { requestId: tag } }),
      signal: AbortSignal.timeout(HANG_MS),
    });

  it('answers 503 with Retry-After within its bounds while frozen, reports not ready, and recovers by itself losing nothing', async (t) => {
    if (!server || !cluster) throw new Error('not started');
    listener = await startCountingListener();
    assert.equal((await registerAsDevUser(server.baseUrl, 'CarrierService', listener.url)).status, 200);
    const accepted = new Set<string>();
    const publishAccepted = async (tag: string) => {
      const response = await publish(tag);
      const body = await response.json();
      assert.equal(response.status, 202, JSON.stringify(body));
      accepted.add(body.messageId);
    };
    for (let i = 0; i < 10; i++) await publishAccepted(`before-${i}`);
    await eventually(() => [...accepted].every((id) => listener?.received.has(id)), {
      what: 'delivery before the freeze',
    });

    frozen = clusterProcesses(cluster);
    const stopped = frozen.length;
    let slowest = 0;
    let readyzMs = 0;
    for (const pid of frozen) process.kill(pid, 'SIGSTOP');
    try {
      // The fault happened: every process of the cluster is stopped.
      await eventually(() => frozen.every((pid) => stateOf(pid) === 'T'), { what: 'the cluster stopped' });

      // How long the answers took is printed, not asserted (a loaded machine stretches it); the bound
      // asserted is that every one came while the cluster was still stopped.
      const started = performance.now();
      const timed = async (request: Promise<Response>) => {
        const response = await request;
        slowest = Math.max(slowest, performance.now() - started);
        return response;
      };
      const during = await Promise.all([
        ...Array.from({ length: 8 }, (_, i) => timed(publish(`during-${i}`))),
        fetch(`${server.baseUrl}/readyz`, { signal: AbortSignal.timeout(HANG_MS) }).then((response) => {
          readyzMs = performance.now() - started;
          return response;
        }),
      ]);
      const readyz = during.pop() as Response;
      assert.equal(readyz.status, 503, 'not ready while frozen');
      assert.ok(Number(readyz.headers.get('retry-after')) > 0);
      for (const response of during) {
        const body = await response.json();
        assert.equal(response.status, 503, JSON.stringify(body));
        assert.equal(body.errorCode, 'REQUEST_FAILED.Unavailable');
        assert.ok(Number(response.headers.get('retry-after')) > 0, 'Retry-After');
      }
      // Still frozen after all of them answered: they were bounded by the server's timeouts, not by a thaw.
      assert.ok(frozen.every((pid) => stateOf(pid) === 'T'));
    } finally {
      thaw();
    }

    await eventually(async () => (await fetch(`${server?.baseUrl}/readyz`)).status === 200, {
      timeout: 30_000,
      what: '/readyz ready again after SIGCONT',
    });
    for (let i = 0; i < 10; i++) await publishAccepted(`after-${i}`);
    await eventually(() => [...accepted].every((id) => listener?.received.has(id)), {
      timeout: 120_000,
      what: () => `${[...accepted].filter((id) => !listener?.received.has(id)).length} accepted messages undelivered`,
    });
    assert.equal(server.child.exitCode, null, 'the server is still running');
    t.diagnostic(
      `${stopped} cluster processes stopped; 8 publishes answered 503 (the last after ${Math.round(slowest)} ms) and /readyz 503 (after ${Math.round(readyzMs)} ms) while frozen; ${accepted.size} accepted, all delivered`,
    );
  });
});
