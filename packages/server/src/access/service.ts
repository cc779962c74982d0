import { randomBytes } from 'node:crypto';
import type { AppContext } from '../context.js';
import { timeOrderedId } from '../domain/message-id.js';
import { hashPassword } from '../security/passwords.js';
import { hashToken, newClientSecret, secretMatcher } from '../security/tokens.js';
import type { ApiKeyRecord, AuditFilter, AuditRecord, OAuthClient, PortalSessionRecord, User } from '../store/types.js';
import { Authenticator, SESSION_IDLE_MS } from './platform.js';
import { type Principal, ROOT_PRINCIPAL, type Scope } from './principal.js';

/** Prefixes that tell the three kinds of bearer secrets apart at a glance (and in secret scanners). */
export const KEY_PREFIX = 'ccbk_';
export const PORTAL_LINK_PREFIX = 'ccbl_';
export const PORTAL_SESSION_PREFIX = 'ccbp_';

export const PORTAL_LINK_DEFAULT_TTL_MS = 10 * 60 * 1000;
export const PORTAL_LINK_MAX_TTL_MS = 60 * 60 * 1000;
/** A portal session ends after this much idle time, like a platform session. */
export const PORTAL_SESSION_IDLE_MS = SESSION_IDLE_MS;
/** …and at the latest this long after it was opened, however busy. */
export const PORTAL_SESSION_MAX_MS = 8 * 60 * 60 * 1000;

/** What a portal session may do, on its own accounts only (the portal's routes check which). */
export const PORTAL_SCOPES: ReadonlySet<Scope> = new Set<Scope>([
  'messages:read',
  'messages:replay',
  'messages:publish',
  'registrations:read',
  'registrations:write',
  'secrets:read',
]);

const secretToken = (prefix: string) => `${prefix}${randomBytes(32).toString('base64url')}`;

/** A key as the key routes show it; the key itself only once, at creation. */
export interface NewApiKey {
  record: ApiKeyRecord;
  key: string;
}

export interface PortalSession {
  principal: Principal;
  record: PortalSessionRecord;
}

/**
 * The one place that answers "who is this and what may they do", for the admin API, the portal and the
 * platform API: the root token, scoped API keys, portal links and sessions, the platform's OAuth clients,
 * users, tokens and sessions (`platform`, with the lockout and the throttle), and the audit log. The
 * changes of clients and users go through here too, so that the caches they affect are dropped in the
 * same step instead of by each route.
 */
export class AccessService {
  readonly platform: Authenticator;
  private rootMatcher: { token: string; matches: (candidate: string) => boolean } | null = null;

  constructor(
    private readonly ctx: AppContext,
    private readonly clock: () => number = Date.now,
  ) {
    this.platform = new Authenticator(ctx, clock);
  }

  /** The root key's principal: every scope, every account. */
  readonly rootPrincipal: Principal = ROOT_PRINCIPAL;

  private get store() {
    return this.ctx.store;
  }

  /** The configured admin token, compared in constant time; its digest is made once (hot path: every publish). */
  isRootToken(candidate: string): boolean {
    const token = this.ctx.config.adminToken;
    if (this.rootMatcher?.token !== token) this.rootMatcher = { token, matches: secretMatcher(token) };
    return this.rootMatcher.matches(candidate);
  }

  /**
   * The principal of an admin bearer token: the root key, or a live API key (read from the database on
   * every call, so a revocation or expiry counts at once on every instance); null when neither.
   */
  async adminPrincipal(token: string): Promise<Principal | null> {
    if (this.isRootToken(token)) return ROOT_PRINCIPAL;
    if (!token.startsWith(KEY_PREFIX)) return null;
    const key = await this.store.access.getKeyByHash(hashToken(token));
    if (!key || key.revokedAt !== null || (key.expiresAt !== null && key.expiresAt <= this.clock())) return null;
    return {
      kind: 'key',
      name: key.name,
      id: key.id,
      scopes: new Set(key.scopes as Scope[]),
      accounts: key.accounts === null ? null : new Set(key.accounts),
    };
  }

