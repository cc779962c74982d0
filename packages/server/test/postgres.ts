import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { postgresBinaries, startThrowawayCluster } from '../../../test/postgres-cluster.js';
import { fastTier } from '../../../test/tiers.js';

/**
 * PostgreSQL for tests. With TEST_DATABASE_URL set (CI: .ci/run starts a cluster; `npm test` starts
 * one for the whole run with test/with-postgres.ts), that server is used; otherwise, when
 * PostgreSQL's binaries are installed (/usr/lib/postgresql/<v>/bin), this process starts its own
 * throwaway cluster on 127.0.0.1 in a temporary folder and stops it on exit.
 * Every `createTestDatabase()` is a new database of its own. When neither is possible the tests are
 * skipped with a printed reason; with CI=true that is a failure instead.
 */
export interface PostgresForTests {
  /** A fresh, empty database; dropped again by `drop()`. */
  createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }>;
}

let started: Promise<string | null> | null = null;

/** The server to create test databases on, or null when there is none (reason printed). */
function adminUrl(): Promise<string | null> {
  started ??= (async () => {
    if (process.env.TEST_DATABASE_URL) return process.env.TEST_DATABASE_URL;
    const bin = postgresBinaries();
    if (!bin) return null;
    const cluster = await startThrowawayCluster(bin);
    process.once('exit', () => cluster.stop());
    return cluster.url;
  })();
  return started;
}

/**
 * What a PostgreSQL test file needs: `skip` (a reason, for `describe(..., { skip })`) or the means to
 * make databases. Throws under CI=true when PostgreSQL is missing, so CI never passes without it.
 */
export async function postgresForTests(): Promise<{ skip: string } | { skip: false; postgres: PostgresForTests }> {
  if (fastTier) return { skip: 'PostgreSQL: npm test runs these, npm run test:fast does not' };
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
