/**
 * Who is calling and what they may do: the one answer the admin API, the portal and the platform API
 * get from the access service (access/service.ts).
 */

/** The scopes of API keys (docs/access.md); each admin route declares the one it needs. */
export const SCOPES = [
  'messages:publish',
  'messages:read',
  'messages:replay',
  'registrations:read',
  'registrations:write',
  'secrets:read',
  'portal:links',
  'admin',
] as const;

export type Scope = (typeof SCOPES)[number];

export const SCOPE_DESCRIPTIONS: Record<Scope, string> = {
  'messages:publish': 'publish messages',
  'messages:read': 'list and read messages, replay jobs and stats',
  'messages:replay': 'replay messages, one or in bulk',
  'registrations:read': 'read registrations and their settings (not their secrets)',
  'registrations:write': "change registrations' settings",
  'secrets:read': 'read and rotate signing secrets',
  'portal:links': 'make portal links for accounts',
  admin: 'OAuth clients, users, API keys and the audit log',
};

export type PrincipalKind = 'root' | 'key' | 'portal-user' | 'portal-link' | 'm2m-user';

export interface Principal {
  kind: PrincipalKind;
  /** The key's name, the user's name, `admin` for the root key, a description of a portal link. */
  name: string;
  /** The key's id, the session's token hash: what identifies this principal in a store. */
  id: string;
  scopes: ReadonlySet<Scope>;
  /** The accounts this principal may see and change; null for every account. */
  accounts: ReadonlySet<string> | null;
}

export const ROOT_PRINCIPAL: Principal = {
  kind: 'root',
  name: 'admin',
  id: 'root',
  scopes: new Set(SCOPES),
  accounts: null,
};

/** Whether the principal may see and change this account's data. */
export function mayUseAccount(principal: Principal, accountName: string): boolean {
  return principal.accounts === null || principal.accounts.has(accountName);
}
