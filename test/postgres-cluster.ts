import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

/** A throwaway PostgreSQL cluster on 127.0.0.1: its superuser URL, and how to stop and remove it. */
export interface ThrowawayCluster {
  url: string;
  /** Its data folder (postmaster.pid names the postmaster's process). */
  dataDir: string;
  stop(): void;
}

export interface ClusterOptions {
  /** Commits as shipped (fsync, synchronous commit): what the benchmark measures. Off for tests. */
  durable?: boolean;
  maxConnections?: number;
  /** Further `-c name=value` settings. */
  settings?: Record<string, string>;
}

/** The newest installed PostgreSQL's binaries (/usr/lib/postgresql/<v>/bin), or null. */
export function postgresBinaries(): string | null {
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

function postgresUser(): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres']).toString().trim());
  return { uid: id('-u'), gid: id('-g') };
}

/**
 * initdb + pg_ctl start in a temporary folder, as the `postgres` user when running as root (PostgreSQL
 * refuses to run as root). Test clusters need no durability: fsync off keeps CREATE DATABASE and
 * commits fast. Enough connections for several test files at once, each with servers of its own.
 * The benchmark uses the same cluster with `durable`.
 */
export async function startThrowawayCluster(bin: string, options: ClusterOptions = {}): Promise<ThrowawayCluster> {
  const { durable = false, maxConnections = 600, settings = {} } = options;
  const dir = mkdtempSync(join(tmpdir(), 'ccb-pg-'));
  const asRoot = userInfo().uid === 0;
  const command = (name: string, args: string[]): [string, string[]] =>
    asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, name), ...args]] : [join(bin, name), args];
  const run = (name: string, args: string[]) => execFileSync(...command(name, args), { stdio: 'pipe' });
  if (asRoot) {
    const { uid, gid } = postgresUser();
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', ...(durable ? [] : ['--no-sync']), '-E', 'UTF8']);
  const port = await freePort();
  const all: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    max_connections: String(maxConnections),
    ...settings,
  };
  if (!durable) all.fsync = 'off';
  const flags = Object.entries(all).map(([name, value]) => `-c ${name}=${value}`);
  run('pg_ctl', [
    '-D',
    data,
    '-o',
    [`-p ${port} -k ${dir}`, ...flags].join(' '),
    '-l',
    join(dir, 'log'),
    '-w',
    'start',
  ]);
  let stopped = false;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    dataDir: data,
    stop() {
      if (stopped) return;
      stopped = true;
      spawnSync(...command('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']), { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
