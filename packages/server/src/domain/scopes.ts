/** The scopes of API keys (docs/access.md); each admin route declares the one it needs in its config. */
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
