/**
 * The rows both backends store, and how they become the contract's records (types.ts): one row type,
 * one mapper, one column list and one set of filter terms per table, used by store/sqlite/ and
 * store/postgres/ alike. A column the backends store differently (JSON text in SQLite, jsonb in
 * PostgreSQL) is typed as either and read by the mapper either way. Schema DDL stays in each
 * backend's migrations.
 */
import { FINAL_STATUSES, OPEN_STATUSES } from '../domain/statuses.js';
import type {
  ApiKeyRecord,
  Attempt,
  AuditFilter,
  AuditRecord,
  CallbackMessage,
  DeliveryControls,
  MessageFilter,
  MessageStatus,
  OAuthClient,
  PortalSessionRecord,
  RegistrationFields,
  RegistrationHealth,
  RegistrationKey,
  RegistrationRecord,
  ReplayJobRecord,
  ReplayJobStatus,
  StatsSampleRecord,
  User,
} from './types.js';

/** Statuses as an SQL list of literals, for `status IN (...)` (the names are fixed words, never input). */
function sqlList(statuses: readonly MessageStatus[]): string {
  return statuses.map((status) => `'${status}'`).join(', ');
}

/** The final statuses as an SQL list, written as the partial indexes are. */
export const FINAL_STATUSES_SQL = sqlList(FINAL_STATUSES);

/** The open statuses (not final) as an SQL list. */
export const OPEN_STATUSES_SQL = sqlList(OPEN_STATUSES);

/** The final statuses retention counts from `PurgeCutoffs.failedBefore` (all but delivered) as an SQL list. */
export const FAILED_CUTOFF_STATUSES_SQL = sqlList(FINAL_STATUSES.filter((status) => status !== 'delivered'));

export interface MessageRow {
  seq: number;
  id: string;
  account_name: string;
  service_name: string;
  payload: string;
  status: MessageStatus;
  attempts: number;
  max_attempts: number;
  next_attempt_at: number | null;
  locked_until: number | null;
  reason: string | null;
  idempotency_key: string | null;
  created_at: number;
  updated_at: number;
  delivered_at: number | null;
}

/** The columns of MessageRow, in its order. */
export const MESSAGE_COLUMNS =
  'seq, id, account_name, service_name, payload, status, attempts, max_attempts, next_attempt_at, locked_until, reason, idempotency_key, created_at, updated_at, delivered_at';

export function toMessage(row: MessageRow): CallbackMessage {
  return {
    id: row.id,
    accountName: row.account_name,
    serviceName: row.service_name,
    payload: row.payload,
    status: row.status,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    nextAttemptAt: row.next_attempt_at,
    lockedUntil: row.locked_until,
    reason: row.reason,
    idempotencyKey: row.idempotency_key,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    deliveredAt: row.delivered_at,
  };
}

export interface AttemptRow {
  message_id: string;
  attempt_number: number;
  started_at: number;
  url: string;
  status_code: number | null;
  latency_ms: number;
  error_kind: string | null;
  error: string | null;
  response_excerpt: string | null;
}

export function toAttempt(row: AttemptRow): Attempt {
  return {
    messageId: row.message_id,
    attemptNumber: row.attempt_number,
    startedAt: row.started_at,
    url: row.url,
    statusCode: row.status_code,
    latencyMs: row.latency_ms,
    errorKind: row.error_kind,
    error: row.error,
    responseExcerpt: row.response_excerpt,
  };
}

/** What the filter terms need from a backend's SQL dialect. */
export interface FilterDialect {
  /**
   * Binds one value and returns its placeholder (`@accountName` in SQLite, `$3` in PostgreSQL); each
   * name is bound once per filter.
   */
  bind(name: string, value: unknown): string;
  /** The alias the message columns are read from (`h` for PostgreSQL's history table); none when unset. */
  table?: string;
  /**
   * The term for a status the backend does not keep in the status column alone (PostgreSQL: pending
   * and delivering from the queue row); undefined: `status = <bound status>`.
   */
  statusTerm?(status: MessageStatus): string | undefined;
  /** The test that `column` starts with the text at placeholder `prefix` (no LIKE: `_` would match any character). */
  startsWith(column: string, prefix: string): string;
}

