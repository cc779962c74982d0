import { Queue } from 'bullmq';
import { CcbClient, publishMany } from './lib/ccb-client.js';
import type { BenchContext } from './lib/context.js';
import { type BenchChild, startChild } from './lib/ipc.js';
import { load } from './lib/load.js';
import { carrierPayload, deliveredBody } from './lib/payload.js';
import { startRedis } from './lib/redis.js';
import { ratePerSecond, round, waitFor } from './lib/stats.js';
import { startCcb } from './targets/ccb.js';

export interface DeliveryResult {
  deliveries_per_s: number;
  bullmq_per_s: number;
  ratio_vs_bullmq: number;
  ceiling_per_s: number;
  ratio_vs_ceiling: number;
}

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

export function startListener(ports = 1): Promise<Listener> {
  return startChild<{ ports: number[] }>('listener', 'listener.ts', { ports });
}

/** Waits until the listener has received `expected` requests on the given ports; returns their rate. */
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

const message = (i: number) => ({
  accountName: '0000123456-00001',
  serviceName: 'CarrierService',
  payload: carrierPayload(i),
});

/** Our engine delivering `count` messages (published through the batch API) to one listener. */
async function measureOurs(ctx: BenchContext, listener: Listener, count: number): Promise<number> {
  const server = await startCcb('delivery');
  try {
    const client = new CcbClient(server.address);
    const session = await client.login();
    await client.register(session, {
      name: 'CarrierService',
      url: `http://127.0.0.1:${listener.info.ports[0]}/carrier`,
    });
    const warmup = Math.min(2_000, count / 10);
    await listener.call('reset');
    await publishMany(client, warmup, message);
    await awaitDeliveries(listener, warmup, 60_000);
    await listener.call('reset');
    await publishMany(client, count, message);
    const result = await awaitDeliveries(listener, count, 600_000);
    if (result.count < count)
      ctx.note(`delivery ours: only ${result.count} of ${count} delivered before the time limit`);
    if (result.count > count) ctx.note(`delivery ours: ${result.count - count} duplicate deliveries`);
    await client.close();
    ctx.log(`  ours: ${result.count} deliveries at ${Math.round(result.rate)}/s`);
    return result.rate;
  } finally {
    await server.dispose();
  }
}

/** BullMQ + Redis doing the same deliveries: jobs added with addBulk, one worker process. */
async function measureBullmq(ctx: BenchContext, listener: Listener, count: number): Promise<number> {
  const redis = await startRedis();
  let worker: BenchChild<unknown> | undefined;
  const queue = new Queue('deliveries', {
    connection: { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null },
    defaultJobOptions: {
      attempts: 4,
      backoff: { type: 'fixed', delay: 300_000 },
      removeOnComplete: true,
      removeOnFail: false,
    },
  });
  try {
    worker = await startChild('bullmq-worker', 'peers/bullmq-worker.ts', {
      redisPort: redis.port,
      queue: 'deliveries',
      listener: `http://127.0.0.1:${listener.info.ports[0]}/carrier`,
      concurrency: BULLMQ_CONCURRENCY,
    });
    const enqueue = async (n: number) => {
      for (let start = 0; start < n; start += 1000) {
        const jobs = [];
        for (let i = start; i < Math.min(n, start + 1000); i++) {
          jobs.push({ name: 'deliver', data: { payload: message(i).payload } });
        }
        await queue.addBulk(jobs);
      }
    };
    const warmup = Math.min(2_000, count / 10);
    await listener.call('reset');
    await enqueue(warmup);
    await awaitDeliveries(listener, warmup, 60_000);
    await listener.call('reset');
    await enqueue(count);
    const result = await awaitDeliveries(listener, count, 600_000);
    if (result.count < count) ctx.note(`delivery BullMQ: only ${result.count} of ${count} delivered in time`);
    ctx.log(`  BullMQ (concurrency ${BULLMQ_CONCURRENCY}): ${result.count} deliveries at ${Math.round(result.rate)}/s`);
    return result.rate;
  } finally {
    await queue.close();
    await worker?.stop();
    await redis.stop();
  }
}

/** The listener's own maximum: autocannon POSTing the same body with keep-alive. */
async function measureCeiling(ctx: BenchContext, listener: Listener): Promise<number> {
  const body = deliveredBody(carrierPayload(1));
  const result = await load({
    url: `http://127.0.0.1:${listener.info.ports[0]}/carrier`,
    method: 'POST',
    headers: {
      'webhook-id': 'msg_2Vx7bq1Kq0d5m3c8f9a1b2c3d4e',
      'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
      'webhook-signature': `v1,${Buffer.alloc(32, 7).toString('base64')}`,
      'ccb-account': '0000123456-00001',
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
  const count = ctx.quick ? 10_000 : 20_000;
  const listener = await startListener();
  try {
    const ceiling = await measureCeiling(ctx, listener);
    const ours = await measureOurs(ctx, listener, count);
    const bullmq = await measureBullmq(ctx, listener, count);
    return {
      deliveries_per_s: Math.round(ours),
      bullmq_per_s: Math.round(bullmq),
      ratio_vs_bullmq: round(ours / bullmq),
      ceiling_per_s: Math.round(ceiling),
      ratio_vs_ceiling: round(ours / ceiling),
    };
  } finally {
    await listener.stop();
  }
}
