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
    version: 6,
    name: 'hot queue apart from a partitioned history',
    sql: `
      -- The previous layout (one messages table for queue and history) moves aside; its rows are
      -- copied into the new tables below and it is dropped at the end of this migration.
      ALTER TABLE messages RENAME TO messages_v5;
      ALTER TABLE attempts RENAME TO attempts_v5;
      DROP INDEX IF EXISTS messages_due, messages_lease, messages_open, messages_finished, messages_account;

      -- Partitions of a history table are made by the service (store/postgres/partitions.ts) and by
      -- this function, never by hand: the one for a time is cut from the grid of width_ms (epoch
      -- aligned) and clipped to the gap between its existing neighbours, so partitions made with
      -- another width never overlap. CREATE TABLE then ATTACH: the live parent is only ever locked
      -- SHARE UPDATE EXCLUSIVE (publishes and claims go on), never ACCESS EXCLUSIVE.
      CREATE FUNCTION ccb_ensure_partition(parent TEXT, at_ms BIGINT, width_ms BIGINT, fill INTEGER)
      RETURNS TEXT LANGUAGE plpgsql AS $$
        DECLARE
          lo BIGINT := at_ms - (((at_ms % width_ms) + width_ms) % width_ms);
          hi BIGINT := lo + width_ms;
          b RECORD;
          child TEXT;
        BEGIN
          PERFORM pg_advisory_xact_lock(hashtext('ccb_partitions'));
          FOR b IN SELECT m[1]::BIGINT AS f, m[2]::BIGINT AS t
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid,
              LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''?(-?[0-9]+)''?\\) TO \\(''?(-?[0-9]+)''?\\)') m
            WHERE i.inhparent = parent::regclass
          LOOP
            IF b.f <= at_ms AND at_ms < b.t THEN RETURN NULL; END IF;
            IF b.t <= at_ms AND b.t > lo THEN lo := b.t; END IF;
            IF b.f > at_ms AND b.f < hi THEN hi := b.f; END IF;
          END LOOP;
          child := parent || '_p' || replace(lo::TEXT, '-', 'm') || '_' || replace(hi::TEXT, '-', 'm');
          -- A table of that name detached by a retention run that has not dropped it yet.
          IF to_regclass(quote_ident(child)) IS NOT NULL THEN
            child := child || '_' || (floor(random() * 1e9))::BIGINT;
          END IF;
          EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS) WITH (fillfactor = %s)', child, parent, fill);
          EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)', parent, child, lo, hi);
          RETURN child;
        END $$;

      -- History: one row per message, written at publish and updated once when the message ends
      -- (delivered, failed, cancelled) or is replayed. Partitioned by part_at, the creation time, or
      -- the time the row was moved to a newer partition to outlive the drop of its own. The columns
      -- that change at the end come last, so the update's WAL record carries little more than them.
      CREATE SEQUENCE message_seq;
      CREATE TABLE messages (
        part_at         BIGINT NOT NULL,
        seq             BIGINT NOT NULL DEFAULT nextval('message_seq'), -- insertion order, list cursor
        id              TEXT NOT NULL,
        account_name    TEXT NOT NULL,
        service_name    TEXT NOT NULL,
        idempotency_key TEXT,
        created_at      BIGINT NOT NULL,
        payload         TEXT NOT NULL,
        max_attempts    INTEGER NOT NULL,
        -- 'pending' while the message is in the queue table (which holds its live state), then final.
        status          TEXT NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        reason          TEXT,
        updated_at      BIGINT NOT NULL,
        delivered_at    BIGINT
      ) PARTITION BY RANGE (part_at);
      -- No index reads a column the final update changes, so that update is HOT (no index writes).
      CREATE INDEX messages_id ON messages (id);
      CREATE INDEX messages_seq ON messages (seq);
      CREATE INDEX messages_account ON messages (account_name, seq);

      CREATE TABLE attempts (
        part_at          BIGINT NOT NULL, -- the message's
        message_id       TEXT NOT NULL,
        attempt_number   INTEGER NOT NULL,
        started_at       BIGINT NOT NULL,
        url              TEXT NOT NULL,
        status_code      INTEGER,
        latency_ms       DOUBLE PRECISION NOT NULL,
        error            TEXT,
        response_excerpt TEXT,
        error_kind       TEXT,
        PRIMARY KEY (message_id, attempt_number, part_at)
      ) PARTITION BY RANGE (part_at);

      -- The hot queue: one narrow row per open message (no payload, no history), inserted at
      -- publish, updated by claims, hand-backs and retries, deleted when the message ends.
      -- due_at is the next attempt while pending and the lease's end while leased, so one index
      -- finds both what is due and what a dead worker left.
      CREATE TABLE queue (
        message_id   TEXT PRIMARY KEY,
        part_at      BIGINT NOT NULL, -- where the message's history row is
        account_name TEXT NOT NULL,
        service_name TEXT NOT NULL,
        due_at       BIGINT NOT NULL,
        leased       BOOLEAN NOT NULL,
        attempts     INTEGER NOT NULL,
        max_attempts INTEGER NOT NULL,
        reason       TEXT,
        updated_at   BIGINT NOT NULL
      );
      CREATE INDEX queue_due ON queue (due_at);
      -- Every row is inserted, updated and deleted within seconds: vacuum after a fixed number of
      -- dead rows (not a share of a table whose size swings), without cost pauses, so the due index
      -- that claims walk never fills with dead entries.
      ALTER TABLE queue SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000,
        autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 5000,
        autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 5000, autovacuum_vacuum_cost_delay = 0);

      -- The rows of the previous layout, each in the partition of its creation day.
      DO $$ DECLARE d BIGINT; BEGIN
        FOR d IN SELECT DISTINCT created_at - created_at % 86400000 FROM messages_v5 LOOP
          PERFORM ccb_ensure_partition('messages', d, 86400000, 50);
          PERFORM ccb_ensure_partition('attempts', d, 86400000, 100);
        END LOOP;
      END $$;
      INSERT INTO messages (part_at, seq, id, account_name, service_name, idempotency_key, created_at, payload,
          max_attempts, status, attempts, reason, updated_at, delivered_at)
        SELECT created_at, seq, id, account_name, service_name, idempotency_key, created_at, payload, max_attempts,
          CASE WHEN status IN ('pending', 'delivering') THEN 'pending' ELSE status END, attempts, reason, updated_at,
          delivered_at
        FROM messages_v5 ORDER BY seq;
      INSERT INTO queue (message_id, part_at, account_name, service_name, due_at, leased, attempts, max_attempts,
          reason, updated_at)
        SELECT id, created_at, account_name, service_name,
          CASE WHEN status = 'delivering' THEN COALESCE(locked_until, next_attempt_at, updated_at)
            ELSE COALESCE(next_attempt_at, updated_at) END,
          status = 'delivering', attempts, max_attempts, reason, updated_at
        FROM messages_v5 WHERE status IN ('pending', 'delivering');
      INSERT INTO attempts (part_at, message_id, attempt_number, started_at, url, status_code, latency_ms, error,
          response_excerpt, error_kind)
        SELECT m.created_at, a.message_id, a.attempt_number, a.started_at, a.url, a.status_code, a.latency_ms, a.error,
          a.response_excerpt, a.error_kind
        FROM attempts_v5 a JOIN messages_v5 m ON m.id = a.message_id;
      SELECT setval('message_seq', GREATEST((SELECT max(seq) FROM messages_v5), 0) + 1, false);
      DROP TABLE attempts_v5;
      DROP TABLE messages_v5;
    `,
  },
  {
    version: 7,
    name: 'sessions and access tokens by user and by client',
    sql: `
      -- Ending a user's sessions, and removing a client or replacing its secret (its tokens and the
      -- sessions logged in through it), find the rows by these instead of reading every row.
      CREATE INDEX sessions_user ON sessions (username);
      CREATE INDEX sessions_client ON sessions (client_id);
      CREATE INDEX access_tokens_client ON access_tokens (client_id);
    `,
  },
  {
    version: 8,
    name: 'delivery controls and endpoint health',
    sql: `
      -- Delivery controls (SPEC §11), off by default. A change moves registration_changes (the
      -- trigger of migration 1), so every instance sees it at once.
      ALTER TABLE registrations ADD COLUMN ordering TEXT NOT NULL DEFAULT 'none',
        ADD COLUMN rate_limit INTEGER, ADD COLUMN rate_window_ms INTEGER,
        ADD COLUMN auto_disable_after_ms BIGINT, ADD COLUMN auto_disable_warn_ms BIGINT,
        ADD COLUMN enabled BOOLEAN NOT NULL DEFAULT true;
      -- What changes with deliveries lives beside the registration, not in it: writing it must not
      -- drop every instance's registration cache. A row appears at its registration's first write.
      CREATE TABLE registration_state (
        account_name         TEXT NOT NULL,
        service_name         TEXT NOT NULL,
        rate_next_at         BIGINT,   -- next free slot of the rate limit
        fifo_head            TEXT,     -- the message a FIFO registration admitted last
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        failing_since        BIGINT,
        last_success_at      BIGINT,
        last_failure_at      BIGINT,
        recent_bits          BIGINT NOT NULL DEFAULT 0,
        recent_count         INTEGER NOT NULL DEFAULT 0,
        warned_at            BIGINT,
        disabled_at          BIGINT,
        recovery_due         BOOLEAN NOT NULL DEFAULT false,
        health_version       INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (account_name, service_name)
      );
      CREATE FUNCTION registration_state_dropped() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          DELETE FROM registration_state WHERE account_name = OLD.account_name AND service_name = OLD.service_name;
          RETURN NULL;
        END $$;
      CREATE TRIGGER registrations_state_dropped AFTER DELETE ON registrations
        FOR EACH ROW EXECUTE FUNCTION registration_state_dropped();
      -- Enabled again (registering again, or by an operator): the failing streak starts over.
      CREATE FUNCTION registration_reenabled() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          UPDATE registration_state SET consecutive_failures = 0, failing_since = NULL, warned_at = NULL,
            disabled_at = NULL, health_version = health_version + 1
          WHERE account_name = NEW.account_name AND service_name = NEW.service_name;
          RETURN NULL;
        END $$;
      CREATE TRIGGER registrations_reenabled AFTER UPDATE OF enabled ON registrations
        FOR EACH ROW WHEN (OLD.enabled = false AND NEW.enabled = true)
        EXECUTE FUNCTION registration_reenabled();
    `,
  },
  {
    version: 9,
    name: 'held messages in the queue',
    sql: `
      -- A held message (of a FIFO or rate-limited registration) waits in the queue with a due time of
      -- 2^52 + the time from which it may be admitted (store/admission.ts, HELD_DUE_BASE): no claim
      -- reaches it. Only held rows are in this index, so claims and acknowledgements never write it.
      CREATE INDEX queue_held ON queue (account_name, service_name) WHERE due_at >= 4503599627370496;
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
  {
    version: 16,
    name: 'queue pages keep room for the claim',
    sql: `
      -- A claim rewrites its queue row (the lease's end in due_at). On a full page the new version
      -- goes to another page: the whole row is logged, plus a lock record of the old one. Half of
      -- each page left free keeps it on its page: 2,248 -> 2,137 WAL bytes per delivery at the store
      -- (bench/pg-wal.ts). The queue holds open messages only, so its size barely changes; pages
      -- written before this fill up as before until their rows are gone.
      ALTER TABLE queue SET (fillfactor = 50);
    `,
  },
  {
    version: 17,
    name: 'a claim leaves the due time alone',
    sql: `
      -- The end of a lease gets a column of its own, not indexed: a claim then changes no indexed
      -- column, so its new row version stays on its page with no new entry in queue_pkey and
      -- queue_due (HOT). A leased row keeps the due time it was claimed at, at the head of
      -- queue_due, where claims pass over it until its lease ends. NULL while not leased (and for a
      -- lease given by a version before this one, whose end is in due_at).
      -- The claimed version is 8 bytes wider than the one inserted (the lease's end): at fill factor
      -- 50 the last rows of a page claimed together would not fit beside their old versions.
      ALTER TABLE queue ADD COLUMN lease_until BIGINT;
      UPDATE queue SET lease_until = due_at, due_at = LEAST(due_at, updated_at) WHERE leased;
      ALTER TABLE queue SET (fillfactor = 40);
    `,
  },
];
