export type { CallbackActionResult } from './callback-action-result.js';
export type { ConnectivityManagementCallback } from './connectivity-management-callback.js';
export type { RegisterCallbackRequest } from './register-callback-request.js';
