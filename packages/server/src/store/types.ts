/**
 * The storage contract. Every backend (SQLite now, PostgreSQL later) implements `Store`; callers
 * (API routes, the dispatcher, the CLI) only ever see these types. All methods are async so that a
 * network database can implement them without changing callers. Times are epoch milliseconds.
 */

export type MessageStatus = 'pending' | 'delivering' | 'delivered' | 'failed' | 'cancelled';

export const MESSAGE_STATUSES: readonly MessageStatus[] = ['pending', 'delivering', 'delivered', 'failed', 'cancelled'];

/** A listener URL registered by an account for one callback service. Secrets are decrypted. */
export interface Registration {
  accountName: string;
  serviceName: string;
  url: string;
  /** `null` when none was given at registration. */
  username: string | null;
  password: string | null;
  /** Current Standard Webhooks signing secret, `whsec_<base64>`. */
  signingSecret: string;
  /** The secret replaced by the last rotation, still signed with until `previousSecretExpiresAt`. */
  previousSecret: string | null;
  previousSecretExpiresAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface RegistrationInput {
  accountName: string;
  serviceName: string;
  url: string;
  username?: string | null;
  password?: string | null;
}

export interface RegistrationStore {
  list(accountName: string): Promise<Registration[]>;
  /** Every registration of every account, by account then service (the dashboard's accounts page). */
  listAll(): Promise<Registration[]>;
  get(accountName: string, serviceName: string): Promise<Registration | null>;
  /**
   * Creates or replaces the registration of (account, service). A new registration gets a fresh
   * signing secret; a replacement keeps the existing secrets.
   */
  upsert(input: RegistrationInput): Promise<Registration>;
  /**
   * Removes the registration and, in the same transaction, marks its `pending` and `delivering`
   * messages `cancelled`. Returns false when there was nothing to remove.
   */
  remove(accountName: string, serviceName: string): Promise<boolean>;
  /** Replaces the signing secret; the old one stays valid for `graceMs`. */
  rotateSecret(accountName: string, serviceName: string, graceMs: number): Promise<Registration | null>;
}

export interface OAuthClient {
  clientId: string;
  name: string;
  /** scrypt hash, see security/passwords.ts */
  secretHash: string;
  createdAt: number;
}

export interface User {
  username: string;
  passwordHash: string;
  accounts: string[];
  failedLogins: number;
  lockedUntil: number | null;
  createdAt: number;
}

export interface AccessToken {
  tokenHash: string;
  clientId: string;
  expiresAt: number;
}

export interface Session {
  tokenHash: string;
  username: string;
  clientId: string;
  /** Idle expiry: moved forward each time the session is used. */
  expiresAt: number;
}

export interface AuthStore {
  createClient(client: OAuthClient): Promise<void>;
  getClient(clientId: string): Promise<OAuthClient | null>;
  /** Creates or replaces a user (the dev seed uses this idempotently). */
  upsertUser(user: Omit<User, 'failedLogins' | 'lockedUntil'>): Promise<void>;
  getUser(username: string): Promise<User | null>;
  /**
   * Counts a login attempt before its password is checked, in one atomic step, so that concurrent
   * attempts cannot all pass a check made before any was counted. Refused (`admitted: false`, nothing
   * changed) while the user is locked (`lockedUntil > now`); a lockout that has ended starts a fresh
   * count; the attempt that brings `failedLogins` to `maxAttempts` sets `lockedUntil` to `lockUntil`.
   * Returns the user as it is afterwards, or null when there is no such user.
   */
  reserveLoginAttempt(
    username: string,
    now: number,
    maxAttempts: number,
    lockUntil: number,
  ): Promise<{ user: User; admitted: boolean } | null>;
  /** After a successful login: no failed attempts, no lockout. */
  resetFailedLogins(username: string): Promise<void>;
  listUsers(): Promise<User[]>;
  /** Changes a user's password and/or accounts; a new password also clears a lockout. Null when unknown. */
  updateUser(username: string, changes: { passwordHash?: string; accounts?: string[] }): Promise<User | null>;
  /** Removes a user and its sessions; false when unknown. */
  deleteUser(username: string): Promise<boolean>;
  /** Ends every session of a user; returns how many there were. */
  deleteUserSessions(username: string): Promise<number>;
  listClients(): Promise<OAuthClient[]>;
  /** Replaces a client's secret hash and revokes its access tokens; false when unknown. */
  replaceClientSecret(clientId: string, secretHash: string): Promise<boolean>;
  /** Removes a client with its access tokens and the sessions logged in through it; false when unknown. */
  deleteClient(clientId: string): Promise<boolean>;
  saveAccessToken(token: AccessToken): Promise<void>;
  getAccessToken(tokenHash: string): Promise<AccessToken | null>;
  saveSession(session: Session): Promise<void>;
  getSession(tokenHash: string): Promise<Session | null>;
  touchSession(tokenHash: string, expiresAt: number): Promise<void>;
  deleteSession(tokenHash: string): Promise<boolean>;
  /** Deletes expired tokens and sessions; returns how many rows went. */
  purgeExpired(now: number): Promise<number>;
}

/** A callback message as stored. `payload` is the producer's JSON object, serialised. */
export interface CallbackMessage {
  id: string;
  accountName: string;
  serviceName: string;
  payload: string;
  status: MessageStatus;
  /** Attempts made so far. */
  attempts: number;
  /** Attempts allowed (= retry delays + 1), fixed when the message is (re)queued. */
  maxAttempts: number;
  nextAttemptAt: number | null;
  lockedUntil: number | null;
  /** Why the message is failed/cancelled, or the last attempt's error: `no_registration`, `gone`, … */
  reason: string | null;
  idempotencyKey: string | null;
  createdAt: number;
  updatedAt: number;
  deliveredAt: number | null;
}

export interface Attempt {
  messageId: string;
  /** 1-based; equals the body's `callbackCount`. */
  attemptNumber: number;
  startedAt: number;
  url: string;
  statusCode: number | null;
  latencyMs: number;
  /** null on success; otherwise a short machine-readable reason plus detail, e.g. `timeout: …`. */
  error: string | null;
  /** First 1 KiB of the response body. */
  responseExcerpt: string | null;
}

export interface NewMessage {
  id: string;
  accountName: string;
  serviceName: string;
  payload: string;
  idempotencyKey?: string | null;
  maxAttempts: number;
}

export interface PublishedMessage {
  id: string;
  status: MessageStatus;
  /** true when an earlier message with the same idempotency key was returned instead. */
  duplicate: boolean;
}

/** A claimed message joined with the registration it must be delivered to. */
export interface ClaimedMessage {
  message: CallbackMessage;
  registration: Registration;
}

/** What an attempt decides for its message (the retry policy's verdict). */
export type AttemptDecision =
  | { kind: 'delivered' }
  /** Schedule another attempt at `nextAttemptAt`. */
  | { kind: 'retry'; nextAttemptAt: number }
  /** No more attempts: the message becomes `failed` with `reason`. */
  | { kind: 'failed'; reason: string };

/** An attempt with its decision, as the store records it. */
export type AttemptOutcome = AttemptDecision & { attempt: Attempt };

export interface MessageFilter {
  accountName?: string;
  serviceName?: string;
  status?: MessageStatus;
  /** createdAt >= since */
  since?: number;
  /** createdAt < until */
  until?: number;
}

export interface MessagePage {
  items: CallbackMessage[];
  nextCursor: string | null;
}

export interface MessageStats {
  counts: Record<MessageStatus, number>;
  /** pending + delivering */
  queueDepth: number;
  /** Age in ms of the oldest message that is due now (pending with nextAttemptAt <= now), 0 when none. */
  oldestDueAgeMs: number;
}

export interface MessageStore {
  /**
   * Inserts messages in one transaction. A message whose idempotency key was seen before returns the
   * earlier message (duplicate: true). A message without a registration is stored `failed` with
   * reason `no_registration`; otherwise `pending`, due now.
   */
  publish(messages: NewMessage[], now: number): Promise<PublishedMessage[]>;
  /**
   * Claims up to `limit` messages that are due (pending with nextAttemptAt <= now, or delivering
   * with an expired lease), marking them `delivering` with lockedUntil = now + leaseMs.
   */
  claimDue(now: number, limit: number, leaseMs: number): Promise<ClaimedMessage[]>;
  /**
   * Records attempts and moves their messages on, in one transaction. An outcome for a message that
   * is no longer `delivering` (cancelled meanwhile) records the attempt but leaves the status.
   */
  complete(outcomes: AttemptOutcome[], now: number): Promise<void>;
  /**
   * Hands claimed messages back without an attempt: `delivering` → `pending`, due at `nextAttemptAt`.
   * The dispatcher uses it for messages it cannot start before their lease would lapse (a saturated
   * origin) and for those still queued when it stops.
   */
  release(ids: string[], nextAttemptAt: number): Promise<void>;
  /** The earliest time something becomes due (pending nextAttemptAt or delivering lease end). */
  nextDueAt(): Promise<number | null>;
  get(id: string): Promise<{ message: CallbackMessage; attempts: Attempt[] } | null>;
  list(filter: MessageFilter, limit: number, cursor: string | null): Promise<MessagePage>;
  stats(now: number): Promise<MessageStats>;
  /**
   * Queues messages again (status pending, due now, a fresh set of `maxAttempts` attempts on top of
   * those made). Only `failed`, `delivered` and `cancelled` messages are replayed. Returns their ids.
   */
  replay(ids: string[], maxAttempts: number, now: number): Promise<string[]>;
  /** Ids matching a filter, oldest first, for bulk replay in pages. */
  findIds(filter: MessageFilter, limit: number, afterId: string | null): Promise<string[]>;
  /** Deletes delivered messages updated before `deliveredBefore` and failed/cancelled before `failedBefore`. */
  purge(deliveredBefore: number, failedBefore: number): Promise<number>;
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  registrations: RegistrationStore;
  auth: AuthStore;
  messages: MessageStore;
  /** Applies pending migrations; safe to call at every start. */
  migrate(): Promise<void>;
  /**
   * Resolves when the store can serve reads and writes; rejects with `StoreUnavailableError`
   * (store/errors.ts) when it cannot (disk full, I/O failure, unreachable). Every store method that
   * cannot serve for such a reason also rejects with that error, so the API answers 503.
   */
  checkReady(): Promise<void>;
  close(): Promise<void>;
}
