// test tier: full (runs the examples as child processes)
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ACCOUNT } from './delivery-fixtures.js';
import { adminHeaders, eventually, type Login, login, send, startTestServer, type TestServer } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** An example started as the docs say (`node examples/<file>` from the repository root), its output collected. */
interface ExampleProcess {
  child: ChildProcess;
  /** Resolves when the process has exited. */
  exited: Promise<void>;
  output(): string;
  /** Resolves with the first match of `pattern` in stdout; rejects when the process exits first or after 15 s. */
  waitFor(pattern: RegExp): Promise<RegExpExecArray>;
  stop(): Promise<void>;
}

function startExample(file: string, env: Record<string, string>): ExampleProcess {
  const child = spawn(process.execPath, [`examples/${file}`], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return {
    child,
    exited,
    output: () => `stdout:\n${stdout}\nstderr:\n${stderr}`,
    waitFor(pattern) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(stdout);
          if (!match) return false;
          finish();
          resolve(match);
          return true;
        };
        const onExit = () => {
          if (!check()) {
            finish();
            reject(new Error(`${file} exited before printing ${pattern}:\n${stdout}\n${stderr}`));
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`${file} did not print ${pattern} within 15 s:\n${stdout}\n${stderr}`));
        }, 15_000);
        const finish = () => {
          clearTimeout(timer);
          child.stdout?.off('data', check);
          child.off('close', onExit);
        };
        if (check()) return;
        child.stdout?.on('data', check);
        child.once('close', onExit);
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

describe('examples/', () => {
  let server: TestServer;
  let session: Login;
  const running: ExampleProcess[] = [];

  before(async () => {
    server = await startTestServer({ env: { CCB_ALLOWED_PORTS: 'any' } });
    session = await login(server);
  });
  after(async () => {
    await Promise.all(running.map((example) => example.stop()));
    await server.close();
  });

  async function register(url: string): Promise<void> {
    const registered = await send(`${server.apiUrl}/m2m/v1/callbacks/${ACCOUNT}`, {
      method: 'POST',
      headers: session.headers,
      body: { name: 'CarrierService', url, username: 'acme', password: 'k9Vd2mQ7' },
    });
    assert.equal(registered.status, 200, registered.text);
  }

  it('sdk-client.mjs registers, lists and deregisters against a running server', async () => {
    const example = startExample('sdk-client.mjs', { CCB_SERVER: server.baseUrl });
    running.push(example);
    await example.exited;
    assert.match(example.output(), /^refused 400 REQUEST_FAILED\.CallbackNotFound/m);
    assert.equal(example.child.exitCode, 0, example.output());
    assert.match(
      example.output(),
      /^registered 200 \{ accountName: '0000123456-00001', serviceName: 'CarrierService' \}/m,
    );
    assert.match(example.output(), /^listed \[\n?\s*\{[\s\S]*url: 'http:\/\/127\.0\.0\.1:9001\/hook'/m);
    const listed = await send(`${server.apiUrl}/m2m/v1/callbacks/${ACCOUNT}`, { headers: session.headers });
    assert.deepEqual(listed.body, [], 'the example deregistered what it registered');
  });

  for (const file of ['listener-node.mjs', 'listener-express.mjs', 'listener-fastify.mjs']) {
    it(`${file} receives a signed message from the delivery engine and acknowledges it`, async () => {
      // The registration's secret is made at the first registration and kept when the URL is replaced,
      // so the listener can be started with it before its port is known.
      await register('http://127.0.0.1:9001/');
      const secret = await send(`${server.baseUrl}/admin/v1/callbacks/${ACCOUNT}/CarrierService/secret`, {
        headers: adminHeaders(server),
      });
      assert.equal(secret.status, 200, secret.text);
      const example = startExample(file, {
        PORT: '0',
        CCB_SIGNING_SECRET: secret.body.secret,
        CALLBACK_USERNAME: 'acme',
        CALLBACK_PASSWORD: 'k9Vd2mQ7',
      });
      running.push(example);
      const [, url] = await example.waitFor(/^listening on (http:\/\/127\.0\.0\.1:\d+\/)$/m);
      await register(url);

      const published = await send(`${server.baseUrl}/admin/v1/messages`, {
        method: 'POST',
        headers: adminHeaders(server),
        body: { accountName: ACCOUNT, serviceName: 'CarrierService', payload: { requestId: 'r-1', status: 'Success' } },
      });
      assert.equal(published.status, 202, published.text);
      const id = published.body.messageId as string;
      await example.waitFor(new RegExp(`^received ${id} ${ACCOUNT} CarrierService 1\\b`, 'm'));

      // Acknowledged: the engine records the message as delivered after the listener's 204.
      const message = await eventually(
        async () => {
          const found = await send(`${server.baseUrl}/admin/v1/messages/${id}`, { headers: adminHeaders(server) });
          return found.body.status === 'delivered' ? found : undefined;
        },
        { what: `message ${id} delivered` },
      );
      assert.equal(message.body.deliveryAttempts.at(-1).statusCode, 204, message.text);
      await example.stop();
    });
  }

  it('usage.json is a DeviceUsage payload the server accepts', async () => {
    const payload = JSON.parse(readFileSync(new URL('../../../examples/usage.json', import.meta.url), 'utf8'));
    const published = await send(`${server.baseUrl}/admin/v1/messages`, {
      method: 'POST',
      headers: adminHeaders(server),
      body: { accountName: ACCOUNT, serviceName: 'DeviceUsage', payload },
    });
    assert.equal(published.status, 202, published.text);
    assert.equal(typeof payload.deviceResponse.usageResponse.dataUsage, 'number');
  });
});
