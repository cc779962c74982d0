/**
 * `node --import tsx bench/pg-wal.ts [--count 10000] [--variant built|unlogged-queue|fillfactor-<n>]
 * [--server] [--by-relation]`: WAL bytes, full-page images and tuples written per delivery on
 * PostgreSQL, on a throwaway cluster of the tests (test/postgres-cluster.ts) or DATABASE_URL. These
 * figures do not depend on the machine's speed: they count what is written.
 *
 * - By default, the PostgreSQL store's own statements: group insert of 200, claim of 200, one
 *   outcome write of 200 (`--variant` changes the layout first).
 * - `--server`: the whole server (role all) on a durable throwaway cluster, the messages published
 *   in batches of 1,000 through the API and delivered to a local listener, after a warm-up of 2,000:
 *   what the publish fast path hands over is not claimed, the rest is.
 * - `--by-relation`: where the WAL went, per table and index and per record kind, read with
 *   pg_waldump over the measured round (a throwaway cluster only).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openStore } from '../packages/server/src/store/index.js';
import type { PostgresStore } from '../packages/server/src/store/postgres/index.js';
import { postgresBinaries, startThrowawayCluster, type ThrowawayCluster } from '../test/postgres-cluster.js';
import { awaitDeliveries, startListener } from './delivery.js';
import { benchArgs } from './lib/args.js';
import { ACCOUNT, CcbClient, publishMany } from './lib/ccb-client.js';
import { carrierPayload } from './lib/payload.js';
import { PgStats, parseLsn, STATS_REPORT_LAG_MS } from './lib/pg-stats.js';
import { startCcb } from './targets/ccb.js';

const flags = benchArgs(
  `node --import tsx bench/pg-wal.ts [--count 10000] [--variant built|unlogged-queue|fillfactor-<n>] [--server] [--by-relation]

WAL bytes, full-page images and tuples written per delivery on PostgreSQL.
  --count N       deliveries measured (default 10000)
  --variant V     a layout variant of the store's tables (store statements only)
  --server        the whole server, batch publishes through the API, instead of the store's statements
  --by-relation   the WAL per table and index and per record kind (pg_waldump; a throwaway cluster only)`,
  {
    count: { type: 'string', default: '10000' },
    variant: { type: 'string', default: 'built' },
    server: { type: 'boolean', default: false },
    'by-relation': { type: 'boolean', default: false },
  },
  ['count'],
);
const count = Number(flags.count);
const variant = flags.variant;
const BATCH = 200;
const PAYLOAD = JSON.stringify({ data: 'x'.repeat(380) });

const bin = postgresBinaries();
let cluster: ThrowawayCluster | null = null;
let adminUrl = process.env.DATABASE_URL;
if (!adminUrl || flags.server) {
  if (!bin) throw new Error('set DATABASE_URL or install PostgreSQL');
  cluster = await startThrowawayCluster(
    bin,
    flags.server ? { durable: true, maxConnections: 200, settings: { shared_buffers: '256MB' } } : {},
  );
  adminUrl = cluster.url;
}
if (flags['by-relation'] && !cluster) throw new Error('--by-relation reads the WAL files of a throwaway cluster');
const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
const name = `ccb_wal_${randomBytes(4).toString('hex')}`;
await admin.query(`CREATE DATABASE ${name}`);
const url = new URL(adminUrl);
url.pathname = `/${name}`;
const db = new pg.Client({ connectionString: url.toString() });
await db.connect();

const stats = async () => {
  const lsn = (await admin.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0].lsn;
  const wal = (await admin.query<{ fpi: string }>('SELECT wal_fpi::text AS fpi FROM pg_stat_wal')).rows[0];
  const t = (
    await db.query<{ ins: string; upd: string; del: string; hot: string }>(
      `SELECT sum(n_tup_ins)::text AS ins, sum(n_tup_upd)::text AS upd, sum(n_tup_del)::text AS del,
         sum(n_tup_hot_upd)::text AS hot FROM pg_stat_user_tables`,
    )
  ).rows[0];
  return { lsn, wal: parseLsn(lsn), fpi: Number(wal.fpi), ins: +t.ins, upd: +t.upd, del: +t.del, hot: +t.hot };
};

/** Runs the measured round between two readings of the WAL position and the counters. */
async function measure(round: () => Promise<void>, settled: () => Promise<void>, quietMs = 1_000) {
  await admin.query('CHECKPOINT');
  await new Promise((resolve) => setTimeout(resolve, quietMs));
  const before = await stats();
  await round();
  await settled();
  // Statistics reach pg_stat_user_tables when the backends report them.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  return { before, after: await stats() };
}

async function storeStatements() {
  const store = (await openStore(url.toString(), { poolSize: 4 })) as PostgresStore;
  await store.migrate();
  if (variant === 'unlogged-queue') await store.db.query('ALTER TABLE queue SET UNLOGGED');
  const fillfactor = /^fillfactor-(\d+)$/.exec(variant)?.[1];
  if (fillfactor) {
    for (const p of (
      await store.db.query<{ relname: string }>(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'messages'::regclass",
      )
    ).rows) {
      await store.db.query(`ALTER TABLE ${p.relname} SET (fillfactor = ${fillfactor})`);
    }
  }
  let n = 0;
  const round = async () => {
    for (let done = 0; done < count; done += BATCH) {
      const now = store.now();
      const rows = Array.from({ length: BATCH }, () => ({
        id: `msg_${(n++).toString(36).padStart(10, '0')}${randomBytes(6).toString('hex')}`,
        accountName: '0000123456-00001',
        serviceName: 'CarrierService',
        payload: PAYLOAD,
        status: 'pending' as const,
        maxAttempts: 4,
        nextAttemptAt: now,
        reason: null,
        idempotency: null,
      }));
      await store.messages.insert(rows, now);
      const claimed = await store.messages.claim(store.now(), BATCH, 30_000);
      const at = store.now();
      await store.messages.update(
        claimed.map((m) => ({
          id: m.id,
          attempt: {
            messageId: m.id,
            attemptNumber: 1,
            startedAt: at,
            url: 'http://127.0.0.1:9000/cb',
            statusCode: 200,
            latencyMs: 1.2,
            errorKind: null,
            error: null,
            responseExcerpt: null,
          },
          status: 'delivered' as const,
          nextAttemptAt: null,
          reason: null,
          deliveredAt: at,
        })),
        at,
      );
    }
  };
  let open = true;
  try {
    // Closing the store ends its connections, whose backends then report their counters.
    return await measure(round, async () => {
      open = false;
      await store.close();
    });
  } finally {
    if (open) await store.close();
  }
}

