/** The admin API as the page uses it: the token from sessionStorage as a Bearer header, errors as ApiError. */
import type { ControlSettings, OperatorEventEntry, RegistrationHealthView } from '../../src/domain/delivery-controls';
import type { MessageStatus } from '../../src/domain/statuses';

// The server's own lists (domain/statuses.ts imports nothing, so the page bundles just these names).
export { MESSAGE_STATUSES, type MessageStatus, REPLAYABLE_STATUSES } from '../../src/domain/statuses';

const TOKEN_KEY = 'ccb.adminToken';
/** Set by signing out, so the dev profile does not sign the tab straight back in. */
const SIGNED_OUT_KEY = 'ccb.signedOut';

export interface Profile {
  version: string;
  userAgent: string;
  services: string[];
  /** A port the server accepts in listener URLs, for examples. */
  listenerPort: number;
  devAdminToken?: string;
}

export interface Registration {
  accountName: string;
  serviceName: string;
  url: string;
  credentialsSet: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface Message {
  id: string;
  accountName: string;
  serviceName: string;
  status: MessageStatus;
  attempts: number;
  maxAttempts: number;
  nextAttemptAt: string | null;
  reason: string | null;
  createdAt: string;
  updatedAt: string;
  deliveredAt: string | null;
  payload: Record<string, unknown>;
}

export interface Attempt {
  attemptNumber: number;
  startedAt: string;
  url: string;
  statusCode: number | null;
  latencyMs: number;
  /** Rendered as given: a string today, `{kind, detail}` once attempt errors are typed. */
  error: unknown;
  responseExcerpt: string | null;
}

export interface MessageDetail extends Message {
  deliveryAttempts: Attempt[];
}

export interface MessagePage {
  items: Message[];
  nextCursor: string | null;
}

export interface Stats {
  counts: Record<MessageStatus, number>;
  queueDepth: number;
  oldestDueAgeMs: number;
}

export interface HistoryPoint extends Stats {
  at: string;
  intervalMs: number;
  attempts: Record<string, number>;
}

export interface ReplayJob {
  jobId: string;
  status: 'running' | 'done' | 'failed';
  matched: number;
  replayed: number;
  /** Matched messages left alone: no listener is registered for their account and service. */
  noListener: number;
  startedAt: string;
  finishedAt: string | null;
  error: string | null;
}

export interface Secret {
  secret: string;
  previousSecret?: string;
  previousSecretExpiresAt?: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
  ) {
    super(message);
  }
}

export const session = {
  token: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  signIn(token: string) {
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.removeItem(SIGNED_OUT_KEY);
  },
  signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.setItem(SIGNED_OUT_KEY, '1');
  },
  signedOut: (): boolean => sessionStorage.getItem(SIGNED_OUT_KEY) === '1',
};

/** Called when the server refuses the stored token (it changed, or the server restarted with another). */
let onUnauthorized: () => void = () => {};
export function setUnauthorizedHandler(handler: () => void) {
  onUnauthorized = handler;
}

async function request<T>(method: string, path: string, body?: unknown, token = session.token()): Promise<T> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, 'network', 'The server does not answer. Is `ccb serve` still running?');
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    const envelope = (parsed ?? {}) as { errorCode?: string; errorMessage?: string };
    if (response.status === 401 && token === session.token()) onUnauthorized();
    throw new ApiError(
      response.status,
      envelope.errorCode ?? 'unknown',
      envelope.errorMessage ?? `The server answered ${response.status}.`,
    );
  }
  return parsed as T;
}

const query = (params: Record<string, string | undefined>) => {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value) search.set(key, value);
  const text = search.toString();
  return text ? `?${text}` : '';
};

export interface MessageFilter {
  accountName?: string;
  serviceName?: string;
  status?: string;
}

export const api = {
  profile: () => request<Profile>('GET', '/ui/profile.json', undefined, null),
  /** Checks a token before keeping it. */
  verify: (token: string) => request<Stats>('GET', '/admin/v1/stats', undefined, token),
  stats: () => request<Stats>('GET', '/admin/v1/stats'),
  history: () => request<{ points: HistoryPoint[] }>('GET', '/admin/v1/stats/history'),
  registrations: () => request<{ items: Registration[] }>('GET', '/admin/v1/registrations'),
  secret: (account: string, service: string) =>
    request<Secret>('GET', `/admin/v1/callbacks/${encodeURIComponent(account)}/${encodeURIComponent(service)}/secret`),
  rotate: (account: string, service: string) =>
    request<Secret>(
      'POST',
      `/admin/v1/callbacks/${encodeURIComponent(account)}/${encodeURIComponent(service)}/secret/rotate`,
    ),
  messages: (filter: MessageFilter, cursor: string | null, limit = 25) =>
    request<MessagePage>(
      'GET',
      `/admin/v1/messages${query({ ...filter, limit: String(limit), cursor: cursor ?? undefined })}`,
    ),
  message: (id: string) => request<MessageDetail>('GET', `/admin/v1/messages/${encodeURIComponent(id)}`),
  replay: (id: string) =>
    request<{ messageId: string; status: string }>('POST', `/admin/v1/messages/${encodeURIComponent(id)}/replay`),
  bulkReplay: (filter: MessageFilter) => request<{ jobId: string }>('POST', '/admin/v1/messages/replay', { filter }),
  replayJob: (jobId: string) => request<ReplayJob>('GET', `/admin/v1/replays/${encodeURIComponent(jobId)}`),
};

/** Delivery controls (docs/delivery-controls.md): the shapes are the admin API's own (domain/delivery-controls.ts). */
export const controlsApi = {
  registration: (account: string, service: string) =>
    request<RegistrationHealthView>(
      'GET',
      `/admin/v1/callbacks/${encodeURIComponent(account)}/${encodeURIComponent(service)}`,
    ),
  changeSettings: (account: string, service: string, settings: Partial<ControlSettings>) =>
    request<ControlSettings>(
      'PATCH',
      `/admin/v1/callbacks/${encodeURIComponent(account)}/${encodeURIComponent(service)}/settings`,
      settings,
    ),
  operatorEvents: () => request<{ items: OperatorEventEntry[] }>('GET', '/admin/v1/operator/events?limit=20'),
};
