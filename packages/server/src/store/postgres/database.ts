import pg from 'pg';
import { StoreUnavailableError } from '../errors.js';

/** BIGINT columns hold epoch milliseconds and sequence numbers, all well below 2^53. */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === pg.types.builtins.INT8) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
};

/** SQLSTATEs after which the whole transaction may simply run again. */
const RETRYABLE = new Set(['40001', '40P01']);
/** SQLSTATE classes and Node error codes that mean the database is out of reach. */
const UNAVAILABLE_CLASSES = ['08', '53', '57'];
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN']);
const TRANSACTION_TRIES = 4;

function isUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || UNAVAILABLE_CLASSES.includes(code.slice(0, 2)))) {
    return true;
  }
  const message = String((error as Error).message ?? '');
  // pg's own wording for a pool that could not hand out a connection, or a connection that died.
  return /timeout exceeded when trying to connect|Connection terminated|Client has encountered a connection error|Query read timeout/i.test(
    message,
  );
}

/** Errors that mean "try later" become StoreUnavailableError; the others pass unchanged. */
export function classify(error: unknown): unknown {
  if (error instanceof StoreUnavailableError) return error;
  if (isUnavailable(error)) {
    return new StoreUnavailableError('unreachable', `the database cannot be reached: ${(error as Error).message}`, 5, {
      cause: error,
    });
  }
  return error;
}

/**
 * The bounds of every wait on the database, in milliseconds: the CCB_DB_* settings (config.ts, where
 * their defaults are). One left out is not bounded (a store opened by a test or a benchmark).
 */
export interface DatabaseTimeouts {
  /** How long a query waits for a connection (a free one of the pool, or a new one being made). */
  connectTimeoutMs?: number;
  /**
   * The longest a statement runs: the server cancels it (statement_timeout), and when the server does
   * not answer at all (frozen, partitioned) the client gives up QUERY_TIMEOUT_MARGIN_MS later.
   */
  statementTimeoutMs?: number;
  /** The server ends a session left idle inside a transaction this long (idle_in_transaction_session_timeout). */
  idleInTransactionTimeoutMs?: number;
  /** TCP keepalive probes start after this long without traffic, so a vanished peer is noticed. */
  keepAliveDelayMs?: number;
}

/** The pool's size and the bounds of every wait. */
export interface DatabaseOptions extends DatabaseTimeouts {
  /** Connections in the pool. */
  poolSize: number;
}

/**
 * The client's own timeout is the statement timeout plus this: a server that answers cancels the
 * statement first (a clean error, the connection stays usable); one that does not answer at all is
 * given up on by the client, and that connection is closed.
 */
const QUERY_TIMEOUT_MARGIN_MS = 2_000;

/** The settings of one node-postgres connection: timeouts and keepalive (see DatabaseOptions). */
export function connectionSettings(connectionString: string, settings: DatabaseTimeouts): pg.ClientConfig {
  const { connectTimeoutMs, statementTimeoutMs, idleInTransactionTimeoutMs, keepAliveDelayMs } = settings;
  return {
    connectionString,
    connectionTimeoutMillis: connectTimeoutMs,
    statement_timeout: statementTimeoutMs,
    query_timeout: statementTimeoutMs === undefined ? undefined : statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS,
    idle_in_transaction_session_timeout: idleInTransactionTimeoutMs,
    keepAlive: keepAliveDelayMs !== undefined,
    keepAliveInitialDelayMillis: keepAliveDelayMs,
  };
}

/** For a statement that may run long by design (a migration): the client waits up to a day. */
export const UNBOUNDED = { query_timeout: 24 * 3600 * 1000 } as const;

export type Queryable = Pick<pg.PoolClient, 'query'>;

