import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { ACCOUNT, CcbClient, publishMany } from './lib/ccb-client.js';
import { type BenchContext, countOverride } from './lib/context.js';
import { type BenchChild, startChild } from './lib/ipc.js';
import { load } from './lib/load.js';
import { carrierPayload, deliveredBody } from './lib/payload.js';
import { cpuSeconds } from './lib/proc.js';
import { type RedisServer, startRedis } from './lib/redis.js';
import { ratePerSecond, round, waitFor } from './lib/stats.js';
import { type CcbServer, startCcb } from './targets/ccb.js';

export interface DeliveryResult {
  deliveries_per_s: number;
  /** null when BullMQ could not run (no redis-server): not measured, never met. */
  bullmq_per_s: number | null;
  ratio_vs_bullmq: number | null;
  sender_per_s: number;
  ratio_vs_sender: number;
  ceiling_per_s: number;
  ratio_vs_ceiling: number;
  /** The SQLite durable floor (bench/peers/floor.ts): the sender plus a bare durable queue. */
  floor_per_s: number;
  ratio_vs_floor: number;
  /** Our engine, per measured round: messages its dispatcher handed back to the store. */
  handed_back_per_round: number[];
  /** Our engine, per measured round: 100 ms slices without a delivery between the first and the last. */
  idle_slices_per_round: number[];
}

/** What the results file and the table say when redis-server is missing. */
export const REDIS_MISSING =
  'BullMQ not measured: redis-server is not installed (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis)';

export type Listener = BenchChild<{ ports: number[] }>;

export interface PortCount {
  port: number;
  hang: boolean;
  count: number;
  first: number;
  last: number;
}

/** Our engine's in-flight cap towards one origin (default origin concurrency), used for every peer too. */
export const IN_FLIGHT = 64;
const BULLMQ_CONCURRENCY = Number(process.env.BENCH_BULLMQ_CONCURRENCY ?? IN_FLIGHT);
/** Alternating rounds (ceiling, ours, sender, SQLite floor, BullMQ) × 3, best of each kept: other work on the machine hits all sides. */
const ROUNDS = 3;

export function startListener(ports = 1): Promise<Listener> {
  return startChild<{ ports: number[] }>('listener', 'listener.ts', { ports });
}

/** Waits until the listener has received `expected` requests on the chosen ports; returns their rate. */
export async function awaitDeliveries(
  listener: Listener,
  expected: number,
  timeoutMs: number,
  ports?: (c: PortCount, i: number) => boolean,
): Promise<{ count: number; rate: number; first: number; last: number }> {
  let summary = { count: 0, first: 0, last: 0 };
  const read = async () => {
    const counts = (await listener.call<PortCount[]>('counts')).filter((c, i) => (ports ? ports(c, i) : true));
    const active = counts.filter((c) => c.count > 0);
    summary = {
      count: counts.reduce((n, c) => n + c.count, 0),
      first: Math.min(...active.map((c) => c.first)),
      last: Math.max(...active.map((c) => c.last)),
    };
    return summary.count >= expected;
  };
  await waitFor(read, timeoutMs, 100);
  return { ...summary, rate: ratePerSecond(summary.count, summary.first, summary.last) };
}

const message = (i: number) => ({ accountName: ACCOUNT, serviceName: 'CarrierService', payload: carrierPayload(i) });

export interface System {
  name: string;
  /** Processes whose CPU time is charged to the deliveries. */
  pids: number[];
  /** Unmeasured set-up before a round (the sender builds its messages in memory). */
  prepare?(count: number): Promise<void>;
  /** Makes `count` messages available for delivery as its producers would. */
  enqueue(count: number): Promise<void>;
  /** Messages handed back to the store so far (our engine only). */
  handedBack?(): Promise<number>;
  close(): Promise<void>;
}

/** One measured round of a system. */
export interface Round {
  rate: number;
  /** Messages handed back during the round; null for a peer that has no such thing. */
  handedBack: number | null;
  /** 100 ms slices without a delivery between the first and the last of the round. */
  idleSlices: number;
}

/** Our server with the listener registered; messages go in through the batch publish API. */
async function ours(listener: Listener): Promise<System> {
  const server: CcbServer = await startCcb('delivery');
  const client = new CcbClient(server.address);
  const session = await client.login();
  await client.register(session, { name: 'CarrierService', url: `http://127.0.0.1:${listener.info.ports[0]}/carrier` });
  return {
    name: 'ours',
    pids: [server.child.pid],
    enqueue: (count) => publishMany(client, count, message),
    handedBack: () => server.handedBack(),
    async close() {
      await client.close();
      await server.dispose();
    },
  };
}

