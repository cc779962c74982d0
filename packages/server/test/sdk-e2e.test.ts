import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client, ConnectivityManagementResultError } from '@ccb/sdk';
import { createUser, DEV_CREDENTIALS, startTestServer, type TestServer } from './helpers.js';

describe('the SDK against the real server', () => {
  let server: TestServer;
  let client: Client;
  const account = DEV_CREDENTIALS.accountName;
  /** Moves the server's clock (not the SDK's) forward. */
  let skewMs = 0;

  before(async () => {
    server = await startTestServer({ clock: () => Date.now() + skewMs });
    client = new Client({
      baseUrl: server.apiUrl,
      thingspaceOauthCredentials: {
        oauthClientId: DEV_CREDENTIALS.clientId,
        oauthClientSecret: DEV_CREDENTIALS.clientSecret,
      },
      sessionCredentials: { username: DEV_CREDENTIALS.username, password: DEV_CREDENTIALS.password },
      timeout: 5_000,
    });
  });
  after(() => server.close());

  it('registers, lists and deregisters a callback', async () => {
    const registered = await client.connectivityCallbacks.registerCallback(account, {
      name: 'CarrierService',
      url: 'http://127.0.0.1:9001/CallbackListener/Carrier',
      username: 'acme',
      password: 'drowssap',
    });
    assert.equal(registered.statusCode, 200);
    assert.deepEqual(registered.data, { accountName: account, serviceName: 'CarrierService' });

    const listed = await client.connectivityCallbacks.listRegisteredCallbacks(account);
    assert.equal(listed.statusCode, 200);
    assert.deepEqual(listed.data, [
      {
        accountName: account,
        serviceName: 'CarrierService',
        url: 'http://127.0.0.1:9001/CallbackListener/Carrier',
        username: 'acme',
        password: 'drowssap',
      },
    ]);

    const removed = await client.connectivityCallbacks.deregisterCallback(account, 'CarrierService');
    assert.deepEqual(removed.data, { accountName: account, serviceName: 'CarrierService' });
    assert.deepEqual((await client.connectivityCallbacks.listRegisteredCallbacks(account)).data, []);
  });

  it('surfaces a 400 as ConnectivityManagementResultError with the server error code', async () => {
    await assert.rejects(
      client.connectivityCallbacks.deregisterCallback(account, 'CarrierService'),
      (error: unknown) => {
        assert.ok(error instanceof ConnectivityManagementResultError);
        assert.equal(error.statusCode, 400);
        assert.equal(error.errorCode, 'REQUEST_FAILED.CallbackNotFound');
        return true;
      },
    );
    await assert.rejects(
      client.connectivityCallbacks.registerCallback(account, { name: 'CarrierService', url: 'http://10.0.0.1:9001/' }),
      (error: unknown) => error instanceof ConnectivityManagementResultError && error.errorCode === 'INPUT_INVALID.Url',
    );
  });

  it('surfaces an account the user may not manage as a 400 with REQUEST_FAILED.AccountName', async () => {
    await createUser(server, 'narrow', 'narrow-password', ['0000000009-00001']);
    await assert.rejects(client.connectivityCallbacks.listRegisteredCallbacks('0000000009-00001'), (error: unknown) => {
      assert.ok(error instanceof ConnectivityManagementResultError);
      assert.equal(error.statusCode, 400);
      assert.equal(error.errorCode, 'REQUEST_FAILED.AccountName');
      assert.equal(error.errorMessage, 'account 0000000009-00001 is not managed by user demo');
      return true;
    });
  });

  it('logs in again when the server says its session expired', async () => {
    await client.connectivityCallbacks.listRegisteredCallbacks(account);
    // 21 idle minutes on the server: the session is gone, the access token still valid.
    skewMs += 21 * 60 * 1000;
    const listed = await client.connectivityCallbacks.listRegisteredCallbacks(account);
    assert.equal(listed.statusCode, 200);
  });
});
