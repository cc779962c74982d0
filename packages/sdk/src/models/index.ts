export type { CallbackActionResult } from './callbackActionResult.js';
export type { ConnectivityManagementCallback } from './connectivityManagementCallback.js';
export type { RegisterCallbackRequest } from './registerCallbackRequest.js';
