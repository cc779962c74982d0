/**
 * The storage contract. Every backend (SQLite, PostgreSQL) implements `Store`; it only reads and
 * writes rows. The rules of the product (which status a message gets, what an outcome does to it,
 * secrets and their encryption, cancellation, replay) live above it, in `services/`, which is what the
 * API and the dispatcher talk to. All methods are async so that a network database can implement
 * them. Times are epoch milliseconds.
 */

import type { MessageStatus } from '../domain/statuses.js';

export type { MessageStatus };

/** A cursor the store did not make (or made by another backend). */
export class InvalidCursorError extends Error {
  override name = 'InvalidCursorError';
}

/** A message's idempotency key is held by another, unexpired message (a concurrent publish won). */
export class IdempotencyKeyTakenError extends Error {
  override name = 'IdempotencyKeyTakenError';
}

/** How a registration's messages are ordered: `fifo` delivers one at a time in publish order. */
export type Ordering = 'none' | 'fifo';

/**
 * A registration's delivery controls (SPEC §11), all off by default. The rules they stand for live in
 * services/delivery-controls.ts; the store keeps them and applies them when it admits held messages.
 */
export interface DeliveryControls {
  ordering: Ordering;
  /** At most `count` attempts per `windowMs` (1,000 or 60,000), evenly spaced. */
  rateLimit: { count: number; windowMs: number } | null;
  /** Warn after `warnAfterMs` of failed attempts only, disable after `afterMs`. */
  autoDisable: { afterMs: number; warnAfterMs: number } | null;
  enabled: boolean;
}

export const DEFAULT_CONTROLS: DeliveryControls = {
  ordering: 'none',
  rateLimit: null,
  autoDisable: null,
  enabled: true,
};

/** A registration's endpoint health, as the service last wrote it (services/endpoint-health.ts). */
export interface RegistrationHealth {
  /** Failed attempts since the last success. */
  consecutiveFailures: number;
  /** Start of the current failing streak (its first failed attempt), null when the last attempt succeeded. */
  failingSince: number | null;
  lastSuccessAt: number | null;
  lastFailureAt: number | null;
  /** The last attempts, newest in bit 0 (1 = success), `recentCount` of them (at most 32). */
  recentBits: number;
  recentCount: number;
  /** When `registration.failing` was sent for the current streak. */
  warnedAt: number | null;
  /** When auto-disable turned the registration off (null while enabled or disabled by hand). */
  disabledAt: number | null;
  /** A failing or disabled event was sent: the next success sends `registration.recovered`. */
  recoveryDue: boolean;
  /** Bumped by every write: health is written only over the version it was read at. */
  version: number;
}

export const EMPTY_HEALTH: RegistrationHealth = {
  consecutiveFailures: 0,
  failingSince: null,
  lastSuccessAt: null,
  lastFailureAt: null,
  recentBits: 0,
  recentCount: 0,
  warnedAt: null,
  disabledAt: null,
  recoveryDue: false,
  version: 0,
};

/** What a publish needs to know of a registration, read from the store (never a cache). */
export interface RegistrationGate {
  /** Its messages wait to be admitted (FIFO or a rate limit), see MessageStore.admitHeld. */
  held: boolean;
  enabled: boolean;
}

/** A registration row as stored: password and secrets encrypted (see services/registrations.ts). */
export interface RegistrationRecord {
  accountName: string;
  serviceName: string;
  url: string;
  username: string | null;
  passwordEnc: string | null;
  signingSecretEnc: string;
  previousSecretEnc: string | null;
  previousSecretExpiresAt: number | null;
  createdAt: number;
  updatedAt: number;
  controls: DeliveryControls;
  health: RegistrationHealth;
}

/** The fields a registration write sets; secrets are kept (update) or given (insert). */
export interface RegistrationFields {
  accountName: string;
  serviceName: string;
  url: string;
  username: string | null;
  passwordEnc: string | null;
  updatedAt: number;
}

export interface RegistrationKey {
  accountName: string;
  serviceName: string;
}

/** A registration's new signing secret, as `RegistrationStore.rotateSecret` stores it. */
export interface SecretRotation {
  accountName: string;
  serviceName: string;
  /** The new secret, encrypted. */
  signingSecretEnc: string;
  /** Until when the current secret, now the previous one, stays valid. */
  previousExpiresAt: number;
  /** The row's `updatedAt`. */
  now: number;
}

