import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { registerCallbacksCommand } from '../src/cli/callbacks.js';
import { registerMessagesCommand, sinceTime } from '../src/cli/messages.js';
import { registerPublishCommand } from '../src/cli/publish.js';
import { runCcbInProcess } from './ccb-in-process.js';
import { DEV_CREDENTIALS, eventually, startTestServer, type TestServer } from './helpers.js';
import { type CcbRun, childProcessTest, runCcb } from './server-process.js';

const ACCOUNT = DEV_CREDENTIALS.accountName;

let server: TestServer;
before(async () => {
  server = await startTestServer({ env: { CCB_ALLOWED_PORTS: 'any' } });
});
const closers: Array<() => Promise<void>> = [];
after(async () => {
  await Promise.all(closers.map((close) => close()));
  await server?.close();
});

/** Runs `ccb <args>` in this process against `serverUrl` (the test server by default). */
const ccb = (args: string[], serverUrl = server.baseUrl): Promise<CcbRun> =>
  runCcbInProcess(
    [registerCallbacksCommand, registerPublishCommand, registerMessagesCommand],
    [...args, '--server', serverUrl],
  );

/** An HTTP server that answers 204 and counts what it receives. */
async function startCountingServer(): Promise<{ url: string; requests: Array<{ url?: string; body: string }> }> {
  const requests: Array<{ url?: string; body: string }> = [];
  const http: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      requests.push({ url: req.url, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  );
  return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`, requests };
}

describe('ccb callbacks', () => {
  it('registers a listener, lists it, and deregisters it', async () => {
    const registered = await ccb(['callbacks', 'register', ACCOUNT, 'CarrierService', 'http://127.0.0.1:9001/hook']);
    assert.equal(registered.code, 0, registered.stderr);
    assert.match(registered.stdout, /Registered CarrierService for account 0000123456-00001/);

    const listed = await ccb(['callbacks', 'list', ACCOUNT]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^SERVICE\s+URL\s+USERNAME\s+PASSWORD$/m);
    assert.match(listed.stdout, /^CarrierService\s+http:\/\/127\.0\.0\.1:9001\/hook\s+-\s+-$/m);

    const deregistered = await ccb(['callbacks', 'deregister', ACCOUNT, 'CarrierService', '--json']);
    assert.equal(deregistered.code, 0, deregistered.stderr);
    assert.deepEqual(JSON.parse(deregistered.stdout), { accountName: ACCOUNT, serviceName: 'CarrierService' });

    const empty = await ccb(['callbacks', 'list', ACCOUNT, '--json']);
    assert.deepEqual(JSON.parse(empty.stdout), []);
    assert.match((await ccb(['callbacks', 'list', ACCOUNT])).stdout, /No callbacks registered for account/);
  });

  it("takes the callback's credentials as --username/--password or --callback-username/--callback-password", async () => {
    await ccb(['callbacks', 'register', ACCOUNT, 'DeviceUsage', 'http://127.0.0.1:9002/', '--username', 'hook']);
    await ccb([
      'callbacks',
      'register',
      ACCOUNT,
      'StateService',
      'http://127.0.0.1:9003/',
      '--callback-username',
      'other',
      '--callback-password',
      's3cret',
    ]);
    const listed = await ccb(['callbacks', 'list', ACCOUNT, '--json']);
    const byService = Object.fromEntries(
      (JSON.parse(listed.stdout) as Array<{ serviceName: string; username: string; password: string }>).map((c) => [
        c.serviceName,
        c,
      ]),
    );
    assert.equal(byService.DeviceUsage.username, 'hook');
    assert.equal(byService.StateService.username, 'other');
    assert.equal(byService.StateService.password, 's3cret');
    const table = (await ccb(['callbacks', 'list', ACCOUNT])).stdout;
    assert.match(table, /^StateService\s+\S+\s+other\s+\(set\)$/m);
    assert.doesNotMatch(table, /s3cret/);
    await ccb(['callbacks', 'deregister', ACCOUNT, 'DeviceUsage']);
    await ccb(['callbacks', 'deregister', ACCOUNT, 'StateService']);
  });

  it('refuses an unknown service and disagreeing credentials before any request', async () => {
    const counting = await startCountingServer();
    const unknown = await ccb(['callbacks', 'register', ACCOUNT, 'Carrier', 'http://127.0.0.1:9001/'], counting.url);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /unknown service; expected one of: CarrierService/);
    const clash = await ccb(
      [
        'callbacks',
        'register',
        ACCOUNT,
        'CarrierService',
        'http://127.0.0.1:9001/',
        '--username',
        'a',
        '--callback-username',
        'b',
      ],
      counting.url,
    );
    assert.equal(clash.code, 1);
    assert.match(clash.stderr, /--username and --callback-username disagree/);
    assert.equal(counting.requests.length, 0);
  });

  it("prints the server's errorMessage and errorCode and exits 1", async () => {
    const refused = await ccb(['callbacks', 'register', ACCOUNT, 'CarrierService', 'http://127.0.0.1:9001/x?a=\u0001']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^Error: .+ \(INPUT_INVALID\.[\w.]+\)\n$/);

    const forbidden = await ccb(['callbacks', 'list', '0000999999-00001']);
    assert.equal(forbidden.code, 1);
    assert.equal(
      forbidden.stderr,
      'Error: account 0000999999-00001 is not managed by user demo (REQUEST_FAILED.AccountName)\n',
    );
    assert.equal(forbidden.stdout, '');

    const wrongPassword = await ccb(['callbacks', 'list', ACCOUNT, '--password', 'not-the-password']);
    assert.equal(wrongPassword.code, 1);
    assert.equal(
      wrongPassword.stderr,
      'Error: Session login failed: invalid username or password (REQUEST_FAILED.Login.InvalidCredentials)\n',
    );
  });
});

describe('ccb publish and ccb messages', () => {
  it('publishes a message that messages list and messages show then show', async () => {
    const published = await ccb(['publish', ACCOUNT, 'PromoChanges', '--data', '{"requestId":"r-1"}', '--json']);
    assert.equal(published.code, 0, published.stderr);
    const { messageId, status } = JSON.parse(published.stdout);
    assert.match(messageId, /^msg_/);
    assert.equal(status, 'failed'); // no listener registered for PromoChanges

    const page = JSON.parse((await ccb(['messages', 'list', '--service', 'PromoChanges', '--json'])).stdout);
    assert.equal(page.items[0].id, messageId);
    assert.equal(page.items[0].reason, 'no_registration');
    assert.equal('nextCursor' in page, true);

    const listed = await ccb(['messages', 'list', '--account', ACCOUNT, '--status', 'failed']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^ID\s+CREATED\s+ACCOUNT\s+SERVICE\s+STATUS\s+ATTEMPTS\s+REASON$/m);
    assert.match(listed.stdout, new RegExp(`^${messageId}\\s.*PromoChanges\\s+failed\\s+0/4\\s+no_registration$`, 'm'));

    const shown = await ccb(['messages', 'show', messageId]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, new RegExp(`^Message\\s+${messageId}$`, 'm'));
    assert.match(shown.stdout, /^Status\s+failed \(no_registration\)$/m);
    assert.match(shown.stdout, /"requestId": "r-1"/);

    const json = JSON.parse((await ccb(['messages', 'show', messageId, '--json'])).stdout);
    assert.equal(json.id, messageId);
    assert.deepEqual(json.payload, { requestId: 'r-1' });
    assert.deepEqual(json.deliveryAttempts, []);
  });

  it('reads the payload from --file and honours --idempotency-key', async () => {
    const file = join(server.dataDir, 'payload.json');
    writeFileSync(file, '{"requestId":"from-file"}');
    const first = await ccb(['publish', ACCOUNT, 'AlertService', '--file', file, '--idempotency-key', 'k-1']);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /kept as failed \(no_registration\)/);
    const id = /Published (msg_\w+)/.exec(first.stdout)?.[1];
    const again = await ccb(['publish', ACCOUNT, 'AlertService', '--file', file, '--idempotency-key', 'k-1']);
    assert.match(again.stdout, new RegExp(`Published ${id} `));
    assert.match(again.stdout, /Idempotency-Key was used before/);
  });

  it('sends the payload as written: a number a float cannot keep reaches the server unrounded and is refused', async () => {
    const big = '{"iccid": 89148000000000000001234, "ratio": 1.50, "nested": {"n": -0.000000000000000000001}}';
    const counting = await startCountingServer();
    await ccb(['publish', ACCOUNT, 'CarrierService', '--data', big], counting.url);
    const file = join(server.dataDir, 'big.json');
    writeFileSync(file, `\n  ${big}\n`);
    await ccb(['publish', ACCOUNT, 'CarrierService', '--file', file], counting.url);
    assert.equal(counting.requests.length, 2);
    for (const request of counting.requests) {
      assert.equal(
        request.body,
        `{"accountName":"${ACCOUNT}","serviceName":"CarrierService","payload":${big}}`,
        'the JSON text as given, not re-serialised',
      );
    }

    const refused = await ccb(['publish', ACCOUNT, 'CarrierService', '--data', big]);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /the number 89148000000000000001234 cannot be kept exactly.*INPUT_INVALID\.Request\.Number/,
    );
  });

  it('refuses bad --data, an unreadable --file or no payload before any request', async () => {
    const counting = await startCountingServer();
    const cases: Array<[string[], RegExp]> = [
      [['--data', '{"requestId": '], /argument '\{"requestId": ' is invalid\. not valid JSON/],
      [['--data', '[1, 2]'], /expected a JSON object/],
      [['--file', '/nonexistent/payload.json'], /cannot read \/nonexistent\/payload\.json: ENOENT/],
      [[], /give the payload with --data <json> or --file <path>/],
      [['--data', '{}', '--file', 'x.json'], /either --data or --file, not both/],
    ];
    for (const [flags, message] of cases) {
      const run = await ccb(['publish', ACCOUNT, 'CarrierService', ...flags], counting.url);
      assert.equal(run.code, 1, flags.join(' '));
      assert.match(run.stderr, message);
    }
    assert.equal(counting.requests.length, 0);
  });

  it('replays one message once it has a listener, and refuses a message that does not exist', async () => {
    const { messageId } = JSON.parse(
      (await ccb(['publish', ACCOUNT, 'NiddService', '--data', '{"n":1}', '--json'])).stdout,
    );
    const unheard = await ccb(['messages', 'replay', messageId]);
    assert.equal(unheard.code, 1);
    assert.match(
      unheard.stderr,
      /^Error: no listener is registered for NiddService of account 0000123456-00001, .*register one, then replay it \(REQUEST_FAILED\.CallbackNotFound\)\n$/,
    );
    const listener = await startCountingServer();
    await ccb(['callbacks', 'register', ACCOUNT, 'NiddService', `${listener.url}/nidd`]);
    const replayed = await ccb(['messages', 'replay', messageId]);
    assert.equal(replayed.code, 0, replayed.stderr);
    assert.match(replayed.stdout, new RegExp(`Queued ${messageId} for delivery again \\(pending\\)`));

    const missing = await ccb(['messages', 'replay', 'msg_missing']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'Error: message msg_missing does not exist (REQUEST_FAILED.ResourceNotFound)\n');
  });

  it('replays failed messages in bulk once a listener is registered, and they are delivered', async () => {
    const account = '0000123456-00001';
    const listener = await startCountingServer();
    for (let i = 0; i < 3; i++) {
      await ccb(['publish', account, 'DiagnosticsService', '--data', JSON.stringify({ n: i })]);
    }
    await ccb(['callbacks', 'register', account, 'DiagnosticsService', `${listener.url}/hook`]);
    assert.equal(listener.requests.length, 0);

    const run = await ccb([
      'messages',
      'replay',
      '--status',
      'failed',
      '--account',
      account,
      '--service',
      'DiagnosticsService',
      '--since',
      '10m',
      '--json',
    ]);
    assert.equal(run.code, 0, run.stderr);
    const job = JSON.parse(run.stdout);
    assert.equal(job.status, 'done');
    assert.equal(job.matched, 3);
    assert.equal(job.replayed, 3);
    await eventually(() => listener.requests.length === 3, { what: 'three deliveries' });
    assert.deepEqual(listener.requests.map((r) => JSON.parse(r.body).n).sort(), [0, 1, 2]);

    const none = await ccb(['messages', 'replay', '--status', 'failed', '--service', 'DiagnosticsService']);
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stdout, /No messages matched; nothing replayed \(job rpl_\w+\)\./);
    await ccb(['callbacks', 'deregister', account, 'DiagnosticsService']);
  });

  it('says how many messages a bulk replay skipped because no listener is registered for them', async () => {
    for (let i = 0; i < 2; i++) await ccb(['publish', ACCOUNT, 'IntelligenceService', '--data', `{"n":${i}}`]);
    const run = await ccb(['messages', 'replay', '--status', 'failed', '--service', 'IntelligenceService']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stdout,
      /^0 of 2 matching messages replayed; 2 skipped: no listener is registered for their account and service \(register one, then replay again\) \(job rpl_\w+\)\.$/m,
    );
  });

  it('asks for an id or --status, and not both', async () => {
    const neither = await ccb(['messages', 'replay']);
    assert.equal(neither.code, 1);
    assert.match(neither.stderr, /give a message id, or --status/);
    const both = await ccb(['messages', 'replay', 'msg_x', '--status', 'failed']);
    assert.equal(both.code, 1);
    assert.match(both.stderr, /not both/);
    const delivering = await ccb(['messages', 'replay', '--status', 'delivering']);
    assert.equal(delivering.code, 1);
    assert.match(delivering.stderr, /Allowed choices are failed, cancelled, delivered, pending/);
  });

  it('documents arguments, defaults and environment variables in --help', async () => {
    const help = await ccb(['callbacks', 'register', '--help']);
    assert.equal(help.code, 0);
    const text = help.stdout.replace(/\s+/g, ' ');
    for (const expected of ['<aname> <service> <url>', '--callback-username', 'env: CCB_SERVER', 'CCB_USERNAME']) {
      assert.ok(text.includes(expected), `help mentions ${expected}`);
    }
  });

  it('reads --since as an ISO date-time or a duration back from now', () => {
    const now = Date.parse('2026-11-25T12:00:00Z');
    assert.equal(sinceTime('2h', now), '2026-11-25T10:00:00.000Z');
    assert.equal(sinceTime('30m', now), '2026-11-25T11:30:00.000Z');
    assert.equal(sinceTime('2026-11-24T08:00:00+01:00', now), '2026-11-24T07:00:00.000Z');
    assert.throws(() => sinceTime('yesterday', now), /ISO 8601 date-time .* or a duration/);
  });

  it('says when the admin token is refused, or the server cannot be reached', async () => {
    const refused = await ccb(['messages', 'list', '--admin-token', 'wrong']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^Error: .+ \(REQUEST_FAILED\.\w+\)\n$/);

    const counting = await startCountingServer();
    const closed = counting.url;
    await closers.pop()?.();
    const unreachable = await ccb(['callbacks', 'list', ACCOUNT], closed);
    assert.equal(unreachable.code, 1);
    assert.equal(unreachable.stderr, `Error: Cannot reach ${closed}: ECONNREFUSED\n`);
  });
});

describe('ccb (child process)', childProcessTest, () => {
  it('reads CCB_* from the environment, prints errorMessage without a stack trace and exits non-zero', async () => {
    const env = { CCB_SERVER: server.baseUrl, CCB_ADMIN_TOKEN: server.adminToken };
    const [listed, forbidden] = await Promise.all([
      runCcb(['messages', 'list', '--limit', '2', '--json'], env),
      runCcb(['callbacks', 'list', '0000999999-00001'], env),
    ]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok(Array.isArray(JSON.parse(listed.stdout).items));

    assert.equal(forbidden.code, 1);
    assert.match(
      forbidden.stderr,
      /account 0000999999-00001 is not managed by user demo \(REQUEST_FAILED\.AccountName\)/,
    );
    assert.doesNotMatch(forbidden.stderr, /\n\s+at /);
  });
});