/**
 * The WHERE terms of a MessageFilter, all but the payload field (its JSON functions are each
 * backend's own). Column names are fixed, values are always bound.
 */
export function messageFilterTerms(filter: MessageFilter, dialect: FilterDialect): string[] {
  const { bind } = dialect;
  const column = (name: string) => (dialect.table === undefined ? name : `${dialect.table}.${name}`);
  const where: string[] = [];
  if (filter.accountName !== undefined) {
    where.push(`${column('account_name')} = ${bind('accountName', filter.accountName)}`);
  }
  if (filter.serviceName !== undefined) {
    where.push(`${column('service_name')} = ${bind('serviceName', filter.serviceName)}`);
  }
  if (filter.status !== undefined) {
    where.push(dialect.statusTerm?.(filter.status) ?? `${column('status')} = ${bind('status', filter.status)}`);
  }
  if (filter.since !== undefined) where.push(`${column('created_at')} >= ${bind('since', filter.since)}`);
  if (filter.until !== undefined) where.push(`${column('created_at')} < ${bind('until', filter.until)}`);
  if (filter.id !== undefined) where.push(`${column('id')} = ${bind('id', filter.id)}`);
  if (filter.reasonKind !== undefined) {
    const reason = column('reason');
    const kind = bind('reasonKind', filter.reasonKind);
    const prefix = bind('reasonPrefix', `${filter.reasonKind}: `);
    where.push(`(${reason} = ${kind} OR ${dialect.startsWith(reason, prefix)})`);
  }
  return where;
}

/**
 * A registration row with its delivery controls and health. Booleans are 0/1 in SQLite; in
 * PostgreSQL the health comes from `registration_state`, which may have no row yet (nulls), and a
 * write that answers RETURNING * has no health columns at all (read as none).
 */
export interface RegistrationRow {
  account_name: string;
  service_name: string;
  url: string;
  username: string | null;
  password_enc: string | null;
  signing_secret_enc: string;
  previous_secret_enc: string | null;
  previous_secret_expires_at: number | null;
  created_at: number;
  updated_at: number;
  ordering: 'none' | 'fifo';
  rate_limit: number | null;
  rate_window_ms: number | null;
  auto_disable_after_ms: number | null;
  auto_disable_warn_ms: number | null;
  enabled: number | boolean;
  consecutive_failures?: number | null;
  failing_since?: number | null;
  last_success_at?: number | null;
  last_failure_at?: number | null;
  recent_bits?: number | string | null;
  recent_count?: number | null;
  warned_at?: number | null;
  disabled_at?: number | null;
  recovery_due?: number | boolean | null;
  health_version?: number | null;
}

export function toRegistration(row: RegistrationRow): RegistrationRecord {
  return {
    accountName: row.account_name,
    serviceName: row.service_name,
    url: row.url,
    username: row.username,
    passwordEnc: row.password_enc,
    signingSecretEnc: row.signing_secret_enc,
    previousSecretEnc: row.previous_secret_enc,
    previousSecretExpiresAt: row.previous_secret_expires_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    controls: {
      ordering: row.ordering,
      rateLimit:
        row.rate_limit != null && row.rate_window_ms != null
          ? { count: row.rate_limit, windowMs: Number(row.rate_window_ms) }
          : null,
      autoDisable:
        row.auto_disable_after_ms != null && row.auto_disable_warn_ms != null
          ? { afterMs: Number(row.auto_disable_after_ms), warnAfterMs: Number(row.auto_disable_warn_ms) }
          : null,
      enabled: row.enabled === true || row.enabled === 1,
    },
    health: {
      consecutiveFailures: row.consecutive_failures ?? 0,
      failingSince: row.failing_since ?? null,
      lastSuccessAt: row.last_success_at ?? null,
      lastFailureAt: row.last_failure_at ?? null,
      recentBits: Number(row.recent_bits ?? 0),
      recentCount: row.recent_count ?? 0,
      warnedAt: row.warned_at ?? null,
      disabledAt: row.disabled_at ?? null,
      recoveryDue: row.recovery_due === true || row.recovery_due === 1,
      version: row.health_version ?? 0,
    },
  };
}