export interface RegistrationStore {
  /** An account's registrations, by service name. */
  list(accountName: string): Promise<RegistrationRecord[]>;
  /** Every registration of every account, by account then service (the dashboard's accounts page). */
  listAll(): Promise<RegistrationRecord[]>;
  get(accountName: string, serviceName: string): Promise<RegistrationRecord | null>;
  /** For each key, in order, whether a registration exists (a real read, never a cache). */
  exists(keys: RegistrationKey[]): Promise<boolean[]>;
  /** For each key, in order, the registration's gate, or null when there is none (a real read). */
  gates(keys: RegistrationKey[]): Promise<(RegistrationGate | null)[]>;
  /** Replaces the controls (null when there is no such registration). Health is left alone. */
  setControls(key: RegistrationKey, controls: DeliveryControls, now: number): Promise<RegistrationRecord | null>;
  /**
   * Writes health (and, when given, `enabled`) only when the stored health version is still
   * `health.version - 1`; false when another writer came first (read again and retry).
   */
  writeHealth(key: RegistrationKey, health: RegistrationHealth, enabled?: boolean): Promise<boolean>;
  /** Whether any registration has ordering or a rate limit set (its messages are held). */
  anyHeld(): Promise<boolean>;
  /** Sets URL and credentials of an existing row, keeping its secrets; false when there is none. */
  update(fields: RegistrationFields): Promise<boolean>;
  /**
   * Inserts a row with this signing secret; when a row was inserted meanwhile (another process), it
   * is updated as by `update` and keeps its own secret. Returns the row as stored.
   */
  insert(fields: RegistrationFields & { signingSecretEnc: string }): Promise<RegistrationRecord>;
  /** Deletes the row; false when there was none. Touches no other table. */
  remove(accountName: string, serviceName: string): Promise<boolean>;
  /**
   * Deletes the row and sets its pending and delivering messages to `cancelled` with `reason` (as
   * `MessageStore.cancelOpen`), in one transaction: both are written or neither. False, and nothing
   * cancelled, when there was no row.
   */
  removeAndCancelOpen(accountName: string, serviceName: string, reason: string, now: number): Promise<boolean>;
  /** Moves the current secret to `previous` (valid until `previousExpiresAt`) and stores the new one. */
  rotateSecret(rotation: SecretRotation): Promise<RegistrationRecord | null>;
  /**
   * A value that differs from the last one returned whenever another connection (another process)
   * may have changed registrations since. Caches compare it to decide when to drop what they hold.
   */
  changeMark(): Promise<string>;
  /** Some stored encrypted secret (to check the encryption key at start-up), null when there is none. */
  sampleSecret(): Promise<string | null>;
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
  /** Inserts a client; false (and nothing changed) when the id exists. */
  createClient(client: OAuthClient): Promise<boolean>;
  getClient(clientId: string): Promise<OAuthClient | null>;
  /** Creates or replaces a user (the dev seed uses this idempotently). */
  upsertUser(user: Omit<User, 'failedLogins' | 'lockedUntil'>): Promise<void>;
  /** Creates the user only when missing; false when it existed (race-free dev seeding). */
  insertUserIfMissing(user: Omit<User, 'failedLogins' | 'lockedUntil'>): Promise<boolean>;
  getUser(username: string): Promise<User | null>;
  /**
   * Takes one of the user's `maxAttempts` login slots before a password is checked, in one atomic step
   * across connections and processes: `failedLogins` counts the attempts still being checked and those
   * that failed, since the last success. Admitted only while the user is not locked
   * (`lockedUntil > now`) and fewer than `maxAttempts` slots are taken; a lockout that has ended frees
   * them all. Never locks; refused changes nothing. Returns the user as it is afterwards, or null when
   * there is no such user.
   */
  reserveLoginAttempt(
    username: string,
    now: number,
    maxAttempts: number,
  ): Promise<{ user: User; admitted: boolean } | null>;
  /**
   * Locks the user until `lockUntil` when all `maxAttempts` slots are taken and it is not locked yet, in
   * one atomic step: after a failed check, or, with `reservedBefore`, only when the latest slot was
   * taken before that time (checks that never ended: their process died). Returns the user as it is
   * afterwards, or null when there is no such user.
   */
  lockFailedLogins(
    username: string,
    maxAttempts: number,
    lockUntil: number,
    reservedBefore?: number,
  ): Promise<User | null>;
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
  /**
   * Why it failed (null on success): `errorKind` for programs (`timeout`, `http_status`, …, see
   * delivery/attempt-error.ts), `error` the detail for people. Attempts stored before kinds were
   * kept have `errorKind` null and `kind: detail` in `error`.
   */
  errorKind: string | null;
  error: string | null;
  /** First 1 KiB of the response body. */
  responseExcerpt: string | null;
}

