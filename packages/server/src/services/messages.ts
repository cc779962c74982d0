import { createHash } from 'node:crypto';
import { formatAttemptError, storedAttemptError } from '../domain/attempt-error.js';
import { MessageReasons } from '../domain/reasons.js';
import { REPLAYABLE_STATUSES } from '../domain/statuses.js';
import {
  type Attempt,
  type CallbackMessage,
  IdempotencyKeyTakenError,
  type MessageChange,
  type MessageFilter,
  type MessageInsert,
  type MessagePage,
  type MessageStats,
  type MessageStatus,
  type RegistrationGate,
  type RegistrationKey,
  type Store,
} from '../store/types.js';
import { ADMISSION_HORIZON_MS, isHeld } from './delivery-controls.js';
import type { EndpointHealth } from './endpoint-health.js';
import { isOperatorRegistration, iso, type OperatorEvent, type OperatorEvents } from './operator-events.js';
import type { Registration, RegistrationService } from './registrations.js';

/** How long an Idempotency-Key is remembered for its account and service (as payment APIs do: a day). */
export const IDEMPOTENCY_KEY_TTL_MS = 24 * 60 * 60 * 1000;
/** A publish that lost a race for an idempotency key is tried again this many times (it then finds the key). */
const KEY_RACE_RETRIES = 2;

/** What a replay did: the ids queued again, and those left alone because nobody listens for them. */
export interface ReplayOutcome {
  replayed: string[];
  noListener: string[];
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
  /** true when it went straight to this process's dispatcher (the publish fast path): no wake-up needed. */
  handedOver?: boolean;
}

/**
 * Where fresh messages can go at once instead of waiting for a claim: the dispatcher of this process
 * (the publish fast path). They are stored already claimed, `delivering` under the lease a claim would
 * give, so a crash before their attempt leaves them to be claimed again when the lease ends.
 */
export interface Handoff {
  /** How many messages it would take now. */
  readonly room: number;
  readonly leaseMs: number;
  accept(claimed: ClaimedMessage[]): void;
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

/**
 * An attempt with its decision, as the service records it, and the registration it went to (its
 * health and delivery controls; absent only in tests of the recording itself).
 */
export type AttemptOutcome = AttemptDecision & { attempt: Attempt; registration?: Registration };

/** What the dispatcher needs: due messages in, outcomes out. */
export interface DeliveryQueue {
  /** Claims up to `limit` due messages with a lease of `leaseMs`, each with its registration. */
  claimDue(now: number, limit: number, leaseMs: number): Promise<ClaimedMessage[]>;
  /**
   * Records attempts and moves their messages on, in one store transaction. True when held
   * messages may be admitted now (a FIFO head ended or a held retry was stored): claim again.
   */
  complete(outcomes: AttemptOutcome[], now: number): Promise<boolean>;
  /** Hands claimed messages back unattempted: pending again at `nextAttemptAt`. */
  release(ids: string[], nextAttemptAt: number): Promise<void>;
  /** Extends the leases still held (see MessageStore.renew); returns the ids extended. */
  renew(leases: { id: string; lockedUntil: number }[], lockedUntil: number, now: number): Promise<string[]>;
  nextDueAt(): Promise<number | null>;
}

/** An Idempotency-Key used again (for the same account and service) with a different message. */
export class IdempotencyConflictError extends Error {
  override name = 'IdempotencyConflictError';
  constructor(
    readonly key: string,
    /** Position in the batch, when the publish was one. */
    readonly index: number,
  ) {
    super(`Idempotency-Key "${key}" was already used with a different payload for this account and service`);
  }
}

const fingerprintOf = (payload: string) => createHash('sha256').update(payload).digest('base64url');
const scopeOf = (m: { accountName: string; serviceName: string }, key: string) =>
  `${m.accountName}\u0000${m.serviceName}\u0000${key}`;
const pairKey = (m: { accountName: string; serviceName: string }) => `${m.accountName}\u0000${m.serviceName}`;

/**
 * The rules of messages, on any store: the status a message gets at publish (pending, or failed with
 * `no_registration` when nobody is registered: never silently lost), idempotency keys scoped to
 * account and service, what an attempt's outcome does to a message, and replay.
 */
export class MessageService implements DeliveryQueue {
  private handoff: Handoff | null = null;
  private health: EndpointHealth | null = null;
  private events: OperatorEvents | null = null;

