export { Client } from './client.js';
export {
  type ClientOptions,
  ENVIRONMENT_BASE_URLS,
  Environment,
  type RetryOptions,
  type SessionCredentials,
  type ThingspaceOauthCredentials,
  type VZM2mTokenCredentials,
} from './configuration.js';
export { ConnectivityCallbacksController } from './controllers/connectivity-callbacks-controller.js';
export {
  ApiError,
  ArgumentError,
  AuthenticationError,
  ConnectionError,
  ConnectivityManagementResultError,
  ConnectivityManagementResultException,
  TimeoutError,
} from './errors.js';
export type { ApiResponse } from './http/api-response.js';
export {
  FetchHttpClient,
  type HttpClient,
  type HttpMethod,
  type HttpRequest,
  type HttpResponse,
} from './http/http-client.js';
export { parseRetryAfter } from './http/retry-policy.js';
export type { CallbackActionResult, ConnectivityManagementCallback, RegisterCallbackRequest } from './models/index.js';
export * from './services/index.js';
