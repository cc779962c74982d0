import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { parseDuration } from '../packages/server/src/settings.js';
import { type Listener, type PortCount, startListener } from './delivery.js';
import { ACCOUNT, CcbClient } from './lib/ccb-client.js';
import { carrierPayload } from './lib/payload.js';
import { POSTGRES_MISSING, startPostgres } from './lib/postgres.js';
import {
  autovacuumRunsSince,
  growthAfter,
  type SoakOptions,
  soakServerEnv,
  type TableRow,
  tuplesByTable,
} from './lib/soak-stats.js';
import { round, sleep } from './lib/stats.js';
import { startCcb } from './targets/ccb.js';

/**
 * `npm run bench -- --soak`: our server on a throwaway PostgreSQL cluster, fed at a fixed publish rate
 * for a set time with retention of minutes, printing every `everyS` seconds the delivery rate, the
 * database size, the live and dead tuples of each table (partitions summed into their parent), the
 * autovacuum runs and the retention purges with their duration. Once retention is reached the
 * database size should stay flat and the dead tuples should not grow (SPEC §10).
 */
export type { SoakOptions };

interface Reading {
  atS: number;
  delivered_per_s: number;
  published_per_s: number;
  database_bytes: number;
  tables: Record<string, { live: number; dead: number }>;
  autovacuum_runs: number;
  purges: number;
  purge_ms_mean: number | null;
}

const TABLE_STATS = `
  SELECT s.relid::bigint::float8 AS relid, coalesce(parent.relname, s.relname) AS "table",
         s.n_live_tup::float8 AS live, s.n_dead_tup::float8 AS dead, s.autovacuum_count::float8 AS autovacuums
    FROM pg_stat_user_tables s
    LEFT JOIN pg_inherits i ON i.inhrelid = s.relid
    LEFT JOIN pg_class parent ON parent.oid = i.inhparent`;

const delivered = async (listener: Listener) =>
  (await listener.call<PortCount[]>('counts')).reduce((n, c) => n + c.count, 0);