  async createKey(input: {
    name: string;
    scopes: Scope[];
    accounts: string[] | null;
    expiresAt: number | null;
  }): Promise<NewApiKey> {
    const key = secretToken(KEY_PREFIX);
    const record: ApiKeyRecord = {
      id: `key_${randomBytes(8).toString('hex')}`,
      name: input.name,
      keyHash: hashToken(key),
      scopes: [...new Set(input.scopes)],
      accounts: input.accounts === null ? null : [...new Set(input.accounts)],
      expiresAt: input.expiresAt,
      createdAt: this.clock(),
      revokedAt: null,
    };
    await this.store.access.insertKey(record);
    return { record, key };
  }

  listKeys(): Promise<ApiKeyRecord[]> {
    return this.store.access.listKeys();
  }

  revokeKey(id: string): Promise<ApiKeyRecord | null> {
    return this.store.access.revokeKey(id, this.clock());
  }

  // Clients and users of the platform API: each change drops what this process cached about them.

  async createClient(input: { clientId: string; name: string; clientSecret: string }): Promise<boolean> {
    return this.store.auth.createClient({
      clientId: input.clientId,
      name: input.name,
      secretHash: await hashPassword(input.clientSecret),
      createdAt: this.clock(),
    });
  }

  getClient(clientId: string): Promise<OAuthClient | null> {
    return this.store.auth.getClient(clientId);
  }

  listClients(): Promise<OAuthClient[]> {
    return this.store.auth.listClients();
  }

  /** A new secret for the client (returned once); null when there is no such client. */
  async rotateClientSecret(clientId: string): Promise<string | null> {
    const clientSecret = newClientSecret();
    if (!(await this.store.auth.replaceClientSecret(clientId, await hashPassword(clientSecret)))) return null;
    this.platform.forgetClient(clientId);
    return clientSecret;
  }

  async deleteClient(clientId: string): Promise<boolean> {
    const deleted = await this.store.auth.deleteClient(clientId);
    this.platform.forgetClient(clientId);
    return deleted;
  }

  getUser(username: string): Promise<User | null> {
    return this.store.auth.getUser(username);
  }

  listUsers(): Promise<User[]> {
    return this.store.auth.listUsers();
  }

  /** Creates or replaces a user; a replacement ends its sessions (platform and portal). True when created. */
  async putUser(input: { username: string; password: string; accounts: string[] }): Promise<boolean> {
    const existing = await this.store.auth.getUser(input.username);
    await this.store.auth.upsertUser({
      username: input.username,
      passwordHash: await hashPassword(input.password),
      accounts: input.accounts,
      createdAt: existing?.createdAt ?? this.clock(),
    });
    if (existing) await this.endUserSessions(input.username);
    this.platform.forgetUser(input.username);
    return existing === null;
  }

  /**
   * Changes a user's password and/or accounts: a new password ends its sessions; new accounts apply to
   * its platform sessions at once and end its portal sessions (which hold their accounts).
   */
  async updateUser(username: string, changes: { password?: string; accounts?: string[] }): Promise<User | null> {
    const passwordHash = changes.password === undefined ? undefined : await hashPassword(changes.password);
    const user = await this.store.auth.updateUser(username, { passwordHash, accounts: changes.accounts });
    if (!user) return null;
    if (passwordHash !== undefined) await this.endUserSessions(username);
    else await this.store.access.deleteUserPortalSessions(username);
    this.platform.forgetUser(username);
    return user;
  }

  async deleteUser(username: string): Promise<boolean> {
    const deleted = await this.store.auth.deleteUser(username);
    await this.store.access.deleteUserPortalSessions(username);
    this.platform.forgetUser(username);
    return deleted;
  }

  private async endUserSessions(username: string): Promise<void> {
    await this.store.auth.deleteUserSessions(username);
    await this.store.access.deleteUserPortalSessions(username);
  }

  // The portal: single-use links and sessions.

