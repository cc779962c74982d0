import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../context.js';
import { hashPassword, verifyPassword } from '../security/passwords.js';
import { hashToken, newAccessToken, newSessionToken, safeEqual } from '../security/tokens.js';
import type { AuthStore, User } from '../store/types.js';
import { ErrorCodes, HttpError } from './errors.js';

export const ACCESS_TOKEN_TTL_MS = 60 * 60 * 1000;
export const SESSION_IDLE_MS = 20 * 60 * 1000;
export const MAX_FAILED_LOGINS = 5;
export const LOCKOUT_MS = 15 * 60 * 1000;
/**
 * How long a token lookup is trusted without asking the store. Short, so that a logout or a user
 * change made by another process takes effect within seconds; this process invalidates at once.
 */
const CACHE_TTL_MS = 5_000;
const CACHE_MAX_ENTRIES = 10_000;
/** Clients cannot be changed or removed, so a verified secret can be trusted for a while. */
const CLIENT_VERIFICATION_TTL_MS = 5 * 60 * 1000;
/** A session's idle expiry is written back at most this often, so busy sessions do not write per request. */
const TOUCH_INTERVAL_MS = 30_000;

/** RFC 6750 §3: a Bearer token that was sent but is not (or no longer) valid. */
const INVALID_TOKEN = { 'www-authenticate': 'Bearer realm="ccb", error="invalid_token"' };

/** The platform's account names as this API accepts them (SPEC §3). */
export const ACCOUNT_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export interface SessionPrincipal {
  tokenHash: string;
  username: string;
  accounts: ReadonlySet<string>;
  clientId: string;
}

interface CachedAccessToken {
  clientId: string;
  expiresAt: number;
  cachedAt: number;
}

interface CachedSession {
  principal: SessionPrincipal;
  expiresAt: number;
  persistedExpiresAt: number;
  cachedAt: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `Authenticator.requireBearer`. */
    clientId?: string;
    /** Set by `Authenticator.requireSession`. */
    session?: SessionPrincipal;
  }
}

/** A bounded map that forgets its oldest entries first. */
class BoundedCache<V> extends Map<string, V> {
  override set(key: string, value: V): this {
    if (this.size >= CACHE_MAX_ENTRIES && !this.has(key)) {
      const oldest = this.keys().next();
      if (!oldest.done) this.delete(oldest.value);
    }
    return super.set(key, value);
  }
}

function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1] : null;
}

/**
 * Issues and checks the platform's credentials: OAuth access tokens (client credentials), M2M
 * session tokens (user login) and the admin token. Lookups are cached by token hash.
 */
export class Authenticator {
  private readonly auth: AuthStore;
  private readonly accessTokens = new BoundedCache<CachedAccessToken>();
  private readonly sessions = new BoundedCache<CachedSession>();
  /** Recently verified client credentials (SHA-256 of id and secret → until when), to skip scrypt on repeats. */
  private readonly verifiedClients = new BoundedCache<number>();
  /** Verifying against this when the user is unknown keeps the response time the same. */
  private readonly decoyHash: Promise<string>;

  constructor(
    private readonly ctx: AppContext,
    private readonly clock: () => number = Date.now,
  ) {
    this.auth = ctx.store.auth;
    this.decoyHash = hashPassword('decoy password for unknown users');
  }

