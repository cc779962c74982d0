import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, platform, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDuration } from '../packages/server/src/settings.js';
import { type ApiResult, runApi } from './api.js';
import { type ControlsResult, runControls } from './controls.js';
import { type DeliveryResult, runDelivery } from './delivery.js';
import { type DrainResult, runDrain } from './drain.js';
import { type IngestResult, runIngest } from './ingest.js';
import { type IsolationResult, runIsolation } from './isolation.js';
import { type LatencyResult, runLatency } from './latency.js';
import { benchArgs } from './lib/args.js';
import type { BenchContext } from './lib/context.js';
import { killAll } from './lib/ipc.js';
import { fmt, formatTable } from './lib/table.js';
import { type PostgresResult, runPostgres } from './postgres.js';
import { runSoak } from './soak.js';

/** `npm run bench [-- --quick] [-- --only api,delivery]`: runs SPEC §10's benchmarks one after another. */

const SECTIONS = ['api', 'delivery', 'latency', 'drain', 'isolation', 'ingest', 'postgres', 'controls'] as const;
type Section = (typeof SECTIONS)[number];

interface Results {
  api: ApiResult | null;
  delivery: DeliveryResult | null;
  latency: LatencyResult | null;
  drain: DrainResult | null;
  isolation: IsolationResult | null;
  ingest: IngestResult | null;
  /** null when the section did not run or PostgreSQL is not installed (see notes). */
  postgres: PostgresResult | null;
  /** null when the section did not run or the server has no per-registration settings yet (see notes). */
  controls: ControlsResult | null;
  machine: { cpus: number; model: string; memory_gb: number; node: string; platform: string; date: string };
  /** Met or not; null when the section did not run; 'not measured' when its peer could not run. */
  targets: Record<string, boolean | null | 'not measured'>;
}

const flags = benchArgs(
  `npm run bench -- [--quick] [--only SECTIONS]
npm run bench -- --soak [--minutes N] [--rate N] [--every N] [--retention DURATION]

Measures our performance targets against peers, in one run, and writes bench/results/latest.json
(docs/benchmarks.md). Sections, in this order:
  api        list and register requests/s against a bare Fastify route (JSON; one SQLite INSERT)
  delivery   deliveries/s to one local listener (SQLite) against BullMQ + Redis, the sender (no
             database) and the SQLite durable floor; per round: messages handed back, idle 100 ms slices
  latency    publish → listener p50/p99 at 1,000 messages/s
  drain      a 1,000,000-message backlog (100,000 quick) against a 10,000 one: rate ratio, max RSS,
             messages handed back and idle 100 ms slices per drain
  isolation  the healthy origins' rate with 1 of 10 origins hanging; per round: handed back, idle slices
  ingest     single publishes from 64 producers until delivered, against a bare INSERT route
  postgres   deliveries/s on PostgreSQL against graphile-worker (batched and defaults), the sender and
             the PostgreSQL durable floor; WAL bytes, commits and tuples written per delivery (ours,
             graphile-worker batched, the floor); idle publish → listener p50 (worker in another process)
  controls   deliveries/s with FIFO on for 100 registrations and with a rate limit on for 100
             registrations (needs the per-registration settings route; skipped with a note without it)

  --quick           shorter loads and a 100,000-message drain (about 4 minutes instead of 11)
  --only a,b        a subset of the sections above
  --soak            instead of the sections: our server on PostgreSQL at a fixed publish rate with
                    retention of minutes, a reading every 30 s (rate, database size, dead tuples per
                    table, autovacuum runs, purges and their duration); writes bench/results/soak.json
  --minutes N       soak length (default 10)
  --rate N          soak publish rate, messages/s (default 2000)
  --every N         seconds between soak readings (default 30)
  --retention D     soak retention of delivered and failed messages (default: CCB_RETENTION_DELIVERED and
                    CCB_RETENTION_FAILED from the environment, else 2m); the purge runs every 30 s and history
                    partitions are 1 minute wide unless CCB_PURGE_INTERVAL / CCB_PARTITION_INTERVAL say
                    otherwise; every other CCB_* variable reaches the server as given
BENCH_PROFILE=1 in front also writes V8 CPU profiles of our server (bench/results/profiles/).
BENCH_DELIVERY_COUNT, BENCH_DRAIN_COUNT, BENCH_ISOLATION_COUNT, BENCH_POSTGRES_COUNT=N shorten that section's
rounds (the drain: its long backlog) for smoke runs; figures are taken at the defaults.`,
  {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    soak: { type: 'boolean', default: false },
    minutes: { type: 'string' },
    rate: { type: 'string' },
    every: { type: 'string' },
    retention: { type: 'string' },
  },
  ['minutes', 'rate', 'every'],
);
const SOAK_ONLY = ['minutes', 'rate', 'every', 'retention'] as const;
if (!flags.soak && SOAK_ONLY.some((name) => flags[name] !== undefined)) {
  console.error(`bench: --${SOAK_ONLY.find((name) => flags[name] !== undefined)} goes with --soak`);
  process.exit(2);
}
if (flags.soak && (flags.quick || flags.only)) {
  console.error('bench: --soak runs alone (no --quick, no --only)');
  process.exit(2);
}
if (flags.retention !== undefined) {
  try {
    parseDuration(flags.retention);
  } catch (error) {
    console.error(`bench: --retention: ${(error as Error).message}`);
    process.exit(2);
  }
}
if (flags.soak) {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAll();
      process.exit(130);
    });
  }
  await runSoak({
    minutes: Number(flags.minutes ?? 10),
    rate: Number(flags.rate ?? 2000),
    everyS: Number(flags.every ?? 30),
    retention: flags.retention,
  });
  process.exit(0);
}
const selected = (flags.only?.split(',').map((s) => s.trim()) ?? [...SECTIONS]) as Section[];
for (const s of selected) {
  if (!SECTIONS.includes(s)) {
    console.error(`bench: unknown section "${s}"; choose from ${SECTIONS.join(', ')}`);
    process.exit(2);
  }
}

