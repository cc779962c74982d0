/**
 * Versioned schema migrations for SQLite, applied in order at start-up and recorded in
 * `schema_migrations`. Never edit a migration that has shipped; add a new one.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'auth and registrations',
    sql: `
      CREATE TABLE oauth_clients (
        client_id   TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        created_at  INTEGER NOT NULL
      );
      CREATE TABLE users (
        username      TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        accounts      TEXT NOT NULL, -- JSON array of account names
        failed_logins INTEGER NOT NULL DEFAULT 0,
        locked_until  INTEGER,
        created_at    INTEGER NOT NULL
      );
      CREATE TABLE access_tokens (
        token_hash TEXT PRIMARY KEY,
        client_id  TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      );
      CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        username   TEXT NOT NULL,
        client_id  TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      );
      CREATE TABLE registrations (
        account_name               TEXT NOT NULL,
        service_name               TEXT NOT NULL,
        url                        TEXT NOT NULL,
        username                   TEXT,
        password_enc               TEXT, -- AES-256-GCM, see security/encryption.ts
        signing_secret_enc         TEXT NOT NULL,
        previous_secret_enc        TEXT,
        previous_secret_expires_at INTEGER,
        created_at                 INTEGER NOT NULL,
        updated_at                 INTEGER NOT NULL,
        PRIMARY KEY (account_name, service_name)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    name: 'messages and attempts',
    sql: `
      CREATE TABLE messages (
        seq             INTEGER PRIMARY KEY AUTOINCREMENT, -- insertion order, cursor for listing
        id              TEXT NOT NULL UNIQUE,
        account_name    TEXT NOT NULL,
        service_name    TEXT NOT NULL,
        payload         TEXT NOT NULL,
        status          TEXT NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        max_attempts    INTEGER NOT NULL,
        next_attempt_at INTEGER,
        locked_until    INTEGER,
        reason          TEXT,
        idempotency_key TEXT,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL,
        delivered_at    INTEGER
      );
      -- Indexes are partial by status group, so the hot path (claim: pending -> delivering; ack:
      -- delivering -> delivered/pending) touches as few index entries as possible.
      CREATE UNIQUE INDEX messages_idempotency ON messages (idempotency_key) WHERE idempotency_key IS NOT NULL;
      CREATE INDEX messages_due ON messages (next_attempt_at) WHERE status = 'pending';
      CREATE INDEX messages_lease ON messages (locked_until) WHERE status = 'delivering';
      -- Deregistration cancels these; a claim does not move a message out of it.
      CREATE INDEX messages_open ON messages (account_name, service_name) WHERE status IN ('pending', 'delivering');
      -- Retention purge and counts of finished messages (queries repeat the IN term so it is used).
      CREATE INDEX messages_finished ON messages (status, updated_at) WHERE status IN ('delivered', 'failed', 'cancelled');
      -- Listing by account, newest first.
      CREATE INDEX messages_account ON messages (account_name, seq);
      CREATE TABLE attempts (
        message_id       TEXT NOT NULL,
        attempt_number   INTEGER NOT NULL,
        started_at       INTEGER NOT NULL,
        url              TEXT NOT NULL,
        status_code      INTEGER,
        latency_ms       REAL NOT NULL,
        error            TEXT,
        response_excerpt TEXT,
        PRIMARY KEY (message_id, attempt_number)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 3,
    name: 'idempotency keys per account and service, replay jobs',
    sql: `
      -- Keys are scoped to (account, service) and expire; the fingerprint tells a retry of the same
      -- publish from a different one under a reused key. Keys stored before have none.
      CREATE TABLE idempotency_keys (
        account_name    TEXT NOT NULL,
        service_name    TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        message_id      TEXT NOT NULL,
        fingerprint     TEXT,
        expires_at      INTEGER NOT NULL,
        PRIMARY KEY (account_name, service_name, idempotency_key)
      );
      CREATE INDEX idempotency_keys_message ON idempotency_keys (message_id);
      CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
      INSERT OR IGNORE INTO idempotency_keys (account_name, service_name, idempotency_key, message_id, fingerprint, expires_at)
        SELECT account_name, service_name, idempotency_key, id, NULL, created_at + 86400000
        FROM messages WHERE idempotency_key IS NOT NULL;
      DROP INDEX messages_idempotency;
      CREATE TABLE replay_jobs (
        job_id       TEXT PRIMARY KEY,
        status       TEXT NOT NULL,
        filter       TEXT NOT NULL, -- JSON
        matched      INTEGER NOT NULL,
        replayed     INTEGER NOT NULL,
        after_id     TEXT,
        leased_until INTEGER,
        started_at   INTEGER NOT NULL,
        finished_at  INTEGER,
        error        TEXT
      );
      CREATE INDEX replay_jobs_running ON replay_jobs (leased_until) WHERE status = 'running';
    `,
  },
  {
    version: 4,
    name: 'typed attempt errors',
    sql: `
      -- The error's kind apart from its detail (error); null on success and on older rows.
      ALTER TABLE attempts ADD COLUMN error_kind TEXT;
    `,
  },
  {
    version: 5,
    name: 'login slot times',
    sql: `
      -- When the latest login slot was taken, so that slots of checks that never ended can be told apart.
      ALTER TABLE users ADD COLUMN login_reserved_at INTEGER;
    `,
  },
  {
    version: 6,
    name: 'first attempt in the message row',
    sql: `
      -- Attempt 1 is held by its message's row, written by the same UPDATE that records its outcome,
      -- instead of a row of attempts beside it (most messages are delivered at their first attempt).
      -- Later attempts, and the first attempts stored before this migration, stay in attempts.
      ALTER TABLE messages ADD COLUMN first_started_at INTEGER;
      ALTER TABLE messages ADD COLUMN first_url TEXT;
      ALTER TABLE messages ADD COLUMN first_status_code INTEGER;
      ALTER TABLE messages ADD COLUMN first_latency_ms REAL;
      ALTER TABLE messages ADD COLUMN first_error_kind TEXT;
      ALTER TABLE messages ADD COLUMN first_error TEXT;
      ALTER TABLE messages ADD COLUMN first_response_excerpt TEXT;
    `,
  },
  {
    version: 7,
    name: 'no index of open messages per registration',
    sql: `
      -- Every claim, retry and acknowledgement rewrote an entry of this index (its condition reads
      -- status). Cancelling a removed registration's messages, which is rare, walks the partial
      -- indexes of pending and delivering messages instead.
      DROP INDEX messages_open;
    `,
  },
  {
    version: 8,
    name: 'encryption key check',
    sql: `
      -- An HMAC of a fixed label under the encryption key (never the key): the first instance to start
      -- writes it, every later one compares, so instances with different keys cannot share the database.
      CREATE TABLE encryption_key_check (
        id          INTEGER PRIMARY KEY CHECK (id = 1),
        check_value TEXT NOT NULL,
        created_at  INTEGER NOT NULL
      );
    `,
  },
  {
    version: 9,
    name: 'delivery controls and endpoint health',
    sql: `
      -- Delivery controls (SPEC §11), off by default: the platform's behaviour stays as it was.
      ALTER TABLE registrations ADD COLUMN ordering TEXT NOT NULL DEFAULT 'none';
      ALTER TABLE registrations ADD COLUMN rate_limit INTEGER;
      ALTER TABLE registrations ADD COLUMN rate_window_ms INTEGER;
      ALTER TABLE registrations ADD COLUMN auto_disable_after_ms INTEGER;
      ALTER TABLE registrations ADD COLUMN auto_disable_warn_ms INTEGER;
      ALTER TABLE registrations ADD COLUMN enabled INTEGER NOT NULL DEFAULT 1;
      -- Admission state: the next free slot of a rate limit, the message a FIFO registration admitted last.
      ALTER TABLE registrations ADD COLUMN rate_next_at INTEGER;
      ALTER TABLE registrations ADD COLUMN fifo_head TEXT;
      -- Endpoint health, written by the service (services/endpoint-health.ts).
      ALTER TABLE registrations ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE registrations ADD COLUMN failing_since INTEGER;
      ALTER TABLE registrations ADD COLUMN last_success_at INTEGER;
      ALTER TABLE registrations ADD COLUMN last_failure_at INTEGER;
      ALTER TABLE registrations ADD COLUMN recent_bits INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE registrations ADD COLUMN recent_count INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE registrations ADD COLUMN warned_at INTEGER;
      ALTER TABLE registrations ADD COLUMN disabled_at INTEGER;
      ALTER TABLE registrations ADD COLUMN recovery_due INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE registrations ADD COLUMN health_version INTEGER NOT NULL DEFAULT 0;
      -- A held message (of a FIFO or rate-limited registration) is pending with no due time until it
      -- is admitted; a held retry may be admitted from held_until on. Only held messages are in this
      -- index, so the claim and acknowledgement of other messages never write an entry of it.
      ALTER TABLE messages ADD COLUMN held_until INTEGER;
      CREATE INDEX messages_held ON messages (account_name, service_name, seq)
        WHERE status = 'pending' AND next_attempt_at IS NULL;
    `,
  },
  {
    version: 10,
    name: 'api keys, portal links and sessions, shared attempt counters',
    sql: `
      -- Scoped keys of the admin API (access/keys.ts); only the key's SHA-256 hash is kept.
      CREATE TABLE api_keys (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL,
        key_hash   TEXT NOT NULL UNIQUE,
        scopes     TEXT NOT NULL, -- JSON array
        accounts   TEXT,          -- JSON array, NULL for every account
        expires_at INTEGER,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
      );
      CREATE TABLE portal_links (
        token_hash   TEXT PRIMARY KEY,
        account_name TEXT NOT NULL,
        created_by   TEXT NOT NULL,
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL,
        used_at      INTEGER
      );
      CREATE TABLE portal_sessions (
        token_hash TEXT PRIMARY KEY,
        kind       TEXT NOT NULL,
        name       TEXT NOT NULL,
        username   TEXT,
        accounts   TEXT NOT NULL, -- JSON array
        expires_at INTEGER NOT NULL,
        ends_at    INTEGER NOT NULL
      );
      CREATE INDEX portal_sessions_username ON portal_sessions (username) WHERE username IS NOT NULL;
      -- Failed credential attempts per key and fixed window, shared by every process (security/throttle.ts).
      CREATE TABLE attempt_counters (
        key            TEXT PRIMARY KEY,
        window_ends_at INTEGER NOT NULL,
        attempts       INTEGER NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 11,
    name: 'audit log',
    sql: `
      CREATE TABLE audit_log (
        seq          INTEGER PRIMARY KEY,
        id           TEXT NOT NULL UNIQUE,
        at           INTEGER NOT NULL,
        actor_kind   TEXT NOT NULL,
        actor_name   TEXT NOT NULL,
        address      TEXT NOT NULL,
        action       TEXT NOT NULL,
        method       TEXT NOT NULL,
        route        TEXT NOT NULL,
        account_name TEXT,
        target       TEXT,
        summary      TEXT NOT NULL,
        status_code  INTEGER NOT NULL,
        outcome      TEXT NOT NULL,
        error_code   TEXT
      );
      CREATE INDEX audit_log_at ON audit_log (at);
    `,
  },
  {
    version: 12,
    name: 'stats samples',
    sql: `
      -- The dashboard's charts: each process's sample of the message stats per time bucket, kept
      -- for hours, so the charts show the time before the page was opened (and gaps where no
      -- process ran).
      CREATE TABLE stats_samples (
        at                INTEGER NOT NULL,
        instance          TEXT NOT NULL,
        counts            TEXT NOT NULL,
        queue_depth       INTEGER NOT NULL,
        oldest_due_age_ms INTEGER NOT NULL,
        attempts          TEXT NOT NULL,
        PRIMARY KEY (at, instance)
      );
    `,
  },
  {
    version: 13,
    name: 'replay jobs count messages without a listener',
    sql: `
      -- Messages a bulk replay left alone because nobody listens for their account and service.
      ALTER TABLE replay_jobs ADD COLUMN no_listener INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 14,
    name: 'sessions and access tokens by user and by client',
    sql: `
      -- Ending a user's sessions, and removing a client or replacing its secret (its tokens and the
      -- sessions logged in through it), find the rows by these instead of reading every row.
      CREATE INDEX sessions_user ON sessions (username);
      CREATE INDEX sessions_client ON sessions (client_id);
      CREATE INDEX access_tokens_client ON access_tokens (client_id);
    `,
  },
];
