/**
 * `node --import tsx bench/pg-idle.ts [--samples 40]`: the idle publish → listener latency of the
 * postgres section alone (an api process publishes one message at a time, a worker process delivers
 * it, idle between), on a throwaway durable cluster. Prints the p50 and p90. A busy machine moves
 * the figures, but an idle message waiting for a poll interval or a timer shows as tens of ms.
 */
import { startListener } from './delivery.js';
import { benchArgs } from './lib/args.js';
import { startPostgres } from './lib/postgres.js';
import { idleLatency } from './postgres.js';

const flags = benchArgs(
  `node --import tsx bench/pg-idle.ts [--samples N]

The idle publish → listener latency of the postgres section alone, on a throwaway durable cluster.
  --samples N  messages published one at a time (default 40)`,
  { samples: { type: 'string', default: '40' } },
  ['samples'],
);
const samples = Number(flags.samples);

const postgres = await startPostgres();
if (!postgres) throw new Error('PostgreSQL is not installed');
const listener = await startListener();
try {
  const ctx = { quick: true, log: (m: string) => console.log(m), note: (m: string) => console.log(m) };
  await idleLatency(ctx, postgres, listener, samples);
} finally {
  await listener.stop();
  await postgres.stop();
}
