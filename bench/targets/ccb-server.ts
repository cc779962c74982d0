import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../../packages/server/src/config.js';
import { startServer } from '../../packages/server/src/server.js';
import { serveRpc } from '../lib/ipc.js';

/**
 * Our server as a system under test: `startServer` in its own process, dev profile (seeded demo
 * client, user and admin token), on a database given by the orchestrator.
 */
interface Options {
  db: string;
  role?: 'api' | 'worker' | 'all';
  attemptTimeout?: string;
  retrySchedule?: string;
  concurrency?: number;
  originConcurrency?: number;
}

const options = JSON.parse(process.argv[2] ?? '{}') as Options;
const env = {
  ...process.env,
  CCB_ALLOWED_PORTS: 'any',
  CCB_LOG_LEVEL: process.env.CCB_LOG_LEVEL ?? 'warn',
};
const config = loadConfig(
  {
    dev: true,
    port: 8080,
    // A database URL (PostgreSQL) as given; otherwise a SQLite file path.
    db: options.db.includes('://') ? options.db : `sqlite:${options.db}`,
    role: options.role ?? 'all',
    attemptTimeout: options.attemptTimeout,
    retrySchedule: options.retrySchedule,
    concurrency: options.concurrency,
    originConcurrency: options.originConcurrency,
  },
  env,
  // A key of its own per database, and the same one when a later process opens it again (drain).
  createHash('sha256').update(`ccb-bench:${options.db}`).digest(),
);
// loadConfig insists on a real port; the benchmark wants whatever is free.
config.port = 0;
config.host = '127.0.0.1';

const server = await startServer(config);
const rpc = serveRpc({
  /** Messages the dispatcher handed back to the store so far (ccb_messages_handed_back_total, all reasons). */
  async handedBack() {
    const { values } = await server.ctx.metrics.messagesHandedBack.get();
    return values.reduce((sum, v) => sum + v.value, 0);
  },
  /** Runs of the retention purge so far and their total seconds (ccb_retention_purge_duration_seconds). */
  async purges() {
    const { values } = await server.ctx.metrics.purgeDuration.get();
    const pick = (name: string) => values.find((v) => v.metricName === name)?.value ?? 0;
    return {
      count: pick('ccb_retention_purge_duration_seconds_count'),
      seconds: pick('ccb_retention_purge_duration_seconds_sum'),
    };
  },
  /** The main thread's event-loop utilisation since it started (performance.eventLoopUtilization). */
  async eventLoop() {
    return performance.eventLoopUtilization();
  },
  async stop() {
    await server.close();
    setTimeout(() => process.exit(0), 20);
  },
});
rpc.ready({ address: server.address });
