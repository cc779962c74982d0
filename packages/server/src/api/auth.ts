import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import type { AppContext } from '../context.js';
import { HashQueueFullError, hashPassword, PasswordVerifier } from '../security/passwords.js';
import { AttemptThrottle } from '../security/throttle.js';
import { hashToken, newAccessToken, newSessionToken, secretMatcher } from '../security/tokens.js';
import type { AuthStore, User } from '../store/types.js';
import { ErrorCodes, HttpError } from './errors.js';
import { textProblem } from './request-text.js';
import { ACCOUNT_NAME } from './schemas.js';

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
  private readonly accessTokens = boundedCache<CachedAccessToken>();
  private readonly sessions = boundedCache<CachedSession>();
  /** Recently verified client credentials by SHA-256 of id and secret, to skip scrypt on repeats. */
  private readonly verifiedClients = boundedCache<VerifiedClient>();
  private readonly verifier = new PasswordVerifier();
  /** Credential attempts per source address and per OAuth client (security/throttle.ts). */
  private readonly throttle = new AttemptThrottle();
  /** Verifying against this when the user is unknown keeps the response time the same. */
  private readonly decoyHash: Promise<string>;

  constructor(
    private readonly ctx: AppContext,
    private readonly clock: () => number = Date.now,
  ) {
    this.auth = ctx.store.auth;
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
    const now = this.clock();
    const fingerprint = hashToken(`${clientId}\u0000${secret}`);
    const verified = this.verifiedClients.get(fingerprint);
    const client = clientId ? await this.auth.getClient(clientId) : null;
    if (verified && verified.until > now && client?.secretHash === verified.secretHash) return client.clientId;
    const keys = throttleKeys(source, clientId);
    this.admitAttempt(keys);
    const valid = await this.checkCredential(keys, secret, client?.secretHash ?? (await this.decoyHash));
    if (!client || !valid) throw new HttpError(ErrorCodes.clientCredentials, 'invalid client id or secret');
    this.throttle.release(keys);
    this.verifiedClients.set(fingerprint, {
      clientId: client.clientId,
      secretHash: client.secretHash,
      until: now + CLIENT_VERIFICATION_TTL_MS,
    });
    return client.clientId;
  }

  /** Counts a credential attempt for the throttle before anything else; 429 when over the limit. */
  private admitAttempt(keys: readonly string[]): void {
    const waitSeconds = this.throttle.reserve(keys, this.clock());
    if (waitSeconds !== null) {
      throw new HttpError(ErrorCodes.tooManyAttempts, `too many failed attempts; try again in ${waitSeconds} s`, {
        headers: { 'retry-after': String(waitSeconds) },
      });
    }
  }

  /**
   * One slow-hash check of an admitted attempt; 503 when every hashing slot is taken (the attempt is
   * then given back, since nothing was checked).
   */
  private async checkCredential(keys: readonly string[], secret: string, hash: string): Promise<boolean> {
    try {
      return await this.verifier.verify(secret, hash);
    } catch (error) {
      this.throttle.release(keys);
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
    const keys = throttleKeys(source, clientId);
    this.admitAttempt(keys);
    const user = await this.takeLoginSlot(username).catch((error: unknown) => {
      // Refused without a check: not a failed attempt of this address or client.
      this.throttle.release(keys);
      throw error;
    });
    const hash = user?.passwordHash ?? (await this.decoyHash);
    if (!(await this.checkCredential(keys, password, hash)) || !user) {
      const after = user && (await this.auth.lockFailedLogins(username, MAX_FAILED_LOGINS, this.clock() + LOCKOUT_MS));
      if (after && isLocked(after, this.clock())) throw lockedError(after);
      throw new HttpError(ErrorCodes.loginFailed, 'invalid username or password');
    }
    this.throttle.release(keys);
    await this.auth.resetFailedLogins(username);
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

  /**
   * onRequest hook for /admin/v1: the configured admin token, compared in constant time. It runs on
   * every publish, so it is synchronous (no promise per request) and the token's digest is made once.
   */
  requireAdmin = (request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void): void => {
    const token = bearerToken(request.headers.authorization);
    if (!token || !this.isAdminToken(token)) {
      throw new HttpError(ErrorCodes.unauthorized, 'the admin API needs Authorization: Bearer <CCB_ADMIN_TOKEN>');
    }
    done();
  };

  private adminMatcher: { token: string; matches: (candidate: string) => boolean } | null = null;

  private isAdminToken(candidate: string): boolean {
    const token = this.ctx.config.adminToken;
    if (this.adminMatcher?.token !== token) this.adminMatcher = { token, matches: secretMatcher(token) };
    return this.adminMatcher.matches(candidate);
  }

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

/** The throttle's keys of one credential attempt: its source address and its OAuth client. */
function throttleKeys(source: string, clientId: string): string[] {
  return [`address:${source}`, `client:${clientId}`];
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
