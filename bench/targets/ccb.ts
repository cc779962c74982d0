import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BenchChild, startChild } from '../lib/ipc.js';

export interface CcbServerOptions {
  role?: 'api' | 'worker' | 'all';
  attemptTimeout?: string;
  retrySchedule?: string;
  concurrency?: number;
  originConcurrency?: number;
}

export interface CcbServer {
  child: BenchChild<{ address: string }>;
  address: string;
  db: string;
  /** Messages its dispatcher has handed back to the store since it started. */
  handedBack(): Promise<number>;
  /** Runs of the retention purge since it started, and their total seconds. */
  purges(): Promise<{ count: number; seconds: number }>;
  /** Its main thread's event-loop time so far: idle and active milliseconds. */
  eventLoop(): Promise<{ idle: number; active: number }>;
  /** Stops the process; the database stays until `dispose`. */
  stop(): Promise<void>;
  dispose(): Promise<void>;
}

export function tempDatabase(label: string): { dir: string; db: string } {
  const dir = mkdtempSync(join(tmpdir(), `ccb-bench-${label}-`));
  return { dir, db: join(dir, 'ccb.sqlite') };
}

/** Starts our server in a child process on `db` (a fresh temporary database when omitted). */
export async function startCcb(
  label: string,
  options: CcbServerOptions = {},
  database?: { dir: string; db: string },
): Promise<CcbServer> {
  const { dir, db } = database ?? tempDatabase(label);
  const child = await startChild<{ address: string }>(
    `ccb-${label}`,
    'targets/ccb-server.ts',
    { db, ...options },
    { profile: process.env.BENCH_PROFILE === '1' },
  );
  return {
    child,
    address: child.info.address,
    db,
    handedBack: () => child.call<number>('handedBack'),
    purges: () => child.call<{ count: number; seconds: number }>('purges'),
    eventLoop: () => child.call<{ idle: number; active: number }>('eventLoop'),
    stop: () => child.stop(),
    async dispose() {
      await child.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
