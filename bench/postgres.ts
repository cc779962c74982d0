import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  awaitDeliveries,
  floor,
  IN_FLIGHT,
  type Listener,
  sender,
  startListener,
  timelineSummary,
} from './delivery.js';
import { ACCOUNT, CcbClient, publishMany } from './lib/ccb-client.js';
import { type BenchContext, countOverride } from './lib/context.js';
import { type BenchChild, startChild } from './lib/ipc.js';
import { carrierPayload } from './lib/payload.js';
import {
  delta,
  NO_DELTA,
  type PgDelta,
  type PgSnapshot,
  PgStats,
  type PgWrites,
  perDelivery,
  STATS_REPORT_LAG_MS,
  sumDeltas,
} from './lib/pg-stats.js';
import { type BenchPostgres, POSTGRES_MISSING, startPostgres } from './lib/postgres.js';
import { percentile, round, sleep } from './lib/stats.js';
import { type CcbServer, startCcb } from './targets/ccb.js';

export interface PostgresResult {
  deliveries_per_s: number;
  /** graphile-worker with its local queue (500) and batched completion without delay. */
  graphile_per_s: number;
  ratio_vs_graphile: number;
  /** graphile-worker with its defaults. */
  graphile_default_per_s: number;
  ratio_vs_graphile_default: number;
  sender_per_s: number;
  ratio_vs_sender: number;
  /** The PostgreSQL durable floor (bench/peers/floor.ts): the sender plus a bare durable queue. */
  floor_per_s: number;
  ratio_vs_floor: number;
  /**
   * Written to PostgreSQL per delivery over all measured rounds, from pg_current_wal_lsn() and
   * pg_stat_database (xact_commit; tup_inserted + tup_updated + tup_deleted) read around each round.
   */
  wal_bytes_per_delivery: number;
  commits_per_delivery: number;
  tuples_per_delivery: number;
  /** The same for graphile-worker batched. */
  graphile_wal_bytes_per_delivery: number;
  graphile_commits_per_delivery: number;
  graphile_tuples_per_delivery: number;
  /** The same for the durable floor. */
  floor_wal_bytes_per_delivery: number;
  floor_commits_per_delivery: number;
  floor_tuples_per_delivery: number;
  /** Our engine, per measured round: messages handed back to the store, and idle 100 ms slices. */
  handed_back_per_round: number[];
  idle_slices_per_round: number[];
  /** One message at a time on an idle system: publish through an api process → listener, worker in another process. */
  idle_p50_ms: number;
}

/** Alternating rounds, best of each kept, as in the delivery section. */
const ROUNDS = 3;

interface System {
  name: string;
  /** Its database on the cluster, whose writes are counted per round; none for the sender. */
  database?: string;
  prepare?(count: number): Promise<void>;
  enqueue(count: number): Promise<void>;
  handedBack?(): Promise<number>;
  close(): Promise<void>;
}

const message = (i: number) => ({ accountName: ACCOUNT, serviceName: 'CarrierService', payload: carrierPayload(i) });
const listenerUrl = (listener: Listener) => `http://127.0.0.1:${listener.info.ports[0]}/carrier`;
const folder = () => mkdtempSync(join(tmpdir(), 'ccb-bench-pg-ours-'));

/** Our server (role all) on its own PostgreSQL database; messages go in through the batch publish API. */
async function ours(postgres: BenchPostgres, listener: Listener): Promise<System> {
  const db = await postgres.createDatabase('ccb_delivery');
  const server: CcbServer = await startCcb('pg-delivery', {}, { dir: folder(), db });
  const client = new CcbClient(server.address);
  await client.register(await client.login(), { name: 'CarrierService', url: listenerUrl(listener) });
  return {
    name: 'ours on PostgreSQL',
    database: 'ccb_delivery',
    enqueue: (count) => publishMany(client, count, message),
    handedBack: () => server.handedBack(),
    async close() {
      await client.close();
      await server.dispose();
    },
  };
}

async function graphile(postgres: BenchPostgres, listener: Listener, batched: boolean): Promise<System> {
  const database = batched ? 'graphile_batched' : 'graphile_default';
  const db = await postgres.createDatabase(database);
  const child: BenchChild<unknown> = await startChild(
    `graphile-${batched ? 'batched' : 'default'}`,
    'peers/graphile-worker.ts',
    {
      connectionString: db,
      listener: listenerUrl(listener),
      concurrency: IN_FLIGHT,
      batched,
    },
  );
  let offset = 0;
  return {
    name: batched ? 'graphile-worker (local queue 500, batch delays 0)' : 'graphile-worker (defaults)',
    database,
    async enqueue(count) {
      await child.call('enqueue', { count, offset });
      offset += count;
    },
    close: () => child.stop(),
  };
}

