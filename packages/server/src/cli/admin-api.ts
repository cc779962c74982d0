/** How long one admin API request may take before the CLI gives up on it. */
const REQUEST_TIMEOUT_MS = 30_000;

import type { ApiKeyView, CreatedApiKeyView } from '../api/access.js';
import type { ClientCredentialsView as ClientCredentials, ClientView, UserView } from '../api/admin.js';
import type { RegistrationHealthView, SettingsChange, SettingsView } from '../api/controls.js';
import type {
  BatchResponseView,
  MessagePageView,
  MessageQuery,
  MessageWithAttemptsView,
  NewMessageRequest,
  PublishResponseView,
  ReplayFilter,
  ReplayJobView,
} from '../api/message-schemas.js';

// The views are the API's own schemas (api/message-schemas.ts, api/admin.ts), so the CLI cannot drift from them.
export type { ApiKeyView, CreatedApiKeyView } from '../api/access.js';
export type {
  ClientCredentialsView as ClientCredentials,
  ClientView,
  UserView,
} from '../api/admin.js';
export type { RegistrationHealthView, SettingsChange, SettingsView } from '../api/controls.js';
export type {
  AttemptView,
  MessagePageView,
  MessageQuery,
  MessageView,
  MessageWithAttemptsView,
  NewMessageRequest,
  ReplayFilter,
  ReplayJobView,
} from '../api/message-schemas.js';

export interface PublishResult extends PublishResponseView {
  /** The Idempotency-Key was seen before: this is the first publish's message. */
  idempotentReplay: boolean;
}

/**
 * The admin API refused a request (`status`, with the server's `errorCode`/`errorMessage` when it sent
 * them) or could not be reached (`status` undefined). The message is what a person should read.
 */
export class AdminApiError extends Error {
  override name = 'AdminApiError';
  constructor(
    message: string,
    readonly status?: number,
    readonly errorCode?: string,
    readonly errorMessage?: string,
  ) {
    super(message);
  }
}

interface AdminResponse {
  status: number;
  headers: Headers;
  /** The parsed JSON body; undefined when the body is not JSON. */
  body: unknown;
}

/** A request body that is already JSON text, sent as it is. */
class JsonText {
  constructor(readonly text: string) {}
}

/** The admin API (`/admin/v1`, SPEC §4) as the CLI uses it. */
export class AdminApi {
  readonly server: string;

  constructor(
    server: string,
    private readonly adminToken: string,
  ) {
    this.server = server.replace(/\/+$/, '');
  }

  async publish(message: NewMessageRequest, idempotencyKey?: string): Promise<PublishResult> {
    return this.published(await this.request('POST', '/messages', message, idempotencyKey));
  }

  /** Publishes a payload given as JSON text (a checked JSON object), sent as it is written. */
  async publishText(
    accountName: string,
    serviceName: string,
    payloadJson: string,
    idempotencyKey?: string,
  ): Promise<PublishResult> {
    const text = `{"accountName":${JSON.stringify(accountName)},"serviceName":${JSON.stringify(serviceName)},"payload":${payloadJson}}`;
    return this.published(await this.request('POST', '/messages', new JsonText(text), idempotencyKey));
  }

  private published(response: AdminResponse): PublishResult {
    const body = response.body as PublishResponseView | undefined;
    if (typeof body?.messageId !== 'string') {
      throw new AdminApiError(`the server answered ${response.status} without a message id: is it a ccb server?`);
    }
    return {
      messageId: body.messageId,
      status: body.status,
      idempotentReplay: response.headers.get('idempotent-replayed') === 'true',
    };
  }

  /** Fields are undefined when the server answered 2xx without the expected body. */
  async publishBatch(messages: NewMessageRequest[]): Promise<Partial<BatchResponseView>> {
    const { body } = await this.request('POST', '/messages/batch', { messages });
    const { messageIds, statuses } = (body ?? {}) as Partial<BatchResponseView>;
    return {
      messageIds: Array.isArray(messageIds) ? messageIds : undefined,
      statuses: Array.isArray(statuses) ? statuses : undefined,
    };
  }

