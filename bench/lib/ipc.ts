import { type ChildProcess, fork } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Every process of a benchmark (our server, the peers, the listener) is a child of the orchestrator
 * talking over Node's IPC channel, so the load generator never shares a CPU-bound event loop with the
 * system under test, and control messages never travel on the measured HTTP path.
 */

const BENCH_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
export const LOG_DIR = join(BENCH_DIR, 'results', 'logs');
/** BENCH_PROFILE=1 writes a V8 CPU profile of each of our server processes here (open in Chrome DevTools). */
export const PROFILE_DIR = join(BENCH_DIR, 'results', 'profiles');

// Each handler declares its own argument type; the orchestrator is trusted to send matching ones.
/** Every process the benchmark started and has not seen exit, so an interrupted run leaves none behind. */
const live = new Set<ChildProcess>();

export function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
}

export function killAll(): void {
  for (const child of live) child.kill('SIGKILL');
}

type Handler = (args: never) => unknown;

interface ChildMessage {
  ready?: boolean;
  info?: unknown;
  rpc?: number;
  result?: unknown;
  error?: string;
}

interface Request {
  rpc: number;
  cmd: string;
  args: unknown;
}

/** Child side: answers the parent's calls and announces readiness with `info`. */
export function serveRpc(handlers: Record<string, Handler>): { ready(info: unknown): void } {
  process.on('message', async (raw: Request) => {
    if (typeof raw !== 'object' || raw === null || typeof raw.rpc !== 'number') return;
    const handler = handlers[raw.cmd];
    try {
      if (!handler) throw new Error(`unknown command ${raw.cmd}`);
      const result = await handler(raw.args as never);
      process.send?.({ rpc: raw.rpc, result });
    } catch (err) {
      process.send?.({ rpc: raw.rpc, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    }
  });
  // An orphaned child must not outlive a crashed orchestrator.
  process.on('disconnect', () => process.exit(0));
  return { ready: (info) => process.send?.({ ready: true, info }) };
}

export interface BenchChild<Info> {
  name: string;
  pid: number;
  info: Info;
  process: ChildProcess;
  call<T = unknown>(cmd: string, args?: unknown, timeoutMs?: number): Promise<T>;
  /** Asks the child to stop (`stop` command), then kills it if it does not exit in time. */
  stop(timeoutMs?: number): Promise<void>;
}

/**
 * Starts `bench/<script>` as a TypeScript child (tsx, with the server's source export condition) and
 * waits for its ready message. Output goes to bench/results/logs/<name>.log.
 */
export async function startChild<Info>(
  name: string,
  script: string,
  options: unknown,
  {
    env = {},
    readyTimeoutMs = 60_000,
    profile = false,
  }: { env?: Record<string, string>; readyTimeoutMs?: number; profile?: boolean } = {},
): Promise<BenchChild<Info>> {
  mkdirSync(LOG_DIR, { recursive: true });
  const log = createWriteStream(join(LOG_DIR, `${name}.log`), { flags: 'a' });
  const child = fork(join(BENCH_DIR, script), [JSON.stringify(options)], {
    execArgv: [
      '--conditions=ccb-source',
      '--import',
      'tsx',
      // One folder per child: the loader thread of tsx writes a profile of its own beside the main one.
      ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${join(PROFILE_DIR, name)}`] : []),
    ],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  track(child);
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  let nextId = 1;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let exited = false;
  const exitPromise = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', (code, signal) => {
    exited = true;
    for (const p of pending.values()) p.reject(new Error(`${name} exited (${code ?? signal}), see ${LOG_DIR}`));
    pending.clear();
  });
  const info = await new Promise<Info>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} not ready after ${readyTimeoutMs} ms`)), readyTimeoutMs);
    child.on('message', (msg: ChildMessage) => {
      if (msg?.ready) {
        clearTimeout(timer);
        resolve(msg.info as Info);
        return;
      }
      const p = msg?.rpc === undefined ? undefined : pending.get(msg.rpc);
      if (!p || msg.rpc === undefined) return;
      pending.delete(msg.rpc);
      if (msg.error) p.reject(new Error(`${name}: ${msg.error}`));
      else p.resolve(msg.result);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited before ready (${code ?? signal}), see ${join(LOG_DIR, `${name}.log`)}`));
    });
  });
  const call = <T>(cmd: string, args?: unknown, timeoutMs = 120_000): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (exited) return reject(new Error(`${name} has exited`));
      const rpc = nextId++;
      const timer = setTimeout(() => {
        pending.delete(rpc);
        reject(new Error(`${name}: ${cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(rpc, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      child.send({ rpc, cmd, args });
    });
  return {
    name,
    pid: child.pid!,
    info,
    process: child,
    call,
    async stop(timeoutMs = 20_000) {
      if (exited) return;
      await call('stop', undefined, timeoutMs).catch(() => undefined);
      const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      if (!exited) child.disconnect?.();
      await exitPromise;
      clearTimeout(killer);
      log.end();
    },
  };
}