/** The durable floor on its own database of the cluster. */
async function postgresFloor(postgres: BenchPostgres, listener: Listener): Promise<System> {
  const floorSystem = await floor(listener, 'postgres', await postgres.createDatabase('floor'));
  return { ...floorSystem, database: 'floor' };
}

interface Round {
  rate: number;
  handedBack: number | null;
  idleSlices: number;
}

const perRound = (w: PgWrites) =>
  `${w.wal_bytes_per_delivery} WAL bytes, ${w.commits_per_delivery} commits, ${w.tuples_per_delivery} tuples per delivery`;

/**
 * What each system's rounds wrote. The WAL position is read tightly around a round (it is
 * cluster-wide, and the next system writes to it); a database's counters only once its backends have
 * reported them (STATS_REPORT_LAG_MS after the round), which is when that system's next round begins
 * or at the end: the system sits idle meanwhile, so nothing else lands in its counters.
 */
class WriteMeter {
  private readonly open = new Map<
    System,
    { counters: Pick<PgSnapshot, 'commits' | 'tuples'>; walBytes: bigint; deliveries: number; endedAt: number }
  >();
  readonly totals = new Map<System, PgDelta>();

  constructor(
    private readonly ctx: BenchContext,
    private readonly stats: PgStats,
  ) {}

  /** Closes the system's previous round if one is open; returns its counters now (the next round's start). */
  async counters(system: System & { database: string }): Promise<Pick<PgSnapshot, 'commits' | 'tuples'>> {
    const previous = this.open.get(system);
    if (previous) await sleep(previous.endedAt + STATS_REPORT_LAG_MS - Date.now());
    const now = await this.stats.counters(system.database);
    if (previous) {
      this.open.delete(system);
      const round = delta(
        { walBytes: 0n, ...previous.counters },
        { walBytes: previous.walBytes, ...now },
        previous.deliveries,
      );
      this.totals.set(system, sumDeltas(this.totals.get(system) ?? NO_DELTA, round));
      this.ctx.log(`  ${system.name}, its last round wrote: ${perRound(perDelivery(round))}`);
    }
    return now;
  }

  /** Around one round: `run` delivers and resolves with the count delivered. */
  async round(system: System, run: () => Promise<number>): Promise<void> {
    if (!system.database) {
      await run();
      return;
    }
    const counters = await this.counters(system as System & { database: string });
    const walBefore = await this.stats.walBytes();
    const deliveries = await run();
    const walAfter = await this.stats.walSettled();
    this.open.set(system, { counters, walBytes: walAfter - walBefore, deliveries, endedAt: Date.now() });
  }

  /** Closes every open round (waits for the counters' report lag once). */
  async finish(): Promise<void> {
    for (const system of [...this.open.keys()]) await this.counters(system as System & { database: string });
  }
}

async function measure(
  ctx: BenchContext,
  listener: Listener,
  meter: WriteMeter,
  system: System,
  count: number,
): Promise<Round> {
  await listener.call('reset');
  await system.prepare?.(count);
  const handedBefore = (await system.handedBack?.()) ?? null;
  let delivered = { count: 0, rate: Number.NaN };
  await meter.round(system, async () => {
    await system.enqueue(count);
    delivered = await awaitDeliveries(listener, count, 600_000);
    return delivered.count;
  });
  if (delivered.count < count) ctx.note(`postgres ${system.name}: only ${delivered.count} of ${count} arrived in time`);
  const handedBack = handedBefore === null ? null : ((await system.handedBack?.()) ?? 0) - handedBefore;
  const shape = await timelineSummary(listener);
  ctx.log(
    `  ${system.name}: ${delivered.count} deliveries at ${Math.round(delivered.rate)}/s; ${shape.text}` +
      (handedBack === null ? '' : `; ${handedBack} handed back`),
  );
  return { rate: delivered.rate, handedBack, idleSlices: shape.idleSlices };
}

/**
 * Publish → listener of single messages through an api process, delivered by a worker process
 * (`samples` of them, idle between); returns the p50. bench/pg-idle.ts runs it alone.
 */
