import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { send } from './helpers.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const cli = fileURLToPath(new URL('../src/cli/index.ts', import.meta.url));

function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, CCB_LOG_LEVEL: 'warn', ...extra };
  for (const name of ['CCB_ADMIN_TOKEN', 'CCB_ENCRYPTION_KEY', 'DATABASE_URL', 'CCB_DEV', 'PORT', 'CCB_PORT']) {
    if (!(name in extra)) delete env[name];
  }
  return env;
}

function ccb(args: string[], env: NodeJS.ProcessEnv = cleanEnv()): ChildProcess {
  return spawn(process.execPath, ['--conditions=ccb-source', '--import', 'tsx', cli, ...args], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

function finished(child: ChildProcess, timeoutMs = 20_000): Promise<Finished> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ccb did not exit in time; stdout: ${stdout} stderr: ${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts `ccb serve` and resolves with its address once it prints it. */
function serve(
  args: string[],
  env?: NodeJS.ProcessEnv,
): Promise<{ child: ChildProcess; address: string; output: () => string }> {
  const child = ccb(['serve', ...args], env);
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ccb serve did not start in time: ${output}`));
    }, 20_000);
    const onData = (chunk: Buffer) => {
      output += chunk;
      const match = /serving on (http:\/\/\S+)/.exec(output);
      // The dev banner follows the address line; wait for it when --dev is on.
      if (match && (!args.includes('--dev') || output.includes('Admin token'))) {
        clearTimeout(timer);
        resolve({ child, address: match[1], output: () => output });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`ccb serve exited with ${code}: ${output}`));
    });
  });
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
    const result = await finished(ccb(['serve', '--port', '0', '--db', `sqlite:${join(dir, 'x.sqlite')}`]));
    assert.equal(result.code, 1);
    assert.match(result.stderr, /CCB_ADMIN_TOKEN is not set/);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
  });

  it('refuses to start without CCB_ENCRYPTION_KEY outside the dev profile', async () => {
    const result = await finished(ccb(['serve', '--port', '0'], cleanEnv({ CCB_ADMIN_TOKEN: 'a-token' })));
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

  it('explains its options and environment variables in --help', async () => {
    const result = await finished(ccb(['serve', '--help']));
    assert.equal(result.code, 0);
    for (const text of [
      '--dev',
      '--port',
      '--db',
      '--role',
      '--retry-schedule',
      '--attempt-timeout',
      '--concurrency',
      '--origin-concurrency',
      'CCB_ADMIN_TOKEN',
      'CCB_ENCRYPTION_KEY',
      'DATABASE_URL',
      'CCB_ALLOWED_PORTS',
    ]) {
      assert.ok(result.stdout.includes(text), `help mentions ${text}`);
    }
  });

  it('rejects an unknown role', async () => {
    const result = await finished(ccb(['serve', '--dev', '--role', 'boss']));
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /boss/);
  });
});
