import type { MessageStatus } from '../store/types.js';

/** How long one admin API request may take before the CLI gives up on it. */
const REQUEST_TIMEOUT_MS = 30_000;

/** A message as the admin API returns it (`GET /admin/v1/messages`). */
export interface MessageView {
  id: string;
  accountName: string;
  serviceName: string;
  status: MessageStatus;
  attempts: number;
  maxAttempts: number;
  nextAttemptAt: string | null;
  reason: string | null;
  idempotencyKey: string | null;
  createdAt: string;
  updatedAt: string;
  deliveredAt: string | null;
  payload: Record<string, unknown>;
}

/** One delivery attempt of a message (`GET /admin/v1/messages/{id}`). */
export interface AttemptView {
  attemptNumber: number;
  startedAt: string;
  url: string;
  statusCode: number | null;
  latencyMs: number;
  error: { kind: string; detail: string } | null;
  responseExcerpt: string | null;
}

export interface MessageWithAttemptsView extends MessageView {
  deliveryAttempts: AttemptView[];
}

export interface MessagePage {
  items: MessageView[];
  nextCursor: string | null;
}

export interface MessageQuery {
  accountName?: string;
  serviceName?: string;
  status?: MessageStatus;
  limit?: number;
  cursor?: string;
}

export interface NewMessageRequest {
  accountName: string;
  serviceName: string;
  payload: Record<string, unknown>;
}

export interface PublishResult {
  messageId: string;
  status: MessageStatus;
  /** The Idempotency-Key was seen before: this is the first publish's message. */
  idempotentReplay: boolean;
}

export interface ReplayFilter {
  status?: MessageStatus;
  accountName?: string;
  serviceName?: string;
  /** ISO 8601 date-time. */
  since?: string;
  until?: string;
}

/** Progress of a bulk replay (`GET /admin/v1/replays/{jobId}`). */
export interface ReplayJobView {
  jobId: string;
  status: 'running' | 'done' | 'failed';
  matched: number;
  replayed: number;
  startedAt: string;
  finishedAt: string | null;
  error: string | null;
}

/** An OAuth client as the admin API lists it (`GET /admin/v1/clients`). */
export interface ClientView {
  clientId: string;
  name: string;
  createdAt: string;
}

/** A user as the admin API lists it (`GET /admin/v1/users`). */
export interface UserView {
  username: string;
  accounts: string[];
  lockedUntil: string | null;
  createdAt: string;
}

export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
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
    const response = await this.request('POST', '/messages', message, idempotencyKey);
    const body = response.body as { messageId: string; status: MessageStatus };
    return {
      messageId: body.messageId,
      status: body.status,
      idempotentReplay: response.headers.get('idempotent-replayed') === 'true',
    };
  }

  /** Fields are undefined when the server answered 2xx without the expected body. */
  async publishBatch(messages: NewMessageRequest[]): Promise<{ messageIds?: string[]; statuses?: MessageStatus[] }> {
    const { body } = await this.request('POST', '/messages/batch', { messages });
    const { messageIds, statuses } = (body ?? {}) as { messageIds?: unknown; statuses?: unknown };
    return {
      messageIds: Array.isArray(messageIds) ? messageIds : undefined,
      statuses: Array.isArray(statuses) ? statuses : undefined,
    };
  }

  async listMessages(query: MessageQuery = {}): Promise<MessagePage> {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined) search.set(name, String(value));
    }
    const queryString = search.toString();
    return (await this.request('GET', `/messages${queryString ? `?${queryString}` : ''}`)).body as MessagePage;
  }

  async getMessage(id: string): Promise<MessageWithAttemptsView> {
    return (await this.request('GET', `/messages/${encodeURIComponent(id)}`)).body as MessageWithAttemptsView;
  }

  async replayMessage(id: string): Promise<{ messageId: string; status: MessageStatus }> {
    return (await this.request('POST', `/messages/${encodeURIComponent(id)}/replay`)).body as {
      messageId: string;
      status: MessageStatus;
    };
  }

  async startReplay(filter: ReplayFilter): Promise<{ jobId: string }> {
    return (await this.request('POST', '/messages/replay', { filter })).body as { jobId: string };
  }

  async getReplay(jobId: string): Promise<ReplayJobView> {
    return (await this.request('GET', `/replays/${encodeURIComponent(jobId)}`)).body as ReplayJobView;
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

  async deleteClient(clientId: string): Promise<void> {
    await this.request('DELETE', `/clients/${encodeURIComponent(clientId)}`);
  }

  async listUsers(): Promise<UserView[]> {
    return ((await this.request('GET', '/users')).body as { items: UserView[] }).items;
  }

  /** Creates or replaces a user; `replaced` when it existed (its sessions ended). */
  async putUser(user: { username: string; password: string; accounts: string[] }): Promise<{ replaced: boolean }> {
    return { replaced: (await this.request('POST', '/users', user)).status === 200 };
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

  async deleteUser(username: string): Promise<void> {
    await this.request('DELETE', `/users/${encodeURIComponent(username)}`);
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
        body: body === undefined ? undefined : JSON.stringify(body),
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
