import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import { ErrorCodes, HttpError } from '../api/errors.js';
import { textProblem } from '../api/request-text.js';
import { ACCOUNT_NAME } from '../api/schemas.js';
import type { AppContext } from '../context.js';
import { HashQueueFullError, hashPassword, PasswordVerifier } from '../security/passwords.js';
import { hashToken, newAccessToken, newSessionToken } from '../security/tokens.js';
import type { AuthStore, User } from '../store/types.js';
import type { Principal, Scope } from './principal.js';
import { AttemptThrottle, type CountedAttempt, TooManyAttemptsError } from './throttle.js';

export const ACCESS_TOKEN_TTL_MS = 60 * 60 * 1000;
export const SESSION_IDLE_MS = 20 * 60 * 1000;
export const MAX_FAILED_LOGINS = 5;
export const LOCKOUT_MS = 15 * 60 * 1000;
/**
 * A login that finds every slot taken by checks still running asks again this often, this many times
 * (about 2 s), before it answers 503: the running checks end within that on a normal day.
 */
const LOGIN_SLOT_POLL_MS = 20;
const LOGIN_SLOT_POLLS = 100;
/** A slot whose check has had no outcome for this long belongs to a process that died: a failure. */
const ABANDONED_LOGIN_MS = 60_000;
/**
 * How long a token lookup is trusted without asking the store. Short, so that a logout or a user
 * change made by another process takes effect within seconds; this process invalidates at once.
 */
const CACHE_TTL_MS = 5_000;
const CACHE_MAX_ENTRIES = 10_000;
/**
 * A verified client secret skips scrypt on repeats for this long, as long as the stored hash is still
 * the one it was verified against (so a rotation or a deletion takes effect at once).
 */
const CLIENT_VERIFICATION_TTL_MS = 5 * 60 * 1000;
/** A session's idle expiry is written back at most this often, so busy sessions do not write per request. */
const TOUCH_INTERVAL_MS = 30_000;

/** What a platform session may do, on the accounts its user manages: the callback routes. */
const M2M_SCOPES: ReadonlySet<Scope> = new Set<Scope>(['registrations:read', 'registrations:write']);

/** RFC 6750 §3: a Bearer token that was sent but is not (or no longer) valid. */
const INVALID_TOKEN = { headers: { 'www-authenticate': 'Bearer realm="ccb", error="invalid_token"' } };

/** The request's `VZ-M2M-Token` session token; a missing one is the platform's 400 SessionToken error. */
export function sessionTokenOf(request: FastifyRequest): string {
  const header = request.headers['vz-m2m-token'];
  const token = typeof header === 'string' ? header.trim() : '';
  if (!token) {
    throw new HttpError(ErrorCodes.sessionTokenFormat, 'missing session token: send the VZ-M2M-Token header');
  }
  return token;
}

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

interface VerifiedClient {
  clientId: string;
  secretHash: string;
  until: number;
}