const notes: string[] = [];
const ctx: BenchContext = {
  quick: flags.quick ?? false,
  log: (message) => console.log(message),
  note: (message) => {
    notes.push(message);
    console.log(`  note: ${message}`);
  },
};

const runners: { [K in Section]: (ctx: BenchContext) => Promise<Results[K]> } = {
  api: runApi,
  delivery: runDelivery,
  latency: runLatency,
  drain: runDrain,
  isolation: runIsolation,
  ingest: runIngest,
  postgres: runPostgres,
  controls: runControls,
};

const cpu = cpus();
const results: Results = {
  api: null,
  delivery: null,
  latency: null,
  drain: null,
  isolation: null,
  ingest: null,
  postgres: null,
  controls: null,
  machine: {
    cpus: cpu.length,
    model: cpu[0]?.model.trim() ?? 'unknown',
    memory_gb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${platform()} ${release()}`,
    date: new Date().toISOString(),
  },
  targets: {},
};

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAll();
    process.exit(130);
  });
}

const started = performance.now();
console.log(
  `bench: ${flags.quick ? 'quick' : 'full'} run of ${selected.join(', ')} on ${cpu.length} × ${results.machine.model}`,
);
for (const section of selected) {
  console.log(`\n[${section}]`);
  const t0 = performance.now();
  try {
    // biome-ignore lint/suspicious/noExplicitAny: the runner and its result slot share the section key
    (results as any)[section] = await runners[section](ctx);
  } catch (err) {
    ctx.note(`${section} failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  console.log(`  (${Math.round((performance.now() - t0) / 1000)} s)`);
}

const { api, delivery, latency, drain, isolation, ingest, postgres, controls } = results;
const atLeast = (value: number | undefined, min: number) =>
  value === undefined || !Number.isFinite(value) ? null : value >= min;
results.targets = {
  list_ratio: atLeast(api?.list_ratio, 0.7),
  register_ratio: atLeast(api?.register_ratio, 0.8),
  // A peer that could not run is marked, never counted as met.
  ratio_vs_bullmq:
    delivery && delivery.ratio_vs_bullmq === null ? 'not measured' : atLeast(delivery?.ratio_vs_bullmq ?? undefined, 2),
  ratio_vs_sender: atLeast(delivery?.ratio_vs_sender, 0.8),
  ratio_vs_floor: atLeast(delivery?.ratio_vs_floor, 0.9),
  latency_p50: latency ? latency.p50_ms <= 5 : null,
  latency_p99: latency ? latency.p99_ms <= 25 : null,
  drain_rss: drain ? drain.max_rss_mb < 300 : null,
  drain_rate: drain ? Math.abs(drain.rate_ratio - 1) <= 0.2 || drain.rate_ratio > 1 : null,
  isolation: atLeast(isolation?.healthy_ratio, 0.8),
  ingest_ratio: atLeast(ingest?.ratio_vs_bare_insert, 0.4),
  postgres_ratio_vs_graphile: atLeast(postgres?.ratio_vs_graphile, 1.5),
  postgres_ratio_vs_graphile_default: atLeast(postgres?.ratio_vs_graphile_default, 3),
  postgres_ratio_vs_sender: atLeast(postgres?.ratio_vs_sender, 0.75),
  postgres_ratio_vs_floor: atLeast(postgres?.ratio_vs_floor, 0.9),
  postgres_wal_vs_graphile: atMost(postgres?.wal_bytes_per_delivery, postgres?.graphile_wal_bytes_per_delivery),
  postgres_idle_p50: postgres ? postgres.idle_p50_ms <= 10 : null,
};

function atMost(value: number | undefined, limit: number | undefined): boolean | null {
  return value === undefined || limit === undefined || !Number.isFinite(value) || !Number.isFinite(limit)
    ? null
    : value <= limit;
}
const list = (values: number[] | undefined) => (values ? values.join(', ') : 'n/a');

const verdict = (met: boolean | null | 'not measured') =>
  met === 'not measured' ? 'NOT MEASURED' : met === null ? 'not run' : met ? 'met' : 'MISSED';
const t = results.targets;
const rows: (string | number)[][] = [
  [
    'list req/s (ours / bare Fastify)',
    `${fmt(api?.list_rps)} / ${fmt(api?.bare_fastify_rps)}`,
    fmt(api?.list_ratio, 2),
    '≥ 0.7',
    verdict(t.list_ratio),
  ],
  [
    'register req/s (ours / bare INSERT)',
    `${fmt(api?.register_rps)} / ${fmt(api?.bare_insert_rps)}`,
    fmt(api?.register_ratio, 2),
    '≥ 0.8',
    verdict(t.register_ratio),
  ],
  [
    'deliveries/s (ours / BullMQ)',
    `${fmt(delivery?.deliveries_per_s)} / ${fmt(delivery?.bullmq_per_s)}`,
    fmt(delivery?.ratio_vs_bullmq, 2),
    '≥ 2',
    verdict(t.ratio_vs_bullmq),
  ],
  [
    'deliveries/s (ours / sender, no database)',
    `${fmt(delivery?.deliveries_per_s)} / ${fmt(delivery?.sender_per_s)}`,
    fmt(delivery?.ratio_vs_sender, 2),
    '≥ 0.8',
    verdict(t.ratio_vs_sender),
  ],
  [
    'deliveries/s (ours / SQLite durable floor)',
    `${fmt(delivery?.deliveries_per_s)} / ${fmt(delivery?.floor_per_s)}`,
    fmt(delivery?.ratio_vs_floor, 2),
    '≥ 0.9',
    verdict(t.ratio_vs_floor),
  ],
  [
    'delivery rounds: handed back / idle 100 ms slices',
    `${list(delivery?.handed_back_per_round)} / ${list(delivery?.idle_slices_per_round)}`,
    '',
    'context',
    '',
  ],
  [
    'deliveries/s (ours / listener ceiling)',
    `${fmt(delivery?.deliveries_per_s)} / ${fmt(delivery?.ceiling_per_s)}`,
    fmt(delivery?.ratio_vs_ceiling, 2),
    'context',
    '',
  ],
  [`latency p50 at ${fmt(latency?.rate)} msg/s`, `${fmt(latency?.p50_ms, 2)} ms`, '', '≤ 5 ms', verdict(t.latency_p50)],
  [
    `latency p99 at ${fmt(latency?.rate)} msg/s`,
    `${fmt(latency?.p99_ms, 2)} ms`,
    '',
    '≤ 25 ms',
    verdict(t.latency_p99),
  ],
  [`drain ${fmt(drain?.messages)}: max RSS`, `${fmt(drain?.max_rss_mb)} MB`, '', '< 300 MB', verdict(t.drain_rss)],
  [`drain ${fmt(drain?.messages)}: rate vs 10,000`, '', fmt(drain?.rate_ratio, 2), 'within 20%', verdict(t.drain_rate)],
  [
    `drain 10,000 / ${fmt(drain?.messages)}: handed back / idle 100 ms slices`,
    `${list(drain?.handed_back_per_round)} / ${list(drain?.idle_slices_per_round)}`,
    '',
    'context',
    '',
  ],
  ['isolation: healthy rate, 1 of 10 hanging', '', fmt(isolation?.healthy_ratio, 2), '≥ 0.8', verdict(t.isolation)],
  [
    'isolation rounds, all healthy: handed back / idle slices',
    `${list(isolation?.healthy_handed_back_per_round)} / ${list(isolation?.healthy_idle_slices_per_round)}`,
    '',
    'context',
    '',
  ],
  [
    'isolation rounds, 1 hanging: handed back / idle slices',
    `${list(isolation?.hanging_handed_back_per_round)} / ${list(isolation?.hanging_idle_slices_per_round)}`,
    '',
    'context',
    '',
  ],
  [
    `ingest ${fmt(ingest?.messages)} single publishes, delivered/s (ours / bare INSERT)`,
    `${fmt(ingest?.delivered_per_s)} / ${fmt(ingest?.bare_insert_per_s)}`,
    fmt(ingest?.ratio_vs_bare_insert, 2),
    '≥ 0.4',
    verdict(t.ingest_ratio),
  ],
  [
    'PostgreSQL deliveries/s (ours / graphile-worker batched)',
    `${fmt(postgres?.deliveries_per_s)} / ${fmt(postgres?.graphile_per_s)}`,
    fmt(postgres?.ratio_vs_graphile, 2),
    '≥ 1.5',
    verdict(t.postgres_ratio_vs_graphile),
  ],
  [
    'PostgreSQL deliveries/s (ours / graphile-worker defaults)',
    `${fmt(postgres?.deliveries_per_s)} / ${fmt(postgres?.graphile_default_per_s)}`,
    fmt(postgres?.ratio_vs_graphile_default, 2),
    '≥ 3',
    verdict(t.postgres_ratio_vs_graphile_default),
  ],
  [
    'PostgreSQL deliveries/s (ours / sender)',
    `${fmt(postgres?.deliveries_per_s)} / ${fmt(postgres?.sender_per_s)}`,
    fmt(postgres?.ratio_vs_sender, 2),
    '≥ 0.75',
    verdict(t.postgres_ratio_vs_sender),
  ],
  [
    'PostgreSQL deliveries/s (ours / durable floor)',
    `${fmt(postgres?.deliveries_per_s)} / ${fmt(postgres?.floor_per_s)}`,
    fmt(postgres?.ratio_vs_floor, 2),
    '≥ 0.9',
    verdict(t.postgres_ratio_vs_floor),
  ],
  [
    'PostgreSQL WAL bytes per delivery (ours / graphile-worker batched)',
    `${fmt(postgres?.wal_bytes_per_delivery)} / ${fmt(postgres?.graphile_wal_bytes_per_delivery)}`,
    fmt(
      (postgres?.wal_bytes_per_delivery ?? Number.NaN) / (postgres?.graphile_wal_bytes_per_delivery ?? Number.NaN),
      2,
    ),
    '≤ 1.0',
    verdict(t.postgres_wal_vs_graphile),
  ],
  [
    'PostgreSQL tuples written per delivery (ours / graphile-worker batched / floor)',
    `${fmt(postgres?.tuples_per_delivery, 2)} / ${fmt(postgres?.graphile_tuples_per_delivery, 2)} / ${fmt(postgres?.floor_tuples_per_delivery, 2)}`,
    '',
    'context',
    '',
  ],
  [
    'PostgreSQL commits per delivery (ours / graphile-worker batched / floor)',
    `${fmt(postgres?.commits_per_delivery, 3)} / ${fmt(postgres?.graphile_commits_per_delivery, 3)} / ${fmt(postgres?.floor_commits_per_delivery, 3)}`,
    '',
    'context',
    '',
  ],
  [
    'PostgreSQL WAL bytes per delivery of the durable floor',
    fmt(postgres?.floor_wal_bytes_per_delivery),
    '',
    'context',
    '',
  ],
  [
    'PostgreSQL idle publish → listener p50 (worker in another process)',
    `${fmt(postgres?.idle_p50_ms, 2)} ms`,
    '',
    '≤ 10 ms',
    verdict(t.postgres_idle_p50),
  ],
  [
    `deliveries/s, ${fmt(controls?.registrations)} registrations: FIFO on / controls off`,
    `${fmt(controls?.fifo_per_s)} / ${fmt(controls?.off_per_s)}`,
    fmt(controls?.fifo_ratio_vs_off, 2),
    'context',
    '',
  ],
  [
    `deliveries/s, ${fmt(controls?.registrations)} registrations: rate limit on (sum of limits)`,
    `${fmt(controls?.rate_limited_per_s)} (${fmt(controls?.rate_limit_sum_per_s)})`,
    '',
    'context',
    '',
  ],
];
console.log(`\n${formatTable(['what', 'measured', 'ratio', 'target', 'result'], rows)}`);
if (notes.length) console.log(`\nnotes:\n${notes.map((n) => `- ${n}`).join('\n')}`);

const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');
mkdirSync(resultsDir, { recursive: true });
const json = `${JSON.stringify(results, null, 2)}\n`;
writeFileSync(join(resultsDir, 'latest.json'), json);
writeFileSync(
  join(resultsDir, `${flags.quick ? 'quick' : 'full'}-${results.machine.date.replace(/[:.]/g, '-')}.json`),
  json,
);
console.log(`\nwrote bench/results/latest.json (${Math.round((performance.now() - started) / 1000)} s in all)`);