async function wholeServer() {
  const listener = await startListener();
  const dir = mkdtempSync(join(tmpdir(), 'ccb-bench-pg-wal-'));
  const server = await startCcb('pg-wal', {}, { dir, db: url.toString() });
  const client = new CcbClient(server.address);
  const walStats = await PgStats.open(adminUrl as string);
  try {
    const target = `http://127.0.0.1:${listener.info.ports[0]}/carrier`;
    await client.register(await client.login(), { name: 'CarrierService', url: target });
    const message = (i: number) => ({
      accountName: ACCOUNT,
      serviceName: 'CarrierService',
      payload: carrierPayload(i),
    });
    await listener.call('reset');
    await publishMany(client, 2_000, message);
    await awaitDeliveries(listener, 2_000, 120_000);
    return await measure(
      async () => {
        await listener.call('reset');
        await publishMany(client, count, message);
        await awaitDeliveries(listener, count, 600_000);
      },
      async () => {
        // The last acknowledgements are written once the WAL position stops moving; the server then
        // stops, and its connections' backends report their counters as they end.
        await walStats.walSettled();
        await client.close();
        await server.stop();
      },
      // The warm-up's counters are reported by the server's idle connections this late at most.
      STATS_REPORT_LAG_MS,
    );
  } finally {
    await walStats.close();
    await client.close().catch(() => {});
    await server.dispose();
    await listener.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** pg_waldump over [from, to) of the cluster's WAL: bytes per delivery by relation, and by relation and record kind. */
async function byRelation(from: string, to: string) {
  if (!cluster || !bin) return;
  const args = ['-p', join(cluster.dataDir, 'pg_wal'), '-s', from, '-e', to];
  const dump =
    userInfo().uid === 0
      ? execFileSync('runuser', ['-u', 'postgres', '--', join(bin, 'pg_waldump'), ...args], { maxBuffer: 1 << 30 })
      : execFileSync(join(bin, 'pg_waldump'), args, { maxBuffer: 1 << 30 });
  const names = new Map(
    (
      await db.query<{ node: string; name: string }>('SELECT relfilenode::text AS node, relname AS name FROM pg_class')
    ).rows.map((r) => [r.node, r.name.replace(/_p\d+_\d+/, '_p*')]),
  );
  const relations = new Map<string, number>();
  const kinds = new Map<string, { records: number; bytes: number }>();
  for (const line of dump.toString().split('\n')) {
    const record = /rmgr: (\S+).*?len \(rec\/tot\):\s*\d+\/\s*(\d+).*?desc: (\S+)/.exec(line);
    if (!record) continue;
    const node = /rel \d+\/\d+\/(\d+)/.exec(line)?.[1];
    const relation = node ? (names.get(node) ?? `relfilenode ${node}`) : `(${record[1]})`;
    const bytes = Number(record[2]);
    relations.set(relation, (relations.get(relation) ?? 0) + bytes);
    const kind = `${relation} ${record[1]}/${record[3]}`;
    const seen = kinds.get(kind) ?? { records: 0, bytes: 0 };
    kinds.set(kind, { records: seen.records + 1, bytes: seen.bytes + bytes });
  }
  const per = (bytes: number) => (bytes / count).toFixed(1);
  console.log('WAL bytes per delivery by relation:');
  for (const [relation, bytes] of [...relations].sort((a, b) => b[1] - a[1])) {
    if (bytes / count >= 0.5) console.log(`  ${relation.padEnd(40)} ${per(bytes).padStart(7)}`);
  }
  console.log('by relation and record kind (records and bytes per delivery):');
  for (const [kind, { records, bytes }] of [...kinds].sort((a, b) => b[1].bytes - a[1].bytes)) {
    if (bytes / count >= 0.5)
      console.log(`  ${kind.padEnd(52)} ${(records / count).toFixed(3)} ${per(bytes).padStart(7)}`);
  }
}

try {
  const { before, after } = flags.server ? await wholeServer() : await storeStatements();
  const per = (a: number | bigint, b: number | bigint) => (Number(a) - Number(b)) / count;
  console.log(
    JSON.stringify({
      variant: flags.server ? 'server' : variant,
      deliveries: count,
      wal_bytes_per_delivery: Math.round(per(after.wal, before.wal)),
      fpi_per_delivery: +per(after.fpi, before.fpi).toFixed(3),
      tuples_inserted: +per(after.ins, before.ins).toFixed(2),
      tuples_updated: +per(after.upd, before.upd).toFixed(2),
      tuples_deleted: +per(after.del, before.del).toFixed(2),
      hot_updates: +per(after.hot, before.hot).toFixed(2),
    }),
  );
  if (flags['by-relation']) await byRelation(before.lsn, after.lsn);
} finally {
  await db.end();
  await admin.query(`DROP DATABASE ${name}`).catch(() => {});
  await admin.end();
  cluster?.stop();
}