interface CachedSession {
  principal: SessionPrincipal;
  /** The same session as the access service's principal (audit log). */
  who: Principal;
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

/** A cache by token hash, bounded: the least recently used entries go first. */
function boundedCache<V extends object>(): LRUCache<string, V> {
  return new LRUCache<string, V>({ max: CACHE_MAX_ENTRIES });
}

/** Deletes the entries that match; the keys are collected first, so nothing is deleted under an iterator. */
function forgetWhere<V extends object>(cache: LRUCache<string, V>, matches: (entry: V) => boolean): void {
  const keys = [...cache.entries()].filter(([, entry]) => matches(entry)).map(([key]) => key);
  for (const key of keys) cache.delete(key);
}

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(header: string | undefined): string | null {
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
  private readonly accessTokens = boundedCache<CachedAccessToken>();
  private readonly sessions = boundedCache<CachedSession>();
  /** Recently verified client credentials by SHA-256 of id and secret, to skip scrypt on repeats. */
  private readonly verifiedClients = boundedCache<VerifiedClient>();
  private readonly verifier = new PasswordVerifier();
  /** Credential attempts per caller address and per OAuth client, shared by every instance (throttle.ts). */
  private readonly throttle: AttemptThrottle;
  /** Verifying against this when the user is unknown keeps the response time the same. */
  private readonly decoyHash: Promise<string>;

  constructor(
    ctx: AppContext,
    private readonly clock: () => number = Date.now,
  ) {
    this.auth = ctx.store.auth;
    this.throttle = new AttemptThrottle(ctx.store.access, clock);
    this.decoyHash = hashPassword('decoy password for unknown users');
  }

  /** `Authorization: Basic base64(id:secret)` → the client id, or 401; `source` is the caller's address. */
  async authenticateClient(header: string | undefined, source: string): Promise<string> {
    const match = header ? /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header) : null;
    if (!match) {
      throw new HttpError(ErrorCodes.clientCredentials, 'missing client credentials: send Authorization: Basic');
    }
    const decoded = Buffer.from(match[1], 'base64').toString('utf8');
    const problem = textProblem(decoded);
    if (problem) {
      throw new HttpError(ErrorCodes.requestEncoding, `the Basic credentials ${problem}`, {
        oauthError: 'invalid_request',
      });
    }
    const colon = decoded.indexOf(':');
    const clientId = colon >= 0 ? decoded.slice(0, colon) : decoded;
    const secret = colon >= 0 ? decoded.slice(colon + 1) : '';
    return this.checkClient(clientId, secret, source);
  }

  /** A client id and secret → the client id, or 401 (throttled as every credential check). */
  async checkClient(clientId: string, secret: string, source: string): Promise<string> {
    const now = this.clock();
    const fingerprint = hashToken(`${clientId}\u0000${secret}`);
    const verified = this.verifiedClients.get(fingerprint);
    const client = clientId ? await this.auth.getClient(clientId) : null;
    if (verified && verified.until > now && client?.secretHash === verified.secretHash) return client.clientId;
    const attempt = await this.admitAttempt(source, clientId);
    const valid = await this.checkCredential(attempt, secret, client?.secretHash ?? (await this.decoyHash));
    if (!client || !valid) throw new HttpError(ErrorCodes.clientCredentials, 'invalid client id or secret');
    await this.throttle.release(attempt);
    this.verifiedClients.set(fingerprint, {
      clientId: client.clientId,
      secretHash: client.secretHash,
      until: now + CLIENT_VERIFICATION_TTL_MS,
    });
    return client.clientId;
  }

  /**
   * Counts a credential attempt for the throttle before anything else; 429 when the caller's address is
   * over its limit. Keyed on what a stranger cannot spend for someone else: the address, and (for a
   * client secret) a per-client ceiling that only delays. Logins count per address only: a user's own
   * lockout needs an access token of a client first.
   */
  private async admitAttempt(source: string, clientId: string | null): Promise<CountedAttempt> {
    try {
      return await this.throttle.admit(source, clientId);
    } catch (error) {
      if (!(error instanceof TooManyAttemptsError)) throw error;
      throw new HttpError(ErrorCodes.tooManyAttempts, error.message, {
        headers: { 'retry-after': String(error.retryAfterSeconds) },
      });
    }
  }

  /**
   * One slow-hash check of an admitted attempt; 503 when every hashing slot is taken (the attempt is
   * then given back, since nothing was checked).
   */
  private async checkCredential(attempt: CountedAttempt, secret: string, hash: string): Promise<boolean> {
    try {
      return await this.verifier.verify(secret, hash);
    } catch (error) {
      await this.throttle.release(attempt);
      if (error instanceof HashQueueFullError) {
        throw new HttpError(ErrorCodes.unavailable, 'too many credential checks at once; try again', {
          headers: { 'retry-after': '1' },
        });
      }
      throw error;
    }
  }

  async issueAccessToken(clientId: string): Promise<{ token: string; expiresInSeconds: number }> {
    const token = newAccessToken();
    const expiresAt = this.clock() + ACCESS_TOKEN_TTL_MS;
    await this.auth.saveAccessToken({ tokenHash: hashToken(token), clientId, expiresAt });
    return { token, expiresInSeconds: ACCESS_TOKEN_TTL_MS / 1000 };
  }