/**
 * The connections of the process. Every statement of the stores runs through `query` (one round
 * trip, autocommit) or `transaction`; errors come out classified (see `classify`).
 *
 * Two pools: `pool` commits durably (a publish's 202 survives a crash of PostgreSQL itself);
 * `relaxed` commits with synchronous_commit off, for the delivery loop's own bookkeeping (claims,
 * outcomes, hand-backs). Losing the last of those in a PostgreSQL crash only returns messages to an
 * earlier state, from which they are delivered again: at least once still holds, and the loop does
 * not wait for a disk flush per batch.
 */
export class Database {
  readonly pool: pg.Pool;
  readonly relaxed: pg.Pool;
  /** Clients whose connection failed: released with `destroy`, never handed out again. */
  private readonly broken = new WeakSet<pg.PoolClient>();

  constructor(
    readonly connectionString: string,
    options: DatabaseOptions,
  ) {
    const config = { ...connectionSettings(connectionString, options), max: options.poolSize, types };
    this.pool = new pg.Pool(config);
    this.relaxed = new pg.Pool({ ...config, options: '-c synchronous_commit=off' });
    for (const pool of [this.pool, this.relaxed]) {
      // An idle client that loses its connection: the pool drops it and makes a new one when needed.
      pool.on('error', () => {});
      // A checked-out client has no listener of the pool's: without this one, a connection that the
      // server ends between two statements (a terminated backend, a restart, a network reset) would
      // end the process. The statement in flight fails on its own; the client is not reused.
      pool.on('connect', (client) => {
        client.on('error', () => this.broken.add(client));
      });
    }
  }

  query<R extends pg.QueryResultRow = Record<string, unknown>>(
    text: string | pg.QueryConfig,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    return this.run(this.pool, text, values);
  }

  /** As `query`, on the relaxed pool: for statements whose loss in a database crash is redone (see above). */
  queryRelaxed<R extends pg.QueryResultRow = Record<string, unknown>>(
    config: pg.QueryConfig,
  ): Promise<pg.QueryResult<R>> {
    return this.run(this.relaxed, config);
  }

  private async run<R extends pg.QueryResultRow>(
    pool: pg.Pool,
    text: string | pg.QueryConfig,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    for (let tries = 1; ; tries++) {
      const client = await this.connect(pool);
      let broken = false;
      try {
        return typeof text === 'string' ? await client.query<R>(text, values) : await client.query<R>(text);
      } catch (error) {
        broken = isUnavailable(error);
        // A single statement that failed on a serialization conflict changed nothing: run it again.
        if (RETRYABLE.has((error as { code?: string }).code ?? '') && tries < TRANSACTION_TRIES) continue;
        throw classify(error);
      } finally {
        client.release(broken || this.broken.has(client));
      }
    }
  }

  /** Runs `body` in one transaction, again from the start after a serialization failure or deadlock. */
  async transaction<T>(body: (client: Queryable) => Promise<T>): Promise<T> {
    for (let tries = 1; ; tries++) {
      const client = await this.connect(this.pool);
      let broken = false;
      try {
        await client.query('BEGIN');
        const result = await body(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        // A connection that failed or did not answer is closed instead (the server then rolls back):
        // a ROLLBACK sent to a server that does not answer would wait out another timeout.
        broken = isUnavailable(error) || this.broken.has(client);
        if (!broken) {
          try {
            await client.query('ROLLBACK');
          } catch {
            broken = true;
          }
        }
        if (RETRYABLE.has((error as { code?: string }).code ?? '') && tries < TRANSACTION_TRIES) continue;
        throw classify(error);
      } finally {
        client.release(broken || this.broken.has(client));
      }
    }
  }

  /**
   * A connection from the pool. Whatever stops one from being made (refused, timed out, the server
   * refusing connections to this database) means the database is out of reach for now.
   */
  private async connect(pool: pg.Pool): Promise<pg.PoolClient> {
    try {
      return await pool.connect();
    } catch (error) {
      throw new StoreUnavailableError('unreachable', `the database cannot be reached: ${(error as Error).message}`, 5, {
        cause: error,
      });
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.end(), this.relaxed.end()]);
  }
}
