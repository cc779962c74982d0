// test tier: full (starts ccb serve processes)
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { SERVE_SETTINGS } from '../src/config.js';
import { eventually, send } from './helpers.js';
import { runCcb, spawnCcb } from './server-process.js';

/** The test's environment without the variables that would change what `ccb serve` does. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { CCB_LOG_LEVEL: 'warn' };
  for (const name of ['CCB_ADMIN_TOKEN', 'CCB_ENCRYPTION_KEY', 'DATABASE_URL', 'CCB_DEV', 'PORT', 'CCB_PORT']) {
    env[name] = undefined;
  }
  return { ...env, ...extra };
}

/** Starts `ccb serve` and resolves with its address once it prints it (and the dev banner with --dev). */
async function serve(
  args: string[],
  env: NodeJS.ProcessEnv = cleanEnv(),
): Promise<{ child: ChildProcess; address: string; output: () => string }> {
  const child = spawnCcb(['serve', ...args], env);
  let output = '';
  const onData = (chunk: Buffer) => {
    output += chunk;
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  try {
    const match = await eventually(
      () => {
        if (child.exitCode !== null) throw new Error(`ccb serve exited with ${child.exitCode}`);
        const found = /serving on (http:\/\/\S+)/.exec(output);
        return found && (!args.includes('--dev') || output.includes('Admin token')) ? found : undefined;
      },
      { timeout: 30_000, what: () => `ccb serve starting (output: ${output})` },
    );
    return { child, address: match[1], output: () => output };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
}

async function stop(child: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  return exited;
}

async function loginHeaders(address: string): Promise<Record<string, string>> {
  const token = await send(`${address}/api/ts/v1/oauth2/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from('demo-client:demo-secret').toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
  assert.equal(token.status, 200, token.text);
  const session = await send(`${address}/api/m2m/v1/session/login`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token.body.access_token}`, 'content-type': 'application/json' },
    body: { username: 'demo', password: 'demo-password' },
  });
  assert.equal(session.status, 200, session.text);
  return {
    authorization: `Bearer ${token.body.access_token}`,
    'vz-m2m-token': session.body.sessionToken,
    'content-type': 'application/json',
  };
}