  /**
   * Checks `username`/`password` for the OAuth client `clientId`, from address `source`. Every attempt
   * takes one of the user's five slots before its hash is checked, so no more than five are ever checked
   * per lockout however many arrive at once; a success frees them, a failure keeps its slot, and the
   * failure that finds all five taken locks the user. Right passwords sent at once all log in.
   */
  async login(
    username: string,
    password: string,
    clientId: string,
    source: string,
  ): Promise<{ token: string; expiresIn: number }> {
    await this.checkLogin(username, password, source);
    const token = newSessionToken();
    await this.auth.saveSession({
      tokenHash: hashToken(token),
      username,
      clientId,
      expiresAt: this.clock() + SESSION_IDLE_MS,
    });
    return { token, expiresIn: SESSION_IDLE_MS / 1000 };
  }

  /**
   * The password check of a login, with the lockout and the throttle (see `login`); the user, or the
   * platform's 400 errors. The portal's sign-in uses it too.
   */
  async checkLogin(username: string, password: string, source: string): Promise<User> {
    const attempt = await this.admitAttempt(source, null);
    const user = await this.takeLoginSlot(username).catch(async (error: unknown) => {
      // Refused without a check: not a failed attempt of this address.
      await this.throttle.release(attempt);
      throw error;
    });
    const hash = user?.passwordHash ?? (await this.decoyHash);
    if (!(await this.checkCredential(attempt, password, hash)) || !user) {
      const after = user && (await this.auth.lockFailedLogins(username, MAX_FAILED_LOGINS, this.clock() + LOCKOUT_MS));
      if (after && isLocked(after, this.clock())) throw lockedError(after);
      throw new HttpError(ErrorCodes.loginFailed, 'invalid username or password');
    }
    await this.throttle.release(attempt);
    await this.auth.resetFailedLogins(username);
    return user;
  }

  /**
   * Takes a login slot of the user (null when there is no such user). While every slot is taken by
   * checks still running, waits for one to come free; throws the locked error when the user is or
   * becomes locked, and 503 when no slot came free in time.
   */
  private async takeLoginSlot(username: string): Promise<User | null> {
    for (let poll = 0; ; poll++) {
      const now = this.clock();
      const reserved = await this.auth.reserveLoginAttempt(username, now, MAX_FAILED_LOGINS);
      if (!reserved) return null;
      if (reserved.admitted) return reserved.user;
      let user = reserved.user;
      if (poll === 0 && !isLocked(user, now)) {
        user =
          (await this.auth.lockFailedLogins(username, MAX_FAILED_LOGINS, now + LOCKOUT_MS, now - ABANDONED_LOGIN_MS)) ??
          user;
      }
      if (isLocked(user, now)) throw lockedError(user);
      if (poll >= LOGIN_SLOT_POLLS) {
        throw new HttpError(ErrorCodes.unavailable, 'too many logins of this user at once; try again', {
          headers: { 'retry-after': '1' },
        });
      }
      await sleep(LOGIN_SLOT_POLL_MS);
    }
  }

  /** Ends a session (checked by `requireSession` first). */
  async logout(tokenHash: string): Promise<void> {
    this.sessions.delete(tokenHash);
    await this.auth.deleteSession(tokenHash);
  }

  /** Forgets cached sessions of a user whose accounts or password changed, or who was removed. */
  forgetUser(username: string): void {
    forgetWhere(this.sessions, (entry) => entry.principal.username === username);
  }

  /** Forgets cached tokens, sessions and verified secrets of a client that was removed or given a new secret. */
  forgetClient(clientId: string): void {
    forgetWhere(this.accessTokens, (entry) => entry.clientId === clientId);
    forgetWhere(this.sessions, (entry) => entry.principal.clientId === clientId);
    forgetWhere(this.verifiedClients, (entry) => entry.clientId === clientId);
  }