/** How a backend stores a flag: 0/1 in SQLite, a boolean in PostgreSQL. */
export type StoredFlag = (value: boolean) => number | boolean;

/** A registration's own fields as a row to write. */
export interface RegistrationFieldsRow {
  account_name: string;
  service_name: string;
  url: string;
  username: string | null;
  password_enc: string | null;
  updated_at: number;
}

export function registrationFieldsRow(fields: RegistrationFields): RegistrationFieldsRow {
  return {
    account_name: fields.accountName,
    service_name: fields.serviceName,
    url: fields.url,
    username: fields.username,
    password_enc: fields.passwordEnc,
    updated_at: fields.updatedAt,
  };
}

/** A registration's delivery controls as a row to write. */
export function controlsRow(key: RegistrationKey, controls: DeliveryControls, now: number, flag: StoredFlag) {
  return {
    account_name: key.accountName,
    service_name: key.serviceName,
    ordering: controls.ordering,
    rate_limit: controls.rateLimit?.count ?? null,
    rate_window_ms: controls.rateLimit?.windowMs ?? null,
    auto_disable_after_ms: controls.autoDisable?.afterMs ?? null,
    auto_disable_warn_ms: controls.autoDisable?.warnAfterMs ?? null,
    enabled: flag(controls.enabled),
    updated_at: now,
  };
}

/** A registration's health as a row to write, with the enabled flag to set with it (null: left as it is). */
export function healthRow(
  key: RegistrationKey,
  health: RegistrationHealth,
  enabled: boolean | undefined,
  flag: StoredFlag,
) {
  return {
    account_name: key.accountName,
    service_name: key.serviceName,
    consecutive_failures: health.consecutiveFailures,
    failing_since: health.failingSince,
    last_success_at: health.lastSuccessAt,
    last_failure_at: health.lastFailureAt,
    recent_bits: health.recentBits,
    recent_count: health.recentCount,
    warned_at: health.warnedAt,
    disabled_at: health.disabledAt,
    recovery_due: flag(health.recoveryDue),
    health_version: health.version,
    enabled: enabled === undefined ? null : flag(enabled),
  };
}

export interface ClientRow {
  client_id: string;
  name: string;
  secret_hash: string;
  created_at: number;
}

export function toClient(row: ClientRow): OAuthClient {
  return { clientId: row.client_id, name: row.name, secretHash: row.secret_hash, createdAt: row.created_at };
}

export interface UserRow {
  username: string;
  password_hash: string;
  /** JSON text (SQLite) or the parsed array (PostgreSQL jsonb). */
  accounts: string | string[];
  failed_logins: number;
  locked_until: number | null;
  created_at: number;
}

export function toUser(row: UserRow): User {
  return {
    username: row.username,
    passwordHash: row.password_hash,
    accounts: typeof row.accounts === 'string' ? (JSON.parse(row.accounts) as string[]) : row.accounts,
    failedLogins: row.failed_logins,
    lockedUntil: row.locked_until,
    createdAt: row.created_at,
  };
}

export interface StatsSampleRow {
  at: number;
  instance: string;
  /** JSON text (SQLite) or the parsed object (PostgreSQL jsonb). */
  counts: string | Record<MessageStatus, number>;
  queue_depth: number;
  oldest_due_age_ms: number;
  /** JSON text (SQLite) or the parsed object (PostgreSQL jsonb). */
  attempts: string | Record<string, number>;
}

export function toStatsSample(row: StatsSampleRow): StatsSampleRecord {
  return {
    at: row.at,
    instance: row.instance,
    counts: typeof row.counts === 'string' ? (JSON.parse(row.counts) as Record<MessageStatus, number>) : row.counts,
    queueDepth: row.queue_depth,
    oldestDueAgeMs: row.oldest_due_age_ms,
    attempts: typeof row.attempts === 'string' ? (JSON.parse(row.attempts) as Record<string, number>) : row.attempts,
  };
}

