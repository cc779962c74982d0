import { SERVICES } from '@ccb/sdk';
import { awaitDeliveries, type Listener, startListener, timelineSummary } from './delivery.js';
import { ACCOUNT, CcbClient, publishMany } from './lib/ccb-client.js';
import { type BenchContext, countOverride } from './lib/context.js';
import { carrierPayload } from './lib/payload.js';
import { round } from './lib/stats.js';
import { startCcb } from './targets/ccb.js';

export interface IsolationResult {
  healthy_ratio: number;
  /** Per round with all ten origins healthy: messages handed back (none expected) and idle 100 ms slices. */
  healthy_handed_back_per_round: number[];
  healthy_idle_slices_per_round: number[];
  /** Per round with one origin hanging: messages handed back (the hanging origin's, shed) and idle slices. */
  hanging_handed_back_per_round: number[];
  hanging_idle_slices_per_round: number[];
}

interface Round {
  rate: number;
  handedBack: number;
  idleSlices: number;
}

/** Ten services of the demo account, each registered to its own listener origin (port). */
const SERVICE_NAMES = SERVICES.slice(0, 10).map((service) => service.name);
const HANGING = 0;
const ATTEMPT_TIMEOUT = '2s';

/**
 * The rate at which the nine healthy origins receive their share of `count` messages, spread
 * round-robin over ten origins, when origin 0 answers normally (`hang` false) or never answers.
 */
async function healthyRate(ctx: BenchContext, listener: Listener, count: number, hang: boolean): Promise<Round> {
  const server = await startCcb(hang ? 'isolation-hang' : 'isolation-base', {
    attemptTimeout: ATTEMPT_TIMEOUT,
    retrySchedule: '5m',
  });
  try {
    const client = new CcbClient(server.address);
    const session = await client.login();
    for (const [i, name] of SERVICE_NAMES.entries()) {
      await client.register(session, { name, url: `http://127.0.0.1:${listener.info.ports[i]}/${name}` });
    }
    await listener.call('reset', { hang: hang ? [HANGING] : [] });
    const make = (i: number) => ({
      accountName: ACCOUNT,
      serviceName: SERVICE_NAMES[i % SERVICE_NAMES.length],
      payload: carrierPayload(i),
    });
    await publishMany(client, count, make);
    const healthyShare = count - Math.ceil(count / SERVICE_NAMES.length);
    const result = await awaitDeliveries(listener, healthyShare, 300_000, (_, i) => i !== HANGING);
    if (result.count < healthyShare) {
      ctx.note(`isolation: healthy listeners got ${result.count} of ${healthyShare} before the time limit`);
    }
    await client.close();
    const handedBack = await server.handedBack();
    const shape = await timelineSummary(listener);
    ctx.log(
      `  ${hang ? 'one of ten origins hanging' : 'all ten origins healthy'}: ` +
        `healthy origins received ${result.count} at ${Math.round(result.rate)}/s; ${shape.text}; ${handedBack} handed back`,
    );
    return { rate: result.rate, handedBack, idleSlices: shape.idleSlices };
  } finally {
    await listener.call('reset');
    await server.dispose();
  }
}

/** Alternating rounds (healthy, hanging) × 3, best of each kept, as in the other sections. */
const ROUNDS = 3;
/**
 * Messages per round. The window must outlast the engine's reactions to the hanging origin (found
 * stuck after 500 ms, its attempts timing out after 2 s): 10,000 were delivered in about half a
 * second on a quiet machine, so one pause of the hanging round decided the figure (1.02, then 0.46).
 * 40,000 take about 2 s there, past the first timeouts.
 */
const COUNT = { quick: 40_000, full: 80_000 };

export async function runIsolation(ctx: BenchContext): Promise<IsolationResult> {
  const count = countOverride('isolation', ctx.quick ? COUNT.quick : COUNT.full);
  const listener = await startListener(SERVICE_NAMES.length);
  try {
    const healthy: Round[] = [];
    const hanging: Round[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      healthy.push(await healthyRate(ctx, listener, count, false));
      hanging.push(await healthyRate(ctx, listener, count, true));
    }
    const best = (rounds: Round[]) => Math.max(...rounds.map((r) => r.rate));
    return {
      healthy_ratio: round(best(hanging) / best(healthy)),
      healthy_handed_back_per_round: healthy.map((r) => r.handedBack),
      healthy_idle_slices_per_round: healthy.map((r) => r.idleSlices),
      hanging_handed_back_per_round: hanging.map((r) => r.handedBack),
      hanging_idle_slices_per_round: hanging.map((r) => r.idleSlices),
    };
  } finally {
    await listener.stop();
  }
}
