import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { ACCOUNT, CcbClient, registerApiListeners } from './lib/ccb-client.js';
import type { BenchContext } from './lib/context.js';
import { startChild } from './lib/ipc.js';
import { type LoadOptions, type LoadResult, load } from './lib/load.js';
import { round } from './lib/stats.js';
import { startCcb, tempDatabase } from './targets/ccb.js';

export interface ApiResult {
  list_rps: number;
  register_rps: number;
  bare_fastify_rps: number;
  bare_insert_rps: number;
  list_ratio: number;
  register_ratio: number;
}

const LIST_PATH = `/api/m2m/v1/callbacks/${ACCOUNT}`;
const REGISTER_BODY = JSON.stringify({ name: 'CarrierService', url: 'http://127.0.0.1:9001/x' });
/**
 * Each pair is measured in alternating rounds (ours, peer, ours, peer, …) and the best round of each
 * kept, so a burst of other work on the machine does not land on one side only.
 */
const ROUNDS = 3;

/** Authenticated list and register on our server against bare Fastify doing the least for the same requests. */
export async function runApi(ctx: BenchContext): Promise<ApiResult> {
  const seconds = ctx.quick ? 5 : 10;
  const warmupSeconds = ctx.quick ? 1 : 2;

  const ours = await startCcb('api');
  const bare = tempDatabase('bare');
  try {
    const client = new CcbClient(ours.address);
    const session = await client.login();
    await registerApiListeners(client, session);
    const listJson = await client.list(session);
    await client.close();
    ctx.log(`  our server at ${ours.address}; the list response is ${JSON.stringify(listJson).length} bytes`);
    const peer = await startChild<{ address: string }>('bare-fastify', 'peers/bare-fastify.ts', {
      db: join(bare.dir, 'bare.sqlite'),
      listJson,
    });
    try {
      const best = async (what: string, options: LoadOptions, peerOptions: LoadOptions) => {
        let oursBest: LoadResult | null = null;
        let peerBest: LoadResult | null = null;
        for (let round = 1; round <= ROUNDS; round++) {
          for (const [side, opts] of [
            ['ours', options],
            ['peer', peerOptions],
          ] as const) {
            const r = await load({ ...opts, seconds, warmupSeconds });
            ctx.log(
              `  ${what} ${side} round ${round}: ${Math.round(r.rps)} req/s (p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms)`,
            );
            if (r.non2xx || r.errors)
              ctx.note(`api ${what} ${side}: ${r.non2xx} non-2xx responses, ${r.errors} errors`);
            if (side === 'ours' && r.rps > (oursBest?.rps ?? -1)) oursBest = r;
            if (side === 'peer' && r.rps > (peerBest?.rps ?? -1)) peerBest = r;
          }
        }
        return { ours: oursBest!.rps, peer: peerBest!.rps };
      };
      const list = await best(
        'GET list',
        { url: ours.address + LIST_PATH, headers: session.headers, seconds },
        { url: peer.info.address + LIST_PATH, seconds },
      );
      const register = await best(
        'POST register',
        { url: ours.address + LIST_PATH, method: 'POST', headers: session.headers, body: REGISTER_BODY, seconds },
        { url: peer.info.address + LIST_PATH, method: 'POST', body: REGISTER_BODY, seconds },
      );
      return {
        list_rps: Math.round(list.ours),
        register_rps: Math.round(register.ours),
        bare_fastify_rps: Math.round(list.peer),
        bare_insert_rps: Math.round(register.peer),
        list_ratio: round(list.ours / list.peer),
        register_ratio: round(register.ours / register.peer),
      };
    } finally {
      await peer.stop();
    }
  } finally {
    await ours.dispose();
    rmSync(bare.dir, { recursive: true, force: true });
  }
}