/** BullMQ on a local redis-server: jobs added with addBulk, one worker process. */
async function bullmq(listener: Listener): Promise<System> {
  const redis: RedisServer = await startRedis();
  const queue = new Queue('deliveries', {
    connection: { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null },
    defaultJobOptions: {
      attempts: 4,
      backoff: { type: 'fixed', delay: 300_000 },
      removeOnComplete: true,
      removeOnFail: false,
    },
  });
  const worker = await startChild('bullmq-worker', 'peers/bullmq-worker.ts', {
    redisPort: redis.port,
    queue: 'deliveries',
    listener: `http://127.0.0.1:${listener.info.ports[0]}/carrier`,
    concurrency: BULLMQ_CONCURRENCY,
  });
  return {
    name: `BullMQ (concurrency ${BULLMQ_CONCURRENCY})`,
    pids: [worker.pid, redis.pid],
    async enqueue(count) {
      for (let start = 0; start < count; start += 1000) {
        const jobs = [];
        for (let i = start; i < Math.min(count, start + 1000); i++) {
          jobs.push({ name: 'deliver', data: { payload: message(i).payload } });
        }
        await queue.addBulk(jobs);
      }
    },
    async close() {
      await queue.close();
      await worker.stop();
      await redis.stop();
    },
  };
}

/**
 * The sender: our request building, signing and HTTP client with bodies from memory, no database
 * (the peer of this section and of the postgres one; `logName` names its log file).
 */
export async function sender(listener: Listener, logName = 'sender'): Promise<System> {
  const child = await startChild(logName, 'peers/sender.ts', {
    listener: `http://127.0.0.1:${listener.info.ports[0]}/carrier`,
    inFlight: IN_FLIGHT,
    attemptTimeoutMs: 15_000,
  });
  return {
    name: 'sender (no database)',
    pids: [child.pid],
    async prepare(count) {
      await child.call('prepare', { count });
    },
    async enqueue() {
      await child.call('deliver');
    },
    close: () => child.stop(),
  };
}

/**
 * The durable floor of SPEC §10 (bench/peers/floor.ts): the sender plus a bare prepared INSERT per
 * published batch, one claim and one acknowledgement statement per batch, on `database` (a SQLite
 * file path, created in a temporary folder when omitted, or a PostgreSQL URL).
 */