  constructor(
    private readonly store: Store,
    private readonly registrations: RegistrationService,
  ) {}

  /** Endpoint health counts every recorded attempt; operator events hear of exhausted messages. */
  observe(health: EndpointHealth | null, events: OperatorEvents | null): void {
    this.health = health;
    this.events = events;
  }

  /**
   * The time publish times, due times and leases are given in: the store's clock (the database
   * server's on PostgreSQL, so instances with skewed clocks agree).
   */
  now(): number {
    return this.store.now();
  }

  /** Set by this process's delivery engine while it runs (null when it stops, or in an `api` process). */
  setHandoff(handoff: Handoff | null): void {
    this.handoff = handoff;
  }

  /**
   * Stores messages in one transaction. A repeated idempotency key (same account, service and
   * payload, within IDEMPOTENCY_KEY_TTL_MS, in this batch or before) returns the earlier message; the
   * same key with another payload throws IdempotencyConflictError and stores nothing.
   */
  async publish(messages: NewMessage[], now: number): Promise<PublishedMessage[]> {
    for (let retry = 0; ; retry++) {
      try {
        return await this.tryPublish(messages, now);
      } catch (error) {
        if (!(error instanceof IdempotencyKeyTakenError) || retry >= KEY_RACE_RETRIES) throw error;
      }
    }
  }

  private async tryPublish(messages: NewMessage[], now: number): Promise<PublishedMessage[]> {
    const results: (PublishedMessage | null)[] = new Array(messages.length).fill(null);
    // Most publishes carry no idempotency key: they skip the key bookkeeping entirely.
    const keyed = messages.some((m) => m.idempotencyKey) ? await this.resolveKeys(messages, now, results) : null;
    const fresh: number[] = [];
    for (let i = 0; i < messages.length; i++) {
      if (results[i] === null && !keyed?.repeated.has(i)) fresh.push(i);
    }

    // Whether a registration exists (and holds its messages, or is disabled) is read from the store,
    // not a cache: a message must not be queued for a registration another process just removed, nor
    // failed for one it just made.
    const registered = new Map<string, RegistrationGate | null>();
    const pairIndexes: number[] = [];
    for (const i of fresh) {
      const key = pairKey(messages[i]);
      if (!registered.has(key)) {
        registered.set(key, null);
        pairIndexes.push(i);
      }
    }
    const gates = await this.store.registrations.gates(
      pairIndexes.map((i) => ({ accountName: messages[i].accountName, serviceName: messages[i].serviceName })),
    );
    for (let n = 0; n < pairIndexes.length; n++) registered.set(pairKey(messages[pairIndexes[n]]), gates[n]);

    const handoff = this.handoff;
    let room = handoff?.room ?? 0;
    const lockedUntil = now + (handoff?.leaseMs ?? 0);
    const handed: MessageInsert[] = [];
    const inserts: MessageInsert[] = fresh.map((i) => {
      const m = messages[i];
      const gate = registered.get(pairKey(m)) ?? null;
      const isRegistered = gate?.enabled === true;
      // A held message waits for admission (FIFO, rate limit): never handed over.
      const held = isRegistered && gate.held;
      const handOver = isRegistered && !held && room > 0;
      if (handOver) room--;
      const result: PublishedMessage = { id: m.id, status: isRegistered ? 'pending' : 'failed', duplicate: false };
      if (handOver) result.handedOver = true;
      results[i] = result;
      const insert: MessageInsert = {
        id: m.id,
        accountName: m.accountName,
        serviceName: m.serviceName,
        payload: m.payload,
        status: handOver ? 'delivering' : isRegistered ? 'pending' : 'failed',
        maxAttempts: m.maxAttempts,
        nextAttemptAt: isRegistered && !held ? now : null,
        lockedUntil: handOver ? lockedUntil : null,
        reason: isRegistered
          ? null
          : gate === null
            ? MessageReasons.noRegistration
            : MessageReasons.registrationDisabled,
        // Queued only while the registration still exists when the row is written (a removal in
        // between would otherwise leave it pending for nobody); see below.
        requireRegistration: isRegistered,
        idempotency:
          m.idempotencyKey && keyed
            ? {
                key: m.idempotencyKey,
                fingerprint: keyed.fingerprints[i] as string,
                expiresAt: now + IDEMPOTENCY_KEY_TTL_MS,
              }
            : null,
      };
      if (handOver) handed.push(insert);
      return insert;
    });
    const refused = new Set(inserts.length > 0 ? await this.store.messages.insert(inserts, now) : []);
    if (refused.size > 0) {
      // Removed between the check and the insert: stored failed, as a publish after the removal is.
      const unregistered = inserts
        .filter((m) => refused.has(m.id))
        .map(
          (m): MessageInsert => ({
            ...m,
            status: 'failed',
            nextAttemptAt: null,
            lockedUntil: null,
            reason: MessageReasons.noRegistration,
            requireRegistration: false,
          }),
        );
      await this.store.messages.insert(unregistered, now);
      for (let i = 0; i < results.length; i++) {
        const result = results[i];
        if (result && !result.duplicate && refused.has(result.id))
          results[i] = { id: result.id, status: 'failed', duplicate: false };
      }
    }
    const toHand = refused.size > 0 ? handed.filter((m) => !refused.has(m.id)) : handed;
    if (handoff && toHand.length > 0) await this.handOver(handoff, toHand, now);
    for (const [i, first] of keyed?.repeats ?? []) {
      const earlier = results[first] as PublishedMessage;
      results[i] = { id: earlier.id, status: earlier.status, duplicate: true };
    }
    return results as PublishedMessage[];
  }