/** A message row to insert, its status already decided (services/messages.ts). */
export interface MessageInsert {
  id: string;
  accountName: string;
  serviceName: string;
  payload: string;
  status: MessageStatus;
  maxAttempts: number;
  nextAttemptAt: number | null;
  /** Set for a message stored already claimed (`delivering`): the end of its lease. */
  lockedUntil?: number | null;
  reason: string | null;
  /** With a key, the key row is written too, in the same transaction. */
  idempotency: { key: string; fingerprint: string; expiresAt: number } | null;
  /**
   * Stored only while a registration of its account and service exists, checked in the insert's own
   * transaction (on PostgreSQL the registration row is locked until the commit, so a removal waits
   * for it and then cancels the message); otherwise left out, and its id returned by `insert`.
   */
  requireRegistration?: boolean;
}

/** The message an unexpired idempotency key points at. */
export interface IdempotencyRecord {
  accountName: string;
  serviceName: string;
  key: string;
  messageId: string;
  /** null for keys stored before fingerprints were (they match any body). */
  fingerprint: string | null;
  status: MessageStatus;
}

/**
 * A change to a claimed message after an attempt (or without one). The attempt, when given, is
 * always recorded and counted; the other fields are written only while the message is still
 * `delivering` (it may have been cancelled or re-queued meanwhile).
 */
export interface MessageChange {
  id: string;
  attempt: Attempt | null;
  status: MessageStatus;
  nextAttemptAt: number | null;
  reason: string | null;
  deliveredAt: number | null;
  /**
   * Set for a retry of a held registration's message: it becomes held again (pending,
   * nextAttemptAt null) and may be admitted from this time on. `nextAttemptAt` is then ignored.
   */
  heldUntil?: number;
}

export interface MessageFilter {
  accountName?: string;
  serviceName?: string;
  status?: MessageStatus;
  /** createdAt >= since */
  since?: number;
  /** createdAt < until */
  until?: number;
  /** This message only. */
  id?: string;
  /**
   * The reason's kind: the reason equals it, or starts with it followed by `: ` (an attempt error's
   * `kind: detail`, delivery/attempt-error.ts).
   */
  reasonKind?: string;
  /**
   * A top-level field of the payload whose value, as text, equals `value` (a string as is; a number,
   * `true` or `false` as JSON writes it). The store reads every row the other terms leave.
   */
  payloadField?: { name: string; value: string };
}

export interface MessagePage {
  items: CallbackMessage[];
  /** Opaque; hand it back to `list` for the next (older) page. */
  nextCursor: string | null;
}

export interface MessageStats {
  counts: Record<MessageStatus, number>;
  /** pending + delivering */
  queueDepth: number;
  /** Age in ms of the oldest message that is due now (pending with nextAttemptAt <= now), 0 when none. */
  oldestDueAgeMs: number;
}

/** Whom a message is for. */
export interface MessageTarget {
  id: string;
  accountName: string;
  serviceName: string;
}

/** The open messages only (what /metrics reads): never counts the history of finished messages. */
export interface OpenMessageStats {
  pending: number;
  delivering: number;
  /** Age in ms of the oldest message that is due now (pending with nextAttemptAt <= now), 0 when none. */
  oldestDueAgeMs: number;
}

export interface PurgeCutoffs {
  /** Delivered messages last updated before this go. */
  deliveredBefore: number;
  /** Failed and cancelled messages last updated before this go. */
  failedBefore: number;
  /** Idempotency keys expired by this go. */
  keysExpiredBy: number;
}