export async function floor(listener: Listener, backend: 'sqlite' | 'postgres', database?: string): Promise<System> {
  const dir = backend === 'sqlite' && !database ? mkdtempSync(join(tmpdir(), 'ccb-bench-floor-')) : null;
  const child = await startChild(`floor-${backend}`, 'peers/floor.ts', {
    backend,
    database: database ?? join(dir ?? '', 'floor.sqlite'),
    listener: `http://127.0.0.1:${listener.info.ports[0]}/carrier`,
    inFlight: IN_FLIGHT,
    attemptTimeoutMs: 15_000,
    batchSize: 200,
  });
  let offset = 0;
  return {
    name: `durable floor (${backend === 'sqlite' ? 'SQLite' : 'PostgreSQL'})`,
    pids: [child.pid],
    async enqueue(count) {
      await child.call('enqueue', { count, offset });
      offset += count;
    },
    async close() {
      await child.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Deliveries per second from the first to the last receipt of `count` messages, and how the round went. */
async function measure(ctx: BenchContext, listener: Listener, system: System, count: number): Promise<Round> {
  await listener.call('reset');
  await system.prepare?.(count);
  const cpuBefore = system.pids.map(cpuSeconds);
  const handedBefore = (await system.handedBack?.()) ?? null;
  await system.enqueue(count);
  const result = await awaitDeliveries(listener, count, 600_000);
  const cpu = system.pids.map(cpuSeconds).reduce((sum, v, i) => sum + v - cpuBefore[i], 0);
  const handedBack = handedBefore === null ? null : ((await system.handedBack?.()) ?? 0) - handedBefore;
  if (result.count < count) ctx.note(`delivery ${system.name}: only ${result.count} of ${count} arrived in time`);
  if (result.count > count) ctx.note(`delivery ${system.name}: ${result.count - count} more requests than messages`);
  const shape = await timelineSummary(listener);
  ctx.log(
    `  ${system.name}: ${result.count} deliveries at ${Math.round(result.rate)}/s, ` +
      `${round((cpu * 1e6) / count)} µs CPU per delivery; ${shape.text}` +
      (handedBack === null ? '' : `; ${handedBack} handed back`),
  );
  return { rate: result.rate, handedBack, idleSlices: shape.idleSlices };
}

/**
 * How the deliveries were spread in time: the median rate of the busy 100 ms buckets and how long the
 * last 5% took, which tells a steady engine from one that stalls or trails off.
 */
export async function timelineShape(listener: Listener): Promise<string> {
  return (await timelineSummary(listener)).text;
}

/** `timelineShape`'s line, and the count of idle 100 ms slices (no delivery) between the first and the last delivery. */
export async function timelineSummary(listener: Listener): Promise<{ text: string; idleSlices: number }> {
  const { bucketMs, counts } = await listener.call<{ bucketMs: number; counts: number[] }>('timeline');
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return { text: 'no deliveries', idleSlices: 0 };
  const busy = counts.filter((c) => c > 0).sort((a, b) => a - b);
  const median = busy[Math.floor(busy.length / 2)] * (1000 / bucketMs);
  let seen = 0;
  let p95Bucket = 0;
  for (const [i, c] of counts.entries()) {
    seen += c;
    if (seen >= total * 0.95) {
      p95Bucket = i;
      break;
    }
  }
  const idle = counts.filter((c) => c === 0).length;
  return {
    text:
      `median ${Math.round(median)}/s over busy 100 ms slices, ${idle} idle slices, ` +
      `last 5% took ${round(((counts.length - p95Bucket) * bucketMs) / 1000, 1)} s of ${round((counts.length * bucketMs) / 1000, 1)} s`,
    idleSlices: idle,
  };
}

/** Delivery rate in each tenth of the run, to see whether a long drain slows down as it goes. */
export async function ratesByTenth(listener: Listener): Promise<string> {
  const { bucketMs, counts } = await listener.call<{ bucketMs: number; counts: number[] }>('timeline');
  const size = Math.max(1, Math.ceil(counts.length / 10));
  const rates: number[] = [];
  for (let i = 0; i < counts.length; i += size) {
    const part = counts.slice(i, i + size);
    rates.push(Math.round((part.reduce((a, b) => a + b, 0) * 1000) / (part.length * bucketMs)));
  }
  return `per tenth of the run: ${rates.join(' ')} /s`;
}

/** The listener's own maximum: autocannon POSTing the same body with keep-alive and the same in-flight cap. */
async function ceiling(ctx: BenchContext, listener: Listener): Promise<number> {
  const body = deliveredBody(carrierPayload(1));
  const result = await load({
    url: `http://127.0.0.1:${listener.info.ports[0]}/carrier`,
    method: 'POST',
    headers: {
      'webhook-id': 'msg_2Vx7bq1Kq0d5m3c8f9a1b2c3d4e',
      'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
      'webhook-signature': `v1,${Buffer.alloc(32, 7).toString('base64')}`,
      'ccb-account': ACCOUNT,
      'ccb-service': 'CarrierService',
      'user-agent': 'ccb/0.1.0',
    },
    body,
    connections: IN_FLIGHT,
    seconds: ctx.quick ? 5 : 10,
    warmupSeconds: 1,
  });
  ctx.log(`  listener ceiling: ${Math.round(result.rps)} req/s (${body.length}-byte bodies)`);
  return result.rps;
}

export async function runDelivery(ctx: BenchContext): Promise<DeliveryResult> {
  const count = countOverride('delivery', ctx.quick ? 10_000 : 20_000);
  const listener = await startListener();
  const systems: System[] = [];
  let bullmqSystem: System | null = null;
  try {
    systems.push(await ours(listener), await sender(listener), await floor(listener, 'sqlite'));
    try {
      bullmqSystem = await bullmq(listener);
      systems.push(bullmqSystem);
    } catch (err) {
      // Our own figures are still worth having without the peer.
      const missing = err instanceof Error && /is it installed/.test(err.message);
      ctx.note(missing ? REDIS_MISSING : `BullMQ not measured: ${err instanceof Error ? err.message : String(err)}`);
    }
    for (const system of systems) {
      // Unmeasured warm-up: JIT, connection pools, SQLite and Redis caches.
      await listener.call('reset');
      await system.prepare?.(2_000);
      await system.enqueue(2_000);
      await awaitDeliveries(listener, 2_000, 60_000);
    }
    const best = new Map<System, number>();
    const oursRounds: Round[] = [];
    let ceilingBest = 0;
    for (let r = 0; r < ROUNDS; r++) {
      ceilingBest = Math.max(ceilingBest, await ceiling(ctx, listener));
      for (const system of systems) {
        const round = await measure(ctx, listener, system, count);
        if (system === systems[0]) oursRounds.push(round);
        best.set(system, Math.max(best.get(system) ?? 0, round.rate));
      }
    }
    const oursBest = best.get(systems[0]) ?? Number.NaN;
    const senderBest = best.get(systems[1]) ?? Number.NaN;
    const floorBest = best.get(systems[2]) ?? Number.NaN;
    const bullmqBest = bullmqSystem ? (best.get(bullmqSystem) ?? Number.NaN) : null;
    return {
      deliveries_per_s: Math.round(oursBest),
      bullmq_per_s: bullmqBest === null ? null : Math.round(bullmqBest),
      ratio_vs_bullmq: bullmqBest === null ? null : round(oursBest / bullmqBest),
      sender_per_s: Math.round(senderBest),
      ratio_vs_sender: round(oursBest / senderBest),
      ceiling_per_s: Math.round(ceilingBest),
      ratio_vs_ceiling: round(oursBest / ceilingBest),
      floor_per_s: Math.round(floorBest),
      ratio_vs_floor: round(oursBest / floorBest),
      handed_back_per_round: oursRounds.map((r) => r.handedBack ?? 0),
      idle_slices_per_round: oursRounds.map((r) => r.idleSlices),
    };
  } finally {
    for (const system of systems) await system.close();
    await listener.stop();
  }
}
