/**
 * Versioned schema migrations for PostgreSQL, applied in order at start-up under an advisory lock
 * (see index.ts) and recorded in `schema_migrations`. Never edit a migration that has shipped; add a
 * new one. Times are epoch milliseconds (BIGINT), as in the SQLite schema, so both backends map the
 * same rows.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
      CREATE TABLE oauth_clients (
        client_id   TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        created_at  BIGINT NOT NULL
      );
      CREATE TABLE users (
        username      TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        accounts      JSONB NOT NULL,
        failed_logins INTEGER NOT NULL DEFAULT 0,
        locked_until  BIGINT,
        created_at    BIGINT NOT NULL
      );
      CREATE TABLE access_tokens (
        token_hash TEXT PRIMARY KEY,
        client_id  TEXT NOT NULL,
        expires_at BIGINT NOT NULL
      );
      CREATE INDEX access_tokens_expiry ON access_tokens (expires_at);
      CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        username   TEXT NOT NULL,
        client_id  TEXT NOT NULL,
        expires_at BIGINT NOT NULL
      );
      CREATE INDEX sessions_expiry ON sessions (expires_at);
      CREATE TABLE registrations (
        account_name               TEXT NOT NULL,
        service_name               TEXT NOT NULL,
        url                        TEXT NOT NULL,
        username                   TEXT,
        password_enc               TEXT,
        signing_secret_enc         TEXT NOT NULL,
        previous_secret_enc        TEXT,
        previous_secret_expires_at BIGINT,
        created_at                 BIGINT NOT NULL,
        updated_at                 BIGINT NOT NULL,
        PRIMARY KEY (account_name, service_name)
      );
      -- One counter, moved by every change to registrations and seen at commit: the change mark
      -- that registration caches of every instance compare.
      CREATE TABLE registration_changes (id INTEGER PRIMARY KEY CHECK (id = 1), n BIGINT NOT NULL);
      INSERT INTO registration_changes VALUES (1, 0);
      CREATE FUNCTION registration_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN UPDATE registration_changes SET n = n + 1 WHERE id = 1; RETURN NULL; END $$;
      CREATE TRIGGER registrations_changed AFTER INSERT OR UPDATE OR DELETE ON registrations
        FOR EACH STATEMENT EXECUTE FUNCTION registration_changed();
      CREATE TABLE messages (
        seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- insertion order, list cursor
        id              TEXT NOT NULL UNIQUE,
        account_name    TEXT NOT NULL,
        service_name    TEXT NOT NULL,
        payload         TEXT NOT NULL,
        status          TEXT NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        max_attempts    INTEGER NOT NULL,
        next_attempt_at BIGINT,
        locked_until    BIGINT,
        reason          TEXT,
        idempotency_key TEXT,
        created_at      BIGINT NOT NULL,
        updated_at      BIGINT NOT NULL,
        delivered_at    BIGINT
      );
      -- Partial indexes by status group, as on SQLite: claims and acks touch few index entries.
      CREATE INDEX messages_due ON messages (next_attempt_at) WHERE status = 'pending';
      CREATE INDEX messages_lease ON messages (locked_until) WHERE status = 'delivering';
      CREATE INDEX messages_open ON messages (account_name, service_name) WHERE status IN ('pending', 'delivering');
      CREATE INDEX messages_finished ON messages (status, updated_at) WHERE status IN ('delivered', 'failed', 'cancelled');
      CREATE INDEX messages_account ON messages (account_name, seq);
      CREATE TABLE attempts (
        message_id       TEXT NOT NULL,
        attempt_number   INTEGER NOT NULL,
        started_at       BIGINT NOT NULL,
        url              TEXT NOT NULL,
        status_code      INTEGER,
        latency_ms       DOUBLE PRECISION NOT NULL,
        error            TEXT,
        response_excerpt TEXT,
        PRIMARY KEY (message_id, attempt_number)
      );
      CREATE TABLE idempotency_keys (
        account_name    TEXT NOT NULL,
        service_name    TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        message_id      TEXT NOT NULL,
        fingerprint     TEXT,
        expires_at      BIGINT NOT NULL,
        PRIMARY KEY (account_name, service_name, idempotency_key)
      );
      CREATE INDEX idempotency_keys_message ON idempotency_keys (message_id);
      CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
      CREATE TABLE replay_jobs (
        job_id       TEXT PRIMARY KEY,
        status       TEXT NOT NULL,
        filter       JSONB NOT NULL,
        matched      INTEGER NOT NULL,
        replayed     INTEGER NOT NULL,
        after_id     TEXT,
        leased_until BIGINT,
        started_at   BIGINT NOT NULL,
        finished_at  BIGINT,
        error        TEXT
      );
      CREATE INDEX replay_jobs_running ON replay_jobs (leased_until) WHERE status = 'running';
      -- The queue table churns (every message is updated a few times, then deleted): vacuum it early.
      ALTER TABLE messages SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
    `,
  },
  {
    version: 2,
    name: 'typed attempt errors',
    sql: `
      -- The error's kind apart from its detail (error); null on success and on older rows.
      ALTER TABLE attempts ADD COLUMN error_kind TEXT;
    `,
  },
  {
    version: 3,
    name: 'registration changes notified',
    sql: `
      -- Every instance drops its cached registrations as soon as another one changes them (the
      -- counter stays, for an instance that missed the notification).
      CREATE OR REPLACE FUNCTION registration_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          UPDATE registration_changes SET n = n + 1 WHERE id = 1;
          PERFORM pg_notify('ccb_registrations', '');
          RETURN NULL;
        END $$;
    `,
  },
  {
    version: 4,
    name: 'login slot times',
    sql: `
      -- When the latest login slot was taken, so that slots of checks that never ended can be told apart.
      ALTER TABLE users ADD COLUMN login_reserved_at BIGINT;
    `,
  },
  {
    version: 5,
    name: 'encryption key check',
    sql: `
      -- An HMAC of a fixed label under the encryption key (never the key): the first instance to start
      -- writes it, every later one compares, so instances with different keys cannot share the database.
      CREATE TABLE encryption_key_check (
        id          INTEGER PRIMARY KEY CHECK (id = 1),
        check_value TEXT NOT NULL,
        created_at  BIGINT NOT NULL
      );
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
        scopes     JSONB NOT NULL,
        accounts   JSONB,         -- NULL for every account
        expires_at BIGINT,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT
      );
      CREATE TABLE portal_links (
        token_hash   TEXT PRIMARY KEY,
        account_name TEXT NOT NULL,
        created_by   TEXT NOT NULL,
        created_at   BIGINT NOT NULL,
        expires_at   BIGINT NOT NULL,
        used_at      BIGINT
      );
      CREATE TABLE portal_sessions (
        token_hash TEXT PRIMARY KEY,
        kind       TEXT NOT NULL,
        name       TEXT NOT NULL,
        username   TEXT,
        accounts   JSONB NOT NULL,
        expires_at BIGINT NOT NULL,
        ends_at    BIGINT NOT NULL
      );
      CREATE INDEX portal_sessions_username ON portal_sessions (username) WHERE username IS NOT NULL;
      -- Failed credential attempts per key and fixed window, shared by every process (security/throttle.ts).
      CREATE TABLE attempt_counters (
        key            TEXT PRIMARY KEY,
        window_ends_at BIGINT NOT NULL,
        attempts       BIGINT NOT NULL
      );
    `,
  },
  {
    version: 11,
    name: 'audit log',
    sql: `
      CREATE TABLE audit_log (
        seq          BIGSERIAL PRIMARY KEY,
        id           TEXT NOT NULL UNIQUE,
        at           BIGINT NOT NULL,
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
        at                BIGINT NOT NULL,
        instance          TEXT NOT NULL,
        counts            JSONB NOT NULL,
        queue_depth       INTEGER NOT NULL,
        oldest_due_age_ms BIGINT NOT NULL,
        attempts          JSONB NOT NULL,
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
];
