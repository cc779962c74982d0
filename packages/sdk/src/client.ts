import { type ClientOptions, resolveConfiguration } from './configuration.js';
import { ConnectivityCallbacksController } from './controllers/connectivity-callbacks-controller.js';
import { RequestCore } from './http/request-core.js';

/**
 * The Connectivity Management client. Throws `ArgumentError` when an option is missing or invalid.
 *
 * ```ts
 * const client = new Client({
 *   baseUrl: 'http://127.0.0.1:8080/api',
 *   thingspaceOauthCredentials: { oauthClientId: 'demo-client', oauthClientSecret: 'demo-secret' },
 *   sessionCredentials: { username: 'demo', password: 'demo-password' },
 * });
 * const { data } = await client.connectivityCallbacks.listRegisteredCallbacks('0000123456-00001');
 * ```
 */
export class Client {
  readonly connectivityCallbacks: ConnectivityCallbacksController;

  constructor(options: ClientOptions) {
    const core = new RequestCore(resolveConfiguration(options));
    this.connectivityCallbacks = new ConnectivityCallbacksController(core);
  }
}