  /**
   * The idempotency keys of a publish: fills `results` with the earlier messages of keys already
   * stored, and returns each keyed message's payload fingerprint and the messages repeating a key of
   * an earlier one in the same publish. Throws IdempotencyConflictError on a key used with another payload.
   */
  private async resolveKeys(
    messages: NewMessage[],
    now: number,
    results: (PublishedMessage | null)[],
  ): Promise<{ fingerprints: (string | null)[]; repeats: [number, number][]; repeated: Set<number> }> {
    const fingerprints: (string | null)[] = messages.map((m) => (m.idempotencyKey ? fingerprintOf(m.payload) : null));
    /** Index of the first message holding each scoped key, and the later ones repeating it. */
    const firstWithKey = new Map<string, number>();
    const repeats: [number, number][] = [];
    messages.forEach((m, i) => {
      if (!m.idempotencyKey) return;
      const scope = scopeOf(m, m.idempotencyKey);
      const first = firstWithKey.get(scope);
      if (first === undefined) firstWithKey.set(scope, i);
      else if (fingerprints[first] !== fingerprints[i]) throw new IdempotencyConflictError(m.idempotencyKey, i);
      else repeats.push([i, first]);
    });
    const holders = [...firstWithKey.values()];
    const found = await this.store.messages.findIdempotencyKeys(
      holders.map((i) => ({
        accountName: messages[i].accountName,
        serviceName: messages[i].serviceName,
        key: messages[i].idempotencyKey as string,
      })),
      now,
    );
    found.forEach((record, n) => {
      const i = holders[n];
      if (!record) return;
      if (record.fingerprint !== null && record.fingerprint !== fingerprints[i]) {
        throw new IdempotencyConflictError(record.key, i);
      }
      results[i] = { id: record.messageId, status: record.status, duplicate: true };
    });
    return { fingerprints, repeats, repeated: new Set(repeats.map(([i]) => i)) };
  }

  /** Registration lookups for one batch: one per (account, service), not one per message. */
  private batchLookup(): (accountName: string, serviceName: string) => Promise<Registration | null> {
    const lookups = new Map<string, Promise<Registration | null>>();
    return (accountName, serviceName) => {
      const key = pairKey({ accountName, serviceName });
      let lookup = lookups.get(key);
      if (!lookup) {
        lookup = this.registrations.get(accountName, serviceName);
        lookups.set(key, lookup);
      }
      return lookup;
    };
  }

