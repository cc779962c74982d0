import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type Config, DEV_CREDENTIALS, loadConfig, SERVE_SETTINGS } from './config.js';
import { hashPassword } from './security/passwords.js';
import { ConfigError, type Flags, readSetting } from './settings.js';
import type { Store } from './store/types.js';

export { DEV_CREDENTIALS };

/** The folder holding the SQLite file (and the dev encryption key); `./data` for other stores. */
export function dataDirectory(databaseUrl: string): string {
  if (databaseUrl.startsWith('sqlite:')) {
    const path = databaseUrl.slice('sqlite:'.length);
    if (path && path !== ':memory:') return dirname(path);
  }
  return 'data';
}

/**
 * The dev profile's encryption key: generated once and kept in `<data dir>/encryption.key` (mode
 * 0600), so registrations stay readable across restarts. Instances started together may all find no
 * file: each writes its key to a temporary file and links it to the name, which only one link can
 * take (the file appears whole, never half written); the others read the winner's key.
 */
export function devEncryptionKey(dataDir: string): Buffer {
  const file = join(dataDir, 'encryption.key');
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const draft = join(dataDir, `.encryption.key.${process.pid}.${randomBytes(4).toString('hex')}`);
    writeFileSync(draft, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    try {
      linkSync(draft, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      unlinkSync(draft);
    }
  }
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
  if (key.length !== 32) throw new ConfigError(`${file} does not hold a 32-byte hex key; delete it to make a new one`);
  return key;
}

/** loadConfig, plus the dev profile's kept encryption key when CCB_ENCRYPTION_KEY is unset. */
export function resolveConfig(flags: Flags, env?: NodeJS.ProcessEnv): Config {
  const dev = readSetting(SERVE_SETTINGS.dev, flags, env);
  let key: Buffer | undefined;
  if (dev && readSetting(SERVE_SETTINGS.encryptionKey, flags, env) === undefined) {
    key = devEncryptionKey(dataDirectory(readSetting(SERVE_SETTINGS.databaseUrl, flags, env)));
  }
  return loadConfig(flags, env, key);
}

/**
 * Creates the demo client and user when missing; running it again changes nothing, also when
 * several instances run it at once (each insert only happens when the row is absent).
 */
export async function seedDevData(store: Store): Promise<void> {
  const now = Date.now();
  if (!(await store.auth.getClient(DEV_CREDENTIALS.clientId))) {
    await store.auth.createClient({
      clientId: DEV_CREDENTIALS.clientId,
      name: 'Demo client (dev profile)',
      secretHash: await hashPassword(DEV_CREDENTIALS.clientSecret),
      createdAt: now,
    });
  }
  if (!(await store.auth.getUser(DEV_CREDENTIALS.username))) {
    await store.auth.insertUserIfMissing({
      username: DEV_CREDENTIALS.username,
      passwordHash: await hashPassword(DEV_CREDENTIALS.password),
      accounts: [DEV_CREDENTIALS.accountName],
      createdAt: now,
    });
  }
}