export async function idleLatency(
  ctx: BenchContext,
  postgres: BenchPostgres,
  listener: Listener,
  samples = ctx.quick ? 20 : 50,
): Promise<number> {
  const db = await postgres.createDatabase('ccb_idle');
  const dir = folder();
  const api = await startCcb('pg-api', { role: 'api' }, { dir, db });
  const worker = await startCcb('pg-worker', { role: 'worker' }, { dir, db });
  const client = new CcbClient(api.address);
  try {
    await client.register(await client.login(), { name: 'CarrierService', url: listenerUrl(listener) });
    await listener.call('reset', { latency: true });
    for (let i = 0; i < samples; i++) {
      await client.publish({
        accountName: ACCOUNT,
        serviceName: 'CarrierService',
        payload: carrierPayload(i, { benchSentAt: Date.now() }),
      });
      await awaitDeliveries(listener, i + 1, 10_000);
      // Idle between messages: the worker is back in its wait, not polling right after a claim.
      await sleep(100);
    }
    const latencies = (await listener.call<{ latencyMs: number }[]>('latencies'))
      .map((s) => s.latencyMs)
      .sort((a, b) => a - b);
    const p50 = percentile(latencies, 50);
    ctx.log(
      `  idle single messages (api → worker process): p50 ${round(p50)} ms, p90 ${round(percentile(latencies, 90))} ms over ${latencies.length}`,
    );
    return p50;
  } finally {
    await client.close();
    await api.stop();
    await worker.dispose();
  }
}

export async function runPostgres(ctx: BenchContext): Promise<PostgresResult | null> {
  const postgres = await startPostgres();
  if (!postgres) {
    ctx.note(POSTGRES_MISSING);
    return null;
  }
  const count = countOverride('postgres', ctx.quick ? 10_000 : 20_000);
  const listener = await startListener();
  const stats = await PgStats.open(postgres.adminUrl);
  const systems: System[] = [];
  try {
    systems.push(
      await ours(postgres, listener),
      await graphile(postgres, listener, true),
      await graphile(postgres, listener, false),
      await sender(listener, 'pg-sender'),
      await postgresFloor(postgres, listener),
    );
    for (const system of systems) {
      // Unmeasured warm-up: JIT, connection pools, PostgreSQL's caches.
      const warm = Math.min(2_000, count);
      await listener.call('reset');
      await system.prepare?.(warm);
      await system.enqueue(warm);
      await awaitDeliveries(listener, warm, 120_000);
    }
    const best = new Map<System, number>();
    const meter = new WriteMeter(ctx, stats);
    const oursRounds: Round[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      for (const system of systems) {
        const round = await measure(ctx, listener, meter, system, count);
        best.set(system, Math.max(best.get(system) ?? 0, round.rate));
        if (system === systems[0]) oursRounds.push(round);
      }
    }
    await meter.finish();
    const writes = meter.totals;
    const [oursBest, batchedBest, defaultBest, senderBest, floorBest] = systems.map((s) => best.get(s) ?? Number.NaN);
    const [oursWrites, batchedWrites, , , floorWrites] = systems.map((s) => perDelivery(writes.get(s) ?? NO_DELTA));
    ctx.log(
      `  over all rounds: ours ${perRound(oursWrites)}; graphile-worker batched ${perRound(batchedWrites)}; ` +
        `durable floor ${perRound(floorWrites)}`,
    );
    const idle = await idleLatency(ctx, postgres, listener);
    return {
      deliveries_per_s: Math.round(oursBest),
      graphile_per_s: Math.round(batchedBest),
      ratio_vs_graphile: round(oursBest / batchedBest),
      graphile_default_per_s: Math.round(defaultBest),
      ratio_vs_graphile_default: round(oursBest / defaultBest),
      sender_per_s: Math.round(senderBest),
      ratio_vs_sender: round(oursBest / senderBest),
      floor_per_s: Math.round(floorBest),
      ratio_vs_floor: round(oursBest / floorBest),
      wal_bytes_per_delivery: oursWrites.wal_bytes_per_delivery,
      commits_per_delivery: oursWrites.commits_per_delivery,
      tuples_per_delivery: oursWrites.tuples_per_delivery,
      graphile_wal_bytes_per_delivery: batchedWrites.wal_bytes_per_delivery,
      graphile_commits_per_delivery: batchedWrites.commits_per_delivery,
      graphile_tuples_per_delivery: batchedWrites.tuples_per_delivery,
      floor_wal_bytes_per_delivery: floorWrites.wal_bytes_per_delivery,
      floor_commits_per_delivery: floorWrites.commits_per_delivery,
      floor_tuples_per_delivery: floorWrites.tuples_per_delivery,
      handed_back_per_round: oursRounds.map((r) => r.handedBack ?? 0),
      idle_slices_per_round: oursRounds.map((r) => r.idleSlices),
      idle_p50_ms: round(idle),
    };
  } finally {
    for (const system of systems) await system.close();
    await stats.close();
    await listener.stop();
    await postgres.stop();
  }
}
