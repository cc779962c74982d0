import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { postgresBinaries, startThrowawayCluster } from '../../test/postgres-cluster.js';
import { cpuSeconds } from './proc.js';

/**
 * A throwaway PostgreSQL cluster for the benchmark, on 127.0.0.1 with durable commits as shipped
 * (fsync and synchronous_commit on): started with Debian's binaries (/usr/lib/postgresql/<v>/bin),
 * as the postgres user when the benchmark runs as root.
 */
export interface BenchPostgres {
  /** The cluster's superuser URL (database `postgres`): statistics are read through it. */
  adminUrl: string;
  /** Creates a database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** CPU seconds used so far by the cluster's live processes (the postmaster and its children), from /proc. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

export const POSTGRES_MISSING =
  'PostgreSQL not measured: its binaries are not installed (Debian/Ubuntu: sudo apt-get install postgresql)';

/** Null when PostgreSQL is not installed. */
export async function startPostgres(): Promise<BenchPostgres | null> {
  const bin = postgresBinaries();
  if (!bin) return null;
  const cluster = await startThrowawayCluster(bin, {
    durable: true,
    maxConnections: 200,
    settings: { shared_buffers: '256MB' },
  });
  const data = cluster.dataDir;
  const admin = cluster.url;
  return {
    adminUrl: admin,
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: admin });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return admin.replace(/\/postgres$/, `/${name}`);
    },
    cpuSeconds() {
      const postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      let total = cpuSeconds(postmaster);
      for (const entry of readdirSync('/proc')) {
        if (!/^\d+$/.test(entry)) continue;
        try {
          const parent = Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
          if (parent === postmaster) total += cpuSeconds(Number(entry)) || 0;
        } catch {
          // The process ended meanwhile.
        }
      }
      return total;
    },
    async stop() {
      cluster.stop();
    },
  };
}