  /** Gives committed, already claimed messages to the dispatcher, each with its registration. */
  private async handOver(handoff: Handoff, inserts: MessageInsert[], now: number): Promise<void> {
    const lookup = this.batchLookup();
    const claimed: ClaimedMessage[] = [];
    const orphans: string[] = [];
    for (const m of inserts) {
      let registration: Registration | null;
      try {
        registration = await lookup(m.accountName, m.serviceName);
      } catch {
        // The store failed after the commit: the publish stands, and the message waits for a claim.
        registration = null;
      }
      if (!registration) {
        orphans.push(m.id);
        continue;
      }
      claimed.push({
        message: {
          id: m.id,
          accountName: m.accountName,
          serviceName: m.serviceName,
          payload: m.payload,
          status: 'delivering',
          attempts: 0,
          maxAttempts: m.maxAttempts,
          nextAttemptAt: m.nextAttemptAt,
          lockedUntil: m.lockedUntil ?? null,
          reason: null,
          idempotencyKey: m.idempotency?.key ?? null,
          createdAt: now,
          updatedAt: now,
          deliveredAt: null,
        },
        registration,
      });
    }
    // Removed between the check and now (or unreadable): back to pending, where a claim gives the
    // verdict; should that fail too, the lease ends and a claim takes them then.
    if (orphans.length > 0) await this.store.messages.release(orphans, now).catch(() => {});
    handoff.accept(claimed);
  }

  async claimDue(now: number, limit: number, leaseMs: number): Promise<ClaimedMessage[]> {
    if (limit <= 0) return [];
    // Whether some registration holds its messages (FIFO, rate limits) may first need the
    // registrations' change mark read: that read runs beside the claim, not before it (an idle
    // worker woken by a publish waits for one round trip, not two). A held message is never due to a
    // claim until admitted, so what admission makes due is claimed right after it, in this call;
    // nothing is asked while no registration holds any.
    const held = this.registrations.anyHeld();
    held.catch(() => {});
    let messages = await this.store.messages.claim(now, limit, leaseMs);
    try {
      if ((await held) && (await this.store.messages.admitHeld(now, ADMISSION_HORIZON_MS)) > 0) {
        if (messages.length < limit) {
          messages = messages.concat(await this.store.messages.claim(now, limit - messages.length, leaseMs));
        }
      }
    } catch (error) {
      // What was claimed goes back at once rather than waiting out its lease; the caller hears of the failure.
      await this.store.messages
        .release(
          messages.map((m) => m.id),
          now,
        )
        .catch(() => {});
      throw error;
    }
    if (messages.length === 0) return [];
    const lookup = this.batchLookup();
    const claimed: ClaimedMessage[] = [];
    const unregistered: MessageChange[] = [];
    for (const message of messages) {
      const registration = await lookup(message.accountName, message.serviceName);
      if (registration?.controls.enabled) claimed.push({ message, registration });
      else if (registration) {
        // Disabled since it was queued: no further attempts; failed, replayable.
        unregistered.push({
          id: message.id,
          attempt: null,
          status: 'failed',
          nextAttemptAt: null,
          reason: MessageReasons.registrationDisabled,
          deliveredAt: null,
        });
      } else {
        // Its registration is gone (a replay, or a removal racing the publish): failed, still replayable.
        unregistered.push({
          id: message.id,
          attempt: null,
          status: 'failed',
          nextAttemptAt: null,
          reason: MessageReasons.noRegistration,
          deliveredAt: null,
        });
      }
    }
    if (unregistered.length > 0) await this.store.messages.update(unregistered, now);
    return claimed;
  }

