import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fastTier } from '../../../test/tiers.js';
import type { postgresForTests } from './postgres.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const CLI = fileURLToPath(new URL('../src/cli/index.ts', import.meta.url));
const BUILT_CLI = fileURLToPath(new URL('../dist/cli/index.js', import.meta.url));
const BUILT_SDK = join(ROOT, 'packages/sdk/dist/index.js');
/** Each package's build, and what it is made from: when any of these is newer than it, it is stale. */
const BUILDS = [
  { built: BUILT_CLI, inputs: ['packages/server/src', 'packages/server/package.json'] },
  { built: BUILT_SDK, inputs: ['packages/sdk/src', 'packages/sdk/package.json'] },
];

function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

let builtCache: boolean | undefined;

/**
 * Whether child `ccb` processes can start from the build (about 1 s) rather than from the TypeScript
 * source through tsx (2–3 s): the built server and SDK exist, and each is newer than every file of
 * its own package's source. `CCB_TEST_FROM_SOURCE=1` forces the source.
 */
export function buildIsCurrent(): boolean {
  if (builtCache !== undefined) return builtCache;
  if (process.env.CCB_TEST_FROM_SOURCE === '1' || !existsSync(BUILT_CLI) || !existsSync(BUILT_SDK)) {
    builtCache = false;
    return builtCache;
  }
  builtCache = BUILDS.every(({ built, inputs }) => {
    const builtAt = statSync(built).mtimeMs;
    return inputs.every((input) => newestMtime(join(ROOT, input)) < builtAt);
  });
  return builtCache;
}

/** The node arguments that run the `ccb` CLI: the build when it is current, else the source. */
export function ccbCommand(): string[] {
  return buildIsCurrent() ? [BUILT_CLI] : ['--conditions=ccb-source', '--import', 'tsx', CLI];
}

export const ADMIN_HEADERS = { authorization: 'Bearer dev-admin-token', 'content-type': 'application/json' };
export const DEV_ACCOUNT = '0000123456-00001';

/** The options of a test that starts a child process in a file of the fast tier: npm test runs it, test:fast does not. */
export const childProcessTest: { skip?: string } = fastTier
  ? { skip: 'starts a child process: npm test runs it, npm run test:fast does not' }
  : {};

/** A `ccb serve` child process. */
export interface ServerProcess {
  child: ChildProcess;
  baseUrl: string;
  /** What the process printed so far (stdout and stderr), when spawned by spawnServer. */
  output?(): string;
}

/**
 * Starts the real `ccb` CLI as a child process from the repository root: from the build when it is
 * current (see buildIsCurrent), else from the TypeScript source.
 */
export function spawnCcb(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  if (fastTier) {
    throw new Error(
      'a child process in the fast tier: mark the file `// test tier: full` or the test with childProcessTest (test/tiers.ts)',
    );
  }
  return spawn(process.execPath, [...ccbCommand(), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** What a finished `ccb` run printed, and its exit code (-1 when killed by a signal). */
export interface CcbRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `ccb` to completion in a child process. A run still going after `timeout` ms (default 60 s) is
 * killed and rejects with what it printed, so a hung CLI fails its test instead of hanging the suite.
 */
export function runCcb(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  options: { timeout?: number } = {},
): Promise<CcbRun> {
  const timeout = options.timeout ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawnCcb(args, env);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr?.on('data', (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`ccb ${args.join(' ')} did not finish within ${timeout} ms\nstdout: ${stdout}\nstderr: ${stderr}`),
      );
    }, timeout);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/**
 * Starts `ccb serve --dev` as a child process on a free port of 127.0.0.1 with the given database
 * (a SQLite file path, or a database URL) plus any extra flags; resolves once it listens.
 */
export async function spawnServer(
  dbPath: string,
  flags: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<ServerProcess> {
  const child = spawnCcb(
    ['serve', '--dev', '--host', '127.0.0.1', '--port', '0', '--db', asDatabaseUrl(dbPath), ...flags],
    { CCB_ALLOWED_PORTS: 'any', CCB_LOG_LEVEL: 'warn', ...env },
  );
  let output = '';
  const baseUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start within 30 s:\n${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /serving on (http:\/\/[0-9.]+:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited with ${code}:\n${output}`));
    });
  });
  return { child, baseUrl, output: () => output };
}

const asDatabaseUrl = (db: string) => (/^(sqlite:|postgres(ql)?:\/\/)/.test(db) ? db : `sqlite:${db}`);

/** SIGKILL, then wait for the exit. */
export async function killHard(server: ServerProcess): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGKILL');
  await exited;
}

/** Registers `url` for the dev account the way an account would: OAuth token, session, register. */
export async function registerAsDevUser(baseUrl: string, serviceName: string, url: string): Promise<Response> {
  const token = await (
    await fetch(`${baseUrl}/api/ts/v1/oauth2/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from('demo-client:demo-secret').toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials',
    })
  ).json();
  const session = await (
    await fetch(`${baseUrl}/api/m2m/v1/session/login`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token.access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'demo', password: 'demo-password' }),
    })
  ).json();
  return fetch(`${baseUrl}/api/m2m/v1/callbacks/${DEV_ACCOUNT}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token.access_token}`,
      'vz-m2m-token': session.sessionToken,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ name: serviceName, url }),
  });
}

/** A listener on 127.0.0.1 that counts deliveries by `webhook-id`. */
export interface CountingListener {
  url: string;
  received: Map<string, number>;
  close(): Promise<void>;
}

/** Starts a CountingListener that answers 200 after `delayMs`. */
export async function startCountingListener(delayMs = 0): Promise<CountingListener> {
  const received = new Map<string, number>();
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      const id = String(request.headers['webhook-id']);
      received.set(id, (received.get(id) ?? 0) + 1);
      setTimeout(() => response.end('ok'), delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/callbacks`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A temporary folder holding `ccb.sqlite`, and the processes serving it; `cleanUp` kills and removes them all. */
export function processFixture(prefix: string) {
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  const servers: ServerProcess[] = [];
  const listeners: CountingListener[] = [];
  return {
    dbPath: join(dataDir, 'ccb.sqlite'),
    servers,
    listeners,
    async cleanUp() {
      for (const server of servers) await killHard(server);
      await Promise.all(listeners.map((listener) => listener.close()));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Two `ccb serve` processes on one new PostgreSQL database with one encryption key, started in a
 * `before` hook and killed in an `after` hook of the calling suite: `servers` fills once started.
 */
export function twoProcessesOnOneDatabase(pg: Awaited<ReturnType<typeof postgresForTests>>): ServerProcess[] {
  const servers: ServerProcess[] = [];
  let drop: () => Promise<void> = async () => {};
  before(async () => {
    if (pg.skip !== false) return;
    const database = await pg.postgres.createTestDatabase();
    drop = database.drop;
    const env = { CCB_ENCRYPTION_KEY: randomBytes(32).toString('hex') };
    servers.push(await spawnServer(database.url, [], env));
    servers.push(await spawnServer(database.url, [], env));
  });
  after(async () => {
    for (const server of servers) await killHard(server);
    await drop();
  });
  return servers;
}