  /** `Authorization: Basic base64(id:secret)` → the client id, or 401. */
  async authenticateClient(header: string | undefined): Promise<string> {
    const match = header ? /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header) : null;
    if (!match) {
      throw new HttpError(401, ErrorCodes.clientCredentials, 'missing client credentials: send Authorization: Basic');
    }
    const decoded = Buffer.from(match[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const clientId = colon >= 0 ? decoded.slice(0, colon) : decoded;
    const secret = colon >= 0 ? decoded.slice(colon + 1) : '';
    const now = this.clock();
    const fingerprint = hashToken(`${clientId}\u0000${secret}`);
    if ((this.verifiedClients.get(fingerprint) ?? 0) > now) return clientId;
    const client = clientId ? await this.auth.getClient(clientId) : null;
    const valid = await verifyPassword(secret, client?.secretHash ?? (await this.decoyHash));
    if (!client || !valid) throw new HttpError(401, ErrorCodes.clientCredentials, 'invalid client id or secret');
    this.verifiedClients.set(fingerprint, now + CLIENT_VERIFICATION_TTL_MS);
    return client.clientId;
  }

  async issueAccessToken(clientId: string): Promise<{ token: string; expiresInSeconds: number }> {
    const token = newAccessToken();
    const expiresAt = this.clock() + ACCESS_TOKEN_TTL_MS;
    await this.auth.saveAccessToken({ tokenHash: hashToken(token), clientId, expiresAt });
    return { token, expiresInSeconds: ACCESS_TOKEN_TTL_MS / 1000 };
  }

  /** Checks `username`/`password`, counting failures and locking after five in a row. */
  async login(username: string, password: string, clientId: string): Promise<{ token: string; expiresIn: number }> {
    const now = this.clock();
    let user = await this.auth.getUser(username);
    if (!user) {
      await verifyPassword(password, await this.decoyHash);
      throw new HttpError(400, ErrorCodes.loginFailed, 'invalid username or password');
    }
    if (user.lockedUntil !== null) {
      if (user.lockedUntil > now) throw lockedError(user);
      // The lockout is over: the user starts again with a clean count.
      await this.auth.resetFailedLogins(username);
    }
    if (!(await verifyPassword(password, user.passwordHash))) {
      user = await this.auth.recordFailedLogin(username, MAX_FAILED_LOGINS, this.clock() + LOCKOUT_MS);
      if (user?.lockedUntil != null && user.lockedUntil > now) throw lockedError(user);
      throw new HttpError(400, ErrorCodes.loginFailed, 'invalid username or password');
    }
    if (user.failedLogins > 0) await this.auth.resetFailedLogins(username);
    const token = newSessionToken();
    await this.auth.saveSession({
      tokenHash: hashToken(token),
      username,
      clientId,
      expiresAt: this.clock() + SESSION_IDLE_MS,
    });
    return { token, expiresIn: SESSION_IDLE_MS / 1000 };
  }

  /** Ends a session; true when it existed. */
  async logout(token: string): Promise<boolean> {
    const tokenHash = hashToken(token);
    this.sessions.delete(tokenHash);
    return this.auth.deleteSession(tokenHash);
  }

  /** Forgets cached sessions of a user whose accounts or password changed. */
  forgetUser(username: string): void {
    for (const [key, entry] of this.sessions) {
      if (entry.principal.username === username) this.sessions.delete(key);
    }
  }

  /** onRequest hook: a valid, unexpired OAuth access token. */
  requireBearer = async (request: FastifyRequest): Promise<void> => {
    const token = bearerToken(request.headers.authorization);
    if (!token) {
      throw new HttpError(401, ErrorCodes.accessTokenMissing, 'missing access token: send Authorization: Bearer', {
        'www-authenticate': 'Bearer realm="ccb"',
      });
    }
    const now = this.clock();
    const tokenHash = hashToken(token);
    let entry = this.accessTokens.get(tokenHash);
    if (!entry || now - entry.cachedAt > CACHE_TTL_MS) {
      const stored = await this.auth.getAccessToken(tokenHash);
      if (!stored) {
        this.accessTokens.delete(tokenHash);
        throw new HttpError(401, ErrorCodes.accessTokenInvalid, 'the access token is not valid', INVALID_TOKEN);
      }
      entry = { clientId: stored.clientId, expiresAt: stored.expiresAt, cachedAt: now };
      this.accessTokens.set(tokenHash, entry);
    }
    if (entry.expiresAt <= now) {
      throw new HttpError(
        401,
        ErrorCodes.accessTokenExpired,
        'the access token has expired; request a new one',
        INVALID_TOKEN,
      );
    }
    request.clientId = entry.clientId;
  };

  /** onRequest hook: a live `VZ-M2M-Token` session; using it moves its idle expiry forward. */
  requireSession = async (request: FastifyRequest): Promise<void> => {
    const header = request.headers['vz-m2m-token'];
    const token = typeof header === 'string' ? header.trim() : '';
    if (!token) {
      throw new HttpError(400, ErrorCodes.sessionTokenFormat, 'missing session token: send the VZ-M2M-Token header');
    }
    const now = this.clock();
    const tokenHash = hashToken(token);
    let entry = this.sessions.get(tokenHash);
    if (!entry || now - entry.cachedAt > CACHE_TTL_MS) {
      entry = await this.loadSession(tokenHash, now, entry);
    }
    if (entry.expiresAt <= now) {
      this.sessions.delete(tokenHash);
      throw new HttpError(400, ErrorCodes.sessionTokenExpired, 'the session has expired; log in again');
    }
    entry.expiresAt = now + SESSION_IDLE_MS;
    if (entry.expiresAt - entry.persistedExpiresAt >= TOUCH_INTERVAL_MS) {
      entry.persistedExpiresAt = entry.expiresAt;
      await this.auth.touchSession(tokenHash, entry.expiresAt);
    }
    request.session = entry.principal;
  };

  /**
   * onRequest hook of the callback routes, in one step because it runs on every call: access token,
   * session, and the `:aname` account (400 when the user may not manage it). A malformed account name
   * is left to schema validation, which answers 400.
   */
  requireAccountAccess = async (request: FastifyRequest): Promise<void> => {
    await this.requireBearer(request);
    await this.requireSession(request);
    const accountName = (request.params as { aname?: string }).aname ?? '';
    if (ACCOUNT_NAME.test(accountName) && !request.session?.accounts.has(accountName)) {
      throw new HttpError(
        400,
        ErrorCodes.accountForbidden,
        `account ${accountName} is not managed by user ${request.session?.username}`,
      );
    }
  };

  /** onRequest hook for /admin/v1: the configured admin token, compared in constant time. */
  requireAdmin = async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const token = bearerToken(request.headers.authorization);
    if (!token || !safeEqual(token, this.ctx.config.adminToken)) {
      throw new HttpError(401, ErrorCodes.unauthorized, 'the admin API needs Authorization: Bearer <CCB_ADMIN_TOKEN>');
    }
  };

