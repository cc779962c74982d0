import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Pool } from 'undici';
import { awaitDeliveries, startListener } from './delivery.js';
import { ACCOUNT, ADMIN_TOKEN, CcbClient } from './lib/ccb-client.js';
import type { BenchContext } from './lib/context.js';
import { startChild } from './lib/ipc.js';
import { carrierPayload } from './lib/payload.js';
import { cpuSeconds } from './lib/proc.js';
import { round, wallNow } from './lib/stats.js';
import { startCcb, tempDatabase } from './targets/ccb.js';

export interface IngestResult {
  messages: number;
  publish_per_s: number;
  delivered_per_s: number;
  bare_insert_per_s: number;
  ratio_vs_bare_insert: number;
}

/** Single publishes, as many producers do it (SPEC §10). */
const MESSAGES = 20_000;
const PRODUCERS = 64;
/** Alternating rounds (ours, bare) × 2, best of each kept. */
const ROUNDS = 2;

/** `count` single POSTs of publish bodies to `address`, `PRODUCERS` in flight; resolves with the time of the last answer. */
async function produce(address: string, count: number, offset: number): Promise<{ last: number; refused: number }> {
  const pool = new Pool(address, { connections: PRODUCERS, pipelining: 1 });
  const bodies = Array.from({ length: count }, (_, i) =>
    JSON.stringify({ accountName: ACCOUNT, serviceName: 'CarrierService', payload: carrierPayload(offset + i) }),
  );
  const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
  let next = 0;
  let refused = 0;
  let last = 0;
  const producer = async () => {
    while (next < count) {
      const body = bodies[next++];
      const res = await pool.request({ method: 'POST', path: '/admin/v1/messages', headers, body });
      await res.body.dump();
      if (res.statusCode !== 202) refused++;
      last = wallNow();
    }
  };
  try {
    await Promise.all(Array.from({ length: PRODUCERS }, producer));
  } finally {
    await pool.close();
  }
  return { last, refused };
}

/**
 * 20,000 single publishes (`POST /admin/v1/messages`) from 64 concurrent producers, timed until the
 * last one reached the listener, against a bare Fastify route doing one SQLite INSERT per publish.
 */
export async function runIngest(ctx: BenchContext): Promise<IngestResult> {
  const listener = await startListener();
  const server = await startCcb('ingest');
  const bare = tempDatabase('bare-ingest');
  const peer = await startChild<{ address: string }>('bare-fastify-ingest', 'peers/bare-fastify.ts', {
    db: join(bare.dir, 'bare.sqlite'),
    listJson: [],
  });
  try {
    const client = new CcbClient(server.address);
    const session = await client.login();
    await client.register(session, {
      name: 'CarrierService',
      url: `http://127.0.0.1:${listener.info.ports[0]}/carrier`,
    });
    await client.close();
    // Unmeasured warm-up of both.
    await listener.call('reset');
    await produce(server.address, 2_000, 0);
    await awaitDeliveries(listener, 2_000, 60_000);
    await produce(peer.info.address, 2_000, 0);

    const best = { publish: 0, delivered: 0, bare: 0 };
    for (let r = 1; r <= ROUNDS; r++) {
      await listener.call('reset');
      const cpuBefore = cpuSeconds(server.child.pid);
      const start = wallNow();
      const published = await produce(server.address, MESSAGES, r * MESSAGES);
      const delivered = await awaitDeliveries(listener, MESSAGES, 300_000);
      const cpu = cpuSeconds(server.child.pid) - cpuBefore;
      const publishRate = (MESSAGES * 1000) / (published.last - start);
      const deliveredRate = (delivered.count * 1000) / (delivered.last - start);
      if (published.refused > 0) ctx.note(`ingest round ${r}: ${published.refused} publishes not answered 202`);
      ctx.log(
        `  ours round ${r}: published at ${Math.round(publishRate)}/s, all ${delivered.count} delivered at ` +
          `${Math.round(deliveredRate)}/s end to end, ${round((cpu * 1e6) / MESSAGES)} µs server CPU per message`,
      );
      best.publish = Math.max(best.publish, publishRate);
      best.delivered = Math.max(best.delivered, deliveredRate);

      const bareStart = wallNow();
      const inserted = await produce(peer.info.address, MESSAGES, r * MESSAGES);
      const bareRate = (MESSAGES * 1000) / (inserted.last - bareStart);
      if (inserted.refused > 0) ctx.note(`ingest bare round ${r}: ${inserted.refused} requests not answered 202`);
      ctx.log(`  bare Fastify + INSERT round ${r}: ${Math.round(bareRate)} publishes/s`);
      best.bare = Math.max(best.bare, bareRate);
    }
    return {
      messages: MESSAGES,
      publish_per_s: Math.round(best.publish),
      delivered_per_s: Math.round(best.delivered),
      bare_insert_per_s: Math.round(best.bare),
      ratio_vs_bare_insert: round(best.delivered / best.bare),
    };
  } finally {
    await peer.stop();
    await server.dispose();
    await listener.stop();
    rmSync(bare.dir, { recursive: true, force: true });
  }
}
