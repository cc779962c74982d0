import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { after, describe, it } from 'node:test';
import { exampleMessage } from '@ccb/sdk';
import { Webhook } from 'standardwebhooks';
import { type ListenOptions, startListenServer } from '../src/cli/listen.js';
import { eventually } from './helpers.js';
import { childProcessTest, runCcb, spawnCcb } from './server-process.js';

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

describe('ccb listen', childProcessTest, () => {
  it('listens, prints what arrives as JSON lines, reports refusals and duplicates, and stops on SIGTERM', async () => {
    // The secret comes from the environment, so it never appears in the process list.
    const child = spawnCcb(['listen', '--port', '0'], { CCB_SIGNING_SECRET: SECRET });
    closers.push(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr?.on('data', (chunk) => {
      stderr += chunk;
    });
    const url = (
      await eventually(() => /Listening on (http:\/\/\S+) \(checks: signatures \(1 secret\)/.exec(stderr), {
        what: () => `the listening line (stderr: ${stderr})`,
        timeout: 30_000,
      })
    )[1];
    assert.ok(!stderr.includes(SECRET.slice(6)), 'the secret is never printed');
    const message = received(exampleMessage('PromoChanges'));
    assert.equal(await deliver(url, message, SECRET, 'msg_cli'), 204);
    assert.equal(await deliver(url, message, SECRET, 'msg_cli'), 204);
    assert.equal(await deliver(url, message, `whsec_${randomBytes(24).toString('base64')}`, 'msg_forged'), 401);
    await eventually(() => /refused msg_forged: 401 SIGNATURE_INVALID: .+\n/.test(stderr), {
      what: () => `the refusal line (stderr: ${stderr})`,
    });
    assert.match(stderr, /duplicate of msg_cli, answered 204\n/);
    child.kill('SIGTERM');
    const [code] = await once(child, 'close');
    assert.equal(code, 0);
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 1, 'the duplicate and the refused delivery are not printed as messages');
    const line = JSON.parse(lines[0]);
    assert.equal(line.id, 'msg_cli');
    assert.equal(line.body.requestId, message.requestId);
  });

  it('explains its options in --help, each with its default or environment variable', async () => {
    const result = await runCcb(['listen', '--help']);
    assert.equal(result.code, 0);
    const help = result.stdout.replace(/\s+/g, ' ');
    assert.match(help, /--port <port> port to listen on \(0 picks a free one\) \(required\)/);
    assert.match(help, /--host <host> address to bind \(default: 127\.0\.0\.1\)/);
    assert.match(help, /--secret <whsec> .*?\(none: signatures are not checked; env: CCB_SIGNING_SECRET\)/);
    assert.match(help, /--password <password> [^(]*\(as registered\) \(not checked; env: CCB_CALLBACK_PASSWORD\)/);
    assert.match(help, /--no-dedupe/);
    assert.match(result.stdout, /Example:\n/);
  });
});

describe('ccb listen server options', () => {
  it('prints every delivery with dedupe off', async () => {
    const listener = await startPrinting({ secrets: [SECRET], dedupe: false });
    const message = received(exampleMessage('CarrierService'));
    assert.equal(await deliver(listener.url, message, SECRET, 'msg_again'), 204);
    assert.equal(await deliver(listener.url, message, SECRET, 'msg_again'), 204);
    assert.equal(listener.printed().trim().split('\n').length, 2);
  });

  it('reports bad credentials with the reason', async () => {
    const log = new PassThrough();
    let logged = '';
    log.on('data', (chunk) => {
      logged += chunk;
    });
    const listener = await startPrinting({ username: 'acme', password: 'other', log });
    assert.equal(await deliver(listener.url, received(exampleMessage('DeviceUsage')), SECRET, 'msg_cred'), 401);
    assert.match(
      logged,
      /^refused msg_cred: 401 CREDENTIALS_INVALID: The username or password in the body does not match\n$/,
    );
  });
});