export async function runSoak(options: SoakOptions, log: (line: string) => void = console.log): Promise<void> {
  const postgres = await startPostgres();
  if (!postgres) throw new Error(POSTGRES_MISSING);
  const serverEnv = soakServerEnv(options);
  // The server process inherits the orchestrator's environment.
  Object.assign(process.env, serverEnv);
  const retentionS = parseDuration(serverEnv.CCB_RETENTION_DELIVERED) / 1000;
  const purgeS = parseDuration(serverEnv.CCB_PURGE_INTERVAL) / 1000;
  // A message stays up to one partition longer than its retention: its partition is dropped whole.
  const partitionS = parseDuration(serverEnv.CCB_PARTITION_INTERVAL) / 1000;
  const listener = await startListener();
  const db = await postgres.createDatabase('ccb_soak');
  const server = await startCcb('soak', {}, { dir: mkdtempSync(join(tmpdir(), 'ccb-bench-soak-')), db });
  const client = new CcbClient(server.address);
  const stats = new pg.Client({ connectionString: db });
  await stats.connect();
  const readings: Reading[] = [];
  try {
    await client.register(await client.login(), {
      name: 'CarrierService',
      url: `http://127.0.0.1:${listener.info.ports[0]}/carrier`,
    });
    await listener.call('reset');
    log(
      `soak: ${options.rate}/s for ${options.minutes} min on PostgreSQL; server settings ${Object.entries(serverEnv)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}; a reading every ${options.everyS} s`,
    );
    const started = performance.now();
    const endAt = started + options.minutes * 60_000;
    let published = 0;
    let publishErrors = 0;
    // The publisher: every 50 ms, whatever the schedule says is due, in batches of at most 1,000.
    const publisher = (async () => {
      while (performance.now() < endAt) {
        const due = Math.floor(((performance.now() - started) / 1000) * options.rate) - published;
        if (due > 0) {
          const size = Math.min(due, 1000);
          const batch = Array.from({ length: size }, (_, i) => ({
            accountName: ACCOUNT,
            serviceName: 'CarrierService',
            payload: carrierPayload(published + i),
          }));
          try {
            await client.publishBatch(batch);
            published += size;
          } catch (error) {
            publishErrors++;
            if (publishErrors <= 3) log(`  publish failed: ${(error as Error).message}`);
            await sleep(200);
          }
        } else {
          await sleep(50);
        }
      }
    })();
    const seen = new Map<number, number>();
    let last = { atS: 0, delivered: 0, published: 0, purges: { count: 0, seconds: 0 } };
    while (performance.now() < endAt) {
      await sleep(Math.max(0, Math.min(options.everyS * 1000, endAt - performance.now())));
      const atS = round((performance.now() - started) / 1000, 1);
      const count = await delivered(listener);
      const purges = await server.purges();
      const size = Number(
        (await stats.query<{ size: string }>('SELECT pg_database_size(current_database())::text AS size')).rows[0].size,
      );
      const rows = (await stats.query<TableRow>(TABLE_STATS)).rows;
      const tables = Object.fromEntries(tuplesByTable(rows));
      const interval = atS - last.atS;
      const purgeCount = purges.count - last.purges.count;
      const reading: Reading = {
        atS,
        delivered_per_s: Math.round((count - last.delivered) / interval),
        published_per_s: Math.round((published - last.published) / interval),
        database_bytes: size,
        tables,
        autovacuum_runs: autovacuumRunsSince(seen, rows),
        purges: purgeCount,
        purge_ms_mean: purgeCount > 0 ? round(((purges.seconds - last.purges.seconds) * 1000) / purgeCount, 1) : null,
      };
      readings.push(reading);
      last = { atS, delivered: count, published, purges };
      log(
        `  [${Math.round(atS)} s] delivered ${reading.delivered_per_s}/s (published ${reading.published_per_s}/s), ` +
          `database ${round(size / 2 ** 20, 1)} MB, autovacuum runs ${reading.autovacuum_runs}, ` +
          `purges ${purgeCount}${reading.purge_ms_mean === null ? '' : ` (mean ${reading.purge_ms_mean} ms)`}; ` +
          // Tables with dead tuples or a sizeable number of rows; bench/results/soak.json has them all.
          `dead/live tuples: ${Object.entries(tables)
            .filter(([, t]) => t.dead > 0 || t.live >= 100)
            .map(([name, t]) => `${name} ${t.dead}/${t.live}`)
            .join(', ')}`,
      );
    }
    await publisher;
    // Size and dead tuples are judged from the first reading after retention, a partition and a purge.
    const reachedS = retentionS + partitionS + purgeS;
    const growth = growthAfter(
      readings.map((r) => ({ atS: r.atS, bytes: r.database_bytes })),
      reachedS,
    );
    const dead = (r: Reading) => Object.values(r.tables).reduce((n, t) => n + t.dead, 0);
    const settled = readings.filter((r) => r.atS >= reachedS);
    log(
      `soak: ${published} published, ${await delivered(listener)} delivered, ${publishErrors} failed publish requests; ` +
        (growth === null
          ? `the run ended before retention was reached (${reachedS} s): no verdict on size`
          : `database size from ${Math.round(reachedS)} s on: ${growth >= 0 ? '+' : ''}${round(growth * 100, 1)} %; ` +
            `dead tuples then ${dead(settled[0])}, at the end ${dead(settled[settled.length - 1])}`),
    );
    const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(
      join(resultsDir, 'soak.json'),
      `${JSON.stringify(
        {
          options,
          server_env: serverEnv,
          published,
          publish_errors: publishErrors,
          retention_reached_s: reachedS,
          size_growth_after_retention: growth === null ? null : round(growth, 4),
          readings,
          date: new Date().toISOString(),
        },
        null,
        2,
      )}\n`,
    );
    log('wrote bench/results/soak.json');
  } finally {
    await stats.end();
    await client.close();
    await server.dispose();
    await listener.stop();
    await postgres.stop();
  }
}