  async listMessages(query: MessageQuery = {}): Promise<MessagePageView> {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined) search.set(name, String(value));
    }
    const queryString = search.toString();
    return (await this.request('GET', `/messages${queryString ? `?${queryString}` : ''}`)).body as MessagePageView;
  }

  async getMessage(id: string): Promise<MessageWithAttemptsView> {
    return (await this.request('GET', `/messages/${encodeURIComponent(id)}`)).body as MessageWithAttemptsView;
  }

  async replayMessage(id: string): Promise<PublishResponseView> {
    return (await this.request('POST', `/messages/${encodeURIComponent(id)}/replay`)).body as PublishResponseView;
  }

  async startReplay(filter: ReplayFilter): Promise<{ jobId: string }> {
    return (await this.request('POST', '/messages/replay', { filter })).body as { jobId: string };
  }

  async getReplay(jobId: string): Promise<ReplayJobView> {
    return (await this.request('GET', `/replays/${encodeURIComponent(jobId)}`)).body as ReplayJobView;
  }

  /** A registration with its delivery settings and health. */
  async getRegistration(accountName: string, serviceName: string): Promise<RegistrationHealthView> {
    return (
      await this.request('GET', `/callbacks/${encodeURIComponent(accountName)}/${encodeURIComponent(serviceName)}`)
    ).body as RegistrationHealthView;
  }

  async changeSettings(accountName: string, serviceName: string, change: SettingsChange): Promise<SettingsView> {
    const path = `/callbacks/${encodeURIComponent(accountName)}/${encodeURIComponent(serviceName)}/settings`;
    return (await this.request('PATCH', path, change)).body as SettingsView;
  }

  async listClients(): Promise<ClientView[]> {
    return ((await this.request('GET', '/clients')).body as { items: ClientView[] }).items;
  }

  async createClient(client: { name: string; clientId?: string; clientSecret?: string }): Promise<ClientCredentials> {
    return (await this.request('POST', '/clients', client)).body as ClientCredentials;
  }

  async rotateClientSecret(clientId: string): Promise<ClientCredentials> {
    return (await this.request('POST', `/clients/${encodeURIComponent(clientId)}/secret/rotate`))
      .body as ClientCredentials;
  }

  async deleteClient(clientId: string): Promise<{ clientId: string }> {
    return (await this.request('DELETE', `/clients/${encodeURIComponent(clientId)}`)).body as { clientId: string };
  }

  async listUsers(): Promise<UserView[]> {
    return ((await this.request('GET', '/users')).body as { items: UserView[] }).items;
  }

  /** Creates or replaces a user; `replaced` when it existed (its sessions ended). */
  async putUser(user: {
    username: string;
    password: string;
    accounts: string[];
  }): Promise<{ username: string; accounts: string[]; replaced: boolean }> {
    const response = await this.request('POST', '/users', user);
    const body = response.body as { username: string; accounts: string[] };
    return { username: body.username, accounts: body.accounts, replaced: response.status === 200 };
  }

  async updateUser(
    username: string,
    changes: { password?: string; accounts?: string[] },
  ): Promise<{ username: string; accounts: string[] }> {
    return (await this.request('PATCH', `/users/${encodeURIComponent(username)}`, changes)).body as {
      username: string;
      accounts: string[];
    };
  }

  async deleteUser(username: string): Promise<{ username: string }> {
    return (await this.request('DELETE', `/users/${encodeURIComponent(username)}`)).body as { username: string };
  }

  async listKeys(): Promise<ApiKeyView[]> {
    return ((await this.request('GET', '/keys')).body as { items: ApiKeyView[] }).items;
  }

  async createKey(key: {
    name: string;
    scopes: string[];
    accounts?: string[];
    expiresAt?: string;
  }): Promise<CreatedApiKeyView> {
    return (await this.request('POST', '/keys', key)).body as CreatedApiKeyView;
  }

  async revokeKey(id: string): Promise<ApiKeyView> {
    return (await this.request('DELETE', `/keys/${encodeURIComponent(id)}`)).body as ApiKeyView;
  }

  private async request(method: string, path: string, body?: unknown, idempotencyKey?: string) {
    const headers: Record<string, string> = { authorization: `Bearer ${this.adminToken}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
    let response: Response;
    try {
      response = await fetch(`${this.server}/admin/v1${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : body instanceof JsonText ? body.text : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new AdminApiError(
        `Cannot reach ${this.server}: ${cause?.code ?? cause?.message ?? (error as Error).message}`,
      );
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      // A proxy or a non-ccb server may answer HTML; the status code is reported below.
    }
    if (!response.ok) {
      const envelope = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
      const errorCode = typeof envelope.errorCode === 'string' ? envelope.errorCode : undefined;
      const errorMessage = typeof envelope.errorMessage === 'string' ? envelope.errorMessage : undefined;
      const detail = errorMessage ?? `HTTP ${response.status}`;
      throw new AdminApiError(
        errorCode ? `${detail} (${errorCode})` : detail,
        response.status,
        errorCode,
        errorMessage,
      );
    }
    return { status: response.status, headers: response.headers, body: parsed } satisfies AdminResponse;
  }
}