  private async loadSession(tokenHash: string, now: number, previous?: CachedSession): Promise<CachedSession> {
    const stored = await this.auth.getSession(tokenHash);
    if (!stored) {
      this.sessions.delete(tokenHash);
      throw new HttpError(400, ErrorCodes.sessionTokenInvalid, 'the session token is not valid; log in again');
    }
    const user = await this.auth.getUser(stored.username);
    if (!user) {
      this.sessions.delete(tokenHash);
      throw new HttpError(400, ErrorCodes.sessionTokenInvalid, 'the session belongs to a user that no longer exists');
    }
    // An expiry moved forward in memory but not yet written back still counts.
    const expiresAt = Math.max(stored.expiresAt, previous?.expiresAt ?? 0);
    const entry: CachedSession = {
      principal: { tokenHash, username: user.username, accounts: new Set(user.accounts), clientId: stored.clientId },
      expiresAt,
      persistedExpiresAt: stored.expiresAt,
      cachedAt: now,
    };
    this.sessions.set(tokenHash, entry);
    return entry;
  }
}

function lockedError(user: User): HttpError {
  const until = new Date(user.lockedUntil ?? 0).toISOString();
  return new HttpError(
    400,
    ErrorCodes.userLocked,
    `user ${user.username} is locked after ${MAX_FAILED_LOGINS} failed logins; try again after ${until}`,
  );
}