  /** onRequest hook: a valid, unexpired OAuth access token. */
  requireBearer = async (request: FastifyRequest): Promise<void> => {
    const token = bearerToken(request.headers.authorization);
    if (!token) {
      throw new HttpError(ErrorCodes.accessTokenMissing, 'missing access token: send Authorization: Bearer', {
        headers: { 'www-authenticate': 'Bearer realm="ccb"' },
      });
    }
    const now = this.clock();
    const tokenHash = hashToken(token);
    let entry = this.accessTokens.get(tokenHash);
    if (!entry || now - entry.cachedAt > CACHE_TTL_MS) {
      const stored = await this.auth.getAccessToken(tokenHash);
      if (!stored) {
        this.accessTokens.delete(tokenHash);
        throw new HttpError(ErrorCodes.accessTokenInvalid, 'the access token is not valid', INVALID_TOKEN);
      }
      entry = { clientId: stored.clientId, expiresAt: stored.expiresAt, cachedAt: now };
      this.accessTokens.set(tokenHash, entry);
    }
    if (entry.expiresAt <= now) {
      throw new HttpError(
        ErrorCodes.accessTokenExpired,
        'the access token has expired; request a new one',
        INVALID_TOKEN,
      );
    }
    request.clientId = entry.clientId;
  };

  /** onRequest hook: a live `VZ-M2M-Token` session; using it moves its idle expiry forward. */
  requireSession = async (request: FastifyRequest): Promise<void> => {
    const token = sessionTokenOf(request);
    const now = this.clock();
    const tokenHash = hashToken(token);
    let entry = this.sessions.get(tokenHash);
    if (!entry || now - entry.cachedAt > CACHE_TTL_MS) {
      entry = await this.loadSession(tokenHash, now, entry);
    }
    if (entry.expiresAt <= now) {
      this.sessions.delete(tokenHash);
      throw new HttpError(ErrorCodes.sessionTokenExpired, 'the session has expired; log in again');
    }
    // A session is good only with an access token of the client that logged in.
    if (entry.principal.clientId !== request.clientId) {
      throw new HttpError(
        ErrorCodes.sessionTokenInvalid,
        'the session token belongs to another OAuth client; log in with this one',
      );
    }
    entry.expiresAt = now + SESSION_IDLE_MS;
    if (entry.expiresAt - entry.persistedExpiresAt >= TOUCH_INTERVAL_MS) {
      entry.persistedExpiresAt = entry.expiresAt;
      await this.auth.touchSession(tokenHash, entry.expiresAt);
    }
    request.session = entry.principal;
    request.principal = entry.who;
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
        ErrorCodes.accountForbidden,
        `account ${accountName} is not managed by user ${request.session?.username}`,
      );
    }
  };

  private async loadSession(tokenHash: string, now: number, previous?: CachedSession): Promise<CachedSession> {
    const stored = await this.auth.getSession(tokenHash);
    if (!stored) {
      this.sessions.delete(tokenHash);
      throw new HttpError(ErrorCodes.sessionTokenInvalid, 'the session token is not valid; log in again');
    }
    const user = await this.auth.getUser(stored.username);
    if (!user) {
      this.sessions.delete(tokenHash);
      throw new HttpError(ErrorCodes.sessionTokenInvalid, 'the session belongs to a user that no longer exists');
    }
    // An expiry moved forward in memory but not yet written back still counts.
    const expiresAt = Math.max(stored.expiresAt, previous?.expiresAt ?? 0);
    const accounts = new Set(user.accounts);
    const entry: CachedSession = {
      principal: { tokenHash, username: user.username, accounts, clientId: stored.clientId },
      who: { kind: 'm2m-user', name: user.username, id: tokenHash, scopes: M2M_SCOPES, accounts },
      expiresAt,
      persistedExpiresAt: stored.expiresAt,
      cachedAt: now,
    };
    this.sessions.set(tokenHash, entry);
    return entry;
  }
}

function isLocked(user: User, now: number): boolean {
  return user.lockedUntil !== null && user.lockedUntil > now;
}

function lockedError(user: User): HttpError {
  const until = new Date(user.lockedUntil ?? 0).toISOString();
  return new HttpError(
    ErrorCodes.userLocked,
    `user ${user.username} is locked after ${MAX_FAILED_LOGINS} failed logins; try again after ${until}`,
  );
}
