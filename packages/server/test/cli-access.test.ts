import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { registerAccessCommands } from '../src/cli/access.js';
import { registerKeysCommands } from '../src/cli/keys.js';
import { registerMessagesCommand } from '../src/cli/messages.js';
import { runCcbInProcess } from './ccb-in-process.js';
import { accessToken, login, startTestServer, type TestServer } from './helpers.js';
import { childProcessTest, runCcb } from './server-process.js';

describe('ccb clients and ccb users', () => {
  let server: TestServer;
  let env: NodeJS.ProcessEnv;
  /** In this process; the child process below is for reading the password from its environment. */
  const ccb = async (...args: string[]) => {
    const connection = ['--server', server.baseUrl, '--admin-token', server.adminToken];
    const run = await runCcbInProcess([registerAccessCommands], [...args, ...connection]);
    return { ...run, json: () => JSON.parse(run.stdout) };
  };

  before(async () => {
    server = await startTestServer();
    env = { CCB_SERVER: server.baseUrl, CCB_ADMIN_TOKEN: server.adminToken };
  });
  after(() => server.close());

  it('creates, lists, rotates and deletes an OAuth client', async () => {
    const created = await ccb('clients', 'create', 'billing integration', '--id', 'billing-app', '--json');
    assert.equal(created.code, 0, created.stderr);
    const { clientId, clientSecret } = created.json();
    assert.equal(clientId, 'billing-app');
    await accessToken(server, clientId, clientSecret);

    const listed = await ccb('clients', 'list');
    assert.match(listed.stdout, /billing-app\s+billing integration/);
    assert.ok(!listed.stdout.includes(clientSecret), 'the secret is not listed');

    const rotated = await ccb('clients', 'rotate-secret', 'billing-app', '--json');
    assert.equal(rotated.code, 0, rotated.stderr);
    await accessToken(server, clientId, rotated.json().clientSecret);
    await assert.rejects(accessToken(server, clientId, clientSecret));

    const deleted = await ccb('clients', 'delete', 'billing-app');
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.match(deleted.stdout, /Deleted client billing-app/);
    const again = await ccb('clients', 'delete', 'billing-app');
    assert.equal(again.code, 1);
    assert.match(again.stderr, /client billing-app does not exist \(REQUEST_FAILED\.ResourceNotFound\)/);
  });

  it('creates a user with a generated password, changes it, lists and deletes the user', childProcessTest, async () => {
    const created = await ccb('users', 'create', 'ops', '--accounts', '0000123456-00001,0000123456-00002');
    assert.equal(created.code, 0, created.stderr);
    const generated = /Password: (\S+)/.exec(created.stdout)?.[1];
    assert.ok(generated, created.stdout);
    await login(server, 'ops', generated);

    const updated = await runCcb(['users', 'update', 'ops', '--accounts', '0000123456-00001'], {
      ...env,
      CCB_USER_PASSWORD: 'a-new-ops-password',
    });
    assert.equal(updated.code, 0, updated.stderr);
    assert.match(updated.stdout, /sessions ended/);
    await login(server, 'ops', 'a-new-ops-password');

    const listed = await ccb('users', 'list', '--json');
    const ops = listed.json().find((user: { username: string }) => user.username === 'ops');
    assert.deepEqual(ops.accounts, ['0000123456-00001']);

    const tooShort = await ccb('users', 'update', 'ops', '--password', 'short');
    assert.equal(tooShort.code, 1);
    assert.match(tooShort.stderr, /password must be 8 to 256 characters/);

    assert.equal((await ccb('users', 'delete', 'ops')).code, 0);
    await assert.rejects(login(server, 'ops', 'a-new-ops-password'));
  });

  it('prints JSON for users create, update and delete and clients delete with --json', async () => {
    const generated = await ccb('users', 'create', 'scripted', '--accounts', '0000123456-00001', '--json');
    assert.equal(generated.code, 0, generated.stderr);
    const { password, ...created } = generated.json();
    assert.deepEqual(created, { username: 'scripted', accounts: ['0000123456-00001'], replaced: false });
    await login(server, 'scripted', password);

    const replaced = await ccb(
      'users',
      'create',
      'scripted',
      '--accounts',
      '',
      '--password',
      'chosen-password-1',
      '--json',
    );
    assert.deepEqual(
      replaced.json(),
      { username: 'scripted', accounts: [], replaced: true },
      'a chosen password is not echoed',
    );

    const updated = await ccb('users', 'update', 'scripted', '--accounts', '0000123456-00002', '--json');
    assert.deepEqual(updated.json(), { username: 'scripted', accounts: ['0000123456-00002'] });
    assert.deepEqual((await ccb('users', 'delete', 'scripted', '--json')).json(), { username: 'scripted' });

    await ccb('clients', 'create', 'scripted client', '--id', 'scripted-app');
    assert.deepEqual((await ccb('clients', 'delete', 'scripted-app', '--json')).json(), { clientId: 'scripted-app' });
  });
});

describe('ccb keys', () => {
  let server: TestServer;
  const ccb = async (token: string, ...args: string[]) => {
    const connection = ['--server', server.baseUrl, '--admin-token', token];
    const run = await runCcbInProcess([registerKeysCommands, registerMessagesCommand], [...args, ...connection]);
    return { ...run, json: () => JSON.parse(run.stdout) };
  };

  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  it('creates a key shown once, which the CLI then takes as its admin token, lists and revokes it', async () => {
    const created = await ccb(
      server.adminToken,
      'keys',
      'create',
      'reader',
      '--scopes',
      'messages:read',
      '--accounts',
      '0000123456-00001',
      '--json',
    );
    assert.equal(created.code, 0, created.stderr);
    const key = created.json();
    assert.match(key.key, /^ccbk_/);
    assert.deepEqual([key.scopes, key.accounts], [['messages:read'], ['0000123456-00001']]);

    const withKey = await ccb(key.key, 'messages', 'list');
    assert.equal(withKey.code, 0, withKey.stderr);
    const notAllowed = await ccb(key.key, 'keys', 'list');
    assert.equal(notAllowed.code, 1);
    assert.match(notAllowed.stderr, /does not have the admin scope \(REQUEST_FAILED\.Forbidden\)/);

    const listed = await ccb(server.adminToken, 'keys', 'list');
    assert.match(listed.stdout, new RegExp(`${key.id}\\s+reader\\s+messages:read\\s+0000123456-00001\\s+active`));
    assert.ok(!listed.stdout.includes(key.key), 'the key is not listed');

    const revoked = await ccb(server.adminToken, 'keys', 'revoke', key.id, '--json');
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.ok(revoked.json().revokedAt);
    const refused = await ccb(key.key, 'messages', 'list');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /REQUEST_FAILED\.Unauthorized/);

    const badScope = await ccb(server.adminToken, 'keys', 'create', 'x', '--scopes', 'everything');
    assert.equal(badScope.code, 1);
    assert.match(badScope.stderr, /unknown scope everything/);
  });
});