  async complete(outcomes: AttemptOutcome[], now: number): Promise<boolean> {
    if (outcomes.length === 0) return false;
    let admitMore = false;
    const health = this.health;
    let exhausted: AttemptOutcome[] | null = null;
    for (const outcome of outcomes) {
      const registration = outcome.registration;
      if (!registration) continue;
      health?.record(registration, outcome.kind === 'delivered', outcome.attempt.startedAt);
      if (outcome.kind === 'failed' && this.events && !isOperatorRegistration(registration)) {
        exhausted ??= [];
        exhausted.push(outcome);
      }
      if (isHeld(registration.controls)) admitMore = true;
    }
    // Stored before the outcome that decided it: a crash in between repeats the attempt and the event
    // is stored once (its idempotency key), never lost.
    if (exhausted) await this.events?.emit(exhausted.map(exhaustedEvent), now);
    await this.store.messages.update(
      outcomes.map((outcome): MessageChange => {
        const attempt = outcome.attempt;
        const change: MessageChange = {
          id: attempt.messageId,
          attempt,
          status: 'delivered',
          nextAttemptAt: null,
          reason: null,
          deliveredAt: null,
        };
        if (outcome.kind === 'delivered') change.deliveredAt = now;
        else if (outcome.kind === 'retry') {
          change.status = 'pending';
          change.nextAttemptAt = outcome.nextAttemptAt;
          // A held registration's retry waits for admission again (its FIFO turn, a rate-limit slot).
          if (outcome.registration && isHeld(outcome.registration.controls)) change.heldUntil = outcome.nextAttemptAt;
          // The last error as text, `kind: detail`, until the next attempt.
          const error = storedAttemptError(attempt);
          change.reason = error && formatAttemptError(error);
        } else {
          change.status = 'failed';
          change.reason = outcome.reason;
        }
        return change;
      }),
      now,
    );
    return admitMore;
  }

  release(ids: string[], nextAttemptAt: number): Promise<void> {
    return this.store.messages.release(ids, nextAttemptAt);
  }

  renew(leases: { id: string; lockedUntil: number }[], lockedUntil: number, now: number): Promise<string[]> {
    return this.store.messages.renew(leases, lockedUntil, now);
  }

  nextDueAt(): Promise<number | null> {
    return this.store.messages.nextDueAt();
  }

  /**
   * Queues pending, delivered, failed and cancelled messages again (pending, due now, `maxAttempts`
   * more attempts on top of those made); delivering ones are left alone. A message whose account and
   * service have no registration is left alone too, and reported in `noListener`: queued, it would
   * only fail again at once with `no_registration`. It stays replayable once a listener is registered.
   */
  async replay(ids: string[], maxAttempts: number, now: number): Promise<ReplayOutcome> {
    const targets = await this.store.messages.targetsOf(ids);
    const pairs = new Map<string, RegistrationKey>();
    for (const target of targets) pairs.set(pairKey(target), target);
    const keys = [...pairs.values()];
    const registered = await this.store.registrations.exists(keys);
    const listening = new Set(keys.filter((_, i) => registered[i]).map(pairKey));
    const noListener = new Set(targets.filter((t) => !listening.has(pairKey(t))).map((t) => t.id));
    const candidates = ids.filter((id) => !noListener.has(id));
    const replayed = await this.store.messages.requeue(candidates, REPLAYABLE_STATUSES, maxAttempts, now);
    return { replayed, noListener: ids.filter((id) => noListener.has(id)) };
  }

  get(id: string): Promise<{ message: CallbackMessage; attempts: Attempt[] } | null> {
    return this.store.messages.get(id);
  }

  /** Newest first; `cursor` is a `nextCursor` from an earlier page (InvalidCursorError otherwise). */
  list(filter: MessageFilter, limit: number, cursor: string | null): Promise<MessagePage> {
    return this.store.messages.list(filter, limit, cursor);
  }

  findIds(filter: MessageFilter, limit: number, afterId: string | null): Promise<string[]> {
    return this.store.messages.findIds(filter, limit, afterId);
  }

  stats(now: number): Promise<MessageStats> {
    return this.store.messages.stats(now);
  }
}

/** `message.exhausted`: a message failed for good after an attempt (attempts used up, 410 Gone, …). */
function exhaustedEvent(outcome: AttemptOutcome): { event: OperatorEvent; key: string } {
  const a = outcome.attempt;
  const error = storedAttemptError(a);
  return {
    event: {
      type: 'message.exhausted',
      timestamp: iso(a.startedAt) as string,
      data: {
        messageId: a.messageId,
        accountName: outcome.registration?.accountName ?? null,
        serviceName: outcome.registration?.serviceName ?? null,
        attempts: a.attemptNumber,
        reason: outcome.kind === 'failed' ? outcome.reason : null,
        lastStatusCode: a.statusCode,
        lastError: error && formatAttemptError(error),
      },
    },
    key: `${a.messageId}:${a.attemptNumber}`,
  };
}
