/**
 * Who is calling and what they may do: the one answer the admin API, the portal and the platform API
 * get from the access service (access/service.ts).
 */

import { SCOPES as ALL_SCOPES, type Scope } from '../domain/scopes.js';

export { SCOPE_DESCRIPTIONS, SCOPES, type Scope } from '../domain/scopes.js';

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
  scopes: new Set(ALL_SCOPES),
  accounts: null,
};

/** Whether the principal may see and change this account's data. */
export function mayUseAccount(principal: Principal, accountName: string): boolean {
  return principal.accounts === null || principal.accounts.has(accountName);
}
