import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { exampleMessage } from '@ccb/sdk';
import { Webhook } from 'standardwebhooks';
import { type ListenOptions, startListenServer } from '../src/cli/listen.js';

const CLI = fileURLToPath(new URL('../src/cli/index.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SECRET = `whsec_${randomBytes(24).toString('base64')}`;

const closers: Array<() => Promise<void>> = [];
after(async () => {
  await Promise.all(closers.map((close) => close()));
});

async function startPrinting(options: Partial<ListenOptions> = {}) {
  const out = new PassThrough();
  let printed = '';
  out.on('data', (chunk) => {
    printed += chunk;
  });
  const running = await startListenServer({ port: 0, host: '127.0.0.1', secrets: [], json: true, out, ...options });
  closers.push(running.close);
  return { url: running.url, printed: () => printed };
}

/** Delivers as the engine does: signed body with the ccb headers. */
async function deliver(url: string, body: Record<string, unknown>, secret = SECRET, id = `msg_${Date.now()}`) {
  const raw = JSON.stringify(body);
  const timestamp = new Date();
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
      'webhook-signature': new Webhook(secret).sign(id, timestamp, raw),
      'ccb-account': '0000123456-00001',
      'ccb-service': 'CarrierService',
    },
    body: raw,
  });
  return response.status;
}

function received<T extends object>(message: T) {
  return { ...message, username: 'acme', password: 'k9Vd2mQ7tR4z', callbackCount: 1, maxCallbackThreshold: 4 };
}

describe('ccb listen server', () => {
  it('prints one JSON line per message, with the registration password redacted', async () => {
    const listener = await startPrinting({ secrets: [SECRET] });
    const message = received(exampleMessage('CarrierService'));
    assert.equal(await deliver(listener.url, message, SECRET, 'msg_1'), 204);
    assert.equal(await deliver(listener.url, received(exampleMessage('CarrierService')), SECRET, 'msg_2'), 204);
    const lines = listener.printed().trim().split('\n');
    assert.equal(lines.length, 2);
    const first = JSON.parse(lines[0]);
    assert.equal(first.id, 'msg_1');
    assert.equal(first.account, '0000123456-00001');
    assert.equal(first.service, 'CarrierService');
    assert.equal(first.attempt, 1);
    assert.equal(first.body.requestId, message.requestId);
    assert.equal(first.body.password, '[redacted]');
    assert.doesNotMatch(listener.printed(), /k9Vd2mQ7tR4z/);
  });

  it('prints a readable block per message on a terminal', async () => {
    const listener = await startPrinting({ json: false });
    const message = received(exampleMessage('CarrierService'));
    assert.equal(await deliver(listener.url, message), 204);
    const printed = listener.printed();
    assert.match(printed, /CarrierService {2}0000123456-00001 {2}attempt 1\/4/);
    assert.match(printed, new RegExp(`\\n {2}"requestId": "${message.requestId}"`));
  });

  it('refuses a delivery signed with another secret and prints nothing', async () => {
    const listener = await startPrinting({ secrets: [SECRET] });
    const status = await deliver(
      listener.url,
      received(exampleMessage('DeviceUsage')),
      `whsec_${randomBytes(24).toString('base64')}`,
    );
    assert.equal(status, 401);
    assert.equal(listener.printed(), '');
  });

  it('checks the body credentials when given', async () => {
    const listener = await startPrinting({ username: 'acme', password: 'other' });
    assert.equal(await deliver(listener.url, received(exampleMessage('DeviceUsage'))), 401);
    assert.equal(listener.printed(), '');
  });
});

describe('ccb listen', {
  skip: existsSync(CLI) ? false : 'packages/server/src/cli/index.ts is not in the tree yet',
}, () => {
  it('listens, prints what arrives as JSON lines, and stops on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      ['--conditions=ccb-source', '--import', 'tsx', CLI, 'listen', '--port', '0', '--secret', SECRET],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    closers.push(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listening line: ${stderr}`)), 15_000);
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
        const match = /Listening on (http:\/\/\S+) \(checks: signatures/.exec(stderr);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
    });
    assert.doesNotMatch(stderr, new RegExp(SECRET.slice(6)), 'the secret is never printed');
    const message = received(exampleMessage('PromoChanges'));
    assert.equal(await deliver(url, message, SECRET, 'msg_cli'), 204);
    child.kill('SIGTERM');
    const [code] = await once(child, 'close');
    assert.equal(code, 0);
    const line = JSON.parse(stdout.trim());
    assert.equal(line.id, 'msg_cli');
    assert.equal(line.body.requestId, message.requestId);
  });

  it('explains its options in --help', async () => {
    const child = spawn(process.execPath, ['--conditions=ccb-source', '--import', 'tsx', CLI, 'listen', '--help'], {
      cwd: REPO_ROOT,
    });
    let stdout = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    const [code] = await once(child, 'close');
    assert.equal(code, 0);
    for (const option of ['--port', '--host', '--username', '--password', '--secret'])
      assert.match(stdout, new RegExp(option));
  });
});
