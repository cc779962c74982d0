import { awaitDeliveries, startListener } from './delivery.js';
import { ACCOUNT, CcbClient } from './lib/ccb-client.js';
import type { BenchContext } from './lib/context.js';
import { carrierPayload } from './lib/payload.js';
import { percentile, round, sleep, wallNow } from './lib/stats.js';
import { startCcb } from './targets/ccb.js';

export interface LatencyResult {
  rate: number;
  p50_ms: number;
  p99_ms: number;
}

// BENCH_LATENCY_RATE changes the rate for diagnosis; the target is stated at 1,000 msg/s.
const RATE = Number(process.env.BENCH_LATENCY_RATE ?? 1_000);

/**
 * Publishes at a steady 1,000 messages/s and measures publish → listener receive. Each tick (about
 * 1 ms) sends the messages that have come due since the last one — one by one through the single
 * publish endpoint, or as one small batch when the timer was late — stamped with the send time.
 */
export async function runLatency(ctx: BenchContext): Promise<LatencyResult> {
  const seconds = ctx.quick ? 5 : 10;
  const warmupSeconds = 1;
  const listener = await startListener();
  const server = await startCcb('latency');
  try {
    const client = new CcbClient(server.address);
    const session = await client.login();
    await client.register(session, {
      name: 'CarrierService',
      url: `http://127.0.0.1:${listener.info.ports[0]}/carrier`,
    });
    await listener.call('reset', { latency: true });

    const total = (seconds + warmupSeconds) * RATE;
    const start = performance.now();
    const measureFrom = wallNow() + warmupSeconds * 1000;
    let sent = 0;
    let failures = 0;
    const inFlight = new Set<Promise<unknown>>();
    while (sent < total && performance.now() - start < (seconds + warmupSeconds) * 1000 + 5_000) {
      const due = Math.min(total, Math.floor(((performance.now() - start) * RATE) / 1000)) - sent;
      if (due > 0) {
        const benchSentAt = wallNow();
        const messages = Array.from({ length: due }, (_, k) => ({
          accountName: ACCOUNT,
          serviceName: 'CarrierService',
          payload: carrierPayload(sent + k, { benchSentAt }),
        }));
        const request = due === 1 ? client.publish(messages[0]) : client.publishBatch(messages);
        const tracked: Promise<unknown> = request
          .catch(() => {
            failures++;
          })
          .finally(() => inFlight.delete(tracked));
        inFlight.add(tracked);
        sent += due;
      }
      await sleep(1);
    }
    const achieved = (sent * 1000) / (performance.now() - start);
    await Promise.all(inFlight);
    if (failures) ctx.note(`latency: ${failures} publish requests failed`);
    const received = await awaitDeliveries(listener, sent, 60_000);
    if (received.count < sent) ctx.note(`latency: only ${received.count} of ${sent} messages arrived`);
    const samples = (await listener.call<{ sentAt: number; latencyMs: number }[]>('latencies'))
      .filter((s) => s.sentAt >= measureFrom)
      .map((s) => s.latencyMs)
      .sort((a, b) => a - b);
    await client.close();
    ctx.log(
      `  ${samples.length} samples at ${Math.round(achieved)} msg/s: p50 ${round(percentile(samples, 50))} ms, ` +
        `p90 ${round(percentile(samples, 90))} ms, p99 ${round(percentile(samples, 99))} ms, max ${round(samples.at(-1) ?? Number.NaN)} ms`,
    );
    return { rate: RATE, p50_ms: round(percentile(samples, 50)), p99_ms: round(percentile(samples, 99)) };
  } finally {
    await server.dispose();
    await listener.stop();
  }
}
