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
export { ConnectivityCallbacksController } from './controllers/connectivityCallbacksController.js';
export {
  ApiError,
  ArgumentError,
  AuthenticationError,
  ConnectionError,
  ConnectivityManagementResultError,
  ConnectivityManagementResultException,
  TimeoutError,
} from './errors.js';
export type { ApiResponse } from './http/apiResponse.js';
export {
  FetchHttpClient,
  type HttpClient,
  type HttpMethod,
  type HttpRequest,
  type HttpResponse,
} from './http/httpClient.js';
export { parseRetryAfter } from './http/retryPolicy.js';
export type { CallbackActionResult, ConnectivityManagementCallback, RegisterCallbackRequest } from './models/index.js';
export * from './services/index.js';
