import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { awaitDeliveries, IN_FLIGHT, type Listener, sender, startListener, timelineShape } from './delivery.js';
import { ACCOUNT, CcbClient, publishMany } from './lib/ccb-client.js';
import type { BenchContext } from './lib/context.js';
import { type BenchChild, startChild } from './lib/ipc.js';
import { carrierPayload } from './lib/payload.js';
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
  /** One message at a time on an idle system: publish through an api process → listener, worker in another process. */
  idle_p50_ms: number;
}

/** Alternating rounds, best of each kept, as in the delivery section. */
const ROUNDS = 3;
/** BENCH_POSTGRES_COUNT shortens a smoke run; the figures are taken at the default. */
const COUNT_OVERRIDE = process.env.BENCH_POSTGRES_COUNT ? Number(process.env.BENCH_POSTGRES_COUNT) : null;

interface System {
  name: string;
  prepare?(count: number): Promise<void>;
  enqueue(count: number): Promise<void>;
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
    enqueue: (count) => publishMany(client, count, message),
    async close() {
      await client.close();
      await server.dispose();
    },
  };
}

async function graphile(postgres: BenchPostgres, listener: Listener, batched: boolean): Promise<System> {
  const db = await postgres.createDatabase(batched ? 'graphile_batched' : 'graphile_default');
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
    async enqueue(count) {
      await child.call('enqueue', { count, offset });
      offset += count;
    },
    close: () => child.stop(),
  };
}

async function measure(ctx: BenchContext, listener: Listener, system: System, count: number): Promise<number> {
  await listener.call('reset');
  await system.prepare?.(count);
  await system.enqueue(count);
  const result = await awaitDeliveries(listener, count, 600_000);
  if (result.count < count) ctx.note(`postgres ${system.name}: only ${result.count} of ${count} arrived in time`);
  ctx.log(
    `  ${system.name}: ${result.count} deliveries at ${Math.round(result.rate)}/s; ${await timelineShape(listener)}`,
  );
  return result.rate;
}

/** Publish → listener of single messages through an api process, delivered by a worker process. */
async function idleLatency(ctx: BenchContext, postgres: BenchPostgres, listener: Listener): Promise<number> {
  const db = await postgres.createDatabase('ccb_idle');
  const dir = folder();
  const api = await startCcb('pg-api', { role: 'api' }, { dir, db });
  const worker = await startCcb('pg-worker', { role: 'worker' }, { dir, db });
  const client = new CcbClient(api.address);
  try {
    await client.register(await client.login(), { name: 'CarrierService', url: listenerUrl(listener) });
    await listener.call('reset', { latency: true });
    const samples = ctx.quick ? 20 : 50;
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
  const count = COUNT_OVERRIDE ?? (ctx.quick ? 10_000 : 20_000);
  const listener = await startListener();
  const systems: System[] = [];
  try {
    systems.push(
      await ours(postgres, listener),
      await graphile(postgres, listener, true),
      await graphile(postgres, listener, false),
      await sender(listener, 'pg-sender'),
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
    for (let r = 0; r < ROUNDS; r++) {
      for (const system of systems) {
        best.set(system, Math.max(best.get(system) ?? 0, await measure(ctx, listener, system, count)));
      }
    }
    const [oursBest, batchedBest, defaultBest, senderBest] = systems.map((s) => best.get(s) ?? Number.NaN);
    const idle = await idleLatency(ctx, postgres, listener);
    return {
      deliveries_per_s: Math.round(oursBest),
      graphile_per_s: Math.round(batchedBest),
      ratio_vs_graphile: round(oursBest / batchedBest),
      graphile_default_per_s: Math.round(defaultBest),
      ratio_vs_graphile_default: round(oursBest / defaultBest),
      sender_per_s: Math.round(senderBest),
      ratio_vs_sender: round(oursBest / senderBest),
      idle_p50_ms: round(idle),
    };
  } finally {
    for (const system of systems) await system.close();
    await listener.stop();
    await postgres.stop();
  }
}
