/**
 * The portal API (/portal/api, docs/portal.md) as the portal page uses it: the portal session token
 * (`ccbp_…`) from sessionStorage as a Bearer header. The page holds no other credential.
 */
import type { PortalLoginRequest, PortalRegistrationView, PortalSessionView } from '../../../src/api/views';
import type { Message, MessageDetail, MessagePage, Published, RegistrationChange, ReplayJob, Secret } from '../api';
import { query, requester, seg } from '../http';

/** The portal API's shapes, from its route schemas (src/api/portal.ts). */
export type PortalSession = PortalSessionView;
export type PortalRegistration = PortalRegistrationView;

const TOKEN_KEY = 'ccb.portalSession';

export const portalSession = {
  token: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  keep(token: string) {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  forget() {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

let onUnauthorized: () => void = () => {};
export function setPortalUnauthorizedHandler(handler: () => void) {
  onUnauthorized = handler;
}

const request = requester(portalSession.token, () => onUnauthorized());
const account = (aname: string) => `/portal/api/accounts/${seg(aname)}`;
const registration = (aname: string, sname: string) => `${account(aname)}/registrations/${seg(sname)}`;

export interface PortalMessageFilter {
  serviceName?: string;
  status?: string;
}

export const portalApi = {
  exchangeLink: (token: string) => request<PortalSession>('POST', '/portal/api/session/link', { token }, null),
  login: (credentials: PortalLoginRequest) =>
    request<PortalSession>('POST', '/portal/api/session/login', credentials, null),
  session: () => request<PortalSession>('GET', '/portal/api/session'),
  logout: () => request<{ ended: boolean }>('POST', '/portal/api/session/logout'),
  registrations: (aname: string) => request<{ items: PortalRegistration[] }>('GET', `${account(aname)}/registrations`),
  put: (aname: string, sname: string, change: RegistrationChange) =>
    request<PortalRegistration>('PUT', registration(aname, sname), change),
  remove: (aname: string, sname: string) =>
    request<{ accountName: string; serviceName: string }>('DELETE', registration(aname, sname)),
  secret: (aname: string, sname: string) => request<Secret>('GET', `${registration(aname, sname)}/secret`),
  rotate: (aname: string, sname: string) => request<Secret>('POST', `${registration(aname, sname)}/secret/rotate`),
  test: (aname: string, sname: string) =>
    request<Published & { payload?: unknown }>('POST', `${registration(aname, sname)}/test`),
  messages: (aname: string, filter: PortalMessageFilter, cursor: string | null, limit = 25) =>
    request<MessagePage>('GET', `${account(aname)}/messages${query({ ...filter, limit, cursor })}`),
  message: (aname: string, id: string) => request<MessageDetail>('GET', `${account(aname)}/messages/${seg(id)}`),
  replay: (aname: string, id: string) => request<Published>('POST', `${account(aname)}/messages/${seg(id)}/replay`),
  replayFailed: (aname: string, serviceName?: string) =>
    request<{ jobId: string }>('POST', `${account(aname)}/messages/replay`, serviceName ? { serviceName } : {}),
  replayJob: (aname: string, jobId: string) => request<ReplayJob>('GET', `${account(aname)}/replays/${seg(jobId)}`),
};

export type { Message };
