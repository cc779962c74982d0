/**
 * `node --import tsx bench/pg-wal.ts [--count 10000] [--variant built|unlogged-queue|fillfactor-<n>]`:
 * WAL bytes, full-page images and tuples written per delivery by the PostgreSQL store's own
 * statements (group insert of 200, claim of 200, one outcome write of 200), on a throwaway cluster
 * of the tests (test/postgres-cluster.ts) or DATABASE_URL. These figures do not depend on the
 * machine's speed: they count what the store writes. The whole server's figure, with its publish
 * fast path, is the postgres section of `npm run bench`.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openStore } from '../packages/server/src/store/index.js';
import type { PostgresStore } from '../packages/server/src/store/postgres/index.js';
import { postgresBinaries, startThrowawayCluster } from '../test/postgres-cluster.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
const count = Number(option('count', '10000'));
const variant = option('variant', 'built');
const BATCH = 200;
const PAYLOAD = JSON.stringify({ data: 'x'.repeat(380) });

let cluster: { url: string; stop(): void } | null = null;
let adminUrl = process.env.DATABASE_URL;
if (!adminUrl) {
  const bin = postgresBinaries();
  if (!bin) throw new Error('set DATABASE_URL or install PostgreSQL');
  cluster = await startThrowawayCluster(bin);
  adminUrl = cluster.url;
}
const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
const name = `ccb_wal_${randomBytes(4).toString('hex')}`;
await admin.query(`CREATE DATABASE ${name}`);
const url = new URL(adminUrl);
url.pathname = `/${name}`;
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

const stats = async () => {
  const lsn = (await store.db.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0].lsn;
  const [hi, lo] = lsn.split('/').map((h) => BigInt(`0x${h}`));
  const wal = (await store.db.query<{ fpi: string }>('SELECT wal_fpi::text AS fpi FROM pg_stat_wal')).rows[0];
  const t = (
    await store.db.query<{ ins: string; upd: string; del: string; hot: string }>(
      `SELECT sum(n_tup_ins)::text AS ins, sum(n_tup_upd)::text AS upd, sum(n_tup_del)::text AS del,
         sum(n_tup_hot_upd)::text AS hot FROM pg_stat_user_tables`,
    )
  ).rows[0];
  return { wal: (hi << 32n) + lo, fpi: Number(wal.fpi), ins: +t.ins, upd: +t.upd, del: +t.del, hot: +t.hot };
};

await store.db.query('CHECKPOINT');
await new Promise((resolve) => setTimeout(resolve, 1_000));
const before = await stats();
let n = 0;
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
// Statistics reach pg_stat_user_tables when the backends report them.
await new Promise((resolve) => setTimeout(resolve, 1_500));
const after = await stats();
const per = (a: number | bigint, b: number | bigint) => (Number(a) - Number(b)) / count;
console.log(
  JSON.stringify({
    variant,
    deliveries: count,
    wal_bytes_per_delivery: Math.round(per(after.wal, before.wal)),
    fpi_per_delivery: +per(after.fpi, before.fpi).toFixed(3),
    tuples_inserted: +per(after.ins, before.ins).toFixed(2),
    tuples_updated: +per(after.upd, before.upd).toFixed(2),
    tuples_deleted: +per(after.del, before.del).toFixed(2),
    hot_updates: +per(after.hot, before.hot).toFixed(2),
  }),
);
await store.close();
await admin.query(`DROP DATABASE ${name}`);
await admin.end();
cluster?.stop();