describe('ccb serve', () => {
  const dirs: string[] = [];
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('serves the dev profile, prints its credentials, keeps its key and seeds idempotently across restarts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ccb-cli-'));
    dirs.push(dir);
    const db = `sqlite:${join(dir, 'ccb.sqlite')}`;

    const first = await serve(['--dev', '--port', '0', '--db', db]);
    const banner = first.output();
    for (const text of ['demo-client', 'demo-secret', 'demo / demo-password', '0000123456-00001', 'dev-admin-token']) {
      assert.ok(banner.includes(text), `banner mentions ${text}: ${banner}`);
    }
    assert.equal((await send(`${first.address}/healthz`)).status, 200);
    const headers = await loginHeaders(first.address);
    const callbacks = `${first.address}/api/m2m/v1/callbacks/0000123456-00001`;
    const registered = await send(callbacks, {
      method: 'POST',
      headers,
      body: { name: 'DeviceUsage', url: 'http://127.0.0.1:9001/usage', username: 'u', password: 'kept-secret' },
    });
    assert.equal(registered.status, 200, registered.text);
    assert.equal(await stop(first.child), 0);

    const keyFile = join(dir, 'encryption.key');
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    const key = readFileSync(keyFile, 'utf8');

    const second = await serve(['--dev', '--port', '0', '--db', db]);
    try {
      assert.equal(readFileSync(keyFile, 'utf8'), key);
      const again = await loginHeaders(second.address);
      const list = await send(callbacks.replace(first.address, second.address), { headers: again });
      assert.equal(list.status, 200);
      assert.equal(list.body[0].password, 'kept-secret');
    } finally {
      assert.equal(await stop(second.child), 0);
    }
    const raw = new BetterSqlite3(join(dir, 'ccb.sqlite'), { readonly: true });
    const clients = raw.prepare('SELECT client_id FROM oauth_clients').pluck().all();
    const users = raw.prepare('SELECT username FROM users').pluck().all();
    raw.close();
    assert.deepEqual(clients, ['demo-client']);
    assert.deepEqual(users, ['demo']);
  });

  it('refuses to start without CCB_ADMIN_TOKEN outside the dev profile, with a message and no stack trace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ccb-cli-'));
    dirs.push(dir);
    const result = await runCcb(['serve', '--port', '0', '--db', `sqlite:${join(dir, 'x.sqlite')}`], cleanEnv());
    assert.equal(result.code, 1);
    assert.match(result.stderr, /CCB_ADMIN_TOKEN is not set/);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
  });

  it('says what to do when the port is taken, in one line', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      const dir = mkdtempSync(join(tmpdir(), 'ccb-cli-'));
      dirs.push(dir);
      const result = await runCcb(
        ['serve', '--dev', '--port', String(port), '--db', `sqlite:${join(dir, 'x.sqlite')}`],
        cleanEnv(),
      );
      assert.equal(result.code, 1);
      assert.equal(
        result.stderr,
        `Error: port ${port} on 127.0.0.1 is already in use by another program: stop it, or start on another port with --port 8080 (or PORT=…; --port 0 picks a free one)\n`,
      );
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });

  it('refuses to start without CCB_ENCRYPTION_KEY outside the dev profile', async () => {
    const result = await runCcb(['serve', '--port', '0'], cleanEnv({ CCB_ADMIN_TOKEN: 'a-token' }));
    assert.equal(result.code, 1);
    assert.match(result.stderr, /CCB_ENCRYPTION_KEY is not set/);
  });

  it('takes flags over environment: --port wins over PORT', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ccb-cli-'));
    dirs.push(dir);
    const env = cleanEnv({
      PORT: '1',
      CCB_ADMIN_TOKEN: 'prod-token',
      CCB_ENCRYPTION_KEY: 'ab'.repeat(32),
      DATABASE_URL: `sqlite:${join(dir, 'p.sqlite')}`,
    });
    const running = await serve(['--port', '0', '--role', 'api'], env);
    try {
      assert.doesNotMatch(running.address, /:1$/);
      const users = await send(`${running.address}/admin/v1/users`, {
        method: 'POST',
        headers: { authorization: 'Bearer prod-token', 'content-type': 'application/json' },
        body: { username: 'x', password: 'long-enough', accounts: [] },
      });
      assert.equal(users.status, 201);
      assert.doesNotMatch(running.output(), /demo-secret/);
    } finally {
      await stop(running.child);
    }
  });

  it('lists every setting in --help: each flag and each environment variable, with its default', async () => {
    const result = await runCcb(['serve', '--help']);
    assert.equal(result.code, 0);
    const help = result.stdout.replace(/\s+/g, ' ');
    for (const setting of Object.values(SERVE_SETTINGS)) {
      if (setting.flag) assert.ok(help.includes(setting.flag), `help shows ${setting.flag}`);
      for (const name of setting.env) assert.ok(help.includes(name), `help mentions ${name}`);
      if (setting.default && setting.default !== '0')
        assert.ok(help.includes(setting.default), `default ${setting.default}`);
    }
    assert.match(
      help,
      /--retry-schedule <delays> .*\(default: 5m,5m,5m, 5s,30s,2m with --dev; env: CCB_RETRY_SCHEDULE\)/,
    );
    assert.match(help, /CCB_LEASE .*\(default: 2 × attempt timeout \+ 5s\)/);
    assert.match(result.stdout, /Examples:\n {2}ccb serve --dev/);
  });

  it('takes a bare SQLite path for --db', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ccb-cli-'));
    dirs.push(dir);
    const running = await serve(['--dev', '--port', '0', '--db', join(dir, 'bare.sqlite')]);
    try {
      assert.equal((await send(`${running.address}/healthz`)).status, 200);
      assert.ok(statSync(join(dir, 'bare.sqlite')).isFile());
    } finally {
      await stop(running.child);
    }
  });

  it('rejects an unknown role', async () => {
    const result = await runCcb(['serve', '--dev', '--role', 'boss'], cleanEnv());
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /^Error: option '--role <role>' argument 'boss' is invalid/);
  });
});