export interface MessageStore {
  /**
   * Inserts messages (and their idempotency keys) in one transaction. A key already held by an
   * unexpired message fails the whole call with IdempotencyKeyTakenError; an expired one is taken over.
   * Returns the ids left out because their registration was gone (see `requireRegistration`).
   */
  insert(messages: MessageInsert[], now: number): Promise<string[]>;
  /** For each key, in order, the unexpired key's message, or null. */
  findIdempotencyKeys(
    keys: { accountName: string; serviceName: string; key: string }[],
    now: number,
  ): Promise<(IdempotencyRecord | null)[]>;
  /**
   * Claims up to `limit` messages that are due (pending with nextAttemptAt <= now, or delivering
   * with an expired lease), marking them `delivering` with lockedUntil = now + leaseMs, in due order.
   * Two concurrent claims never return the same message.
   */
  claim(now: number, limit: number, leaseMs: number): Promise<CallbackMessage[]>;
  /** Applies changes (see MessageChange) in one transaction. */
  update(changes: MessageChange[], now: number): Promise<void>;
  /** `delivering` → `pending`, due at `nextAttemptAt`, without an attempt. */
  release(ids: string[], nextAttemptAt: number): Promise<void>;
  /**
   * Extends to `lockedUntil` the leases of claimed messages that still hold the lease given (its
   * `lockedUntil`), unexpired at `now`; a lease that ran out or was taken by another claim is left.
   * Returns the ids extended.
   */
  renew(leases: { id: string; lockedUntil: number }[], lockedUntil: number, now: number): Promise<string[]>;
  /** The earliest time something becomes due (pending nextAttemptAt or delivering lease end). */
  nextDueAt(): Promise<number | null>;
  get(id: string): Promise<{ message: CallbackMessage; attempts: Attempt[] } | null>;
  /** Newest first. Throws InvalidCursorError for a cursor it did not make. */
  list(filter: MessageFilter, limit: number, cursor: string | null): Promise<MessagePage>;
  stats(now: number): Promise<MessageStats>;
  /**
   * Counts of pending and delivering messages and the oldest due age, read from the open messages
   * alone: its cost follows the queue, not the retained history (an unauthenticated scrape runs it).
   */
  openStats(now: number): Promise<OpenMessageStats>;
  /**
   * Messages among `ids` whose status is one of `from` become pending, due now, reason cleared, with
   * `extraAttempts` more attempts allowed on top of those made. Returns their ids.
   */
  requeue(ids: string[], from: readonly MessageStatus[], extraAttempts: number, now: number): Promise<string[]>;
  /**
   * Makes held messages due (the claim rules of delivery controls, SPEC §11), for every registration
   * with ordering `fifo` or a rate limit, in one transaction per registration, safe with several
   * instances: a `fifo` registration gets its oldest held message (by insertion) admitted only when
   * the message admitted before it is no longer pending or delivering, and a held retry of that
   * message (ready at its `heldUntil`) before any other; a rate-limited one gets its held, ready
   * messages admitted by insertion order, each at the registration's next free slot (slots
   * `windowMs / count` apart, kept in the registration row), as long as that slot is before
   * `now + horizonMs`. Returns how many messages were admitted.
   */
  admitHeld(now: number, horizonMs: number): Promise<number>;
  /**
   * Makes every held message of (account, service) due (a retry at its retry time, the others now):
   * for a registration that no longer holds its messages. Returns how many changed.
   */
  releaseHeld(accountName: string, serviceName: string, now: number): Promise<number>;
  /**
   * Sets every pending message of (account, service), held ones included, to `failed` with
   * `reason`; messages in flight keep their attempt. Returns how many changed.
   */
  failPending(accountName: string, serviceName: string, reason: string, now: number): Promise<number>;
  /** Sets every pending or delivering message of (account, service) to `cancelled` with `reason`. */
  cancelOpen(accountName: string, serviceName: string, reason: string, now: number): Promise<number>;
  /** The account and service of each message among `ids` that exists (in no particular order). */
  targetsOf(ids: string[]): Promise<MessageTarget[]>;
  /** Ids matching a filter, oldest first, after `afterId`, for bulk work in pages. */
  findIds(filter: MessageFilter, limit: number, afterId: string | null): Promise<string[]>;
  /** Deletes finished messages (with their attempts and keys) and expired keys, in chunks. */
  purge(cutoffs: PurgeCutoffs): Promise<number>;
  /**
   * When set, retention works in steps of this width (PostgreSQL: the history's partition width): the
   * retention task rounds its cutoffs down to a multiple of it, so whole partitions go at once.
   */
  readonly retentionStepMs?: number;
}

