import type { Database } from 'better-sqlite3';
import type {
  Attempt,
  CallbackMessage,
  IdempotencyRecord,
  MessageChange,
  MessageFilter,
  MessageInsert,
  MessagePage,
  MessageStats,
  MessageStatus,
  MessageStore,
  MessageTarget,
  OpenMessageStats,
  PurgeCutoffs,
} from '../types.js';
import { SqliteMessageAdmission } from './message-admission.js';
import { SqliteMessageClaims } from './message-claims.js';
import { SqliteMessageInserts } from './message-inserts.js';
import { SqliteMessageOutcomes } from './message-outcomes.js';
import { SqliteMessagePurge } from './message-purge.js';
import { SqliteMessageReads } from './message-reads.js';
import { SqliteMessageRequeue } from './message-requeue.js';

/**
 * Messages and attempts on SQLite. Every multi-row change (insert, claim, update, requeue) runs in
 * one transaction; the claim and ack paths use prepared statements and walk the partial indexes
 * `messages_due` / `messages_lease`, so their cost does not grow with the number of stored messages.
 * A message's first attempt is kept in its own row (the `first_*` columns), later ones in `attempts`.
 *
 * One file per operation, each statement beside the method that runs it: message-inserts.ts
 * (publishing and idempotency keys), message-claims.ts (claim, release, next due time),
 * message-outcomes.ts (attempt outcomes), message-requeue.ts (replay, cancellation),
 * message-admission.ts (held messages of delivery controls),
 * message-reads.ts (get, list, stats, ids) and message-purge.ts (retention).
 */
export class SqliteMessageStore implements MessageStore {
  private readonly inserts: SqliteMessageInserts;
  private readonly claims: SqliteMessageClaims;
  private readonly outcomes: SqliteMessageOutcomes;
  private readonly requeues: SqliteMessageRequeue;
  private readonly reads: SqliteMessageReads;
  private readonly purges: SqliteMessagePurge;
  private readonly admission: SqliteMessageAdmission;

  constructor(readonly db: Database) {
    this.inserts = new SqliteMessageInserts(db);
    this.claims = new SqliteMessageClaims(db);
    this.outcomes = new SqliteMessageOutcomes(db);
    this.requeues = new SqliteMessageRequeue(db);
    this.reads = new SqliteMessageReads(db);
    this.purges = new SqliteMessagePurge(db);
    this.admission = new SqliteMessageAdmission(db);
  }

  insert(messages: MessageInsert[], now: number): Promise<string[]> {
    return this.inserts.insert(messages, now);
  }

  findIdempotencyKeys(
    keys: { accountName: string; serviceName: string; key: string }[],
    now: number,
  ): Promise<(IdempotencyRecord | null)[]> {
    return this.inserts.findIdempotencyKeys(keys, now);
  }

  claim(now: number, limit: number, leaseMs: number): Promise<CallbackMessage[]> {
    return this.claims.claim(now, limit, leaseMs);
  }

  release(ids: string[], nextAttemptAt: number): Promise<void> {
    return this.claims.release(ids, nextAttemptAt);
  }

  renew(leases: { id: string; lockedUntil: number }[], lockedUntil: number, now: number): Promise<string[]> {
    return this.claims.renew(leases, lockedUntil, now);
  }

  nextDueAt(): Promise<number | null> {
    return this.claims.nextDueAt();
  }

  update(changes: MessageChange[], now: number): Promise<void> {
    return this.outcomes.update(changes, now);
  }

  requeue(ids: string[], from: readonly MessageStatus[], extraAttempts: number, now: number): Promise<string[]> {
    return this.requeues.requeue(ids, from, extraAttempts, now);
  }

  admitHeld(now: number, horizonMs: number): Promise<number> {
    return this.admission.admitHeld(now, horizonMs);
  }

  releaseHeld(accountName: string, serviceName: string, now: number): Promise<number> {
    return this.admission.releaseHeld(accountName, serviceName, now);
  }

  failPending(accountName: string, serviceName: string, reason: string, now: number): Promise<number> {
    return this.admission.failPending(accountName, serviceName, reason, now);
  }

  cancelOpen(accountName: string, serviceName: string, reason: string, now: number): Promise<number> {
    return this.requeues.cancelOpen(accountName, serviceName, reason, now);
  }

  /** `cancelOpen` without a promise, for a transaction of another store (a deregistration). */
  cancelOpenNow(accountName: string, serviceName: string, reason: string, now: number): number {
    return this.requeues.cancelOpenNow(accountName, serviceName, reason, now);
  }

  get(id: string): Promise<{ message: CallbackMessage; attempts: Attempt[] } | null> {
    return this.reads.get(id);
  }

  list(filter: MessageFilter, limit: number, cursor: string | null): Promise<MessagePage> {
    return this.reads.list(filter, limit, cursor);
  }

  stats(now: number): Promise<MessageStats> {
    return this.reads.stats(now);
  }

  openStats(now: number): Promise<OpenMessageStats> {
    return this.reads.openStats(now);
  }

  targetsOf(ids: string[]): Promise<MessageTarget[]> {
    return this.reads.targetsOf(ids);
  }

  findIds(filter: MessageFilter, limit: number, afterId: string | null): Promise<string[]> {
    return this.reads.findIds(filter, limit, afterId);
  }

  purge(cutoffs: PurgeCutoffs): Promise<number> {
    return this.purges.purge(cutoffs);
  }
}
