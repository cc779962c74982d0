import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { ACCOUNT, CcbClient } from './lib/ccb-client.js';
import type { BenchContext } from './lib/context.js';
import { startChild } from './lib/ipc.js';
import { type LoadResult, load } from './lib/load.js';
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
 * Authenticated list and register on our server, then the same requests on bare Fastify peers, one
 * after another with the same load generator settings.
 */
export async function runApi(ctx: BenchContext): Promise<ApiResult> {
  const seconds = ctx.quick ? 5 : 10;
  const warmupSeconds = ctx.quick ? 1 : 2;
  const check = (what: string, r: LoadResult) => {
    ctx.log(`  ${what}: ${Math.round(r.rps)} req/s (p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms)`);
    if (r.non2xx || r.errors) ctx.note(`api ${what}: ${r.non2xx} non-2xx responses, ${r.errors} errors`);
  };

  const ours = await startCcb('api');
  let listJson: unknown;
  let list: LoadResult;
  let register: LoadResult;
  try {
    const client = new CcbClient(ours.address);
    const session = await client.login();
    await client.register(session, { name: 'CarrierService', url: 'http://127.0.0.1:9001/x' });
    await client.register(session, {
      name: 'DeviceUsage',
      url: 'http://127.0.0.1:9003/usage',
      username: 'acme-prod',
      password: 'k9Vd2mQ7tR4zX8pL1sN6',
    });
    listJson = await client.list(session);
    await client.close();
    ctx.log(`  our server at ${ours.address}, list returns ${JSON.stringify(listJson).length} bytes`);
    list = await load({ url: ours.address + LIST_PATH, headers: session.headers, seconds, warmupSeconds });
    check('ours GET list', list);
    register = await load({
      url: ours.address + LIST_PATH,
      method: 'POST',
      headers: session.headers,
      body: REGISTER_BODY,
      seconds,
      warmupSeconds,
    });
    check('ours POST register', register);
  } finally {
    await ours.dispose();
  }

  const { dir } = tempDatabase('bare');
  const peer = await startChild<{ address: string }>('bare-fastify', 'peers/bare-fastify.ts', {
    db: join(dir, 'bare.sqlite'),
    listJson,
  });
  let bareList: LoadResult;
  let bareInsert: LoadResult;
  try {
    bareList = await load({ url: peer.info.address + LIST_PATH, seconds, warmupSeconds });
    check('bare Fastify GET', bareList);
    bareInsert = await load({
      url: peer.info.address + LIST_PATH,
      method: 'POST',
      body: REGISTER_BODY,
      seconds,
      warmupSeconds,
    });
    check('bare Fastify POST insert', bareInsert);
  } finally {
    await peer.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  return {
    list_rps: Math.round(list.rps),
    register_rps: Math.round(register.rps),
    bare_fastify_rps: Math.round(bareList.rps),
    bare_insert_rps: Math.round(bareInsert.rps),
    list_ratio: round(list.rps / bareList.rps),
    register_ratio: round(register.rps / bareInsert.rps),
  };
}
