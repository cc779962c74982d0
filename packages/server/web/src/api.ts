/** The admin API as the dashboard uses it: the token from sessionStorage as a Bearer header, errors as ApiError. */
import type {
  AttemptView,
  AuditEntryView,
  AuditPageView,
  HistoryPointView,
  HistoryView,
  MessagePageView,
  MessageQuery,
  MessageView,
  MessageWithAttemptsView,
  ProfileView,
  PublishResponseView,
  RegistrationChange,
  RegistrationView,
  ReplayJobView,
  ReplayRequestBody,
  SecretView,
  StatsView,
} from '../../src/api/views';
import type { ControlSettings, OperatorEventEntry, RegistrationHealthView } from '../../src/domain/delivery-controls';
import { query, requester, seg } from './http';

// The server's own lists (the domain's modules import nothing else, so the page bundles just these names).
export { REASON_KINDS } from '../../src/domain/reason-kinds';
export { isReplayable, MESSAGE_STATUSES, type MessageStatus } from '../../src/domain/statuses';
export { ApiError, asApiError } from './http';

/*
 * The shapes of the admin API, derived from the server's route schemas (TypeBox `Static<…>`): one
 * declaration per shape. Type-only imports: nothing of the server's routes is bundled.
 */
export type Profile = ProfileView;
export type Registration = RegistrationView;
export type { RegistrationChange };
export type Message = MessageView;
export type Attempt = AttemptView;
export type MessageDetail = MessageWithAttemptsView;
export type MessagePage = MessagePageView;
export type Stats = StatsView;
export type HistoryPoint = HistoryPointView;
export type History = HistoryView;
export type ReplayJob = ReplayJobView;
export type Secret = SecretView;
export type Published = PublishResponseView;
/** The list route's filters (its query without paging). */
export type MessageFilter = Omit<MessageQuery, 'limit' | 'cursor'>;
/** What the bulk replay route takes as a filter. */
export type ReplayFilter = NonNullable<ReplayRequestBody['filter']>;

const TOKEN_KEY = 'ccb.adminToken';
/** Set by signing out, so the dev profile does not sign the tab straight back in. */
const SIGNED_OUT_KEY = 'ccb.signedOut';

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

const request = requester(session.token, () => onUnauthorized());
const registrationPath = (accountName: string, serviceName: string) =>
  `/admin/v1/callbacks/${seg(accountName)}/${seg(serviceName)}`;

export type AuditEntry = AuditEntryView;

export const api = {
  profile: () => request<Profile>('GET', '/ui/profile.json', undefined, null),
  /** Checks a token before keeping it. */
  verify: (token: string) => request<Stats>('GET', '/admin/v1/stats', undefined, token),
  stats: () => request<Stats>('GET', '/admin/v1/stats'),
  history: (since?: string) => request<History>('GET', `/admin/v1/stats/history${query({ since })}`),
  registrations: () => request<{ items: Registration[] }>('GET', '/admin/v1/registrations'),
  putRegistration: (accountName: string, serviceName: string, change: RegistrationChange) =>
    request<Registration>('PUT', registrationPath(accountName, serviceName), change),
  removeRegistration: (accountName: string, serviceName: string) =>
    request<{ accountName: string; serviceName: string }>('DELETE', registrationPath(accountName, serviceName)),
  testMessage: (accountName: string, serviceName: string) =>
    request<Published>('POST', `${registrationPath(accountName, serviceName)}/test-message`),
  secret: (accountName: string, serviceName: string) =>
    request<Secret>('GET', `${registrationPath(accountName, serviceName)}/secret`),
  rotate: (accountName: string, serviceName: string) =>
    request<Secret>('POST', `${registrationPath(accountName, serviceName)}/secret/rotate`),
  messages: (filter: MessageFilter, cursor: string | null, limit = 25) =>
    request<MessagePage>('GET', `/admin/v1/messages${query({ ...filter, limit, cursor })}`),
  message: (id: string) => request<MessageDetail>('GET', `/admin/v1/messages/${seg(id)}`),
  replay: (id: string) => request<Published>('POST', `/admin/v1/messages/${seg(id)}/replay`),
  bulkReplay: (filter: ReplayFilter) => request<{ jobId: string }>('POST', '/admin/v1/messages/replay', { filter }),
  replayJob: (jobId: string) => request<ReplayJob>('GET', `/admin/v1/replays/${seg(jobId)}`),
  /** Who changed what on a target (a message id): the audit log's entries, newest first. */
  auditOf: (target: string) => request<AuditPageView>('GET', `/admin/v1/audit${query({ target, limit: 20 })}`),
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
