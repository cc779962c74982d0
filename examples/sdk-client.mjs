// The SDK against the dev server (`npm start`): register a listener, list, deregister.
// Run from the repository root: node examples/sdk-client.mjs
// CCB_SERVER chooses another server (default http://127.0.0.1:8080), as for the ccb CLI.
import { Client, ConnectivityManagementResultError } from '@ccb/sdk';

const server = process.env.CCB_SERVER ?? 'http://127.0.0.1:8080';
const client = new Client({
  baseUrl: `${server}/api`,
  thingspaceOauthCredentials: { oauthClientId: 'demo-client', oauthClientSecret: 'demo-secret' },
  sessionCredentials: { username: 'demo', password: 'demo-password' },
  timeout: 10_000,
});
const callbacks = client.connectivityCallbacks;
const account = '0000123456-00001';

const registered = await callbacks.registerCallback(account, {
  name: 'CarrierService',
  url: 'http://127.0.0.1:9001/hook', // loopback listeners are allowed in the dev profile
  username: 'acme',
  password: 'k9Vd2mQ7',
});
console.log('registered', registered.statusCode, registered.data);

const { data: listeners } = await callbacks.listRegisteredCallbacks(account);
console.log('listed', listeners);

await callbacks.deregisterCallback(account, 'CarrierService');
console.log('deregistered CarrierService');
try {
  await callbacks.deregisterCallback(account, 'CarrierService'); // not registered any more
} catch (error) {
  if (!(error instanceof ConnectivityManagementResultError)) throw error;
  console.log('refused', error.statusCode, error.errorCode, error.errorMessage);
}
