/**
 * `node --import tsx bench/cpu.ts [--single] [--postgres] [--rounds N] [--count N]`: our server's CPU time per
 * delivery, alone (no peers): N rounds of `count` messages published in batches (or one per request
 * from 64 producers with --single) to one local listener, each round until the last delivery. Counts
 * the server process's user + system time from /proc, publish handling included; the median round is
 * the figure, with the main thread's share beside it (the rest: the SQLite checkpointer, GC and libuv
 * helpers). A quick way to see what a change to the engine costs or saves, also on a busy machine
 * where throughput says little. With --postgres the server runs on a throwaway PostgreSQL cluster
 * (bench/lib/postgres.ts), whose CPU time per delivery is printed too.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { API_OPERATIONS, runApiCpu } from './api-cpu.js';
import { awaitDeliveries, startListener, timelineShape } from './delivery.js';
import { benchArgs } from './lib/args.js';
import { ACCOUNT, ADMIN_TOKEN, CcbClient, publishMany } from './lib/ccb-client.js';
import { carrierPayload } from './lib/payload.js';
import { POSTGRES_MISSING, startPostgres } from './lib/postgres.js';
import { cpuSeconds, threadCpuSeconds } from './lib/proc.js';
import { startCcb } from './targets/ccb.js';

const flags = benchArgs(
  `node --import tsx bench/cpu.ts [--single] [--postgres] [--rounds N] [--count N]
node --import tsx bench/cpu.ts --api [--only list,register,publish] [--rounds N] [--seconds N]

Our server's CPU time per delivery, alone (no peers), publish included; the median round counts.
  --single    one message per request from 64 producers (default: batches of 1,000)
  --postgres  the server on a throwaway PostgreSQL cluster (its CPU printed too)
  --rounds N  rounds (default 3)
  --count N   messages per round (default 10000)
  --api       instead: the request path (--role api, nothing delivered): CPU time per request,
              requests per CPU-second and per second of the list, register and single-publish
              routes over HTTP (autocannon, 50 connections), after a second of warm-up
  --only      with --api: the operations to run, comma-separated (default all three)
  --seconds N with --api: seconds per round (default 5)
BENCH_PROFILE=1 in front also writes a V8 CPU profile of the server (bench/results/profiles/).`,
  {
    single: { type: 'boolean', default: false },
    postgres: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '3' },
    count: { type: 'string', default: '10000' },
    api: { type: 'boolean', default: false },
    only: { type: 'string', default: '' },
    seconds: { type: 'string', default: '5' },
  },
  ['rounds', 'count', 'seconds'],
);
const COUNT = Number(flags.count);
if (flags.api) {
  const only = flags.only ? flags.only.split(',') : [];
  const unknown = only.filter((name) => !(API_OPERATIONS as readonly string[]).includes(name));
  if (unknown.length) {
    console.error(
      `--only takes ${API_OPERATIONS.slice(0, -1).join(', ')} and ${API_OPERATIONS.at(-1)}, not "${unknown.join(',')}"`,
    );
    process.exit(2);
  }
  await runApiCpu({ rounds: Number(flags.rounds), seconds: Number(flags.seconds), only });
  process.exit(0);
}
const ROUNDS = Number(flags.rounds);
const MODE = flags.single ? 'single' : 'batch';
const listener = await startListener();
const postgres = flags.postgres ? await startPostgres() : null;
if (flags.postgres && !postgres) throw new Error(POSTGRES_MISSING);
const server = await startCcb(
  'cpu',
  {},
  postgres
    ? { dir: mkdtempSync(join(tmpdir(), 'ccb-bench-cpu-')), db: await postgres.createDatabase('ccb_cpu') }
    : undefined,
);
const client = new CcbClient(server.address);
const session = await client.login();
await client.register(session, { name: 'CarrierService', url: `http://127.0.0.1:${listener.info.ports[0]}/carrier` });
const message = (i: number) => ({ accountName: ACCOUNT, serviceName: 'CarrierService', payload: carrierPayload(i) });
async function single(count: number) {
  const pool = new Pool(server.address, { connections: 64 });
  const bodies = Array.from({ length: count }, (_, i) => JSON.stringify(message(i)));
  let next = 0;
  const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
  const producer = async () => {
    while (next < count) {
      const response = await pool.request({
        method: 'POST',
        path: '/admin/v1/messages',
        headers,
        body: bodies[next++],
      });
      await response.body.dump();
    }
  };
  await Promise.all(Array.from({ length: 64 }, producer));
  await pool.close();
}
const publish = (n: number) => (MODE === 'single' ? single(n) : publishMany(client, n, message));
await listener.call('reset');
await publish(2000);
await awaitDeliveries(listener, 2000, 60000);
const results: number[] = [];
const mainResults: number[] = [];
const pid = server.child.pid;
for (let r = 0; r < ROUNDS; r++) {
  await listener.call('reset');
  const before = cpuSeconds(pid);
  const mainBefore = threadCpuSeconds(pid, pid);
  const databaseBefore = postgres?.cpuSeconds() ?? 0;
  await publish(COUNT);
  const d = await awaitDeliveries(listener, COUNT, 120000);
  const cpu = cpuSeconds(pid) - before;
  const mainCpu = threadCpuSeconds(pid, pid) - mainBefore;
  const database = postgres
    ? `, PostgreSQL ${(((postgres.cpuSeconds() - databaseBefore) * 1e6) / COUNT).toFixed(1)} µs`
    : '';
  results.push((cpu * 1e6) / COUNT);
  mainResults.push((mainCpu * 1e6) / COUNT);
  console.log(
    `round ${r + 1}: ${Math.round(d.rate)}/s, ${((cpu * 1e6) / COUNT).toFixed(1)} µs CPU/delivery (main thread ${((mainCpu * 1e6) / COUNT).toFixed(1)})${database}; ${await timelineShape(listener)}`,
  );
}
results.sort((a, b) => a - b);
mainResults.sort((a, b) => a - b);
const median = (values: number[]) => values[Math.floor(values.length / 2)].toFixed(1);
console.log(
  `${MODE}: median ${median(results)} µs server CPU per delivery (publish included), main thread ${median(mainResults)}`,
);
await client.close();
await server.dispose();
await listener.stop();
await postgres?.stop();
