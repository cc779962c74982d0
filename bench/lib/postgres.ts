import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { cpuSeconds } from './proc.js';

/**
 * A throwaway PostgreSQL cluster for the benchmark, on 127.0.0.1 with durable commits as shipped
 * (fsync and synchronous_commit on): started with Debian's binaries (/usr/lib/postgresql/<v>/bin),
 * as the postgres user when the benchmark runs as root.
 */
export interface BenchPostgres {
  /** Creates a database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** CPU seconds used so far by the cluster's live processes (the postmaster and its children), from /proc. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

export const POSTGRES_MISSING =
  'PostgreSQL not measured: its binaries are not installed (Debian/Ubuntu: sudo apt-get install postgresql)';

function binaries(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb')));
  versions.sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? join(root, versions[0], 'bin') : null;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Null when PostgreSQL is not installed. */
export async function startPostgres(): Promise<BenchPostgres | null> {
  const bin = binaries();
  if (!bin) return null;
  const dir = mkdtempSync(join(tmpdir(), 'ccb-bench-pg-'));
  const asRoot = userInfo().uid === 0;
  const run = (command: string, args: string[]) =>
    asRoot
      ? execFileSync('runuser', ['-u', 'postgres', '--', join(bin, command), ...args], { stdio: 'pipe' })
      : execFileSync(join(bin, command), args, { stdio: 'pipe' });
  if (asRoot) {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres']).toString().trim());
    chownSync(dir, id('-u'), id('-g'));
  }
  const data = join(dir, 'data');
  run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8']);
  const port = await freePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB`;
  run('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'log'), '-w', 'start']);
  const admin = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: admin });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
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
      try {
        run('pg_ctl', ['-D', data, '-m', 'fast', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
