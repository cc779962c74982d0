import { SERVICES } from '@ccb/sdk';
import { awaitDeliveries, type Listener, startListener, timelineSummary } from './delivery.js';
import { ADMIN_TOKEN, CcbClient, publishMany } from './lib/ccb-client.js';
import type { BenchContext } from './lib/context.js';
import { carrierPayload } from './lib/payload.js';
import { round } from './lib/stats.js';
import { startCcb } from './targets/ccb.js';

/**
 * Delivery controls (SPEC §11) at volume: the delivery rate to 100 registrations with every control
 * off, with FIFO on for all of them, and with a rate limit on for all of them, each on a fresh server
 * (SQLite), messages spread round-robin over the registrations, all to one listener origin.
 */
export interface ControlsResult {
  registrations: number;
  off_per_s: number;
  fifo_per_s: number;
  fifo_ratio_vs_off: number;
  /** The limit set on each registration, and the sum over all of them (the most the round may reach). */
  rate_limit_per_registration_per_s: number;
  rate_limit_sum_per_s: number;
  rate_limited_per_s: number;
}

/** What the results file and the table say while the settings route is not there. */
export const CONTROLS_MISSING =
  'controls not measured: this server has no PATCH /admin/v1/callbacks/{aname}/{sname}/settings route';

const REGISTRATIONS = 100;
const RATE_PER_REGISTRATION = 100;
const USER = { username: 'bench-controls', password: 'bench-controls-password' };
/** 17 services per account: six accounts hold 100 registrations. */
const ACCOUNTS = Array.from(
  { length: Math.ceil(REGISTRATIONS / SERVICES.length) },
  (_, i) => `bench-controls-${i + 1}`,
);
const TARGETS = Array.from({ length: REGISTRATIONS }, (_, i) => ({
  account: ACCOUNTS[Math.floor(i / SERVICES.length)],
  service: SERVICES[i % SERVICES.length].name,
}));

type Mode = 'off' | 'fifo' | 'rate';
const SETTINGS: Record<Mode, Record<string, unknown> | null> = {
  off: null,
  fifo: { ordering: 'fifo' },
  rate: { rateLimit: { perSecond: RATE_PER_REGISTRATION } },
};

/** PATCHes a registration's settings; false when the route does not exist (404 for a registration that does). */
async function patchSettings(client: CcbClient, target: (typeof TARGETS)[number], body: unknown): Promise<boolean> {
  const res = await client.pool.request({
    method: 'PATCH',
    path: `/admin/v1/callbacks/${target.account}/${target.service}/settings`,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.body.text();
  if (res.statusCode === 404) return false;
  if (res.statusCode >= 300) throw new Error(`PATCH settings → ${res.statusCode}: ${text.slice(0, 300)}`);
  return true;
}

/** One round on a fresh server: registers the 100, applies the mode's settings, delivers `count`; null without the route. */
async function measure(ctx: BenchContext, listener: Listener, mode: Mode, count: number): Promise<number | null> {
  const server = await startCcb(`controls-${mode}`);
  const client = new CcbClient(server.address);
  try {
    await client.createUser(USER.username, USER.password, ACCOUNTS);
    const session = await client.login(USER.username, USER.password);
    const url = `http://127.0.0.1:${listener.info.ports[0]}`;
    for (const target of TARGETS) {
      await client.register(session, { name: target.service, url: `${url}/${target.service}` }, target.account);
    }
    const settings = SETTINGS[mode];
    if (settings) {
      for (const target of TARGETS) {
        if (!(await patchSettings(client, target, settings))) return null;
      }
    }
    await listener.call('reset');
    await publishMany(client, count, (i) => ({
      accountName: TARGETS[i % REGISTRATIONS].account,
      serviceName: TARGETS[i % REGISTRATIONS].service,
      payload: carrierPayload(i),
    }));
    const result = await awaitDeliveries(listener, count, 600_000);
    if (result.count < count) ctx.note(`controls ${mode}: only ${result.count} of ${count} arrived in time`);
    const shape = await timelineSummary(listener);
    ctx.log(
      `  ${mode === 'off' ? 'controls off' : mode === 'fifo' ? 'FIFO on' : `rate limit ${RATE_PER_REGISTRATION}/s on`} ` +
        `for ${REGISTRATIONS} registrations: ${result.count} deliveries at ${Math.round(result.rate)}/s; ${shape.text}; ` +
        `${await server.handedBack()} handed back`,
    );
    return result.rate;
  } finally {
    await client.close();
    await server.dispose();
  }
}

export async function runControls(ctx: BenchContext): Promise<ControlsResult | null> {
  const count = ctx.quick ? 10_000 : 20_000;
  const listener = await startListener();
  try {
    // FIFO first: without the settings route nothing else is worth running.
    const fifo = await measure(ctx, listener, 'fifo', count);
    const off = fifo === null ? null : await measure(ctx, listener, 'off', count);
    const rate = off === null ? null : await measure(ctx, listener, 'rate', count);
    if (fifo === null || off === null || rate === null) {
      ctx.note(CONTROLS_MISSING);
      return null;
    }
    return {
      registrations: REGISTRATIONS,
      off_per_s: Math.round(off),
      fifo_per_s: Math.round(fifo),
      fifo_ratio_vs_off: round(fifo / off),
      rate_limit_per_registration_per_s: RATE_PER_REGISTRATION,
      rate_limit_sum_per_s: RATE_PER_REGISTRATION * REGISTRATIONS,
      rate_limited_per_s: Math.round(rate),
    };
  } finally {
    await listener.stop();
  }
}
