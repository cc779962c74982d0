import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/**
 * PostgreSQL for tests. With TEST_DATABASE_URL set (CI: .ci/run starts a cluster), that server is
 * used; otherwise, when PostgreSQL's binaries are installed (/usr/lib/postgresql/<v>/bin), this
 * process starts its own throwaway cluster on 127.0.0.1 in a temporary folder and stops it on exit.
 * Every `createTestDatabase()` is a new database of its own. When neither is possible the tests are
 * skipped with a printed reason; with CI=true that is a failure instead.
 */
export interface PostgresForTests {
  /** A fresh, empty database; dropped again by `drop()`. */
  createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }>;
}

let started: Promise<string | null> | null = null;

function binaries(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? join(root, versions[0], 'bin') : null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** initdb + pg_ctl as the `postgres` user when running as root (PostgreSQL refuses to run as root). */
async function startCluster(bin: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'ccb-pg-'));
  const asRoot = userInfo().uid === 0;
  const run = (command: string, args: string[]) =>
    asRoot
      ? execFileSync('runuser', ['-u', 'postgres', '--', join(bin, command), ...args], { stdio: 'pipe' })
      : execFileSync(join(bin, command), args, { stdio: 'pipe' });
  if (asRoot) {
    const { uid, gid } = postgresUser();
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  // Test clusters need no durability: fsync off keeps CREATE DATABASE and commits fast.
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300`;
  run('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'log'), '-w', 'start']);
  process.once('exit', () => {
    const stop = ['-D', data, '-m', 'immediate', 'stop'];
    if (asRoot) spawnSync('runuser', ['-u', 'postgres', '--', join(bin, 'pg_ctl'), ...stop], { stdio: 'ignore' });
    else spawnSync(join(bin, 'pg_ctl'), stop, { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  });
  return `postgres://postgres@127.0.0.1:${port}/postgres`;
}

function postgresUser(): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres']).toString().trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** The server to create test databases on, or null when there is none (reason printed). */
function adminUrl(): Promise<string | null> {
  started ??= (async () => {
    if (process.env.TEST_DATABASE_URL) return process.env.TEST_DATABASE_URL;
    const bin = binaries();
    if (!bin) return null;
    return startCluster(bin);
  })();
  return started;
}

/**
 * What a PostgreSQL test file needs: `skip` (a reason, for `describe(..., { skip })`) or the means to
 * make databases. Throws under CI=true when PostgreSQL is missing, so CI never passes without it.
 */
export async function postgresForTests(): Promise<{ skip: string } | { skip: false; postgres: PostgresForTests }> {
  const admin = await adminUrl();
  if (!admin) {
    const reason = 'PostgreSQL tests skipped: set TEST_DATABASE_URL or install PostgreSQL (/usr/lib/postgresql/*/bin)';
    if (process.env.CI === 'true') throw new Error(`${reason} (CI=true requires them)`);
    console.log(`# ${reason}`);
    return { skip: reason };
  }
  return {
    skip: false,
    postgres: {
      async createTestDatabase() {
        const name = `ccb_test_${randomBytes(6).toString('hex')}`;
        const client = new pg.Client({ connectionString: admin });
        await client.connect();
        try {
          await client.query(`CREATE DATABASE ${name}`);
        } finally {
          await client.end();
        }
        const url = new URL(admin);
        url.pathname = `/${name}`;
        return {
          url: url.toString(),
          async drop() {
            const c = new pg.Client({ connectionString: admin });
            await c.connect();
            try {
              await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
            } finally {
              await c.end();
            }
          },
        };
      },
    },
  };
}

/** A database for a test of a whole server (or several): its URL and how to remove it. */
export interface TestDatabaseBackend {
  name: 'SQLite' | 'PostgreSQL';
  /** A reason when this backend's tests must be skipped. */
  skip: string | false;
  create(): Promise<{ url: string; drop(): Promise<void> }>;
}

/** SQLite (a file in a temporary folder) and PostgreSQL (see postgresForTests), for tests run on both. */
export async function testDatabaseBackends(): Promise<TestDatabaseBackend[]> {
  const pg = await postgresForTests();
  return [
    {
      name: 'SQLite',
      skip: false,
      async create() {
        const dir = mkdtempSync(join(tmpdir(), 'ccb-db-'));
        return {
          url: `sqlite:${join(dir, 'ccb.sqlite')}`,
          drop: async () => rmSync(dir, { recursive: true, force: true }),
        };
      },
    },
    {
      name: 'PostgreSQL',
      skip: pg.skip,
      create() {
        if (pg.skip !== false) throw new Error(pg.skip);
        return pg.postgres.createTestDatabase();
      },
    },
  ];
}
