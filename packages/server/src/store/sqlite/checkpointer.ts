import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

const require = createRequire(import.meta.url);

/** How often the background connection folds the write-ahead log back into the database. */
const CHECKPOINT_INTERVAL_MS = 250;
/**
 * WAL pages after which the main connection checkpoints by itself anyway: only reached if the
 * background checkpointer falls behind or is gone, so the log cannot grow without bound.
 */
export const FALLBACK_AUTOCHECKPOINT_PAGES = 20_000;

// Plain CommonJS evaluated in the worker, so it needs no TypeScript loader; it opens its own
// connection to the same file and runs PASSIVE checkpoints, which never block the writer.
const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('busy_timeout = 1000');
const timer = setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch { /* busy: the next round catches up */ }
}, workerData.intervalMs);
parentPort.once('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

/**
 * Runs SQLite's WAL checkpoints on a worker thread. A checkpoint copies the log into the database file
 * and syncs it to disk; done by the committing connection (SQLite's default) it stalls the event loop
 * for milliseconds at a time, which shows directly in publish and delivery latency.
 */
export class WalCheckpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;
  private stopping: Promise<void> | null = null;

  constructor(path: string, intervalMs = CHECKPOINT_INTERVAL_MS) {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      execArgv: [],
      workerData: { path, driver: require.resolve('better-sqlite3'), intervalMs },
    });
    this.exited = new Promise((resolve) => {
      this.worker.once('exit', () => resolve());
      // Without the worker the main connection's fallback checkpoints take over; nothing is lost.
      this.worker.once('error', () => resolve());
    });
    this.worker.unref();
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      // Referenced again while stopping, so the process waits for the worker's connection to close.
      this.worker.ref();
      this.worker.postMessage('stop');
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 2_000);
      });
      await Promise.race([this.exited, timeout]);
      clearTimeout(timer);
      await this.worker.terminate();
    })();
    return this.stopping;
  }
}