/** A stats sample as a row to write (its objects as JSON text, which both backends accept). */
export function statsSampleRow(sample: StatsSampleRecord): StatsSampleRow & { counts: string; attempts: string } {
  return {
    at: sample.at,
    instance: sample.instance,
    counts: JSON.stringify(sample.counts),
    queue_depth: sample.queueDepth,
    oldest_due_age_ms: sample.oldestDueAgeMs,
    attempts: JSON.stringify(sample.attempts),
  };
}

export interface ReplayJobRow {
  job_id: string;
  status: ReplayJobStatus;
  /** JSON text (SQLite) or the parsed filter (PostgreSQL jsonb). */
  filter: string | MessageFilter;
  matched: number;
  replayed: number;
  no_listener: number;
  after_id: string | null;
  leased_until: number | null;
  started_at: number;
  finished_at: number | null;
  error: string | null;
}

export function toReplayJob(row: ReplayJobRow): ReplayJobRecord {
  return {
    jobId: row.job_id,
    status: row.status,
    filter: typeof row.filter === 'string' ? (JSON.parse(row.filter) as MessageFilter) : row.filter,
    matched: row.matched,
    replayed: row.replayed,
    noListener: row.no_listener,
    afterId: row.after_id,
    leasedUntil: row.leased_until,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    error: row.error,
  };
}

