/**
 * The request path's CPU (`bench/cpu.ts --api`): our server alone (`--role api`, SQLite, no peers,
 * nothing delivered) under autocannon over real HTTP, for the three requests SPEC §10 measures: the
 * authenticated list, the register (replacing the same registration) and a single publish. Per
 * operation: a warm-up second, then N rounds of `seconds` each; each round reports the server
 * process's CPU time per request (user + system, /proc), requests per CPU-second, requests per second
 * and how busy the server was (CPU seconds per wall second): well under 1 while the load generator
 * keeps 50 requests in flight means the request waits for something other than the CPU.
 */
import { ACCOUNT, ADMIN_TOKEN, CcbClient, registerApiListeners } from './lib/ccb-client.js';
import { load } from './lib/load.js';
import { carrierPayload } from './lib/payload.js';
import { cpuSeconds, loadAverage } from './lib/proc.js';
import { startCcb } from './targets/ccb.js';

/** The operations `--api` measures, in the order it runs them (`--only` names some of them). */
export const API_OPERATIONS = ['list', 'register', 'publish'] as const;

interface Operation {
  name: (typeof API_OPERATIONS)[number];
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

/** Runs the operations named in `only` (all three when empty) and prints one line per round and a median line. */
export async function runApiCpu(options: { rounds: number; seconds: number; only: string[] }): Promise<void> {
  const server = await startCcb('api-cpu', { role: 'api' });
  try {
    const client = new CcbClient(server.address);
    const session = await client.login();
    await registerApiListeners(client, session);
    await client.close();
    const listPath = `/api/m2m/v1/callbacks/${ACCOUNT}`;
    const operations: Operation[] = [
      { name: 'list', method: 'GET', path: listPath, headers: session.headers },
      {
        name: 'register',
        method: 'POST',
        path: listPath,
        headers: session.headers,
        body: JSON.stringify({ name: 'CarrierService', url: 'http://127.0.0.1:9001/x' }),
      },
      {
        name: 'publish',
        method: 'POST',
        path: '/admin/v1/messages',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        body: JSON.stringify({ accountName: ACCOUNT, serviceName: 'CarrierService', payload: carrierPayload(1) }),
      },
    ];
    const pid = server.child.pid;
    for (const op of operations.filter((o) => options.only.length === 0 || options.only.includes(o.name))) {
      const round = async (seconds: number) => {
        const loopBefore = await server.eventLoop();
        const before = cpuSeconds(pid);
        const started = process.hrtime.bigint();
        const result = await load({
          url: server.address + op.path,
          method: op.method,
          headers: op.headers,
          body: op.body,
          seconds,
        });
        const wall = Number(process.hrtime.bigint() - started) / 1e9;
        const cpu = cpuSeconds(pid) - before;
        const loopAfter = await server.eventLoop();
        const active = loopAfter.active - loopBefore.active;
        const loop = active / (active + loopAfter.idle - loopBefore.idle);
        if (result.non2xx || result.errors)
          throw new Error(`${op.name}: ${result.non2xx} non-2xx responses, ${result.errors} errors`);
        const n = result.requests;
        return { usPerRequest: (cpu * 1e6) / n, perCpuSecond: n / cpu, rps: n / wall, busy: cpu / wall, loop };
      };
      await round(1);
      const rounds = [];
      for (let r = 1; r <= options.rounds; r++) {
        const x = await round(options.seconds);
        rounds.push(x);
        console.log(
          `${op.name} round ${r}: ${x.usPerRequest.toFixed(1)} µs CPU/request, ${Math.round(x.perCpuSecond)} requests per CPU-second, ${Math.round(x.rps)} req/s, server busy ${x.busy.toFixed(2)}, its event loop ${x.loop.toFixed(2)} (load average ${loadAverage()})`,
        );
      }
      const median = <T>(values: T[], key: (v: T) => number) =>
        values.map(key).sort((a, b) => a - b)[Math.floor(values.length / 2)];
      console.log(
        `${op.name}: median ${median(rounds, (x) => x.usPerRequest).toFixed(1)} µs server CPU per request, ${Math.round(median(rounds, (x) => x.perCpuSecond))} per CPU-second, ${Math.round(median(rounds, (x) => x.rps))} req/s, busy ${median(rounds, (x) => x.busy).toFixed(2)}, event loop ${median(rounds, (x) => x.loop).toFixed(2)}`,
      );
    }
  } finally {
    await server.dispose();
  }
}