  /** A single-use link token for one account, valid for `ttlMs`. */
  async createPortalLink(
    accountName: string,
    ttlMs: number,
    createdBy: Principal,
  ): Promise<{ token: string; expiresAt: number }> {
    const token = secretToken(PORTAL_LINK_PREFIX);
    const now = this.clock();
    const expiresAt = now + ttlMs;
    await this.store.access.insertPortalLink({
      tokenHash: hashToken(token),
      accountName,
      createdBy: `${createdBy.kind}:${createdBy.name}`,
      createdAt: now,
      expiresAt,
    });
    return { token, expiresAt };
  }

  /** Exchanges a link for a portal session of its account; null when the link is unknown, used or expired. */
  async openLinkSession(linkToken: string): Promise<{ token: string; session: PortalSession } | null> {
    if (!linkToken.startsWith(PORTAL_LINK_PREFIX)) return null;
    const link = await this.store.access.consumePortalLink(hashToken(linkToken), this.clock());
    if (!link) return null;
    return this.openPortalSession('portal-link', `link for ${link.accountName}`, null, [link.accountName]);
  }

  /**
   * Signs a platform user in to the portal: the OAuth client's credentials, then the user's password, with
   * the platform's throttle and lockout. The session covers every account the user manages.
   */
  async openUserSession(input: {
    clientId: string;
    clientSecret: string;
    username: string;
    password: string;
    source: string;
  }): Promise<{ token: string; session: PortalSession }> {
    await this.platform.checkClient(input.clientId, input.clientSecret, input.source);
    const user = await this.platform.checkLogin(input.username, input.password, input.source);
    return this.openPortalSession('portal-user', user.username, user.username, user.accounts);
  }

  private async openPortalSession(
    kind: PortalSessionRecord['kind'],
    name: string,
    username: string | null,
    accounts: string[],
  ): Promise<{ token: string; session: PortalSession }> {
    const token = secretToken(PORTAL_SESSION_PREFIX);
    const now = this.clock();
    const record: PortalSessionRecord = {
      tokenHash: hashToken(token),
      kind,
      name,
      username,
      accounts,
      expiresAt: Math.min(now + PORTAL_SESSION_IDLE_MS, now + PORTAL_SESSION_MAX_MS),
      endsAt: now + PORTAL_SESSION_MAX_MS,
    };
    await this.store.access.savePortalSession(record);
    return { token, session: { principal: portalPrincipal(record), record } };
  }

  /** The live portal session of a token (its idle expiry moved forward), or null. */
  async portalSession(token: string): Promise<PortalSession | null> {
    if (!token.startsWith(PORTAL_SESSION_PREFIX)) return null;
    const tokenHash = hashToken(token);
    const record = await this.store.access.getPortalSession(tokenHash);
    const now = this.clock();
    if (!record || record.expiresAt <= now || record.endsAt <= now) return null;
    const expiresAt = Math.min(now + PORTAL_SESSION_IDLE_MS, record.endsAt);
    // Written back at most every 30 s, so that a busy page does not write per request.
    if (expiresAt - record.expiresAt >= 30_000) {
      await this.store.access.touchPortalSession(tokenHash, expiresAt);
      record.expiresAt = expiresAt;
    }
    return { principal: portalPrincipal(record), record };
  }

  endPortalSession(tokenHash: string): Promise<boolean> {
    return this.store.access.deletePortalSession(tokenHash);
  }

  // The audit log.

  async record(entry: Omit<AuditRecord, 'id' | 'at'>): Promise<void> {
    const at = this.clock();
    await this.store.access.appendAudit({
      id: timeOrderedId('aud_', at, 6),
      at,
      ...entry,
    });
  }

  listAudit(filter: AuditFilter, limit: number, cursor: string | null) {
    return this.store.access.listAudit(filter, limit, cursor);
  }

  /** Deletes audit entries past retention, and used links, ended sessions and old attempt windows. */
  purge(now: number = this.clock()): Promise<number> {
    return this.store.access.purge(now - this.ctx.config.access.auditRetentionMs, now);
  }
}

function portalPrincipal(record: PortalSessionRecord): Principal {
  return {
    kind: record.kind,
    name: record.name,
    id: record.tokenHash,
    scopes: PORTAL_SCOPES,
    accounts: new Set(record.accounts),
  };
}