export type ReplayJobStatus = 'running' | 'done' | 'failed';

/** A bulk replay job as stored, readable from every instance. */
export interface ReplayJobRecord {
  jobId: string;
  status: ReplayJobStatus;
  filter: MessageFilter;
  /** Messages found by the filter so far. */
  matched: number;
  /** Of those, how many were queued again. */
  replayed: number;
  /** Of those, how many were left alone because no listener is registered for their account and service. */
  noListener: number;
  /** Last id walked (the job resumes after it). */
  afterId: string | null;
  /** While running: the instance working on it holds it until then. */
  leasedUntil: number | null;
  startedAt: number;
  finishedAt: number | null;
  error: string | null;
}

export interface ReplayJobStore {
  create(job: ReplayJobRecord): Promise<void>;
  get(jobId: string): Promise<ReplayJobRecord | null>;
  /** Takes a running job whose lease is over (its instance stopped), leasing it until `leasedUntil`. */
  claimAbandoned(now: number, leasedUntil: number): Promise<ReplayJobRecord | null>;
  /** Writes progress (and the new lease) of a job this instance holds. */
  save(job: ReplayJobRecord): Promise<void>;
  /** Deletes finished jobs older than `finishedBefore`. */
  purge(finishedBefore: number): Promise<number>;
}

/**
 * One process's sample of the message stats at a time bucket (the dashboard's charts): the store's
 * figures then, and the attempts that process made since its previous sample.
 */
export interface StatsSampleRecord {
  /** Start of the bucket (epoch ms, a multiple of the sample interval). */
  at: number;
  /** The process that took it (random per start), so that processes sharing a store never collide. */
  instance: string;
  counts: Record<MessageStatus, number>;
  queueDepth: number;
  oldestDueAgeMs: number;
  /** Attempts by outcome label since the process's previous sample. */
  attempts: Record<string, number>;
}

export interface StatsSampleStore {
  /** Keeps a sample; a second one of the same bucket and instance is ignored. */
  record(sample: StatsSampleRecord): Promise<void>;
  /** Samples of buckets at or after `since`, oldest first (instances of one bucket together). */
  list(since: number): Promise<StatsSampleRecord[]>;
  /** Deletes samples of buckets before `before`; returns how many went. */
  purge(before: number): Promise<number>;
}

/** A scoped API key of the admin API; the key itself is never stored, only its SHA-256 hash. */
export interface ApiKeyRecord {
  id: string;
  name: string;
  keyHash: string;
  scopes: string[];
  /** The accounts the key is limited to; null for every account. */
  accounts: string[] | null;
  expiresAt: number | null;
  createdAt: number;
  revokedAt: number | null;
}

/** A portal session: opened by a portal link (one account) or a portal user's sign-in (its accounts). */
export interface PortalSessionRecord {
  tokenHash: string;
  kind: 'portal-link' | 'portal-user';
  /** The user's name, or a description of the link. */
  name: string;
  /** Set for a user's session, so that a change of the user ends it. */
  username: string | null;
  accounts: string[];
  /** Idle expiry, moved forward as the session is used. */
  expiresAt: number;
  /** The session ends then whatever its use. */
  endsAt: number;
}

/** One recorded state-changing call. */
export interface AuditRecord {
  id: string;
  at: number;
  actorKind: string;
  actorName: string;
  address: string;
  action: string;
  method: string;
  route: string;
  accountName: string | null;
  target: string | null;
  summary: string;
  statusCode: number;
  outcome: 'ok' | 'refused' | 'failed';
  errorCode: string | null;
}

export interface AuditFilter {
  actorName?: string;
  action?: string;
  accountName?: string;
  target?: string;
  /** at >= since */
  since?: number;
  /** at < until */
  until?: number;
  /** Only entries of these accounts (a key limited to accounts); null for every entry. */
  accounts?: readonly string[] | null;
}

