import { awaitDeliveries, type Listener, startListener } from './delivery.js';
import { ACCOUNT, CcbClient, publishMany } from './lib/ccb-client.js';
import type { BenchContext } from './lib/context.js';
import { carrierPayload } from './lib/payload.js';
import { sampleRss } from './lib/proc.js';
import { round } from './lib/stats.js';
import { startCcb, tempDatabase } from './targets/ccb.js';

export interface DrainResult {
  messages: number;
  max_rss_mb: number;
  rate_ratio: number;
}

const message = (i: number) => ({ accountName: ACCOUNT, serviceName: 'CarrierService', payload: carrierPayload(i) });

/**
 * A backlog of `count` pending messages, written while the server runs as `--role api` (no
 * dispatcher), then drained by a fresh `--role all` process whose RSS is sampled every 200 ms.
 */
async function drain(ctx: BenchContext, listener: Listener, count: number) {
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
    await publishMany(client, count, message, { parallel: 2 });
    const publishSeconds = (performance.now() - publishStart) / 1000;
    ctx.log(`  ${count} messages published in ${round(publishSeconds, 1)} s (${Math.round(count / publishSeconds)}/s)`);
    await client.close();
    await writer.stop();
    const early = await awaitDeliveries(listener, 1, 0);
    if (early.count > 0) ctx.note(`drain: ${early.count} messages were delivered while the server ran as role api`);
    await listener.call('reset');

    const worker = await startCcb(`drain-${count}-all`, { role: 'all' }, database);
    dispose = worker.dispose;
    const rss = sampleRss(worker.child.pid, 200);
    const result = await awaitDeliveries(listener, count, ctx.quick ? 400_000 : 1_500_000);
    const { maxMb } = rss.stop();
    if (result.count < count) ctx.note(`drain ${count}: only ${result.count} delivered before the time limit`);
    ctx.log(`  drained ${result.count} at ${Math.round(result.rate)}/s, max RSS ${Math.round(maxMb)} MB`);
    return { rate: result.rate, maxMb };
  } finally {
    await dispose();
  }
}

export async function runDrain(ctx: BenchContext): Promise<DrainResult> {
  const messages = ctx.quick ? 100_000 : 1_000_000;
  const listener = await startListener();
  try {
    const small = await drain(ctx, listener, 10_000);
    const big = await drain(ctx, listener, messages);
    return {
      messages,
      max_rss_mb: Math.round(big.maxMb),
      rate_ratio: round(big.rate / small.rate),
    };
  } finally {
    await listener.stop();
  }
}
