import { join } from 'node:path';
import { type Config, SERVE_SETTINGS } from './config.js';
import { DEV_CREDENTIALS, dataDirectory } from './dev.js';
import type { RunningServer } from './server.js';
import { formatDuration, settingGiven } from './settings.js';

/**
 * What `ccb serve` prints once it listens: one "serving on" line, where its data lives, what this
 * process serves (a worker serves only health and metrics), and in the dev profile the well-known
 * credentials.
 */
export function banner(server: RunningServer, version: string, env?: NodeJS.ProcessEnv): string {
  const config: Config = server.ctx.config;
  const address = server.address;
  const rows: Array<[string, string]> = [['Database', config.databaseUrl]];
  if (config.dev && !settingGiven(SERVE_SETTINGS.encryptionKey, {}, env)) {
    rows.push([
      'Encryption key',
      `${join(dataDirectory(config.databaseUrl), 'encryption.key')} (back it up with the database)`,
    ]);
  } else {
    rows.push(['Encryption key', 'from CCB_ENCRYPTION_KEY']);
  }
  if (config.role !== 'api') {
    rows.push([
      'Retry schedule',
      `${config.delivery.retrySchedule.map(formatDuration).join(',')} (${config.delivery.maxAttempts} attempts)`,
    ]);
  }
  if (config.role === 'worker') {
    rows.push(['Health', `${address}/healthz, ${address}/readyz`], ['Metrics', `${address}/metrics`]);
  } else {
    rows.push(['API', `${address}/api`], ['Admin API', `${address}/admin/v1`], ['API reference', `${address}/docs`]);
    rows.push(['Dashboard', `${address}/ui`], ['Metrics', `${address}/metrics`]);
  }
  const lines = [
    `ccb ${version} serving on ${address} (role ${config.role}${config.dev ? ', dev profile' : ''})`,
    ...rows.map(([name, value]) => `  ${name.padEnd(15)} ${value}`),
  ];
  if (config.dev && config.role !== 'worker') {
    const c = DEV_CREDENTIALS;
    lines.push(
      '',
      'Dev profile — well-known credentials, for local use only:',
      `  ${'OAuth client'.padEnd(15)} ${c.clientId} / ${c.clientSecret}`,
      `  ${'User'.padEnd(15)} ${c.username} / ${c.password} (account ${c.accountName})`,
      `  ${'Admin token'.padEnd(15)} ${c.adminToken}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
