import { optionalString, requireNonEmptyString, requirePlainObject } from '../arguments.js';
import type { ApiResponse } from '../http/api-response.js';
import type { RequestCore } from '../http/request-core.js';
import type { CallbackActionResult } from '../models/callback-action-result.js';
import type { ConnectivityManagementCallback } from '../models/connectivity-management-callback.js';
import type { RegisterCallbackRequest } from '../models/register-callback-request.js';

/**
 * Callback listener registrations of an account: `{base}/m2m/v1/callbacks/{aname}`. Each operation
 * rejects with `ArgumentError` before sending anything when an argument is invalid.
 */
export class ConnectivityCallbacksController {
  constructor(private readonly core: RequestCore) {}

  /** The listeners registered for the account; `[]` when there are none (the platform may answer an empty body). */
  async listRegisteredCallbacks(aname: string): Promise<ApiResponse<ConnectivityManagementCallback[]>> {
    const path = callbacksPath(aname);
    return this.core.call<ConnectivityManagementCallback[]>({ method: 'GET', path, emptyValue: [] });
  }

  /** Registers `body.url` as the account's listener for `body.name`, replacing any earlier one. */
  async registerCallback(aname: string, body: RegisterCallbackRequest): Promise<ApiResponse<CallbackActionResult>> {
    const path = callbacksPath(aname);
    return this.core.call<CallbackActionResult>({
      method: 'POST',
      path,
      body: registerCallbackBody(body),
      emptyValue: {},
    });
  }

  /** Stops callbacks of service `sname` for the account. */
  async deregisterCallback(aname: string, sname: string): Promise<ApiResponse<CallbackActionResult>> {
    const path = `${callbacksPath(aname)}/name/${encodeURIComponent(requireNonEmptyString(sname, 'sname'))}`;
    return this.core.call<CallbackActionResult>({ method: 'DELETE', path, emptyValue: {} });
  }
}

function callbacksPath(aname: string): string {
  return `/m2m/v1/callbacks/${encodeURIComponent(requireNonEmptyString(aname, 'aname'))}`;
}

/** Only the model's fields, and only those given. */
function registerCallbackBody(value: unknown): RegisterCallbackRequest {
  const body = requirePlainObject(value, 'body');
  const request: RegisterCallbackRequest = {
    name: requireNonEmptyString(body.name, 'body.name'),
    url: requireNonEmptyString(body.url, 'body.url'),
  };
  const username = optionalString(body.username, 'body.username');
  const password = optionalString(body.password, 'body.password');
  if (username !== undefined) request.username = username;
  if (password !== undefined) request.password = password;
  return request;
}
