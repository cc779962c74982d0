import { awaitDeliveries, type Listener, ratesByTenth, startListener, timelineSummary } from './delivery.js';
import { ACCOUNT, CcbClient, publishMany } from './lib/ccb-client.js';
import { type BenchContext, countOverride } from './lib/context.js';
import { carrierPayload } from './lib/payload.js';
import { sampleRss } from './lib/proc.js';
import { ratePerSecond, round } from './lib/stats.js';
import { startCcb, tempDatabase } from './targets/ccb.js';

export interface DrainResult {
  messages: number;
  max_rss_mb: number;
  rate_ratio: number;
  /** Messages handed back by the draining process, in the 10,000-message drain and in the long one. */
  handed_back_per_round: number[];
  /** Idle 100 ms slices (no delivery) between the first and the last delivery, per drain as above. */
  idle_slices_per_round: number[];
}

/**
 * Both backlogs carry this many extra messages, and each rate starts at the last of them, so the JIT
 * warm-up of a fresh process does not weigh more on the short drain than on the long one.
 */
const WARMUP = 5_000;

const message = (i: number) => ({ accountName: ACCOUNT, serviceName: 'CarrierService', payload: carrierPayload(i) });

/**
 * A backlog of `count` (+ warm-up) pending messages, written while the server runs as `--role api` (no
 * dispatcher), then drained by a fresh `--role all` process whose RSS is sampled every 200 ms.
 */
async function drain(ctx: BenchContext, listener: Listener, count: number) {
  const total = count + WARMUP;
  const database = tempDatabase(`drain-${count}`);
  const writer = await startCcb(`drain-${count}-api`, { role: 'api' }, database);
  let dispose = writer.dispose;
  try {
    const client = new CcbClient(writer.address);
    const session = await client.login();
    await client.register(session, {
      name: 'CarrierService',
      url: `http://127.0.0.1:${listener.info.ports[0]}/carrier`,
    });
    await listener.call('reset');
    const publishStart = performance.now();
    await publishMany(client, total, message, { parallel: 2 });
    const publishSeconds = (performance.now() - publishStart) / 1000;
    ctx.log(`  ${total} messages published in ${round(publishSeconds, 1)} s (${Math.round(total / publishSeconds)}/s)`);
    await client.close();
    await writer.stop();
    const early = await awaitDeliveries(listener, 1, 0);
    if (early.count > 0) ctx.note(`drain: ${early.count} messages were delivered while the server ran as role api`);
    await listener.call('reset', { markAt: WARMUP });

    const worker = await startCcb(`drain-${count}-all`, { role: 'all' }, database);
    dispose = worker.dispose;
    const rss = sampleRss(worker.child.pid, 200);
    const result = await awaitDeliveries(listener, total, ctx.quick ? 400_000 : 1_500_000);
    const { maxMb } = rss.stop();
    const { markTime } = await listener.call<{ markTime: number }>('mark');
    const handedBack = await worker.handedBack();
    const { idleSlices } = await timelineSummary(listener);
    const rate = ratePerSecond(result.count - WARMUP + 1, markTime, result.last);
    if (result.count < total) ctx.note(`drain ${count}: only ${result.count} delivered before the time limit`);
    ctx.log(
      `  drained ${result.count} at ${Math.round(rate)}/s after the first ${WARMUP} ` +
        `(${Math.round(result.rate)}/s overall), max RSS ${Math.round(maxMb)} MB; ${await ratesByTenth(listener)}; ` +
        `${handedBack} handed back, ${idleSlices} idle 100 ms slices`,
    );
    return { rate, maxMb, handedBack, idleSlices };
  } finally {
    await dispose();
  }
}

export async function runDrain(ctx: BenchContext): Promise<DrainResult> {
  const messages = countOverride('drain', ctx.quick ? 100_000 : 1_000_000);
  const listener = await startListener();
  try {
    const small = await drain(ctx, listener, 10_000);
    const big = await drain(ctx, listener, messages);
    return {
      messages,
      max_rss_mb: Math.round(big.maxMb),
      rate_ratio: round(big.rate / small.rate),
      handed_back_per_round: [small.handedBack, big.handedBack],
      idle_slices_per_round: [small.idleSlices, big.idleSlices],
    };
  } finally {
    await listener.stop();
  }
}