export interface AccessStore {
  insertKey(key: ApiKeyRecord): Promise<void>;
  /** Every key, newest first, revoked ones included. */
  listKeys(): Promise<ApiKeyRecord[]>;
  /** The key with this hash, as stored now (a real read: revocations take effect at once everywhere). */
  getKeyByHash(keyHash: string): Promise<ApiKeyRecord | null>;
  /** Marks the key revoked (once); the key as it is afterwards, or null when there is no such key. */
  revokeKey(id: string, now: number): Promise<ApiKeyRecord | null>;
  insertPortalLink(link: {
    tokenHash: string;
    accountName: string;
    createdBy: string;
    createdAt: number;
    expiresAt: number;
  }): Promise<void>;
  /**
   * Uses a portal link: in one atomic step, across processes, marks it used when it is unused and
   * unexpired and returns its account; null otherwise (unknown, used or expired), changing nothing.
   */
  consumePortalLink(tokenHash: string, now: number): Promise<{ accountName: string } | null>;
  savePortalSession(session: PortalSessionRecord): Promise<void>;
  getPortalSession(tokenHash: string): Promise<PortalSessionRecord | null>;
  touchPortalSession(tokenHash: string, expiresAt: number): Promise<void>;
  deletePortalSession(tokenHash: string): Promise<boolean>;
  /** Ends every portal session of a user; returns how many there were. */
  deleteUserPortalSessions(username: string): Promise<number>;
  /**
   * Counts one failed-credential attempt under `key` in a fixed window of `windowMs`, atomically across
   * processes; returns the attempts counted in the current window (this one included) and its end.
   */
  countAttempt(key: string, now: number, windowMs: number): Promise<{ attempts: number; windowEndsAt: number }>;
  /** Gives one attempt back (it succeeded, or was never checked). */
  releaseAttempt(key: string, now: number): Promise<void>;
  /**
   * Appends an audit entry; resolves once it is committed. The entries appended in one turn of the
   * event loop are committed together (one transaction, one statement on PostgreSQL); an entry that
   * fails alone (a constraint) fails only its own caller.
   */
  appendAudit(entry: AuditRecord): Promise<void>;
  /** Newest first; throws InvalidCursorError for a cursor it did not make. */
  listAudit(
    filter: AuditFilter,
    limit: number,
    cursor: string | null,
  ): Promise<{ items: AuditRecord[]; nextCursor: string | null }>;
  /**
   * Deletes audit entries older than `auditBefore`, used or expired portal links and ended portal
   * sessions (before `now`), and attempt windows that are over; returns how many rows went.
   */
  purge(auditBefore: number, now: number): Promise<number>;
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  registrations: RegistrationStore;
  auth: AuthStore;
  messages: MessageStore;
  replayJobs: ReplayJobStore;
  statsSamples: StatsSampleStore;
  /**
   * The time (epoch ms) that messages' due times, leases and publish times are given in. SQLite (one
   * process): the process clock. PostgreSQL: the database server's clock, so instances whose clocks
   * disagree still agree on when a lease ends (see PostgresStore.now).
   */
  now(): number;
  access: AccessStore;
  /** Applies pending migrations; safe to call at every start and from several instances at once. */
  migrate(): Promise<void>;
  /**
   * Stores `checkValue` as the database's encryption key check when none is stored yet, and returns
   * the stored one: the first writer's, also among instances starting together on an empty database.
   */
  keyCheck(checkValue: string, now: number): Promise<string>;
  /**
   * Resolves when the store can serve reads and writes; rejects with `StoreUnavailableError`
   * (store/errors.ts) when it cannot (disk full, I/O failure, unreachable). Every store method that
   * cannot serve for such a reason also rejects with that error, so the API answers 503.
   */
  checkReady(): Promise<void>;
  /**
   * Wakes `listener` when another process (or this one) published due messages; absent when the
   * backend cannot tell (callers poll). Returns a function that stops listening.
   */
  onPublished?(listener: () => void): () => void;
  /**
   * Calls `listener` soon after another process (or this one) changed registrations; absent when the
   * backend cannot push that (caches then rely on `registrations.changeMark()` alone).
   */
  onRegistrationsChanged?(listener: () => void): () => void;
  close(): Promise<void>;
}