/** A replay job as a row to write (the filter as JSON text, which both backends accept). */
export function replayJobRow(job: ReplayJobRecord): ReplayJobRow & { filter: string } {
  return {
    job_id: job.jobId,
    status: job.status,
    filter: JSON.stringify(job.filter),
    matched: job.matched,
    replayed: job.replayed,
    no_listener: job.noListener,
    after_id: job.afterId,
    leased_until: job.leasedUntil,
    started_at: job.startedAt,
    finished_at: job.finishedAt,
    error: job.error,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Access rows: API keys, portal sessions and the audit log (store/sqlite/access.ts, store/postgres/access.ts).
// ---------------------------------------------------------------------------------------------------------

/** `INSERT INTO table (columns) VALUES (…)`, each value's placeholder given by the backend (`@name`, `$1`). */
export function insertSql(
  table: string,
  columns: readonly string[],
  placeholder: (column: string, index: number) => string,
): string {
  return `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(placeholder).join(', ')})`;
}

/** A list column: JSON text (SQLite) or the parsed array (PostgreSQL jsonb). */
function listColumn(value: string | string[]): string[] {
  return typeof value === 'string' ? (JSON.parse(value) as string[]) : value;
}

export interface KeyRow {
  id: string;
  name: string;
  key_hash: string;
  /** JSON text (SQLite) or the parsed array (PostgreSQL jsonb). */
  scopes: string | string[];
  accounts: string | string[] | null;
  expires_at: number | null;
  created_at: number;
  revoked_at: number | null;
}

/** The api_keys columns in the order the INSERT names them. */
export const KEY_COLUMNS = [
  'id',
  'name',
  'key_hash',
  'scopes',
  'accounts',
  'expires_at',
  'created_at',
  'revoked_at',
] as const satisfies readonly (keyof KeyRow)[];

export function toKey(row: KeyRow): ApiKeyRecord {
  return {
    id: row.id,
    name: row.name,
    keyHash: row.key_hash,
    scopes: listColumn(row.scopes),
    accounts: row.accounts === null ? null : listColumn(row.accounts),
    expiresAt: row.expires_at,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
  };
}

/** A key as a row to write (lists as JSON text, which both backends accept). */
export function keyRow(key: ApiKeyRecord): KeyRow & { scopes: string; accounts: string | null } {
  return {
    id: key.id,
    name: key.name,
    key_hash: key.keyHash,
    scopes: JSON.stringify(key.scopes),
    accounts: key.accounts === null ? null : JSON.stringify(key.accounts),
    expires_at: key.expiresAt,
    created_at: key.createdAt,
    revoked_at: key.revokedAt,
  };
}

export interface PortalSessionRow {
  token_hash: string;
  kind: 'portal-link' | 'portal-user';
  name: string;
  username: string | null;
  /** JSON text (SQLite) or the parsed array (PostgreSQL jsonb). */
  accounts: string | string[];
  expires_at: number;
  ends_at: number;
}

/** The portal_sessions columns in the order the INSERT names them. */
export const SESSION_COLUMNS = [
  'token_hash',
  'kind',
  'name',
  'username',
  'accounts',
  'expires_at',
  'ends_at',
] as const satisfies readonly (keyof PortalSessionRow)[];

export function toSession(row: PortalSessionRow): PortalSessionRecord {
  return {
    tokenHash: row.token_hash,
    kind: row.kind,
    name: row.name,
    username: row.username,
    accounts: listColumn(row.accounts),
    expiresAt: row.expires_at,
    endsAt: row.ends_at,
  };
}

/** A portal session as a row to write (accounts as JSON text). */
export function sessionRow(session: PortalSessionRecord): PortalSessionRow & { accounts: string } {
  return {
    token_hash: session.tokenHash,
    kind: session.kind,
    name: session.name,
    username: session.username,
    accounts: JSON.stringify(session.accounts),
    expires_at: session.expiresAt,
    ends_at: session.endsAt,
  };
}

export interface AuditRow {
  seq: number;
  id: string;
  at: number;
  actor_kind: string;
  actor_name: string;
  address: string;
  action: string;
  method: string;
  route: string;
  account_name: string | null;
  target: string | null;
  summary: string;
  status_code: number;
  outcome: AuditRecord['outcome'];
  error_code: string | null;
}

/** The audit_log columns an entry writes (all but the seq), in INSERT order. */
export const AUDIT_COLUMNS = [
  'id',
  'at',
  'actor_kind',
  'actor_name',
  'address',
  'action',
  'method',
  'route',
  'account_name',
  'target',
  'summary',
  'status_code',
  'outcome',
  'error_code',
] as const satisfies readonly (keyof AuditRow)[];

export function toAudit(row: AuditRow): AuditRecord {
  return {
    id: row.id,
    at: row.at,
    actorKind: row.actor_kind,
    actorName: row.actor_name,
    address: row.address,
    action: row.action,
    method: row.method,
    route: row.route,
    accountName: row.account_name,
    target: row.target,
    summary: row.summary,
    statusCode: row.status_code,
    outcome: row.outcome,
    errorCode: row.error_code,
  };
}

/** An audit entry as a row to write. */
export function auditRow(entry: AuditRecord): Omit<AuditRow, 'seq'> {
  return {
    id: entry.id,
    at: entry.at,
    actor_kind: entry.actorKind,
    actor_name: entry.actorName,
    address: entry.address,
    action: entry.action,
    method: entry.method,
    route: entry.route,
    account_name: entry.accountName,
    target: entry.target,
    summary: entry.summary,
    status_code: entry.statusCode,
    outcome: entry.outcome,
    error_code: entry.errorCode,
  };
}

/**
 * The WHERE terms of an audit page: the cursor (entries older than its seq) and the AuditFilter.
 * `bind(value)` binds one value and returns its placeholder; `inList(column, values)` is the backend's
 * "column is one of these" term (values bound by it).
 */
export function auditFilterTerms(
  filter: AuditFilter,
  cursorSeq: number | null,
  bind: (value: unknown) => string,
  inList: (column: string, values: readonly string[]) => string,
): string[] {
  const where: string[] = [];
  if (cursorSeq !== null) where.push(`seq < ${bind(cursorSeq)}`);
  if (filter.actorName !== undefined) where.push(`actor_name = ${bind(filter.actorName)}`);
  if (filter.action !== undefined) where.push(`action = ${bind(filter.action)}`);
  if (filter.accountName !== undefined) where.push(`account_name = ${bind(filter.accountName)}`);
  if (filter.target !== undefined) where.push(`target = ${bind(filter.target)}`);
  if (filter.since !== undefined) where.push(`at >= ${bind(filter.since)}`);
  if (filter.until !== undefined) where.push(`at < ${bind(filter.until)}`);
  if (filter.accounts) where.push(inList('account_name', filter.accounts));
  return where;
}
